"""The Kubernetes API emulator (tests/kubeapi) against the real clients: kubernetes, kubectl, helm 4.

These tests are the emulator's contract: installer tests later rely on helm's `--wait` finishing
(or failing) here exactly as it would on a cluster, on the Python client seeing real Status
errors, and on the switches (readiness modes, outages, nodes, version, token).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# the emulator is proven against the official client, so this test imports it besides clusters.py
from kubernetes import client, config, watch  # noqa: TID251

from tests.kubeapi import KubeApiServer, NodeSpec
from tests.kubeapi.samples import CRD, DEPLOYMENT, TAPP, make_chart, tapp_crd
from tests.support.helm import Helm

REPO = Path(__file__).resolve().parents[1]
KUBECTL = shutil.which("kubectl", path=f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
@pytest.fixture
def api(kube_api: KubeApiServer, tmp_path: Path) -> Iterator[client.ApiClient]:
    """The official Python client, configured only through a kubeconfig file."""
    path = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    with config.new_client_from_config(str(path)) as api_client:
        yield api_client


def body_of(exc: client.ApiException) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(exc.body)
    return decoded


# -- discovery, auth, errors ---------------------------------------------------------------------
@pytest.mark.parametrize("kube_api_options", [{"token": "sekret", "git_version": "v1.31.4"}], ids=["token"])
def test_version_discovery_and_token(kube_api: KubeApiServer, api: client.ApiClient, tmp_path: Path) -> None:
    assert client.VersionApi(api).get_code().git_version == "v1.31.4"
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "batch", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} <= groups
    assert any(r.name == "deployments" for r in client.AppsV1Api(api).get_api_resources().resources)
    agg = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    status, headers, doc = kube_api.request("GET", "/apis", headers={"Accept": agg})
    assert status == 200 and "as=APIGroupDiscoveryList" in headers["content-type"]
    assert doc["kind"] == "APIGroupDiscoveryList"
    status, _, openapi = kube_api.request("GET", "/openapi/v3")
    assert status == 200 and "apis/apps/v1" in openapi["paths"]
    assert all(r.headers.get("authorization") == "Bearer sekret" for r in kube_api.requests)

    wrong = kube_api.write_kubeconfig(tmp_path / "wrong", token="nope")
    with config.new_client_from_config(str(wrong)) as bad, pytest.raises(client.ApiException) as err:
        client.CoreV1Api(bad).list_namespace()
    assert err.value.status == 401 and body_of(err.value)["reason"] == "Unauthorized"


def test_unemulated_things_answer_501(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", DEPLOYMENT)
    for call in (lambda: apps.read_namespaced_deployment_scale("web", "default"),
                 lambda: client.CoreV1Api(api).read_namespaced_pod_log("x", "default"),
                 lambda: client.StorageV1Api(api).list_csi_driver()):
        with pytest.raises(client.ApiException) as err:
            call()
        assert err.value.status == 501 and body_of(err.value)["reason"] == "NotImplemented"
    status, _, doc = kube_api.request("GET", "/apis/storage.k8s.io/v1/csidrivers")
    assert (status, doc["kind"], doc["code"]) == (501, "Status", 501)
    status, _, doc = kube_api.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", b"{}",
                         {"Content-Type": "application/apply-patch+cbor"})
    assert status == 501 and doc["reason"] == "NotImplemented"
    status, _, doc = kube_api.request("GET", "/metrics")
    assert status == 501


# -- CRUD, selectors, concurrency, patches, watch ---------------------------------------------------
def test_delete_preconditions_conflict(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    made = core.create_namespaced_config_map("default", {"metadata": {"name": "pre"}, "data": {"k": "v"}})
    core.patch_namespaced_config_map("pre", "default", {"data": {"k": "v2"}})  # a newer resourceVersion
    for pre in (client.V1Preconditions(resource_version=made.metadata.resource_version),
                client.V1Preconditions(uid="not-the-uid")):
        with pytest.raises(client.ApiException) as err:
            core.delete_namespaced_config_map("pre", "default", body=client.V1DeleteOptions(preconditions=pre))
        body = body_of(err.value)
        assert (err.value.status, body["reason"]) == (409, "Conflict") and "Precondition failed" in body["message"]
    assert core.read_namespaced_config_map("pre", "default").data == {"k": "v2"}  # still there
    current = core.read_namespaced_config_map("pre", "default").metadata
    core.delete_namespaced_config_map("pre", "default", body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid=current.uid, resource_version=current.resource_version)))
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("pre", "default")
    assert err.value.status == 404


def test_crud_selectors_and_errors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("default", {"metadata": {"name": "a", "labels": {"tier": "web", "env": "prod"}},
                                                  "data": {"k": "v"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "b", "labels": {"tier": "db"}}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})

    def names(**kwargs: str) -> list[str]:
        return [i.metadata.name for i in core.list_namespaced_config_map("default", **kwargs).items]

    assert names(label_selector="tier=web") == names(label_selector="tier==web") == ["a"]
    assert names(label_selector="tier!=web") == ["b", "c"]
    assert names(label_selector="tier in (web,db)") == ["a", "b"]
    assert names(label_selector="tier notin (web)") == ["b", "c"]
    assert names(label_selector="env") == ["a"]
    assert names(label_selector="!tier") == ["c"]
    assert names(label_selector="tier,!env") == ["b"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]
    first = core.list_namespaced_config_map("default", limit=2)
    assert len(first.items) == 2 and first.metadata._continue
    rest = core.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["c"]

    stale = core.read_namespaced_config_map("a", "default")
    assert stale.metadata.uid and stale.metadata.creation_timestamp and stale.metadata.resource_version
    fresh = core.replace_namespaced_config_map("a", "default", {**stale.to_dict(), "data": {"k": "v2"}})
    assert int(fresh.metadata.resource_version) > int(stale.metadata.resource_version)
    cases: list[tuple[Any, int, str]] = [
        (lambda: core.replace_namespaced_config_map("a", "default", {**stale.to_dict(), "data": {"k": "v3"}}),
         409, "Conflict"),
        (lambda: core.create_namespaced_config_map("default", {"metadata": {"name": "a"}}), 409, "AlreadyExists"),
        (lambda: core.read_namespaced_config_map("zz", "default"), 404, "NotFound"),
        (lambda: core.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}}), 422, "Invalid"),
        (lambda: core.create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}}), 404, "NotFound"),
        (lambda: client.AppsV1Api(api).create_namespaced_deployment(
            "default", {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "selector": {"matchLabels": {"app": "x"}}}}),
         422, "Invalid"),
    ]
    for call, code, reason in cases:
        with pytest.raises(client.ApiException) as err:
            call()
        assert (err.value.status, body_of(err.value)["reason"]) == (code, reason)
    core.delete_collection_namespaced_config_map("default", label_selector="tier")
    assert names() == ["c"]


def test_patch_flavours(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment("default", DEPLOYMENT)
    assert created.metadata.generation == 1
    smp = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "B", "value": "2"}], "ports": [{"containerPort": 8080}]},
        {"name": "sidecar", "image": "busybox"}]}}}})
    app = smp.spec.template.spec.containers[0]
    assert [(e.name, e.value) for e in app.env] == [("A", "1"), ("B", "2")]  # merged by name
    assert [p.container_port for p in app.ports] == [80, 8080]  # merged by containerPort
    assert app.image == "nginx:1.27" and smp.spec.template.spec.containers[1].name == "sidecar"
    assert smp.metadata.generation == 2
    deleted = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}}}})
    assert [c.name for c in deleted.spec.template.spec.containers] == ["app"]

    path = "/apis/apps/v1/namespaces/default/deployments/web"
    ops = json.dumps([{"op": "replace", "path": "/spec/replicas", "value": 5},
                      {"op": "add", "path": "/metadata/labels/extra", "value": "yes"}]).encode()
    status, _, doc = kube_api.request("PATCH", path, ops, {"Content-Type": "application/json-patch+json"})
    assert status == 200 and doc["spec"]["replicas"] == 5 and doc["metadata"]["labels"]["extra"] == "yes"
    merge = json.dumps({"metadata": {"labels": {"extra": None}}}).encode()
    status, _, doc = kube_api.request("PATCH", path, merge, {"Content-Type": "application/merge-patch+json"})
    assert status == 200 and "extra" not in doc["metadata"]["labels"]
    test_op = json.dumps([{"op": "test", "path": "/spec/replicas", "value": 1}]).encode()
    status, _, _ = kube_api.request("PATCH", path, test_op, {"Content-Type": "application/json-patch+json"})
    assert status == 422
    status, _, _ = kube_api.request("PATCH", path, b"{}", {"Content-Type": "text/plain"})
    assert status == 415
    status, _, doc = kube_api.request("PATCH", path, json.dumps({"spec": {"selector": {"matchLabels": {
        "app": "other"}}}}).encode(), {"Content-Type": "application/merge-patch+json"})
    assert status == 422 and "spec.selector: Invalid value: field is immutable" in doc["message"]


def test_watch_streams_events(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map("default").metadata.resource_version

    def writer() -> None:
        time.sleep(0.2)
        core.create_namespaced_config_map("default", {"metadata": {"name": "w", "labels": {"k": "1"}}})
        core.patch_namespaced_config_map("w", "default", {"data": {"x": "y"}})
        core.patch_namespaced_config_map("w", "default", {"metadata": {"labels": {"k": "2"}}})
        core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
        core.delete_namespaced_config_map("other", "default")

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[tuple[str, str]] = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, "default", resource_version=start,
                               label_selector="k=1", timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            stream.stop()
    thread.join()
    # leaving the selector is reported as DELETED, like apiserver does
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    everything = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=1)]
    assert ("ADDED", "other") in everything and ("DELETED", "other") in everything


def test_crd_registers_custom_resources(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    ext, custom = client.ApiextensionsV1Api(api), client.CustomObjectsApi(api)
    ext.create_custom_resource_definition(CRD)
    cluster_crd = json.loads(json.dumps(CRD).replace("widget", "gadget").replace("Widget", "Gadget")
                             .replace('"wd"', '"gd"').replace("Namespaced", "Cluster"))
    ext.create_custom_resource_definition(cluster_crd)
    assert kube_api.wait_idle()
    established = ext.read_custom_resource_definition("widgets.example.com").status.conditions
    assert any(c.type == "Established" and c.status == "True" for c in established)
    _, _, listing = kube_api.request("GET", "/apis/example.com/v1")
    resources = {r["name"]: r["namespaced"] for r in listing["resources"]}
    assert resources["widgets"] is True and resources["gadgets"] is False
    assert resources["widgets/status"] is True

    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1}}
    custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget)
    patched = custom.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1",
                                                    {"spec": {"color": "red"}})
    assert patched["spec"] == {"size": 1, "color": "red"}
    custom.create_cluster_custom_object("example.com", "v1", "gadgets", {
        "apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"}})
    assert [g["metadata"]["name"] for g in custom.list_cluster_custom_object("example.com", "v1", "gadgets")["items"]] \
        == ["g1"]
    with pytest.raises(client.ApiException) as err:  # the schema says size is the only spec field besides color
        custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", {
            **widget, "metadata": {"name": "w2"}, "spec": {"bogus": 1}}, field_validation="Strict")
    assert err.value.status == 400

    ext.delete_custom_resource_definition("widgets.example.com")
    status, _, _ = kube_api.request("GET", "/apis/example.com/v1/namespaces/default/widgets")
    assert status == 404


# -- controllers and switches -------------------------------------------------------------------
def _wait_for(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_workload_modes(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    apps, batch = client.AppsV1Api(api), client.BatchV1Api(api)
    apps.create_namespaced_deployment("default", DEPLOYMENT)
    ready = _wait_for(lambda: apps.read_namespaced_deployment("web", "default").status.ready_replicas == 2)
    assert ready
    kube_api.set_workloads("fail", pattern="broken-*")
    apps.create_namespaced_deployment("default", {**DEPLOYMENT, "metadata": {"name": "broken-web"}})
    _wait_for(lambda: apps.read_namespaced_deployment("broken-web", "default").status.conditions)
    conditions = {c.type: c for c in apps.read_namespaced_deployment("broken-web", "default").status.conditions}
    assert conditions["Progressing"].reason == "ProgressDeadlineExceeded"
    job = {"metadata": {"name": "migrate"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox"}]}}}}
    batch.create_namespaced_job("default", job)
    batch.create_namespaced_job("default", {**job, "metadata": {"name": "broken-job"}})
    done = _wait_for(lambda: batch.read_namespaced_job("migrate", "default").status.conditions)
    assert {c.type for c in done} >= {"Complete"}
    failed = _wait_for(lambda: batch.read_namespaced_job("broken-job", "default").status.conditions)
    assert {c.type for c in failed} >= {"Failed"}
    kube_api.set_workloads("pending")
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    stuck = _wait_for(lambda: apps.read_namespaced_deployment("web", "default").status.observed_generation == 2)
    assert stuck and not apps.read_namespaced_deployment("web", "default").status.ready_replicas


def test_tapp_status_per_mode(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    """TApps get the status tkestack's tapp-controller writes once its CRD exists, per readiness mode."""
    custom = client.CustomObjectsApi(api)
    client.ApiextensionsV1Api(api).create_custom_resource_definition(tapp_crd())
    assert kube_api.wait_idle()

    def create(name: str, *, restart: str | None = None, statuses: dict[str, str] | None = None) -> None:
        body = json.loads(json.dumps(TAPP))
        body["metadata"]["name"] = name
        if restart:
            body["spec"]["template"]["spec"]["restartPolicy"] = restart
        if statuses:
            body["spec"]["statuses"] = statuses
        custom.create_namespaced_custom_object("apps.tkestack.io", "v1", "default", "tapps", body)

    def status(name: str) -> Any:
        return _wait_for(lambda: custom.get_namespaced_custom_object(
            "apps.tkestack.io", "v1", "default", "tapps", name).get("status"))

    create("game")
    assert status("game") == {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "appStatus": "Running",
                              "statuses": {"0": "Running", "1": "Running"}, "scaleLabelSelector": "app=game"}
    create("half", statuses={"1": "Killed"})
    assert status("half")["statuses"] == {"0": "Running", "1": "Killed"} and status("half")["readyReplicas"] == 1
    kube_api.set_workloads("fail", pattern="bad-*")
    create("bad-loop")  # restartPolicy Always: pods crash-loop, instances stay Pending, the app "Running"
    assert {k: status("bad-loop")[k] for k in ("appStatus", "readyReplicas", "statuses")} == {
        "appStatus": "Running", "readyReplicas": 0, "statuses": {"0": "Pending", "1": "Pending"}}
    create("bad-once", restart="Never")  # run-once pods end Failed: so do the instances and the app
    assert {k: status("bad-once")[k] for k in ("appStatus", "readyReplicas", "statuses")} == {
        "appStatus": "Failed", "readyReplicas": 0, "statuses": {"0": "Failed", "1": "Failed"}}
    kube_api.set_workloads("pending")
    custom.patch_namespaced_custom_object("apps.tkestack.io", "v1", "default", "tapps", "game",
                                          {"spec": {"replicas": 3}})
    pending = _wait_for(lambda: (s := status("game"))["observedGeneration"] == 2 and s)
    assert pending["appStatus"] == "Pending" and pending["readyReplicas"] == 0 and pending["statuses"] == {}
    kube_api.set_workloads("ready")
    assert _wait_for(lambda: status("game")["readyReplicas"] == 3)


