"""Small statements several services share, written once with the dialect details they need."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, update
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


def _upsert_blob(insert: Any) -> Any:
    stmt = insert(Blob).values(digest=bindparam("digest"), size=bindparam("size"),
                               media_type=bindparam("media_type"), created_at=bindparam("now"))
    return stmt.on_conflict_do_update(index_elements=["digest"], set_={"created_at": stmt.excluded.created_at})


_UPSERT_BLOB = {"postgresql": _upsert_blob(postgresql.insert), "sqlite": _upsert_blob(sqlite.insert)}


def record_blob(s: Session, digest: str, size: int, media_type: str) -> None:
    """Insert the blob row, or refresh its ``created_at`` when it exists: one upsert.

    Two uploads of the same bytes may race; and whoever records a blob restarts GC's grace window for it
    and, on PostgreSQL, holds the row lock until commit, so GC's conditional delete cannot take the row
    from under the transaction (see ``repo/oci/gc.py``).
    """
    dialect = s.get_bind().dialect.name
    if dialect in _UPSERT_BLOB:
        s.connection().execute(_UPSERT_BLOB[dialect], {"digest": digest, "size": size, "media_type": media_type,
                                                       "now": utcnow()})
        return
    row = s.get(Blob, digest)
    if row is None:
        s.add(Blob(digest=digest, size=size, media_type=media_type, created_at=utcnow()))
    else:
        row.created_at = utcnow()
        s.add(row)
