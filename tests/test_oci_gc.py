"""Garbage collection: grace window, expired uploads, the ``appmarket gc`` command."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlmodel import col, select, update

from appmarket.app import create_app
from appmarket.cli.main import main
from appmarket.db.models import Blob, OciUpload, utcnow
from appmarket.repo import paths
from appmarket.repo.oci.access import aware
from appmarket.services import Services, build_services
from appmarket.settings import Settings
from tests.support.app import DRIVERS, LiveServer, driver_settings, settings_env
from tests.support.oci import OCI_MANIFEST, basic, error_code, image_manifest, push_blob, push_image, sha

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture(params=DRIVERS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Every test here on both storage drivers (in-process clients stream: no presigned redirects)."""
    return driver_settings(request, tmp_path, database_url, request.param, presign=False)


def test_gc_grace_window_and_cli(client: Client, admin_token: str, settings: Settings) -> None:
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    push_image(client, auth, "team-a/app", "v1", b"{}", [b"kept"])
    orphan = push_blob(client, auth, "team-a/app", os.urandom(2048))
    loc = client.post("/v2/team-a/app/blobs/uploads/", headers=auth).headers["location"]
    client.patch(loc, content=b"half an upload", headers=auth)
    registry = client.app.state.services.registry
    # Within the grace window (default 1 h) nothing is collected: a push may still reference it.
    report = registry.gc()
    assert report.blobs_deleted == 0 and report.uploads_expired == 0
    env = {**settings_env(settings), "APPMARKET_OCI__UPLOAD_EXPIRY_SECONDS": "0"}
    result = CliRunner().invoke(main, ["gc", "--grace", "0"], env=env)
    assert result.exit_code == 0, result.output
    assert "deleted 1 blobs" in result.output and "freed 2048 bytes" in result.output
    assert "expired 1 uploads" in result.output
    assert client.head(f"/v2/team-a/app/blobs/{orphan}", headers=auth).status_code == 404
    assert not registry.store.exists(paths.blob_key(orphan))
    assert client.get(loc, headers=auth).status_code == 404
    assert client.get(f"/v2/team-a/app/blobs/{sha(b'kept')}", headers=auth).content == b"kept"


def _backdate(services: Services, digests: list[str], hours: float = 2) -> None:
    """Make blob rows look as old as an abandoned push's (beyond the default one-hour grace window)."""
    old = utcnow() - dt.timedelta(hours=hours)
    with services.db.write() as s:
        s.exec(update(Blob).where(col(Blob.digest).in_(digests)).values(created_at=old))


def _created(services: Services, digest: str) -> dt.datetime:
    with services.db.read() as s:
        row = s.get(Blob, digest)
    assert row is not None
    return aware(row.created_at)


def test_mount_refreshes_the_grace_window(client: Client, admin_token: str) -> None:
    auth = basic("admin", admin_token)
    for name in ("team-a", "team-b"):
        assert client.post("/api/v1/projects", json={"name": name}, headers=auth).status_code == 201
    services: Services = client.app.state.services
    mounted, left = push_blob(client, auth, "team-a/src", b"mounted"), push_blob(client, auth, "team-a/src", b"left")
    _backdate(services, [mounted, left])
    stale = _created(services, mounted)
    r = client.post(f"/v2/team-b/dst/blobs/uploads/?mount={mounted}&from=team-a/src", headers=auth)
    assert r.status_code == 201
    assert _created(services, mounted) > stale + dt.timedelta(hours=1)
    report = services.registry.gc()  # the default one-hour grace: the mount counts as a fresh push
    assert report.blobs_deleted == 1 and report.bytes_freed == len(b"left")
    assert client.get(f"/v2/team-b/dst/blobs/{mounted}", headers=auth).content == b"mounted"
    # A blob GC took is no longer mountable: the client falls back to an upload session.
    r = client.post(f"/v2/team-b/dst/blobs/uploads/?mount={left}&from=team-a/src", headers=auth)
    assert r.status_code == 202 and "/blobs/uploads/" in r.headers["location"]


