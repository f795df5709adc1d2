"""Other real clients against a live server: oras (Python SDK) and skopeo (multi-arch, byte-identical)."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from appmarket.settings import Settings
from tests.support.app import DRIVERS, LiveServer, driver_settings
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, basic, sha

# The clients exercise the protocol, not the database: SQLite is enough here (the conformance, helm and
# concurrency modules run on PostgreSQL too).
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture(params=DRIVERS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Both storage drivers; on S3 the clients follow presigned redirects to the bucket, as deployed."""
    return driver_settings(request, tmp_path, database_url, request.param)


def _project(server: LiveServer, name: str = "team-a") -> dict[str, str]:
    auth = basic("admin", server.token)
    assert httpx.post(f"{server.url}/api/v1/projects", json={"name": name}, headers=auth).status_code == 201
    return auth


def test_oras_multi_layer_artifact(live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import oras.client  # noqa: PLC0415 - optional heavy import

    _project(live_server)
    src = tmp_path / "src"
    src.mkdir()
    files = []
    for i in range(3):
        (src / f"part{i}.bin").write_bytes(os.urandom(20_000 + i))
        files.append(f"part{i}.bin")
    monkeypatch.chdir(src)
    client = oras.client.OrasClient(hostname=live_server.host_port, insecure=True)
    client.login(username="admin", password=live_server.token, hostname=live_server.host_port,
                 config_path=str(tmp_path / "auth.json"))
    target = f"{live_server.host_port}/team-a/artifact:v1"
    response = client.push(target=target, files=files)
    assert response.status_code == 201
    out = tmp_path / "out"
    pulled = client.pull(target=target, outdir=str(out))
    assert sorted(Path(p).name for p in pulled) == files
    for name in files:
        assert (out / name).read_bytes() == (src / name).read_bytes()


def _targz(payload: bytes) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        info = tarfile.TarInfo("data.bin")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    return gzip.compress(raw.getvalue(), mtime=0)


def _write_blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = sha(data)
    path = layout / "blobs" / "sha256" / digest.split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def make_multiarch_layout(layout: Path, tag: str) -> None:
    """An OCI layout with an index of linux/amd64 and linux/arm64 images, two small random layers each."""
    layout.mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    children = []
    for arch in ("amd64", "arm64"):
        layers = [_targz(os.urandom(50_000)) for _ in range(2)]
        diff_ids = [sha(gzip.decompress(x)) for x in layers]
        config = json.dumps({"architecture": arch, "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_write_blob(layout, config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_write_blob(layout, x)}
                       for x in layers],
        }).encode()
        children.append({"mediaType": OCI_MANIFEST, **_write_blob(layout, manifest),
                         "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    top = {"mediaType": OCI_INDEX, **_write_blob(layout, index),
           "annotations": {"org.opencontainers.image.ref.name": tag}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed (apt-get install skopeo)")
def test_skopeo_multiarch_round_trip(live_server: LiveServer, tmp_path: Path) -> None:
    auth = _project(live_server)
    src, back = tmp_path / "layout", tmp_path / "back"
    make_multiarch_layout(src, "1.27")
    creds = f"admin:{live_server.token}"
    ref = f"docker://{live_server.host_port}/team-a/nginx:1.27"
    env = {**os.environ, "HOME": str(tmp_path)}
    for args in (["copy", "--all", "--preserve-digests", f"oci:{src}:1.27", ref, "--dest-tls-verify=false",
                  "--dest-creds", creds],
                 ["copy", "--all", "--preserve-digests", ref, f"oci:{back}:1.27", "--src-tls-verify=false",
                  "--src-creds", creds]):
        proc = subprocess.run(["skopeo", "--policy", str(_policy(tmp_path)), *args], capture_output=True,
                              text=True, timeout=120, env=env, check=False)
        assert proc.returncode == 0, proc.stderr
    src_blobs = {p.name: p.read_bytes() for p in (src / "blobs" / "sha256").iterdir()}
    back_blobs = {p.name: p.read_bytes() for p in (back / "blobs" / "sha256").iterdir()}
    assert src_blobs == back_blobs
    r = httpx.get(f"{live_server.url}/v2/team-a/nginx/manifests/1.27", headers={**auth, "Accept": OCI_INDEX})
    assert r.headers["content-type"] == OCI_INDEX
    assert sorted(m["platform"]["architecture"] for m in r.json()["manifests"]) == ["amd64", "arm64"]


def _policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    path.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return path
