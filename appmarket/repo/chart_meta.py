"""Chart.yaml, values.yaml and values.schema.json: parsing and validation, from bytes.

Rules follow Helm (``pkg/chart/v2/metadata.go``, the ``helm lint`` Chart.yaml rules and the chart loader),
refusing at upload what ``helm lint`` reports as an error:

* ``apiVersion`` is ``v1`` or ``v2``; a missing one means ``v1``, as Helm's loader assumes.
* ``name`` matches Helm's lint rule ``^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`` (so it is safe in a URL, a file
  name and an OCI repository path) and is at most 100 characters.
* ``version`` is strict SemVer 2 (``semver`` library), at most 100 characters. Helm itself accepts
  ``v1.2.3`` and ``1.2`` (Masterminds' lenient parser) but ``helm lint`` warns; we refuse them because
  the version names files (``<name>-<version>.tgz``) and OCI tags, which need one spelling per version.
* Fields Helm types as strings must be YAML strings: ``appVersion: 1.10`` is a float to YAML and would
  silently become ``1.1``, so it is refused with a hint to quote it (``helm lint`` refuses it too).
* ``type`` is ``application`` or ``library`` (v2 only); ``dependencies`` in Chart.yaml are v2 only, v1
  charts list them in ``requirements.yaml``; dependency aliases match ``^[a-zA-Z0-9_-]+$`` and names or
  aliases are unique; dependency versions and ``kubeVersion`` are Masterminds/semver constraints
  (``repo/version_constraints.py``).
* Links (home, icon, sources, maintainer urls) need a scheme and may not be ``javascript:`` or other
  script-capable schemes, since the marketplace renders them; the icon may be a ``data:image/`` URI.
* Control characters (other than tab and newlines) are refused in every string.

YAML is parsed with libyaml's safe loader, without the timestamp resolver (Go's YAML leaves
``2024-01-01`` a string); alias expansion is bounded so "billion laughs" documents are refused.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import semver
import yaml

# jsonschema ships no type information and types-jsonschema is not a project dependency.
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema import exceptions as js_exc
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from referencing import Registry
from referencing.exceptions import Unresolvable

from appmarket.errors import Invalid
from appmarket.repo.version_constraints import parse_constraint

NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
ALIAS_RE = re.compile(r"[a-zA-Z0-9_-]+")
MAX_NAME = 100
MAX_VERSION = 100
MAX_YAML_NODES = 2_000_000
MAX_DEPTH = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_UNSAFE_SCHEMES = {"javascript", "vbscript", "data", "file"}

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe loader that leaves timestamps as strings, like Go's YAML into an interface."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in _BaseLoader.yaml_implicit_resolvers.items()
}


class Maintainer(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str = ""
    email: str = ""
    url: str = ""


class Dependency(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    version: str = ""
    repository: str = ""
    condition: str = ""
    tags: list[str] = []
    enabled: bool = False
    import_values: list[str | dict[str, str]] = msgspec.field(default_factory=list, name="import-values")
    alias: str = ""


class ChartMetadata(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    """Chart.yaml as Helm models it; encodes with Helm's key names and without empty fields."""

    api_version: str = msgspec.field(name="apiVersion")
    name: str
    version: str
    kube_version: str = msgspec.field(default="", name="kubeVersion")
    description: str = ""
    type: str = ""
    keywords: list[str] = []
    home: str = ""
    sources: list[str] = []
    dependencies: list[Dependency] = []
    maintainers: list[Maintainer] = []
    icon: str = ""
    app_version: str = msgspec.field(default="", name="appVersion")
    deprecated: bool = False
    annotations: dict[str, str] = {}


# -- YAML ------------------------------------------------------------------------------------------------

def _decode_text(data: bytes, what: str) -> str:
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{what} is not valid UTF-8 (byte {exc.start})") from exc


def load_yaml(data: bytes, what: str) -> Any:
    """Parse one YAML document safely; ``Invalid`` names ``what`` and the line on errors."""
    text = _decode_text(data, what)
    try:
        obj = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise Invalid(f"{what} is not valid YAML: {exc.problem or exc.context}{where}") from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise Invalid(f"{what} is not valid YAML: {exc}") from exc
    _check_expansion(obj, what)
    return obj


