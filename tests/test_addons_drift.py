"""Drift: changes made by hand with helm are found by the check, and corrected when the addon says so."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from appmarket.addons.schemas import Strategy
from appmarket.installer.helm import find_helm
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
