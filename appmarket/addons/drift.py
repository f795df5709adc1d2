"""Drift: compare what helm reports on each target with the addon's desired state.

Kinds: ``missing`` (no release), ``chart`` (another chart under the release name), ``version`` and
``values`` (the user-supplied values differ from values + matching overrides). The detail names the
differing value paths, never the values themselves (they may be secrets). An unreachable cluster is not
drift: it is skipped and found again by the next check. ``failed``: the last rollout that touched the
cluster left it failed or unreachable within its failure budget, and it is still unhealthy or unreachable
now (the release may well be at the desired version: its workloads are what failed).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from appmarket.addons.schemas import AddonSpec, DriftOut
from appmarket.addons.targets import TargetRunner
from appmarket.addons.values import values_for
from appmarket.db.addons import RolloutTarget
from appmarket.errors import AppMarketError
from appmarket.installer.preflight import values_diff

log = logging.getLogger(__name__)


def split_chart(text: str) -> tuple[str, str]:
    """helm history's ``chart`` is ``<name>-<version>``; the version starts after the last dash before a digit."""
    for i in range(len(text) - 1, 0, -1):
        if text[i] == "-" and text[i + 1:i + 2].isdigit():
            return text[:i], text[i + 1:]
    return text, ""


def cluster_drift(runner: TargetRunner, spec: AddonSpec, cluster: str, labels: Mapping[str, str],
                  now: dt.datetime, failed: tuple[int, RolloutTarget] | None = None) -> DriftOut | None:
    """What differs on one cluster; ``failed``: the rollout (id, target) that left it failed, if one did."""
    try:
        kubeconfig = runner.clusters.kubeconfig(cluster)
        record = runner.release_record(kubeconfig, spec)
        history = runner.release_history(kubeconfig, spec) if record is not None else []
    except AppMarketError as exc:
        if failed is not None:
            return DriftOut(cluster=cluster, kind="failed", checked_at=now,
                            detail=f"left {failed[1].state} by rollout {failed[0]}; still unreachable: {exc.message}")
        log.warning("drift check of addon %s on %s skipped: %s", spec.name, cluster, exc.message)
        return None
    found = _release_drift(spec, cluster, labels, now, record, history)
    if found is not None or failed is None:
        return found
    report = runner.health(spec, cluster)
    if report.healthy:
        return None
    return DriftOut(cluster=cluster, kind="failed", checked_at=now,
                    detail=f"left {failed[1].state} by rollout {failed[0]}; still not healthy: "
                           + ("; ".join(report.reasons) or "not healthy"))


def _release_drift(spec: AddonSpec, cluster: str, labels: Mapping[str, str], now: dt.datetime,
                   record: Mapping[str, Any] | None, history: list[dict[str, Any]]) -> DriftOut | None:
    if record is None or not history or str(record.get("info", {}).get("status", "")) == "uninstalled":
        return DriftOut(cluster=cluster, kind="missing", detail="release not installed", checked_at=now)
    chart, version = split_chart(str(history[-1].get("chart", "")))
    if chart != spec.chart.split("/", 1)[1]:
        return DriftOut(cluster=cluster, kind="chart", detail=f"chart {chart!r} deployed, {spec.chart!r} desired",
                        checked_at=now)
    if version != spec.version:
        return DriftOut(cluster=cluster, kind="version", detail=f"version {version} deployed, {spec.version} desired",
                        checked_at=now)
    desired = values_for(spec, labels)
    deployed = dict(record.get("config") or {})
    if deployed != desired:
        diff = values_diff(desired, deployed)
        paths = sorted([*diff["added"], *diff["changed"], *diff["removed"]])
        return DriftOut(cluster=cluster, kind="values", detail="values differ at " + ", ".join(paths),
                        checked_at=now)
    return None


def detect(runner: TargetRunner, pool: ThreadPoolExecutor, spec: AddonSpec, clusters: Iterable[str],
           labels: Mapping[str, Mapping[str, str]], now: dt.datetime,
           failed: Mapping[str, tuple[int, RolloutTarget]] | None = None) -> list[DriftOut]:
    names = sorted(clusters)
    left = failed or {}
    found = pool.map(lambda c: cluster_drift(runner, spec, c, labels.get(c, {}), now, left.get(c)), names)
    return [d for d in found if d is not None]
