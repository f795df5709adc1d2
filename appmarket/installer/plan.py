"""What an install or upgrade will render, worked out right before helm renders it.

Values: a merge upgrade (``reuse_values``, the PATCH default) starts from the user-supplied values helm
recorded for the deployed revision (the latest one when none is deployed, as helm does), merges the
request over them (a null removes a key set before, so the chart default applies again), and hands helm
the result with ``--reset-values``. That is helm's ``--reset-then-reuse-values``: the new chart's defaults
apply. Plain ``--reuse-values`` is never used, since on a version change it renders the old chart's
defaults and drops keys the new chart added. Preflight then checks exactly these values, over the
defaults of the very package helm installs, against the cluster's last probed capabilities.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appmarket.installer.helm import Helm
from appmarket.installer.preflight import coalesce


def deployed_revision(history: list[dict[str, Any]]) -> int | None:
    """The newest revision helm reports as deployed (history oldest first)."""
    for entry in reversed(history):
        if entry.get("status") == "deployed":
            return int(entry["revision"])
    return None


async def recorded_values(helm: Helm, kc: Path, name: str, namespace: str) -> tuple[dict[str, Any], int | None]:
    """User-supplied values of the deployed revision (else the latest), and that revision; ({}, None) if none."""
    history = await helm.history(kc, name, namespace)
    revision = deployed_revision(history) or (int(history[-1]["revision"]) if history else None)
    if revision is None:
        return {}, None
    return await helm.values(kc, name, namespace, revision=revision), revision


async def deployed_manifest(helm: Helm, kc: Path, name: str, namespace: str) -> str:
    """The manifest of the deployed revision ("" when none is), what a diff compares against."""
    revision = deployed_revision(await helm.history(kc, name, namespace))
    return "" if revision is None else await helm.manifest(kc, name, namespace, revision)


def effective_values(values: Mapping[str, Any], merge: bool, recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The user-supplied values helm gets: the request merged over ``recorded``, or the request alone."""
    return coalesce(recorded, values) if merge else dict(values)

