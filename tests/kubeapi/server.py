"""`KubeApiServer`: one fake cluster on 127.0.0.1, started on a background thread.

In-process is the robust default (no port races with a child, switches are plain attributes);
`python -m tests.kubeapi` wraps the same class for out-of-process use. Plain HTTP is what
helm and the kubernetes client get unless `tls=True`, which serves a fresh self-signed
certificate and puts its CA into the kubeconfig.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from .app import App, RequestRecord
from .catalog import FIXTURES, Catalog
from .controllers import Simulator
from .handler import ApiHTTPServer
from .objects import CRD_KEY, NS_KEY, Call, Registry
from .schema import OpenApiV2
from .store import Store
from .switches import MODES, NodeSpec, Switches, WorkloadMode
from .tlsutil import self_signed

JsonDict = dict[str, Any]
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NODES_KEY = ("", "nodes")


class KubeApiServer:
    """A Kubernetes API emulator; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        port: int = 0,
        token: str | None = None,
        git_version: str = "v1.36.2",
        nodes: list[NodeSpec] | None = None,
        workloads: WorkloadMode = "ready",
        state_dir: Path | None = None,
        tls: bool = True,
        aggregated_discovery: bool = True,
        fixtures: Path = FIXTURES,
    ) -> None:
        self.switches = Switches(workloads=workloads, token=token, git_version=git_version,
                                 aggregated_discovery=aggregated_discovery)
        self.catalog = Catalog(fixtures)
        self.store = Store(state_dir)
        self.registry = Registry(self.store, self.catalog, OpenApiV2.load(fixtures))
        self.simulator = Simulator(self.registry, self.switches)
        self.app = App(self.catalog, self.registry, self.switches, fixtures)
        self.app.on_switch = self.simulator.resync
        self._port = port
        self._tls = tls
        self._tls_ctx: ssl.SSLContext | None = None
        self.ca_pem: bytes | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="kubeapi-")
        self._http: ApiHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._seed(nodes if nodes is not None else [NodeSpec("node-1")])

    # -- lifecycle -------------------------------------------------------------------------------
    def _seed(self, nodes: list[NodeSpec]) -> None:
        for crd in self.store.select(CRD_KEY):
            self.catalog.register_crd(crd)
        for name in DEFAULT_NAMESPACES:
            if self.store.get(NS_KEY, "", name) is None:
                self._put_direct("v1", "Namespace", {"metadata": {"name": name}})
        if not self.store.select(NODES_KEY):
            self.set_nodes(nodes)

    def _put_direct(self, api_version: str, kind: str, obj: JsonDict) -> JsonDict:
        """Create or replace an object (and its status) without HTTP, as a controller would."""
        rt = self.catalog.by_kind(api_version, kind)
        if rt is None:
            raise ValueError(f"unknown kind {api_version} {kind}")
        body = {"apiVersion": api_version, "kind": kind, **copy.deepcopy(obj)}
        meta = body.setdefault("metadata", {})
        call = Call(rt, meta.get("namespace", ""), meta["name"], "", {"fieldManager": "kubeapi-seed"})
        if self.store.get(rt.storage_key, call.namespace, call.name) is None:
            stored = self.registry.create(call, copy.deepcopy(body))[1]
        else:
            stored = self.registry.update(call, copy.deepcopy(body))[1]
        if "status" in body and rt.has_subresource("status"):
            status_call = Call(rt, call.namespace, call.name, "status", {"fieldManager": "kubeapi-seed"})
            stored = self.registry.update(status_call, {**stored, "status": body["status"]})[1]
        return stored

    def start(self) -> KubeApiServer:
        if self._tls and self._tls_ctx is None:
            self._tls_ctx, self.ca_pem = self_signed(Path(self._tmp.name))
        self.app.stopping.clear()
        if not self.simulator_running:
            self.simulator.start()
        self._http = ApiHTTPServer(("127.0.0.1", self._port), self.app, self._tls_ctx)
        self._port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"kubeapi-{self._port}", daemon=True)
        self._thread.start()
        return self

    @property
    def simulator_running(self) -> bool:
        return self.simulator._thread.is_alive()

    def go_down(self) -> None:
        """Simulate a dead cluster: close the listener and cut every open connection."""
        self.app.stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http.drop_connections()
            self._http = None

    def come_up(self) -> None:
        """Listen again on the same port, with the same objects."""
        if self._http is None:
            self.start()

    def stop(self) -> None:
        self.go_down()
        self.store.close()
        self.simulator.stop()
        self._tmp.cleanup()

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- addresses and credentials ---------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self._port}"

    def kubeconfig(self, token: str | None = None, namespace: str = "default", context: str = "kubeapi") -> JsonDict:
        """A kubeconfig dict; `token` defaults to the server's own token."""
        cluster: JsonDict = {"server": self.url}
        if self.ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        # always a token: with none, kubectl prompts for a username on an https server
        user: JsonDict = {"token": token or self.switches.token or "kubeapi-anonymous"}
        return {"apiVersion": "v1", "kind": "Config", "current-context": context,
                "clusters": [{"name": context, "cluster": cluster}],
                "users": [{"name": context, "user": user}],
                "contexts": [{"name": context,
                              "context": {"cluster": context, "user": context, "namespace": namespace}}]}

    def write_kubeconfig(self, path: Path | str, token: str | None = None, namespace: str = "default") -> Path:
        path = Path(path)
        path.write_text(yaml.safe_dump(self.kubeconfig(token, namespace)))
        path.chmod(0o600)
        return path

    # -- switches ----------------------------------------------------------------------------------
    def set_workloads(self, mode: WorkloadMode, pattern: str | None = None) -> None:
        """Set the default mode, or with `pattern` the mode of workloads whose name matches it."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if pattern is None:
            self.switches.workloads = mode
        else:
            self.switches.overrides[pattern] = mode
        self.simulator.resync()

    def set_nodes(self, nodes: list[NodeSpec]) -> None:
        """Replace the node list a cluster probe sees."""
        wanted = {n.name for n in nodes}
        for node in self.store.select(NODES_KEY):
            if node["metadata"]["name"] not in wanted:
                self.store.remove(NODES_KEY, "", node["metadata"]["name"])
        for spec in nodes:
            self._put_direct("v1", "Node", spec.to_object(self.switches.git_version))

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        """One raw HTTP call with the server's token, for what typed clients cannot send.

        Returns the status, lower-cased response headers and the decoded JSON body (or None).
        """
        ctx = ssl.create_default_context(cadata=self.ca_pem.decode()) if self.ca_pem else None
        conn: http.client.HTTPConnection = (
            http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=10) if ctx
            else http.client.HTTPConnection("127.0.0.1", self.port, timeout=10))
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self.switches.token:
            sent.setdefault("Authorization", f"Bearer {self.switches.token}")
        try:
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            data = resp.read()
            decoded = json.loads(data) if data and "json" in (resp.getheader("Content-Type") or "") else None
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, decoded
        finally:
            conn.close()

    @property
    def requests(self) -> list[RequestRecord]:
        return list(self.app.requests)

    @property
    def errors(self) -> list[str]:
        """Internal errors (500s) and controller failures; a healthy test run leaves this empty."""
        return [*self.app.internal_errors, *self.simulator.errors]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        return self.simulator.idle(timeout)

    def get_object(self, api_version: str, kind: str, name: str, namespace: str = "") -> JsonDict | None:
        """Peek at stored state without going through HTTP."""
        rt = self.catalog.by_kind(api_version, kind)
        if rt is None:
            return None
        obj = self.store.get(rt.storage_key, namespace if rt.namespaced else "", name)
        return self.registry.present(rt, obj) if obj else None
