"""Schema migrations match the models, and the administrative CLI commands work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import appmarket.db.addons  # registers the addon tables (the import below marks these used)
import appmarket.db.installer  # registers the installer tables
import appmarket.db.models  # noqa: F401 - registers the tables
from appmarket.db.engine import make_unpooled_engine
from appmarket.settings import Settings
from tests.support.app import settings_env


def test_migrations_match_models(database_url: str) -> None:
    """The database fixtures are built by alembic; autogenerate must find nothing left to do."""
    engine = make_unpooled_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == []


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appmarket", *args], env=settings_env(settings),
                          capture_output=True, text=True, timeout=60, check=False)


def test_admin_cli(settings: Settings, admin_token: str) -> None:
    up = _cli(settings, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    check = _cli(settings, "storage", "check")
    assert check.returncode == 0, check.stderr
    assert "storage ok" in check.stdout
    reset = _cli(settings, "admin", "reset-token")
    assert reset.returncode == 0, reset.stderr
    new_token = reset.stdout.strip()
    assert new_token.startswith("amk_")
    assert new_token != admin_token
    missing = _cli(settings, "admin", "reset-token", "--username", "nobody")
    assert missing.returncode == 3
    assert "no user" in missing.stderr


def test_bad_settings_stop_the_cli(settings: Settings) -> None:
    env = {**settings_env(settings), "APPMARKET_STORAGE__DRIVER": "floppy"}
    proc = subprocess.run([sys.executable, "-m", "appmarket", "storage", "check"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "storage.driver" in proc.stderr


def test_push_cli_reports_unreachable_server(tmp_path: Path) -> None:
    chart = tmp_path / "x-0.1.0.tgz"
    chart.write_bytes(b"whatever")
    env = {**os.environ, "APPMARKET_URL": "http://127.0.0.1:9", "APPMARKET_TOKEN": "amk_x"}
    proc = subprocess.run([sys.executable, "-m", "appmarket", "push", str(chart), "--project", "p"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "cannot reach" in proc.stderr

