"""Release and install pages in process, against the Kubernetes test server: what a viewer may see and do,
what a page shows when the cluster is gone, every form error visible, secrets never echoed."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from tests.installer_helpers import BASE, Api, api, demo_tgz, installer_overrides, kube, wait_for  # noqa: F401
from tests.kubeapi.server import KubeApiServer

PAGE = "/ui/releases/c1/apps/demo"


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


def _sign_in(a: Api, username: str, password: str) -> str:
    """Signs the client's browser session in; returns a valid CSRF token of that session."""
    page = a.c.get("/login")
    r = a.c.post("/login", data={"username": username, "password": password, "csrf_token": _csrf(page.text)},
                   follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(a.c.get("/").text)


def _viewer(a: Api) -> str:
    assert a.post("/api/v1/users", {"username": "viewer", "password": "viewer-pass"}).status_code == 201
    return _sign_in(a, "viewer", "viewer-pass")


def _install_demo(a: Api) -> None:
    a.run(a.post(f"{BASE}/demo", {"chart": "library/demo", "values": {"message": "db-password-like"}}))


def test_viewer_reads_a_release_and_cannot_change_anything(api: Api, kube: KubeApiServer) -> None:  # noqa: F811
    _install_demo(api)
    csrf = _viewer(api)
    page = api.c.get(PAGE)
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="rel-status">deployed<' in html
    assert "revision 1" in html
    assert "Thanks for installing demo" in html  # notes
    assert "demo-config" in html  # manifest
    assert "<th>Rev</th>" in html  # history
    # The API keeps values (they hold passwords) and operations to admins: so does the page.
    assert 'id="values"' not in html and 'id="values_yaml"' not in html
    assert 'id="release-ops"' not in html
    for action in ("Upgrade", "Roll back to", "Uninstall"):
        assert action not in html

    forged = {
        f"{PAGE}/upgrade": {"values_yaml": "message: pwned\n", "action": "upgrade"},
        f"{PAGE}/rollback": {"revision": "1"},
        f"{PAGE}/uninstall": {},
        "/ui/clusters": {"name": "rogue", "kubeconfig_text": "apiVersion: v1\nkind: Config\n"},
        "/ui/clusters/c1/probe": {},
    }
    for path, data in forged.items():
        r = api.c.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code, r.text[:300])
    ops = api.get("/api/v1/operations").json()
    assert [o["kind"] for o in ops] == ["install"]
    assert [c["name"] for c in api.get("/api/v1/clusters").json()] == ["c1"]
    assert kube.get_object("v1", "ConfigMap", "demo-config", "apps")["data"]["message"] == "db-password-like"


def test_admin_release_page_shows_values_and_operations(api: Api, admin_token: str) -> None:  # noqa: F811
    _install_demo(api)
    _sign_in(api, "admin", admin_token)
    html = api.c.get(PAGE).text
    assert "db-password-like" in html  # in the upgrade editor
    assert 'id="release-ops"' in html and "install</a> succeeded" in html
    assert "Roll back to" not in html  # one revision: nothing to roll back to
    assert "Uninstall" in html


def test_release_page_when_the_cluster_is_unreachable(
        api: Api, kube: KubeApiServer, admin_token: str) -> None:  # noqa: F811
    _install_demo(api)
    _sign_in(api, "admin", admin_token)
    kube.go_down()
    try:
        page = api.c.get(PAGE)
        assert page.status_code == 200, page.text
        assert "Cluster c1 unreachable" in page.text
        assert 'id="rel-status">deployed<' in page.text  # the last state recorded
        assert "library/demo 0.2.0 · revision 1" in " ".join(page.text.split())
        assert "install</a> succeeded" in page.text  # operations come from the database
        assert "Not available while the cluster does not answer" in page.text
        assert "Upgrade" not in page.text  # no values to start an upgrade from
        _viewer(api)
        viewer_page = api.c.get(PAGE)
        assert viewer_page.status_code == 200
        assert "Cluster c1 unreachable" in viewer_page.text
    finally:
        kube.come_up()


NESTED = {"type": "object", "properties": {
    "message": {"type": "string"},
    "auth": {"type": "object", "required": ["password"], "properties": {
        "password": {"type": "string", "format": "password"}, "user": {"type": "string"}}},
    "hosts": {"type": "array", "items": {"type": "string", "pattern": "^[a-z.]+$"}},
}}


def _upload(a: Api, name: str, schema: dict[str, Any] | None) -> None:
    r = a.c.post("/api/library/charts", content=demo_tgz("0.1.0", name=name, schema=schema, crd=False),
                   headers=a.h)
    assert r.status_code == 201, r.text


def _form(html: str) -> dict[str, str]:
    """The install form's inputs as a browser would submit them untouched."""
    out = {m.group(1): unescape(m.group(2))
           for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}
    text = re.search(r'<textarea name="values_yaml" id="values_yaml"[^>]*>(.*?)</textarea>', html, re.S)
    assert text
    out["values_yaml"] = unescape(text.group(1))
    return out


