"""Garbage collection: delete blobs nothing references, and upload sessions nobody finished.

Mark: every digest a chart version (package, provenance) or a manifest (itself, its config, layers and
child manifests) references. Sweep: blob rows outside the mark whose ``created_at`` is older than the
grace window, then their objects; objects under ``blobs/`` with no row at all (a crash between the
storage write and the database commit) older than the window. Completing an upload refreshes the row's
``created_at``, so a push in flight (blobs uploaded, manifest not yet put) never loses a blob.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

import msgspec
from sqlmodel import Session, col, delete, select

from appmarket.db.engine import Database
from appmarket.db.models import Blob, ChartVersion, OciManifest, OciManifestRef, OciRepoBlob, OciUpload, utcnow
from appmarket.repo import paths
from appmarket.repo.oci.access import aware
from appmarket.repo.oci.uploads import UploadService
from appmarket.storage.base import BlobStore, ObjectNotFound

log = logging.getLogger(__name__)


class GcReport(msgspec.Struct, frozen=True):
    blobs_deleted: int
    bytes_freed: int
    uploads_expired: int
    orphans_deleted: int


def _digest_from_key(key: str) -> str | None:
    parts = key.split("/")
    if len(parts) == 4 and parts[0] + "/" == paths.BLOBS_PREFIX:
        return f"{parts[1]}:{parts[3]}"
    return None


def _referenced(s: Session, digest: str) -> bool:
    return any(s.exec(select(column).where(column == digest).limit(1)).first() is not None
               for column in (col(OciManifestRef.digest), col(OciManifest.digest), col(ChartVersion.digest),
                              col(ChartVersion.prov_digest)))


def collect(db: Database, store: BlobStore, uploads: UploadService, *, grace_seconds: float,
            upload_expiry_seconds: float) -> GcReport:
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=grace_seconds)
    expired = 0
    with db.read() as s:
        stale = s.exec(select(OciUpload.id).where(
            col(OciUpload.updated_at) < now - dt.timedelta(seconds=upload_expiry_seconds))).all()
    for upload_id in stale:
        uploads.discard(upload_id)
        expired += 1
    with db.read() as s:
        marked: set[str] = set(s.exec(select(ChartVersion.digest)).all())
        marked |= {d for d in s.exec(select(ChartVersion.prov_digest)).all() if d}
        marked |= set(s.exec(select(OciManifest.digest)).all())
        marked |= set(s.exec(select(OciManifestRef.digest)).all())
        candidates = [b for b in s.exec(select(Blob)).all() if b.digest not in marked and aware(b.created_at) < cutoff]
        known = set(s.exec(select(Blob.digest)).all())
    deleted, freed = 0, 0
    for blob in candidates:
        with db.write() as s:
            # Re-check inside the transaction: a manifest committed since the mark keeps its blob.
            if _referenced(s, blob.digest):
                continue
            row = s.get(Blob, blob.digest)
            if row is None or aware(row.created_at) >= cutoff:
                continue
            s.delete(row)
            s.exec(delete(OciRepoBlob).where(col(OciRepoBlob.digest) == blob.digest))
        with contextlib.suppress(ObjectNotFound):
            store.delete(paths.blob_key(blob.digest))
        deleted += 1
        freed += blob.size
    orphans = 0
    for info in list(store.list(paths.BLOBS_PREFIX)):
        digest = _digest_from_key(info.key)
        if digest is None or digest in known or digest in marked or aware(info.modified) >= cutoff:
            continue
        with db.read() as s:
            if s.get(Blob, digest) is not None:
                continue
        with contextlib.suppress(ObjectNotFound):
            store.delete(info.key)
        orphans += 1
        freed += info.size
    log.info("gc: %d blobs and %d orphans deleted, %d bytes freed, %d uploads expired",
             deleted, orphans, freed, expired)
    return GcReport(blobs_deleted=deleted, bytes_freed=freed, uploads_expired=expired, orphans_deleted=orphans)
