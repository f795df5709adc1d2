"""Version constraints as Helm reads them (Masterminds/semver v3): ``kubeVersion`` and dependency versions.

Helm accepts lenient versions (``v1.2``, ``1``) and constraint syntax Python's semver does not know
(``~1.2``, ``^1``, ``1.x``, ``1.2 - 1.4``, ``>=1.27.0-0``, comma-AND and ``||``-OR), so the grammar and
comparison rules are kept here, apart from Chart.yaml parsing: chart intake validates constraints with
:func:`parse_constraint`, the installer's preflight checks a cluster with :func:`kube_version_satisfies`.
"""

from __future__ import annotations

import re

import msgspec

from appmarket.errors import Invalid

MAX_CONSTRAINT = 256  # also bounds the regex work on hostile input

_CV = (r"v?(?P<major>[0-9]+|[xX*])(?:\.(?P<minor>[0-9]+|[xX*]))?(?:\.(?P<patch>[0-9]+|[xX*]))?"
       r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")
_TERM = re.compile(rf"\s*(?P<op>!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?\s*{_CV}\s*")
_RANGE = re.compile(rf"(?P<lo>{_CV.replace('?P<', '?P<lo_')})\s+-\s+(?P<hi>{_CV.replace('?P<', '?P<hi_')})")
_VERSION = re.compile(rf"{_CV}")

Version = tuple[int, int, int, str]
"""(major, minor, patch, prerelease); build metadata never matters for precedence."""


class Term(msgspec.Struct, frozen=True):
    """One comparison of a constraint; ``minor_dirty``/``patch_dirty`` mark ``x`` or missing parts."""

    op: str
    version: Version
    dirty: bool = False
    minor_dirty: bool = False
    patch_dirty: bool = False


class Constraint(msgspec.Struct, frozen=True):
    """Alternatives (``||``) of conjunctions (``,`` or space) of terms."""

    text: str
    alternatives: list[list[Term]]

    def allows(self, version: str) -> bool:
        v = parse_lenient_version(version)
        return any(all(_check(t, v) for t in terms) for terms in self.alternatives)


def _is_x(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


def _term(m: re.Match[str]) -> Term:
    op = m.group("op") or ""
    major, minor, patch, pre = m.group("major"), m.group("minor"), m.group("patch"), m.group("pre") or ""
    if major in ("x", "X", "*"):
        return Term(op, (0, 0, 0, pre), dirty=True)
    if _is_x(minor):
        return Term(op, (int(major), 0, 0, pre), dirty=True, minor_dirty=True)
    if _is_x(patch):
        return Term(op, (int(major), int(minor or 0), 0, pre), dirty=True, patch_dirty=True)
    return Term(op, (int(major), int(minor or 0), int(patch or 0), pre))


def parse_constraint(text: str, *, what: str = "version constraint") -> Constraint:
    """Parse a Masterminds/semver constraint: ``>=1.20.0-0``, ``^1.2``, ``~1.3``, ``1.2.x``,
    ``>= 1.2, < 2``, ``1.2 - 1.4.5`` and ``||`` alternatives; ``Invalid`` if it is not one."""
    if len(text) > MAX_CONSTRAINT:
        raise Invalid(f"{what} is longer than {MAX_CONSTRAINT} characters")

    def hyphen(m: re.Match[str]) -> str:
        return f">= {m.group('lo')}, <= {m.group('hi')}"

    alternatives: list[list[Term]] = []
    for branch in _RANGE.sub(hyphen, text).split("||"):
        terms: list[Term] = []
        pos = 0
        while True:
            m = _TERM.match(branch, pos)
            if m is None or m.end() == pos:
                raise Invalid(f"{what} {text!r} is not a valid version constraint")
            terms.append(_term(m))
            pos = m.end()
            if pos == len(branch):
                break
            if branch[pos] == ",":
                pos += 1
            elif not branch[pos - 1].isspace():
                raise Invalid(f"{what} {text!r} is not a valid version constraint")
        alternatives.append(terms)
    return Constraint(text, alternatives)


def parse_lenient_version(version: str) -> Version:
    """A version as Helm's lenient parser reads it: ``v1.28.3-gke.100``, ``1.28`` (-> 1.28.0)."""
    m = _VERSION.fullmatch(version.strip()) if len(version) <= MAX_CONSTRAINT else None
    if m is None or any(_is_x(p) and p is not None for p in (m.group("major"), m.group("minor"),
                                                            m.group("patch"))):
        raise Invalid(f"{version!r} is not a valid version")
    major, minor, patch = (int(m.group(k) or 0) for k in ("major", "minor", "patch"))
    return (major, minor, patch, m.group("pre") or "")


def _cmp_pre(a: str, b: str) -> int:
    if a == b:
        return 0
    if not a or not b:
        return 1 if not a else -1  # a release sorts after its prereleases
    ka, kb = _pre_key(a), _pre_key(b)
    return (ka > kb) - (ka < kb)


def _pre_key(pre: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))


def compare_versions(a: Version, b: Version) -> int:
    if a[:3] != b[:3]:
        return 1 if a[:3] > b[:3] else -1
    return _cmp_pre(a[3], b[3])


def _check(t: Term, v: Version) -> bool:  # noqa: PLR0911, PLR0912 - one rule per operator, as Masterminds
    c = t.version
    if t.op == "!=" and not t.dirty:
        return compare_versions(v, c) != 0
    if v[3] and not c[3]:
        return False  # prereleases only match constraints that mention one
    cmp = compare_versions(v, c)
    if t.op == "!=":
        return _not_equal_dirty(t, v)
    if t.op in ("", "=", "~", "~>"):
        if not t.dirty and t.op in ("", "="):
            return cmp == 0
        tilde_any = c[:3] == (0, 0, 0) and not t.minor_dirty and not t.patch_dirty
        return cmp >= 0 and (tilde_any or (v[0] == c[0] and (t.minor_dirty or v[1] == c[1])))
    if t.op == "^":
        if cmp < 0 or (c[0] == 0 and v[0] > 0 and not t.minor_dirty):
            return False
        if c[0] > 0 or t.minor_dirty:
            return v[0] == c[0]
        if c[1] > 0 or t.patch_dirty:
            return v[1] == c[1]
        return v[1] == 0 and v[2] == c[2]
    if t.op == ">":
        if not t.dirty or v[0] != c[0]:
            return cmp > 0 if not t.dirty else v[0] > c[0]
        if t.minor_dirty:
            return False
        return v[1] > c[1] if t.patch_dirty else cmp > 0
    if t.op == "<":
        return cmp < 0
    if t.op in (">=", "=>"):
        return cmp >= 0
    if not t.dirty:  # "<=" and "=<"
        return cmp <= 0
    return not (v[0] > c[0] or (v[0] == c[0] and v[1] > c[1] and not t.minor_dirty))


def _not_equal_dirty(t: Term, v: Version) -> bool:
    c = t.version
    if v[0] != c[0] or (v[1] != c[1] and not t.minor_dirty):
        return True
    if t.minor_dirty:
        return False
    if v[2] != c[2] and not t.patch_dirty:
        return True
    if t.patch_dirty:
        return bool(v[3] or c[3]) and _cmp_pre(v[3], c[3]) != 0
    return compare_versions(v, c) != 0


def kube_version_satisfies(constraint: str, version: str) -> bool:
    """Whether a Kubernetes version (``v1.29.2``, ``1.28.3-gke.1``) satisfies a chart's kubeVersion.

    An empty constraint allows everything. Note that, as in Helm, a prerelease cluster version such as
    ``1.28.3-gke.1`` only satisfies constraints that mention a prerelease, hence ``>=1.20.0-0``.
    """
    if not constraint.strip():
        return True
    return parse_constraint(constraint, what="kubeVersion").allows(version)
