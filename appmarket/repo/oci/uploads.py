"""Blob upload sessions (monolithic, POST+PUT, chunked PATCH) whose state lives in the database.

Bytes go to a resumable storage writer at ``paths.upload_key(id)`` as they arrive, so a chunk may land
on any replica. Each process keeps a running sha256 per upload as an optimisation; when it is missing
(another replica took a chunk, or a restart) completion re-reads the staged bytes to verify the digest.
A digest mismatch stores nothing: the staged bytes are discarded and no blob is recorded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
import threading
from typing import Any

from sqlalchemy import bindparam, insert
from sqlmodel import Session, col, delete, select

from appmarket.auth.permissions import Action
from appmarket.auth.schemas import Principal
from appmarket.db.models import OciUpload, utcnow
from appmarket.db.queries import record_blob
from appmarket.errors import AppMarketError, Invalid, NotFound
from appmarket.repo import paths
from appmarket.repo.oci import codes
from appmarket.repo.oci.access import RegistryBase, aware, blob_in_repository, link_blob, touch_blobs
from appmarket.repo.oci.reference import check_digest
from appmarket.storage.base import ObjectNotFound, Writer

_MAX_HASHERS = 10_000


class UploadState:
    """Where an upload stands, for ``Location``/``Range`` headers."""

    def __init__(self, upload_id: str, size: int) -> None:
        self.id = upload_id
        self.size = size


class UploadSink:
    """One request's bytes into one upload: write + hash, then ``finish`` (or ``abort``)."""

    def __init__(self, owner: UploadService, row: OciUpload, writer: Writer, hasher: Any) -> None:
        self._owner, self._row, self._writer, self._hasher = owner, row, writer, hasher

    def write(self, data: bytes) -> None:
        self.store(data)
        self.hash(data)

    def store(self, data: bytes) -> None:
        """Write only; with ``hash`` on another thread the two overlap (both release the GIL)."""
        self._writer.write(data)

    def hash(self, data: bytes) -> None:
        if self._hasher is not None:
            self._hasher.update(data)

    def finish(self) -> UploadState:
        self._writer.close()
        size = self._writer.size
        self._owner.remember(self._row.id, self._hasher, size)
        with self._owner.writing() as s:
            row = s.get(OciUpload, self._row.id)
            if row is None:
                raise NotFound("upload was cancelled meanwhile", code=codes.BLOB_UPLOAD_UNKNOWN)
            row.size, row.updated_at = size, utcnow()
            s.add(row)
        return UploadState(self._row.id, size)

    def abort(self) -> None:
        """Keep what reached storage (the status tells the client where to resume); forget the hash."""
        with contextlib.suppress(Exception):
            self._writer.close()
        self._owner.remember(self._row.id, None, -1)


