"""Walk the real OpenAPI v2 document (and CRD schemas) for merge keys, list types and fields.

Strategic merge patch and server-side apply need per-field facts (`x-kubernetes-patch-merge-key`,
`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, ...). Reading them from the captured
v1.36 document keeps them exact instead of hand-maintaining a table that drifts. The same walk
finds unknown fields, which apiserver drops (and rejects under `fieldValidation=Strict`).
"""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import FIXTURES

JsonDict = dict[str, Any]
Node = JsonDict | None  # a resolved schema node; None means "unknown: treat as opaque"

_LOCK = threading.Lock()
_CACHE: dict[Path, OpenApiV2] = {}


@dataclass(frozen=True)
class ListInfo:
    """How a list field merges: by key (map), as a set, or atomically."""

    list_type: str  # "map", "set" or "atomic"
    keys: tuple[str, ...] = ()  # list-map keys for SSA
    merge_key: str | None = None  # strategic merge key
    patch_merge: bool = False  # strategic patch strategy includes "merge"


class OpenApiV2:
    """The parsed swagger document with a GVK index."""

    def __init__(self, doc: JsonDict) -> None:
        self.doc = doc
        self.definitions: dict[str, JsonDict] = doc.get("definitions", {})
        self._by_gvk: dict[tuple[str, str, str], JsonDict] = {}
        for definition in self.definitions.values():
            for gvk in definition.get("x-kubernetes-group-version-kind", []):
                self._by_gvk[(gvk["group"], gvk["version"], gvk["kind"])] = definition

    @classmethod
    def load(cls, fixtures: Path = FIXTURES) -> OpenApiV2:
        """Parse once per process: the document is large and never changes."""
        path = fixtures / "openapi-v2.json.gz"
        with _LOCK:
            if path not in _CACHE:
                with gzip.open(path) as fh:
                    _CACHE[path] = cls(json.load(fh))
            return _CACHE[path]

    def root(self, group: str, version: str, kind: str) -> Node:
        return self._by_gvk.get((group, version, kind))

    def resolve(self, node: Node) -> Node:
        """Follow `$ref` (directly or through a one-element `allOf`)."""
        while node is not None:
            if "$ref" in node:
                node = self.definitions.get(node["$ref"].rsplit("/", 1)[-1])
            elif len(node.get("allOf", [])) == 1 and "properties" not in node:
                node = node["allOf"][0]
            else:
                return node
        return None

    def child(self, node: Node, key: str) -> Node:
        """Schema of `node[key]` for an object or map node."""
        node = self.resolve(node)
        if node is None:
            return None
        props = node.get("properties")
        if props and key in props:
            return self.resolve(props[key]) if "$ref" in props[key] else props[key]
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            return self.resolve(extra) if "$ref" in extra else extra
        return None

    def item(self, node: Node) -> Node:
        node = self.resolve(node)
        if node is None or not isinstance(node.get("items"), dict):
            return None
        items: JsonDict = node["items"]
        return self.resolve(items) if "$ref" in items else items

    def list_info(self, node: Node) -> ListInfo:
        """Combine SSA (`x-kubernetes-list-*`) and SMP (`x-kubernetes-patch-*`) annotations."""
        raw = node or {}
        strategy = str(raw.get("x-kubernetes-patch-strategy", ""))
        merge_key = raw.get("x-kubernetes-patch-merge-key")
        list_type = raw.get("x-kubernetes-list-type")
        keys = tuple(raw.get("x-kubernetes-list-map-keys", ()))
        if list_type is None:
            if merge_key:
                list_type, keys = "map", (merge_key,)
            elif "merge" in strategy:
                list_type = "set"
            else:
                list_type = "atomic"
        return ListInfo(list_type, keys, merge_key, "merge" in strategy)

    def is_atomic_map(self, node: Node) -> bool:
        return bool(node) and (node or {}).get("x-kubernetes-map-type") == "atomic"

    def is_open(self, node: Node) -> bool:
        """True when any field is allowed under this node (maps, preserve-unknown, opaque)."""
        node = self.resolve(node)
        if node is None:
            return True
        if node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node:
            return True
        return "properties" not in node

    def unknown_fields(self, obj: Any, node: Node, path: str = "") -> list[str]:
        """Dotted paths of fields the schema does not declare (apiserver would drop them)."""
        node = self.resolve(node)
        if node is None:
            return []
        found: list[str] = []
        if isinstance(obj, dict):
            closed = not self.is_open(node)
            for key, value in obj.items():
                sub = f"{path}.{key}" if path else key
                if closed and key not in node.get("properties", {}):
                    found.append(sub)
                    continue
                found.extend(self.unknown_fields(value, self.child(node, key), sub))
        elif isinstance(obj, list):
            item = self.item(node)
            for index, value in enumerate(obj):
                found.extend(self.unknown_fields(value, item, f"{path}[{index}]"))
        return found


def prune(obj: Any, paths: list[str]) -> None:
    """Drop the fields `unknown_fields` reported, in place."""
    for path in sorted(paths, key=len, reverse=True):
        cur: Any = obj
        parts = path.replace("[", ".[").split(".")
        for part in parts[:-1]:
            cur = cur[int(part[1:-1])] if part.startswith("[") else cur.get(part)
            if cur is None:
                break
        if isinstance(cur, dict):
            cur.pop(parts[-1], None)


def crd_schema(crd: JsonDict, version: str) -> Node:
    """The `openAPIV3Schema` of one CRD version, with apiVersion/kind/metadata implied."""
    for ver in crd.get("spec", {}).get("versions", []):
        if ver.get("name") == version:
            schema = (ver.get("schema") or {}).get("openAPIV3Schema")
            if not schema:
                return None
            props = dict(schema.get("properties", {}))
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            props["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            return {**schema, "properties": props}
    return None
