"""Label and field selectors as apiserver parses them.

helm finds its release Secrets with `owner=helm,name=...`, and the kstatus watcher lists
ReplicaSets/Pods by a Deployment's selector, so selectors must match the real grammar:
`=`, `==`, `!=`, `in`, `notin`, `key` and `!key` for labels; `=`, `==`, `!=` on a few known
fields for field selectors (unknown field labels are a 400 there too).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request

JsonDict = dict[str, Any]

_KEY = re.compile(r"^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")
_SET = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)$")
_CMP = re.compile(r"^(?P<key>[^=!\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>\S*)$")

#: Field labels apiserver accepts beyond metadata.name/metadata.namespace, by kind.
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "Secret": ("type",),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "Job": ("status.successful",),
    "ReplicaSet": ("status.replicas",),
}


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects that lack the key, as in apimachinery
        return not present or value not in self.values


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _check_key(key: str, selector: str) -> None:
    if not _KEY.match(key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in selector {selector!r}")


def parse_label_selector(selector: str | None) -> list[Requirement]:
    """Parse `?labelSelector=`; a malformed selector is a 400 like apiserver's."""
    if not selector:
        return []
    reqs = []
    for part in _split_top_level(selector):
        if m := _SET.match(part):
            values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
            _check_key(m["key"], selector)
            reqs.append(Requirement(m["key"], m["op"], values))
        elif m := _CMP.match(part):
            _check_key(m["key"], selector)
            op = "!=" if m["op"] == "!=" else "="
            reqs.append(Requirement(m["key"], op, (m["value"],)))
        elif part.startswith("!"):
            _check_key(part[1:].strip(), selector)
            reqs.append(Requirement(part[1:].strip(), "!exists"))
        else:
            _check_key(part, selector)
            reqs.append(Requirement(part, "exists"))
    return reqs


def selector_from_label_selector(spec: JsonDict | None) -> list[Requirement]:
    """Turn a `metav1.LabelSelector` (matchLabels/matchExpressions) into requirements."""
    if not spec:
        return []
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (spec.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in spec.get("matchExpressions") or []:
        reqs.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return reqs


def labels_match(reqs: list[Requirement], obj: JsonDict) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


def _field_value(obj: JsonDict, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def parse_field_selector(selector: str | None, kind: str) -> Callable[[JsonDict], bool]:
    """Parse `?fieldSelector=` into a predicate; unsupported field labels are a 400."""
    if not selector:
        return lambda _obj: True
    allowed = ("metadata.name", "metadata.namespace", *FIELD_LABELS.get(kind, ()))
    terms: list[tuple[str, bool, str]] = []
    for part in _split_top_level(selector):
        m = _CMP.match(part)
        if not m:
            raise bad_request(f"invalid selector: {selector!r}; can't understand {part!r}")
        if m["key"] not in allowed:
            raise ApiError(400, "BadRequest", f'field label not supported: {m["key"]}')
        terms.append((m["key"], m["op"] == "!=", m["value"]))

    def predicate(obj: JsonDict) -> bool:
        return all((_field_value(obj, key) == value) != negate for key, negate, value in terms)

    return predicate
