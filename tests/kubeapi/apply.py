"""Server-side apply and `managedFields`, simplified but with the behaviour clients rely on.

helm 4 installs with server-side apply, and kubectl `apply --server-side` too. What matters to
them: apply creates or merges (list-maps by their keys), a field the same manager applied before
but dropped from its new config is removed, and a field owned by another manager with a
different value is a 409 conflict unless `force=true`. Field sets are kept in real FieldsV1
form so clients can read them.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from .errors import ApiError
from .schema import Node, OpenApiV2

JsonDict = dict[str, Any]
Path = tuple[str, ...]

_SYSTEM_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _key_segment(item: JsonDict, keys: tuple[str, ...]) -> str:
    return "k:" + json.dumps({k: item.get(k) for k in sorted(keys)}, separators=(",", ":"))


class FieldManager:
    """Computes field sets over a schema and keeps `metadata.managedFields` up to date."""

    def __init__(self, api: OpenApiV2) -> None:
        self.api = api

    # -- field sets ----------------------------------------------------------------------------
    def fields(self, obj: JsonDict, node: Node, skip_status: bool) -> set[Path]:
        out: set[Path] = set()
        for key, value in obj.items():
            if key in ("apiVersion", "kind") or (key == "status" and skip_status):
                continue
            if key == "metadata" and isinstance(value, dict):
                meta = {k: v for k, v in value.items() if k not in _SYSTEM_META}
                self._walk(meta, self.api.child(node, key), ("f:metadata",), out)
            else:
                self._walk(value, self.api.child(node, key), (f"f:{key}",), out)
        return out

    def _walk(self, value: Any, node: Node, path: Path, out: set[Path]) -> None:
        if isinstance(value, dict) and value and not self.api.is_atomic_map(node):
            for key, sub in value.items():
                self._walk(sub, self.api.child(node, key), (*path, f"f:{key}"), out)
            return
        if isinstance(value, list) and value:
            info = self.api.list_info(node)
            if info.list_type == "map" and all(isinstance(i, dict) for i in value):
                item_node = self.api.item(node)
                for item in value:
                    item_path = (*path, _key_segment(item, info.keys))
                    out.add(item_path)
                    for key, sub in item.items():
                        self._walk(sub, self.api.child(item_node, key), (*item_path, f"f:{key}"), out)
                return
            if info.list_type == "set":
                out.update((*path, "v:" + json.dumps(i, separators=(",", ":"))) for i in value)
                return
        out.add(path)

    # -- navigation ----------------------------------------------------------------------------
    @staticmethod
    def _step(cur: Any, seg: str) -> Any:
        kind, _, rest = seg.partition(":")
        if kind == "f" and isinstance(cur, dict):
            return cur.get(rest)
        if kind == "k" and isinstance(cur, list):
            want = json.loads(rest)
            return next((i for i in cur if isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())), None)
        if kind == "v" and isinstance(cur, list):
            value = json.loads(rest)
            return value if value in cur else None
        return None

    def value_at(self, obj: Any, path: Path) -> Any:
        cur = obj
        for seg in path:
            cur = self._step(cur, seg)
            if cur is None:
                return None
        return cur

    def remove(self, obj: Any, path: Path) -> None:
        parent = self.value_at(obj, path[:-1])
        kind, _, rest = path[-1].partition(":")
        if kind == "f" and isinstance(parent, dict):
            parent.pop(rest, None)
        elif kind in ("k", "v") and isinstance(parent, list):
            target = self._step(parent, path[-1])
            if target is not None:
                parent.remove(target)

    # -- managedFields encoding ----------------------------------------------------------------
    @staticmethod
    def to_fields_v1(paths: set[Path]) -> JsonDict:
        tree: JsonDict = {}
        for path in sorted(paths):
            node = tree
            for seg in path:
                node = node.setdefault(seg, {})
        for path in paths:
            node = tree
            for seg in path:
                node = node[seg]
            if node:
                node["."] = {}
        return tree

    @staticmethod
    def from_fields_v1(tree: JsonDict, prefix: Path = ()) -> set[Path]:
        out: set[Path] = set()
        for seg, sub in tree.items():
            if seg == ".":
                out.add(prefix)
            elif not sub:
                out.add((*prefix, seg))
            else:
                out |= FieldManager.from_fields_v1(sub, (*prefix, seg))
        return out

    @staticmethod
    def _entries(obj: JsonDict) -> list[JsonDict]:
        entries: list[JsonDict] = obj.get("metadata", {}).get("managedFields") or []
        return entries

    def _owned(self, entry: JsonDict) -> set[Path]:
        return self.from_fields_v1(entry.get("fieldsV1") or {})

    @staticmethod
    def _same(entry: JsonDict, manager: str, operation: str, subresource: str) -> bool:
        return (entry.get("manager") == manager and entry.get("operation") == operation
                and entry.get("subresource", "") == subresource)

    def _store(self, obj: JsonDict, entries: list[JsonDict]) -> None:
        kept = [e for e in entries if e.get("fieldsV1")]
        obj.setdefault("metadata", {})["managedFields"] = kept

    # -- merging ---------------------------------------------------------------------------------
    def merge(self, live: Any, config: Any, node: Node) -> Any:
        if isinstance(config, dict) and isinstance(live, dict) and not self.api.is_atomic_map(node):
            out = copy.deepcopy(live)
            for key, value in config.items():
                out[key] = self.merge(live.get(key), value, self.api.child(node, key))
            return out
        if isinstance(config, list) and isinstance(live, list):
            info = self.api.list_info(node)
            if info.list_type == "map" and all(isinstance(i, dict) for i in config + live):
                out_list = copy.deepcopy(live)
                item_node = self.api.item(node)
                for item in config:
                    seg = _key_segment(item, info.keys)
                    index = next((n for n, o in enumerate(out_list) if _key_segment(o, info.keys) == seg), None)
                    if index is None:
                        out_list.append(copy.deepcopy(item))
                    else:
                        out_list[index] = self.merge(out_list[index], item, item_node)
                return out_list
            if info.list_type == "set":
                return copy.deepcopy(live) + [copy.deepcopy(i) for i in config if i not in live]
        return copy.deepcopy(config)

    # -- operations ------------------------------------------------------------------------------
    def apply(self, live: JsonDict, config: JsonDict, node: Node, *, manager: str, force: bool,
              api_version: str, skip_status: bool) -> JsonDict:
        """Merge an applied configuration into `live` (which may be a bare skeleton on create)."""
        entries = copy.deepcopy(self._entries(live))
        new_owned = self.fields(config, node, skip_status)
        mine = next((e for e in entries if self._same(e, manager, "Apply", "")), None)
        old_owned = self._owned(mine) if mine else set()
        conflicts: list[tuple[str, Path]] = []
        for entry in entries:
            if entry is mine or entry.get("subresource"):
                continue
            clash = {p for p in self._owned(entry) & new_owned
                     if not isinstance(self.value_at(config, p), dict)
                     and self.value_at(live, p) != self.value_at(config, p)}
            if clash and not force:
                conflicts.extend((entry.get("manager", ""), p) for p in sorted(clash))
            elif clash:
                entry["fieldsV1"] = self.to_fields_v1(self._owned(entry) - clash)
        if conflicts:
            raise _conflict_error(conflicts, api_version)
        merged: JsonDict = self.merge(live, config, node)
        others: set[Path] = set()
        for entry in entries:
            if entry is not mine:
                others |= self._owned(entry)
        for path in sorted(old_owned - new_owned - others, key=len, reverse=True):
            self.remove(merged, path)
        entries = [e for e in entries if e is not mine]
        entries.append({"manager": manager, "operation": "Apply", "apiVersion": api_version,
                        "time": now_rfc3339(), "fieldsType": "FieldsV1",
                        "fieldsV1": self.to_fields_v1(new_owned)})
        self._store(merged, entries)
        return merged

    def record_update(self, old: JsonDict | None, new: JsonDict, node: Node, *, manager: str,
                      api_version: str, subresource: str = "") -> None:
        """Give `manager` the fields this non-apply write changed; others lose them."""
        entries = copy.deepcopy(self._entries(new))  # the caller chose live or explicitly sent entries
        skip_status = subresource != "status"
        new_fields = self.fields(new, node, skip_status=False)
        old_fields = self.fields(old, node, skip_status=False) if old else set()
        changed = {p for p in new_fields if p not in old_fields
                   or (not isinstance(self.value_at(new, p), dict)
                       and self.value_at(old, p) != self.value_at(new, p))}
        if subresource == "status":
            changed = {p for p in changed if p[0] == "f:status"}
        elif skip_status:
            changed = {p for p in changed if p[0] != "f:status"}
        gone = old_fields - new_fields
        mine = next((e for e in entries if self._same(e, manager, "Update", subresource)), None)
        for entry in entries:
            if entry is not mine:
                entry["fieldsV1"] = self.to_fields_v1(self._owned(entry) - changed - gone)
        owned = (self._owned(mine) - gone if mine else set()) | changed
        entries = [e for e in entries if e is not mine]
        if owned:
            entry = {"manager": manager, "operation": "Update", "apiVersion": api_version,
                     "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": self.to_fields_v1(owned)}
            if subresource:
                entry["subresource"] = subresource
            entries.append(entry)
        self._store(new, entries)


def _render(path: Path) -> str:
    out = ""
    for seg in path:
        kind, _, rest = seg.partition(":")
        out += f".{rest}" if kind == "f" else f"[{rest}]"
    return out


def _conflict_error(conflicts: list[tuple[str, Path]], api_version: str) -> ApiError:
    causes = [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}" using {api_version}',
               "field": _render(p)} for m, p in conflicts]
    lines = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
    msg = f"Apply failed with {len(causes)} conflict{'s' if len(causes) > 1 else ''}:\n{lines}"
    return ApiError(409, "Conflict", msg, details={"causes": causes})
