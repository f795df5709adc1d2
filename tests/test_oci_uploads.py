"""Uploads that never complete store nothing: bodies cut short of their Content-Length, digest mismatches.

A live server on both storage drivers, with raw sockets for the client that dies mid-body (no HTTP
library sends a body shorter than the length it declared).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from appmarket.api.oci_body import BATCH
from appmarket.db.models import Blob, OciUpload
from appmarket.repo import paths
from appmarket.services import Services, build_services
from appmarket.settings import Settings
from tests.support.app import DRIVERS, LiveServer, driver_settings
from tests.support.oci import basic, error_code, sha

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # storage is what matters


@pytest.fixture(params=DRIVERS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    return driver_settings(request, tmp_path, database_url, request.param)


@pytest.fixture
def replica(settings: Settings, live_server: LiveServer) -> Iterator[Services]:
    """The same database and store as the server's, to look at what it left behind."""
    services = build_services(settings)
    yield services
    services.close()


def _die_mid_body(server: LiveServer, method: str, path: str, declared: int, sent: bytes) -> None:
    """Send ``sent`` (shorter than ``declared``) as the body and hang up, as a client killed mid-upload."""
    host, port = server.host_port.split(":")
    auth = basic("admin", server.token)["Authorization"]
    head = (f"{method} {path} HTTP/1.1\r\nHost: {server.host_port}\r\nAuthorization: {auth}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + sent)
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass


def _left_behind(services: Services, digest: str) -> list[str]:
    """What an upload that never completed must not have left: a blob, a session, staged bytes."""
    with services.db.read() as s:
        found = [f"blob row {digest}"] if s.get(Blob, digest) else []
        found += [f"session {u.id}" for u in s.exec(select(OciUpload)).all()]
    found += [i.key for i in services.store.list(paths.BLOBS_PREFIX) if i.key == paths.blob_key(digest)]
    found += [f"staged {i.key}" for i in services.store.writers(paths.UPLOADS_PREFIX)]
    found += [f"stage object {i.key}" for i in services.store.list(paths.UPLOADS_PREFIX)]
    return found


def _eventually_clean(services: Services, digest: str) -> None:
    deadline = time.monotonic() + 30  # the server notices the hang-up and cleans up on its own time
    while (left := _left_behind(services, digest)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []


@pytest.mark.parametrize("size", [64 * 1024, 3 * 1024 * 1024], ids=["one-call", "streamed"])
def test_truncated_monolithic_upload_stores_nothing(live_server: LiveServer, replica: Services, size: int) -> None:
    url, auth = live_server.url, basic("admin", live_server.token)
    assert httpx.post(f"{url}/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    data = os.urandom(size)
    _die_mid_body(live_server, "POST", f"/v2/team-a/app/blobs/uploads/?digest={sha(data)}", size, data[:size // 2])
    _eventually_clean(replica, sha(data))
    assert httpx.head(f"{url}/v2/team-a/app/blobs/{sha(data)}", headers=auth).status_code == 404
    # The same blob sent whole afterwards is fine.
    r = httpx.post(f"{url}/v2/team-a/app/blobs/uploads/?digest={sha(data)}", content=data, headers=auth, timeout=60)
    assert r.status_code == 201
    got = httpx.get(f"{url}/v2/team-a/app/blobs/{sha(data)}", headers=auth, follow_redirects=True, timeout=60)
    assert got.content == data


def test_truncated_put_keeps_what_arrived_and_records_no_blob(live_server: LiveServer, replica: Services) -> None:
    url, auth = live_server.url, basic("admin", live_server.token)
    assert httpx.post(f"{url}/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    data, sent = os.urandom(7 * 1024 * 1024), 5 * 1024 * 1024  # one 4 MiB batch reaches storage, then it dies
    loc = httpx.post(f"{url}/v2/team-a/app/blobs/uploads/", headers=auth).headers["location"]
    _die_mid_body(live_server, "PUT", f"{loc}?digest={sha(data)}", len(data), data[:sent])
    deadline, offset = time.monotonic() + 30, 0
    while offset < BATCH and time.monotonic() < deadline:  # the status tells the client where to resume
        status = httpx.get(f"{url}{loc}", headers=auth)
        assert status.status_code == 204
        offset = int(status.headers["range"].split("-")[1]) + 1
        time.sleep(0.05)
    assert BATCH <= offset <= sent
    with replica.db.read() as s:
        assert s.get(Blob, sha(data)) is None
    assert httpx.head(f"{url}/v2/team-a/app/blobs/{sha(data)}", headers=auth).status_code == 404
    r = httpx.patch(f"{url}{loc}", content=data[offset:], timeout=60,
                    headers={**auth, "Content-Range": f"{offset}-{len(data) - 1}"})
    assert r.status_code == 202
    assert httpx.put(f"{url}{loc}?digest={sha(data)}", headers=auth, timeout=60).status_code == 201


def test_streamed_digest_mismatch_stores_nothing(live_server: LiveServer, replica: Services) -> None:
    url, auth = live_server.url, basic("admin", live_server.token)
    assert httpx.post(f"{url}/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    data, claimed = os.urandom(3 * 1024 * 1024), sha(b"something else")
    r = httpx.post(f"{url}/v2/team-a/app/blobs/uploads/?digest={claimed}", content=data, headers=auth, timeout=60)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    assert _left_behind(replica, claimed) == [] and _left_behind(replica, sha(data)) == []


def test_a_session_stages_nothing_until_its_first_chunk(live_server: LiveServer, replica: Services) -> None:
    """POST then PUT of a small blob (helm, oras) is the common push: its session never touches staging."""
    auth = basic("admin", live_server.token)
    with httpx.Client(base_url=live_server.url, headers=auth, follow_redirects=True) as c:  # S3: presigned
        assert c.post("/api/v1/projects", json={"name": "lazy"}).status_code == 201
        location = c.post("/v2/lazy/app/blobs/uploads/").headers["location"]
        assert list(replica.store.writers(paths.UPLOADS_PREFIX)) == []
        assert c.get(location).headers["range"] == "0-0"  # status of an empty session still answers
        data = os.urandom(1000)
        r = c.patch(location, content=data[:600], headers={"Content-Type": "application/octet-stream",
                                                             "Content-Range": "0-599"})
        assert r.status_code == 202 and r.headers["range"] == "0-599"
        r = c.put(r.headers["location"], params={"digest": sha(data)}, content=data[600:],
                  headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/lazy/app/blobs/{sha(data)}").content == data
