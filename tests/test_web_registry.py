"""The repository page's OCI section: a multi-arch index with both platforms, kinds, digests and sizes,
copy-paste commands, the empty state, and the same read permission as the registry."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import TestClient
from playwright.sync_api import Page, expect

from appmarket.repo.oci import listing
from tests.support.app import LiveServer
from tests.support.browser import screenshot
from tests.support.charts import make_chart_tgz
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, basic, image_manifest, push_blob, push_image, sha

IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"


def _push_multi_arch(client: Any, auth: dict[str, str], repo: str, tag: str) -> dict[str, Any]:
    """Two untagged platform images and a tagged index over them; returns the sizes the page must add up."""
    children, total = [], 0
    for arch, layer_size in (("amd64", 3000), ("arm64", 2000)):
        config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
        layer = os.urandom(layer_size)
        for blob in (config.encode(), layer):
            push_blob(client, auth, repo, blob)
        body = image_manifest(config.encode(), [layer], config_type=IMAGE_CONFIG)
        r = client.put(f"/v2/{repo}/manifests/{sha(body)}", content=body,
                       headers={**auth, "Content-Type": OCI_MANIFEST})
        assert r.status_code == 201, r.text
        children.append({"mediaType": OCI_MANIFEST, "digest": sha(body), "size": len(body),
                         "platform": {"os": "linux", "architecture": arch}})
        total += len(body) + len(config) + layer_size
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    r = client.put(f"/v2/{repo}/manifests/{tag}", content=index, headers={**auth, "Content-Type": OCI_INDEX})
    assert r.status_code == 201, r.text
    return {"digest": sha(index), "total": total + len(index), "children": children}


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_repository_page_lists_images_indexes_charts_and_artifacts(client: TestClient[Any], admin_token: str) -> None:
    h = {"Authorization": f"Bearer {admin_token}"}
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team", "visibility": "public"}, headers=h).status_code == 201
    empty = client.get("/ui/repositories/team")
    assert "No images yet" in empty.text
    assert "docker push testserver.local/team/IMAGE:TAG" in empty.text

    pushed = _push_multi_arch(client, auth, "team/tools/app", "1.0")
    push_image(client, auth, "team/notes", "v1", b"{}", [b"note"], artifact_type="application/x-notes")
    assert client.post("/api/team/charts", content=make_chart_tgz(name="web", version="0.2.0"),
                       headers=h).status_code == 201

    services = client.app.state.services
    views = {r.repository: r for r in listing.repositories(services.db, services.auth,
                                                           services.auth.login("admin", admin_token), "team")}
    app = views["team/tools/app"]
    assert app.name == "tools/app"
    assert [(t.tag, t.kind, t.platforms, t.size) for t in app.tags] == [
        ("1.0", "index", ["linux/amd64", "linux/arm64"], pushed["total"])]
    assert [i.platform for i in app.tags[0].images] == ["linux/amd64", "linux/arm64"]
    assert app.untagged == 0  # the platform images belong to the tagged index
    assert views["team/notes"].tags[0].kind == "artifact"
    assert views["team/web"].tags[0].kind == "helm chart"

    assert '<a href="/ui/repositories/team#oci">3</a>' in client.get("/ui/repositories").text
    page = client.get("/ui/repositories/team").text
    section = page[page.index('data-repository="team/tools/app"'):page.index('data-repository="team/web"')]
    assert 'data-tag="1.0"' in section
    assert "linux/amd64" in section
    assert "linux/arm64" in section
    assert pushed["digest"][:19] in section
    assert pushed["children"][1]["digest"][:19] in section
    assert "docker pull testserver.local/team/tools/app:1.0" in section
    assert ">index<" in section
    assert "KiB" in section  # sizes are shown human-readable
    chart = page[page.index('data-repository="team/web"'):]
    assert "helm install my-web oci://testserver.local/team/web --version 0.2.0 --plain-http" in chart
    assert "helm repo add team http://testserver.local/team" in page
    assert "helm push mychart-0.1.0.tgz oci://testserver.local/team --plain-http" in page
    assert ">artifact<" in page


def test_private_images_follow_registry_permissions(client: TestClient[Any], admin_token: str) -> None:
    h = {"Authorization": f"Bearer {admin_token}"}
    client.post("/api/v1/projects", json={"name": "hidden", "visibility": "private"}, headers=h)
    _push_multi_arch(client, basic("admin", admin_token), "hidden/app", "1.0")
    anonymous = client.get("/ui/repositories/hidden", follow_redirects=False)
    assert anonymous.status_code in (303, 404)
    client.post("/api/v1/users", json={"username": "viewer", "password": "viewer-pass"}, headers=h)
    client.post("/login", data={"username": "viewer", "password": "viewer-pass",
                                "csrf_token": _csrf(client.get("/login").text)})
    refused = client.get("/ui/repositories/hidden")
    assert refused.status_code in (403, 404)
    assert "linux/arm64" not in refused.text


def test_multi_arch_index_in_the_browser(live_server: LiveServer, page: Page, tmp_path: Path) -> None:
    base, token = live_server.url, live_server.token
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.post("/api/v1/projects", json={"name": "images", "visibility": "public"},
                         headers={"Authorization": f"Bearer {token}"}).status_code == 201
        _push_multi_arch(http, basic("admin", token), "images/busybox", "1.36")
    page.goto(base + "/ui/repositories/images")
    repo = page.locator('[data-repository="images/busybox"]')
    expect(repo.locator('tr[data-tag="1.36"]')).to_contain_text("index")
    expect(repo.locator('tr[data-tag="1.36"]')).to_contain_text("linux/amd64")
    expect(repo.locator('tr[data-tag="1.36"]')).to_contain_text("linux/arm64")
    expect(repo.locator("tr.images li")).to_have_count(2)
    expect(repo.locator(".cmd")).to_contain_text(f"docker pull {live_server.host_port}/images/busybox:1.36")
    expect(page.locator("button.copy").first).to_be_visible()  # progressive enhancement: copy buttons
    screenshot(page, "repository-images")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(repo.locator('tr[data-tag="1.36"]')).to_contain_text("linux/arm64")
    screenshot(page, "repository-images-phone")
