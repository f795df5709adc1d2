"""Two replicas on one PostgreSQL database: their worker pools claim from one queue with FOR UPDATE SKIP LOCKED.

Each replica is a whole app (its own engine, worker pool and identity); operations are submitted through
both. Every operation must run exactly once, and two operations of one release never at the same time.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from appmarket.app import create_app
from appmarket.settings import Settings
from tests.installer_helpers import Api, demo_tgz, fast, kill_helm, kube, kubeconfig_text, wait_op  # noqa: F401
from tests.kubeapi.server import KubeApiServer

RELEASES = ("r0", "r1", "r2", "r3")
BASE = "/api/v1/clusters/c1/namespaces/apps/releases"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_replicas_run_each_operation_once_and_never_overlap_a_release(
        settings: Settings, admin_token: str, kube: KubeApiServer, tmp_path: Path) -> None:  # noqa: F811
    replica = fast(settings, workers=2)
    try:
        with TestClient(create_app(replica)) as ca, TestClient(create_app(replica)) as cb:
            a, b = Api(ca, admin_token), Api(cb, admin_token)
            pools = {ca.app.state.services.workers.identity, cb.app.state.services.workers.identity}
            assert len(pools) == 2
            assert a.post("/api/v1/projects", {"name": "library"}).status_code == 201
            assert ca.post("/api/library/charts", content=demo_tgz(crd=False), headers=a.h).status_code == 201
            assert b.post("/api/v1/clusters", {"name": "c1",
                                               "kubeconfig": kubeconfig_text(kube, tmp_path)}).status_code == 201
            submitted: list[int] = []
            for step in range(3):  # installs; then two upgrades per release, all queued at once
                for i, name in enumerate(RELEASES):
                    via = (a, b)[(i + step) % 2]
                    body: dict[str, Any] = {"chart": "library/demo", "wait": False,
                                            "values": {"message": f"{name}-{step}"}}
                    r = via.post(f"{BASE}/{name}", body) if step == 0 else via.put(f"{BASE}/{name}", body)
                    assert r.status_code == 202, r.text
                    submitted.append(r.json()["id"])
                if step == 0:  # an upgrade needs an installed release
                    for op_id in submitted:
                        wait_op(a.get, op_id, timeout=120)
            ops = [wait_op((a, b)[n % 2].get, op_id, timeout=120) for n, op_id in enumerate(submitted)]

            by_release: dict[str, list[dict[str, Any]]] = defaultdict(list)
            claimed_by: set[str] = set()
            for op in ops:
                assert op["state"] == "succeeded", op
                running = [e["message"] for e in op["events"] if e["kind"] == "running"]
                assert len(running) == 1, op["events"]  # claimed exactly once
                claimed_by.add(running[0].removeprefix("started by ").rsplit("/", 1)[0])
                by_release[op["release"]].append(op)
            assert claimed_by == pools  # both replicas' workers took operations from the one queue
            for name, release_ops in by_release.items():
                release_ops.sort(key=lambda o: o["started_at"])
                assert [o["id"] for o in release_ops] == sorted(o["id"] for o in release_ops)  # in order
                assert [o["revision_after"] for o in release_ops] == [1, 2, 3]
                for before, after in itertools.pairwise(release_ops):
                    assert dt.datetime.fromisoformat(after["started_at"]) >= \
                        dt.datetime.fromisoformat(before["finished_at"]), (name, before, after)
                history = a.get(f"{BASE}/{name}/history").json()
                assert [h["revision"] for h in history] == [1, 2, 3]  # helm ran once per operation
                assert b.get(f"{BASE}/{name}/values").json() == {"message": f"{name}-2"}
    finally:
        kill_helm(settings.data_dir)
