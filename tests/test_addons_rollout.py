"""Addon rollouts end to end: real helm through the installer against several Kubernetes API test servers."""

from __future__ import annotations

import datetime as dt

import pytest

from appmarket.addons.schemas import Override, RolloutAction, Strategy, WaveSpec, Window
from appmarket.auth.schemas import Principal
from appmarket.errors import Conflict, Forbidden, Invalid, NotFound
from tests.addons_helpers import Env, env, spec  # noqa: F401 - fixtures

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE
def test_three_waves_succeed_then_new_version_and_noop(env: Env) -> None:  # noqa: F811
    for name in ("c1", "c2", "c3"):
        env.add_cluster(name, {"env": "prod", "region": "bj" if name != "c3" else "sh"})
    env.add_cluster("dev", {"env": "dev"})
    s = spec(targets="env=prod", strategy=Strategy(wave_size=1, health_timeout=5),
             overrides=[Override(selector="region=sh", values={"message": "ni hao"})])
    env.apply(s)
    out = env.latest()
    assert [w.name for w in out.waves] == ["wave-1", "wave-2", "wave-3"]
    assert [[t.cluster for t in w.targets] for w in out.waves] == [["c1"], ["c2"], ["c3"]]
    env.until(lambda: env.state() == "succeeded")
    out = env.latest()
    assert all(w.state == "succeeded" for w in out.waves)
    assert all(t.state == "healthy" and t.action == "install" and t.revision == 1 for w in out.waves for t in w.targets)
    assert env.release("dev") == ("", "", 0)
    for name in ("c1", "c2", "c3"):
        assert env.release(name) == ("deployed", "0.1.0", 1)
    env_var = env.deployment("c3")["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
    assert env_var == [{"name": "MESSAGE", "value": "ni hao"}]
    started = [e.message for e in out.events or [] if e.action == "wave-started"]
    assert started == ["wave 1 (wave-1) started", "wave 2 (wave-2) started", "wave 3 (wave-3) started"]

    env.apply(s)  # identical: nothing happens
    assert len(env.rollouts()) == 1
    env.apply(spec("0.2.0", targets="env=prod", strategy=Strategy(wave_size=2, health_timeout=5),
                   overrides=s.overrides))
    out = env.latest()
    assert (out.generation, out.version, len(out.waves)) == (2, "0.2.0", 2)
    env.until(lambda: env.state() == "succeeded")
    for name in ("c1", "c2", "c3"):
        assert env.release(name) == ("deployed", "0.2.0", 2)
    out = env.latest()
    assert {t.previous_version for w in out.waves for t in w.targets} == {"0.1.0"}
    assert env.operations("c1") == ["install", "upgrade"]


@SQLITE
def test_failed_health_gate_rolls_back_the_wave_and_halts_then_resume(env: Env) -> None:  # noqa: F811
    for name in ("c1", "c2", "c3"):
        env.add_cluster(name, {"env": "prod"})
    strategy = Strategy(waves=[WaveSpec(name="canary", clusters=["c1"])], health_timeout=5)
    env.apply(spec(targets="env=prod", strategy=strategy))
    env.until(lambda: env.state() == "succeeded")

    env.kubes["c2"].set_workloads("fail")
    env.apply(spec("0.2.0", targets="env=prod", strategy=strategy))
    env.until(lambda: env.state() == "halted")
    out = env.latest()
    canary, rest = out.waves
    assert (canary.state, rest.state, rest.failures) == ("succeeded", "failed", 1)
    by = {t.cluster: t for t in rest.targets}
    assert by["c3"].state == "healthy"
    assert by["c2"].state in ("rolling-back", "rolled-back")
    assert "not ready" in by["c2"].health.lower() or "progress" in by["c2"].health.lower(), by["c2"].health
    env.until(lambda: env.targets()["c2"] == "rolled-back")
    assert env.state() == "halted"
    assert env.release("c2") == ("deployed", "0.1.0", 3)  # back on revision 1's chart, as revision 3
    assert env.release("c3") == ("deployed", "0.2.0", 2)  # within the wave but healthy: not rolled back
    assert env.operations("c2") == ["install", "upgrade", "rollback"]

    env.kubes["c2"].set_workloads("ready")
    out = env.services.addons.act(env.admin, "agent", "resume", RolloutAction())
    assert out.state == "running" and out.events is not None
    assert (out.events[-1].who, out.events[-1].action) == ("admin", "resume")
    assert "retrying c2" in out.events[-1].message
    env.until(lambda: env.state() == "succeeded")
    assert env.release("c2") == ("deployed", "0.2.0", 4)
    assert env.operations("c2") == ["install", "upgrade", "rollback", "upgrade"]


@SQLITE
@pytest.mark.parametrize("budget", [1, 0])
def test_cluster_unreachable_mid_rollout(env: Env, budget: int) -> None:  # noqa: F811
    for name in ("c1", "c2", "c3"):
        env.add_cluster(name, {"env": "prod"})
    strategy = Strategy(waves=[WaveSpec(clusters=["c1"])], soak=60, failure_budget=budget, health_timeout=5)
    env.apply(spec(targets="env=prod", strategy=strategy))
    env.until(lambda: env.latest().waves[0].state == "soaking")
    env.kubes["c3"].go_down()  # between waves: c3 goes away
    env.until(lambda: env.state() in ("succeeded-with-failures", "halted"))
    out = env.latest()
    by = {t.cluster: t for w in out.waves for t in w.targets}
    assert by["c3"].state == "unreachable" and "unreachable" in by["c3"].health, by["c3"]
    assert by["c3"].revision is None and by["c3"].rollback_operation_id is None  # nothing applied, nothing undone
    assert by["c2"].state == "healthy"  # the unreachable cluster never blocks the others
    assert env.operations("c3") == ["install"]
    if budget:  # within the budget: done, but visibly not clean
        assert (out.state, out.failed_clusters) == ("succeeded-with-failures", 1)
        assert "c3 (unreachable)" in out.message
        return
    assert out.state == "halted" and out.waves[1].failures == 1
    env.kubes["c3"].come_up()
    env.services.addons.act(env.admin, "agent", "resume", RolloutAction())
    env.until(lambda: env.state() == "succeeded")
    assert env.release("c3") == ("deployed", "0.1.0", 1)
    assert env.operations("c3") == ["install", "install"]


@SQLITE
def test_approval_gate_pause_and_resume(env: Env) -> None:  # noqa: F811
    for name in ("c1", "c2"):
        env.add_cluster(name, {})
    env.apply(spec(strategy=Strategy(wave_size=1, approval=True, health_timeout=5)))
    for _ in range(3):
        env.tick()
    assert env.state() == "waiting-approval"
    assert env.latest().waves[0].state == "waiting-approval"
    assert env.operations("c1") == []
    acts = env.services.addons
    assert acts.act(env.admin, "agent", "pause", RolloutAction()).state == "paused"
    with pytest.raises(Conflict):
        acts.act(env.admin, "agent", "approve", RolloutAction())
    acts.act(env.admin, "agent", "resume", RolloutAction())
    env.tick()
    assert env.state() == "waiting-approval"
    out = acts.act(env.admin, "agent", "approve", RolloutAction())
    assert out.events is not None and (out.events[-1].who, out.events[-1].action) == ("admin", "approve")
    env.until(lambda: env.state() == "waiting-approval" and env.latest().current_wave == 1)
    assert env.targets() == {"c1": "healthy", "c2": "pending"}
    assert env.operations("c2") == []
    acts.act(env.admin, "agent", "skip", RolloutAction(clusters=["c2"]))  # a wave left out entirely
    acts.act(env.admin, "agent", "approve", RolloutAction())
    env.until(lambda: env.state() == "succeeded")
    assert [w.state for w in env.latest().waves] == ["succeeded", "skipped"]
    assert env.operations("c2") == [] and env.targets()["c2"] == "skipped"
    with pytest.raises(Forbidden):
        acts.act(Principal(kind="user", name="dev", user_id=9), "agent", "pause", RolloutAction())


@SQLITE
def test_maintenance_window_defers_a_wave_and_soak_holds_the_next(env: Env) -> None:  # noqa: F811
    for name in ("c1", "c2"):
        env.add_cluster(name, {})
    window = Window(cron="0 2 * * *", duration=3600, timezone="Asia/Shanghai")  # 18:00 UTC
    env.apply(spec(strategy=Strategy(wave_size=1, soak=600, window=window, health_timeout=5)))
    env.tick()
    out = env.latest()
    assert out.state == "waiting-window"
    assert out.waves[0].not_before == dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC)
    env.clock.now = dt.datetime(2026, 3, 2, 17, 59, tzinfo=dt.UTC)
    env.tick()
    assert env.state() == "waiting-window" and env.operations("c1") == []
    env.clock.now = dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC)
    env.until(lambda: env.latest().waves[0].state == "soaking")
    soak_end = env.latest().waves[0].not_before
    assert soak_end is not None and env.operations("c2") == []
    env.clock.now = soak_end - dt.timedelta(seconds=1)
    env.services.addons.controller.tick(env.clock.now)
    assert env.latest().waves[1].state == "pending"
    env.clock.now = soak_end
    env.until(lambda: env.state() == "succeeded", seconds=0)
    assert env.release("c2") == ("deployed", "0.1.0", 1)


