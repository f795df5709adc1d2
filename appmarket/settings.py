"""One typed settings object, loaded once at start-up.

Sources, later ones winning: defaults, an optional TOML file (``APPMARKET_CONFIG`` or ``--config``),
then ``APPMARKET_*`` environment variables where ``__`` separates nesting levels, for example
``APPMARKET_STORAGE__DRIVER=s3`` and ``APPMARKET_STORAGE__BUCKET=charts``. ``APPMARKET_DATABASE_URL``
is the one flat alias everyone expects. The storage backend is a tagged union: an unknown driver name
fails at start-up instead of silently becoming something else.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from appmarket.errors import Invalid

ENV_PREFIX = "APPMARKET_"


class FilesystemStorage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="filesystem",
                        tag_field="driver"):
    """Objects as files under ``root`` (relative paths are relative to ``data_dir``)."""

    root: str = "storage"


class S3Storage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="s3", tag_field="driver"):
    """Objects in an S3 bucket (AWS or any S3-compatible endpoint)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    # Objects above this size go up as multipart uploads of ``part_size`` bytes.
    multipart_threshold: int = 16 * 1024 * 1024
    part_size: int = 8 * 1024 * 1024
    # Blob and chart downloads answer with a short-lived presigned redirect after authorisation.
    presign_downloads: bool = True
    presign_expiry: int = 300
    create_bucket: bool = False


StorageSettings = FilesystemStorage | S3Storage


class ChartLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Bounds on an uploaded chart archive; beyond them the upload is refused, nothing is stored."""

    max_archive_bytes: int = 20 * 1024 * 1024
    max_unpacked_bytes: int = 100 * 1024 * 1024
    max_members: int = 5000
    max_member_bytes: int = 20 * 1024 * 1024
    max_compression_ratio: int = 200


class OciSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The /v2 registry: limits, upload expiry, garbage collection and registry tokens."""

    # Manifests above this are refused with 413 (the spec asks registries to take at least 4 MiB).
    max_manifest_bytes: int = 4 * 1024 * 1024
    # Upload sessions idle for longer are abandoned: refused on use, then deleted with their bytes.
    upload_expiry_seconds: float = 24 * 3600
    # Every replica deletes expired upload sessions this often (seconds); 0 leaves it to ``appmarket gc``.
    janitor_interval_seconds: float = 600.0
    # GC leaves unreferenced blobs younger than this alone, so an in-flight push never loses one.
    gc_grace_seconds: float = 3600.0
    # HMAC key of registry bearer tokens; empty means a 0600 key file under data_dir made on first start.
    token_key: str = ""
    token_ttl_seconds: int = 300


class InstallerSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Workers that run Helm operations, and the loops that keep clusters and releases honest."""

    # Worker threads per replica; 0 runs no operations here (an API-only replica).
    workers: int = 4
    # Default helm --timeout of one operation, in seconds.
    operation_timeout: int = 300
    # Probe every cluster this often (seconds) to keep reachability and capabilities current.
    health_interval: float = 60.0
    # A running operation writes a heartbeat this often; one silent for ``stale_after`` is reconciled.
    heartbeat_interval: float = 2.0
    stale_after: float = 30.0
    # The helm binary; empty means the one beside this Python (the venv's pinned helm), else helm on PATH.
    helm: str = ""
    # Queue poll interval of idle workers (submissions in this replica wake them at once).
    poll_interval: float = 1.0
    # ``host:port`` of OCI registries served over plain HTTP (helm pulls ``oci://`` charts from them with
    # ``--plain-http``); every other registry is reached over HTTPS. A list: set it in the TOML file.
    plain_http_registries: list[str] = []
    # helm waits forever on a cluster that accepts connections and never answers, so every helm call is
    # bounded: a read (status, history, values, manifest) by ``read_timeout`` seconds, a change by its own
    # --timeout plus ``write_margin``. Past the bound helm is stopped and the cluster counts as unreachable.
    read_timeout: float = 30.0
    write_margin: float = 60.0


class AddonSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The addon rollout controller (appmarket/addons/controller.py)."""

    # Seconds between controller passes over rollouts and addon targets; 0 runs no controller here.
    interval: float = 2.0
    # Seconds between drift checks of each addon (helm reads on every target cluster).
    drift_interval: float = 300.0
    # How long a controller's claim on a rollout or addon holds if its replica dies mid-pass.
    lease_seconds: float = 120.0
    # Seconds an operation of a rollout (a cluster's change, or the undo of a failed one) may run before that
    # cluster is reported failed or unreachable, so a person can resume, skip or abort (a dead cluster can
    # keep helm waiting forever).
    operation_timeout: float = 600.0


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    # Everything the embedded defaults keep on disk lives here.
    data_dir: str = ".appmarket"
    # Empty means SQLite at ``<data_dir>/appmarket.db``.
    database_url: str = ""
    storage: StorageSettings = FilesystemStorage()
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # The externally visible base URL (for absolute links); derived from the request when empty.
    public_url: str = ""
    chart_limits: ChartLimits = ChartLimits()
    oci: OciSettings = OciSettings()
    # How long a replica trusts its cached index before asking the database for the revision.
    index_revalidate_seconds: float = 0.05
    # Run database migrations at start-up (the embedded default); off for managed deployments.
    auto_migrate: bool = True
    # Publish the curated catalog into the ``library`` project at start-up.
    publish_catalog: bool = True
    catalog_dir: str = ""
    # Name of the first admin account, created with a random token on first start.
    admin_username: str = "admin"
    installer: InstallerSettings = InstallerSettings()
    addons: AddonSettings = AddonSettings()
    # Fernet key sealing cluster credentials at rest; empty means <data_dir>/secret.key (made on first start).
    secret_key: str = ""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_path / 'appmarket.db').resolve()}"

    @property
    def storage_root(self) -> Path:
        """Absolute root of the filesystem driver (meaningless for S3)."""
        assert isinstance(self.storage, FilesystemStorage)
        root = Path(self.storage.root)
        return root if root.is_absolute() else (self.data_path / root).resolve()


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in (f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}URL",
                                                       f"{ENV_PREFIX}TOKEN"):
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise Invalid(f"{name}: conflicts with another setting")
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from file, environment and explicit overrides; raise ``Invalid`` on errors."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    path = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise Invalid(f"cannot read settings file {path}: {exc}") from exc
    raw = _merge(raw, _env_overrides(env))
    raw = _merge(raw, overrides)
    if isinstance(raw.get("storage"), dict) and "driver" not in raw["storage"]:
        raw["storage"] = {"driver": "filesystem", **raw["storage"]}
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise Invalid(f"invalid settings: {exc}") from exc
