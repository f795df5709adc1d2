"""The registry's service bundle, built once by ``services.build_services``."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from appmarket.auth.service import AuthService
from appmarket.db.engine import Database
from appmarket.repo import paths
from appmarket.repo.charts import ChartService
from appmarket.repo.oci.gc import GcReport, collect
from appmarket.repo.oci.helm import ChartEvents
from appmarket.repo.oci.janitor import UploadJanitor
from appmarket.repo.oci.manifests import ManifestService
from appmarket.repo.oci.uploads import UploadService
from appmarket.settings import S3Storage, Settings
from appmarket.storage.base import BlobStore

KEY_FILE = "registry-token.key"


def load_token_key(data_dir: Path, configured: str) -> bytes:
    """The HMAC key for registry tokens: the setting, else a 0600 file created on first start."""
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


@dataclass
class Registry:
    uploads: UploadService
    manifests: ManifestService
    token_key: bytes
    settings: Settings
    db: Database
    store: BlobStore
    janitor: UploadJanitor

    @property
    def presign(self) -> bool:
        return isinstance(self.settings.storage, S3Storage) and self.settings.storage.presign_downloads

    @property
    def presign_expiry(self) -> int:
        return self.settings.storage.presign_expiry if isinstance(self.settings.storage, S3Storage) else 300

    @staticmethod
    def blob_key(digest: str) -> str:
        return paths.blob_key(digest)

    def gc(self, grace_seconds: float | None = None, now: dt.datetime | None = None) -> GcReport:
        """Expire uploads, then delete unreferenced blobs older than the grace window (``now``: for tests)."""
        grace = self.settings.oci.gc_grace_seconds if grace_seconds is None else grace_seconds
        return collect(self.db, self.store, self.uploads, grace_seconds=grace, now=now)


def build_registry(settings: Settings, db: Database, store: BlobStore, auth: AuthService,
                   charts: ChartService) -> Registry:
    charts.events = ChartEvents(store)
    uploads = UploadService(db, store, auth, expiry_seconds=settings.oci.upload_expiry_seconds)
    return Registry(
        uploads=uploads,
        manifests=ManifestService(db, store, auth, charts=charts, limits=settings.chart_limits, oci=settings.oci),
        token_key=load_token_key(settings.data_path, settings.oci.token_key),
        settings=settings, db=db, store=store,
        janitor=UploadJanitor(uploads, settings.oci.janitor_interval_seconds),
    )