@SQLITE
def test_matching_clusters_gain_and_lose_the_addon(env: Env) -> None:  # noqa: F811
    env.add_cluster("c1", {"env": "prod"})
    env.apply(spec(targets="env=prod"))
    env.until(lambda: env.state() == "succeeded")
    env.add_cluster("c2", {"env": "prod"})  # registered later
    env.until(lambda: env.latest().kind == "targets" and env.state() == "succeeded")
    assert env.release("c2") == ("deployed", "0.1.0", 1)
    assert env.services.addons.get(env.admin, "agent").targets == ["c1", "c2"]

    env.label("c1", {"env": "dev"})  # stops matching
    env.until(lambda: env.latest().kind == "targets" and env.state() == "succeeded" and "c1" in env.targets())
    assert env.targets() == {"c1": "removed"}
    assert env.release("c1")[0] == "uninstalled" and env.deployment("c1") is None
    assert env.deployment("c2") is not None

    env.apply(spec(targets="env=prod", on_unmatch="keep"))  # not a desired-state change: no rollout
    rollouts = env.rollouts()
    env.label("c2", {"env": "dev"})
    for _ in range(3):
        env.tick()
    assert env.rollouts() == rollouts  # kept: nothing to do
    assert env.release("c2") == ("deployed", "0.1.0", 1)
    assert env.services.addons.store.addon("agent").members == []  # type: ignore[union-attr]


