"""Kubernetes label selectors in their string form (``env=prod,region in (bj,sh),!edge``): parse and match.

Pure: the addon file, overrides and explicit waves all name clusters this way. The grammar is the one
``kubectl -l`` takes: ``key``, ``!key``, ``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)``,
``key notin (a,b)``, requirements joined by commas; an empty selector matches everything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from appmarket.errors import Invalid

_KEY = r"(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
_EXISTS = re.compile(rf"(!?)\s*({_KEY})")
_EQUALS = re.compile(rf"({_KEY})\s*(==|=|!=)\s*({_VALUE})")
_SET = re.compile(rf"({_KEY})\s+(in|notin)\s*\(([^()]*)\)")
_VALUE_RE = re.compile(_VALUE)


class Requirement(msgspec.Struct, frozen=True):
    key: str
    op: str  # exists, !exists, =, !=, in, notin
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!exists":
            return value is None
        if self.op in ("=", "in"):
            return value is not None and value in self.values
        return value is None or value not in self.values  # != and notin match clusters without the key


Selector = tuple[Requirement, ...]


def _split(text: str) -> list[str]:
    """Requirements split on commas outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise Invalid(f"invalid label selector {text!r}: unbalanced ')'")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise Invalid(f"invalid label selector {text!r}: unbalanced '('")
    parts.append("".join(current))
    return parts


def _requirement(part: str, text: str) -> Requirement:
    if m := _SET.fullmatch(part):
        values = tuple(v.strip() for v in m[3].split(","))
        if not values or any(not v or not _VALUE_RE.fullmatch(v) for v in values):
            raise Invalid(f"invalid label selector {text!r}: bad value list in {part!r}")
        return Requirement(m[1], m[2], values)
    if m := _EQUALS.fullmatch(part):
        return Requirement(m[1], "!=" if m[2] == "!=" else "=", (m[3],))
    if m := _EXISTS.fullmatch(part):
        return Requirement(m[2], "!exists" if m[1] else "exists")
    raise Invalid(f"invalid label selector {text!r}: cannot parse {part!r}")


def parse(text: str | None) -> Selector:
    """Parse a selector string; raise ``Invalid`` naming the bad requirement."""
    if text is None or not text.strip():
        return ()
    return tuple(_requirement(p.strip(), text) for p in _split(text.strip()))


def matches(selector: Selector, labels: Mapping[str, str]) -> bool:
    return all(r.matches(labels) for r in selector)


def select(text: str | None, labels: Mapping[str, str]) -> bool:
    """Parse and match in one call (for selectors already validated)."""
    return matches(parse(text), labels)
