"""Request routing: non-resource endpoints (version, discovery, OpenAPI) and resource verbs.

Kept free of sockets so the HTTP layer only moves bytes: `App.handle` turns (method, path,
query, headers, body) into a `Response`, which may stream (watch). Paths the real apiserver
serves but this emulator does not model answer 501; paths no apiserver has answer 404.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import errors, protobuf
from .catalog import EMULATED_SUBRESOURCES, Catalog, ResourceType
from .errors import ApiError
from .objects import Call, Registry
from .switches import Switches
from .watch import watch_events

JsonDict = dict[str, Any]
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_UNEMULATED_PREFIXES = ("/metrics", "/logs", "/debug", "/.well-known", "/openid", "/flowcontrol")
_HEALTH = ("/healthz", "/livez", "/readyz")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes] | None = None


@dataclass(frozen=True)
class RequestRecord:
    """What a client sent, kept so tests can assert on it (e.g. the Authorization header)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def json_response(
    status: int, doc: Any, warnings: list[str] | None = None, content_type: str = "application/json"
) -> Response:
    headers = [("Warning", f'299 - "{w}"') for w in warnings or []]
    return Response(status, json.dumps(doc).encode(), content_type, headers)


def error_response(exc: ApiError) -> Response:
    return json_response(exc.code, exc.status_body())


