"""Operation store and reconciliation without helm: claiming rules on both databases, restart outcomes."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from appmarket.db.engine import Database, make_engine
from appmarket.db.installer import Operation
from appmarket.db.models import utcnow
from appmarket.errors import Conflict
from appmarket.installer.executor import Executor
from appmarket.installer.operations import OperationStore


class StubClusters:
    def kubeconfig(self, name: str) -> dict[str, Any]:
        return {"users": [{"user": {"token": "t"}}]}


class StubHelm:
    def __init__(self) -> None:
        self.history_items: list[dict[str, Any]] = []

    async def history(self, kc: Path, name: str, namespace: str) -> list[dict[str, Any]]:
        return self.history_items

    async def values(self, kc: Path, name: str, namespace: str, *, revision: int | None = None) -> dict[str, Any]:
        return {"set-in": f"revision {revision}"}


@pytest.fixture
def store(database_url: str) -> Any:
    db = Database(make_engine(database_url))
    yield OperationStore(db)
    db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the database-wide write lock is SQLite's
def test_an_idle_claim_takes_no_write_lock(database_url: str) -> None:
    """Idle workers poll every second: with nothing queued they must not queue on SQLite's write lock."""
    db = Database(make_engine(database_url))
    store = OperationStore(db)
    try:
        with db.write() as holder:  # another writer holds BEGIN IMMEDIATE
            holder.exec(select(Operation).limit(1)).all()
            done = threading.Event()
            threading.Thread(target=lambda: (store.claim("w0"), done.set()), daemon=True).start()
            assert done.wait(5), "an idle claim waited for the write lock"
    finally:
        db.dispose()


def test_claims_one_operation_per_release_in_order(store: OperationStore) -> None:
    a1, _, _ = store.submit("c", "ns", "a", "install", {}, {}, "u")
    a2, _, _ = store.submit("c", "ns", "a", "upgrade", {}, {}, "u")
    b1, _, _ = store.submit("c", "ns", "b", "install", {}, {}, "u")
    first = store.claim("w1")
    second = store.claim("w2")
    assert first is not None and second is not None
    assert {first[0].id, second[0].id} == {a1.id, b1.id}  # a2 waits behind a1, b1 runs beside it
    assert store.claim("w3") is None
    store.finish(a1.id or 0, "succeeded", "ok", revision=1, release={"revision": 1, "status": "deployed"})
    third = store.claim("w3")
    assert third is not None and third[0].id == a2.id and third[0].revision_before == 1
    # Idempotency: the same key returns the first operation.
    k1, _, created = store.submit("c", "ns", "k", "install", {}, {}, "u", idempotency_key="key")
    k2, _, created2 = store.submit("c", "ns", "k", "install", {}, {}, "u", idempotency_key="key")
    assert k1.id == k2.id and created and not created2
    d1, _, _ = store.submit("c", "ns", "d", "install", {}, {}, "u", idempotency_key="dk", digest="aaa")
    assert store.submit("c", "ns", "d", "install", {}, {}, "u", idempotency_key="dk", digest="aaa")[0].id == d1.id
    with pytest.raises(Conflict) as info:
        store.submit("c", "ns", "d", "install", {}, {}, "u", idempotency_key="dk", digest="bbb")
    assert info.value.code == "idempotency_key_reused"
    assert store.submit("c", "ns", "d", "install", {}, {}, "v", idempotency_key="dk", digest="bbb")[2]  # another user


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("kind", "history", "age", "outcome"), [
    ("upgrade", [{"revision": 1, "status": "superseded"}, {"revision": 2, "status": "deployed"}], 0, "succeeded"),
    ("upgrade", [{"revision": 1, "status": "deployed"}, {"revision": 2, "status": "pending-upgrade"}], 5, "waiting"),
    ("upgrade", [{"revision": 1, "status": "deployed"}, {"revision": 2, "status": "pending-upgrade"}], 900, "failed"),
    ("upgrade", [{"revision": 1, "status": "deployed"}, {"revision": 2, "status": "failed"}], 0, "failed"),
    ("install", [], 0, "failed"),
    ("uninstall", [], 0, "succeeded"),
])
def test_reconcile_after_restart(store: OperationStore, kind: str, history: list[dict[str, Any]], age: int,
                                 outcome: str) -> None:
    helm = StubHelm()
    ex = Executor(store, StubClusters(), helm, None, operation_timeout=60)  # type: ignore[arg-type]
    op, _, _ = store.submit("c", "ns", "r", kind, {"chart": "p/c"}, {}, "u")
    store.claim("dead-worker")
    updated = (utcnow() - dt.timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
    helm.history_items = [{**h, "updated": updated, "chart": "c-1.0.0"} for h in history]
    with store.db.write() as s:
        row = s.get(Operation, op.id)
        assert row is not None
        row.heartbeat_at = utcnow() - dt.timedelta(minutes=5)
        s.add(row)
    assert store.stale(utcnow() - dt.timedelta(seconds=30)) == [op.id]
    assert ex.reconcile(op.id or 0) == outcome
    after, rel = store.get(op.id or 0)
    if outcome == "waiting":
        assert after.state == "running" and store.stale(utcnow() - dt.timedelta(seconds=30)) == []
    else:
        assert after.state == outcome and "reconciled after restart" in after.message
        assert rel.active_operation_id is None
    # A reconciled install or upgrade records the values helm deployed, as a run seen through does.
    assert rel.values == ({"set-in": "revision 2"} if outcome == "succeeded" and kind == "upgrade" else {})
