"""Scale-out behaviour: concurrent pushers sharing layers; a server killed mid-upload, then resumed."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from appmarket.services import bootstrap
from appmarket.settings import Settings, load_settings
from tests.support.app import DRIVERS, LiveServer, driver_settings, start_server, stop_server
from tests.support.oci import OCI_MANIFEST, basic, image_manifest, sha

pytestmark = pytest.mark.slow


@pytest.fixture(params=DRIVERS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Both storage drivers; on S3 blob downloads are presigned redirects, as deployed."""
    return driver_settings(request, tmp_path, database_url, request.param)


def test_twenty_concurrent_pushers_share_layers(live_server: LiveServer) -> None:
    url, auth = live_server.url, basic("admin", live_server.token)
    assert httpx.post(f"{url}/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    base = [os.urandom(300_000), os.urandom(200_000)]

    def push(i: int) -> tuple[str, bytes]:
        own = os.urandom(50_000 + i)
        config = f'{{"n": {i}}}'.encode()
        repo = f"team-a/img{i % 4}"
        with httpx.Client(base_url=url, headers=auth, timeout=60) as c:
            for blob in [*base, own, config]:
                r = c.post(f"/v2/{repo}/blobs/uploads/?digest={sha(blob)}", content=blob)
                assert r.status_code == 201, r.text
            body = image_manifest(config, [*base, own])
            r = c.put(f"/v2/{repo}/manifests/v{i}", content=body, headers={"Content-Type": OCI_MANIFEST})
            assert r.status_code == 201, r.text
        return repo, body

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(push, range(20)))
    with httpx.Client(base_url=url, headers=auth, timeout=60, follow_redirects=True) as c:
        for i, (repo, body) in enumerate(results):
            assert c.get(f"/v2/{repo}/manifests/v{i}").content == body
        for blob in base:
            assert c.get(f"/v2/team-a/img0/blobs/{sha(blob)}").content == blob


@pytest.fixture(params=["filesystem", "s3"])
def crash_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    extra: dict[str, Any] = {}
    if request.param == "s3":
        extra["storage"] = msgspec.to_builtins(request.getfixturevalue("s3_settings"))
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), publish_catalog=False, **extra)


@pytest.fixture
def crash_server(crash_settings: Settings) -> tuple[Settings, str]:
    token = bootstrap(crash_settings)
    assert token is not None
    return crash_settings, token


def test_kill_during_chunked_upload_then_resume(crash_server: tuple[Settings, str], tmp_path: Path) -> None:
    settings, token = crash_server
    auth = basic("admin", token)
    server = start_server(settings, token, tmp_path / "one.log")
    data = os.urandom(12 * 1024 * 1024)
    first = 6 * 1024 * 1024
    try:
        url = server.url
        assert httpx.post(f"{url}/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
        loc = httpx.post(f"{url}/v2/team-a/big/blobs/uploads/", headers=auth).headers["location"]
        r = httpx.patch(f"{url}{loc}", content=data[:first], headers={**auth, "Content-Range": f"0-{first - 1}"},
                        timeout=60)
        assert r.status_code == 202

        def body() -> Iterator[bytes]:
            yield data[first:first + 1024 * 1024]
            time.sleep(0.3)
            os.kill(server.process.pid, signal.SIGKILL)  # kill -9 while the chunk is in flight
            time.sleep(0.3)
            yield data[first + 1024 * 1024:]

        with pytest.raises(httpx.HTTPError):
            httpx.patch(f"{url}{loc}", content=body(), timeout=10,
                        headers={**auth, "Content-Range": f"{first}-{len(data) - 1}"})
        server.process.wait()
    finally:
        stop_server(server)
    server = start_server(settings, token, tmp_path / "two.log")
    try:
        url = server.url
        # The client's retry: ask where the upload stands, send the rest, close with the digest.
        status = httpx.get(f"{url}{loc}", headers=auth)
        assert status.status_code == 204
        offset = int(status.headers["range"].split("-")[1]) + 1
        assert first <= offset <= len(data)
        r = httpx.patch(f"{url}{loc}", content=data[offset:], timeout=60,
                        headers={**auth, "Content-Range": f"{offset}-{len(data) - 1}"})
        assert r.status_code == 202, r.text
        r = httpx.put(f"{url}{r.headers['location']}?digest={sha(data)}", headers=auth, timeout=60)
        assert r.status_code == 201, r.text
        got = httpx.get(f"{url}/v2/team-a/big/blobs/{sha(data)}", headers=auth, timeout=60, follow_redirects=True)
        assert got.content == data
    finally:
        stop_server(server)
    assert threading.active_count() >= 1


def test_chunks_on_two_replicas(settings: Settings, admin_token: str) -> None:
    """Chunks land on different replicas; the one that completes lacks the running hash and re-reads."""
    from litestar.testing import TestClient  # noqa: PLC0415

    from appmarket.app import create_app  # noqa: PLC0415

    auth = basic("admin", admin_token)
    data = os.urandom(3 * 1024 * 1024)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        assert a.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
        loc = a.post("/v2/team-a/x/blobs/uploads/", headers=auth).headers["location"]
        assert a.patch(loc, content=data[:1000], headers={**auth, "Content-Range": "0-999"}).status_code == 202
        r = b.patch(loc, content=data[1000:], headers={**auth, "Content-Range": f"1000-{len(data) - 1}"})
        assert r.status_code == 202
        bad = a.put(f"{loc}?digest={sha(b'wrong')}", headers=auth)
        assert bad.status_code == 400  # verified by re-reading: mismatch, and the upload is gone
        assert a.get(loc, headers=auth).status_code == 404
        loc = b.post("/v2/team-a/x/blobs/uploads/", headers=auth).headers["location"]
        b.patch(loc, content=data[:1000], headers=auth)
        a.patch(loc, content=data[1000:], headers=auth)
        assert b.put(f"{loc}?digest={sha(data)}", headers=auth).status_code == 201
        r = a.get(f"/v2/team-a/x/blobs/{sha(data)}", headers=auth, follow_redirects=False)
        if r.status_code == 307:  # S3: the presigned URL points at the object itself
            r = httpx.get(r.headers["location"])
        assert r.status_code == 200 and r.content == data
