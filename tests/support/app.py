"""App fixtures: settings per test, an in-process client, and a live server process for real clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import msgspec
import pytest
from litestar.testing import TestClient

from appmarket.app import create_app
from appmarket.services import bootstrap
from appmarket.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), database_url=database_url,
                         publish_catalog=False)


DRIVERS = ["filesystem", "s3"]


def driver_settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str, driver: str, *,
                    presign: bool = True, **overrides: Any) -> Settings:
    """Settings on ``driver``; for S3 a fresh bucket on the session's moto server. In-process clients
    pass ``presign=False``: they cannot follow a redirect to moto through the app's transport."""
    extra: dict[str, Any] = {}
    if driver == "s3":
        s3 = request.getfixturevalue("s3_settings")
        extra["storage"] = {**msgspec.to_builtins(s3), "presign_downloads": presign}
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), database_url=database_url,
                         publish_catalog=False, **extra, **overrides)


@pytest.fixture
def admin_token(settings: Settings) -> str:
    token = bootstrap(settings)
    assert token is not None
    return token


@pytest.fixture
def client(settings: Settings, admin_token: str) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(settings)) as c:
        yield c


@dataclass
class LiveServer:
    url: str
    host_port: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``appmarket serve`` use ``settings``' database and storage."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPMARKET_")}
    env["APPMARKET_DATA_DIR"] = settings.data_dir
    env["APPMARKET_DATABASE_URL"] = settings.database_url
    env["APPMARKET_PUBLISH_CATALOG"] = "true" if settings.publish_catalog else "false"
    storage = settings.storage
    from appmarket.settings import S3Storage  # noqa: PLC0415

    if isinstance(storage, S3Storage):
        env["APPMARKET_STORAGE__DRIVER"] = "s3"
        for field in storage.__struct_fields__:
            value = getattr(storage, field)
            if value is not None:
                env[f"APPMARKET_STORAGE__{field.upper()}"] = str(value).lower() if isinstance(value, bool) \
                    else str(value)
    return env


def start_server(settings: Settings, token: str, log_path: Path,
                 extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    log = log_path.open("wb")
    env = {**settings_env(settings), **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "appmarket", "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return LiveServer(url, f"127.0.0.1:{port}", token, proc, log_path, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    log.close()
    raise RuntimeError(f"server did not start: {log_path.read_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    server.log_file.close()


@pytest.fixture
def live_server(settings: Settings, admin_token: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(settings, admin_token, tmp_path / "server.log")
    yield server
    stop_server(server)
