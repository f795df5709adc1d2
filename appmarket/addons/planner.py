"""Validating an addon file and planning rollouts from it (pure apart from the chart lookup in ``validate``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from appmarket.addons import selectors, waves, window
from appmarket.addons.schemas import AddonSpec
from appmarket.addons.store import PlannedTarget
from appmarket.addons.values import values_for
from appmarket.errors import Invalid, NotFound
from appmarket.installer.releases import check_names

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def release_name(spec: AddonSpec) -> str:
    return spec.release or spec.name


def validate(spec: AddonSpec, chart_exists: Callable[[str, str], object]) -> None:
    """Refuse a bad addon file before anything is stored: names, selectors, strategy, window and chart."""
    if not _NAME.fullmatch(spec.name):
        raise Invalid(f"invalid addon name {spec.name!r}: lowercase letters, digits and '-'")
    check_names(spec.namespace, release_name(spec))
    if spec.chart.count("/") != 1 or not all(spec.chart.split("/")):
        raise Invalid(f"chart must name an AppMarket chart as project/chart, not {spec.chart!r}")
    if not spec.version:
        raise Invalid("version is required")
    try:
        chart_exists(spec.chart, spec.version)
    except NotFound as exc:
        raise Invalid(exc.message) from None
    selectors.parse(spec.targets)
    for override in spec.overrides:
        selectors.parse(override.selector)
    st = spec.strategy
    for wave in st.waves:
        selectors.parse(wave.selector)
    if st.wave_size is not None and st.wave_size < 1:
        raise Invalid("strategy.wave_size must be at least 1")
    if st.wave_percent is not None and not 1 <= st.wave_percent <= 100:
        raise Invalid("strategy.wave_percent must be between 1 and 100")
    for field, minimum in (("max_parallel", 1), ("failure_budget", 0), ("health_timeout", 1), ("soak", 0)):
        if getattr(st, field) < minimum:
            raise Invalid(f"strategy.{field} must be at least {minimum}")
    if st.window is not None:
        window.validate(st.window)


def desired_changed(old: AddonSpec, new: AddonSpec) -> bool:
    """What a rollout changes on clusters: chart, version, values and overrides."""
    return (old.chart, old.version, old.values, msgspec.to_builtins(old.overrides)) != \
        (new.chart, new.version, new.values, msgspec.to_builtins(new.overrides))


def matching(spec: AddonSpec, labels: Mapping[str, Mapping[str, str]]) -> list[str]:
    sel = selectors.parse(spec.targets)
    return sorted(name for name, lab in labels.items() if selectors.matches(sel, lab))


def plan_rollout(spec: AddonSpec, labels: Mapping[str, Mapping[str, str]],
                 clusters: Iterable[str]) -> tuple[list[tuple[str, int]], list[PlannedTarget]]:
    """Waves (name, failure budget) and targets of a new generation over ``clusters``."""
    chosen = {c: labels.get(c, {}) for c in clusters}
    parts = waves.partition(chosen, spec.strategy)
    targets = [PlannedTarget(c, i, values_for(spec, chosen[c]), "") for i, (_, members) in enumerate(parts)
               for c in members]
    return [(name, spec.strategy.failure_budget) for name, _ in parts], targets


def plan_single(spec: AddonSpec, labels: Mapping[str, Mapping[str, str]], name: str, install: Iterable[str],
                uninstall: Iterable[str] = ()) -> tuple[list[tuple[str, int]], list[PlannedTarget]]:
    """One wave: clusters to install or correct, and clusters to uninstall from."""
    targets = [PlannedTarget(c, 0, values_for(spec, labels.get(c, {})), "") for c in sorted(install)]
    targets += [PlannedTarget(c, 0, {}, "uninstall") for c in sorted(uninstall)]
    return ([(name, spec.strategy.failure_budget)] if targets else []), targets


def spec_of(raw: dict[str, Any]) -> AddonSpec:
    return msgspec.convert(raw, AddonSpec)
