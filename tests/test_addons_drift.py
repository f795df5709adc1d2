"""Drift: changes made by hand with helm are found by the check, and corrected when the addon says so."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from appmarket.addons.schemas import Strategy
from appmarket.installer.helm import find_helm
from appmarket.installer.schemas import ReleaseRequest
from tests.addons_helpers import Env, env, spec  # noqa: F401 - fixtures
from tests.installer_helpers import demo_tgz


def helm(env: Env, cluster: str, *args: str) -> None:  # noqa: F811
    """helm run by hand against one cluster, outside AppMarket."""
    home = env.tmp / "hand-helm"
    kc = env.kubes[cluster].write_kubeconfig(env.tmp / f"hand-{cluster}.kubeconfig")
    environ = {"HOME": str(home), "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
               "HELM_DATA_HOME": str(home / "data"), "PATH": "/usr/bin:/bin"}
    subprocess.run([find_helm(), *args, "--namespace", "platform", "--kubeconfig", str(kc)], env=environ,
                   check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_drift_found_then_reconciled(env: Env, tmp_path: Path) -> None:  # noqa: F811
    for name in ("c1", "c2", "c3"):
        env.add_cluster(name, {})
    env.apply(spec(strategy=Strategy(health_timeout=5)))
    env.until(lambda: env.state() == "succeeded")
    assert env.services.addons.check_drift(env.admin, "agent").drift == []

    chart = tmp_path / "demo-0.1.0.tgz"
    chart.write_bytes(demo_tgz("0.1.0", crd=False))
    helm(env, "c1", "upgrade", "agent", str(chart), "--reuse-values", "--set", "message=by-hand,extra=1")
    helm(env, "c2", "uninstall", "agent")
    found = env.services.addons.check_drift(env.admin, "agent").drift
    assert [(d.cluster, d.kind) for d in found] == [("c1", "values"), ("c2", "missing")]
    assert found[0].detail == "values differ at extra, message"  # paths only: values may be secrets
    assert [d.kind for d in env.services.addons.get(env.admin, "agent").drift] == ["values", "missing"]
    assert env.latest().kind == "rollout"  # reporting only: reconcile_drift is off

    env.apply(spec(reconcile_drift=True, strategy=Strategy(health_timeout=5)))
    assert env.latest().kind == "rollout"  # the desired state itself did not change: no rollout
    env.services.addons.check_drift(env.admin, "agent")
    out = env.latest()
    assert out.kind == "reconcile" and sorted(t.cluster for t in out.waves[0].targets) == ["c1", "c2"]
    env.until(lambda: env.state() == "succeeded")
    assert env.services.addons.check_drift(env.admin, "agent").drift == []
    assert env.operations("c1") == ["install", "upgrade"]
    assert env.operations("c3") == ["install"]
    dep = env.deployment("c1")
    assert dep is not None and dep["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "hello"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_drift_of_another_version_and_another_chart(env: Env) -> None:  # noqa: F811
    for name in ("c1", "c2"):
        env.add_cluster(name, {})
    env.apply(spec(strategy=Strategy(health_timeout=5)))
    env.until(lambda: env.state() == "succeeded")
    assert env.client is not None
    r = env.client.post("/api/library/charts", content=demo_tgz("0.1.0", name="other", crd=False), headers=env.h)
    assert r.status_code == 201, r.text

    # by hand, through AppMarket's own installer: c1 upgraded to 0.2.0, c2 replaced by another chart
    releases, me = env.services.releases, env.admin
    values = {"message": "hello"}
    op = releases.upgrade(me, "c1", "platform", "agent", ReleaseRequest(chart="library/demo", version="0.2.0",
                                                                         values=values, wait=False))
    assert env.wait_op(op.id) == "succeeded"  # type: ignore[union-attr]
    assert env.wait_op(releases.uninstall(me, "c2", "platform", "agent", wait=False).id) == "succeeded"
    op = releases.install(me, "c2", "platform", "agent", ReleaseRequest(chart="library/other", version="0.1.0",
                                                                        values=values, wait=False))
    assert env.wait_op(op.id) == "succeeded"  # type: ignore[union-attr]

    found = env.services.addons.check_drift(env.admin, "agent").drift
    assert [(d.cluster, d.kind, d.detail) for d in found] == [
        ("c1", "version", "version 0.2.0 deployed, 0.1.0 desired"),
        ("c2", "chart", "chart 'other' deployed, 'library/demo' desired")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_periodic_drift_check_on_the_clock_starts_a_reconcile(env: Env, tmp_path: Path) -> None:  # noqa: F811
    env.add_cluster("c1", {})
    env.apply(spec(reconcile_drift=True, strategy=Strategy(health_timeout=5)))
    env.until(lambda: env.state() == "succeeded")
    env.tick(0)  # the first pass after the rollout checks at once (never checked before)
    report = env.services.addons.drift(env.admin, "agent")
    assert (report.status, report.drift) == ("checked", [])
    checked = report.checked_at
    interval = env.settings.addons.drift_interval

    chart = tmp_path / "demo-0.1.0.tgz"
    chart.write_bytes(demo_tgz("0.1.0", crd=False))
    helm(env, "c1", "upgrade", "agent", str(chart), "--reuse-values", "--set", "message=by-hand")
    env.clock.advance(interval - 1)
    env.tick(0)
    assert env.services.addons.drift(env.admin, "agent").checked_at == checked  # not due yet
    assert env.latest().kind == "rollout"
    env.clock.advance(1)
    env.tick(0)  # due: found, and corrected without anyone calling check_drift
    out = env.latest()
    assert out.kind == "reconcile" and out.message == "drift found on c1 (values)"
    assert [d.kind for d in env.services.addons.drift(env.admin, "agent").drift] == ["values"]
    env.until(lambda: env.state() == "succeeded")
    dep = env.deployment("c1")
    assert dep is not None and dep["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "hello"
    env.clock.advance(interval)
    env.tick(0)
    assert env.services.addons.drift(env.admin, "agent").drift == []
