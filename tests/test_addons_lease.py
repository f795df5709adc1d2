"""Several replicas: a rollout is worked on by one controller at a time (SQLite and PostgreSQL), and one
that died holding leases is taken over once they expire on the controller's clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from appmarket.addons.controller import Controller
from appmarket.addons.schemas import AddonSpec, Strategy
from appmarket.addons.store import AddonStore, PlannedTarget
from appmarket.addons.targets import TargetRunner
from appmarket.db.addons import Addon, Rollout, RolloutTarget
from appmarket.services import Services, build_services
from appmarket.settings import Settings
from tests.addons_helpers import T0, Env, env  # noqa: F401 - fixtures
from tests.addons_helpers import spec as addon_spec


@pytest.fixture
def replicas(settings: Settings, admin_token: str) -> Iterator[list[Services]]:
    built = [build_services(settings) for _ in range(2)]  # two engines over one database, as two replicas
    yield built
    for services in built:
        services.close()


def make_rollout(services: Services, clusters: list[str]) -> int:
    spec = AddonSpec(name="agent", chart="library/demo", version="0.1.0")
    store = services.addons.store
    with store.db.write() as s:
        addon = Addon(name="agent", spec={"name": "agent", "chart": "library/demo", "version": "0.1.0"},
                      members=clusters)
        s.add(addon)
        s.flush()
        targets = [PlannedTarget(c, 0, {}, "") for c in clusters]
        rollout = store.create_rollout(s, addon, "rollout", {"name": spec.name, "chart": spec.chart,
                                                             "version": spec.version}, [("all", 0)], targets,
                                       "admin", "test")
        s.flush()
        return rollout.id or 0


def test_lease_claimed_by_one_replica_at_a_time(replicas: list[Services]) -> None:
    a, b = (r.addons.store for r in replicas)
    rid = make_rollout(replicas[0], [])
    barrier = threading.Barrier(8)
    won: list[str] = []

    def claim(owner: str) -> None:
        barrier.wait()
        if (a if owner.endswith(("0", "2", "4", "6")) else b).claim(Rollout, rid, owner, 60):
            won.append(owner)

    threads = [threading.Thread(target=claim, args=(f"replica-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert a.claim(Rollout, rid, won[0], 60)  # the holder renews
    assert not b.claim(Rollout, rid, "other", 60)
    b.release(Rollout, rid, won[0])
    assert b.claim(Rollout, rid, "other", -1)  # taken, but already expired (a replica that died)
    assert a.claim(Rollout, rid, "third", 60)


def test_concurrent_ticks_step_a_rollout_once(replicas: list[Services]) -> None:
    rid = make_rollout(replicas[0], ["ghost-1", "ghost-2"])  # clusters that are not registered
    barrier = threading.Barrier(2)

    def tick(services: Services) -> None:
        barrier.wait()
        services.addons.controller.tick(T0)

    threads = [threading.Thread(target=tick, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for services in replicas:
        services.addons.controller.tick(T0)
    out = replicas[1].addons.store.rollout_out(rid, with_events=True)
    assert out.state == "halted"
    assert {t.state for t in out.waves[0].targets} == {"failed"}
    assert "no longer registered" in out.waves[0].targets[0].message
    actions = [e.action for e in out.events or []]
    assert actions.count("wave-started") == 1 and actions.count("halted") == 1, actions


class _DeadStore(AddonStore):
    """The store of a replica that died mid-tick: whatever it had claimed is never released."""

    def release(self, table: type[Rollout] | type[Addon], row_id: int, owner: str) -> None:
        return None


class _DyingRunner(TargetRunner):
    """Dies (the whole process, as far as the tick knows) once c2's intent is recorded, before submitting."""

    def _submit(self, r: Rollout, spec: AddonSpec, t: RolloutTarget, action: str) -> None:
        if t.cluster == "c2":
            raise SystemExit("replica killed")
        super()._submit(r, spec, t, action)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_replica_dead_mid_tick_is_taken_over_after_lease_seconds(env: Env) -> None:  # noqa: F811
    for name in ("c1", "c2", "c3"):
        env.add_cluster(name, {})
    env.apply(addon_spec(strategy=Strategy(max_parallel=3, health_timeout=5)))
    services = env.services
    dead_store = _DeadStore(services.addons.store.db)
    dying = Controller(dead_store, _DyingRunner(dead_store, services.releases, services.clusters),
                       env.settings.addons, env.clock)
    with pytest.raises(SystemExit):
        dying.tick(env.clock.now)
    dying.pool.shutdown(wait=True)  # what it had set going has happened; nothing more will
    targets = {t.cluster: t for t in env.latest().waves[0].targets}
    assert {c: t.state for c, t in targets.items()} == {"c1": "queued", "c2": "queued", "c3": "queued"}
    assert targets["c2"].operation_id is None and env.operations("c2") == []
    events = len(env.latest().events or [])

    survivor = services.addons.controller  # another replica
    env.clock.advance(env.settings.addons.lease_seconds - 1)
    survivor.tick(env.clock.now)
    assert env.latest().waves[0].targets[1].operation_id is None  # still the dead replica's lease
    assert len(env.latest().events or []) == events
    env.clock.advance(2)
    env.until(lambda: env.state() == "succeeded")
    for name in ("c1", "c2", "c3"):
        assert env.operations(name) == ["install"]  # no duplicates: the intent was found again
        assert env.release(name) == ("deployed", "0.1.0", 1)
