from __future__ import annotations

from pathlib import Path

import pytest

from appmarket.errors import Invalid
from appmarket.settings import FilesystemStorage, S3Storage, load_settings


def test_defaults_are_embedded() -> None:
    s = load_settings(environ={})
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert isinstance(s.storage, FilesystemStorage)
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith(".appmarket/appmarket.db")


def test_environment_and_file_layering(tmp_path: Path) -> None:
    cfg = tmp_path / "appmarket.toml"
    cfg.write_text('port = 9000\n[storage]\ndriver = "s3"\nbucket = "from-file"\n')
    s = load_settings(cfg, environ={"APPMARKET_STORAGE__BUCKET": "from-env", "APPMARKET_PORT": "9100",
                                    "APPMARKET_DATABASE_URL": "postgresql://x@h/db"})
    assert s.port == 9100
    assert isinstance(s.storage, S3Storage)
    assert s.storage.bucket == "from-env"
    assert s.effective_database_url == "postgresql://x@h/db"


@pytest.mark.parametrize("environ", [
    {"APPMARKET_STORAGE__DRIVER": "s4"},
    {"APPMARKET_PORT": "eighty"},
    {"APPMARKET_NO_SUCH_SETTING": "1"},
    {"APPMARKET_STORAGE__DRIVER": "s3"},  # bucket missing
])
def test_bad_settings_fail_loudly(environ: dict[str, str]) -> None:
    with pytest.raises(Invalid):
        load_settings(environ=environ)
