"""Knobs a test turns to make the fake cluster behave: readiness, outages, auth, version, nodes.

They are plain mutable fields read on every request or reconcile, so flipping one takes effect
immediately; `KubeApiServer` wraps the ones that also need existing objects re-evaluated.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Literal

JsonDict = dict[str, Any]
WorkloadMode = Literal["ready", "fail", "pending"]
MODES: tuple[str, ...] = ("ready", "fail", "pending")


@dataclass
class NodeSpec:
    """One fake node as a cluster probe would see it."""

    name: str
    arch: str = "amd64"
    gpus: int = 0
    cpu: str = "8"
    memory: str = "32Gi"
    ready: bool = True
    labels: dict[str, str] = field(default_factory=dict)

    def to_object(self, kubelet_version: str) -> JsonDict:
        resources = {"cpu": self.cpu, "memory": self.memory, "pods": "110", "ephemeral-storage": "100Gi"}
        if self.gpus:
            resources["nvidia.com/gpu"] = str(self.gpus)
        labels = {"kubernetes.io/arch": self.arch, "kubernetes.io/os": "linux",
                  "kubernetes.io/hostname": self.name, "beta.kubernetes.io/arch": self.arch,
                  "beta.kubernetes.io/os": "linux", **self.labels}
        if self.gpus:
            labels.setdefault("nvidia.com/gpu.present", "true")
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {},
            "status": {
                "capacity": dict(resources), "allocatable": dict(resources),
                "conditions": [{"type": "Ready", "status": "True" if self.ready else "False",
                                "reason": "KubeletReady" if self.ready else "KubeletNotReady"}],
                "addresses": [{"type": "Hostname", "address": self.name}],
                "nodeInfo": {"architecture": self.arch, "operatingSystem": "linux",
                             "kubeletVersion": kubelet_version, "kubeProxyVersion": kubelet_version,
                             "containerRuntimeVersion": "containerd://2.1.0", "osImage": "kubeapi test node",
                             "kernelVersion": "6.1.0", "machineID": "", "systemUUID": "", "bootID": ""},
            },
        }


@dataclass
class Switches:
    """Live behaviour of one server."""

    #: Default fate of Deployments/StatefulSets/DaemonSets/ReplicaSets/Jobs/Pods/PVCs/LoadBalancers.
    workloads: WorkloadMode = "ready"
    #: Per-name overrides: glob (fnmatch) on the object name -> mode; first match wins.
    overrides: dict[str, WorkloadMode] = field(default_factory=dict)
    #: Seconds the simulated controllers wait before writing a status.
    ready_delay: float = 0.0
    #: Bearer token required on every API call (None: no authentication).
    token: str | None = None
    #: What `/version` reports (also the nodes' kubelet version).
    git_version: str = "v1.36.2"
    #: Serve `apidiscovery.k8s.io/v2` aggregated discovery when a client asks for it.
    aggregated_discovery: bool = True
    #: Answer every API call with 503 (apiserver up but unhealthy).
    unavailable: bool = False

    def mode_for(self, name: str) -> WorkloadMode:
        for pattern, mode in self.overrides.items():
            if fnmatch.fnmatchcase(name, pattern):
                return mode
        return self.workloads

    def version_document(self, base: JsonDict) -> JsonDict:
        m = re.match(r"^v(\d+)\.(\d+)", self.git_version)
        if not m:
            raise ValueError(f"git_version must look like v1.36.2, got {self.git_version!r}")
        return {**base, "major": m[1], "minor": m[2], "gitVersion": self.git_version,
                "emulationMajor": m[1], "emulationMinor": m[2]}
