"""Durable operations: submission, claiming, heartbeats, events and completion, all in the database.

At most one operation runs per release: a worker claims the oldest queued operation of a release only
while holding that release's row lock and only if the release has no active operation, then records
itself as the active one in the same transaction. PostgreSQL replicas use ``FOR UPDATE SKIP LOCKED``
so workers never wait on each other; SQLite serialises the claim with its write lock (``BEGIN
IMMEDIATE``), where ``with_for_update`` renders as nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from appmarket.db.engine import Database
from appmarket.db.installer import Operation, OperationEvent, Release
from appmarket.db.models import utcnow
from appmarket.errors import Conflict, NotFound
from appmarket.installer.schemas import EventOut, OperationOut, ReleaseOut

ACTIVE = ("queued", "running")
FINAL = ("succeeded", "failed", "cancelled")
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


def release_out(r: Release, stuck: bool = False) -> ReleaseOut:
    return ReleaseOut(cluster=r.cluster, namespace=r.namespace, name=r.name, chart=r.chart_ref, repo=r.repo,
                      version=r.chart_version, revision=r.revision, status=r.status, description=r.description,
                      updated_at=r.updated_at, active_operation_id=r.active_operation_id,
                      stuck=stuck or (r.status in PENDING and r.active_operation_id is None))


def operation_out(op: Operation, rel: Release, events: list[OperationEvent] | None = None,
                  with_output: bool = False) -> OperationOut:
    return OperationOut(
        id=op.id or 0, kind=op.kind, state=op.state, cluster=rel.cluster, namespace=rel.namespace, release=rel.name,
        requested_by=op.requested_by, params=op.params, audit=op.audit, message=op.message,
        revision_before=op.revision_before, revision_after=op.revision_after, created_at=op.created_at,
        started_at=op.started_at, finished_at=op.finished_at,
        events=None if events is None else [EventOut(id=e.id or 0, at=e.at, kind=e.kind, message=e.message)
                                            for e in events],
        helm_output=op.helm_output if with_output else None)


class OperationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- submission -----------------------------------------------------------------------------------

    def release_row(self, cluster: str, namespace: str, name: str) -> Release | None:
        with self.db.read() as s:
            return _release(s, cluster, namespace, name)

    def replay(self, requested_by: str, idempotency_key: str, digest: str) -> tuple[Operation, Release] | None:
        """The operation an earlier submission with this key made, if any; 409 if that request differed."""
        with self.db.read() as s:
            return _keyed(s, f"{requested_by}:{idempotency_key}"[:128], digest)

    def submit(self, cluster: str, namespace: str, name: str, kind: str, params: dict[str, Any],
               audit: dict[str, Any], requested_by: str, idempotency_key: str | None = None,
               refuse_if_busy: bool = False, digest: str = "") -> tuple[Operation, Release, bool]:
        """Queue an operation; returns (operation, release, created). A known idempotency key returns the
        operation it made before, whatever its state, if ``digest`` (of the request) is the same."""
        key = f"{requested_by}:{idempotency_key}"[:128] if idempotency_key else None
        if digest:
            audit = {**audit, "request_digest": digest}
        for attempt in range(2):
            try:
                with self.db.write() as s:
                    if key is not None and (found := _keyed(s, key, digest)) is not None:
                        return found[0], found[1], False
                    rel = _release(s, cluster, namespace, name, lock=True)
                    if rel is None:
                        rel = Release(cluster=cluster, namespace=namespace, name=name)
                        s.add(rel)
                        s.flush()
                    if refuse_if_busy and self._busy(s, rel):
                        raise Conflict(f"release {cluster}/{namespace}/{name} has an operation in progress",
                                       code="operation_in_progress")
                    op = Operation(release_id=rel.id or 0, kind=kind, params=params, audit=audit,
                                   requested_by=requested_by, idempotency_key=key, revision_before=rel.revision)
                    s.add(op)
                    s.flush()
                    s.add(OperationEvent(operation_id=op.id or 0, kind="queued",
                                         message=f"{kind} requested by {requested_by}"))
                    return op, rel, True
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _busy(s: Session, rel: Release) -> bool:
        if rel.active_operation_id is not None:
            return True
        queued = s.exec(select(func.count()).select_from(Operation).where(
            Operation.release_id == rel.id, col(Operation.state).in_(ACTIVE))).one()
        return bool(queued)

    def cancel(self, op_id: int, by: str) -> Operation:
        """Cancel a queued operation at once; ask the worker of a running one to stop its helm."""
        with self.db.write() as s:
            op = s.get(Operation, op_id, with_for_update=True)
            if op is None:
                raise NotFound(f"operation {op_id} not found")
            if op.state == "running":
                op.cancel_requested = True
                s.add(op)
                s.add(OperationEvent(operation_id=op_id, kind="cancelling", message=f"cancel requested by {by}"))
                return op
            if op.state != "queued":
                raise Conflict(f"operation {op_id} is {op.state}; it can no longer be cancelled")
            op.state, op.finished_at, op.message = "cancelled", utcnow(), f"cancelled by {by}"
            s.add(op)
            s.add(OperationEvent(operation_id=op_id, kind="cancelled", message=op.message))
            return op

    # -- workers --------------------------------------------------------------------------------------

    def claim(self, worker: str) -> tuple[Operation, Release] | None:
        """Take the oldest runnable queued operation, marking it running and its release busy.

        An idle worker polls: a read first, so polling takes no write lock (on SQLite, one for the whole
        database) while nothing is queued.
        """
        with self.db.read() as s:
            if s.exec(select(Operation.id).where(Operation.state == "queued").limit(1)).first() is None:
                return None
        earlier = aliased(Operation)
        first_of_release = ~select(earlier.id).where(
            earlier.release_id == Operation.release_id, earlier.state == "queued",
            col(earlier.id) < col(Operation.id)).exists()
        with self.db.write() as s:
            candidates = s.exec(select(Operation).where(Operation.state == "queued", first_of_release)
                                .order_by(col(Operation.id)).limit(16).with_for_update(skip_locked=True)).all()
            for op in candidates:
                rel = s.exec(select(Release).where(Release.id == op.release_id)
                             .with_for_update(skip_locked=True)).first()
                if rel is None or rel.active_operation_id is not None:
                    continue
                now = utcnow()
                op.state, op.worker, op.started_at, op.heartbeat_at = "running", worker, now, now
                op.revision_before = rel.revision
                rel.active_operation_id = op.id
                s.add(op)
                s.add(rel)
                s.add(OperationEvent(operation_id=op.id or 0, kind="running", message=f"started by {worker}"))
                return op, rel
        return None

    def heartbeat(self, op_id: int) -> bool:
        """Record that the operation is alive; True when a cancel was requested."""
        with self.db.write() as s:
            op = s.get(Operation, op_id)
            if op is not None and op.state == "running":
                op.heartbeat_at = utcnow()
                s.add(op)
                return op.cancel_requested
        return False

    def event(self, op_id: int, kind: str, message: str) -> None:
        with self.db.write() as s:
            s.add(OperationEvent(operation_id=op_id, kind=kind, message=message))

    def finish(self, op_id: int, state: str, message: str, *, output: str = "", revision: int | None = None,
               release: dict[str, Any] | None = None, audit: dict[str, Any] | None = None) -> None:
        """Record the outcome, update the release with what helm reported, and free the release."""
        with self.db.write() as s:
            op = s.get(Operation, op_id, with_for_update=True)
            if op is None or op.state in FINAL:
                return
            rel = s.get(Release, op.release_id, with_for_update=True)
            op.state, op.message, op.finished_at, op.revision_after = state, message, utcnow(), revision
            op.helm_output = output[-64_000:]
            if audit:
                op.audit = {**op.audit, **audit}
            s.add(op)
            if rel is not None:
                for field, value in (release or {}).items():
                    setattr(rel, field, value)
                if rel.active_operation_id == op_id:
                    rel.active_operation_id = None
                rel.updated_at = utcnow()
                s.add(rel)
            s.add(OperationEvent(operation_id=op_id, kind=state, message=message))

    def update_release(self, release_id: int, **fields: Any) -> None:
        with self.db.write() as s:
            rel = s.get(Release, release_id)
            if rel is not None:
                for field, value in fields.items():
                    setattr(rel, field, value)
                rel.updated_at = utcnow()
                s.add(rel)

    def stale(self, older_than: dt.datetime) -> list[int]:
        """Running operations whose worker stopped sending heartbeats (a crashed or killed replica)."""
        with self.db.read() as s:
            ids = s.exec(select(Operation.id).where(Operation.state == "running",
                                                    col(Operation.heartbeat_at) < older_than)).all()
        return [i for i in ids if i is not None]

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, op_id: int) -> tuple[Operation, Release]:
        with self.db.read() as s:
            op = s.get(Operation, op_id)
            rel = s.get(Release, op.release_id) if op is not None else None
        if op is None or rel is None:
            raise NotFound(f"operation {op_id} not found")
        return op, rel

    def events(self, op_id: int, after: int = 0) -> list[OperationEvent]:
        with self.db.read() as s:
            return list(s.exec(select(OperationEvent).where(OperationEvent.operation_id == op_id,
                                                            col(OperationEvent.id) > after)
                               .order_by(col(OperationEvent.id))).all())

    def list_operations(self, cluster: str | None = None, namespace: str | None = None, release: str | None = None,
             state: str | None = None, limit: int = 100) -> list[OperationOut]:
        with self.db.read() as s:
            q = select(Operation, Release).join(Release, col(Release.id) == col(Operation.release_id))
            for column, value in ((Release.cluster, cluster), (Release.namespace, namespace),
                                  (Release.name, release), (Operation.state, state)):
                if value:
                    q = q.where(column == value)
            rows = s.exec(q.order_by(col(Operation.id).desc()).limit(limit)).all()
        return [operation_out(op, rel) for op, rel in rows]

    def releases(self, cluster: str, namespace: str | None = None) -> list[Release]:
        with self.db.read() as s:
            q = select(Release).where(Release.cluster == cluster)
            if namespace:
                q = q.where(Release.namespace == namespace)
            return list(s.exec(q.order_by(Release.namespace, Release.name)).all())


def _keyed(s: Session, key: str, digest: str) -> tuple[Operation, Release] | None:
    old = s.exec(select(Operation).where(Operation.idempotency_key == key)).first()
    if old is None:
        return None
    if digest and old.audit.get("request_digest", digest) != digest:
        raise Conflict("this Idempotency-Key was used for a different request; use a new key",
                       code="idempotency_key_reused")
    rel = s.get(Release, old.release_id)
    assert rel is not None
    return old, rel


def _release(s: Session, cluster: str, namespace: str, name: str, lock: bool = False) -> Release | None:
    q = select(Release).where(Release.cluster == cluster, Release.namespace == namespace, Release.name == name)
    if lock:
        q = q.with_for_update()
    return s.exec(q).first()
