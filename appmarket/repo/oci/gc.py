"""Garbage collection: delete blobs nothing references, and upload sessions nobody finished.

Safe while pushes continue, on SQLite and PostgreSQL, without stopping the registry:

- Whoever relies on a blob row refreshes it inside its own write transaction: recording a blob is an
  upsert of ``created_at``; a manifest PUT and a cross-repository mount touch every row they reference
  with a conditional UPDATE and refuse (MANIFEST_BLOB_UNKNOWN, or the mount falls back to an upload)
  when a row is gone. A client that HEADs a blob and skips the upload costs no write: its manifest PUT
  does the touch.
- GC removes one blob at a time: it locks the row (waiting for any transaction that touched it), then
  one conditional DELETE removes it only if it is still unreferenced and older than the grace cutoff,
  and the stored object is deleted only when that DELETE removed the row, before the commit. So either
  a push's transaction committed first (the row is young, or referenced: kept) or GC's did (the row is
  gone: the push is refused, or re-records the bytes it still holds).
- Objects under ``blobs/`` with no row (a crash between a storage write and its commit) are adopted as
  rows dated by their storage time, then go through the same conditional DELETE.

If the commit fails after the object was deleted, the row outlives its bytes until the next run deletes
it; that window is the price of never deleting an object whose row a push could still see.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

import msgspec
from sqlalchemy import ColumnElement, and_, bindparam, exists, insert, not_
from sqlalchemy import delete as sa_delete
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, delete

from appmarket.db.engine import Database
from appmarket.db.models import Blob, ChartVersion, OciManifest, OciManifestRef, OciRepoBlob, utcnow
from appmarket.repo import paths
from appmarket.repo.oci.uploads import UploadService
from appmarket.storage.base import BlobStore, ObjectNotFound

log = logging.getLogger(__name__)


class GcReport(msgspec.Struct, frozen=True):
    blobs_deleted: int
    bytes_freed: int
    uploads_expired: int
    orphans_deleted: int
    staged_deleted: int = 0
    """Staged upload bytes no session owned any more."""


_BLOB = Blob.__table__  # type: ignore[attr-defined]  # sqlmodel does not type __table__


def _collectable() -> ColumnElement[bool]:
    """Older than the ``cutoff`` parameter and referenced by no manifest, manifest ref or chart version."""
    unreferenced = [not_(exists().where(column == _BLOB.c.digest)) for column in (
        col(OciManifestRef.digest), col(OciManifest.digest), col(ChartVersion.digest), col(ChartVersion.prov_digest))]
    return and_(_BLOB.c.created_at < bindparam("cutoff"), *unreferenced)


_CANDIDATES = sa_select(_BLOB.c.digest).where(_collectable()).order_by(_BLOB.c.digest)
_LOCK = sa_select(_BLOB.c.digest).where(_BLOB.c.digest == bindparam("digest")).with_for_update()
_DELETE = (sa_delete(_BLOB).where(_BLOB.c.digest == bindparam("digest"), _collectable())
           .returning(_BLOB.c.size))
_ADOPT = {name: dialect.insert(_BLOB).on_conflict_do_nothing() for name, dialect in
          (("postgresql", postgresql), ("sqlite", sqlite))}


def _adopt_orphans(db: Database, store: BlobStore, cutoff: dt.datetime) -> set[str]:
    """Rows for old objects under ``blobs/`` that have none, dated by their storage time."""
    with db.read() as s:
        known = set(s.connection().execute(sa_select(_BLOB.c.digest)).scalars())
    adopted: set[str] = set()
    for info in store.list(paths.BLOBS_PREFIX):
        digest = paths.digest_of_key(info.key)
        if digest is None or digest in known or info.modified >= cutoff:
            continue
        with db.write() as s:
            stmt = _ADOPT.get(s.get_bind().dialect.name, insert(_BLOB))
            values = {"digest": digest, "size": info.size, "media_type": "application/octet-stream",
                      "created_at": info.modified}
            if s.connection().execute(stmt, values).rowcount:
                adopted.add(digest)
    return adopted


def _collect_one(db: Database, store: BlobStore, digest: str, cutoff: dt.datetime) -> int | None:
    """Delete one blob if it is still collectable; its size, or None when it was kept."""
    with db.write() as s:
        conn = s.connection()
        # PostgreSQL: wait for transactions that touched the row; the DELETE's snapshot then sees them.
        if conn.execute(_LOCK, {"digest": digest}).first() is None:
            return None
        size = conn.execute(_DELETE, {"digest": digest, "cutoff": cutoff}).scalar()
        if size is None:
            return None
        s.exec(delete(OciRepoBlob).where(col(OciRepoBlob.digest) == digest))
        with contextlib.suppress(ObjectNotFound):
            store.delete(paths.blob_key(digest))  # before the commit: nobody can see the row meanwhile
    return int(size)


def collect(db: Database, store: BlobStore, uploads: UploadService, *, grace_seconds: float,
            now: dt.datetime | None = None) -> GcReport:
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=grace_seconds)
    expired, staged = uploads.expire(now)
    adopted = _adopt_orphans(db, store, cutoff)
    with db.read() as s:
        candidates = list(s.connection().execute(_CANDIDATES, {"cutoff": cutoff}).scalars())
    deleted, orphans, freed = 0, 0, 0
    for digest in candidates:
        size = _collect_one(db, store, digest, cutoff)
        if size is None:
            continue
        freed += size
        if digest in adopted:
            orphans += 1
        else:
            deleted += 1
    log.info("gc: %d blobs and %d orphans deleted, %d bytes freed, %d uploads expired, %d staged uploads swept",
             deleted, orphans, freed, expired, staged)
    return GcReport(blobs_deleted=deleted, bytes_freed=freed, uploads_expired=expired, orphans_deleted=orphans,
                    staged_deleted=staged)