def test_gc_between_reference_check_and_commit_refuses_the_manifest(
        client: Client, admin_token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The window the in-transaction touch closes: GC runs after the manifest's reference check."""
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    services: Services = client.app.state.services
    config, layer = push_blob(client, auth, "team-a/app", b"{}"), push_blob(client, auth, "team-a/app", b"layer")
    manifests = services.registry.manifests
    checked = manifests._check_references
    collected: list[int] = []

    def check_then_collect(repository: str, parsed: Any) -> list[str]:
        platforms = checked(repository, parsed)
        _backdate(services, [config, layer])  # the client HEADed these blobs long ago and skipped them
        collected.append(services.registry.gc().blobs_deleted)
        return platforms

    monkeypatch.setattr(manifests, "_check_references", check_then_collect)
    body = image_manifest(b"{}", [b"layer"])
    r = client.put("/v2/team-a/app/manifests/v1", content=body, headers={**auth, "Content-Type": OCI_MANIFEST})
    assert collected == [2]
    assert r.status_code == 404 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert client.get("/v2/team-a/app/manifests/v1", headers=auth).status_code == 404
    monkeypatch.undo()
    push_image(client, auth, "team-a/app", "v1", b"{}", [b"layer"])  # the client's retry uploads them again
    assert client.get(f"/v2/team-a/app/blobs/{layer}", headers=auth).content == b"layer"


ROUNDS, PUSHERS = 5, 4


def _push_until_accepted(server: LiveServer, repo: str, tag: str, shared: list[bytes],
                         own: bytes) -> tuple[bytes, int]:
    """Push an image like docker does: HEAD (or mount) the shared layers, upload the rest, PUT the manifest;
    start over when the registry says a blob is gone. Returns the manifest and how many PUTs were refused."""
    with httpx.Client(base_url=server.url, headers=basic("admin", server.token), timeout=60) as c:
        return _push_with(c, repo, tag, shared, own)


def _push_with(c: httpx.Client, repo: str, tag: str, shared: list[bytes], own: bytes) -> tuple[bytes, int]:
    refused = 0
    for _ in range(50):
        for blob in shared:
            if c.head(f"/v2/{repo}/blobs/{sha(blob)}").status_code == 200:
                continue  # exists: skip the upload (no write on the registry's side)
            if c.post(f"/v2/{repo}/blobs/uploads/?mount={sha(blob)}&from={SRC}").status_code == 201:
                continue
            assert c.post(f"/v2/{repo}/blobs/uploads/?digest={sha(blob)}", content=blob).status_code == 201
        for blob in (own, b"{}"):
            assert c.post(f"/v2/{repo}/blobs/uploads/?digest={sha(blob)}", content=blob).status_code == 201
        body = image_manifest(b"{}", [*shared, own])
        r = c.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST})
        if r.status_code == 201:
            return body, refused
        assert r.status_code == 404 and error_code(r) == "MANIFEST_BLOB_UNKNOWN", r.text
        refused += 1
    raise AssertionError(f"{repo}: never accepted")


SRC = "team-a/src"


