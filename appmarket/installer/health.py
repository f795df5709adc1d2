"""The release health gate: helm's release status plus the readiness of the workloads it declares.

A rollout (and the installer's progress events) need more than "helm said deployed": the release's
Deployments, StatefulSets, DaemonSets, Jobs and TApps must be ready, with a short reason for each one
that is not. The rendered manifest (``helm get manifest``) names the workloads; their live status is
read through the kubernetes client (``clusters.read_namespaced_objects``, one client per check). The
readiness rules are pure functions of the object JSON, mirroring what kstatus and ``kubectl rollout
status`` consider done. ``check_release`` never raises: an unreachable cluster is a report too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import yaml

from appmarket.installer.clusters import PROBE_TIMEOUT, ClusterUnreachable, read_namespaced_objects

JsonDict = dict[str, Any]


class ManifestObject(msgspec.Struct, frozen=True):
    """One object of a rendered manifest; ``namespace`` is filled in with the release's when omitted."""

    api_version: str
    kind: str
    namespace: str
    name: str


class WorkloadHealth(msgspec.Struct, frozen=True):
    kind: str
    namespace: str
    name: str
    ready: bool
    reason: str


class HealthReport(msgspec.Struct, frozen=True):
    healthy: bool
    reachable: bool
    reasons: list[str]
    workloads: list[WorkloadHealth]

    @property
    def ready_count(self) -> int:
        return sum(1 for w in self.workloads if w.ready)


def parse_manifest(manifest: str, namespace: str) -> list[ManifestObject]:
    """Every object in a multi-document manifest (``kind: List`` expanded); raises yaml.YAMLError."""
    objects: list[ManifestObject] = []
    pending: list[Any] = list(yaml.safe_load_all(manifest))
    while pending:
        doc = pending.pop(0)
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        if str(doc["kind"]).endswith("List") and isinstance(doc.get("items"), list):
            pending[:0] = doc["items"]
            continue
        raw_meta = doc.get("metadata")
        meta: JsonDict = raw_meta if isinstance(raw_meta, dict) else {}
        name = str(meta.get("name") or "")
        if name:
            objects.append(ManifestObject(api_version=str(doc.get("apiVersion", "")), kind=str(doc["kind"]),
                                          namespace=str(meta.get("namespace") or namespace), name=name))
    return objects


# -- readiness per kind: (ready, detail) from the object JSON -----------------------------------------
def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _conditions(status: JsonDict) -> dict[str, JsonDict]:
    return {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, dict)}


def _stale(obj: JsonDict) -> str:
    """Why the controller has not seen the current spec yet, or ""."""
    generation = _int(obj.get("metadata", {}).get("generation"), 1)
    observed = _int((obj.get("status") or {}).get("observedGeneration"), 0)
    return "" if observed >= generation else f"generation {generation} not observed yet"