@SQLITE
def test_abort_undoes_every_change(env: Env) -> None:  # noqa: F811
    env.add_cluster("c1", {"env": "prod"})
    env.apply(spec(targets="env=prod"))
    env.until(lambda: env.state() == "succeeded")
    env.add_cluster("c2", {"env": "stage"})
    env.add_cluster("c3", {"env": "stage"})
    strategy = Strategy(waves=[WaveSpec(clusters=["c1", "c2"])], soak=600, health_timeout=5)
    env.apply(spec("0.2.0", targets="env in (prod,stage)", strategy=strategy))
    env.until(lambda: env.latest().waves[0].state == "soaking")
    assert env.release("c1") == ("deployed", "0.2.0", 2) and env.release("c2") == ("deployed", "0.2.0", 1)
    out = env.services.addons.act(env.admin, "agent", "abort", RolloutAction())
    assert out.state == "aborting"
    env.until(lambda: env.state() == "aborted")
    assert env.release("c1") == ("deployed", "0.1.0", 3)  # rolled back to its previous revision
    assert env.release("c2")[0] == "uninstalled"  # the addon was new there
    assert env.operations("c3") == []
    assert env.targets() == {"c1": "rolled-back", "c2": "rolled-back", "c3": "skipped"}
    assert [w.state for w in env.latest().waves] == ["aborted", "aborted"]


@SQLITE
def test_delete_uninstalls_everywhere(env: Env) -> None:  # noqa: F811
    for name in ("c1", "c2"):
        env.add_cluster(name, {})
    env.apply(spec())
    env.until(lambda: env.state() == "succeeded")
    with pytest.raises(Invalid):
        env.services.addons.delete(env.admin, "agent", "nope")
    assert env.services.addons.delete(env.admin, "agent", "agent").deleting
    with pytest.raises(Conflict):
        env.apply(spec("0.2.0"))
    env.until(lambda: not env.services.addons.list(env.admin))
    assert env.release("c1")[0] == env.release("c2")[0] == "uninstalled"
    with pytest.raises(NotFound):
        env.services.addons.get(env.admin, "agent")
    assert env.latest().kind == "delete" and env.state() == "succeeded"


@SQLITE
def test_restart_during_a_wave_finishes_without_duplicates(env: Env) -> None:  # noqa: F811
    for name in ("c1", "c2", "c3"):
        env.add_cluster(name, {})
    env.apply(spec(strategy=Strategy(max_parallel=2, health_timeout=5)))
    env.tick()  # two clusters submitted, the third waits for a slot
    assert sorted(env.targets().values()) == ["pending", "queued", "queued"]
    env.close()  # the service goes away mid-wave (workers stop, operations may be half done)
    env.open()
    env.until(lambda: env.state() == "succeeded")
    for name in ("c1", "c2", "c3"):
        assert env.operations(name) == ["install"]
        assert env.release(name) == ("deployed", "0.1.0", 1)