def _check_expansion(obj: Any, what: str) -> None:
    """Refuse documents whose aliases expand past MAX_YAML_NODES, recursive aliases or deep nesting."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, dict | list):
            return 1
        if depth > MAX_DEPTH:
            raise Invalid(f"{what} is nested more than {MAX_DEPTH} levels deep")
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise Invalid(f"{what} contains a recursive YAML alias")
        active.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_YAML_NODES:
                raise Invalid(f"{what} expands to more than {MAX_YAML_NODES} YAML nodes (alias bomb?)")
        active.discard(key)
        memo[key] = total
        return total

    size(obj, 0)


def _key_text(key: Any) -> str:
    """A mapping key as Go's YAML-to-JSON conversion spells it (``80`` -> ``"80"``)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def _jsonable(node: Any, path: str, what: str) -> Any:
    """A JSON-compatible copy of parsed YAML: string keys, no sets, dates or non-finite numbers."""
    if isinstance(node, dict):
        return {_key_text(k): _jsonable(v, f"{path}.{_key_text(k)}", what) for k, v in node.items()}
    if isinstance(node, list):
        return [_jsonable(v, f"{path}[{i}]", what) for i, v in enumerate(node)]
    if isinstance(node, float) and not math.isfinite(node):
        raise Invalid(f"{what}: {path or '.'} is {node}, which JSON (and Helm) cannot represent")
    if node is None or isinstance(node, str | int | float):
        return node
    if isinstance(node, dt.date):
        return node.isoformat()
    raise Invalid(f"{what}: {path or '.'} has unsupported YAML type {type(node).__name__}")


# -- values ----------------------------------------------------------------------------------------------

def parse_values(values_yaml: bytes) -> dict[str, Any]:
    """values.yaml as a JSON-compatible mapping (empty file -> ``{}``)."""
    obj = load_yaml(values_yaml, "values.yaml")
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise Invalid(f"values.yaml must be a mapping, not a {type(obj).__name__}")
    out: dict[str, Any] = _jsonable(obj, "", "values.yaml")
    return out


