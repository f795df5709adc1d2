"""Addon and rollout pages in headless Chromium: apply an addon from the form, approve its waves on the
rollout page and watch it reach succeeded live; and what a viewer may not do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from playwright.sync_api import Page, expect

from appmarket.services import bootstrap
from appmarket.settings import Settings
from tests.installer_helpers import demo_tgz, fast
from tests.kubeapi.server import KubeApiServer
from tests.support.app import LiveServer, start_server, stop_server
from tests.support.browser import screenshot

FAST_ENV = {"APPMARKET_ADDONS__INTERVAL": "0.3", "APPMARKET_INSTALLER__POLL_INTERVAL": "0.2",
            "APPMARKET_INSTALLER__HEARTBEAT_INTERVAL": "0.3", "APPMARKET_INSTALLER__STALE_AFTER": "2"}
ADDON = """\
name: log-agent
chart: library/demo
version: "0.1.0"
namespace: logging
values: {message: collected, replicas: 1}
targets: env=dev
strategy:
  wave_size: 1
  health_timeout: 40
  approval: true
"""


@pytest.fixture
def addon_server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    conf = fast(settings)
    token = bootstrap(conf)
    assert token
    server = start_server(conf, token, tmp_path / "server.log", extra_env=FAST_ENV)
    yield server
    stop_server(server)


def _prepare(url: str, token: str, kubes: dict[str, KubeApiServer], tmp_path: Path) -> None:
    h = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{url}/api/v1/projects", json={"name": "library"}, headers=h).status_code == 201
    r = httpx.post(f"{url}/api/library/charts", content=demo_tgz("0.1.0", crd=False), headers=h)
    assert r.status_code == 201, r.text
    for name, kube in kubes.items():
        kc = kube.write_kubeconfig(tmp_path / f"{name}.yaml").read_text()
        r = httpx.post(f"{url}/api/v1/clusters", json={"name": name, "kubeconfig": kc, "labels": {"env": "dev"}},
                       headers=h, timeout=30)
        assert r.status_code == 201, r.text


def _sign_in(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", server.token)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_contain_text("admin")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_apply_approve_and_follow_a_rollout(addon_server: LiveServer, page: Page, tmp_path: Path) -> None:
    server = addon_server
    with ExitStack() as stack:
        kubes = {n: stack.enter_context(KubeApiServer()) for n in ("dev-a", "dev-b")}
        _prepare(server.url, server.token, kubes, tmp_path)
        _sign_in(page, server)
        page.click("nav >> text=Addons")
        expect(page.locator(".empty")).to_contain_text("No addon yet")

        # A mistake is shown beside the form, with the text kept for fixing.
        page.fill("#spec_yaml", ADDON.replace("wave_size: 1", "wave_size: 1\n  wavez: 2"))
        page.click(".apply-addon button[type=submit]")
        expect(page.locator("#apply-error")).to_contain_text("unknown field `wavez`")
        expect(page.locator("#spec_yaml")).to_have_value(re.compile("wavez"))
        page.fill("#spec_yaml", ADDON)
        page.click(".apply-addon button[type=submit]")
        expect(page).to_have_url(re.compile(r"/ui/addons/log-agent$"))
        expect(page.locator("table.targets")).to_contain_text("dev-a")
        expect(page.locator("table.targets")).to_contain_text("dev-b")

        page.click("text=Latest rollout: >> a")
        expect(page).to_have_url(re.compile(r"/ui/rollouts/\d+$"))
        expect(page.locator("#rollout-state")).to_have_text("waiting-approval", timeout=30_000)
        page.click("#action-approve")
        # The second wave waits for its own approval once the first is healthy (the page follows by itself).
        expect(page.locator("#wave-0 [data-wave-state]")).to_have_text("succeeded", timeout=90_000)
        expect(page.locator("#rollout-state")).to_have_text("waiting-approval", timeout=30_000)
        expect(page.locator("#wave-0 tr[data-cluster=dev-a]")).to_contain_text("healthy")
        expect(page.locator("#wave-0 a[href^='/ui/operations/']")).to_have_count(1)
        page.click("#action-approve")
        page.evaluate("window.__notReloaded = true")
        expect(page.locator("#rollout-state")).to_have_text("succeeded", timeout=90_000)
        assert page.evaluate("window.__notReloaded") is True  # updated over SSE, not by a reload
        expect(page.locator("#rollout-log")).to_contain_text("approve")
        expect(page.locator(".rollout-actions")).to_have_count(0)  # a final rollout offers no action
        screenshot(page, "addon-rollout")
        for kube in kubes.values():
            cm = kube.get_object("v1", "ConfigMap", "log-agent-config", "logging")
            assert cm is not None and cm["data"]["message"] == "collected"

        page.click("text=log-agent")
        expect(page.locator("#addon-rollout-state")).to_have_text("succeeded")
        page.click("#check-drift")
        expect(page.locator(".notice")).to_contain_text("every target matches")
        expect(page.locator("#no-drift")).to_be_visible()
        screenshot(page, "addon")
        page.click("nav >> text=Addons")
        expect(page.locator("table.addons .targets-count")).to_have_text("2")
        expect(page.locator("table.addons")).to_contain_text("succeeded")
        screenshot(page, "addons")

        # Delete asks for the name.
        page.goto(server.url + "/ui/addons/log-agent")
        page.fill("#confirm", "log-agnet")
        page.click(".delete-addon button")
        expect(page.locator("p.error")).to_be_visible()
        page.fill("#confirm", "log-agent")
        page.click(".delete-addon button")
        expect(page.locator(".notice")).to_contain_text("Removing log-agent")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_halted_rollout_shows_the_reason_and_skips_from_the_page(addon_server: LiveServer, page: Page,
                                                                  tmp_path: Path) -> None:
    """A cluster whose workloads never get ready halts the wave; the page says why, and skipping it lets
    the rollout finish."""
    server = addon_server
    with ExitStack() as stack:
        kubes = {n: stack.enter_context(KubeApiServer()) for n in ("dev-a", "dev-b")}
        kubes["dev-b"].set_workloads("fail")
        _prepare(server.url, server.token, kubes, tmp_path)
        _sign_in(page, server)
        page.goto(server.url + "/ui/addons")
        page.fill("#spec_yaml", ADDON.replace("wave_size: 1", "wave_size: 2\n  max_parallel: 2")
                  .replace("health_timeout: 40", "health_timeout: 4").replace("approval: true", "approval: false"))
        page.click(".apply-addon button[type=submit]")
        page.click("text=Latest rollout: >> a")
        expect(page.locator("#rollout-state")).to_have_text("halted", timeout=90_000)
        failed = page.locator("tr[data-cluster=dev-b]")
        expect(failed).to_contain_text("log-agent-web", timeout=30_000)  # the workload that is not ready
        expect(failed.locator("a", has_text="rollback")).to_have_count(1, timeout=30_000)
        expect(page.locator("tr[data-cluster=dev-a]")).to_contain_text("healthy")
        expect(failed).to_contain_text("rolled-back", timeout=60_000)
        expect(page.locator("#action-resume")).to_be_visible()  # offered once the rollback has finished
        screenshot(page, "addon-rollout-halted")
        page.check("input[name=clusters][value=dev-b]")
        page.click("#action-skip")
        expect(page.locator("#rollout-state")).to_have_text("succeeded", timeout=60_000)
        expect(page.locator("tr[data-cluster=dev-b]")).to_contain_text("skipped")
        assert kubes["dev-b"].get_object("v1", "ConfigMap", "log-agent-config", "logging") is None
        assert kubes["dev-a"].get_object("v1", "ConfigMap", "log-agent-config", "logging") is not None


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


@pytest.mark.parametrize("kube_api_options", [{"token": "viewer-test-token"}])
def test_viewer_sees_no_actions_and_forged_posts_are_refused(client: TestClient[Any], admin_token: str,
                                                             kube_api: KubeApiServer, tmp_path: Path) -> None:
    h = {"Authorization": f"Bearer {admin_token}"}
    client.post("/api/v1/projects", json={"name": "library"}, headers=h)
    client.post("/api/library/charts", content=demo_tgz("0.1.0", crd=False), headers=h)
    kc = kube_api.write_kubeconfig(tmp_path / "kc.yaml").read_text()
    r = client.post("/api/v1/clusters", json={"name": "dev-a", "kubeconfig": kc, "labels": {"env": "dev"}}, headers=h)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/addons", content=ADDON, headers={**h, "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    rollout = client.get("/api/v1/addons/log-agent/rollout", headers=h).json()
    anonymous = client.get("/ui/addons", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    client.post("/api/v1/users", json={"username": "viewer", "password": "viewer-pass"}, headers=h)
    login = client.get("/login")
    client.post("/login", data={"username": "viewer", "password": "viewer-pass", "csrf_token": _csrf(login.text)})

    listing = client.get("/ui/addons")
    assert listing.status_code == 200 and "log-agent" in listing.text
    assert "Apply an addon" not in listing.text
    detail = client.get("/ui/addons/log-agent")
    assert detail.status_code == 200 and "Delete addon" not in detail.text and "spec_yaml" not in detail.text
    page = client.get(f"/ui/rollouts/{rollout['id']}")
    assert page.status_code == 200 and "dev-a" in page.text
    assert "action-approve" not in page.text and "action-abort" not in page.text
    token = _csrf(page.text)
    for path, data in ((f"/ui/rollouts/{rollout['id']}/approve", {}), (f"/ui/rollouts/{rollout['id']}/abort", {}),
                       (f"/ui/rollouts/{rollout['id']}/skip", {"clusters": "dev-a"}),
                       ("/ui/addons", {"spec_yaml": ADDON}), ("/ui/addons/log-agent/delete", {"confirm": "log-agent"}),
                       ("/ui/addons/log-agent/drift", {})):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert client.post(f"/ui/rollouts/{rollout['id']}/approve", data={}).status_code == 403  # no CSRF token
    after = client.get("/api/v1/addons/log-agent/rollout", headers=h).json()
    assert after["waves"][0]["state"] in ("pending", "waiting-approval")  # nothing was approved
    assert [e for e in after["events"] if e["action"] in ("approve", "abort", "skip")] == []
