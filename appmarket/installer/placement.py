"""Which registered clusters can take a chart: the install form offers the fitting ones and shows why
the others do not fit (kubeVersion, CPU architecture, GPUs), using the same checks as preflight."""

from __future__ import annotations

import msgspec

from appmarket.auth.schemas import Principal
from appmarket.installer.cluster_registry import ClusterRegistry
from appmarket.installer.preflight import fit_problems
from appmarket.installer.sources import ChartResolver


class ClusterFit(msgspec.Struct):
    cluster: str
    fits: bool
    reachable: bool
    reasons: list[str]
    warnings: list[str]


def cluster_fit(clusters: ClusterRegistry, charts: ChartResolver, principal: Principal, chart: str,
                version: str | None) -> list[ClusterFit]:
    facts = charts.facts(charts.local_version(principal, chart, version))
    out: list[ClusterFit] = []
    for c in clusters.list(principal):
        caps = msgspec.to_builtins(c.capabilities) if c.capabilities else {}
        problems, warnings = fit_problems(facts, caps)
        reachable = bool(caps.get("reachable"))
        reasons = [p.message for p in problems] + ([] if reachable else ["cluster unreachable at the last probe"])
        out.append(ClusterFit(cluster=c.name, fits=not reasons, reachable=reachable, reasons=reasons,
                              warnings=warnings))
    return sorted(out, key=lambda f: (not f.fits, f.cluster))
