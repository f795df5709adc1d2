"""The status a controller would write, per kind and readiness mode, shaped for kstatus.

helm 4 waits with kstatus (fluxcd/cli-utils): a Deployment is Current when observedGeneration,
updated/ready/available replicas and the Available/Progressing conditions line up, and Failed on
`ProgressDeadlineExceeded`; a Job is Current once started and Failed with a `Failed` condition;
a StatefulSet or DaemonSet has no Failed state, only "not ready yet". TApps (tkestack's CRD,
once registered) get the status tapp-controller writes. Pure functions of the
object, so they are easy to test and to extend with a new kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .apply import now_rfc3339

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Ctx:
    spec: JsonDict
    generation: int
    name: str
    mode: str  # "ready", "fail" or "pending"
    nodes: int

    @property
    def replicas(self) -> int:
        return int(self.spec.get("replicas", 1))

    @property
    def ok(self) -> bool:
        return self.mode == "ready"

    @property
    def revision(self) -> str:
        digest = hashlib.sha256(json.dumps(self.spec.get("template"), sort_keys=True).encode()).hexdigest()
        return f"{self.name}-{digest[:10]}"


def condition(kind: str, status: bool, reason: str, message: str = "") -> JsonDict:
    now = now_rfc3339()
    return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message,
            "lastTransitionTime": now, "lastUpdateTime": now}


def same_status(a: Any, b: Any) -> bool:
    """Compare statuses ignoring timestamps, so reconciling converges instead of looping."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in (
                "lastTransitionTime", "lastUpdateTime", "lastProbeTime", "startTime", "completionTime",
                "startedAt", "finishedAt")}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return bool(clean(a) == clean(b))


def _deployment(c: Ctx) -> JsonDict:
    status: JsonDict = {"observedGeneration": c.generation, "replicas": c.replicas, "updatedReplicas": c.replicas}
    if c.ok:
        return status | {"readyReplicas": c.replicas, "availableReplicas": c.replicas, "conditions": [
            condition("Available", True, "MinimumReplicasAvailable", "Deployment has minimum availability."),
            condition("Progressing", True, "NewReplicaSetAvailable",
                      f'ReplicaSet "{c.revision}" has successfully progressed.')]}
    if c.mode == "fail":
        progressing = condition("Progressing", False, "ProgressDeadlineExceeded",
                                f'ReplicaSet "{c.revision}" has timed out progressing.')
    else:
        progressing = condition("Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{c.revision}" is progressing.')
    return status | {"unavailableReplicas": c.replicas, "conditions": [
        condition("Available", False, "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
        progressing]}


def _statefulset(c: Ctx) -> JsonDict:
    ready = c.replicas if c.ok else 0
    return {"observedGeneration": c.generation, "replicas": c.replicas, "readyReplicas": ready,
            "availableReplicas": ready, "currentReplicas": c.replicas, "updatedReplicas": c.replicas,
            "currentRevision": c.revision, "updateRevision": c.revision, "collisionCount": 0}


def _daemonset(c: Ctx) -> JsonDict:
    ready = c.nodes if c.ok else 0
    return {"observedGeneration": c.generation, "desiredNumberScheduled": c.nodes, "currentNumberScheduled": c.nodes,
            "updatedNumberScheduled": c.nodes, "numberReady": ready, "numberAvailable": ready,
            "numberUnavailable": c.nodes - ready, "numberMisscheduled": 0}


def _replicaset(c: Ctx) -> JsonDict:
    ready = c.replicas if c.ok else 0
    status: JsonDict = {"observedGeneration": c.generation, "replicas": c.replicas, "fullyLabeledReplicas": c.replicas,
                        "readyReplicas": ready, "availableReplicas": ready}
    if c.mode == "fail":
        status["conditions"] = [condition("ReplicaFailure", True, "FailedCreate", "pods could not be created")]
    return status


def _job(c: Ctx) -> JsonDict | None:
    if c.mode == "pending" or c.spec.get("suspend"):
        return None  # kstatus: "Job not started" (InProgress)
    now = now_rfc3339()
    base: JsonDict = {"startTime": now, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}}
    if c.ok:
        done = "Reached expected number of succeeded pods"
        completions = int(c.spec.get("completions") or c.spec.get("parallelism") or 1)
        return base | {"completionTime": now, "succeeded": completions, "conditions": [
            condition("SuccessCriteriaMet", True, "CompletionsReached", done),
            condition("Complete", True, "CompletionsReached", done)]}
    limit = "Job has reached the specified backoff limit"
    return base | {"failed": int(c.spec.get("backoffLimit", 6)) + 1, "conditions": [
        condition("FailureTarget", True, "BackoffLimitExceeded", limit),
        condition("Failed", True, "BackoffLimitExceeded", limit)]}


def _pod(c: Ctx) -> JsonDict:
    if c.mode == "pending":
        return {"phase": "Pending", "conditions": [
            condition("PodScheduled", False, "Unschedulable", "0/1 nodes are available")]}
    runs_once = c.spec.get("restartPolicy", "Always") != "Always"
    now = now_rfc3339()
    ready = c.ok and not runs_once
    if c.ok:
        phase = "Succeeded" if runs_once else "Running"
        state: JsonDict = ({"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": now}}
                           if runs_once else {"running": {"startedAt": now}})
    elif runs_once:
        phase, state = "Failed", {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": now}}
    else:
        phase = "Running"
        state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}}
    containers = [{"name": n.get("name", ""), "ready": ready, "started": ready, "restartCount": 0 if c.ok else 5,
                   "image": n.get("image", ""), "imageID": "", "state": state}
                  for n in c.spec.get("containers") or []]
    return {"phase": phase, "podIP": "10.244.0.10", "hostIP": "10.0.0.1", "startTime": now, "qosClass": "BestEffort",
            "conditions": [condition("PodScheduled", True, ""), condition("Initialized", True, ""),
                           condition("ContainersReady", ready, ""), condition("Ready", ready, "")],
            "containerStatuses": containers}


