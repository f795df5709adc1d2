"""Suite pages: the members in order, who sees Install suite, and (in headless Chromium) the big data suite
installed in one click through the install flow into the Kubernetes test server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from playwright.sync_api import Page, expect

from appmarket.services import bootstrap
from appmarket.settings import Settings
from tests.installer_helpers import fast
from tests.kubeapi.server import KubeApiServer
from tests.kubeapi.switches import NodeSpec
from tests.support.app import LiveServer, start_server, stop_server
from tests.support.browser import screenshot
from tests.support.charts import chart_yaml_text, make_chart_tgz

Client = TestClient[Any]
MEMBERS = ["store", "queue", "engine"]  # deliberately not alphabetical: the page keeps the suite's order


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def _login(client: Client, username: str, secret: str) -> None:
    r = client.post("/login", data={"username": username, "password": secret,
                                    "csrf_token": _csrf(client.get("/login").text)}, follow_redirects=False)
    assert r.status_code == 303, r.text


def _seed_suite(client: Client, token: str) -> None:
    h = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/projects", json={"name": "pub", "visibility": "public"}, headers=h).status_code == 201
    for name in MEMBERS:
        chart = chart_yaml_text(name, "1.0.0", description=f"The {name} member",
                                annotations={"appmarket.io/suites": "mini"})
        r = client.post("/api/pub/charts", content=make_chart_tgz(name=name, chart_yaml=chart), headers=h)
        assert r.status_code == 201, r.text
    umbrella = chart_yaml_text(
        "mini-suite", "2.0.0", description="Three members wired together",
        dependencies=[{"name": n, "version": "1.0.0", "condition": f"{n}.enabled"} for n in MEMBERS],
        annotations={"appmarket.io/suite": "mini", "appmarket.io/suite-members": json.dumps(MEMBERS),
                     "appmarket.io/display-name": "Mini Suite"})
    r = client.post("/api/pub/charts", content=make_chart_tgz(name="mini-suite", chart_yaml=umbrella), headers=h)
    assert r.status_code == 201, r.text


def test_suite_pages_show_members_in_order(client: Client, admin_token: str) -> None:
    empty = client.get("/ui/suites")
    assert empty.status_code == 200
    assert "No suites visible" in empty.text
    _seed_suite(client, admin_token)

    listing = client.get("/ui/suites").text
    assert "Mini Suite" in listing
    assert "/ui/suites/mini?project=pub" in listing
    catalog = client.get("/").text
    assert 'href="/ui/suites/mini?project=pub" class="suite-link"' in catalog  # linked from the catalog card

    page = client.get("/ui/suites/mini")
    assert page.status_code == 200
    positions = [page.text.index(f'data-member="{m}"') for m in MEMBERS]
    assert positions == sorted(positions)
    assert "The queue member" in page.text
    assert "Install suite" not in page.text  # anonymous
    assert client.get("/ui/suites/nope").status_code == 404

    umbrella = client.get("/ui/apps/pub/mini-suite").text
    assert 'id="suite-link" href="/ui/suites/mini?project=pub"' in umbrella
    assert "Part of the" in client.get("/ui/apps/pub/queue").text

    _login(client, "admin", admin_token)
    page = client.get("/ui/suites/mini").text
    assert 'id="install-suite" href="/ui/install/pub/mini-suite?version=2.0.0"' in page
    install = client.get("/ui/install/pub/mini-suite?version=2.0.0").text
    plan = install[install.index('id="suite-plan"'):install.index("</section>", install.index('id="suite-plan"'))]
    assert re.findall(r'data-member="([^"]+)"', plan) == MEMBERS


def test_viewer_sees_no_install_suite_and_forged_post_is_refused(client: Client, admin_token: str) -> None:
    _seed_suite(client, admin_token)
    client.post("/api/v1/users", json={"username": "viewer", "password": "viewer-pass"},
                headers={"Authorization": f"Bearer {admin_token}"})
    _login(client, "viewer", "viewer-pass")
    page = client.get("/ui/suites/mini")
    assert page.status_code == 200
    assert "Install suite" not in page.text
    assert "/ui/admin" not in page.text
    assert client.get("/ui/install/pub/mini-suite").status_code == 403
    forged = client.post("/ui/install/pub/mini-suite", data={"csrf_token": _csrf(page.text), "cluster": "dev",
                                                              "action": "install", "version": "2.0.0"})
    assert forged.status_code == 403


@pytest.fixture
def suite_server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    conf = msgspec.structs.replace(fast(settings), publish_catalog=True)
    token = bootstrap(conf)
    assert token
    extra = {"APPMARKET_INSTALLER__STALE_AFTER": "2", "APPMARKET_INSTALLER__POLL_INTERVAL": "0.2"}
    server = start_server(conf, token, tmp_path / "server.log", extra_env=extra)
    yield server
    stop_server(server)


def test_install_big_data_suite_in_one_click(suite_server: LiveServer, page: Page, tmp_path: Path) -> None:
    import httpx  # noqa: PLC0415

    server = suite_server
    with KubeApiServer(nodes=[NodeSpec("n1", arch="amd64"), NodeSpec("n2", arch="amd64")]) as kube:
        kc = kube.write_kubeconfig(tmp_path / "kubeconfig.yaml").read_text()
        r = httpx.post(f"{server.url}/api/v1/clusters", json={"name": "dev", "kubeconfig": kc},
                       headers={"Authorization": f"Bearer {server.token}"}, timeout=30)
        assert r.status_code == 201, r.text
        page.goto(server.url + "/login")
        page.fill("#username", "admin")
        page.fill("#password", server.token)
        page.click("button[type=submit]")
        page.click("nav >> text=Suites")
        expect(page.locator(".card")).to_have_count(2)
        screenshot(page, "suites")
        page.click("text=Big Data Suite")
        members = page.locator("ol.members > li.member")
        expect(members).to_have_count(5)
        assert members.evaluate_all("els => els.map(e => e.dataset.member)") == \
            ["zookeeper", "hdfs", "kafka", "spark", "flink"]
        expect(members.nth(2)).to_contain_text("Apache Kafka")
        screenshot(page, "suite")
        page.set_viewport_size({"width": 390, "height": 844})
        expect(members.nth(4)).to_be_visible()
        screenshot(page, "suite-phone")
        page.set_viewport_size({"width": 1280, "height": 900})

        page.click("#install-suite")
        expect(page.locator("#suite-plan li")).to_have_count(5)
        expect(page.locator("input[name=cluster][value=dev]")).to_be_checked()
        page.fill("input[name=namespace]", "data")
        page.uncheck("#f-hdfs-enabled")  # Spark and Flink still point at HDFS: the chart refuses, the form stays
        page.click("button[value=preview]")
        expect(page.get_by_role("alert")).to_contain_text("global.hdfs.uri")
        expect(page.locator("#f-hdfs-enabled")).not_to_be_checked()
        expect(page.locator("input[name=namespace]")).to_have_value("data")
        page.check("#f-hdfs-enabled")
        page.uncheck("#f-flink-enabled")  # a featured member toggle from the schema form
        page.click("button[value=preview]")
        manifest = page.locator(".preview .manifest")
        expect(manifest).to_contain_text("bigdata-suite-kafka")
        expect(manifest).not_to_contain_text("bigdata-suite-flink")
        screenshot(page, "suite-install")
        page.click("button[value=install]")
        expect(page.locator("#op-state")).to_have_text("succeeded", timeout=120_000)
        screenshot(page, "suite-operation")
        page.goto(server.url + "/ui/releases/dev/data/bigdata-suite")
        expect(page.locator("#rel-status")).to_have_text("deployed")
        for service in ("zookeeper", "hdfs-namenode", "kafka", "spark-master"):  # every enabled member is there
            assert kube.get_object("v1", "Service", f"bigdata-suite-{service}", "data") is not None, service
        assert kube.get_object("v1", "Service", "bigdata-suite-flink-jobmanager", "data") is None

        page.goto(server.url + "/ui/operations")
        row = page.locator("table.operations tbody tr").first
        expect(row).to_contain_text("bigdata-suite")
        expect(row).to_contain_text("succeeded")
        expect(row).to_contain_text("admin")
        page.select_option("select[name=state]", "failed")
        expect(page.locator(".empty")).to_contain_text("No operation matches")
        page.select_option("select[name=state]", "succeeded")
        page.select_option("select[name=cluster]", "dev")
        expect(page.locator("table.operations tbody tr")).to_have_count(1)
        assert "state=succeeded" in page.url and "cluster=dev" in page.url
        screenshot(page, "operations")
        page.click("table.operations tbody tr >> a >> nth=0")
        expect(page.locator("#op-state")).to_have_text("succeeded")
