"""The web catalog in headless Chromium against a live server with the curated catalog published."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from playwright.sync_api import Page, expect

from appmarket.services import bootstrap
from appmarket.settings import Settings
from tests.support.app import LiveServer, start_server, stop_server
from tests.support.browser import screenshot


@pytest.fixture
def catalog_server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    conf = msgspec.structs.replace(settings, publish_catalog=True)
    token = bootstrap(conf)
    assert token
    server = start_server(conf, token, tmp_path / "server.log")
    yield server
    stop_server(server)


def test_browse_search_sign_in(catalog_server: LiveServer, page: Page) -> None:
    base = catalog_server.url
    page.goto(base + "/")
    expect(page.locator(".card").first).to_be_visible()
    expect(page.get_by_role("link", name="Apache Kafka")).to_be_visible()
    screenshot(page, "catalog")

    page.fill("#q", "jupyter")
    # Ranked: the app named by the query comes first, the suite that contains it after.
    expect(page.locator(".card .name").first).to_have_text("JupyterLab")
    expect(page.locator(".card")).to_have_count(2)
    assert "q=jupyter" in page.url  # htmx pushed the search into the address bar
    page.select_option("#gpu", "required")
    page.fill("#q", "")
    expect(page.locator(".card .name").first).to_contain_text("vLLM")

    # Category and architecture filters narrow the cards (htmx swaps them and keeps the URL in step).
    page.goto(base + "/")
    page.select_option("#category", "Workloads")
    expect(page.locator(".card")).to_have_count(2)
    for card in page.locator(".card").all():
        expect(card.locator(".meta")).to_contain_text("Workloads")
    page.select_option("#arch", "arm64")
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card .meta")).to_contain_text("arm64")
    assert "category=Workloads" in page.url and "arch=arm64" in page.url
    screenshot(page, "catalog-filtered")
    page.select_option("#category", "")
    expect(page.locator(".card").first).to_be_visible()
    for card in page.locator(".card").all():
        expect(card.locator(".meta")).to_contain_text("arm64")

    page.goto(base + "/ui/apps/library/kafka")
    expect(page.locator(".app-head h1")).to_have_text("Apache Kafka")
    expect(page.locator(".readme")).to_contain_text("Kafka")
    expect(page.locator(".cmd").first).to_contain_text("helm repo add")
    screenshot(page, "app-detail")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/")
    expect(page.locator(".card").first).to_be_visible()
    screenshot(page, "catalog-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(base + "/login")
    screenshot(page, "login")
    page.fill("#username", "admin")
    page.fill("#password", "wrong")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Wrong username")
    page.fill("#username", "admin")
    page.fill("#password", catalog_server.token)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_contain_text("admin")
    screenshot(page, "signed-in")


def _sign_in(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", server.token)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_contain_text("admin")


def test_register_cluster_and_upload_chart(live_server: LiveServer, page: Page, tmp_path: Path) -> None:
    from tests.kubeapi.server import KubeApiServer  # noqa: PLC0415
    from tests.kubeapi.switches import NodeSpec  # noqa: PLC0415
    from tests.support.charts import make_chart_tgz  # noqa: PLC0415

    _sign_in(page, live_server)
    page.goto(live_server.url + "/ui/clusters")
    expect(page.get_by_text("No cluster registered yet")).to_be_visible()
    with KubeApiServer(nodes=[NodeSpec("n1", arch="amd64", gpus=2), NodeSpec("n2", arch="arm64")]) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig.yaml")
        page.fill("#name", "gpu-pool")
        page.set_input_files("#kubeconfig", str(kubeconfig))
        page.fill("#labels", "env=prod,gpu=nvidia")
        page.click("text=Probe and register")
        row = page.locator("table.grid tbody tr").first
        expect(row).to_contain_text("gpu-pool")
        expect(row).to_contain_text("reachable")
        expect(row).to_contain_text("nvidia.com/gpu: 2")
        expect(row).to_contain_text("arm64")
        screenshot(page, "clusters")

    # The cluster is gone: probing again shows why, as text (also at phone width), not only as a tooltip.
    page.goto(live_server.url + "/ui/clusters")
    page.click("form.reprobe button")
    expect(page.get_by_role("status")).to_contain_text("gpu-pool: unreachable")
    row = page.locator("table.grid tbody tr").first
    expect(row.locator(".badge.state-unreachable")).to_have_text("unreachable")
    expect(row.locator(".probe-error")).to_be_visible()
    assert row.locator(".probe-error").inner_text().strip()
    screenshot(page, "clusters-unreachable")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(row.locator(".probe-error")).to_be_visible()
    screenshot(page, "clusters-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    import httpx  # noqa: PLC0415

    httpx.post(f"{live_server.url}/api/v1/projects", json={"name": "team-a"},
               headers={"Authorization": f"Bearer {live_server.token}"})
    chart = tmp_path / "webchart-0.1.0.tgz"
    chart.write_bytes(make_chart_tgz(name="webchart", version="0.1.0"))
    page.goto(live_server.url + "/ui/repositories")
    expect(page.locator("main")).to_contain_text("team-a")
    screenshot(page, "repositories")
    page.goto(live_server.url + "/ui/repositories/team-a")
    page.set_input_files("#chart", str(chart))
    page.click("form.upload button[type=submit]")
    expect(page.get_by_role("status")).to_contain_text("Uploaded webchart 0.1.0")
    expect(page.locator("#charts")).to_contain_text("webchart")
    # The same chart, served over OCI too: listed with the images, with its helm install command.
    expect(page.locator('[data-repository="team-a/webchart"] tr[data-tag="0.1.0"]')).to_contain_text("helm chart")
    expect(page.locator('[data-repository="team-a/webchart"] .cmd')).to_contain_text(
        f"helm install my-webchart oci://{live_server.host_port}/team-a/webchart --version 0.1.0")
    screenshot(page, "repository")