def test_namespace_deletion_and_garbage_collection(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "team"}})
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "child", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}]}})
    core.create_namespaced_secret("team", {"metadata": {"name": "s"}, "stringData": {"a": "b"}})
    assert core.read_namespaced_secret("s", "team").data == {"a": "Yg=="}
    core.delete_namespaced_config_map("owner", "default")
    core.delete_namespace("team")
    _wait_for(lambda: "team" not in [n.metadata.name for n in core.list_namespace().items])
    assert core.list_secret_for_all_namespaces(field_selector="metadata.namespace=team").items == []
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == []


@pytest.mark.parametrize("kube_api_options", [{"nodes": [
    NodeSpec("cpu-1"), NodeSpec("arm-1", arch="arm64"), NodeSpec("gpu-1", gpus=4)]}], ids=["three-nodes"])
def test_nodes_are_configurable(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    nodes = client.CoreV1Api(api).list_node().items
    assert sorted(n.metadata.labels["kubernetes.io/arch"] for n in nodes) == ["amd64", "amd64", "arm64"]
    assert sum(int(n.status.allocatable.get("nvidia.com/gpu", "0")) for n in nodes) == 4
    kube_api.set_nodes([NodeSpec("only-1", arch="arm64")])
    assert [n.metadata.name for n in client.CoreV1Api(api).list_node().items] == ["only-1"]


def test_outage_switches(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("default", {"metadata": {"name": "kept"}})
    kube_api.switches.unavailable = True
    with pytest.raises(client.ApiException) as err:
        core.list_namespace()
    assert err.value.status == 503
    kube_api.switches.unavailable = False
    kube_api.go_down()
    with pytest.raises(ConnectionRefusedError):
        socket_probe(kube_api.port)
    kube_api.come_up()
    assert core.read_namespaced_config_map("kept", "default").metadata.name == "kept"


def socket_probe(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
    finally:
        conn.close()


def test_plain_http_and_state_dir_subprocess(tmp_path: Path) -> None:
    state, kubeconfig = tmp_path / "state", tmp_path / "kubeconfig"

    def run_server(action: Any) -> None:
        """Start `python -m tests.kubeapi`, run `action` against it, stop it with SIGTERM."""
        with subprocess.Popen([sys.executable, "-m", "tests.kubeapi", "--state-dir", str(state),
                               "--kubeconfig", str(kubeconfig), "--node", "n1:arm64:1"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True) as proc:
            try:
                assert proc.stdout is not None
                assert proc.stdout.readline().startswith("READY https://127.0.0.1:")
                with config.new_client_from_config(str(kubeconfig)) as api_client:
                    action(client.CoreV1Api(api_client))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)
        assert proc.returncode == 0

    run_server(lambda core: core.create_namespaced_config_map("default", {"metadata": {"name": "durable"}}))
    run_server(lambda core: core.read_namespaced_config_map("durable", "default"))
    run_server(lambda core: [n.metadata.labels["kubernetes.io/arch"] for n in core.list_node().items] == ["arm64"])

    with KubeApiServer(tls=False) as plain:
        assert plain.url.startswith("http://")
        plain.write_kubeconfig(tmp_path / "plain")
        with config.new_client_from_config(str(tmp_path / "plain")) as api_client:
            assert client.VersionApi(api_client).get_code().git_version == "v1.36.2"


# -- kubectl ---------------------------------------------------------------------------------------
def test_kubectl_server_side_apply(kube_api: KubeApiServer, api: client.ApiClient, tmp_path: Path) -> None:
    assert KUBECTL is not None, "kubectl is missing: run scripts/install-kube-tools.sh"
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kc")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", **DEPLOYMENT}))
    env = {**os.environ, "HOME": str(tmp_path)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(KUBECTL), "--kubeconfig", str(kubeconfig), *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    first = kubectl("apply", "--server-side", "-f", str(manifest))
    assert first.returncode == 0, first.stderr
    assert kubectl("apply", "--server-side", "-f", str(manifest)).returncode == 0
    got = json.loads(kubectl("get", "deployment", "web", "-o", "json", "--show-managed-fields").stdout)
    assert {m["manager"] for m in got["metadata"]["managedFields"]} >= {"kubectl"}
    assert "web" in kubectl("get", "deployments").stdout
    client.AppsV1Api(api).patch_namespaced_deployment("web", "default", {"spec": {"replicas": 7}})
    conflict = kubectl("apply", "--server-side", "-f", str(manifest))
    assert conflict.returncode != 0 and "conflict" in conflict.stderr.lower()
    assert kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest)).returncode == 0
    assert client.AppsV1Api(api).read_namespaced_deployment("web", "default").spec.replicas == 2


