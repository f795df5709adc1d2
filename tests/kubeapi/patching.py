"""The three classic PATCH formats: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge.

helm's client-side three-way patches for built-in kinds are strategic merge patches that carry
`$setElementOrder`, `$patch: delete` and `$retainKeys` directives and rely on per-list merge
keys (containers by `name`, container ports by `containerPort`, ...), which come from the
OpenAPI document via `schema.OpenApiV2`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .errors import ApiError, bad_request, invalid
from .schema import Node, OpenApiV2

JsonDict = dict[str, Any]

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- RFC 6902 ------------------------------------------------------------------------------------
def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for part in parts[:-1]:
        try:
            cur = cur[int(part)] if isinstance(cur, list) else cur[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, "Invalid", f"jsonpatch: missing parent for path {path!r}") from None
    return cur


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    try:
        return parent[int(parts[-1])] if isinstance(parent, list) else parent[parts[-1]]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ApiError(422, "Invalid", f"jsonpatch: path {path!r} does not exist") from None


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts, path)
    _get(doc, path)
    if isinstance(parent, list):
        return parent.pop(int(parts[-1]))
    return parent.pop(parts[-1])


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if index > len(parent):
            raise ApiError(422, "Invalid", f"jsonpatch: index out of range at {path!r}")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "Invalid", f"jsonpatch: cannot add at {path!r}")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply RFC 6902 operations; a failed `test` is a 422 like apiserver."""
    if not isinstance(ops, list):
        raise bad_request("json patch body must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            if _pointer(path):
                _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_get(doc, op["from"]))
            if kind == "move":
                _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                               f"testing value {path} failed")
        else:
            raise bad_request(f"unknown json patch operation {kind!r}")
    return doc


# -- strategic merge patch -----------------------------------------------------------------------
def _same_key(item: Any, patch_item: Any, key: str) -> bool:
    return isinstance(item, dict) and isinstance(patch_item, dict) and item.get(key) == patch_item.get(key)


def _merge_list(orig: list[Any], patch: list[Any], node: Node, api: OpenApiV2, path: str) -> list[Any]:
    info = api.list_info(node)
    if not info.patch_merge:
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [p for p in patch if not (isinstance(p, dict) and "$patch" in p)]
        return copy.deepcopy(patch)
    if info.merge_key is None:  # merge strategy on a primitive list: union, in order
        result = list(orig)
        result.extend(p for p in patch if p not in result)
        return result
    key, item_node = info.merge_key, api.item(node)
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [p for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    result = copy.deepcopy(orig)
    for patch_item in patch:
        if not isinstance(patch_item, dict) or key not in patch_item:
            raise invalid("", "", "", [(path, f"map in list must contain merge key {key!r}")])
        index = next((i for i, o in enumerate(result) if _same_key(o, patch_item, key)), None)
        if patch_item.get("$patch") == "delete":
            result = [o for o in result if not _same_key(o, patch_item, key)]
        elif index is None:
            result.append(strategic_merge({}, patch_item, item_node, api, path))
        else:
            result[index] = strategic_merge(result[index], patch_item, item_node, api, path)
    return result


def _order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Reorder per `$setElementOrder`; items it does not mention keep their relative place at the end."""
    def ident(value: Any) -> Any:
        return json.dumps(value.get(key) if key and isinstance(value, dict) else value, sort_keys=True)

    wanted = [ident(o) for o in order]
    ranked = [(wanted.index(ident(i)) if ident(i) in wanted else len(wanted) + n, i) for n, i in enumerate(items)]
    return [item for _, item in sorted(ranked, key=lambda pair: pair[0])]


def _merge_field(result: JsonDict, key: str, value: Any, node: Node, api: OpenApiV2, path: str) -> None:
    """Merge one patch field into `result` in place."""
    sub, sub_path = api.child(node, key), f"{path}.{key}" if path else key
    if value is None:
        result.pop(key, None)
    elif isinstance(value, dict) and not api.is_atomic_map(sub):
        merged = strategic_merge(result.get(key), value, sub, api, sub_path)
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    elif isinstance(value, list) and isinstance(result.get(key), list):
        result[key] = _merge_list(result[key], value, sub, api, sub_path)
    elif isinstance(value, list):
        result[key] = [v for v in copy.deepcopy(value) if not (isinstance(v, dict) and "$patch" in v)]
    else:
        result[key] = copy.deepcopy(value)


def strategic_merge(orig: Any, patch: Any, node: Node, api: OpenApiV2, path: str = "") -> Any:
    """Apply a strategic merge patch to `orig` under schema `node`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise bad_request(f"unknown patch directive {directive!r}")
    result: JsonDict = copy.deepcopy(orig) if isinstance(orig, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith(_ORDER):
            orders[key[len(_ORDER):]] = value
        elif key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE):]
            result[field] = [v for v in result.get(field, []) if v not in value]
        elif key not in ("$patch", "$retainKeys"):
            _merge_field(result, key, value, node, api, path)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _order(result[field], order, api.list_info(api.child(node, field)).merge_key)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result
