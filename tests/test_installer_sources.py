"""External charts end to end: installs from an OCI registry over plain HTTP and from an HTTP Helm repository.

The registry and the repository are a live AppMarket server (a separate process, its own workers off);
the installer is the in-process app, which knows that registry as plain HTTP through
``installer.plain_http_registries``. Both share one database, as replicas do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appmarket.settings import Settings
from tests.installer_helpers import BASE, Api, api, demo_tgz, kube  # noqa: F401 - fixtures
from tests.kubeapi.server import KubeApiServer
from tests.support.app import LiveServer, start_server, stop_server
from tests.support.helm import Helm

pytestmark = pytest.mark.slow


@pytest.fixture
def registry(settings: Settings, admin_token: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server to pull from; it runs no operations, so the in-process app's workers get them all."""
    server = start_server(settings, admin_token, tmp_path / "server.log",
                          extra_env={"APPMARKET_INSTALLER__WORKERS": "0"})
    yield server
    stop_server(server)


@pytest.fixture
def installer_overrides(registry: LiveServer) -> dict[str, Any]:
    return {"plain_http_registries": [registry.host_port]}


def _public_project(api: Api, name: str) -> None:  # noqa: F811
    r = api.post("/api/v1/projects", {"name": name, "visibility": "public"})
    assert r.status_code == 201, r.text


def test_install_from_plain_http_oci_registry(api: Api, kube: KubeApiServer, registry: LiveServer,  # noqa: F811
                                              tmp_path: Path) -> None:
    _public_project(api, "ext")
    helm = Helm(tmp_path / "push-home")
    helm.run("registry", "login", registry.host_port, "-u", "admin", "-p", registry.token, "--plain-http")
    package = tmp_path / "demo-0.3.0.tgz"
    package.write_bytes(demo_tgz("0.3.0"))
    helm.run("push", str(package), f"oci://{registry.host_port}/ext", "--plain-http")

    ref = f"oci://{registry.host_port}/ext/demo"
    op = api.run(api.post(f"{BASE}/from-oci", {"chart": ref, "version": "0.3.0", "values": {"message": "oci"}}))
    assert op["revision_after"] == 1
    rel = api.get(f"{BASE}/from-oci").json()
    assert (rel["status"], rel["chart"], rel["version"]) == ("deployed", ref, "0.3.0")
    assert kube.get_object("v1", "ConfigMap", "from-oci-config", "apps")["data"] == {"message": "oci"}
    assert kube.get_object("apps/v1", "Deployment", "from-oci-web", "apps")["status"]["readyReplicas"] == 2
    # The same registry under a name not listed as plain HTTP is reached over HTTPS, and helm says why not.
    port = registry.host_port.rsplit(":", 1)[1]
    op = api.run(api.post(f"{BASE}/over-https", {"chart": f"oci://localhost:{port}/ext/demo", "version": "0.3.0"}),
                 "failed")
    assert "HTTP response to HTTPS client" in op["message"] + (op.get("helm_output") or ""), op
    assert kube.get_object("v1", "ConfigMap", "over-https-config", "apps") is None


def test_install_from_http_helm_repository(api: Api, kube: KubeApiServer, registry: LiveServer) -> None:  # noqa: F811
    _public_project(api, "ext")
    r = api.c.post("/api/ext/charts", content=demo_tgz("0.4.0"), headers=api.h)
    assert r.status_code == 201, r.text
    repo = f"{registry.url}/ext"
    op = api.run(api.post(f"{BASE}/from-repo", {"chart": "demo", "repo": repo, "version": "0.4.0"}))
    assert op["revision_after"] == 1
    rel = api.get(f"{BASE}/from-repo").json()
    assert (rel["status"], rel["chart"], rel["repo"], rel["version"]) == ("deployed", "demo", repo, "0.4.0")
    assert kube.get_object("apps/v1", "Deployment", "from-repo-web", "apps") is not None


def test_external_chart_preflight_runs_in_the_worker(api: Api, kube: KubeApiServer,  # noqa: F811
                                                     registry: LiveServer) -> None:
    _public_project(api, "ext")
    tgz = demo_tgz("0.5.0", name="armonly", crd=False, annotations={"appmarket.io/architectures": "arm64"},
                   schema={"type": "object", "properties": {"replicas": {"type": "integer"}}})
    assert api.c.post("/api/ext/charts", content=tgz, headers=api.h).status_code == 201
    repo = f"{registry.url}/ext"
    writes_before = sum(1 for r in kube.requests if r.method != "GET")
    r = api.post(f"{BASE}/arm", {"chart": "armonly", "repo": repo, "values": {"replicas": "many"}})
    assert r.status_code == 202  # the chart is only fetched by the worker
    op = api.run(r, "failed")
    assert op["message"].startswith("preflight refused the operation"), op["message"]
    refusals = [e["message"] for e in op["events"] if e["kind"] == "preflight"]
    assert any(m.startswith("refused (architecture)") and "arm64" in m and "amd64" in m for m in refusals), refusals
    assert any(m.startswith("refused (values): replicas:") for m in refusals), refusals
    assert sum(1 for r in kube.requests if r.method != "GET") == writes_before  # nothing touched the cluster
    assert kube.get_object("v1", "ConfigMap", "arm-config", "apps") is None
    assert api.get(f"{BASE}/arm/history").json() == []
    # A dry run of the same external chart is refused by the same checks, in the request.
    r = api.post(f"{BASE}/arm", {"chart": "armonly", "repo": repo, "dry_run": True})
    assert r.status_code == 400 and r.json()["errors"][0]["check"] == "architecture", r.text
    # With the (audited) override it installs.
    op = api.run(api.post(f"{BASE}/arm", {"chart": "armonly", "repo": repo, "override_fit": True}))
    assert any("overridden" in e["message"] for e in op["events"] if e["kind"] == "preflight")
    assert kube.get_object("v1", "ConfigMap", "arm-config", "apps") is not None
