"""Which clusters an addon is on: selector and version changed in one apply, uninstalls that wait for a
dead cluster, clusters joining a rollout in flight, and the maintenance window over every kind of change."""

from __future__ import annotations

import datetime as dt

import pytest

from appmarket.addons.schemas import RolloutAction, Strategy, Window
from tests.addons_helpers import Env, env, spec  # noqa: F401 - fixtures

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE
@pytest.mark.parametrize("on_unmatch", ["uninstall", "keep"])
def test_selector_and_version_changed_in_one_apply(env: Env, on_unmatch: str) -> None:  # noqa: F811
    for name, region in (("c1", "bj"), ("c2", "bj"), ("c3", "sh")):
        env.add_cluster(name, {"env": "prod", "region": region})
    env.apply(spec(targets="env=prod", on_unmatch=on_unmatch))
    env.until(lambda: env.state() == "succeeded")
    assert env.members() == ["c1", "c2", "c3"]

    env.apply(spec("0.2.0", targets="env=prod,region=bj", on_unmatch=on_unmatch))
    out = env.latest()
    assert out.kind == "rollout" and sorted(t.cluster for w in out.waves for t in w.targets) == ["c1", "c2"]
    # c3 still runs the addon: with uninstall it stays a member until that is done; kept, it leaves now
    assert env.members() == (["c1", "c2", "c3"] if on_unmatch == "uninstall" else ["c1", "c2"])
    generation = out.id
    env.until(lambda: env.services.addons.store.rollout_out(generation).state == "succeeded")
    for name in ("c1", "c2"):
        assert env.release(name) == ("deployed", "0.2.0", 2)
    if on_unmatch == "uninstall":
        env.until(lambda: env.latest().kind == "targets" and env.state() == "succeeded")
        assert env.targets() == {"c3": "removed"}
        assert env.release("c3")[0] == "uninstalled" and env.deployment("c3") is None
    else:
        for _ in range(3):
            env.tick()
        assert env.latest().id == generation  # nothing else to do
        assert env.release("c3") == ("deployed", "0.1.0", 1)
    assert env.members() == ["c1", "c2"]
    report = env.services.addons.check_drift(env.admin, "agent")
    assert (report.status, report.drift) == ("checked", [])  # c3 is no target: its 0.1.0 is no drift


def _halt_uninstall_on_dead_cluster(env: Env) -> None:  # noqa: F811 - the fixture, passed on
    """c1 and c2 get the addon; then c2 dies and leaves the selector, so its uninstall halts."""
    env.add_cluster("c1", {"env": "prod"})
    env.add_cluster("c2", {"env": "prod"})
    env.apply(spec(targets="env=prod"))
    env.until(lambda: env.state() == "succeeded")
    env.kubes["c2"].go_down()
    env.label("c2", {"env": "dev"})
    env.until(lambda: env.latest().kind == "targets" and env.state() == "halted")


@SQLITE
def test_uninstall_from_a_dead_cluster_keeps_it_a_member_until_done(env: Env) -> None:  # noqa: F811
    _halt_uninstall_on_dead_cluster(env)
    assert env.targets() == {"c2": "unreachable"}
    assert env.members() == ["c1", "c2"]  # halted: the addon is still there
    halted = env.latest().id

    env.apply(spec("0.2.0", targets="env=prod"))  # supersedes the halted uninstall
    assert env.services.addons.store.rollout_out(halted).state == "superseded"
    assert env.members() == ["c1", "c2"]
    env.kubes["c2"].come_up()
    generation = env.latest().id
    env.until(lambda: env.services.addons.store.rollout_out(generation).state == "succeeded")
    assert env.release("c1") == ("deployed", "0.2.0", 2)
    env.until(lambda: env.latest().kind == "targets" and env.state() == "succeeded")  # taken up again
    assert env.targets() == {"c2": "removed"}
    assert env.release("c2")[0] == "uninstalled"
    assert env.members() == ["c1"]


@SQLITE
def test_skipping_an_uninstall_leaves_the_addon_there_for_good(env: Env) -> None:  # noqa: F811
    _halt_uninstall_on_dead_cluster(env)
    env.services.addons.act(env.admin, "agent", "skip", RolloutAction(clusters=["c2"]))
    assert env.members() == ["c1"]  # a person's decision, as on_unmatch: keep
    env.until(lambda: env.state() == "succeeded")
    rollouts = env.rollouts()
    env.kubes["c2"].come_up()
    for _ in range(3):
        env.tick()
    assert env.rollouts() == rollouts  # no new attempt
    assert env.release("c2")[0] == "deployed"


