"""The release commands of the CLI against a live server and the Kubernetes API test server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from appmarket.cli.main import main
from appmarket.cli.releases import parse_set
from tests.installer_helpers import demo_tgz, wait_for
from tests.kubeapi.server import KubeApiServer
from tests.kubeapi.switches import NodeSpec
from tests.support.app import LiveServer


def test_parse_set() -> None:
    assert parse_set(("a.b=1", "a.c=true", "d=x", "e=")) == {"a": {"b": 1, "c": True}, "d": "x", "e": ""}


# The CLI is a client of the API; what it drives runs on both databases in the API tests. SQLite only.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kube_api_options", [{"token": "cli-kube-token"}])
def test_cli_release_lifecycle(live_server: LiveServer, kube_api: KubeApiServer, kubeconfig: Path,
                               tmp_path: Path) -> None:
    h = {"Authorization": f"Bearer {live_server.token}"}
    httpx.post(f"{live_server.url}/api/v1/projects", json={"name": "library"}, headers=h)
    for version in ("1.2.0", "1.3.0"):
        r = httpx.post(f"{live_server.url}/api/library/charts", content=demo_tgz(version, name="kafka"), headers=h)
        assert r.status_code == 201, r.text
    env = {"APPMARKET_URL": live_server.url, "APPMARKET_TOKEN": live_server.token}
    runner = CliRunner()

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args), env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    cli("cluster", "add", "prod-bj", "--kubeconfig", str(kubeconfig))
    values = tmp_path / "my-values.yaml"
    values.write_text("message: from-file\nreplicas: 2\n")
    out = cli("install", "prod-bj/data/kafka", "library/kafka", "--version", "1.2.0", "-f", str(values), "--wait")
    assert "running" in out and "succeeded: deployed: revision 1" in out
    assert "revision 1\tdeployed" in cli("status", "prod-bj/data/kafka")
    out = cli("upgrade", "prod-bj/data/kafka", "--version", "1.3.0", "--set", "replicas=5", "--diff")
    assert "-  replicas: 2" in out and "+  replicas: 5" in out and "revision 2" in out
    assert kube_api.get_object("apps/v1", "Deployment", "kafka-web", "data")["spec"]["replicas"] == 5
    assert kube_api.get_object("v1", "ConfigMap", "kafka-config", "data")["data"] == {"message": "from-file"}
    out = cli("history", "prod-bj/data/kafka")
    assert "kafka-1.2.0" in out and "kafka-1.3.0" in out
    cli("rollback", "prod-bj/data/kafka", "1")
    assert "revision 3\tdeployed" in cli("status", "prod-bj/data/kafka")
    assert "1.2.0" in cli("status", "prod-bj/data/kafka")
    cli("install", "prod-bj/data/kafka", "library/kafka", code=4)  # exists: exit code of a conflict
    cli("install", "prod-bj/data/x", "library/nope", code=3)
    cli("uninstall", "prod-bj/data/kafka")
    assert kube_api.get_object("v1", "ConfigMap", "kafka-config", "data") is None

    # An external HTTP repository (here AppMarket's own public Helm repository, fetched by helm itself).
    httpx.post(f"{live_server.url}/api/v1/projects", json={"name": "pub", "visibility": "public"}, headers=h)
    httpx.post(f"{live_server.url}/api/pub/charts", content=demo_tgz("0.4.0", name="ext", crd=False), headers=h)
    out = cli("install", "prod-bj/web/ext", "ext", "--repo", f"{live_server.url}/pub", "--version", "0.4.0")
    assert "external chart" in out and "revision 1" in out
    assert kube_api.get_object("v1", "ConfigMap", "ext-config", "web") is not None
    assert "cli-kube-token" not in live_server.log()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kube_api_options", [{"token": "cli-stdin-token"}])
def test_cli_clusters_reads_and_operations(live_server: LiveServer, kube_api: KubeApiServer, tmp_path: Path) -> None:
    h = {"Authorization": f"Bearer {live_server.token}"}
    httpx.post(f"{live_server.url}/api/v1/projects", json={"name": "library"}, headers=h)
    for version in ("1.0.0", "1.1.0"):
        r = httpx.post(f"{live_server.url}/api/library/charts", content=demo_tgz(version, name="web", crd=False),
                       headers=h)
        assert r.status_code == 201, r.text
    env = {"APPMARKET_URL": live_server.url, "APPMARKET_TOKEN": live_server.token}
    runner = CliRunner()

    def cli(*args: str, code: int = 0, stdin: str | None = None) -> str:
        result = runner.invoke(main, list(args), env=env, input=stdin)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    # Server URL + CA + token; the token comes from stdin (or a file), never from the command line.
    assert kube_api.ca_pem is not None
    ca = tmp_path / "ca.pem"
    ca.write_bytes(kube_api.ca_pem)
    cli("cluster", "add", "c2", "--server", kube_api.url, "--ca-file", str(ca), "--token", "x", code=2)
    out = cli("cluster", "add", "c2", "--server", kube_api.url, "--ca-file", str(ca), "--token-file", "-",
              "--no-atomic-default", stdin="cli-stdin-token\n")
    assert "reachable" in out and out.rstrip().endswith("no-atomic")
    cli("cluster", "add", "c3", "--server", kube_api.url, "--token-file", "-", code=2, stdin="\n")  # empty token
    kube_api.set_nodes([NodeSpec("n1"), NodeSpec("a1", arch="arm64")])
    assert "amd64/arm64" in cli("cluster", "probe", "c2")
    assert cli("cluster", "set", "c2", "--atomic-default").rstrip().endswith("\tatomic")
    assert httpx.get(f"{live_server.url}/api/v1/clusters/c2", headers=h).json()["atomic_default"] is True

    cli("install", "c2/apps/web", "library/web", "--version", "1.0.0", "--set", "message=first")
    cli("upgrade", "c2/apps/web", "--version", "1.1.0", "--set", "message=second")
    cli("install", "c2/other/db", "library/web")
    assert [line.split("\t")[0] for line in cli("releases").splitlines()[1:]] == ["c2/apps/web", "c2/other/db"]
    assert [line.split("\t")[0] for line in cli("releases", "c2/apps").splitlines()[1:]] == ["c2/apps/web"]
    assert "web 1.1.0\t2\tdeployed" in cli("releases", "c2")
    cli("releases", "c2/apps/web", code=2)
    assert cli("values", "c2/apps/web") == "message: second\n"
    assert cli("values", "c2/apps/web", "--revision", "1") == "message: first\n"
    assert "image: nginx:1.27" in cli("values", "c2/apps/web", "--all")
    assert '{message: "first"}' in cli("manifest", "c2/apps/web", "--revision", "1")
    assert '{message: "second"}' in cli("manifest", "c2/apps/web")
    assert "Thanks for installing web" in cli("notes", "c2/apps/web", "--revision", "1")
    cli("notes", "c2/apps/nope", code=3)

    # Operations: list (the default), show, cancel a queued one behind a running one.
    listing = cli("operations").splitlines()
    assert listing[0].startswith("ID\t") and len(listing) == 4 and "\tupgrade\tsucceeded\tc2/apps/web" in listing[2]
    first_id = listing[-1].split("\t")[0]
    shown = cli("operations", "show", first_id)
    assert "install\tsucceeded" in shown and "helm upgrade --install web" in shown and "version: 1.0.0" in shown
    kube_api.set_workloads("pending")
    running = cli("upgrade", "c2/apps/web", "--set", "message=slow", "--no-follow").split()[1]
    queued = cli("upgrade", "c2/apps/web", "--set", "message=later", "--no-follow").split()[1]
    assert cli("operations", "cancel", queued).strip() == f"operation {queued}: cancelled"
    assert "\tcancelled\t" in cli("operations", "list", "--state", "cancelled")
    cli("operations", "cancel", queued, code=4)  # final: nothing to cancel
    kube_api.set_workloads("ready")
    wait_for(lambda: httpx.get(f"{live_server.url}/api/v1/operations/{running}", headers=h).json()["state"]
             == "succeeded", timeout=60)
    assert cli("values", "c2/apps/web") == "message: slow\n"
    assert "cli-stdin-token" not in live_server.log()