class App:
    """Everything one fake cluster knows; shared by all request threads."""

    def __init__(self, catalog: Catalog, registry: Registry, switches: Switches, fixtures: Path) -> None:
        self.catalog = catalog
        self.registry = registry
        self.switches = switches
        self.fixtures = fixtures
        self.requests: deque[RequestRecord] = deque(maxlen=20_000)
        self.internal_errors: list[str] = []
        self.on_switch: Callable[[], None] = lambda: None  # the server resyncs controllers here
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._version_base: JsonDict = json.loads((fixtures / "version.json").read_text())

    # -- entry point -----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        with self._lock:
            self.requests.append(RequestRecord(method, path, dict(query), dict(headers)))
        path = "/" + path.strip("/") if path != "/" else path
        try:
            if path in _HEALTH or path.startswith(tuple(p + "/" for p in _HEALTH)):
                return Response(200, b"ok", "text/plain")
            if self.switches.unavailable:
                raise errors.unavailable("the kubeapi test server is switched to unavailable")
            token = self.switches.token
            if token is not None and headers.get("authorization") != f"Bearer {token}":
                raise errors.unauthorized()
            return self._route(method, path, query, headers, body)
        except ApiError as exc:
            return error_response(exc)

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        if path == "/_kubeapi/switches":
            return self._switches(method, body)
        if path.startswith(("/api/", "/apis/")) and len(path.split("/")) > (3 if path.startswith("/api/") else 4):
            return self._resource(method, path, query, headers, body)
        if method != "GET":
            if path.startswith(("/api", "/apis", "/version", "/openapi")):
                raise errors.method_not_allowed(method, path)
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if path == "/version":
            return json_response(200, self.switches.version_document(self._version_base))
        if path.startswith("/openapi/"):
            return self._openapi(path, headers.get("accept", ""))
        response = self._discovery(path, headers.get("accept", ""))
        if response is not None:
            return response
        if path.startswith(_UNEMULATED_PREFIXES):
            raise errors.not_implemented(f"GET {path}")
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # -- non-resource endpoints ------------------------------------------------------------------
    def _discovery(self, path: str, accept: str) -> Response | None:
        """`/api`, `/apis` (legacy or aggregated), `/apis/<g>`, `/api/v1`, `/apis/<g>/<v>`."""
        parts = path.strip("/").split("/")
        if path in ("/api", "/apis"):
            legacy = path == "/api"
            if self.switches.aggregated_discovery and "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept + ";":
                return json_response(200, self.catalog.aggregated(legacy), content_type=AGGREGATED)
            return json_response(200, self.catalog.api_versions() if legacy else self.catalog.api_group_list())
        doc: JsonDict | None = None
        if parts[0] == "apis" and len(parts) == 2:
            groups = self.catalog.api_group_list()["groups"]
            group = next((g for g in groups if g["name"] == parts[1]), None)
            doc = {"kind": "APIGroup", "apiVersion": "v1", **group} if group else None
        elif (parts[0], len(parts)) in (("api", 2), ("apis", 3)):
            group_name, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            doc = self.catalog.api_resource_list(group_name, version)
        return json_response(200, doc) if doc is not None else None

    def _openapi(self, path: str, accept: str) -> Response:
        if path == "/openapi/v2":
            if accept and "json" not in accept and "*/*" not in accept:
                raise errors.not_acceptable("only application/json is served for /openapi/v2")
            return Response(200, gzip.decompress((self.fixtures / "openapi-v2.json.gz").read_bytes()))
        if path == "/openapi/v3":
            return Response(200, gzip.decompress((self.fixtures / "openapi-v3" / "index.json.gz").read_bytes()))
        name = path[len("/openapi/v3/"):].replace("/", "_").replace(".well-known", "_well-known")
        doc = self.fixtures / "openapi-v3" / f"{name}.json.gz"
        if path.startswith("/openapi/v3/") and doc.exists():
            return Response(200, gzip.decompress(doc.read_bytes()))
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _switches(self, method: str, body: bytes) -> Response:
        """Out-of-process control: GET shows the switches, PATCH sets some of them."""
        if method == "PATCH":
            for key, value in json.loads(body or b"{}").items():
                if not hasattr(self.switches, key):
                    raise errors.bad_request(f"unknown switch {key!r}")
                setattr(self.switches, key, value)
            self.on_switch()
        elif method != "GET":
            raise errors.method_not_allowed(method, "/_kubeapi/switches")
        return json_response(200, dict(vars(self.switches)))

    # -- resources -------------------------------------------------------------------------------
    def _parse(self, path: str) -> tuple[ResourceType, str, str, str, bool]:
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        watch_prefix = bool(rest) and rest[0] == "watch"
        if watch_prefix:
            rest = rest[1:]
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = self.catalog.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3 or not self.catalog.has_group_version(group, version):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rt = self.catalog.lookup(group, version, rest[0])
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and not rt.has_subresource(sub):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rt.emulated:
            raise errors.not_implemented(f"{rt.plural}.{rt.group or 'core'}/{rt.version}")
        if sub and sub not in EMULATED_SUBRESOURCES:
            raise errors.not_implemented(f"the {rt.plural}/{sub} subresource")
        return rt, namespace, name, sub, watch_prefix

    def _resource(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Response:
        rt, namespace, name, sub, watch_prefix = self._parse(path)
        if rt.namespaced and name and not namespace:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        call = Call(rt, namespace, name, sub, query, headers.get("user-agent", ""))
        verb = _verb(method, bool(name), watch_prefix or query.get("watch") in ("true", "1"))
        if verb not in rt.verbs and not (sub and verb in ("get", "update", "patch")):
            raise errors.method_not_allowed(method, path)
        if verb == "watch":
            return Response(200, stream=watch_events(self.registry, call, self.stopping))
        if verb in ("get", "list"):
            doc = self.registry.get(call) if verb == "get" else self.registry.list(call)
            return json_response(200, _negotiate(doc, headers.get("accept", "")))
        if verb == "patch":
            status, doc = self.registry.patch(call, headers.get("content-type", ""), body)
        elif verb in ("delete", "deletecollection"):
            options = _decode(body, headers.get("content-type", "")) if body.strip() else {}
            if verb == "delete":
                status, doc = self.registry.delete(call, options or {})
            else:
                status, doc = 200, self.registry.delete_collection(call, options or {})
        else:
            decoded = _decode(body, headers.get("content-type", ""))
            status, doc = (self.registry.create if verb == "create" else self.registry.update)(call, decoded)
        return json_response(status, doc, call.warnings)


def _verb(method: str, named: bool, watch: bool) -> str:
    table = {("GET", False): "list", ("GET", True): "get", ("POST", False): "create", ("PUT", True): "update",
             ("PATCH", True): "patch", ("DELETE", True): "delete", ("DELETE", False): "deletecollection"}
    verb = table.get((method, named))
    if verb is None:
        raise errors.method_not_allowed(method, "this resource path")
    return "watch" if watch and verb in ("list", "get") else verb


def _decode(body: bytes, content_type: str) -> Any:
    ctype = content_type.split(";", maxsplit=1)[0].strip()
    try:
        if ctype in ("", "application/json"):
            return json.loads(body or b"null")
        if ctype == "application/yaml":
            return yaml.safe_load(body)
        if ctype == "application/vnd.kubernetes.protobuf":
            return protobuf.decode(body)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"error decoding request body: {exc}") from None
    raise errors.unsupported_media_type(ctype)


def _negotiate(doc: JsonDict, accept: str) -> JsonDict:
    """Serve `as=Table` / `as=PartialObjectMetadata*` when asked (kubectl get asks for Table)."""
    first = accept.split(",", maxsplit=1)[0]
    if "as=Table" in first:
        items = doc.get("items", [doc])
        rows = [{"cells": [i["metadata"]["name"], i["metadata"].get("creationTimestamp")],
                 "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": i["metadata"]}}
                for i in items]
        columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
                   {"name": "Created At", "type": "date", "format": "", "description": "Creation time", "priority": 0}]
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": doc["metadata"].get("resourceVersion", "")},
                "columnDefinitions": columns, "rows": rows}
    if "as=PartialObjectMetadataList" in first and "items" in doc:
        return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": doc["metadata"],
                "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": i["metadata"]}
                          for i in doc["items"]]}
    if "as=PartialObjectMetadata" in first and "items" not in doc:
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": doc["metadata"]}
    return doc