@SQLITE
def test_cluster_registered_during_a_rollout_joins_it(env: Env) -> None:  # noqa: F811
    env.add_cluster("c1", {"env": "prod"})
    env.add_cluster("c2", {"env": "prod"})
    env.apply(spec(targets="env=prod", strategy=Strategy(wave_size=1, approval=True, health_timeout=5)))
    env.tick()
    assert env.state() == "waiting-approval"
    rollout = env.latest().id

    env.add_cluster("c3", {"env": "prod"})
    env.tick()
    out = env.latest()
    assert out.id == rollout and len(env.rollouts()) == 1  # no rollout of its own
    assert [[t.cluster for t in w.targets] for w in out.waves] == [["c1"], ["c2", "c3"]]  # the last unstarted wave
    assert env.targets()["c3"] == "pending" and env.operations("c3") == []
    assert env.members() == ["c1", "c2", "c3"]
    assert any(e.action == "joined" and "c3" in e.message for e in out.events or [])
    report = env.services.addons.check_drift(env.admin, "agent")
    assert (report.status, report.rollout) == ("rollout in progress", rollout)
    assert env.client is not None
    assert env.client.get("/api/v1/addons/agent/drift", headers=env.h).json()["status"] == "rollout in progress"
    assert 'id="drift-status"' in env.page("/ui/addons/agent")

    acts = env.services.addons
    acts.act(env.admin, "agent", "approve", RolloutAction())
    env.until(lambda: env.state() == "waiting-approval" and env.latest().current_wave == 1)
    assert env.operations("c3") == []  # same gate as its wave
    acts.act(env.admin, "agent", "approve", RolloutAction())
    env.until(lambda: env.state() == "succeeded")
    assert env.release("c3") == ("deployed", "0.1.0", 1)
    for _ in range(2):
        env.tick()
    assert len(env.rollouts()) == 1

    # every wave started (this one halted): a newcomer gets a trailing wave, after the person's decision
    env.kubes["c1"].set_workloads("fail")
    env.apply(spec("0.2.0", targets="env=prod", strategy=Strategy(health_timeout=5)))
    env.until(lambda: env.state() == "halted" and env.targets()["c1"] == "rolled-back")
    env.add_cluster("c4", {"env": "prod"})
    env.tick()
    out = env.latest()
    assert [(w.name, w.state, [t.cluster for t in w.targets]) for w in out.waves] == [
        ("wave-1", "failed", ["c1", "c2", "c3"]), ("joined", "pending", ["c4"])]
    assert env.operations("c4") == []
    env.kubes["c1"].set_workloads("ready")
    acts.act(env.admin, "agent", "resume", RolloutAction())
    env.until(lambda: env.state() == "succeeded")
    assert [w.state for w in env.latest().waves] == ["succeeded", "succeeded"]
    assert env.release("c4") == ("deployed", "0.2.0", 1)
    assert env.release("c1")[1] == "0.2.0"


@SQLITE
def test_maintenance_window_bounds_targets_rollouts_and_approval_does_not(env: Env) -> None:  # noqa: F811
    window = Window(cron="0 2 * * *", duration=3600, timezone="Asia/Shanghai")  # 18:00-19:00 UTC
    env.clock.now = dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC)
    env.add_cluster("c1", {})
    env.apply(spec(strategy=Strategy(window=window, approval=True, health_timeout=5)))
    env.tick()
    assert env.state() == "waiting-approval"
    env.services.addons.act(env.admin, "agent", "approve", RolloutAction())
    env.until(lambda: env.state() == "succeeded")

    env.clock.now = dt.datetime(2026, 3, 2, 20, 0, tzinfo=dt.UTC)  # the window has closed
    env.add_cluster("c2", {})
    env.tick()
    out = env.latest()
    assert (out.kind, out.state) == ("targets", "waiting-window")  # deferred, but no approval asked
    assert out.waves[0].not_before == dt.datetime(2026, 3, 3, 18, 0, tzinfo=dt.UTC)
    env.clock.now = dt.datetime(2026, 3, 3, 17, 59, tzinfo=dt.UTC)
    env.tick()
    assert env.state() == "waiting-window" and env.operations("c2") == []
    env.clock.now = dt.datetime(2026, 3, 3, 18, 0, tzinfo=dt.UTC)
    env.until(lambda: env.state() == "succeeded")
    assert env.release("c2") == ("deployed", "0.1.0", 1)
    assert env.members() == ["c1", "c2"]