def test_gc_running_during_pushes_never_loses_a_referenced_blob(live_server: LiveServer,
                                                                  settings: Settings) -> None:
    """GC in another process loops over old, unreferenced blobs while pushers mount, HEAD-and-skip and
    upload them; every manifest the registry accepted must pull whole afterwards."""
    url, auth = live_server.url, basic("admin", live_server.token)
    assert httpx.post(f"{url}/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    gc_replica = build_services(settings)
    accepted: list[tuple[str, str, bytes, list[bytes]]] = []
    deleted = refused = 0
    try:
        with httpx.Client(base_url=url, headers=auth, timeout=60) as c:
            for rnd in range(ROUNDS):
                shared = [os.urandom(20_000) for _ in range(2)]
                digests = [push_blob(c, auth, SRC, blob) for blob in [*shared, os.urandom(500)]]
                done = threading.Event()

                def collect_until_done(digests: list[str] = digests, done: threading.Event = done) -> int:
                    freed, runs = 0, 0
                    while not done.is_set():
                        if runs < 10:  # the round's blobs look abandoned while the pushers start on them
                            _backdate(gc_replica, digests)
                        freed += gc_replica.registry.gc().blobs_deleted
                        runs += 1
                    return freed

                with ThreadPoolExecutor(PUSHERS + 1) as pool:
                    gc_run = pool.submit(collect_until_done)
                    repos = [SRC if i == 0 else f"team-a/img{rnd}-{i}" for i in range(PUSHERS)]
                    owns = [os.urandom(1000 + i) for i in range(PUSHERS)]
                    pushes = [pool.submit(_push_until_accepted, live_server, repo, f"r{rnd}", shared, own)
                              for repo, own in zip(repos, owns, strict=True)]
                    try:
                        results = [p.result() for p in pushes]
                    finally:
                        done.set()
                    deleted += gc_run.result()
                for repo, own, (body, n) in zip(repos, owns, results, strict=True):
                    accepted.append((repo, f"r{rnd}", body, [*shared, own, b"{}"]))
                    refused += n
            # Afterwards (and after one more collection with the normal grace window) all of it pulls.
            gc_replica.registry.gc()
            for repo, tag, body, blobs in accepted:
                assert c.get(f"/v2/{repo}/manifests/{tag}").content == body
                for blob in blobs:
                    assert c.get(f"/v2/{repo}/blobs/{sha(blob)}").content == blob, repo
    finally:
        gc_replica.close()
    assert deleted >= ROUNDS  # at least each round's unreferenced blob: GC really ran during the pushes
    assert len(accepted) == ROUNDS * PUSHERS
    print(f"gc deleted {deleted} blobs during the pushes; {refused} manifest PUTs were refused and retried")


def _backdate_upload(services: Services, location: str, hours: float) -> None:
    with services.db.write() as s:
        s.exec(update(OciUpload).where(col(OciUpload.id) == location.rsplit("/", 1)[1])
               .values(updated_at=utcnow() - dt.timedelta(hours=hours)))


def test_expired_upload_is_refused_before_any_sweep(client: Client, admin_token: str) -> None:
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    services: Services = client.app.state.services
    data = os.urandom(3000)
    fresh, old = (client.post("/v2/team-a/app/blobs/uploads/", headers=auth).headers["location"] for _ in range(2))
    for loc in (fresh, old):
        assert client.patch(loc, content=data[:1000], headers={**auth, "Content-Range": "0-999"}).status_code == 202
    _backdate_upload(services, old, hours=25)  # idle past the default 24 h expiry; no janitor or GC has run
    for r in (client.get(old, headers=auth),
              client.patch(old, content=data[1000:], headers={**auth, "Content-Range": f"1000-{len(data) - 1}"}),
              client.put(f"{old}?digest={sha(data[:1000])}", headers=auth)):
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    assert client.head(f"/v2/team-a/app/blobs/{sha(data[:1000])}", headers=auth).status_code == 404
    # One idle for less is untouched; a chunk restarts its clock.
    _backdate_upload(services, fresh, hours=23)
    r = client.patch(fresh, content=data[1000:], headers={**auth, "Content-Range": f"1000-{len(data) - 1}"})
    assert r.status_code == 202
    assert client.put(f"{fresh}?digest={sha(data)}", headers=auth).status_code == 201


def test_gc_sweeps_staged_bytes_no_session_owns(client: Client, admin_token: str) -> None:
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    services: Services = client.app.state.services
    store = services.store
    live = client.post("/v2/team-a/app/blobs/uploads/", headers=auth).headers["location"]
    client.patch(live, content=b"still wanted", headers=auth)
    # Bytes with no session row: a writer left after its session was cancelled, and a committed stage.
    w = store.writer(paths.upload_key("lostwriter01"))
    w.write(b"left behind")
    w.close()
    store.put_bytes(paths.upload_key("lostobject01"), b"committed, never moved")
    report = services.registry.gc()
    assert report.staged_deleted == 0  # younger than the upload expiry
    assert {i.key for i in store.writers(paths.UPLOADS_PREFIX)} == {
        paths.upload_key(live.rsplit("/", 1)[1]), paths.upload_key("lostwriter01")}
    later = utcnow() + dt.timedelta(hours=25)
    _backdate_upload(services, live, hours=-25)  # the live session keeps pace with the injected clock
    report = services.registry.gc(now=later)
    assert report.staged_deleted == 2 and report.uploads_expired == 0
    assert [i.key for i in store.writers(paths.UPLOADS_PREFIX)] == [paths.upload_key(live.rsplit("/", 1)[1])]
    assert list(store.list(paths.UPLOADS_PREFIX)) == []
    assert client.get(live, headers=auth).status_code == 204


def test_janitor_expires_abandoned_uploads_by_itself(settings: Settings, admin_token: str) -> None:
    quick = msgspec.structs.replace(settings, oci=msgspec.structs.replace(
        settings.oci, upload_expiry_seconds=0.5, janitor_interval_seconds=0.05))
    auth = basic("admin", admin_token)
    with TestClient(create_app(quick)) as client:
        assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
        services: Services = client.app.state.services
        loc = client.post("/v2/team-a/app/blobs/uploads/", headers=auth).headers["location"]
        assert client.patch(loc, content=b"abandoned", headers=auth).status_code == 202
        w = services.store.writer(paths.upload_key("nosession01"))
        w.write(b"no session at all")
        w.close()
        deadline = time.monotonic() + 30
        while True:
            with services.db.read() as s:
                sessions = s.exec(select(OciUpload)).all()
            staged = list(services.store.writers(paths.UPLOADS_PREFIX))
            if not sessions and not staged:
                break
            assert time.monotonic() < deadline, (sessions, staged)
            time.sleep(0.05)
        assert client.get(loc, headers=auth).status_code == 404
