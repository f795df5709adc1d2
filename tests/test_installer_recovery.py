"""Never stuck, never leaking: a killed helm then recovered, a restarted service, credentials kept private."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import httpx
import pytest

from appmarket.installer.helm import find_helm
from appmarket.settings import Settings
from tests.installer_helpers import (  # noqa: F401 - fixtures
    BASE,
    Api,
    api,
    demo_tgz,
    helm_pids,
    installer_overrides,
    kube,
    kubeconfig_text,
    wait_for,
    wait_op,
)
from tests.kubeapi.server import KubeApiServer
from tests.kubeapi.silent import SilentCluster
from tests.support.app import start_server, stop_server

# What a test checks of processes, files and logs is the same whatever the database: SQLite only.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TOKEN = "kube-secret-token"


@pytest.mark.parametrize("action", ["rollback", "mark-failed"])
def test_killed_helm_leaves_pending_release_then_recover(api: Api, kube: KubeApiServer, settings: Settings,  # noqa: F811
                                                         action: str) -> None:
    api.run(api.post(f"{BASE}/web", {"chart": "library/demo", "values": {"message": "one"}}))
    kube.set_workloads("pending")
    r = api.patch(f"{BASE}/web", {"values": {"message": "two"}})
    pid = wait_for(lambda: helm_pids(settings.data_dir, "upgrade", "web"))[0]
    wait_for(lambda: api.get(f"{BASE}/web/history").json()[-1]["status"] == "pending-upgrade")
    os.kill(pid, signal.SIGKILL)  # helm dies mid-upgrade, as in a crashed pod
    op = wait_op(api.get, r.json()["id"])
    assert op["state"] == "failed"
    rel = api.get(f"{BASE}/web").json()
    assert (rel["status"], rel["stuck"]) == ("pending-upgrade", True)
    # The background health check finds it too (the list answers from the database only).
    services = api.c.app.state.services
    row = services.workers.store.release_row("c1", "apps", "web")
    services.workers.store.update_release(row.id, status="deployed")
    assert api.get(BASE).json()[0]["stuck"] is False
    services.workers.probe_clusters()
    assert api.get(BASE).json()[0]["stuck"] is True
    # helm alone would now refuse forever: "another operation (install/upgrade/rollback) is in progress".
    op = api.run(api.patch(f"{BASE}/web", {"values": {"message": "three"}}), state="failed")
    assert "another operation" in op["message"]

    kube.set_workloads("ready")
    op = api.run(api.post(f"{BASE}/web/recover", {"action": action}))
    assert op["audit"]["what"] == {"recover": action} and op["audit"]["who"] == "admin"
    assert "pending-upgrade revision 2" in op["audit"]["recovered_from"]
    rel = api.get(f"{BASE}/web").json()
    assert rel["stuck"] is False
    if action == "rollback":
        assert (rel["status"], rel["revision"]) == ("deployed", 3)
        assert api.get(f"{BASE}/web/values").json() == {"message": "one"}
    else:
        assert rel["status"] == "failed"
    api.run(api.patch(f"{BASE}/web", {"values": {"message": "four"}}))  # helm accepts changes again
    assert api.get(f"{BASE}/web/values").json() == {"message": "four"}


@pytest.fixture
def shim(tmp_path: Path) -> Path:
    """A helm wrapper recording every argument vector, the environment and the kubeconfig file's mode."""
    log = tmp_path / "helm-calls.log"
    script = tmp_path / "helm-shim"
    script.write_text(f"""#!/bin/sh
printf '%s\\n' "ARGS $*" >> {log}
env >> {log}
prev=""
for a in "$@"; do
  if [ "$prev" = "--kubeconfig" ]; then stat -c "MODE %a" "$a" >> {log}; fi
  prev="$a"
done
exec {find_helm()} "$@"
""")
    script.chmod(0o755)
    return script


