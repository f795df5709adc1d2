"""The catalog API in process on both databases: ranking, filters, pages, permissions, suites, push/delete."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import delete

from appmarket.auth.schemas import ANONYMOUS, Principal
from appmarket.catalog.search import Query
from appmarket.db.models import CatalogApp, CatalogSync
from appmarket.projects.schemas import ProjectCreate
from appmarket.services import build_services
from appmarket.settings import Settings
from tests.support.app import LiveServer
from tests.support.charts import chart_yaml_text, make_chart_tgz
from tests.support.helm import Helm

Client = TestClient[Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_project(client: Client, token: str, name: str, visibility: str = "public") -> None:
    r = client.post("/api/v1/projects", json={"name": name, "visibility": visibility}, headers=bearer(token))
    assert r.status_code == 201, r.text


def push(client: Client, token: str, project: str, name: str, version: str = "1.0.0", *,
         description: str = "A test chart", keywords: list[str] | None = None,
         annotations: dict[str, str] | None = None, readme: str | None = None, **extra: object) -> None:
    chart_yaml = chart_yaml_text(name, version, description=description, keywords=keywords or [],
                                 annotations=annotations or {}, **extra)
    files: dict[str, str | bytes | None] = {}
    if readme is not None:
        files["README.md"] = readme
    r = client.post(f"/api/{project}/charts", content=make_chart_tgz(name, version, chart_yaml=chart_yaml,
                                                                     files=files), headers=bearer(token))
    assert r.status_code == 201, r.text


def apps(client: Client, token: str | None = None, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/catalog/apps", params=params, headers=bearer(token) if token else {})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def names(page: dict[str, Any]) -> list[str]:
    return [a["name"] for a in page["items"]]


@pytest.fixture
def ranked(client: Client, admin_token: str) -> Client:
    """Charts built so each ranking rule decides exactly one position for the query ``redis``."""
    make_project(client, admin_token, "rank")
    push(client, admin_token, "rank", "zz-desc", description="A cache in front of redis")
    push(client, admin_token, "rank", "zz-kwpart", keywords=["redis-compatible"])
    push(client, admin_token, "rank", "zz-kw", keywords=["redis", "cache"])
    push(client, admin_token, "rank", "zz-display", annotations={"appmarket.io/display-name": "Redis Sentinel"})
    push(client, admin_token, "rank", "my-redis-ha")
    push(client, admin_token, "rank", "redis-cluster")
    push(client, admin_token, "rank", "redis")
    push(client, admin_token, "rank", "unrelated")
    return client


def test_search_ranking_table(ranked: Client, admin_token: str) -> None:
    page = apps(ranked, q="redis")
    assert [(a["name"], a["score"]) for a in page["items"]] == [
        ("redis", 100), ("redis-cluster", 80), ("my-redis-ha", 70), ("zz-display", 60),
        ("zz-kw", 40), ("zz-kwpart", 30), ("zz-desc", 20)]
    assert page["total"] == 7
    # Case-insensitive; every term must match; scores add up over terms.
    assert names(apps(ranked, q="REDIS Sentinel")) == ["zz-display"]
    assert names(apps(ranked, q="redis cache")) == ["zz-kw", "zz-desc"]
    # LIKE wildcards in the query are literal characters.
    assert apps(ranked, q="%")["total"] == 0
    assert apps(ranked, q="_")["total"] == 0
    assert names(apps(ranked, q="redis", sort="name"))[:2] == ["my-redis-ha", "redis"]


def test_pagination_and_sort(ranked: Client, admin_token: str) -> None:
    all_names = names(apps(ranked, per_page=100))
    assert all_names == sorted(all_names) and len(all_names) == 8
    pages = [names(apps(ranked, page=p, per_page=3)) for p in (1, 2, 3)]
    assert [n for page in pages for n in page] == all_names
    beyond = apps(ranked, page=9, per_page=3)
    assert beyond["items"] == [] and beyond["total"] == 8
    assert names(apps(ranked, sort="updated"))[0] == "unrelated"  # pushed last
    assert ranked.get("/api/v1/catalog/apps", params={"per_page": 0}).status_code == 400
    assert ranked.get("/api/v1/catalog/apps", params={"sort": "random"}).status_code == 400
    assert ranked.get("/api/v1/catalog/apps", params={"q": "x" * 201}).status_code == 400
    assert ranked.get("/api/v1/catalog/apps", params={"page": 0}).status_code == 400


def test_filters_categories_and_app_fields(client: Client, admin_token: str) -> None:
    make_project(client, admin_token, "ff")
    make_project(client, admin_token, "gg")
    push(client, admin_token, "ff", "kafka", annotations={
        "appmarket.io/category": "Big Data", "appmarket.io/architectures": "amd64,arm64",
        "appmarket.io/gpu": "none", "appmarket.io/suites": "bigdata"})
    push(client, admin_token, "ff", "vllm", version="0.2.0", annotations={
        "appmarket.io/category": "AI / ML", "appmarket.io/architectures": "amd64",
        "appmarket.io/gpu": "required", "appmarket.io/gpu-resource": "nvidia.com/gpu",
        "appmarket.io/gpu-count": "2"})
    push(client, admin_token, "ff", "vllm", version="0.3.0-rc.1")
    push(client, admin_token, "gg", "jupyter", annotations={"appmarket.io/category": "AI / ML",
                                                           "appmarket.io/gpu": "optional"})
    assert names(apps(client, category="ai / ml")) == ["jupyter", "vllm"]
    assert names(apps(client, arch="arm64")) == ["kafka"]
    assert names(apps(client, arch="amd")) == []  # whole items only
    assert names(apps(client, gpu="required")) == ["vllm"]
    assert names(apps(client, gpu="any")) == ["jupyter", "vllm"]
    assert names(apps(client, project="gg")) == ["jupyter"]
    assert names(apps(client, suite="bigdata")) == ["kafka"]
    vllm = apps(client, q="vllm")["items"][0]
    # A prerelease never hides the latest release.
    assert vllm["latest_version"] == "0.2.0" and vllm["versions"] == ["0.3.0-rc.1", "0.2.0"]
    assert vllm["gpu"] == {"mode": "required", "resource": "nvidia.com/gpu", "count": 2}
    assert vllm["project"] == "ff" and vllm["architectures"] == ["amd64"]
    cats = client.get("/api/v1/catalog/categories").json()
    assert cats == [{"name": "AI / ML", "count": 2}, {"name": "Big Data", "count": 1}]


def test_private_projects_are_invisible_to_anonymous(client: Client, admin_token: str) -> None:
    make_project(client, admin_token, "pub")
    make_project(client, admin_token, "priv", visibility="private")
    push(client, admin_token, "pub", "open-app", annotations={"appmarket.io/category": "Tools"})
    push(client, admin_token, "priv", "secret-app", annotations={"appmarket.io/category": "Secret"})
    assert names(apps(client)) == ["open-app"]
    assert names(apps(client, q="secret")) == []
    assert [c["name"] for c in client.get("/api/v1/catalog/categories").json()] == ["Tools"]
    assert client.get("/api/v1/catalog/apps/priv/secret-app").status_code == 401
    assert names(apps(client, admin_token)) == ["open-app", "secret-app"]
    # A member sees the private project; a signed-in stranger does not.
    for user in ("alice", "bob"):
        r = client.post("/api/v1/users", json={"username": user, "password": "pw-" + user * 3},
                        headers=bearer(admin_token))
        assert r.status_code == 201, r.text
    r = client.put("/api/v1/projects/priv/members", json={"username": "alice", "role": "viewer"},
                   headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    alice = client.get("/api/v1/catalog/apps", auth=("alice", "pw-" + "alice" * 3)).json()
    bob = client.get("/api/v1/catalog/apps", auth=("bob", "pw-" + "bob" * 3)).json()
    assert names(alice) == ["open-app", "secret-app"]
    assert names(bob) == ["open-app"]
    # A robot of the private project reads it; a push-only robot does not.
    for robot, actions in (("reader", ["pull"]), ("pusher", ["push"])):
        r = client.post("/api/v1/projects/priv/robots", json={"name": robot, "actions": actions},
                        headers=bearer(admin_token))
        assert r.status_code == 201, r.text
        assert names(apps(client, r.json()["token"])) == (
            ["open-app", "secret-app"] if robot == "reader" else ["open-app"])
    # Making the project public shows it to everyone.
    r = client.patch("/api/v1/projects/priv", json={"visibility": "public"}, headers=bearer(admin_token))
    assert r.status_code == 200
    assert names(apps(client)) == ["open-app", "secret-app"]


def test_push_appears_and_delete_disappears(client: Client, admin_token: str) -> None:
    make_project(client, admin_token, "live")
    push(client, admin_token, "live", "fresh", version="1.0.0")
    assert names(apps(client, q="fresh")) == ["fresh"]
    push(client, admin_token, "live", "fresh", version="1.1.0", description="newer")
    app = apps(client, q="fresh")["items"][0]
    assert app["latest_version"] == "1.1.0" and app["description"] == "newer"
    assert client.delete("/api/live/charts/fresh/1.1.0", headers=bearer(admin_token)).status_code == 200
    assert apps(client, q="fresh")["items"][0]["latest_version"] == "1.0.0"
    assert client.delete("/api/live/charts/fresh/1.0.0", headers=bearer(admin_token)).status_code == 200
    assert apps(client, q="fresh")["total"] == 0
    push(client, admin_token, "live", "again")
    assert client.delete("/api/v1/projects/live", headers=bearer(admin_token)).status_code == 204
    assert apps(client, admin_token)["total"] == 0


def test_suites_in_member_order(client: Client, admin_token: str) -> None:
    make_project(client, admin_token, "ss")
    for member in ("beta", "alpha"):
        push(client, admin_token, "ss", member, annotations={"appmarket.io/suites": "demo"})
    push(client, admin_token, "ss", "demo-suite", annotations={
        "appmarket.io/suite": "demo", "appmarket.io/suite-members": json.dumps(["beta", "alpha", "gamma"])})
    suites = client.get("/api/v1/catalog/suites").json()
    assert len(suites) == 1
    suite = suites[0]
    assert (suite["name"], suite["project"], suite["app"]["name"]) == ("demo", "ss", "demo-suite")
    assert [(m["name"], m["app"] and m["app"]["name"]) for m in suite["members"]] == [
        ("beta", "beta"), ("alpha", "alpha"), ("gamma", None)]
    assert names(apps(client, suite="demo")) == ["alpha", "beta", "demo-suite"]


def test_app_detail(client: Client, admin_token: str) -> None:
    make_project(client, admin_token, "dd")
    schema = {"type": "object", "properties": {"replicaCount": {"type": "integer", "description": "Pods"}}}
    chart_yaml = chart_yaml_text("web", "1.2.0", keywords=["web"], maintainers=[{"name": "Ops"}],
                                 kubeVersion=">=1.27.0-0",
                                 annotations={"appmarket.io/featured-parameters": '["replicaCount", "image.tag"]'})
    tgz = make_chart_tgz("web", "1.2.0", chart_yaml=chart_yaml, files={
        "README.md": "# Web\n<script>alert(1)</script>\n[x](javascript:alert(1))",
        "values.schema.json": json.dumps(schema)})
    assert client.post("/api/dd/charts", content=tgz, headers=bearer(admin_token)).status_code == 201
    push(client, admin_token, "dd", "web", version="1.0.0")
    r = client.get("/api/v1/catalog/apps/dd/web")
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["version"] == "1.2.0" and detail["app"]["versions"] == ["1.2.0", "1.0.0"]
    assert "<h1>Web</h1>" in detail["readme_html"]
    assert "<script" not in detail["readme_html"] and "href" not in detail["readme_html"]
    assert "replicaCount: 1" in detail["values_yaml"]
    assert detail["values_schema"] == schema
    assert detail["featured_parameters"] == [
        {"path": "replicaCount", "default": 1, "type": "integer", "title": None, "description": "Pods",
         "enum": None},
        {"path": "image.tag", "default": "1.25", "type": None, "title": None, "description": None, "enum": None}]
    assert detail["maintainers"] == [{"name": "Ops"}]
    assert detail["kube_version"] == ">=1.27.0-0"
    assert detail["images"] == []
    helm = detail["install"]["helm_repo"]
    assert helm[0].startswith("helm repo add dd http") and helm[0].endswith("/dd")
    assert helm[-1] == "helm install my-web dd/web --version 1.2.0"
    assert detail["install"]["oci"][0].startswith("helm install my-web oci://")
    old = client.get("/api/v1/catalog/apps/dd/web", params={"version": "1.0.0"}).json()
    assert old["version"] == "1.0.0" and old["readme_html"] == ""
    assert client.get("/api/v1/catalog/apps/dd/web", params={"version": "9.9.9"}).status_code == 404
    missing = client.get("/api/v1/catalog/apps/dd/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


@pytest.mark.slow
def test_oci_push_appears_and_oci_delete_disappears(live_server: LiveServer, tmp_path: Path) -> None:
    url, host, token = live_server.url, live_server.host_port, live_server.token
    auth = bearer(token)
    assert httpx.post(f"{url}/api/v1/projects", json={"name": "ocip", "visibility": "public"},
                      headers=auth).status_code == 201
    helm = Helm(tmp_path / "home")
    helm.run("registry", "login", host, "-u", "admin", "-p", token, "--plain-http")
    pkg = helm.package("ocichart", "0.3.0", tmp_path / "pkgs")
    helm.run("push", str(pkg), f"oci://{host}/ocip", "--plain-http")
    found = httpx.get(f"{url}/api/v1/catalog/apps", params={"q": "ocichart"}).json()
    assert [(a["project"], a["name"], a["latest_version"]) for a in found["items"]] == [("ocip", "ocichart", "0.3.0")]
    detail = httpx.get(f"{url}/api/v1/catalog/apps/ocip/ocichart").json()
    assert "helm install my-ocichart oci://" in detail["install"]["oci"][0]
    digest = httpx.head(f"{url}/v2/ocip/ocichart/manifests/0.3.0", headers=auth).headers["docker-content-digest"]
    assert httpx.delete(f"{url}/v2/ocip/ocichart/manifests/{digest}", headers=auth).status_code == 202
    assert httpx.get(f"{url}/api/v1/catalog/apps", params={"q": "ocichart"}).json()["total"] == 0


def test_concurrent_pushes_keep_the_app_row_whole(settings: Settings, admin_token: str) -> None:
    services = build_services(settings)
    admin = Principal(kind="user", name="admin", user_id=1, is_admin=True)
    try:
        services.projects.create(admin, ProjectCreate(name="race", visibility="public"))
        versions = [f"1.{i}.0" for i in range(8)]

        def one(version: str) -> None:
            services.charts.upload(admin, "race", io.BytesIO(make_chart_tgz("racer", version)))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, versions))
        page = services.catalog.search(ANONYMOUS, Query(q="racer"))
        assert [(a.latest_version, len(a.versions)) for a in page.items] == [("1.7.0", 8)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda v: services.charts.delete(admin, "race", "racer", v), versions[1:]))
        page = services.catalog.search(ANONYMOUS, Query(q="racer"))
        assert [(a.latest_version, a.versions) for a in page.items] == [("1.0.0", ["1.0.0"])]
    finally:
        services.close()


def test_rows_written_behind_the_hook_are_rederived(client: Client, admin_token: str, settings: Settings) -> None:
    """Charts recorded before the catalog existed (or by a writer without the hook) still show up."""
    make_project(client, admin_token, "legacy")
    push(client, admin_token, "legacy", "old-timer", description="from before the catalog")
    services = build_services(settings)
    try:
        with services.db.write() as s:
            s.connection().execute(delete(CatalogApp))
            s.connection().execute(delete(CatalogSync))
    finally:
        services.close()
    assert names(apps(client, q="old-timer")) == ["old-timer"]
    assert apps(client, q="before the catalog")["items"][0]["description"] == "from before the catalog"
