"""The release health gate (appmarket/installer/health.py) against helm releases in the kube test server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from appmarket.installer.health import (
    HealthReport,
    ManifestObject,
    WorkloadHealth,
    check_release,
    describe,
    parse_manifest,
    workload_health,
    workloads_of,
)
from tests.kubeapi import KubeApiServer
from tests.kubeapi.samples import make_workloads_chart
from tests.support.helm import Helm

KINDS = ["Deployment", "StatefulSet", "DaemonSet", "TApp", "Job"]


# -- pure parts -------------------------------------------------------------------------------------
def test_parse_manifest_defaults_namespace_and_expands_lists() -> None:
    manifest = """\
---
# Source: x/templates/a.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: kube-system}
---
apiVersion: v1
kind: List
items:
  - {apiVersion: batch/v1, kind: Job, metadata: {name: migrate}}
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}}
---
---
apiVersion: apps.tkestack.io/v1
kind: TApp
metadata: {name: game}
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: ancient}
"""
    objects = parse_manifest(manifest, "apps")
    assert objects == [ManifestObject("apps/v1", "Deployment", "kube-system", "web"),
                       ManifestObject("batch/v1", "Job", "apps", "migrate"),
                       ManifestObject("v1", "ConfigMap", "apps", "cfg"),
                       ManifestObject("apps.tkestack.io/v1", "TApp", "apps", "game"),
                       ManifestObject("extensions/v1beta1", "Deployment", "apps", "ancient")]
    assert [o.name for o in workloads_of(objects)] == ["web", "migrate", "game"]
    assert parse_manifest("", "apps") == []


def test_readiness_rules_and_reason_sentences() -> None:
    ref = ManifestObject("apps/v1", "Deployment", "kube-system", "tapp-controller")
    stuck = {"metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": {
        "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}}
    assert describe(workload_health(ref, stuck)) == \
        "Deployment kube-system/tapp-controller: 0/2 ready (ProgressDeadlineExceeded)"
    new_spec = {"metadata": {"generation": 3}, "spec": {"replicas": 1}, "status": {
        "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}}
    assert workload_health(ref, new_spec).reason == "1/1 ready (generation 3 not observed yet)"
    assert describe(workload_health(ref, None)) == "Deployment kube-system/tapp-controller not found"
    tapp = ManifestObject("apps.tkestack.io/v1", "TApp", "ns", "game")
    failed = {"metadata": {"generation": 1}, "spec": {"replicas": 2},
              "status": {"observedGeneration": 1, "appStatus": "Failed", "readyReplicas": 0}}
    assert workload_health(tapp, failed) == WorkloadHealth("TApp", "ns", "game", ready=False,
                                                           reason="0/2 ready (appStatus Failed)")
    canary = {"metadata": {"generation": 2}, "spec": {"replicas": 4, "updateStrategy": {
        "type": "RollingUpdate", "rollingUpdate": {"partition": 3}}}, "status": {
        "observedGeneration": 2, "readyReplicas": 4, "updatedReplicas": 1}}
    sts = ManifestObject("apps/v1", "StatefulSet", "ns", "db")
    assert workload_health(sts, canary).ready  # a partitioned rollout is done once the canary is updated
    canary["status"]["updatedReplicas"] = 0
    assert workload_health(sts, canary).reason == "4/4 ready (0/1 updated)"
    job = ManifestObject("batch/v1", "Job", "ns", "migrate")
    assert workload_health(job, {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}).ready


# -- against the kube test server --------------------------------------------------------------------
def _install(kube: KubeApiServer, tmp_path: Path, *extra: str) -> str:
    """helm-install the five-workload chart as release ``fleet`` in ``apps``; returns its manifest."""
    helm = Helm(tmp_path / "helm-home")
    kc = ["--kubeconfig", str(kube.write_kubeconfig(tmp_path / "kubeconfig")), "--namespace", "apps"]
    helm.run("install", "fleet", str(make_workloads_chart(tmp_path)), "--create-namespace", *extra, *kc)
    status = json.loads(helm.run("status", "fleet", "-o", "json", *kc).stdout)["info"]["status"]
    assert status == "deployed"
    return helm.run("get", "manifest", "fleet", *kc).stdout


def _check(kube: KubeApiServer, manifest: str, status: str = "deployed") -> HealthReport:
    assert kube.wait_idle()
    return check_release(kube.kubeconfig(), status, manifest, "apps")


def _reasons(report: HealthReport) -> dict[str, str]:
    return {w.kind: describe(w) for w in report.workloads if not w.ready}


def test_ready_release_is_healthy_then_failing_workloads_give_reasons(kube_api: KubeApiServer,
                                                                      tmp_path: Path) -> None:
    manifest = _install(kube_api, tmp_path, "--wait", "--timeout", "30s")
    report = _check(kube_api, manifest)
    assert report.healthy and report.reachable and report.reasons == []
    assert sorted(w.kind for w in report.workloads) == sorted(KINDS)
    assert all(w.ready for w in report.workloads) and report.ready_count == 5

    assert _check(kube_api, manifest, "pending-upgrade").reasons == ["release is pending-upgrade"]

    kube_api.set_workloads("fail")
    report = _check(kube_api, manifest)
    assert not report.healthy and report.reachable
    assert _reasons(report) == {
        "Deployment": "Deployment apps/fleet-deployment: 0/2 ready (ProgressDeadlineExceeded)",
        "StatefulSet": "StatefulSet apps/fleet-statefulset: 0/2 ready",
        "DaemonSet": "DaemonSet apps/fleet-daemonset: 0/1 ready",
        "Job": "Job apps/fleet-job: failed (BackoffLimitExceeded)",
        "TApp": "TApp apps/fleet-tapp: 0/2 ready"}
    assert report.reasons == list(_reasons(report).values())

    kube_api.set_workloads("ready")
    kube_api.request("DELETE", "/apis/apps/v1/namespaces/apps/deployments/fleet-deployment")
    report = _check(kube_api, manifest)
    assert report.reasons == ["Deployment apps/fleet-deployment not found"]


@pytest.mark.parametrize("kube_api_options", [{"workloads": "pending"}], ids=["pending"])
def test_pending_workloads_are_not_ready(kube_api: KubeApiServer, tmp_path: Path) -> None:
    manifest = _install(kube_api, tmp_path)
    report = _check(kube_api, manifest)
    assert not report.healthy and report.reachable
    reasons = _reasons(report)
    assert set(reasons) == set(KINDS)
    assert reasons["Job"] == "Job apps/fleet-job: not complete (0/1 succeeded)"
    assert reasons["TApp"] == "TApp apps/fleet-tapp: 0/2 ready (appStatus Pending)"


def test_unreachable_cluster_is_reported_not_raised(kube_api: KubeApiServer, tmp_path: Path) -> None:
    manifest = _install(kube_api, tmp_path, "--wait", "--timeout", "30s")
    kube_api.switches.unavailable = True
    report = _check(kube_api, manifest)
    assert not report.reachable and report.reasons == ["cluster answered 503: Service Unavailable"]
    kube_api.switches.unavailable = False
    kube_api.go_down()
    started = time.monotonic()
    report = check_release(kube_api.kubeconfig(), "deployed", manifest, "apps", timeout=2)
    assert time.monotonic() - started < 5
    assert report == HealthReport(healthy=False, reachable=False, workloads=[],
                                  reasons=["cluster unreachable: MaxRetryError"])
    bad: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": []}
    assert not check_release(bad, "deployed", manifest, "apps").reachable
    kube_api.come_up()
    assert check_release(kube_api.kubeconfig(), "deployed", manifest, "apps").healthy