def _deployment(obj: JsonDict) -> tuple[bool, str]:
    status, want = obj.get("status") or {}, _int(obj.get("spec", {}).get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    counts = f"{ready}/{want} ready"
    progressing = _conditions(status).get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return False, f"{counts} (ProgressDeadlineExceeded)"
    if stale := _stale(obj):
        return False, f"{counts} ({stale})"
    updated, available = _int(status.get("updatedReplicas")), _int(status.get("availableReplicas"))
    if updated < want:
        return False, f"{counts} ({updated}/{want} updated)"
    if _int(status.get("replicas")) > updated:
        return False, f"{counts} (old replicas still terminating)"
    if ready < want or available < want:
        return False, f"{counts} ({available} available)" if ready >= want else counts
    return True, counts


def _statefulset(obj: JsonDict) -> tuple[bool, str]:
    status, want = obj.get("status") or {}, _int(obj.get("spec", {}).get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    counts = f"{ready}/{want} ready"
    if stale := _stale(obj):
        return False, f"{counts} ({stale})"
    strategy = obj.get("spec", {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":  # OnDelete: pods update when deleted
        partition = _int((strategy.get("rollingUpdate") or {}).get("partition"))
        updated = _int(status.get("updatedReplicas"))
        if updated < want - partition:
            return False, f"{counts} ({updated}/{want - partition} updated)"
    return ready >= want, counts


def _daemonset(obj: JsonDict) -> tuple[bool, str]:
    status = obj.get("status") or {}
    desired, ready = _int(status.get("desiredNumberScheduled")), _int(status.get("numberReady"))
    counts = f"{ready}/{desired} ready"
    if stale := _stale(obj):
        return False, f"{counts} ({stale})"
    updated = _int(status.get("updatedNumberScheduled"))
    on_delete = (obj.get("spec", {}).get("updateStrategy") or {}).get("type") == "OnDelete"
    if updated < desired and not on_delete:
        return False, f"{counts} ({updated}/{desired} updated)"
    return ready >= desired and _int(status.get("numberAvailable")) >= desired, counts


def _job(obj: JsonDict) -> tuple[bool, str]:
    status = obj.get("status") or {}
    conditions = _conditions(status)
    if conditions.get("Failed", {}).get("status") == "True":
        return False, f"failed ({conditions['Failed'].get('reason') or 'Failed'})"
    if conditions.get("Complete", {}).get("status") == "True":
        return True, "complete"
    want = _int(obj.get("spec", {}).get("completions"), 1)
    return False, f"not complete ({_int(status.get('succeeded'))}/{want} succeeded)"


def _tapp(obj: JsonDict) -> tuple[bool, str]:
    status, want = obj.get("status") or {}, _int(obj.get("spec", {}).get("replicas"), 0)
    ready, app_status = _int(status.get("readyReplicas")), str(status.get("appStatus") or "no status")
    counts = f"{ready}/{want} ready"
    if stale := _stale(obj):
        return False, f"{counts} ({stale})"
    if want == 0:
        return True, counts  # scaled to zero: the controller reports Pending, as no instance exists
    if app_status != "Running":
        return False, f"{counts} (appStatus {app_status})"
    return ready >= want, counts


#: kind -> (API group, plural, readiness rule). Only these kinds gate a release.
WORKLOAD_KINDS: dict[str, tuple[str, str, Callable[[JsonDict], tuple[bool, str]]]] = {
    "Deployment": ("apps", "deployments", _deployment),
    "StatefulSet": ("apps", "statefulsets", _statefulset),
    "DaemonSet": ("apps", "daemonsets", _daemonset),
    "Job": ("batch", "jobs", _job),
    "TApp": ("apps.tkestack.io", "tapps", _tapp),
}


def workloads_of(objects: list[ManifestObject]) -> list[ManifestObject]:
    """The objects whose readiness gates the release (by kind and API group)."""
    return [o for o in objects if o.kind in WORKLOAD_KINDS
            and o.api_version.rpartition("/")[0] == WORKLOAD_KINDS[o.kind][0]]


def workload_health(ref: ManifestObject, obj: JsonDict | None) -> WorkloadHealth:
    """Readiness of one workload from its live JSON (None: it does not exist)."""
    if obj is None:
        return WorkloadHealth(ref.kind, ref.namespace, ref.name, ready=False, reason="not found")
    ready, detail = WORKLOAD_KINDS[ref.kind][2](obj)
    return WorkloadHealth(ref.kind, ref.namespace, ref.name, ready=ready, reason=detail)


def describe(w: WorkloadHealth) -> str:
    """``Deployment kube-system/tapp-controller: 0/2 ready (ProgressDeadlineExceeded)``."""
    if w.reason == "not found":
        return f"{w.kind} {w.namespace}/{w.name} not found"
    return f"{w.kind} {w.namespace}/{w.name}: {w.reason}"


def check_release(kubeconfig: dict[str, Any], release_status: str, manifest: str, namespace: str, *,
                  timeout: float = PROBE_TIMEOUT) -> HealthReport:
    """Healthy when helm says ``deployed`` and every workload the manifest declares is ready. Never raises."""
    reasons = [] if release_status == "deployed" else [f"release is {release_status or 'unknown'}"]
    try:
        refs = workloads_of(parse_manifest(manifest, namespace))
    except yaml.YAMLError as exc:
        return HealthReport(healthy=False, reachable=True, workloads=[],
                            reasons=[*reasons, f"manifest is not valid YAML: {type(exc).__name__}"])
    try:
        found = read_namespaced_objects(
            kubeconfig, [(r.api_version, WORKLOAD_KINDS[r.kind][1], r.namespace, r.name) for r in refs],
            timeout=timeout)
    except ClusterUnreachable as exc:
        return HealthReport(healthy=False, reachable=False, reasons=[*reasons, str(exc)], workloads=[])
    except Exception as exc:  # a health gate answers: an unexpected client error is a reason, not a crash
        return HealthReport(healthy=False, reachable=False, workloads=[],
                            reasons=[*reasons, f"cluster read failed: {type(exc).__name__}"])
    workloads = [workload_health(ref, obj) for ref, obj in zip(refs, found, strict=True)]
    reasons += [describe(w) for w in workloads if not w.ready]
    return HealthReport(healthy=not reasons, reachable=True, reasons=reasons, workloads=workloads)
