"""Charts over the OCI API (as helm pushes them), without the helm binary: validation and both views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from litestar.testing import TestClient

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
    config = b'{"name":"x"}'
    push_blob(client, auth, repo, config)
    push_blob(client, auth, repo, tgz)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": HELM_CONFIG, "digest": sha(config), "size": len(config)},
                       "layers": [{"mediaType": HELM_CHART, "digest": sha(tgz), "size": len(tgz)}]}).encode()


def _put(client: Client, auth: dict[str, str], repo: str, ref: str, body: bytes) -> object:
    return client.put(f"/v2/{repo}/manifests/{ref}", content=body, headers={**auth, "Content-Type": OCI_MANIFEST})


def test_oci_chart_push_rules(client: Client, admin_token: str) -> None:
    admin = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=admin).status_code == 201
    r = client.post("/api/v1/users", json={"username": "dev", "password": "dev-password-1"}, headers=admin)
    assert r.status_code == 201, r.text
    client.put("/api/v1/projects/team-a/members", json={"username": "dev", "role": "developer"}, headers=admin)
    dev = basic("dev", "dev-password-1")
    tgz = make_chart_tgz("web", "1.0.0+meta")
    body = _chart_manifest(client, dev, "team-a/web", tgz)
    # The tag must be the version with '+' as '_', and the repository must be named after the chart.
    r = _put(client, dev, "team-a/web", "1.0.0", body)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"  # type: ignore[arg-type]
    other = _chart_manifest(client, dev, "team-a/other", tgz)
    r = _put(client, dev, "team-a/other", "1.0.0_meta", other)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"  # type: ignore[arg-type]
    r = _put(client, dev, "team-a/web", "1.0.0_meta", body)
    assert r.status_code == 201  # type: ignore[attr-defined]
    versions = client.get("/api/team-a/charts/web", headers=dev).json()
    assert [v["version"] for v in versions] == ["1.0.0+meta"]
    assert "web" in client.get("/team-a/index.yaml", headers=dev).text
    assert client.get("/team-a/charts/web-1.0.0+meta.tgz", headers=dev).content == tgz
    # Pushing the same chart again is fine; different bytes under the same version need "overwrite".
    assert _put(client, dev, "team-a/web", "1.0.0_meta", body).status_code == 201  # type: ignore[attr-defined]
    changed = _chart_manifest(client, dev, "team-a/web", make_chart_tgz("web", "1.0.0+meta", description="v2"))
    r = _put(client, dev, "team-a/web", "1.0.0_meta", changed)
    assert r.status_code == 403 and error_code(r) == "DENIED"  # type: ignore[arg-type]
    assert _put(client, admin, "team-a/web", "1.0.0_meta", changed).status_code == 201  # type: ignore[attr-defined]
    # A broken chart layer is refused with the HTTP path's message, nothing recorded.
    broken = _chart_manifest(client, dev, "team-a/bad", make_chart_tgz("bad", "0.1.0", chart_yaml="name: [oops"))
    r = _put(client, dev, "team-a/bad", "0.1.0", broken)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"  # type: ignore[arg-type]
    assert client.get("/api/team-a/charts/bad", headers=dev).status_code == 404
    # Deleting the tag deletes the chart version (maintainer rights needed).
    assert client.delete("/v2/team-a/web/manifests/1.0.0_meta", headers=dev).status_code == 403
    assert client.delete("/v2/team-a/web/manifests/1.0.0_meta", headers=admin).status_code == 202
    assert client.get("/api/team-a/charts/web", headers=dev).status_code == 404


def test_chartmuseum_upload_has_an_oci_view(client: Client, admin_token: str) -> None:
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    tgz = make_chart_tgz("api", "2.0.0")
    assert client.post("/api/team-a/charts", content=tgz, headers=auth).status_code == 201
    r = client.get("/v2/team-a/api/manifests/2.0.0", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == OCI_MANIFEST
    manifest = r.json()
    assert manifest["config"]["mediaType"] == HELM_CONFIG and manifest["layers"][0]["digest"] == sha(tgz)
    config = client.get(f"/v2/team-a/api/blobs/{manifest['config']['digest']}", headers=auth).json()
    assert config["name"] == "api" and config["version"] == "2.0.0"
    assert client.get(f"/v2/team-a/api/blobs/{sha(tgz)}", headers=auth).content == tgz
    # Force-overwriting through ChartMuseum moves the tag to a new manifest.
    tgz2 = make_chart_tgz("api", "2.0.0", description="changed")
    assert client.post("/api/team-a/charts?force=true", content=tgz2, headers=auth).status_code == 201
    manifest = client.get("/v2/team-a/api/manifests/2.0.0", headers=auth).json()
    assert manifest["layers"][0]["digest"] == sha(tgz2)
    assert client.get("/v2/team-a/api/tags/list", headers=auth).json()["tags"] == ["2.0.0"]
    # Deleting the project removes its registry content too.
    assert client.delete("/api/v1/projects/team-a", headers=auth).status_code == 204
    assert client.get("/v2/team-a/api/manifests/2.0.0", headers=auth).status_code == 404


def test_provenance_in_both_views(client: Client, admin_token: str) -> None:
    import io  # noqa: PLC0415

    from appmarket.repo.chart_package import inspect_chart  # noqa: PLC0415
    from appmarket.repo.oci.manifest import HELM_PROV  # noqa: PLC0415
    from appmarket.settings import ChartLimits  # noqa: PLC0415
    from tests.support.charts import make_prov  # noqa: PLC0415

    def prov_for(tgz: bytes) -> bytes:
        pkg = inspect_chart(io.BytesIO(tgz), ChartLimits())
        return make_prov({"apiVersion": "v2", "name": pkg.metadata.name, "version": pkg.metadata.version},
                         {pkg.filename: pkg.digest})

    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    # ChartMuseum chart first, provenance later: the OCI view gains the provenance layer.
    tgz = make_chart_tgz("signed", "1.0.0")
    assert client.post("/api/team-a/charts", content=tgz, headers=auth).status_code == 201
    assert len(client.get("/v2/team-a/signed/manifests/1.0.0", headers=auth).json()["layers"]) == 1
    assert client.post("/api/team-a/prov", content=prov_for(tgz), headers=auth).status_code == 201
    layers = client.get("/v2/team-a/signed/manifests/1.0.0", headers=auth).json()["layers"]
    assert [x["mediaType"] for x in layers] == [HELM_CHART, HELM_PROV]
    assert client.get(f"/v2/team-a/signed/blobs/{layers[1]['digest']}", headers=auth).content == prov_for(tgz)
    # An OCI push with a provenance layer is checked like the HTTP path: it must name this package.
    tgz2 = make_chart_tgz("signed", "2.0.0")
    for prov, status in ((prov_for(make_chart_tgz("signed", "2.0.0", description="other")), 400),
                         (prov_for(tgz2), 201)):
        body = json.loads(_chart_manifest(client, auth, "team-a/signed", tgz2))
        push_blob(client, auth, "team-a/signed", prov)
        body["layers"].append({"mediaType": HELM_PROV, "digest": sha(prov), "size": len(prov)})
        r = _put(client, auth, "team-a/signed", "2.0.0", json.dumps(body).encode())
        assert r.status_code == status  # type: ignore[attr-defined]
    assert client.get("/team-a/charts/signed-2.0.0.tgz.prov", headers=auth).content == prov_for(tgz2)


def test_chartmuseum_version_with_plus_is_pulled_by_its_underscore_tag(client: Client, admin_token: str) -> None:
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    tgz = make_chart_tgz("api", "1.2.3+build.5")
    assert client.post("/api/team-a/charts", content=tgz, headers=auth).status_code == 201
    assert client.get("/v2/team-a/api/tags/list", headers=auth).json()["tags"] == ["1.2.3_build.5"]
    r = client.get("/v2/team-a/api/manifests/1.2.3_build.5", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == OCI_MANIFEST
    manifest = r.json()
    assert manifest["annotations"]["org.opencontainers.image.version"] == "1.2.3+build.5"
    assert [x["digest"] for x in manifest["layers"]] == [sha(tgz)]
    config = client.get(f"/v2/team-a/api/blobs/{manifest['config']['digest']}", headers=auth).json()
    assert config["version"] == "1.2.3+build.5"  # the chart keeps its version; only the tag maps '+'
    assert client.get(f"/v2/team-a/api/blobs/{sha(tgz)}", headers=auth).content == tgz


def test_chart_download_etag_is_the_digest(client: Client, admin_token: str) -> None:
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    tgz = make_chart_tgz("api", "2.0.0")
    assert client.post("/api/team-a/charts", content=tgz, headers=auth).status_code == 201
    r = client.get("/team-a/charts/api-2.0.0.tgz", headers=auth)
    assert r.status_code == 200 and r.content == tgz
    assert r.headers["etag"] == f'"{sha(tgz)}"' and r.headers["docker-content-digest"] == sha(tgz)
    r = client.get("/team-a/charts/api-2.0.0.tgz", headers={**auth, "If-None-Match": f'"{sha(tgz)}"'})
    assert r.status_code == 304 and r.content == b""
    r = client.get("/team-a/charts/api-2.0.0.tgz", headers={**auth, "If-None-Match": f'"{sha(b"old")}"'})
    assert r.status_code == 200 and r.content == tgz
    # Conditional or not, a private chart needs credentials first.
    assert client.get("/team-a/charts/api-2.0.0.tgz", headers={"If-None-Match": "*"}).status_code == 401
