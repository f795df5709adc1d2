"""The management API's view of the registry: repositories, tags, digests, sizes and platforms."""

from __future__ import annotations

import json
import os

from litestar.testing import TestClient

from tests.support.charts import make_chart_tgz
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, basic, push_image, sha

Client = TestClient  # type: ignore[type-arg]
IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"


def _multi_arch(c: Client, auth: dict[str, str], repo: str, tag: str) -> tuple[bytes, dict[str, tuple[str, int]]]:
    """An index of linux/amd64 and linux/arm64/v8 images; returns it and each platform's image (digest, size)."""
    children, images = [], {}
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        config = json.dumps({"architecture": arch, "os": "linux", **({"variant": variant} if variant else {}),
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer = os.urandom(1000)
        digest, body = push_image(c, auth, repo, f"only-{arch}", config, [layer], config_type=IMAGE_CONFIG)
        platform = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
        children.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body), "platform": platform})
        images[arch] = (digest, len(body) + len(config) + len(layer))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    r = c.put(f"/v2/{repo}/manifests/{tag}", content=index, headers={**auth, "Content-Type": OCI_INDEX})
    assert r.status_code == 201, r.text
    return index, images


def test_repositories_and_tags_with_platforms(client: Client, admin_token: str) -> None:
    admin = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=admin).status_code == 201
    index, images = _multi_arch(client, admin, "team-a/tools/nginx", "1.27")
    chart_tgz = make_chart_tgz("web", "1.0.0+b1")
    assert client.post("/api/team-a/charts", content=chart_tgz, headers=admin).status_code == 201
    r = client.get("/api/v1/projects/team-a/repositories", headers=admin)
    assert r.status_code == 200
    assert r.json() == [{"repository": "team-a/tools/nginx", "name": "tools/nginx", "tags": 3, "untagged": 0},
                        {"repository": "team-a/web", "name": "web", "tags": 1, "untagged": 0}]
    r = client.get("/api/v1/projects/team-a/repositories/tools/nginx/tags", headers=admin)
    assert r.status_code == 200
    tags = {t["tag"]: t for t in r.json()}
    assert set(tags) == {"1.27", "only-amd64", "only-arm64"}
    multi = tags["1.27"]
    assert multi["digest"] == sha(index) and multi["media_type"] == OCI_INDEX and multi["kind"] == "index"
    assert multi["size"] == len(index)
    assert multi["total_size"] == len(index) + sum(size for _, size in images.values())
    amd64, arm64 = {"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64", "variant": "v8"}
    assert multi["platforms"] == [amd64, arm64]
    assert multi["images"] == [{"digest": images["amd64"][0], "platforms": [amd64], "size": images["amd64"][1]},
                               {"digest": images["arm64"][0], "platforms": [arm64], "size": images["arm64"][1]}]
    single = tags["only-arm64"]
    assert single["kind"] == "image" and single["media_type"] == OCI_MANIFEST
    assert single["platforms"] == [arm64] and single["images"] == []
    chart = client.get("/api/v1/projects/team-a/repositories/web/tags", headers=admin).json()
    assert [(t["tag"], t["kind"], t["platforms"]) for t in chart] == [("1.0.0_b1", "helm chart", [])]


def test_repository_api_permissions_and_errors(client: Client, admin_token: str) -> None:
    admin = basic("admin", admin_token)
    for body in ({"name": "team-a"}, {"name": "pub", "visibility": "public"}):
        assert client.post("/api/v1/projects", json=body, headers=admin).status_code == 201
    assert client.post("/api/v1/users", json={"username": "eve", "password": "eve-password-1"},
                       headers=admin).status_code == 201
    push_image(client, admin, "team-a/secret", "v1", b"{}", [b"private layer"])
    push_image(client, admin, "pub/app", "v1", b"{}", [b"public layer"])
    # Private: anonymous callers are asked to authenticate, signed-in outsiders refused, as for pulls.
    for path in ("/api/v1/projects/team-a/repositories", "/api/v1/projects/team-a/repositories/secret/tags"):
        r = client.get(path)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 401 and "www-authenticate" in r.headers
        r = client.get(path, headers=basic("eve", "eve-password-1"))
        assert r.status_code == 403 and r.json()["status"] == 403
    assert client.get("/v2/team-a/secret/manifests/v1", headers=basic("eve", "eve-password-1")).status_code == 403
    # Public: anyone may read, as anyone may pull.
    r = client.get("/api/v1/projects/pub/repositories/app/tags")
    assert r.status_code == 200 and [t["tag"] for t in r.json()] == ["v1"]
    assert client.get("/api/v1/projects/pub/repositories").json()[0]["repository"] == "pub/app"
    # Unknown project, repository or endpoint: problem+json 404.
    for path in ("/api/v1/projects/nope/repositories", "/api/v1/projects/pub/repositories/none/tags",
                 "/api/v1/projects/pub/repositories/app/manifests", "/api/v1/projects/pub/repositories/tags"):
        r = client.get(path, headers=admin)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", path
