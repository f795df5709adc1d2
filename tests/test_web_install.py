"""The one-click flow in headless Chromium: install with a form value changed, watch it deploy, upgrade
with the diff shown, roll back, uninstall; and what a viewer may not do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from playwright.sync_api import Browser, Page, expect

from appmarket.services import bootstrap
from appmarket.settings import Settings
from tests.installer_helpers import demo_tgz, fast
from tests.kubeapi.server import KubeApiServer
from tests.kubeapi.switches import NodeSpec
from tests.support.app import LiveServer, start_server, stop_server
from tests.support.browser import screenshot

SCHEMA = {"type": "object", "properties": {
    "replicas": {"type": "integer", "minimum": 1, "maximum": 5, "description": "Pods to run"},
    "image": {"type": "string"},
    "message": {"type": "string", "description": "Greeting stored in the ConfigMap"},
}}
ANNOTATIONS = {"appmarket.io/featured-parameters": '["message","replicas"]', "appmarket.io/architectures": "amd64"}


@pytest.fixture
def installer_server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    conf = fast(settings)
    token = bootstrap(conf)
    assert token
    extra = {"APPMARKET_INSTALLER__STALE_AFTER": "2", "APPMARKET_INSTALLER__POLL_INTERVAL": "0.2"}
    server = start_server(conf, token, tmp_path / "server.log", extra_env=extra)
    yield server
    stop_server(server)


def _prepare(server: LiveServer, kube: KubeApiServer, arm: KubeApiServer, tmp_path: Path) -> None:
    h = {"Authorization": f"Bearer {server.token}"}
    assert httpx.post(f"{server.url}/api/v1/projects", json={"name": "apps", "visibility": "public"},
                      headers=h).status_code == 201
    for version in ("0.1.0", "0.2.0"):
        body = demo_tgz(version, annotations=ANNOTATIONS, schema=SCHEMA, crd=False)
        assert httpx.post(f"{server.url}/api/apps/charts", content=body, headers=h).status_code == 201
    for name, k in (("dev", kube), ("edge-arm", arm)):
        kc = k.write_kubeconfig(tmp_path / f"{name}.yaml").read_text()
        r = httpx.post(f"{server.url}/api/v1/clusters", json={"name": name, "kubeconfig": kc}, headers=h, timeout=30)
        assert r.status_code == 201, r.text


def _sign_in(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", server.token)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_contain_text("admin")


def _viewer_page(browser: Browser, server: LiveServer) -> Page:
    """A second browser, signed in as a user without admin rights."""
    h = {"Authorization": f"Bearer {server.token}"}
    r = httpx.post(f"{server.url}/api/v1/users", json={"username": "viewer", "password": "viewer-pass"}, headers=h)
    assert r.status_code == 201, r.text
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    viewer = context.new_page()
    viewer.goto(server.url + "/login")
    viewer.fill("#username", "viewer")
    viewer.fill("#password", "viewer-pass")
    viewer.click("button[type=submit]")
    expect(viewer.locator(".who")).to_contain_text("viewer")
    return viewer


def test_install_upgrade_rollback_uninstall(installer_server: LiveServer, page: Page, browser: Browser,
                                           tmp_path: Path) -> None:
    server = installer_server
    with KubeApiServer(nodes=[NodeSpec("n1", arch="amd64")]) as kube, \
            KubeApiServer(nodes=[NodeSpec("a1", arch="arm64")]) as arm:
        _prepare(server, kube, arm, tmp_path)
        _sign_in(page, server)
        page.goto(server.url + "/ui/apps/apps/demo?version=0.1.0")
        page.click("text=Install…")
        # Only the amd64 cluster is offered; the arm64 one is greyed out with the reason.
        expect(page.locator("input[name=cluster][value=dev]")).to_be_enabled()
        expect(page.locator("input[name=cluster][value=edge-arm]")).to_be_disabled()
        expect(page.locator(".clusters li.unfit")).to_contain_text("arm64")
        screenshot(page, "install-form")
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot(page, "install-form-phone")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.fill("#f-replicas", "9")
        page.click("button[value=install]")  # the browser itself refuses: the field carries max=5
        assert page.locator("#f-replicas").evaluate("e => e.validity.rangeOverflow") is True
        assert "/ui/install/" in page.url
        page.fill("#f-replicas", "3")
        page.fill("#f-message", "hello from the form")
        # An edit made only in the YAML editor survives the untouched field beside it (image is in the closed
        # "All parameters" box) and the preview round trip.
        page.click("#all-values summary")
        page.fill("#values_yaml", page.locator("#values_yaml").input_value().replace(
            "image: nginx:1.27", "image: nginx:1.28-from-yaml"))
        page.click("button[value=preview]")
        expect(page.locator(".preview .manifest")).to_contain_text("hello from the form")
        expect(page.locator(".preview .manifest")).to_contain_text("nginx:1.28-from-yaml")
        screenshot(page, "install-preview")
        kube.set_workloads("pending")  # helm waits: the live log must show its line before the end
        page.click("button[value=install]")
        expect(page.locator('#op-log li[data-kind="helm"]')).to_contain_text("helm upgrade --install demo")
        expect(page.locator('#op-log li[data-kind="running"]')).to_have_count(1)
        expect(page.locator("#op-state")).to_have_text("running")  # not final: helm is still waiting
        screenshot(page, "operation-live")
        kube.set_workloads("ready")
        expect(page.locator("#op-state")).to_have_text("succeeded", timeout=60_000)
        screenshot(page, "operation-log")
        cm = kube.get_object("v1", "ConfigMap", "demo-config", "default")
        assert cm is not None
        assert cm["data"]["message"] == "hello from the form"
        values = httpx.get(f"{server.url}/api/v1/clusters/dev/namespaces/default/releases/demo/values",
                           headers={"Authorization": f"Bearer {server.token}"}).json()
        assert values["image"] == "nginx:1.28-from-yaml"
        assert values["replicas"] == 3

        viewer = _viewer_page(browser, server)
        viewer.goto(server.url + "/ui/releases/dev/default/demo")
        expect(viewer.locator("#rel-status")).to_have_text("deployed")
        expect(viewer.locator("#notes")).to_contain_text("Thanks for installing demo")
        expect(viewer.locator("button.danger")).to_have_count(0)
        expect(viewer.locator("form.upgrade")).to_have_count(0)
        screenshot(viewer, "release-viewer")
        viewer.context.close()

        page.goto(server.url + "/ui/releases/dev/default/demo")
        expect(page.locator("#rel-status")).to_have_text("deployed")
        screenshot(page, "release")
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot(page, "release-phone")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.select_option("select[name=version]", "0.2.0")
        values_text = page.locator("#values_yaml").input_value()
        page.fill("#values_yaml", values_text.replace("hello from the form", "upgraded"))
        page.click("button[value=preview]")
        expect(page.locator("#diff")).to_contain_text("+")
        expect(page.locator("#diff")).to_contain_text("upgraded")
        screenshot(page, "upgrade-diff")
        expect(page.locator("select[name=version]")).to_have_value("0.2.0")  # the previewed version is confirmed
        page.click("button[value=upgrade]")
        expect(page.locator("#op-state")).to_have_text("succeeded", timeout=60_000)
        assert kube.get_object("v1", "ConfigMap", "demo-config", "default")["data"]["message"] == "upgraded"
        page.goto(server.url + "/ui/releases/dev/default/demo")
        expect(page.locator("body")).to_contain_text("apps/demo 0.2.0 · revision 2")

        page.goto(server.url + "/ui/releases/dev/default/demo")
        page.click("text=Roll back to 1")
        expect(page.locator("#op-state")).to_have_text("succeeded", timeout=60_000)
        assert kube.get_object("v1", "ConfigMap", "demo-config", "default")["data"]["message"] == \
            "hello from the form"
        page.goto(server.url + "/ui/releases")
        expect(page.locator("table.grid")).to_contain_text("demo")
        screenshot(page, "releases")

        page.goto(server.url + "/ui/releases/dev/default/demo")
        page.on("dialog", lambda d: d.accept())
        page.click("button.danger")
        expect(page.locator("#op-state")).to_have_text("succeeded", timeout=60_000)
        assert kube.get_object("v1", "ConfigMap", "demo-config", "default") is None


def test_failed_install_shows_helms_message(installer_server: LiveServer, page: Page, tmp_path: Path) -> None:
    server = installer_server
    with KubeApiServer(nodes=[NodeSpec("n1", arch="amd64")]) as kube, \
            KubeApiServer(nodes=[NodeSpec("a1", arch="arm64")]) as arm:
        _prepare(server, kube, arm, tmp_path)
        kube.set_workloads("fail")
        _sign_in(page, server)
        page.goto(server.url + "/ui/install/apps/demo?version=0.1.0")
        page.fill("#f-message", "doomed")
        page.click("button[value=install]")
        expect(page.locator("#op-state")).to_have_text("failed", timeout=60_000)
        op_id = int(page.url.rsplit("/", 1)[1])
        op = httpx.get(f"{server.url}/api/v1/operations/{op_id}",
                       headers={"Authorization": f"Bearer {server.token}"}).json()
        assert op["message"]
        expect(page.locator("#op-message")).to_have_text(op["message"])
        expect(page.locator("#op-message")).to_have_class("error")
        assert op["helm_output"]
        expect(page.locator("#helm-output pre")).to_contain_text(op["helm_output"].strip().splitlines()[-1])
        screenshot(page, "operation-failed")
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot(page, "operation-failed-phone")


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_viewer_sees_no_install_and_forged_posts_are_refused(client: TestClient[Any], admin_token: str) -> None:
    h = {"Authorization": f"Bearer {admin_token}"}
    client.post("/api/v1/projects", json={"name": "apps", "visibility": "public"}, headers=h)
    client.post("/api/apps/charts", content=demo_tgz("0.1.0", schema=SCHEMA, crd=False), headers=h)
    client.post("/api/v1/users", json={"username": "viewer", "password": "viewer-pass"}, headers=h)
    page = client.get("/login")
    client.post("/login", data={"username": "viewer", "password": "viewer-pass", "csrf_token": _csrf(page.text)})
    detail = client.get("/ui/apps/apps/demo")
    assert detail.status_code == 200
    assert "Install…" not in detail.text
    assert client.get("/ui/install/apps/demo").status_code == 403
    token = _csrf(detail.text)
    forged = client.post("/ui/install/apps/demo", data={"csrf_token": token, "cluster": "dev", "action": "install"})
    assert forged.status_code == 403
    no_csrf = client.post("/ui/releases/dev/default/demo/uninstall", data={})
    assert no_csrf.status_code == 403


def test_server_side_form_validation(client: TestClient[Any], admin_token: str) -> None:
    """What the browser checks is checked again on the server (forms can be posted by anything)."""
    h = {"Authorization": f"Bearer {admin_token}"}
    client.post("/api/v1/projects", json={"name": "apps", "visibility": "public"}, headers=h)
    client.post("/api/apps/charts", content=demo_tgz("0.1.0", schema=SCHEMA, crd=False), headers=h)
    page = client.get("/login")
    client.post("/login", data={"username": "admin", "password": admin_token, "csrf_token": _csrf(page.text)})
    form = client.get("/ui/install/apps/demo")
    assert "No cluster registered yet" in form.text
    r = client.post("/ui/install/apps/demo", data={"csrf_token": _csrf(form.text), "version": "0.1.0",
                                                   "replicas": "9", "message": "x", "action": "install"})
    assert r.status_code == 400
    assert "replicas must be at most 5" in r.text
    assert "pick a cluster" in r.text