def test_nested_and_item_errors_are_visible(api: Api, admin_token: str) -> None:  # noqa: F811
    _upload(api, "nested", NESTED)
    csrf = _sign_in(api, "admin", admin_token)
    r = api.c.post("/ui/install/library/nested", data={
        "csrf_token": csrf, "version": "0.1.0", "cluster": "c1", "namespace": "apps", "release": "nested",
        "message": "x", "auth.user": "bob", "hosts": "ok.example\nNOT-OK", "action": "preview"})
    assert r.status_code == 400, r.text
    html = r.text
    fieldset = html[html.index('<fieldset id="f-auth"'):html.index("</fieldset>")]
    assert "auth: &#39;password&#39; is a required property" in fieldset
    hosts = html[html.index('id="f-hosts"'):]
    assert "hosts.1: &#39;NOT-OK&#39; does not match" in hosts[:hosts.index("</div>")]
    assert 'id="error-summary"' in html and 'href="#f-auth"' in html
    assert "<details id=\"all-parameters\" open>" in html  # the errors inside it are not hidden


def test_no_schema_hint_and_unreachable_reason_in_install_flow(
        api: Api, kube: KubeApiServer, admin_token: str) -> None:  # noqa: F811
    _upload(api, "plain", None)
    csrf = _sign_in(api, "admin", admin_token)
    form = api.c.get("/ui/install/library/plain")
    assert "This chart has no values schema: edit the values as YAML below." in form.text
    kube.go_down()
    try:
        r = api.c.post("/ui/clusters/c1/probe", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        clusters = api.c.get(r.headers["location"]).text
        reason = re.search(r'<div class="reason probe-error">([^<]+)</div>', clusters)
        assert reason, clusters
        assert "c1: unreachable" in clusters  # the probe's outcome, as a notice
        install = api.c.get("/ui/install/library/plain").text
        assert "cluster unreachable at the last probe" in install
        assert reason.group(1) in install
        assert re.search(r'<input type="radio" name="cluster" value="c1"\s+disabled', install)
    finally:
        kube.come_up()
    api.c.post("/ui/clusters/c1/probe", data={"csrf_token": csrf})
    assert "badge arch\">reachable" in api.c.get("/ui/clusters").text


SECRET = {"type": "object", "properties": {
    "message": {"type": "string", "format": "password"},
    "image": {"type": "string"},
}}
TYPED = "hunter2-but-longer"


def test_secrets_are_not_echoed_and_still_reach_the_install(
        api: Api, kube: KubeApiServer, admin_token: str) -> None:  # noqa: F811
    _upload(api, "vault", SECRET)
    csrf = _sign_in(api, "admin", admin_token)
    first = api.c.get("/ui/install/library/vault")
    assert "message: hello" not in first.text  # the chart's default secret is not in the editor either
    preview = api.c.post("/ui/install/library/vault", data={
        **_form(first.text), "csrf_token": csrf, "cluster": "c1", "namespace": "apps", "release": "vault",
        "message": TYPED, "image": "nginx:1.27", "action": "preview"})
    assert preview.status_code == 200, preview.text
    assert "Dry run" in preview.text
    assert TYPED not in preview.text  # not in the YAML editor, the password input nor the rendered manifest
    assert "••••••" in preview.text
    assert "kept from your last submission" in preview.text
    assert "message" not in _form(preview.text)["values_yaml"]
    # Install with the password field left empty: the kept secret is what gets installed.
    done = api.c.post("/ui/install/library/vault", data={
        **_form(preview.text), "csrf_token": csrf, "cluster": "c1", "namespace": "apps", "release": "vault",
        "message": "", "image": "nginx:1.27", "action": "install"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    op_id = int(done.headers["location"].rsplit("/", 1)[1])
    wait_for(lambda: api.get(f"/api/v1/operations/{op_id}").json()["state"] == "succeeded", 60)
    assert kube.get_object("v1", "ConfigMap", "vault-config", "apps")["data"]["message"] == TYPED
    # Once installed the secret is gone from the session: a new form does not offer to keep it.
    assert "kept from your last submission" not in api.c.get("/ui/install/library/vault").text


def test_yaml_edit_survives_untouched_fields(
        api: Api, kube: KubeApiServer, admin_token: str) -> None:  # noqa: F811
    _upload(api, "edited", {"type": "object", "properties": {"message": {"type": "string"},
                                                              "replicas": {"type": "integer", "minimum": 1}}})
    csrf = _sign_in(api, "admin", admin_token)
    form = _form(api.c.get("/ui/install/library/edited").text)
    assert "message: hello" in form["values_yaml"]
    done = api.c.post("/ui/install/library/edited", data={
        **form, "values_yaml": form["values_yaml"].replace("message: hello", "message: from-yaml"),
        "message": "hello", "replicas": "2", "csrf_token": csrf, "cluster": "c1", "namespace": "apps",
        "release": "edited", "action": "install"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    op_id = int(done.headers["location"].rsplit("/", 1)[1])
    wait_for(lambda: api.get(f"/api/v1/operations/{op_id}").json()["state"] == "succeeded", 60)
    assert kube.get_object("v1", "ConfigMap", "edited-config", "apps")["data"]["message"] == "from-yaml"
