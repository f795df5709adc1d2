"""Releases end to end through the API, real helm 4 against the Kubernetes API test server."""

from __future__ import annotations

import base64

import pytest

from tests.installer_helpers import BASE, Api, api, demo_tgz, installer_overrides, kube, values_of  # noqa: F401
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


# Role checks do not touch the installer's tables; tests/test_permissions.py runs them on both databases.
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


def test_merge_upgrade_takes_the_new_charts_defaults_and_diffs_the_deployed_revision(
        api: Api, kube: KubeApiServer) -> None:  # noqa: F811
    # 0.6.0 changes a default (image) and adds a key (tier) that its schema requires and a template uses.
    schema = {"type": "object", "required": ["tier"],
              "properties": {"replicas": {"type": "integer", "maximum": 5}, "tier": {"enum": ["gold", "silver"]}}}
    tier = ('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "{{ .Release.Name }}-tier"}\n'
            'data: {tier: {{ .Values.tier | quote }}}\n')
    tgz = demo_tgz("0.6.0", schema=schema, values_yaml="replicas: 2\nimage: nginx:1.28\nmessage: hello\ntier: gold\n",
                   templates={"tier.yaml": tier})
    assert api.c.post("/api/library/charts", content=tgz, headers=api.h).status_code == 201
    api.run(api.post(f"{BASE}/web", {"chart": "library/demo", "version": "0.2.0",
                                     "values": {"message": "mine", "replicas": 3}}))
    # Preflight checks the merge (recorded values + request) over the new defaults: replicas 9 is refused.
    r = api.patch(f"{BASE}/web", {"version": "0.6.0", "values": {"replicas": 9}})
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["replicas"], r.text

    op = api.run(api.patch(f"{BASE}/web", {"version": "0.6.0", "values": {"replicas": 4}}))
    assert "request merged over the values of revision 1" in [e["message"] for e in op["events"]]
    manifest = api.get(f"{BASE}/web/manifest").text
    deployment = values_of(manifest, "Deployment")["spec"]
    assert deployment["replicas"] == 4  # the request
    container = deployment["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.28"  # the new chart's changed default, not 0.2.0's nginx:1.27
    assert container["env"] == [{"name": "MESSAGE", "value": "mine"}]  # the recorded user value
    assert kube.get_object("v1", "ConfigMap", "web-tier", "apps")["data"] == {"tier": "gold"}  # the new key
    assert api.get(f"{BASE}/web/values").json() == {"message": "mine", "replicas": 4}

    # A failed upgrade without rollback leaves revision 3 failed; a diff compares with deployed revision 2.
    kube.set_workloads("fail")
    api.run(api.patch(f"{BASE}/web", {"values": {"message": "broken"}, "atomic": False, "timeout": 20}), "failed")
    assert api.get(f"{BASE}/web").json()["status"] == "failed"
    kube.set_workloads("ready")
    r = api.patch(f"{BASE}/web", {"values": {"message": "next"}, "diff": True})
    assert r.status_code == 200, r.text
    diff = r.json()["diff"]
    assert '-data: {message: "mine"}' in diff and '+data: {message: "next"}' in diff, diff
    assert "broken" not in diff
    assert values_of(r.json()["manifest"], "Deployment")["spec"]["replicas"] == 4  # merged over revision 2
    assert api.get(f"{BASE}/web").json()["revision"] == 3  # a diff changes nothing
