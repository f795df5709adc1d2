"""JSON logs for collectors, and secrets kept out of logs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import msgspec

from appmarket.settings import Settings
from tests.support.app import start_server, stop_server


def test_json_logs_and_no_token_in_logs(settings: Settings, admin_token: str, tmp_path: Path) -> None:
    conf = msgspec.structs.replace(settings, log_format="json")
    server = start_server(conf, admin_token, tmp_path / "server.log", extra_env={"APPMARKET_LOG_FORMAT": "json"})
    try:
        r = httpx.get(f"{server.url}/api/v1/projects", headers={"Authorization": f"Bearer {admin_token}"})
        assert r.status_code == 200
        httpx.get(f"{server.url}/no-such-project/index.yaml", auth=("admin", "wrong-password"))
        time.sleep(0.2)
    finally:
        stop_server(server)
    lines = [line for line in server.log().splitlines() if line.strip()]
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= record.keys()
    assert admin_token not in server.log()
