"""The release commands of the CLI against a live server and the Kubernetes API test server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from appmarket.cli.main import main
from appmarket.cli.releases import parse_set
from tests.installer_helpers import demo_tgz
from tests.kubeapi.server import KubeApiServer
from tests.support.app import LiveServer


def test_parse_set() -> None:
    assert parse_set(("a.b=1", "a.c=true", "d=x", "e=")) == {"a": {"b": 1, "c": True}, "d": "x", "e": ""}


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