class UploadService(RegistryBase):
    _hashers: dict[str, tuple[Any, int]]

    def __init__(self, *args: Any, expiry_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hashers = {}
        self._lock = threading.Lock()
        self._expiry = dt.timedelta(seconds=expiry_seconds)

    def writing(self) -> contextlib.AbstractContextManager[Session]:
        return self._write()

    def remember(self, upload_id: str, hasher: Any, size: int) -> None:
        with self._lock:
            if hasher is None:
                self._hashers.pop(upload_id, None)
            else:
                self._hashers.pop(upload_id, None)
                self._hashers[upload_id] = (hasher, size)
                if len(self._hashers) > _MAX_HASHERS:  # abandoned uploads: forget the oldest (re-read later)
                    self._hashers.pop(next(iter(self._hashers)))

    def _hasher_at(self, upload_id: str, size: int) -> Any:
        with self._lock:
            entry = self._hashers.get(upload_id)
        return entry[0] if entry is not None and entry[1] == size else None

    # -- sessions -------------------------------------------------------------------------------------

    def start(self, principal: Principal, repository: str) -> UploadState:
        project = self.project_for(principal, repository, Action.PUSH)
        upload_id = secrets.token_urlsafe(24)
        now = utcnow()
        with self._write() as s:
            s.connection().execute(_INSERT, {"id": upload_id, "project_id": project.id, "repository": repository,
                                             "size": 0, "created_at": now, "updated_at": now})
        self.remember(upload_id, hashlib.sha256(), 0)
        return UploadState(upload_id, 0)

    def _row(self, repository: str, upload_id: str) -> OciUpload:
        try:
            paths.upload_key(upload_id)
        except Invalid as exc:
            raise NotFound(f"upload {upload_id!r} unknown", code=codes.BLOB_UPLOAD_UNKNOWN) from exc
        with self._db.read() as s:
            row = s.get(OciUpload, upload_id)
        if row is None or row.repository != repository:
            raise NotFound(f"upload {upload_id!r} unknown", code=codes.BLOB_UPLOAD_UNKNOWN)
        if aware(row.updated_at) < utcnow() - self._expiry:  # abandoned: refused even before the janitor runs
            raise NotFound(f"upload {upload_id!r} expired", code=codes.BLOB_UPLOAD_UNKNOWN)
        return row

    def _writer(self, upload_id: str) -> Writer:
        """The staged bytes of a session whose row was checked; created at the first chunk, not at the
        start, so the common POST + PUT of a small blob (helm, oras) never stages anything."""
        key = paths.upload_key(upload_id)
        try:
            return self._store.writer(key, append=True)
        except ObjectNotFound:
            return self._store.writer(key)

    def status(self, principal: Principal, repository: str, upload_id: str) -> UploadState:
        self.project_for(principal, repository, Action.PUSH)
        self._row(repository, upload_id)
        # Storage holds the truth: a request that died mid-chunk may have left more than the row says.
        return UploadState(upload_id, self._writer(upload_id).size)

    def open_sink(self, principal: Principal, repository: str, upload_id: str,
                  start: int | None = None) -> UploadSink:
        """A sink appending to the upload; ``start`` (from Content-Range) must equal the current size."""
        self.project_for(principal, repository, Action.PUSH)
        row = self._row(repository, upload_id)
        writer = self._writer(upload_id)
        if writer.size != row.size:  # a request died mid-chunk: storage holds the truth
            row.size = writer.size
        if start is not None and start != writer.size:
            writer.close()
            raise Invalid(f"chunk starts at {start}, upload is at {writer.size}", code=codes.RANGE_INVALID)
        return UploadSink(self, row, writer, self._hasher_at(upload_id, writer.size))

    def cancel(self, principal: Principal, repository: str, upload_id: str) -> None:
        self.project_for(principal, repository, Action.PUSH)
        self._row(repository, upload_id)
        self.discard(upload_id)

    def discard(self, upload_id: str) -> None:
        """Drop an upload's staged bytes and row (cancel, digest mismatch, expiry)."""
        self._drop_staged(upload_id)
        with self._write() as s:
            _delete_row(s, upload_id)

    def expire(self, now: dt.datetime | None = None) -> tuple[int, int]:
        """Delete sessions idle past the expiry, then staged bytes no session owns; return both counts.

        A session's row goes first, with a conditional DELETE (a chunk that refreshed it meanwhile keeps
        it), then its bytes; bytes left without a row (a crash between the two, a chunk that landed after
        a cancel, a start that died before its insert) are found in storage by key once they are as old.
        """
        cutoff = (now or utcnow()) - self._expiry
        with self._db.read() as s:
            stale = s.exec(select(OciUpload.id).where(col(OciUpload.updated_at) < cutoff)).all()
        expired = 0
        for upload_id in stale:
            with self._write() as s:
                gone = s.connection().execute(_EXPIRE, {"upload_id": upload_id, "cutoff": cutoff}).rowcount
            if gone:
                self._drop_staged(upload_id)
                expired += 1
        swept: set[str] = set()
        for info in [*self._store.writers(paths.UPLOADS_PREFIX), *self._store.list(paths.UPLOADS_PREFIX)]:
            owner = paths.upload_id_of(info.key)
            if owner is None or owner in swept or aware(info.modified) >= cutoff:
                continue
            with self._db.read() as s:
                if s.get(OciUpload, owner) is not None:
                    continue
            self._drop_staged(owner)
            swept.add(owner)
        return expired, len(swept)

    def _drop_staged(self, upload_id: str) -> None:
        """Forget the running hash and delete the staged bytes (before the row: nothing is left unowned)."""
        self.remember(upload_id, None, -1)
        with contextlib.suppress(ObjectNotFound):
            self._store.writer(paths.upload_key(upload_id), append=True).cancel()
        with contextlib.suppress(ObjectNotFound):
            self._store.delete(paths.upload_key(upload_id))

    # -- completion -----------------------------------------------------------------------------------

    def complete(self, principal: Principal, repository: str, upload_id: str, digest: str) -> int:
        """Verify the staged bytes against ``digest`` and publish them as the blob; return its size."""
        project = self.project_for(principal, repository, Action.PUSH)
        try:
            check_digest(digest)
        except Invalid:
            self._row(repository, upload_id)
            raise
        self._row(repository, upload_id)
        writer = self._writer(upload_id)
        size = writer.size
        algo = digest.partition(":")[0]
        hasher = self._hasher_at(upload_id, size)
        computed = f"{algo}:{hasher.hexdigest()}" if hasher is not None and hasher.name == algo else None
        if computed is not None and computed != digest:
            writer.close()
            self.discard(upload_id)
            raise Invalid(f"content is {computed}, not {digest}", code=codes.DIGEST_INVALID)
        writer.commit()
        staged = paths.upload_key(upload_id)
        if computed is None:
            check = hashlib.new(algo)
            for chunk in self._store.open(staged):
                check.update(chunk)
            if f"{algo}:{check.hexdigest()}" != digest:
                self.discard(upload_id)
                raise Invalid(f"content does not match {digest}", code=codes.DIGEST_INVALID)
        # Record (and so refresh) the blob row before relying on an existing object: GC deletes an object
        # only together with its row, so once the refreshed row is committed an object seen is kept.
        with self._write() as s:
            record_blob(s, digest, size, "application/octet-stream")
        key = paths.blob_key(digest)
        if self._store.exists(key):
            self._store.delete(staged)
        else:
            self._store.move(staged, key)
        assert project.id is not None
        with self._write() as s:
            link_blob(s, project.id, repository, digest)
            _delete_row(s, upload_id)
        self.remember(upload_id, None, -1)
        return size

    def put_small(self, principal: Principal, repository: str, digest: str, data: bytes,
                  upload_id: str | None = None) -> bool:
        """A whole small blob in one call (no staging, no move); False when ``upload_id`` already has
        bytes, so the caller appends them through the normal path instead."""
        project = self.project_for(principal, repository, Action.PUSH)
        check_digest(digest)
        if upload_id is not None and self._row(repository, upload_id).size != 0:
            return False
        algo = digest.partition(":")[0]
        if f"{algo}:{hashlib.new(algo, data).hexdigest()}" != digest:
            if upload_id is not None:
                self.discard(upload_id)
            raise Invalid(f"content does not match {digest}", code=codes.DIGEST_INVALID)
        key = paths.blob_key(digest)
        if not self._store.exists(key):
            self._store.put_bytes(key, data)
        if upload_id is not None:
            self._drop_staged(upload_id)
        assert project.id is not None
        with self._write() as s:  # one transaction: the blob recorded and linked, the session closed
            record_blob(s, digest, len(data), "application/octet-stream")
            if not self._store.exists(key):  # GC took the object between the write above and the upsert
                self._store.put_bytes(key, data)
            link_blob(s, project.id, repository, digest)
            if upload_id is not None:
                _delete_row(s, upload_id)
        return True

    def mount(self, principal: Principal, repository: str, digest: str, source: str) -> bool:
        """Link a blob the caller may pull from ``source`` into ``repository``; False to fall back."""
        project = self.project_for(principal, repository, Action.PUSH)
        try:
            check_digest(digest)
            self.project_for(principal, source, Action.PULL)
        except AppMarketError:  # bad digest, unknown or forbidden source: fall back to an upload (spec)
            return False
        assert project.id is not None
        with self._write() as s:
            # The touch restarts the grace window (the mounting client uploads nothing GC would see) and
            # fails when GC deleted the row first; either way the caller falls back to an upload.
            if blob_in_repository(s, source, digest) is None or touch_blobs(s, [digest]):
                return False
            link_blob(s, project.id, repository, digest)
        return True


_INSERT = insert(OciUpload)
_DELETE = delete(OciUpload).where(col(OciUpload.id) == bindparam("upload_id"))
_EXPIRE = delete(OciUpload).where(col(OciUpload.id) == bindparam("upload_id"),
                                  col(OciUpload.updated_at) < bindparam("cutoff"))


def _delete_row(s: Session, upload_id: str) -> None:
    """One statement, no load: the row may already be gone (a concurrent cancel or expiry)."""
    s.connection().execute(_DELETE, {"upload_id": upload_id})
