"""Helpers of the addon tests: an app over several Kubernetes API test servers (one per cluster), an
injected clock, and ticking the controller until a condition holds."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from appmarket.addons.schemas import AddonSpec, RolloutOut, Strategy
from appmarket.app import create_app
from appmarket.auth.schemas import Principal
from appmarket.services import Services
from appmarket.settings import AddonSettings, Settings
from tests.installer_helpers import demo_tgz, fast
from tests.kubeapi.server import KubeApiServer
from tests.kubeapi.silent import SilentCluster

TOKEN = "kube-secret-token"
T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Env:
    """An AppMarket (installer workers running, addon controller ticked by hand) and its clusters."""

    def __init__(self, settings: Settings, token: str, tmp: Path) -> None:
        # A silent cluster answers nothing: helm reads give up after 3 s.
        self.settings = msgspec.structs.replace(fast(settings, workers=4, read_timeout=3),
                                                addons=AddonSettings(interval=0, drift_interval=3600))
        self.token = token
        self.tmp = tmp
        self.h = {"Authorization": f"Bearer {token}"}
        self.clock = Clock()
        self.kubes: dict[str, KubeApiServer] = {}
        self.client: TestClient[Any] | None = None
        self.signed_in = False
        self.open()

    def open(self) -> None:
        """Build (or rebuild, as after a restart) the app over the same database and data directory."""
        self.client = TestClient(create_app(self.settings))
        self.signed_in = False
        self.client.__enter__()
        self.services.addons.controller.clock = self.clock

    def close(self) -> None:
        if self.client is not None:
            self.client.__exit__(None, None, None)
            self.client = None

    @property
    def services(self) -> Services:
        assert self.client is not None
        services: Services = self.client.app.state.services
        return services

    @property
    def admin(self) -> Principal:
        return self.services.auth.authenticate_bearer(self.token)

    def post(self, path: str, body: Any) -> Any:
        assert self.client is not None
        return self.client.post(path, json=body, headers=self.h)

    def publish(self, *versions: str) -> None:
        assert self.client is not None
        assert self.post("/api/v1/projects", {"name": "library", "visibility": "private"}).status_code == 201
        for version in versions:
            r = self.client.post("/api/library/charts", content=demo_tgz(version, crd=False), headers=self.h)
            assert r.status_code == 201, r.text

    def add_cluster(self, name: str, labels: dict[str, str]) -> KubeApiServer:
        kube = KubeApiServer(token=TOKEN).start()
        self.kubes[name] = kube
        kc = kube.write_kubeconfig(self.tmp / f"{name}.kubeconfig").read_text()
        r = self.post("/api/v1/clusters", {"name": name, "kubeconfig": kc, "labels": labels})
        assert r.status_code == 201, r.text
        return kube

    def label(self, cluster: str, labels: dict[str, str | None]) -> None:
        self.services.clusters.set_labels(self.admin, cluster, labels)

    def apply(self, spec: AddonSpec) -> None:
        self.services.addons.apply(self.admin, spec)

    def tick(self, seconds: float = 1.0) -> None:
        self.services.addons.controller.tick(self.clock.now)
        self.clock.advance(seconds)

    def until(self, predicate: Callable[[], bool], timeout: float = 60, seconds: float = 1.0) -> None:
        """Tick (advancing the injected clock ``seconds`` each time) until ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tick(seconds)
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"condition not met; latest rollouts: {self.rollouts()}")

    def latest(self, addon: str = "agent") -> RolloutOut:
        return self.services.addons.latest_rollout(self.admin, addon)

    def state(self, addon: str = "agent") -> str:
        return self.latest(addon).state

    def rollouts(self) -> list[tuple[int, str, str, str]]:
        return [(r.id, r.addon, r.kind, r.state) for r in self.services.addons.rollouts(self.admin)]

    def targets(self, addon: str = "agent") -> dict[str, str]:
        return {t.cluster: t.state for w in self.latest(addon).waves for t in w.targets}

    def release(self, cluster: str, name: str = "agent", namespace: str = "platform") -> tuple[str, str, int]:
        """(status, chart version, revision) as the installer last recorded them ("" when never installed)."""
        rel = self.services.releases.store.release_row(cluster, namespace, name)
        return ("", "", 0) if rel is None else (rel.status, rel.chart_version, rel.revision)

    def deployment(self, cluster: str, name: str = "agent") -> dict[str, Any] | None:
        return self.kubes[cluster].get_object("apps/v1", "Deployment", f"{name}-web", "platform")

    def operations(self, cluster: str) -> list[str]:
        return [o.kind for o in reversed(self.services.releases.store.list_operations(cluster=cluster))]

    def page(self, path: str) -> str:
        """A web page as the signed-in admin (the session cookie stays on the client)."""
        assert self.client is not None
        if not self.signed_in:
            login = self.client.get("/login").text
            match = re.search(r'name="csrf_token" value="([^"]+)"', login)
            assert match, login
            self.client.post("/login", data={"username": "admin", "password": self.token,
                                             "csrf_token": match.group(1)})
            self.signed_in = True
        r = self.client.get(path)
        assert r.status_code == 200 and "Sign in</button>" not in r.text, r.text[:500]
        return r.text

    def wait_for_connection(self, silent: SilentCluster, timeout: float = 30) -> bool:
        """Wait (real time) until something (helm, through an installer worker) has connected to ``silent``."""
        deadline = time.monotonic() + timeout
        while silent.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        return silent.connections > 0

    def members(self, addon: str = "agent") -> list[str]:
        row = self.services.addons.store.addon(addon)
        assert row is not None
        return list(row.members)

    def wait_op(self, op_id: int, timeout: float = 60) -> str:
        """Wait (real time) for an installer operation to end; its final state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            op, _ = self.services.releases.store.get(op_id)
            if op.state in ("succeeded", "failed", "cancelled"):
                return op.state
            time.sleep(0.1)
        raise AssertionError(f"operation {op_id} did not finish")


def spec(version: str = "0.1.0", **kw: Any) -> AddonSpec:
    strategy = kw.pop("strategy", Strategy(health_timeout=5))
    return AddonSpec(name="agent", chart="library/demo", version=version, namespace="platform",
                     values={"message": "hello"}, strategy=strategy, **kw)


@pytest.fixture
def env(settings: Settings, admin_token: str, tmp_path: Path) -> Iterator[Env]:
    e = Env(settings, admin_token, tmp_path)
    e.publish("0.1.0", "0.2.0")
    try:
        yield e
    finally:
        e.close()
        for kube in e.kubes.values():
            errors = kube.errors
            kube.stop()
            assert not errors, f"kubeapi internal errors: {errors}"