def parse_values_schema(data: bytes, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """values.schema.json, checked to be a JSON Schema; ``values`` (if given) must satisfy it.

    Like ``helm lint``, default values that break the chart's own schema are refused; the message
    lists up to ten failing paths. Remote ``$ref``s are never fetched (this function is pure), so a
    schema that needs one to validate the values is refused.
    """
    try:
        schema = json.loads(_decode_text(data, "values.schema.json"))
    except json.JSONDecodeError as exc:
        raise Invalid(f"values.schema.json is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise Invalid("values.schema.json must be a JSON object")
    cls = _validator_class(schema)
    try:
        cls.check_schema(schema)
    except js_exc.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise Invalid(f"values.schema.json is not a valid JSON Schema at {where}: {exc.message}") from exc
    if values is not None:
        _validate_values(cls(schema, registry=Registry()), values)
    return schema


def _validator_class(schema: dict[str, Any]) -> Any:
    declared = schema.get("$schema")
    if isinstance(declared, str):
        # Charts often spell the draft URI with https or without the trailing '#'.
        canonical = declared.replace("https://", "http://", 1).rstrip("#")
        for uri in (declared, canonical, canonical + "#"):
            cls = validator_for({"$schema": uri}, default=None)
            if cls is not None:
                return cls
    return Draft202012Validator


def _validate_values(validator: Any, values: Mapping[str, Any]) -> None:
    try:
        errors = sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.absolute_path)))
    except Unresolvable as exc:
        raise Invalid("values.schema.json has a $ref that cannot be resolved without fetching it: "
                      f"{exc}") from exc
    if errors:
        shown = "; ".join(f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                          for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise Invalid(f"values.yaml does not match values.schema.json: {shown}{more}")


# -- Chart.yaml ------------------------------------------------------------------------------------------

def parse_chart_yaml(data: bytes, *, requirements_yaml: bytes | None = None) -> ChartMetadata:
    """Parse and validate Chart.yaml; ``requirements_yaml`` supplies dependencies for v1 charts."""
    raw = load_yaml(data, "Chart.yaml")
    if not isinstance(raw, dict):
        raise Invalid("Chart.yaml must be a mapping")
    raw = dict(raw)
    if raw.get("apiVersion") in (None, ""):
        raw["apiVersion"] = "v1"
    if raw["apiVersion"] not in ("v1", "v2"):
        raise Invalid(f"Chart.yaml: apiVersion {raw['apiVersion']!r} is not valid; it must be v1 or v2")
    if raw.get("dependencies") and raw["apiVersion"] == "v1":
        raise Invalid("Chart.yaml: dependencies are only valid in apiVersion v2 charts "
                      "(v1 charts list them in requirements.yaml)")
    if not raw.get("dependencies") and requirements_yaml is not None:
        req = load_yaml(requirements_yaml, "requirements.yaml")
        if req is not None and not isinstance(req, dict):
            raise Invalid("requirements.yaml must be a mapping")
        raw["dependencies"] = (req or {}).get("dependencies") or []
    for key in ("name", "version"):
        if raw.get(key) in (None, ""):
            raise Invalid(f"Chart.yaml: {key} is required")
    _check_strings(raw, "")
    try:
        md = msgspec.convert(raw, ChartMetadata)
    except msgspec.ValidationError as exc:
        raise Invalid(f"Chart.yaml: {exc} (quote values that YAML would otherwise read as numbers, "
                      "booleans or null)") from exc
    _validate(md)
    return md


def _check_strings(node: Any, path: str) -> None:
    if isinstance(node, str):
        if _CONTROL.search(node):
            raise Invalid(f"Chart.yaml: {path} contains a control character")
    elif isinstance(node, dict):
        for k, v in node.items():
            _check_strings(k, path or "key")
            _check_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_strings(v, f"{path}[{i}]")


def _validate(md: ChartMetadata) -> None:
    if len(md.name) > MAX_NAME or not NAME_RE.fullmatch(md.name):
        raise Invalid(f"Chart.yaml: chart name {md.name!r} is invalid: chart names contain lowercase "
                      "letters, digits and dashes, start and end with a letter or digit, and are at "
                      f"most {MAX_NAME} characters")
    check_chart_version(md.version)
    if md.kube_version:
        parse_constraint(md.kube_version, what="Chart.yaml: kubeVersion")
    if md.type not in ("", "application", "library"):
        raise Invalid(f"Chart.yaml: type {md.type!r} is invalid; it must be application or library")
    if md.type and md.api_version == "v1":
        raise Invalid("Chart.yaml: type is only valid in apiVersion v2 charts")
    _check_link("home", md.home)
    _check_link("icon", md.icon, icon=True)
    for i, src in enumerate(md.sources):
        if not src:
            raise Invalid(f"Chart.yaml: sources[{i}] is empty")
        _check_link(f"sources[{i}]", src)
    for i, m in enumerate(md.maintainers):
        if not m.name:
            raise Invalid(f"Chart.yaml: maintainers[{i}] has no name (each maintainer requires a name)")
        if m.email and not re.fullmatch(r"[^@\s]+@[^@\s]+", m.email):
            raise Invalid(f"Chart.yaml: invalid email {m.email!r} for maintainer {m.name!r}")
        _check_link(f"maintainers[{i}].url", m.url)
    _validate_dependencies(md.dependencies)


def check_chart_version(version: str) -> None:
    """Refuse anything but a strict SemVer 2 version (see the module docstring)."""
    if len(version) > MAX_VERSION:
        raise Invalid(f"Chart.yaml: version is longer than {MAX_VERSION} characters")
    if not semver.Version.is_valid(version):
        hint = ""
        if version[:1] in "vV" and semver.Version.is_valid(version[1:]):
            hint = f" (drop the leading {version[0]!r}: {version[1:]})"
        raise Invalid(f"Chart.yaml: version {version!r} is not a valid strict SemVer 2 version{hint}")


def _check_link(field: str, value: str, *, icon: bool = False) -> None:
    if not value:
        return
    m = _SCHEME.match(value)
    if m is None or any(c.isspace() for c in value):
        raise Invalid(f"Chart.yaml: {field} {value[:200]!r} is not an absolute URL")
    scheme = m.group(1).lower()
    if icon and scheme == "data" and value[5:].lower().startswith("image/"):
        return
    if scheme in _UNSAFE_SCHEMES:
        raise Invalid(f"Chart.yaml: {field} uses the {scheme}: scheme, which is not allowed")


def _validate_dependencies(deps: list[Dependency]) -> None:
    seen: set[str] = set()
    for i, dep in enumerate(deps):
        if not dep.name or "/" in dep.name:
            raise Invalid(f"Chart.yaml: dependencies[{i}] has an empty or invalid name {dep.name!r}")
        if dep.alias and not ALIAS_RE.fullmatch(dep.alias):
            raise Invalid(f"Chart.yaml: dependency {dep.name!r} has disallowed characters in the alias")
        if dep.version:
            parse_constraint(dep.version, what=f"Chart.yaml: dependency {dep.name!r} version")
        key = dep.alias or dep.name
        if key in seen:
            raise Invalid(f"Chart.yaml: more than one dependency with name or alias {key!r}; "
                          "use distinct aliases for dependencies on the same chart")
        seen.add(key)
