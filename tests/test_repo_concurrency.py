"""Consistency under concurrency and crashes, against a live server process."""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

from appmarket.settings import Settings
from tests.support.app import LiveServer, start_server, stop_server
from tests.support.charts import make_chart_tgz


def _project(server: LiveServer, name: str = "team-a") -> None:
    r = httpx.post(f"{server.url}/api/v1/projects", json={"name": name},
                   headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == 201, r.text


def _index(server: LiveServer, project: str = "team-a") -> dict[str, list[dict[str, str]]]:
    r = httpx.get(f"{server.url}/{project}/index.yaml", auth=("admin", server.token))
    assert r.status_code == 200
    entries: dict[str, list[dict[str, str]]] = yaml.safe_load(r.content)["entries"]
    return entries


def test_parallel_uploads_and_racing_duplicates(live_server: LiveServer) -> None:
    _project(live_server)
    packages = [make_chart_tgz(name="par", version=f"1.0.{i}") for i in range(50)]
    with httpx.Client(auth=("admin", live_server.token), timeout=60) as c, ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda b: c.post(f"{live_server.url}/api/team-a/charts", content=b).status_code,
                              packages))
        assert codes == [201] * 50
        versions = {e["version"] for e in _index(live_server)["par"]}
        assert versions == {f"1.0.{i}" for i in range(50)}

        for round_ in range(5):
            a = make_chart_tgz(name="race", version=f"2.0.{round_}", description="a")
            b = make_chart_tgz(name="race", version=f"2.0.{round_}", description="b")
            results = sorted(pool.map(
                lambda body: c.post(f"{live_server.url}/api/team-a/charts", content=body).status_code, [a, b]))
            assert results == [201, 409]
        assert len(_index(live_server)["race"]) == 5


def _start_partial_upload(server: LiveServer, body: bytes) -> socket.socket:
    host, port = server.host_port.split(":")
    sock = socket.create_connection((host, int(port)))
    import base64  # noqa: PLC0415

    cred = base64.b64encode(f"admin:{server.token}".encode()).decode()
    head = (f"POST /api/team-a/charts HTTP/1.1\r\nHost: {server.host_port}\r\n"
            f"Authorization: Basic {cred}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + body[: len(body) // 2])
    return sock


def test_kill_during_upload_leaves_nothing_half_made(settings: Settings, admin_token: str,
                                                    tmp_path: Path) -> None:
    server = start_server(settings, admin_token, tmp_path / "s1.log")
    try:
        _project(server)
        keep = make_chart_tgz(name="keep", version="1.0.0")
        assert httpx.post(f"{server.url}/api/team-a/charts", content=keep,
                          auth=("admin", admin_token)).status_code == 201
        big = make_chart_tgz(name="crash", version="1.0.0", padding=2 * 1024 * 1024)
        sock = _start_partial_upload(server, big)
        time.sleep(0.3)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        sock.close()
    finally:
        stop_server(server)
    server = start_server(settings, admin_token, tmp_path / "s2.log")
    try:
        entries = _index(server)
        assert list(entries) == ["keep"]
        r = httpx.post(f"{server.url}/api/team-a/charts", content=big, auth=("admin", admin_token))
        assert r.status_code == 201, r.text
        assert sorted(_index(server)) == ["crash", "keep"]
    finally:
        stop_server(server)
