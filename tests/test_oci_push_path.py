"""The push path helm takes (manifest PUT by digest, then by tag) and its shortcuts keep both views right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from appmarket.app import create_app
from appmarket.repo.oci.manifest import HELM_CHART, HELM_CONFIG
from appmarket.settings import Settings
from tests.support.app import DRIVERS, driver_settings
from tests.support.charts import make_chart_tgz
from tests.support.oci import OCI_MANIFEST, basic, error_code, push_blob, sha

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture(params=DRIVERS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Both storage drivers (in-process clients stream downloads: no presigned redirects)."""
    return driver_settings(request, tmp_path, database_url, request.param, presign=False)


def _chart_manifest(client: Client, auth: dict[str, str], repo: str, tgz: bytes) -> bytes:
    config = json.dumps({"name": repo.rpartition("/")[2], "version": "1.0.0"}).encode()
    push_blob(client, auth, repo, config)
    push_blob(client, auth, repo, tgz)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": HELM_CONFIG, "digest": sha(config), "size": len(config)},
                       "layers": [{"mediaType": HELM_CHART, "digest": sha(tgz), "size": len(tgz)}]}).encode()


def _put(client: Client, auth: dict[str, str], ref: str, body: bytes) -> object:
    return client.put(f"/v2/team-a/web/manifests/{ref}", content=body,
                      headers={**auth, "Content-Type": OCI_MANIFEST})


def _index_etag(client: Client, auth: dict[str, str]) -> str:
    r = client.get("/team-a/index.yaml", headers=auth)
    assert r.status_code == 200
    return str(r.headers["etag"])


def test_tag_after_digest_put_records_the_chart_once(client: Client, admin_token: str) -> None:
    admin = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=admin).status_code == 201
    r = client.post("/api/v1/users", json={"username": "dev", "password": "dev-password-1"}, headers=admin)
    assert r.status_code == 201, r.text
    client.put("/api/v1/projects/team-a/members", json={"username": "dev", "role": "developer"}, headers=admin)
    dev = basic("dev", "dev-password-1")
    tgz = make_chart_tgz("web", "1.0.0")
    body = _chart_manifest(client, dev, "team-a/web", tgz)
    digest = sha(body)
    # helm pushes by digest (the chart is validated and recorded there), then tags that digest.
    assert _put(client, dev, digest, body).status_code == 201  # type: ignore[attr-defined]
    assert [v["version"] for v in client.get("/api/team-a/charts/web", headers=dev).json()] == ["1.0.0"]
    recorded = _index_etag(client, dev)
    r = _put(client, dev, "1.0.0", body)
    assert r.status_code == 201 and r.headers["docker-content-digest"] == digest  # type: ignore[attr-defined]
    assert client.get("/v2/team-a/web/tags/list", headers=dev).json()["tags"] == ["1.0.0"]
    assert client.get("/v2/team-a/web/manifests/1.0.0", headers=dev).headers["docker-content-digest"] == digest
    assert _index_etag(client, dev) == recorded  # tagging changed nothing in the chart view
    # The tag is still held to the chart's version, and re-tagging stays idempotent.
    r = _put(client, dev, "2.0.0", body)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"  # type: ignore[arg-type]
    assert _put(client, dev, "1.0.0", body).status_code == 201  # type: ignore[attr-defined]
    assert client.get("/v2/team-a/web/tags/list", headers=dev).json()["tags"] == ["1.0.0"]
    # Another pusher records the version afresh (who pushed it changes), through the full path.
    assert _put(client, admin, "1.0.0", body).status_code == 201  # type: ignore[attr-defined]
    assert _index_etag(client, dev) != recorded
    assert [v["version"] for v in client.get("/api/team-a/charts/web", headers=dev).json()] == ["1.0.0"]
    # Deleting the version through ChartMuseum drops the manifest; the same PUT records it again.
    assert client.delete("/api/team-a/charts/web/1.0.0", headers=admin).status_code == 200
    assert client.get("/v2/team-a/web/manifests/1.0.0", headers=dev).status_code == 404
    assert _put(client, dev, "1.0.0", body).status_code == 201  # type: ignore[attr-defined]
    assert [v["version"] for v in client.get("/api/team-a/charts/web", headers=dev).json()] == ["1.0.0"]
    assert client.get("/team-a/charts/web-1.0.0.tgz", headers=dev).content == tgz


def test_small_blob_put_closes_its_upload_session(client: Client, admin_token: str) -> None:
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    for data, digest, status in ((b"good", sha(b"good"), 201), (b"bad", sha(b"other"), 400)):
        r = client.post("/v2/team-a/app/blobs/uploads/", headers=auth)
        assert r.status_code == 202
        location = r.headers["location"]
        r = client.put(f"{location}?digest={digest}", content=data,
                       headers={**auth, "Content-Type": "application/octet-stream"})
        assert r.status_code == status, r.text
        r = client.get(location, headers=auth)
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    assert client.head(f"/v2/team-a/app/blobs/{sha(b'good')}", headers=auth).status_code == 200
    assert client.head(f"/v2/team-a/app/blobs/{sha(b'other')}", headers=auth).status_code == 404


def test_anonymous_writes_are_challenged_before_any_lookup(client: Client, admin_token: str) -> None:
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "pub", "visibility": "public"},
                       headers=auth).status_code == 201
    push_blob(client, auth, "pub/app", b"layer")
    # Anonymous callers may never write, so even an unknown project answers with the token challenge.
    for method, path, scope in (("POST", "/v2/pub/app/blobs/uploads/", "pull,push"),
                                ("POST", "/v2/nope/app/blobs/uploads/", "pull,push"),
                                ("DELETE", f"/v2/pub/app/blobs/{sha(b'layer')}", "delete")):
        r = client.request(method, path)
        assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"
        assert f'scope="repository:{path.split("/")[2]}/app:{scope}"' in r.headers["www-authenticate"]
    assert client.head(f"/v2/pub/app/blobs/{sha(b'layer')}").status_code == 200  # anonymous pull: unchanged


def _padded_manifest(config_digest: str, size: int) -> bytes:
    """An image manifest of exactly ``size`` bytes (padded through an annotation)."""
    def build(pad: int) -> bytes:
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest,
                                      "size": 2},
                           "layers": [], "annotations": {"pad": "x" * pad}}).encode()
    body = build(size - len(build(0)))
    assert len(body) == size
    return body


def test_configured_manifest_limit(settings: Settings, admin_token: str) -> None:
    limit = 3000
    small = msgspec.structs.replace(settings, oci=msgspec.structs.replace(settings.oci, max_manifest_bytes=limit))
    auth = basic("admin", admin_token)
    with TestClient(create_app(small)) as client:
        assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
        config = push_blob(client, auth, "team-a/app", b"{}")
        at, above = _padded_manifest(config, limit), _padded_manifest(config, limit + 1)
        for body, length in ((above, None), (above, "omitted")):  # declared, and streamed without a length
            content: Any = body if length is None else iter([body[:1000], body[1000:]])
            r = client.put("/v2/team-a/app/manifests/v1", content=content,
                           headers={**auth, "Content-Type": OCI_MANIFEST})
            assert r.status_code == 413 and error_code(r) == "SIZE_INVALID"
        assert client.get("/v2/team-a/app/manifests/v1", headers=auth).status_code == 404
        r = client.put("/v2/team-a/app/manifests/v1", content=at, headers={**auth, "Content-Type": OCI_MANIFEST})
        assert r.status_code == 201
        assert client.get("/v2/team-a/app/manifests/v1", headers=auth).content == at
