"""Releases end to end through the API, real helm 4 against the Kubernetes API test server."""

from __future__ import annotations

import base64

import pytest

from tests.installer_helpers import BASE, Api, api, installer_overrides, kube, values_of  # noqa: F401 - fixtures
from tests.kubeapi.server import KubeApiServer


def test_install_upgrade_reuse_rollback_uninstall(api: Api, kube: KubeApiServer) -> None:  # noqa: F811
    op = api.run(api.post(f"{BASE}/web", {"chart": "library/demo", "version": "0.1.0",
                                          "values": {"message": "hi", "replicas": 3}}))
    assert op["revision_after"] == 1 and op["audit"]["who"] == "admin"
    assert op["audit"]["what"]["values_diff"]["added"] == {"message": "hi", "replicas": 3}
    assert [e["kind"] for e in op["events"]][:2] == ["queued", "running"]
    assert kube.get_object("v1", "ConfigMap", "web-config", "apps")["data"] == {"message": "hi"}
    assert kube.get_object("example.com/v1", "Widget", "web-widget", "apps") is not None  # the CRD's object
    rel = api.get(f"{BASE}/web").json()
    assert (rel["status"], rel["revision"], rel["version"], rel["stuck"]) == ("deployed", 1, "0.1.0", False)
    assert api.post(f"{BASE}/web", {"chart": "library/demo"}).status_code == 409  # exists: upgrade it

    # Upgrade to 0.2.0 reusing values, changing one: replicas stays 3.
    op = api.run(api.patch(f"{BASE}/web", {"version": "0.2.0", "values": {"message": "bye"}}))
    assert op["audit"]["what"]["values_diff"]["changed"] == {"message": ["hi", "bye"]}
    assert api.get(f"{BASE}/web/values").json() == {"message": "bye", "replicas": 3}
    assert values_of(api.get(f"{BASE}/web/manifest").text, "Deployment")["spec"]["replicas"] == 3
    # PUT without reuse: values reset to what is given.
    api.run(api.put(f"{BASE}/web", {"values": {"message": "reset"}}))
    assert api.get(f"{BASE}/web/values").json() == {"message": "reset"}
    rel = api.get(f"{BASE}/web").json()
    assert (rel["revision"], rel["version"]) == (3, "0.2.0")
    assert "Thanks for installing web" in api.get(f"{BASE}/web/notes").text

    # Dry run with diff: nothing changes, the diff shows the value.
    r = api.put(f"{BASE}/web", {"values": {"message": "next"}, "diff": True})
    assert r.status_code == 200, r.text
    diff = r.json()["diff"]
    assert '-data: {message: "reset"}' in diff and '+data: {message: "next"}' in diff, diff
    assert diff.count("\n-") == 2  # the ConfigMap line and the Deployment's env
    assert api.get(f"{BASE}/web").json()["revision"] == 3

    op = api.run(api.post(f"{BASE}/web/rollback", {"revision": 1}))
    assert op["audit"]["values_diff"]["changed"] == {"message": ["reset", "hi"]}
    assert op["audit"]["values_diff"]["added"] == {"replicas": 3}
    assert api.get(f"{BASE}/web/values").json() == {"message": "hi", "replicas": 3}
    history = api.get(f"{BASE}/web/history").json()
    assert [h["revision"] for h in history] == [1, 2, 3, 4] and history[-1]["status"] == "deployed"
    assert api.get(f"{BASE}/web").json()["version"] == "0.1.0"

    api.run(api.delete(f"{BASE}/web"))
    assert kube.get_object("v1", "ConfigMap", "web-config", "apps") is None
    assert api.get(f"{BASE}/web").json()["status"] == "uninstalled"
    ops = api.get("/api/v1/operations", params={"release": "web"}).json()
    assert [o["kind"] for o in ops] == ["uninstall", "rollback", "upgrade", "upgrade", "install"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_permissions(api: Api) -> None:  # noqa: F811
    assert api.post("/api/v1/users", {"username": "dev", "password": "dev-password-123"}).status_code == 201
    dev = {"Authorization": "Basic " + base64.b64encode(b"dev:dev-password-123").decode()}
    api.run(api.post(f"{BASE}/web", {"chart": "library/demo", "values": {"password": "s3cret"}}))
    assert api.c.get(f"{BASE}/web", headers=dev).json()["status"] == "deployed"  # signed in: status
    assert api.c.get(f"{BASE}/web/history", headers=dev).status_code == 200
    for method, path in (("GET", f"{BASE}/web/values"), ("GET", "/api/v1/operations"), ("GET", "/api/v1/operations/1"),
                         ("PATCH", f"{BASE}/web"), ("DELETE", f"{BASE}/web"), ("POST", f"{BASE}/web/rollback")):
        r = api.c.request(method, path, headers=dev, json={} if method in ("PATCH", "POST") else None)
        assert r.status_code == 403, (method, path, r.text)
    assert api.c.get(f"{BASE}/web").status_code == 401
