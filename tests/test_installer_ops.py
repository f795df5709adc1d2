"""Operations: failure with rollback-on-failure, preflight refusals, one operation per release, idempotency."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from tests.installer_helpers import (  # noqa: F401 - fixtures
    BASE,
    Api,
    api,
    demo_tgz,
    installer_overrides,
    kube,
    wait_for,
    wait_op,
)
from tests.kubeapi.server import KubeApiServer
from tests.kubeapi.switches import NodeSpec


def test_failing_install_and_upgrade_roll_back(api: Api, kube: KubeApiServer) -> None:  # noqa: F811
    kube.set_workloads("fail")
    op = api.run(api.post(f"{BASE}/bad", {"chart": "library/demo", "timeout": 20}), state="failed")
    assert "rolled back" in op["message"], op["message"]
    assert op["helm_output"] and "kube-secret-token" not in op["helm_output"]
    assert kube.get_object("v1", "ConfigMap", "bad-config", "apps") is None  # the failed install was removed
    assert api.get(f"{BASE}/bad").json()["status"] == "uninstalled"

    kube.set_workloads("ready")
    kube.set_workloads("fail", pattern="*-worker")
    api.run(api.post(f"{BASE}/web", {"chart": "library/demo", "values": {"message": "v1"}}))
    tgz = demo_tgz("0.3.0", extra_deployment="worker")
    assert api.c.post("/api/library/charts", content=tgz, headers=api.h).status_code == 201
    op = api.run(api.patch(f"{BASE}/web", {"version": "0.3.0", "values": {"message": "v2"}, "timeout": 20}),
                 state="failed")
    assert "rolled back: revision 3 is deployed" in op["message"], op["message"]
    rel = api.get(f"{BASE}/web").json()
    assert (rel["status"], rel["revision"]) == ("deployed", 3)
    assert api.get(f"{BASE}/web/values").json() == {"message": "v1"}
    # Without rollback-on-failure the failed revision stays.
    api.run(api.patch(f"{BASE}/web", {"version": "0.3.0", "atomic": False, "timeout": 5}), state="failed")
    assert api.get(f"{BASE}/web").json()["status"] == "failed"


def test_preflight_refusals_and_override(api: Api, kube: KubeApiServer) -> None:  # noqa: F811
    h = api.h
    schema = {"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1},
                                               "message": {"type": "string"}}, "required": ["message"]}
    charts = {"strict": demo_tgz("1.0.0", name="strict", schema=schema, crd=False),
              "armonly": demo_tgz("1.0.0", name="armonly", annotations={"appmarket.io/architectures": "arm64"},
                                  crd=False),
              "gpu": demo_tgz("1.0.0", name="gpu", annotations={"appmarket.io/gpu": "required",
                                                               "appmarket.io/gpu-count": "2"}, crd=False),
              "newkube": demo_tgz("1.0.0", name="newkube", kube_version=">=1.33.0-0", crd=False)}
    for tgz in charts.values():
        assert api.c.post("/api/library/charts", content=tgz, headers=h).status_code == 201
    r = api.post(f"{BASE}/s", {"chart": "library/strict", "values": {"replicas": 0, "message": 5}})
    assert r.status_code == 400
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert set(errors) == {"replicas", "message"} and errors["replicas"]["check"] == "values"
    r = api.post(f"{BASE}/a", {"chart": "library/armonly"})
    assert r.status_code == 400 and "arm64" in r.json()["detail"] and r.json()["errors"][0]["check"] == "architecture"
    r = api.post(f"{BASE}/g", {"chart": "library/gpu"})
    assert r.status_code == 400 and "2 nvidia.com/gpu" in r.json()["detail"]
    r = api.post(f"{BASE}/k", {"chart": "library/newkube"})
    assert r.status_code == 400 and "v1.30.4" in r.json()["detail"]
    assert api.get("/api/v1/operations").json() == []  # nothing was queued, the cluster was not touched

    # The cluster changes (probed again): the GPU chart fits; the others may be forced, audited.
    kube.set_nodes([NodeSpec("n1"), NodeSpec("g1", arch="arm64", gpus=2)])
    assert api.post("/api/v1/clusters/c1/probe").status_code == 201
    r = api.post(f"{BASE}/g", {"chart": "library/gpu", "dry_run": True})
    assert r.status_code == 200 and "kind: Deployment" in r.json()["manifest"]
    assert api.post(f"{BASE}/k", {"chart": "library/newkube", "override_fit": True}).status_code == 400
    kube.set_nodes([NodeSpec("n1")])
    assert api.post("/api/v1/clusters/c1/probe").status_code == 201
    op = api.run(api.post(f"{BASE}/a", {"chart": "library/armonly", "override_fit": True}))
    assert op["audit"]["overridden"] and "amd64" in op["audit"]["overridden"][0]


@pytest.mark.parametrize("installer_overrides", [{"workers": 3}])
def test_one_operation_per_release_and_idempotency(api: Api, kube: KubeApiServer) -> None:  # noqa: F811
    install = api.run(api.post(f"{BASE}/web", {"chart": "library/demo"}, headers={"Idempotency-Key": "inst"}))
    kube.set_workloads("pending")  # the first --wait hangs until the workloads get ready below
    results: dict[str, int] = {}

    def submit(tag: str, message: str) -> None:
        r = api.patch(f"{BASE}/web", {"values": {"message": message}}, headers={"Idempotency-Key": tag})
        results[tag] = r.json()["id"]

    threads = [threading.Thread(target=submit, args=(f"k{i}", f"m{i}")) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = api.patch(f"{BASE}/web", {"values": {"message": "x"}}, params={"conflict": "refuse"})
    assert busy.status_code == 409 and busy.json()["code"] == "operation_in_progress"
    again = api.patch(f"{BASE}/web", {"values": {"message": "m0"}}, headers={"Idempotency-Key": "k0"})
    assert again.json()["id"] == results["k0"]  # a retried submission returns the same operation
    for body, path in (({"values": {"message": "different"}}, f"{BASE}/web"), ({"values": {"message": "m0"}},
                                                                               f"{BASE}/other")):
        reused = api.patch(path, body, headers={"Idempotency-Key": "k0"})
        assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused", reused.text
    # A retried install returns its operation even though the release now exists.
    retried = api.post(f"{BASE}/web", {"chart": "library/demo"}, headers={"Idempotency-Key": "inst"})
    assert (retried.status_code, retried.json()["id"]) == (202, install["id"])
    def states() -> list[str]:
        return sorted(api.get(f"/api/v1/operations/{i}").json()["state"] for i in results.values())

    wait_for(lambda: "running" in states())  # a worker claims one; the other waits behind it
    time.sleep(1)  # five poll intervals: time enough for a wrongly concurrent claim to show
    assert states() == ["queued", "running"]
    kube.set_workloads("ready")
    a, b = sorted((wait_op(api.get, i) for i in results.values()), key=lambda o: o["id"])
    assert a["state"] == b["state"] == "succeeded"
    # Never concurrent: the second started only after the first finished.
    assert dt.datetime.fromisoformat(b["started_at"]) >= dt.datetime.fromisoformat(a["finished_at"])
    assert (a["revision_after"], b["revision_after"]) == (2, 3)
    assert api.get(f"{BASE}/web").json()["revision"] == 3


def test_sse_streams_events_until_final(api: Api) -> None:  # noqa: F811
    r = api.post(f"{BASE}/web", {"chart": "library/demo"})
    op_id = r.json()["id"]
    with api.c.stream("GET", f"/api/v1/operations/{op_id}/events", headers=api.h) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        body = "".join(resp.iter_text())
    kinds = [line.split(":", 1)[1].strip() for line in body.splitlines() if line.startswith("event:")]
    assert kinds[0] == "queued" and kinds[-1] == "succeeded" and "helm" in kinds