@SQLITE
def test_credentials_never_reach_arguments_or_logs(settings: Settings, admin_token: str, kube: KubeApiServer,  # noqa: F811
                                                   shim: Path, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from litestar.testing import TestClient  # noqa: PLC0415

    from appmarket.app import create_app  # noqa: PLC0415
    from tests.installer_helpers import fast  # noqa: PLC0415

    caplog.set_level("DEBUG")
    with TestClient(create_app(fast(settings, helm=str(shim)))) as client:
        a = Api(client, admin_token)
        a.post("/api/v1/projects", {"name": "library"})
        assert client.post("/api/library/charts", content=demo_tgz(), headers=a.h).status_code == 201
        assert a.post("/api/v1/clusters", {"name": "c1", "kubeconfig": kubeconfig_text(kube, tmp_path)}).status_code \
            == 201
        kube.set_workloads("pending")
        r = a.post(f"{BASE}/web", {"chart": "library/demo", "values": {"password": "values-secret"}})
        pid = wait_for(lambda: helm_pids(settings.data_dir, "upgrade", "web"))[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        kube.set_workloads("ready")
        op = wait_op(a.get, r.json()["id"])
        assert op["state"] == "succeeded"
        a.get(f"{BASE}/web/history")
        text = "\n".join([cmdline, environ, (tmp_path / "helm-calls.log").read_text(), caplog.text,
                          a.get(f"/api/v1/operations/{op['id']}").text, a.get("/api/v1/clusters/c1").text])
    assert "--kubeconfig" in cmdline and "HELM_CACHE_HOME" in environ
    assert TOKEN not in text and "values-secret" not in cmdline
    modes = {line for line in text.splitlines() if line.startswith("MODE ")}
    assert modes == {"MODE 600"}
    # The temporary kubeconfig files are gone and the chart temp files too.
    leftovers = list(Path(settings.data_dir, "helm", "charts").iterdir())
    assert leftovers == []
    key = Path(settings.data_dir, "secret.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_restart_during_an_operation_is_reconciled(settings: Settings, admin_token: str, kube: KubeApiServer,  # noqa: F811
                                                   tmp_path: Path) -> None:
    env = {"APPMARKET_INSTALLER__STALE_AFTER": "2", "APPMARKET_INSTALLER__HEARTBEAT_INTERVAL": "0.3",
           "APPMARKET_INSTALLER__POLL_INTERVAL": "0.2"}
    server = start_server(settings, admin_token, tmp_path / "server1.log", env)
    h = {"Authorization": f"Bearer {admin_token}"}
    try:
        with httpx.Client(base_url=server.url, headers=h, timeout=60) as c:
            c.post("/api/v1/projects", json={"name": "library"})
            assert c.post("/api/library/charts", content=demo_tgz()).status_code == 201
            assert c.post("/api/v1/clusters", json={"name": "c1",
                                                    "kubeconfig": kubeconfig_text(kube, tmp_path)}).status_code == 201
            op = c.post(f"{BASE}/web", json={"chart": "library/demo"}).json()
            assert wait_op(c.get, op["id"])["state"] == "succeeded"
            kube.set_workloads("pending")
            op = c.put(f"{BASE}/web", json={"values": {"message": "during-restart"}}).json()
            wait_for(lambda: helm_pids(settings.data_dir, "upgrade", "web"))
            wait_for(lambda: c.get(f"/api/v1/operations/{op['id']}").json()["state"] == "running")
    finally:
        server.process.kill()  # no graceful shutdown: the operation row stays "running"
        server.process.wait()
        server.log_file.close()
    kube.set_workloads("ready")  # the orphaned helm finishes its upgrade without the service
    server = start_server(settings, admin_token, tmp_path / "server2.log", env)
    try:
        with httpx.Client(base_url=server.url, headers=h, timeout=60) as c:
            done = wait_op(c.get, op["id"], timeout=60)
            assert done["state"] == "succeeded", done
            assert "reconciled after restart" in done["message"]
            rel = c.get(f"{BASE}/web").json()
            assert (rel["status"], rel["revision"], rel["active_operation_id"]) == ("deployed", 2, None)
            assert c.get(f"{BASE}/web/values").json() == {"message": "during-restart"}
            assert TOKEN not in server.log() + (tmp_path / "server1.log").read_text()
    finally:
        stop_server(server)


def test_cancel_queued_and_running_operations(api: Api, kube: KubeApiServer, settings: Settings) -> None:  # noqa: F811
    api.run(api.post(f"{BASE}/web", {"chart": "library/demo"}))
    kube.set_workloads("pending")
    running = api.patch(f"{BASE}/web", {"values": {"message": "slow"}, "atomic": False}).json()
    queued = api.patch(f"{BASE}/web", {"values": {"message": "later"}}).json()
    pid = wait_for(lambda: helm_pids(settings.data_dir, "upgrade", "web"))[0]
    assert api.post(f"/api/v1/operations/{queued['id']}/cancel").json()["state"] == "cancelled"
    assert api.post(f"/api/v1/operations/{running['id']}/cancel").json()["state"] == "running"
    op = wait_op(api.get, running["id"])
    assert op["state"] == "cancelled" and "cancel requested by admin" in [e["message"] for e in op["events"]]
    wait_for(lambda: pid not in helm_pids(settings.data_dir, "upgrade", "web"), timeout=5)  # helm itself was stopped
    rel = api.get(f"{BASE}/web").json()
    assert rel["active_operation_id"] is None and rel["status"] in ("failed", "pending-upgrade")
    assert api.post(f"/api/v1/operations/{op['id']}/cancel").status_code == 409


@pytest.mark.parametrize("installer_overrides", [{"read_timeout": 2.0, "write_margin": 2.0}])
def test_silent_cluster_fails_the_operation_instead_of_hanging(api: Api, kube: KubeApiServer,  # noqa: F811
                                                               settings: Settings) -> None:
    """A cluster that accepts connections and never answers: helm would wait forever; the bound stops it."""
    api.run(api.post(f"{BASE}/web", {"chart": "library/demo"}))
    silent = SilentCluster(kube)
    try:
        r = api.patch(f"{BASE}/web", {"values": {"message": "never"}, "timeout": 3})
        op = wait_op(api.get, r.json()["id"], timeout=60)
        assert op["state"] == "failed", op
        assert "unreachable" in op["message"] and "no answer within" in op["message"], op["message"]
        assert silent.connections > 0  # helm really tried
        wait_for(lambda: helm_pids(settings.data_dir) == [], timeout=15)  # no helm left hanging
        rel = api.get(f"{BASE}/web").json()
        assert rel["active_operation_id"] is None  # the release is free for the next request
    finally:
        silent.close()
    kube.come_up()
    op = api.run(api.patch(f"{BASE}/web", {"values": {"message": "back"}}))
    assert op["revision_after"] == 2
