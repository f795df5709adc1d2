"""Small statements several services share, written once with the dialect details they need."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from appmarket.db.models import Blob, Project, utcnow
from appmarket.errors import NotFound


@dataclass(frozen=True, slots=True)
class ProjectRef:
    """A project's identity and index revision, as read (or just written) in one transaction."""

    id: int
    name: str
    visibility: str
    rev: int
    changed_at: dt.datetime


def bump_index_rev(s: Session, project_id: int | None) -> ProjectRef:
    """Increment the project's index revision as the transaction's first write.

    Being first matters: on PostgreSQL it takes the project's row lock, so concurrent changes to one
    project commit in revision order; on SQLite the transaction already holds the write lock.
    """
    now = utcnow()
    table = Project.__table__  # type: ignore[attr-defined]  # sqlmodel does not type __table__
    stmt = (update(table).where(table.c.id == project_id)
            .values(index_rev=table.c.index_rev + 1, index_changed_at=now)
            .returning(table.c.id, table.c.name, table.c.visibility, table.c.index_rev))
    row = s.connection().execute(stmt).first()
    if row is None:
        raise NotFound("project no longer exists")
    return ProjectRef(id=row[0], name=row[1], visibility=row[2], rev=row[3], changed_at=now)


def record_blob(s: Session, digest: str, size: int, media_type: str) -> None:
    """Insert the blob row unless it exists (two uploads of the same bytes may race)."""
    now = utcnow()
    dialect = s.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(Blob).values(digest=digest, size=size, media_type=media_type, created_at=now)
        s.connection().execute(stmt.on_conflict_do_nothing())
    elif s.get(Blob, digest) is None:
        s.add(Blob(digest=digest, size=size, media_type=media_type, created_at=now))
