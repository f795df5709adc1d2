"""Shared plumbing of the registry services: repository → project, permissions, blob links."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import ColumnElement, bindparam, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from appmarket.auth.permissions import Action
from appmarket.auth.schemas import Principal
from appmarket.auth.service import AuthService
from appmarket.db.engine import Database
from appmarket.db.models import Blob, OciManifest, OciRepoBlob, Project, utcnow
from appmarket.errors import NotFound
from appmarket.repo.oci import codes
from appmarket.repo.oci.reference import check_name
from appmarket.storage.base import BlobStore

PROJECT_TTL = 1.0
# SQLite has one writer at a time, and a writer that finds the lock taken polls for it, sleeping 1, 2, 5,
# 10 ms...; helm uploads a chart's blobs concurrently, so its two sessions often collide. Queuing this
# process's registry writers on a lock first wakes each one as soon as the previous commits.
_SQLITE_WRITER = threading.RLock()


class RegistryBase:
    """What every registry service needs: the database, the store and the permission check."""

    def __init__(self, db: Database, store: BlobStore, auth: AuthService) -> None:
        self._db = db
        self._store = store
        self._auth = auth
        self._projects: dict[str, tuple[float, Project]] = {}

    def _queued(self) -> contextlib.AbstractContextManager[object]:
        """Hold this around a write transaction to queue behind this process's other registry writers."""
        return _SQLITE_WRITER if self._db.is_sqlite else contextlib.nullcontext()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """``Database.write``, queued (on SQLite) behind this process's other registry writers."""
        with self._queued(), self._db.write() as s:
            yield s

    def project_for(self, principal: Principal, repository: str, action: Action) -> Project:
        """Check the name, find its project (first component) and require ``action`` there.

        Pulls (the hot path) trust a project row for ``PROJECT_TTL`` seconds, so a visibility change or
        a deleted project is seen by every replica within that time; writes always read it afresh.
        """
        project_name, _ = check_name(repository)
        now = time.monotonic()
        hit = self._projects.get(project_name) if action == Action.PULL else None
        if hit is not None and hit[0] > now:
            project = hit[1]
        else:
            with self._db.read() as s:
                found = s.exec(_PROJECT_BY_NAME, params={"name": project_name}).first()
            if found is None:
                self._projects.pop(project_name, None)
                raise NotFound(f"project {project_name!r} does not exist", code=codes.NAME_UNKNOWN)
            project = found
            if len(self._projects) > 10_000:
                self._projects.clear()
            self._projects[project_name] = (now + PROJECT_TTL, project)
        self._auth.require(principal, project, action)
        return project

    def actions_in(self, principal: Principal, project: Project) -> frozenset[Action]:
        return self._auth.project_actions(principal, project)


def _linked(digest: Mapped[str]) -> ColumnElement[bool]:
    """``digest`` is linked into the ``repository`` parameter, as a blob or as a manifest."""
    as_blob = select(OciRepoBlob.id).where(OciRepoBlob.repository == bindparam("repository"),
                                           OciRepoBlob.digest == digest)
    as_manifest = select(OciManifest.id).where(OciManifest.repository == bindparam("repository"),
                                               OciManifest.digest == digest)
    return or_(as_blob.exists(), as_manifest.exists())


# Built once with bound parameters: on the push path, building a statement costs more than running it.
_PROJECT_BY_NAME = select(Project).where(Project.name == bindparam("name"))
_BLOB_IN_REPOSITORY = select(Blob).where(Blob.digest == bindparam("digest"), _linked(col(Blob.digest)))
_LINKED_DIGESTS = select(Blob.digest).where(col(Blob.digest).in_(bindparam("digests", expanding=True)),
                                            _linked(col(Blob.digest)))


def blob_in_repository(s: Session, repository: str, digest: str) -> Blob | None:
    """The blob row when ``digest`` is linked into ``repository`` (as a blob or a manifest): one query."""
    return s.exec(_BLOB_IN_REPOSITORY, params={"digest": digest, "repository": repository}).first()


def linked_digests(s: Session, repository: str, digests: list[str]) -> set[str]:
    """Which of ``digests`` have a blob row and are linked into ``repository``: one query for a manifest."""
    if not digests:
        return set()
    return set(s.exec(_LINKED_DIGESTS, params={"digests": sorted(set(digests)), "repository": repository}).all())


_BLOB = Blob.__table__  # type: ignore[attr-defined]  # sqlmodel does not type __table__
_LINK = {"postgresql": postgresql.insert(OciRepoBlob).on_conflict_do_nothing(),
         "sqlite": sqlite.insert(OciRepoBlob).on_conflict_do_nothing()}
_TOUCH = (update(_BLOB).where(_BLOB.c.digest.in_(bindparam("digests", expanding=True)))
          .values(created_at=bindparam("now")).returning(_BLOB.c.digest))
# An UPDATE of many rows locks them in scan order, which differs between transactions (updated rows move):
# manifests sharing layers would deadlock. Taking the locks first, sorted, gives every transaction one order.
_LOCK_SORTED = (select(_BLOB.c.digest).where(_BLOB.c.digest.in_(bindparam("digests", expanding=True)))
                .order_by(_BLOB.c.digest).with_for_update())


def link_blob(s: Session, project_id: int, repository: str, digest: str) -> None:
    """Link a blob into a repository (idempotent under races)."""
    dialect = "postgresql" if s.get_bind().dialect.name == "postgresql" else "sqlite"
    s.connection().execute(_LINK[dialect], {
        "project_id": project_id, "repository": repository, "digest": digest, "created_at": utcnow()})


def touch_blobs(s: Session, digests: list[str]) -> list[str]:
    """Refresh ``created_at`` of blob rows the caller is about to rely on; return those with no row.

    One conditional UPDATE inside the caller's write transaction. On PostgreSQL it locks the rows until
    commit; on SQLite the transaction holds the write lock. Either GC's conditional delete of a row ran
    first (the row is gone: the caller refuses) or it runs after and finds the row young (kept).
    """
    wanted = sorted(set(digests))
    if not wanted:
        return []
    conn = s.connection()
    if len(wanted) > 1 and conn.dialect.name == "postgresql":
        conn.execute(_LOCK_SORTED, {"digests": wanted})
    found = set(conn.execute(_TOUCH, {"digests": wanted, "now": utcnow()}).scalars())
    return [d for d in wanted if d not in found]


def aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
