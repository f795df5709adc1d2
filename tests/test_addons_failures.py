"""Rollouts meeting failures: a cluster dying during its health gate (within and beyond the budget), an
undo on a cluster that never answers, a TApp that does not get ready, and automatic waves by percentage."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from appmarket.addons.schemas import AddonSpec, RolloutAction, Strategy
from appmarket.cli.addons import render_rollout
from appmarket.errors import Conflict
from tests.addons_helpers import Env, env, spec  # noqa: F401 - fixtures
from tests.kubeapi.samples import make_workloads_chart
from tests.kubeapi.silent import SilentCluster
from tests.support.charts import make_chart_tgz

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _upgrade_until_c2_checks(env: Env, budget: int) -> Strategy:  # noqa: F811
    """c1 and c2 on 0.1.0; then 0.2.0 with c2's workloads never getting ready: c2 sits in its health gate."""
    strategy = Strategy(failure_budget=budget, health_timeout=5)
    env.add_cluster("c1", {})
    env.add_cluster("c2", {})
    env.apply(spec(strategy=strategy))
    env.until(lambda: env.state() == "succeeded")
    env.kubes["c2"].set_workloads("pending")
    env.apply(spec("0.2.0", strategy=strategy))
    env.until(lambda: env.targets() == {"c1": "healthy", "c2": "checking"}, seconds=0.2)
    return strategy


@SQLITE
def test_cluster_dies_in_its_health_gate_within_the_budget(env: Env) -> None:  # noqa: F811
    _upgrade_until_c2_checks(env, budget=1)
    env.kubes["c2"].go_down()
    env.until(lambda: env.state() == "succeeded-with-failures")
    out = env.latest()
    assert out.failed_clusters == 1 and "c2 (unreachable)" in out.message
    c2 = {t.cluster: t for t in out.waves[0].targets}["c2"]
    assert c2.state == "unreachable" and "unreachable" in c2.health and c2.revision == 2
    assert c2.rollback_operation_id is None  # within the budget nothing is undone
    assert env.release("c1") == ("deployed", "0.2.0", 2)
    assert env.client is not None  # the same, visible in the API, the CLI and the web page
    api = env.client.get("/api/v1/addons/agent/rollout", headers=env.h).json()
    assert (api["state"], api["failed_clusters"]) == ("succeeded-with-failures", 1)
    shown = render_rollout(api)
    assert "state succeeded-with-failures" in shown and "1 failed cluster(s)" in shown
    html = env.page(f"/ui/rollouts/{out.id}")
    assert 'data-state="succeeded-with-failures"' in html and "1 failed cluster(s)" in html

    drift = env.services.addons.check_drift(env.admin, "agent").drift
    assert [(d.cluster, d.kind) for d in drift] == [("c2", "failed")]
    assert drift[0].detail.startswith(f"left unreachable by rollout {out.id}; still unreachable")
    html = env.page("/ui/addons/agent")
    assert 'id="addon-rollout-failed">1 failed<' in html and f"left unreachable by rollout {out.id}" in html
    env.kubes["c2"].come_up()  # back, at the desired version, but its workloads still are not ready
    drift = env.services.addons.check_drift(env.admin, "agent").drift
    assert [(d.cluster, d.kind) for d in drift] == [("c2", "failed")]
    assert drift[0].detail.endswith("still not healthy: Deployment platform/agent-web: 0/2 ready")
    env.kubes["c2"].set_workloads("ready")
    env.kubes["c2"].wait_idle()
    assert env.services.addons.check_drift(env.admin, "agent").drift == []


@SQLITE
def test_cluster_dies_in_its_health_gate_beyond_the_budget(env: Env) -> None:  # noqa: F811
    _upgrade_until_c2_checks(env, budget=0)
    env.kubes["c2"].go_down()
    env.until(lambda: env.state() == "halted" and env.targets()["c2"] != "rolling-back")
    c2 = {t.cluster: t for t in env.latest().waves[0].targets}["c2"]
    # the rollback could not reach it either: reported, not waited on
    assert c2.state == "unreachable" and c2.message.startswith("undo failed"), c2
    assert c2.rollback_operation_id is not None
    assert env.release("c1") == ("deployed", "0.2.0", 2)  # healthy in the wave: kept

    env.kubes["c2"].come_up()
    env.kubes["c2"].set_workloads("ready")
    out = env.services.addons.act(env.admin, "agent", "resume", RolloutAction())
    assert out.events is not None and "retrying c2" in out.events[-1].message
    env.until(lambda: env.state() == "succeeded")
    assert env.release("c2")[:2] == ("deployed", "0.2.0")