# -- helm 4 ----------------------------------------------------------------------------------------
@pytest.fixture
def helm(kube_api: KubeApiServer, tmp_path: Path) -> tuple[Helm, list[str]]:
    """helm with its homes under tmp_path, and the `--kubeconfig` arguments for `kube_api`."""
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    return Helm(tmp_path / "helm-home"), ["--kubeconfig", str(kubeconfig)]


@pytest.mark.parametrize("kube_api_options", [{"token": "helm-token"}], ids=["token"])
def test_helm_install_upgrade_rollback_uninstall(kube_api: KubeApiServer, helm: tuple[Helm, list[str]],
                                                 tmp_path: Path) -> None:
    runner, kc = helm
    chart = make_chart(tmp_path)
    runner.run("install", "demo", str(chart), "--wait", "--timeout", "30s", *kc)
    deployment = kube_api.get_object("apps/v1", "Deployment", "demo-web", "default")
    assert deployment is not None and deployment["status"]["readyReplicas"] == 2
    assert kube_api.get_object("example.com/v1", "Widget", "demo-widget", "default") is not None
    assert any(r.headers.get("authorization") == "Bearer helm-token" for r in kube_api.requests)

    runner.run("upgrade", "demo", str(chart), "--wait", "--timeout", "30s", "--set", "image=nginx:1.28", *kc)
    upgraded = kube_api.get_object("apps/v1", "Deployment", "demo-web", "default")
    assert upgraded is not None
    assert upgraded["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    runner.run("rollback", "demo", "1", "--wait", "--timeout", "30s", *kc)
    rolled = kube_api.get_object("apps/v1", "Deployment", "demo-web", "default")
    assert rolled is not None and rolled["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    history = json.loads(runner.run("history", "demo", "-o", "json", *kc).stdout)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"), (2, "superseded"), (3, "deployed")]

    runner.run("uninstall", "demo", "--wait", "--timeout", "30s", *kc)
    assert kube_api.get_object("apps/v1", "Deployment", "demo-web", "default") is None
    assert runner.run("list", "-q", *kc).stdout.strip() == ""
    assert kube_api.errors == []


@pytest.mark.parametrize("kube_api_options", [{"workloads": "fail"}], ids=["fail"])
def test_helm_wait_fails_when_workloads_fail(kube_api: KubeApiServer, helm: tuple[Helm, list[str]],
                                             tmp_path: Path) -> None:
    runner, kc = helm
    started = time.monotonic()
    result = runner.run("install", "demo", str(make_chart(tmp_path)), "--wait", "--timeout", "10s", *kc,
                        check=False)
    assert result.returncode != 0 and "demo-web" in result.stderr
    assert time.monotonic() - started < 15
    assert json.loads(runner.run("status", "demo", "-o", "json", *kc).stdout)["info"]["status"] == "failed"


def test_helm_wait_times_out_on_pending_workload(kube_api: KubeApiServer, helm: tuple[Helm, list[str]],
                                                 tmp_path: Path) -> None:
    runner, kc = helm
    kube_api.set_workloads("pending", pattern="*-web")
    result = runner.run("install", "demo", str(make_chart(tmp_path)), "--wait", "--timeout", "3s", *kc,
                        check=False)
    assert result.returncode != 0 and "context deadline exceeded" in result.stderr
