"""Container images referenced by rendered manifests (``helm template`` output), pure."""

from __future__ import annotations

from typing import Any

import yaml

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _walk(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _CONTAINER_LISTS and isinstance(value, list):
                for container in value:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        found.add(container["image"].strip())
            _walk(value, found)
    elif isinstance(node, list):
        for item in node:
            _walk(item, found)


def images_in_manifests(rendered: str) -> list[str]:
    """Every ``image`` of containers/initContainers/ephemeralContainers in any pod template, sorted.

    Walking the whole document (not just known kinds) also finds pod templates inside custom resources
    such as TApp, CronJobs and helm test hooks.
    """
    found: set[str] = set()
    for doc in yaml.safe_load_all(rendered):
        _walk(doc, found)
    return sorted(i for i in found if i)
