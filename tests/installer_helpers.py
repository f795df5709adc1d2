"""Helpers of the installer tests: fast installer settings, demo chart packages, waiting on operations."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from litestar.testing import TestClient

from appmarket.app import create_app
from appmarket.settings import InstallerSettings, Settings
from tests.kubeapi.samples import make_chart
from tests.kubeapi.server import KubeApiServer
from tests.kubeapi.switches import NodeSpec
from tests.support.charts import chart_yaml_text, make_chart_tgz

FAST = InstallerSettings(workers=2, operation_timeout=60, health_interval=3600, heartbeat_interval=0.3,
                         stale_after=2.0, poll_interval=0.2)
FINAL = ("succeeded", "failed", "cancelled")


def fast(settings: Settings, **overrides: Any) -> Settings:
    return msgspec.structs.replace(settings, installer=msgspec.structs.replace(FAST, **overrides))


def demo_tgz(version: str = "0.1.0", *, name: str = "demo", annotations: dict[str, str] | None = None,
             kube_version: str | None = None, schema: dict[str, Any] | None = None, crd: bool = True,
             extra_deployment: str | None = None, values_yaml: str | None = None,
             templates: dict[str, str] | None = None) -> bytes:
    """The kubeapi sample chart (CRD, ConfigMap, Deployment, Service, custom resource) at ``version``.

    ``values_yaml`` replaces the default values (replicas 2, image nginx:1.27, message hello);
    ``templates`` adds files under ``templates/``."""
    with tempfile.TemporaryDirectory() as tmp:
        src = make_chart(Path(tmp))
        files: dict[str, str | bytes | None] = {
            str(p.relative_to(src)): p.read_text() for p in src.rglob("*") if p.is_file()}
    extra: dict[str, Any] = {}
    if annotations:
        extra["annotations"] = annotations
    if kube_version:
        extra["kubeVersion"] = kube_version
    files["Chart.yaml"] = chart_yaml_text(name, version, app_version="1.0", **extra)
    files["templates/configmap.yaml"] = None
    files["templates/NOTES.txt"] = "Thanks for installing {{ .Release.Name }}.\n"
    if not crd:
        files["crds/widgets.yaml"] = None
        files["templates/all.yaml"] = str(files["templates/all.yaml"]).split("---\napiVersion: example.com")[0]
    if extra_deployment:
        files["templates/extra.yaml"] = (
            f'apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: "{{{{ .Release.Name }}}}-{extra_deployment}"}}\n'
            f'spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {extra_deployment}}}}}\n'
            f'  template:\n    metadata: {{labels: {{app: {extra_deployment}}}}}\n'
            f'    spec: {{containers: [{{name: c, image: "busybox:1.36"}}]}}\n')
    if schema is not None:
        files["values.schema.json"] = json.dumps(schema)
    for path, text in (templates or {}).items():
        files[f"templates/{path}"] = text
    values = files.pop("values.yaml") if values_yaml is None else values_yaml
    files.pop("values.yaml", None)
    return make_chart_tgz(name, version, files=files, values_yaml=values)


def wait_op(get: Any, op_id: int, timeout: float = 60) -> dict[str, Any]:
    """Poll ``get(path)`` (a client's get with auth) until operation ``op_id`` is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = get(f"/api/v1/operations/{op_id}").json()
        if body["state"] in FINAL:
            return body
        time.sleep(0.2)
    raise AssertionError(f"operation {op_id} did not finish: {body}")


def helm_pids(data_dir: str | Path, *words: str) -> list[int]:
    """Live helm processes of the service whose ``data_dir`` is given, with all ``words`` on the command line.

    Scoped by the HELM_CACHE_HOME the service's helm wrapper sets, so a helm left behind by another test
    (or another test run on the machine) is never mistaken for this one.
    """
    marker = f"HELM_CACHE_HOME={Path(data_dir) / 'helm'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        text = b" ".join(argv).decode(errors="replace")
        if argv and argv[0].endswith(b"helm") and marker in environ and all(w in text for w in words):
            found.append(int(entry.name))
    return found


def kill_helm(data_dir: str | Path) -> None:
    """Kill what helm processes a test's service left running (a failed test must not haunt the next)."""
    for pid in helm_pids(data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def kubeconfig_text(kube: Any, tmp_path: Path) -> str:
    return str(kube.write_kubeconfig(tmp_path / "kc.yaml").read_text())


def values_of(manifest: str, kind: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(manifest):
        if doc and doc.get("kind") == kind:
            return dict(doc)
    raise AssertionError(f"no {kind} in manifest")


Client = TestClient[Any]
BASE = "/api/v1/clusters/c1/namespaces/apps/releases"


class Api:
    def __init__(self, client: Client, token: str) -> None:
        self.c = client
        self.h = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.c.get(path, headers={**self.h, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.c.post(path, json=body, headers={**self.h, **kw.pop("headers", {})}, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Any:
        return self.c.put(path, json=body, headers={**self.h, **kw.pop("headers", {})}, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> Any:
        return self.c.patch(path, json=body, headers={**self.h, **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.c.delete(path, headers={**self.h, **kw.pop("headers", {})}, **kw)

    def run(self, resp: Any, state: str = "succeeded") -> dict[str, Any]:
        assert resp.status_code == 202, resp.text
        op = wait_op(self.get, resp.json()["id"])
        assert op["state"] == state, op
        return op


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    with KubeApiServer(token="kube-secret-token", nodes=[NodeSpec("n1", arch="amd64")],
                       git_version="v1.30.4") as server:
        yield server
        leftovers = server.errors
    assert not leftovers, f"kubeapi internal errors: {leftovers}"


@pytest.fixture
def installer_overrides() -> dict[str, Any]:
    """InstallerSettings fields over FAST; override the fixture in a module to change them."""
    return {}


@pytest.fixture
def api(settings: Settings, admin_token: str, kube: KubeApiServer, tmp_path: Path,
        installer_overrides: dict[str, Any]) -> Iterator[Api]:
    with TestClient(create_app(fast(settings, **installer_overrides))) as client:
        a = Api(client, admin_token)
        assert a.post("/api/v1/projects", {"name": "library", "visibility": "private"}).status_code == 201
        for version in ("0.1.0", "0.2.0"):
            r = client.post("/api/library/charts", content=demo_tgz(version), headers=a.h)
            assert r.status_code == 201, r.text
        r = a.post("/api/v1/clusters", {"name": "c1", "kubeconfig": kubeconfig_text(kube, tmp_path)})
        assert r.status_code == 201, r.text
        try:
            yield a
        finally:
            kill_helm(settings.data_dir)


