"""Progress while helm waits: events that say which revision helm recorded and how many workloads are ready."""

from __future__ import annotations

import pytest

from tests.installer_helpers import BASE, Api, api, demo_tgz, installer_overrides, kube  # noqa: F401 - fixtures
from tests.kubeapi.server import KubeApiServer

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE
def test_install_with_wait_reports_workload_progress(api: Api, kube: KubeApiServer) -> None:  # noqa: F811
    assert api.c.post("/api/library/charts", content=demo_tgz("0.3.0", extra_deployment="worker"),
                      headers=api.h).status_code == 201
    kube.switches.ready_delay = 2.5  # the simulated controllers take their time: helm --wait waits
    op = api.run(api.post(f"{BASE}/slow", {"chart": "library/demo", "version": "0.3.0", "wait": True}))
    kinds = [e["kind"] for e in op["events"]]
    # "helm still running" may come first, on a slow machine, until helm has recorded the revision.
    progress = [e["message"] for e in op["events"] if e["kind"] == "progress" and "still running" not in e["message"]]
    assert progress, op["events"]
    assert kinds.index("progress") < kinds.index("succeeded")
    # Real information: the revision helm recorded, its status, and the workloads still waited for.
    assert progress[0].startswith("revision 1 pending-install: 0/2 workloads ready; waiting for Deployment apps/slow-")
    assert progress[0].endswith(" and 1 more"), progress[0]

    kube.switches.ready_delay = 0
    op = api.run(api.patch(f"{BASE}/slow", {"values": {"replicas": 3}}))  # fast: done before any poll says more
    assert op["state"] == "succeeded"
    kube.switches.ready_delay = 2.5
    op = api.run(api.patch(f"{BASE}/slow", {"values": {"replicas": 4}}))
    upgrade = [e["message"] for e in op["events"] if e["kind"] == "progress" and "still running" not in e["message"]]
    assert any(m.startswith("revision 3 pending-upgrade: ") for m in upgrade), upgrade
    assert all(m.startswith("revision 3 ") for m in upgrade), upgrade  # never the superseded revision 2
