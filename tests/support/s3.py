"""A real ``moto_server`` for tests that need S3: one HTTP server per session, one bucket per test.

The S3 driver is exercised over HTTP exactly as against AWS (signing, ranged GETs, multipart, presigned
URLs), not through in-process mocks; credentials go through the settings object, never the environment.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from appmarket.settings import S3Storage
from appmarket.storage.s3 import S3Store

PART = 5 * 1024 * 1024  # S3's minimum part size, so multipart paths run with small objects
START_TIMEOUT = 30.0


def _moto_binary() -> str | None:
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else shutil.which("moto_server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


def _post(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10):
        pass


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``moto_server`` on a free loopback port; yield its endpoint URL."""
    binary = _moto_binary()
    if binary is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # A file, not a pipe: werkzeug logs every request and would block on a full pipe.
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(f"{endpoint}/moto-api/"):
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"moto_server exited with {proc.returncode}: {tail}")
            if time.monotonic() > deadline:
                pytest.fail(f"moto_server did not answer on {endpoint} within {START_TIMEOUT}s")
            time.sleep(0.05)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_settings(moto_server: str) -> Iterator[S3Storage]:
    """A fresh bucket on the session's moto server, with 5 MiB parts; moto is reset afterwards."""
    settings = S3Storage(
        bucket=f"test-{uuid.uuid4().hex[:20]}",
        endpoint_url=moto_server,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        multipart_threshold=PART,
        part_size=PART,
        create_bucket=True,
    )
    S3Store(settings).close()  # creates the bucket (and exercises create_bucket)
    yield settings
    _post(f"{moto_server}/moto-api/reset")  # drop the test's objects from the server's memory
