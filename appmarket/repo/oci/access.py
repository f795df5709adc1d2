"""Shared plumbing of the registry services: repository → project, permissions, blob links."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from appmarket.auth.permissions import Action
from appmarket.auth.schemas import Principal
from appmarket.auth.service import AuthService
from appmarket.db.engine import Database
from appmarket.db.models import Blob, OciManifest, OciRepoBlob, Project, utcnow
from appmarket.db.queries import record_blob
from appmarket.errors import NotFound
from appmarket.repo.oci import codes
from appmarket.repo.oci.reference import check_name
from appmarket.storage.base import BlobStore

PROJECT_TTL = 1.0


class RegistryBase:
    """What every registry service needs: the database, the store and the permission check."""

    def __init__(self, db: Database, store: BlobStore, auth: AuthService) -> None:
        self._db = db
        self._store = store
        self._auth = auth
        self._projects: dict[str, tuple[float, Project]] = {}

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
                found = s.exec(select(Project).where(Project.name == project_name)).first()
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


def blob_in_repository(s: Session, repository: str, digest: str) -> Blob | None:
    """The blob row when ``digest`` is linked into ``repository`` (as a blob or a manifest)."""
    linked = s.exec(select(OciRepoBlob.id).where(OciRepoBlob.repository == repository,
                                                 OciRepoBlob.digest == digest)).first()
    if linked is None:
        linked = s.exec(select(OciManifest.id).where(OciManifest.repository == repository,
                                                     OciManifest.digest == digest)).first()
    return s.get(Blob, digest) if linked is not None else None


def link_blob(s: Session, project_id: int, repository: str, digest: str) -> None:
    """Link a blob into a repository (idempotent under races)."""
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(OciRepoBlob).values(project_id=project_id, repository=repository, digest=digest,
                                      created_at=utcnow())
    s.connection().execute(stmt.on_conflict_do_nothing())


def record_and_touch(s: Session, digest: str, size: int, media_type: str) -> None:
    """Record the blob, refreshing ``created_at`` so GC's grace window covers a re-upload."""
    record_blob(s, digest, size, media_type)
    table = Blob.__table__  # type: ignore[attr-defined]  # sqlmodel does not type __table__
    s.connection().execute(update(table).where(table.c.digest == digest).values(created_at=utcnow()))


def aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
