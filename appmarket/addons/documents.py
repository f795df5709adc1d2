"""The addon file as people read it: a spec rendered back to YAML without the fields left unset."""

from __future__ import annotations

from typing import Any

import msgspec
import yaml


def trim(node: Any) -> Any:
    """Drop unset fields (None, empty lists, mappings and strings) but keep ``values`` even when empty."""
    if isinstance(node, dict):
        return {k: trim(v) for k, v in node.items() if k == "values" or v not in (None, [], {}, "")}
    if isinstance(node, list):
        return [trim(v) for v in node]
    return node


def spec_yaml(spec: Any) -> str:
    """An AddonSpec (or its JSON mapping, as the CLI receives it) as the YAML file a person would write."""
    return yaml.safe_dump(trim(msgspec.to_builtins(spec)), sort_keys=False)
