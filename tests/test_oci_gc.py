"""Garbage collection: grace window, expired uploads, the ``appmarket gc`` command."""

from __future__ import annotations

import os

from click.testing import CliRunner
from litestar.testing import TestClient

from appmarket.cli.main import main
from appmarket.repo import paths
from appmarket.settings import Settings
from tests.support.oci import basic, push_blob, push_image, sha

Client = TestClient  # type: ignore[type-arg]


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
    env = {"APPMARKET_DATA_DIR": settings.data_dir, "APPMARKET_DATABASE_URL": settings.database_url,
           "APPMARKET_PUBLISH_CATALOG": "false", "APPMARKET_OCI__UPLOAD_EXPIRY_SECONDS": "0"}
    result = CliRunner().invoke(main, ["gc", "--grace", "0"], env=env)
    assert result.exit_code == 0, result.output
    assert "deleted 1 blobs" in result.output and "freed 2048 bytes" in result.output
    assert "expired 1 uploads" in result.output
    assert client.head(f"/v2/team-a/app/blobs/{orphan}", headers=auth).status_code == 404
    assert not registry.store.exists(paths.blob_key(orphan))
    assert client.get(loc, headers=auth).status_code == 404
    assert client.get(f"/v2/team-a/app/blobs/{sha(b'kept')}", headers=auth).content == b"kept"
