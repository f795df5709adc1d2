"""The OCI distribution-spec workflows, check by check: pull, push, content discovery, content management.

Written from the specification (opencontainers/distribution-spec ``spec.md`` and its conformance
suite); every check runs on the filesystem and on S3 (moto), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from appmarket.app import create_app
from appmarket.services import bootstrap
from appmarket.settings import Settings, load_settings
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, basic, error_code, image_manifest, push_blob, push_image, sha

Client = TestClient  # type: ignore[type-arg]
REPO = "team-a/app"


@pytest.fixture(params=["filesystem", "s3"])
def oci_settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    extra: dict[str, Any] = {}
    if request.param == "s3":
        s3 = request.getfixturevalue("s3_settings")
        extra["storage"] = {**msgspec.to_builtins(s3), "presign_downloads": False}
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), database_url=database_url,
                         publish_catalog=False, oci={"gc_grace_seconds": 0, "max_manifest_bytes": 4 * 1024 * 1024},
                         **extra)


@pytest.fixture
def reg(oci_settings: Settings) -> Iterator[tuple[Client, dict[str, str]]]:
    token = bootstrap(oci_settings)
    assert token is not None
    auth = basic("admin", token)
    with TestClient(create_app(oci_settings)) as c:
        for name in ("team-a", "team-b"):
            assert c.post("/api/v1/projects", json={"name": name}, headers=auth).status_code == 201
        yield c, auth


def test_pull_workflow(reg: tuple[Client, dict[str, str]]) -> None:
    c, auth = reg
    layer = os.urandom(3000)
    digest, body = push_image(c, auth, REPO, "v1", b"{}", [layer])
    for ref in ("v1", digest):
        r = c.get(f"/v2/{REPO}/manifests/{ref}", headers=auth)
        assert r.status_code == 200 and r.content == body
        assert r.headers["content-type"] == OCI_MANIFEST and r.headers["docker-content-digest"] == digest
        h = c.head(f"/v2/{REPO}/manifests/{ref}", headers=auth)
        assert h.status_code == 200 and h.headers["content-length"] == str(len(body))
    missing = c.get(f"/v2/{REPO}/manifests/nope", headers=auth)
    assert missing.status_code == 404 and error_code(missing) == "MANIFEST_UNKNOWN"
    r = c.get(f"/v2/{REPO}/blobs/{sha(layer)}", headers=auth)
    assert r.status_code == 200 and r.content == layer and r.headers["docker-content-digest"] == sha(layer)
    # Streamed downloads carry the digest as ETag; a client holding the bytes gets 304 without them.
    assert r.headers["etag"] == f'"{sha(layer)}"'
    for held in (f'"{sha(layer)}"', f'W/"{sha(b"x")}", "{sha(layer)}"', "*"):
        r = c.get(f"/v2/{REPO}/blobs/{sha(layer)}", headers={**auth, "If-None-Match": held})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == f'"{sha(layer)}"', held
    r = c.get(f"/v2/{REPO}/blobs/{sha(layer)}", headers={**auth, "If-None-Match": f'"{sha(b"x")}"'})
    assert r.status_code == 200 and r.content == layer
    r = c.get(f"/v2/{REPO}/manifests/v1", headers={**auth, "If-None-Match": f'"{digest}"'})
    assert r.status_code == 304 and r.headers["docker-content-digest"] == digest
    h = c.head(f"/v2/{REPO}/blobs/{sha(layer)}", headers=auth)
    assert h.status_code == 200 and h.headers["content-length"] == str(len(layer))
    r = c.get(f"/v2/{REPO}/blobs/{sha(b'nothing')}", headers=auth)
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    # Range requests: 206 with Content-Range; unsatisfiable ranges are 416.
    r = c.get(f"/v2/{REPO}/blobs/{sha(layer)}", headers={**auth, "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == layer[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(layer)}"
    r = c.get(f"/v2/{REPO}/blobs/{sha(layer)}", headers={**auth, "Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == layer[-5:]
    r = c.get(f"/v2/{REPO}/blobs/{sha(layer)}", headers={**auth, "Range": f"bytes={len(layer)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(layer)}"
    assert error_code(r) == "RANGE_INVALID"
    # A Range the registry does not understand is ignored (RFC 9110 14.2): the whole blob, 200.
    for ignored in ("bytes=20-10", "bytes=0-1,5-6", "items=0-5", "bytes=abc"):
        r = c.get(f"/v2/{REPO}/blobs/{sha(layer)}", headers={**auth, "Range": ignored})
        assert r.status_code == 200 and r.content == layer and "content-range" not in r.headers, ignored
    # A blob pushed to another repository is not visible here.
    assert c.get(f"/v2/team-a/other/blobs/{sha(layer)}", headers=auth).status_code == 404


def test_push_workflow(reg: tuple[Client, dict[str, str]]) -> None:
    c, auth = reg
    # POST then PUT (monolithic in two requests).
    data = os.urandom(5000)
    r = c.post(f"/v2/{REPO}/blobs/uploads/", headers=auth)
    assert r.status_code == 202 and r.headers["location"].startswith(f"/v2/{REPO}/blobs/uploads/")
    r = c.put(f"{r.headers['location']}?digest={sha(data)}", content=data,
              headers={**auth, "Content-Type": "application/octet-stream"})
    assert r.status_code == 201 and r.headers["location"] == f"/v2/{REPO}/blobs/{sha(data)}"
    # Chunked: PATCH with Content-Range, status GET, final PUT without body.
    data = os.urandom(7 * 1024 * 1024)  # crosses an S3 part
    r = c.post(f"/v2/{REPO}/blobs/uploads/", headers=auth)
    loc = r.headers["location"]
    half = len(data) // 2
    r = c.patch(loc, content=data[:half], headers={**auth, "Content-Range": f"0-{half - 1}",
                                                   "Content-Type": "application/octet-stream"})
    assert r.status_code == 202 and r.headers["range"] == f"0-{half - 1}"
    loc = r.headers["location"]
    s = c.get(loc, headers=auth)
    assert s.status_code == 204 and s.headers["range"] == f"0-{half - 1}"
    bad = c.patch(loc, content=data[half + 10:], headers={**auth, "Content-Range": f"{half + 10}-{len(data) - 1}"})
    assert bad.status_code == 416 and bad.headers["range"] == f"0-{half - 1}"
    r = c.patch(loc, content=data[half:], headers={**auth, "Content-Range": f"{half}-{len(data) - 1}"})
    assert r.status_code == 202
    r = c.put(f"{r.headers['location']}?digest={sha(data)}", headers={**auth, "Content-Length": "0"})
    assert r.status_code == 201, r.text
    assert c.get(f"/v2/{REPO}/blobs/{sha(data)}", headers=auth).content == data
    # An empty blob is a blob like any other.
    r = c.post(f"/v2/{REPO}/blobs/uploads/?digest={sha(b'')}", content=b"", headers=auth)
    assert r.status_code == 201
    r = c.get(f"/v2/{REPO}/blobs/{sha(b'')}", headers=auth)
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "0"
    # Mount without "from" falls back to a normal upload session (202).
    r = c.post(f"/v2/{REPO}/blobs/uploads/?mount={sha(b'')}", headers=auth)
    assert r.status_code == 202
    # sha512 digests are accepted: monolithic, chunked (verified by re-reading: the running hash is sha256).
    small = b"sha512 content"
    r = c.post(f"/v2/{REPO}/blobs/uploads/?digest={sha(small, 'sha512')}", content=small, headers=auth)
    assert r.status_code == 201
    assert c.get(f"/v2/{REPO}/blobs/{sha(small, 'sha512')}", headers=auth).content == small
    chunked = os.urandom(200_000)
    loc = c.post(f"/v2/{REPO}/blobs/uploads/", headers=auth).headers["location"]
    for start, end in ((0, 99_999), (100_000, len(chunked) - 1)):
        r = c.patch(loc, content=chunked[start:end + 1], headers={**auth, "Content-Range": f"{start}-{end}"})
        assert r.status_code == 202
        loc = r.headers["location"]
    r = c.put(f"{loc}?digest={sha(chunked, 'sha512')}", headers={**auth, "Content-Length": "0"})
    assert r.status_code == 201 and r.headers["docker-content-digest"] == sha(chunked, "sha512")
    assert c.get(f"/v2/{REPO}/blobs/{sha(chunked, 'sha512')}", headers=auth).content == chunked
    # A manifest put and fetched by its sha512 digest; it references the sha512 blob.
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": push_blob(
                               c, auth, REPO, b"{}"), "size": 2},
                           "layers": [{"mediaType": "application/octet-stream", "digest": sha(chunked, "sha512"),
                                       "size": len(chunked)}]}).encode()
    by512 = sha(manifest, "sha512")
    r = c.put(f"/v2/{REPO}/manifests/{by512}", content=manifest, headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 201 and r.headers["docker-content-digest"] == by512
    r = c.get(f"/v2/{REPO}/manifests/{by512}", headers=auth)
    assert r.status_code == 200 and r.content == manifest and r.headers["docker-content-digest"] == by512
    # Manifest by digest, with ?tag= additions, and a subject.
    config, layer = b"{}", b"layer"
    digest, body = push_image(c, auth, REPO, "v1", config, [layer])
    referrer = image_manifest(config, [layer], subject={"mediaType": OCI_MANIFEST, "digest": digest,
                                                       "size": len(body)}, artifact_type="application/x-sig")
    r = c.put(f"/v2/{REPO}/manifests/{sha(referrer)}?tag=sig1&tag=sig2", content=referrer,
              headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 201 and r.headers["oci-subject"] == digest
    assert c.get(f"/v2/{REPO}/manifests/sig2", headers=auth).content == referrer


def test_push_refusals(reg: tuple[Client, dict[str, str]]) -> None:
    c, auth = reg
    data = b"some bytes"
    # Digest mismatch: 400 DIGEST_INVALID and nothing stored.
    wrong = sha(b"other bytes")
    r = c.post(f"/v2/{REPO}/blobs/uploads/?digest={wrong}", content=data, headers=auth)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    assert c.head(f"/v2/{REPO}/blobs/{wrong}", headers=auth).status_code == 404
    assert c.head(f"/v2/{REPO}/blobs/{sha(data)}", headers=auth).status_code == 404
    for bad in ("sha256:abc", "md5:" + "0" * 32, "sha256:" + "G" * 64):
        r = c.post(f"/v2/{REPO}/blobs/uploads/?digest={bad}", content=data, headers=auth)
        assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID", bad
    # Bad names.
    for name in ("Team-A/app", "team-a/App", "team-a/-x", "team-a/x__-y", "justone"):
        r = c.post(f"/v2/{name}/blobs/uploads/", headers=auth)
        assert r.status_code in (400, 404) and error_code(r) in ("NAME_INVALID", "NAME_UNKNOWN"), name
    assert error_code(c.post("/v2/team-a/App/blobs/uploads/", headers=auth)) == "NAME_INVALID"
    r = c.post("/v2/no-such-project/app/blobs/uploads/", headers=auth)
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"
    # Manifests: unknown blob, invalid JSON, oversize, bad tag, digest mismatch.
    r = c.put(f"/v2/{REPO}/manifests/v1", content=image_manifest(b"{}", [b"never pushed"]),
              headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 404 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    r = c.put(f"/v2/{REPO}/manifests/v1", content=b"{not json", headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"
    push_blob(c, auth, REPO, b"{}")
    big = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(b"{}"), "size": 2},
                      "layers": [], "annotations": {"pad": "x" * (4 * 1024 * 1024)}}).encode()
    r = c.put(f"/v2/{REPO}/manifests/big", content=big, headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 413 and error_code(r) == "SIZE_INVALID"
    fits = big.replace(b"x" * 1024, b"", 1)  # just under 4 MiB: accepted, stored and served as given
    assert len(fits) <= 4 * 1024 * 1024
    r = c.put(f"/v2/{REPO}/manifests/big", content=fits, headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 201
    assert c.get(f"/v2/{REPO}/manifests/big", headers=auth).content == fits
    ok = image_manifest(b"{}", [])
    for tag in ("-lead", ".dot", "a" * 129, "sp ace", "plus+sign"):
        r = c.put(f"/v2/{REPO}/manifests/{tag}", content=ok, headers={**auth, "Content-Type": OCI_MANIFEST})
        assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", tag
    r = c.put(f"/v2/{REPO}/manifests/{sha(ok)}?tag=-bad", content=ok, headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"
    assert c.get(f"/v2/{REPO}/tags/list", headers=auth).json()["tags"] == ["big"]  # nothing was tagged
    r = c.put(f"/v2/{REPO}/manifests/{sha(b'x')}", content=ok, headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    # Unknown upload sessions.
    r = c.patch(f"/v2/{REPO}/blobs/uploads/doesnotexist123", content=b"x", headers=auth)
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_cancel_and_mount(reg: tuple[Client, dict[str, str]]) -> None:
    c, auth = reg
    r = c.post(f"/v2/{REPO}/blobs/uploads/", headers=auth)
    loc = r.headers["location"]
    c.patch(loc, content=b"partial", headers=auth)
    assert c.delete(loc, headers=auth).status_code == 204
    r = c.get(loc, headers=auth)
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    data = os.urandom(100)
    push_blob(c, auth, REPO, data)
    r = c.post(f"/v2/team-b/copy/blobs/uploads/?mount={sha(data)}&from={REPO}", headers=auth)
    assert r.status_code == 201 and r.headers["location"] == f"/v2/team-b/copy/blobs/{sha(data)}"
    assert c.get(f"/v2/team-b/copy/blobs/{sha(data)}", headers=auth).content == data
    r = c.post(f"/v2/team-b/copy/blobs/uploads/?mount={sha(b'unknown')}&from={REPO}", headers=auth)
    assert r.status_code == 202 and "/blobs/uploads/" in r.headers["location"]


def test_content_discovery(reg: tuple[Client, dict[str, str]]) -> None:
    c, auth = reg
    digest, body = push_image(c, auth, REPO, "a", b"{}", [b"l1"])
    for tag in ("b", "c", "d"):
        r = c.put(f"/v2/{REPO}/manifests/{tag}", content=body, headers={**auth, "Content-Type": OCI_MANIFEST})
        assert r.status_code == 201
    r = c.get(f"/v2/{REPO}/tags/list", headers=auth)
    assert r.json() == {"name": REPO, "tags": ["a", "b", "c", "d"]}
    r = c.get(f"/v2/{REPO}/tags/list?n=2", headers=auth)
    assert r.json()["tags"] == ["a", "b"] and r.headers["link"] == f'</v2/{REPO}/tags/list?n=2&last=b>; rel="next"'
    r = c.get(f"/v2/{REPO}/tags/list?n=2&last=b", headers=auth)
    assert r.json()["tags"] == ["c", "d"] and "link" not in r.headers  # the last page: nothing follows
    r = c.get(f"/v2/{REPO}/tags/list?n=4", headers=auth)
    assert r.json()["tags"] == ["a", "b", "c", "d"] and "link" not in r.headers
    r = c.get(f"/v2/{REPO}/tags/list?n=3&last=a", headers=auth)
    assert r.json()["tags"] == ["b", "c", "d"] and "link" not in r.headers
    assert c.get(f"/v2/{REPO}/tags/list?n=0", headers=auth).json()["tags"] == []
    for bad in ("abc", "-1", "1.5", "\u00b2", "9" * 40):
        for path in (f"/v2/{REPO}/tags/list", "/v2/_catalog"):
            r = c.get(path, params={"n": bad}, headers=auth)
            assert r.status_code == 400 and error_code(r) == "PAGINATION_NUMBER_INVALID", (path, bad)
    r = c.get("/v2/team-a/unknown/tags/list", headers=auth)
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
    sig, _ = push_image(c, auth, REPO, "sig", b"{}", [b"s"], subject=subject, artifact_type="application/x-sig")
    sbom, _ = push_image(c, auth, REPO, "sbom", b"{}", [b"b"], subject=subject, artifact_type="application/x-sbom")
    r = c.get(f"/v2/{REPO}/referrers/{digest}", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == OCI_INDEX
    found = {m["digest"]: m["artifactType"] for m in r.json()["manifests"]}
    assert found == {sig: "application/x-sig", sbom: "application/x-sbom"}
    r = c.get(f"/v2/{REPO}/referrers/{digest}?artifactType=application/x-sbom", headers=auth)
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom]
    assert r.headers["oci-filters-applied"] == "artifactType"
    r = c.get(f"/v2/{REPO}/referrers/{sha(b'none')}", headers=auth)
    assert r.status_code == 200 and r.json()["manifests"] == []
    push_image(c, auth, "team-b/other", "x", b"{}", [b"l1"])
    push_image(c, auth, "team-b/zeta", "x", b"{}", [b"l1"])
    assert c.get("/v2/_catalog", headers=auth).json()["repositories"] == [REPO, "team-b/other", "team-b/zeta"]
    r = c.get("/v2/_catalog?n=1", headers=auth)
    assert r.json()["repositories"] == [REPO]
    assert r.headers["link"] == '</v2/_catalog?n=1&last=team-a%2Fapp>; rel="next"'
    r = c.get("/v2/_catalog", params={"n": "1", "last": REPO}, headers=auth)  # following the Link
    assert r.json()["repositories"] == ["team-b/other"] and "last=team-b%2Fother" in r.headers["link"]
    r = c.get("/v2/_catalog", params={"n": "5", "last": "team-b/other"}, headers=auth)
    assert r.json()["repositories"] == ["team-b/zeta"] and "link" not in r.headers
    r = c.get("/v2/_catalog", params={"n": "2", "last": REPO}, headers=auth)
    assert r.json()["repositories"] == ["team-b/other", "team-b/zeta"] and "link" not in r.headers


def test_content_management(reg: tuple[Client, dict[str, str]]) -> None:
    c, auth = reg
    digest, body = push_image(c, auth, REPO, "v1", b"{}", [b"layer-1"])
    c.put(f"/v2/{REPO}/manifests/v2", content=body, headers={**auth, "Content-Type": OCI_MANIFEST})
    assert c.delete(f"/v2/{REPO}/manifests/v2", headers=auth).status_code == 202
    assert c.get(f"/v2/{REPO}/manifests/v2", headers=auth).status_code == 404
    assert c.get(f"/v2/{REPO}/manifests/v1", headers=auth).status_code == 200
    assert c.delete(f"/v2/{REPO}/manifests/{digest}", headers=auth).status_code == 202
    for ref in ("v1", digest):
        r = c.get(f"/v2/{REPO}/manifests/{ref}", headers=auth)
        assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    r = c.delete(f"/v2/{REPO}/manifests/{digest}", headers=auth)
    assert r.status_code == 404
    assert c.delete(f"/v2/{REPO}/blobs/{sha(b'layer-1')}", headers=auth).status_code == 202
    assert c.get(f"/v2/{REPO}/blobs/{sha(b'layer-1')}", headers=auth).status_code == 404
    assert c.delete(f"/v2/{REPO}/blobs/{sha(b'layer-1')}", headers=auth).status_code == 404


def test_multi_arch_index_records_platforms(reg: tuple[Client, dict[str, str]]) -> None:
    c, auth = reg
    children = []
    for arch in ("amd64", "arm64"):
        config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
        d, body = push_image(c, auth, REPO, f"img-{arch}", config.encode(), [os.urandom(64)],
                             config_type="application/vnd.oci.image.config.v1+json")
        children.append({"mediaType": OCI_MANIFEST, "digest": d, "size": len(body),
                         "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    r = c.put(f"/v2/{REPO}/manifests/multi", content=index, headers={**auth, "Content-Type": OCI_INDEX})
    assert r.status_code == 201, r.text
    r = c.get(f"/v2/{REPO}/manifests/multi", headers=auth)
    assert r.content == index and r.headers["content-type"] == OCI_INDEX
    services = c.app.state.services
    from sqlmodel import select  # noqa: PLC0415

    from appmarket.db.models import OciManifest  # noqa: PLC0415
    with services.db.read() as s:
        rows = {m.digest: m.platforms for m in s.exec(select(OciManifest)).all()}
    assert rows[sha(index)] == ["linux/amd64", "linux/arm64"]
    assert rows[children[1]["digest"]] == ["linux/arm64"]
    assert services.registry.manifests.platforms_of(REPO, "multi") == ["linux/amd64", "linux/arm64"]
    # An index naming a manifest this repository does not have is refused.
    bad = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha(b"nope"), "size": 4}]}).encode()
    r = c.put(f"/v2/{REPO}/manifests/bad", content=bad, headers={**auth, "Content-Type": OCI_INDEX})
    assert r.status_code == 404 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"


def test_gc_removes_only_unreferenced_blobs(reg: tuple[Client, dict[str, str]]) -> None:
    c, auth = reg
    kept, _ = push_image(c, auth, REPO, "v1", b"{}", [b"shared-layer"])
    push_image(c, auth, "team-b/app", "v1", b"{}", [b"shared-layer"])
    orphan = push_blob(c, auth, REPO, os.urandom(1000))
    r = c.post("/api/v1/admin/gc", headers=auth)
    assert r.status_code == 200 and r.json()["blobs_deleted"] == 1 and r.json()["bytes_freed"] == 1000
    assert c.get(f"/v2/{REPO}/blobs/{orphan}", headers=auth).status_code == 404
    # Deleting one repository's manifest keeps a layer another repository still references.
    assert c.delete(f"/v2/{REPO}/manifests/{kept}", headers=auth).status_code == 202
    c.post("/api/v1/admin/gc", headers=auth)
    assert c.get(f"/v2/team-b/app/blobs/{sha(b'shared-layer')}", headers=auth).content == b"shared-layer"
    assert c.post("/api/v1/admin/gc").status_code == 401


def test_s3_blob_get_redirects_after_authorisation(tmp_path: Path, database_url: str,
                                                   s3_settings: Any) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), database_url=database_url,
                             publish_catalog=False, storage=msgspec.to_builtins(s3_settings))
    token = bootstrap(settings)
    assert token is not None
    auth = basic("admin", token)
    with TestClient(create_app(settings)) as c:
        assert c.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
        data = os.urandom(1000)
        push_blob(c, auth, REPO, data)
        assert c.get(f"/v2/{REPO}/blobs/{sha(data)}").status_code == 401  # no redirect before auth
        r = c.get(f"/v2/{REPO}/blobs/{sha(data)}", headers=auth, follow_redirects=False)
        assert r.status_code == 307 and r.headers["docker-content-digest"] == sha(data)
        import httpx  # noqa: PLC0415 - the presigned URL is fetched from moto directly

        assert httpx.get(r.headers["location"]).content == data
        # Ranged reads stream (a redirect would lose the range semantics the client asked for).
        r = c.get(f"/v2/{REPO}/blobs/{sha(data)}", headers={**auth, "Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content == data[:10]
