"""The values one cluster gets: the addon's values with every matching override merged over them in order."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from appmarket.addons import selectors
from appmarket.addons.schemas import AddonSpec


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Maps merge key by key; anything else (lists, scalars, null) in ``over`` replaces what ``base`` had."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def values_for(spec: AddonSpec, labels: Mapping[str, str]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(spec.values))
    for override in spec.overrides:
        if selectors.select(override.selector, labels):
            merged = deep_merge(merged, override.values)
    return merged