def _pvc(c: Ctx) -> JsonDict:
    if not c.ok:
        return {"phase": "Pending"}
    requested = (c.spec.get("resources") or {}).get("requests", {}).get("storage", "1Gi")
    return {"phase": "Bound", "accessModes": c.spec.get("accessModes", ["ReadWriteOnce"]),
            "capacity": {"storage": requested}}


def _service(c: Ctx) -> JsonDict | None:
    if c.spec.get("type") != "LoadBalancer":
        return None
    return {"loadBalancer": {"ingress": [{"ip": "198.51.100.10", "ipMode": "VIP"}]} if c.ok else {}}


def _pdb(c: Ctx) -> JsonDict:
    return {"observedGeneration": c.generation, "currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
            "expectedPods": 0}


def _tapp(c: Ctx) -> JsonDict:
    """tkestack/tapp's controller: instance status per index, then appStatus from them (genAppStatus).

    ready: every instance Running (spec.statuses Killed ones Killed). fail: pods that restart
    (restartPolicy Always) crash-loop, so instances stay Pending and appStatus stays Running with no
    ready replicas; run-once pods end Failed, so every instance and the app are Failed. pending:
    no pod exists yet, so no instance statuses and appStatus Pending.
    """
    base: JsonDict = {"observedGeneration": c.generation}
    selector = (c.spec.get("selector") or {}).get("matchLabels") or \
        ((c.spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    base["scaleLabelSelector"] = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    if c.mode == "pending":
        return base | {"replicas": 0, "readyReplicas": 0, "appStatus": "Pending", "statuses": {}}
    killed = {k for k, v in (c.spec.get("statuses") or {}).items() if v == "Killed"}
    restarts = ((c.spec.get("template") or {}).get("spec") or {}).get("restartPolicy", "Always") == "Always"
    alive = "Running" if c.ok else ("Pending" if restarts else "Failed")
    replicas = int(c.spec.get("replicas", 0))  # TAppSpec.Replicas is omitempty: absent means 0
    statuses = {str(i): "Killed" if str(i) in killed else alive for i in range(replicas)}
    live = [s for s in statuses.values() if s != "Killed"]
    app = ("Running" if alive in ("Running", "Pending") else "Failed") if live else "Killed"
    return base | {"replicas": len(statuses), "readyReplicas": live.count("Running"), "appStatus": app,
                   "statuses": statuses}


STATUS_WRITERS: dict[str, Callable[[Ctx], JsonDict | None]] = {
    "Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset, "ReplicaSet": _replicaset,
    "Job": _job, "Pod": _pod, "PersistentVolumeClaim": _pvc, "Service": _service, "PodDisruptionBudget": _pdb,
    "TApp": _tapp,
}
#: Custom resources the simulator also plays the controller of, as (group, kind).
CUSTOM_WORKLOADS: frozenset[tuple[str, str]] = frozenset({("apps.tkestack.io", "TApp")})


def workload_status(kind: str, obj: JsonDict, mode: str, nodes: int) -> JsonDict | None:
    """The status to write for this object in this mode, or None to leave it alone."""
    writer = STATUS_WRITERS.get(kind)
    if writer is None:
        return None
    meta = obj["metadata"]
    return writer(Ctx(obj.get("spec") or {}, int(meta.get("generation", 1)), meta["name"], mode, nodes))
