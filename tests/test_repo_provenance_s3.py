"""Provenance files through the ChartMuseum API, and the repository on S3 (moto server)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import yaml
from litestar.testing import TestClient

from appmarket.app import create_app
from appmarket.repo.chart_package import inspect_chart
from appmarket.services import bootstrap
from appmarket.settings import ChartLimits, S3Storage, Settings
from tests.support.app import LiveServer, start_server, stop_server
from tests.support.charts import make_chart_tgz, make_prov

Client = TestClient[Any]


def _prov(tgz: bytes) -> bytes:
    pkg = inspect_chart(io.BytesIO(tgz), ChartLimits())
    meta = {"apiVersion": "v2", "name": pkg.metadata.name, "version": pkg.metadata.version}
    return make_prov(meta, {pkg.filename: pkg.digest})


def test_provenance_upload_paths(client: Client, admin_token: str) -> None:
    h = {"Authorization": f"Bearer {admin_token}"}
    assert client.post("/api/v1/projects", json={"name": "signed"}, headers=h).status_code == 201
    tgz = make_chart_tgz(name="signed", version="1.0.0")
    prov = _prov(tgz)
    r = client.post("/api/signed/charts", files={"chart": ("signed-1.0.0.tgz", tgz), "prov": ("x.prov", prov)},
                    headers=h)
    assert r.status_code == 201, r.text
    got = client.get("/signed/charts/signed-1.0.0.tgz.prov", headers=h)
    assert got.status_code == 200
    assert got.content == prov

    # A provenance file naming another digest is refused, and the chart is not stored either.
    other = make_chart_tgz(name="signed", version="2.0.0")
    wrong = _prov(make_chart_tgz(name="signed", version="2.0.0", description="different bytes"))
    r = client.post("/api/signed/charts", files={"chart": ("c.tgz", other), "prov": ("p.prov", wrong)}, headers=h)
    assert r.status_code == 400
    assert "digest" in r.json()["error"]
    assert client.head("/api/signed/charts/signed/2.0.0", headers=h).status_code == 404

    # Separate POST /api/{repo}/prov after the chart.
    assert client.post("/api/signed/charts", content=other, headers=h).status_code == 201
    assert client.get("/signed/charts/signed-2.0.0.tgz.prov", headers=h).status_code == 404
    r = client.post("/api/signed/prov", content=_prov(other), headers=h)
    assert r.status_code == 201, r.text
    assert client.get("/signed/charts/signed-2.0.0.tgz.prov", headers=h).content == _prov(other)
    r = client.post("/api/signed/prov", content=b"-----BEGIN PGP SIGNED MESSAGE-----\nnonsense", headers=h)
    assert r.status_code == 400
    r = client.post("/api/signed/prov", content=_prov(make_chart_tgz(name="nochart", version="1.0.0")), headers=h)
    assert r.status_code == 404


@pytest.fixture
def s3_repo_settings(settings: Settings, s3_settings: S3Storage) -> Settings:
    return msgspec.structs.replace(settings, storage=s3_settings)


@pytest.fixture
def s3_live(s3_repo_settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    token = bootstrap(s3_repo_settings)
    assert token
    server = start_server(s3_repo_settings, token, tmp_path / "server.log")
    yield server
    stop_server(server)


def test_repository_on_s3_with_presigned_downloads(s3_live: LiveServer) -> None:
    h = {"Authorization": f"Bearer {s3_live.token}"}
    assert httpx.post(f"{s3_live.url}/api/v1/projects", json={"name": "cloud", "visibility": "public"},
                      headers=h).status_code == 201
    tgz = make_chart_tgz(name="cloudy", version="1.2.3", padding=64 * 1024)
    assert httpx.post(f"{s3_live.url}/api/cloud/charts", content=tgz, headers=h).status_code == 201
    r = httpx.get(f"{s3_live.url}/cloud/charts/cloudy-1.2.3.tgz")
    assert r.status_code == 307
    assert "X-Amz-Signature" in r.headers["location"]
    followed = httpx.get(f"{s3_live.url}/cloud/charts/cloudy-1.2.3.tgz", follow_redirects=True)
    assert followed.content == tgz
    index = yaml.safe_load(httpx.get(f"{s3_live.url}/cloud/index.yaml").content)
    assert index["entries"]["cloudy"][0]["digest"] == hashlib.sha256(tgz).hexdigest()
    check = httpx.get(f"{s3_live.url}/health")
    assert check.json() == {"healthy": True}


def test_in_process_on_s3_streams_when_presign_is_off(settings: Settings, s3_settings: S3Storage) -> None:
    s3_settings = msgspec.structs.replace(s3_settings, presign_downloads=False)
    conf = msgspec.structs.replace(settings, storage=s3_settings)
    token = bootstrap(conf)
    h = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(conf)) as c:
        assert c.post("/api/v1/projects", json={"name": "cloud"}, headers=h).status_code == 201
        tgz = make_chart_tgz(name="streamed", version="0.0.1")
        assert c.post("/api/cloud/charts", content=tgz, headers=h).status_code == 201
        r = c.get("/cloud/charts/streamed-0.0.1.tgz", headers=h)
        assert r.status_code == 200
        assert r.content == tgz