@SQLITE
def test_undo_on_a_silent_cluster_ends_after_its_timeout(env: Env) -> None:  # noqa: F811
    _upgrade_until_c2_checks(env, budget=0)
    silent = SilentCluster(env.kubes["c2"])
    try:
        # health reads give up after read_timeout, the gate after health_timeout; the rollback then hangs
        env.until(lambda: env.targets()["c2"] == "rolling-back", seconds=5)
        assert env.state() == "halted"
        with pytest.raises(Conflict):
            env.services.addons.act(env.admin, "agent", "resume", RolloutAction())
        env.until(lambda: env.targets()["c2"] != "rolling-back", seconds=60)
        c2 = {t.cluster: t for t in env.latest().waves[0].targets}["c2"]
        assert c2.state == "unreachable" and c2.message.startswith("undo not finished after 600s"), c2
        assert c2.rollback_operation_id is not None
        op, _ = env.services.releases.store.get(c2.rollback_operation_id)
        assert op.state in ("queued", "running")  # helm still waits on the cluster
        assert silent.connections > 0
        out = env.services.addons.act(env.admin, "agent", "resume", RolloutAction())
        assert out.events is not None and "retrying c2" in out.events[-1].message
    finally:
        silent.close()
    env.kubes["c2"].come_up()
    env.kubes["c2"].set_workloads("ready")
    env.until(lambda: env.state() == "succeeded", timeout=120)
    assert env.release("c2")[:2] == ("deployed", "0.2.0")
    assert env.operations("c2") == ["install", "upgrade", "rollback", "upgrade"]


@SQLITE
def test_install_hanging_on_a_silent_cluster_is_given_up_after_its_timeout(env: Env) -> None:  # noqa: F811
    env.add_cluster("c1", {})
    env.add_cluster("c2", {})
    silent = SilentCluster(env.kubes["c2"])  # dead before anything reached it
    try:
        env.apply(spec(strategy=Strategy(health_timeout=5)))
        env.until(lambda: env.targets() == {"c1": "healthy", "c2": "queued"}, seconds=0.2)
        assert env.wait_for_connection(silent)
        env.until(lambda: env.state() == "halted", seconds=60)  # not forever: operation_timeout (600 s)
        c2 = {t.cluster: t for t in env.latest().waves[0].targets}["c2"]
        assert c2.state == "unreachable" and c2.message.startswith("install not finished after 600s"), c2
        assert "no answer within 3s" in c2.health
        assert c2.rollback_operation_id is None  # nothing known applied, nothing undone
        op, _ = env.services.releases.store.get(c2.operation_id or 0)
        assert op.state in ("queued", "running")  # helm still waits on the cluster
        env.services.addons.act(env.admin, "agent", "skip", RolloutAction(clusters=["c2"]))
        env.until(lambda: env.state() == "succeeded")
    finally:
        silent.close()
    assert env.targets() == {"c1": "healthy", "c2": "skipped"}


def _fleet_tgz() -> bytes:
    """tests.kubeapi's five-workload chart (Deployment, StatefulSet, DaemonSet, Job, TApp + its CRD)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = make_workloads_chart(Path(tmp))
        files: dict[str, str | bytes | None] = {str(p.relative_to(src)): p.read_text()
                                                for p in src.rglob("*") if p.is_file()}
    files["templates/configmap.yaml"] = None
    return make_chart_tgz("fleet", "0.1.0", files=files)


@SQLITE
def test_tapp_that_does_not_get_ready_fails_the_health_gate(env: Env) -> None:  # noqa: F811
    assert env.client is not None
    r = env.client.post("/api/library/charts", content=_fleet_tgz(), headers=env.h)
    assert r.status_code == 201, r.text
    env.add_cluster("c1", {})
    env.add_cluster("c2", {})
    env.kubes["c2"].set_workloads("fail", pattern="fleet-tapp")  # only the TApp; the other workloads get ready
    env.apply(AddonSpec(name="fleet", chart="library/fleet", version="0.1.0", namespace="platform",
                        strategy=Strategy(health_timeout=5)))
    env.until(lambda: env.state("fleet") == "halted" and env.targets("fleet")["c2"] == "rolled-back")
    by = {t.cluster: t for t in env.latest("fleet").waves[0].targets}
    assert by["c1"].state == "healthy"
    assert by["c2"].health == "TApp platform/fleet-tapp: 0/2 ready", by["c2"].health
    assert env.release("c2", "fleet")[0] == "uninstalled"  # new there: undone by uninstalling

    env.kubes["c2"].set_workloads("ready", pattern="fleet-tapp")
    env.services.addons.act(env.admin, "fleet", "resume", RolloutAction())
    env.until(lambda: env.state("fleet") == "succeeded")
    tapp = env.kubes["c2"].get_object("apps.tkestack.io/v1", "TApp", "fleet-tapp", "platform")
    assert tapp is not None and tapp["status"]["appStatus"] == "Running"


@SQLITE
def test_waves_by_percentage_through_the_controller(env: Env) -> None:  # noqa: F811
    for name in ("c1", "c2", "c3"):
        env.add_cluster(name, {})
    env.apply(spec(strategy=Strategy(wave_percent=50, health_timeout=5)))  # ceil(1.5) = 2 clusters a wave
    out = env.latest()
    assert [(w.name, [t.cluster for t in w.targets]) for w in out.waves] == [("wave-1", ["c1", "c2"]),
                                                                             ("wave-2", ["c3"])]
    env.until(lambda: env.state() == "succeeded")
    out = env.latest()
    ops = {t.cluster: env.services.releases.store.get(t.operation_id or 0)[0] for w in out.waves for t in w.targets}
    first_done = max(ops[c].finished_at for c in ("c1", "c2"))  # type: ignore[type-var]
    assert ops["c3"].created_at >= first_done  # the second wave started only after the first was through
    actions = [e.action for e in out.events or []]
    assert actions.index("wave-succeeded") < actions.index("wave-started", actions.index("wave-started") + 1)
