"""From a chart's ``values.schema.json`` to a form, and from a submitted form back to values.

The web install flow renders ``build_form``'s fields (featured parameters first) and turns the POSTed
fields into a values mapping with ``parse_submission``, which checks each field as typed (numbers,
bounds, enums, patterns, required) and then the whole result against the schema. Fields are keyed by
their dotted path (``persistence.size``), which is also the HTML input name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec
from jsonschema import Draft7Validator  # type: ignore[import-untyped]

Kind = Literal["string", "integer", "number", "boolean", "enum", "secret", "object", "list", "json"]
MAX_DEPTH = 6
_SCALARS: dict[str, Kind] = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}


class FormField(msgspec.Struct):
    path: str
    label: str
    kind: Kind
    description: str = ""
    required: bool = False
    value: Any = None
    default: Any = None
    options: list[Any] = []
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    children: list[FormField] = []
    featured: bool = False


def _get(values: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = values
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _kind(schema: Mapping[str, Any], depth: int) -> Kind:
    types = schema.get("type")
    if isinstance(types, list):
        types = next((t for t in types if t != "null"), "string")
    if "enum" in schema:
        return "enum"
    if types == "object" and "properties" in schema and depth < MAX_DEPTH:
        return "object"
    if types == "array":
        item_type = (schema.get("items") or {}).get("type")
        return "list" if item_type in ("string", "integer", "number") else "json"
    if types == "string" and (schema.get("format") == "password" or schema.get("writeOnly")):
        return "secret"
    return _SCALARS.get(str(types), "json")


def _field(name: str, path: list[str], schema: Mapping[str, Any], values: Mapping[str, Any],
           required: bool, depth: int) -> FormField:
    kind = _kind(schema, depth)
    field = FormField(
        path=".".join(path), label=str(schema.get("title") or name), kind=kind,
        description=str(schema.get("description", "")), required=required,
        value=_get(values, path), default=schema.get("default"), options=list(schema.get("enum", [])),
        minimum=schema.get("minimum", schema.get("exclusiveMinimum")),
        maximum=schema.get("maximum", schema.get("exclusiveMaximum")),
        min_length=schema.get("minLength"), max_length=schema.get("maxLength"), pattern=schema.get("pattern"),
    )
    if kind == "object":
        needed = set(schema.get("required", []))
        field.children = [_field(child, [*path, child], sub, values, child in needed, depth + 1)
                          for child, sub in (schema.get("properties") or {}).items() if isinstance(sub, Mapping)]
    return field


def build_form(schema: Mapping[str, Any], values: Mapping[str, Any],
               featured: Sequence[str] = ()) -> tuple[list[FormField], list[FormField]]:
    """(featured fields, all other top-level fields), each carrying the current value."""
    needed = set(schema.get("required", []))
    props = schema.get("properties") or {}
    fields = [_field(name, [name], sub, values, name in needed, 0)
              for name, sub in props.items() if isinstance(sub, Mapping)]
    picked: list[FormField] = []
    for path in featured:
        found = _find(fields, path)
        if found is not None and found.kind != "object":
            found.featured = True
            picked.append(found)
    return picked, fields


def _find(fields: Sequence[FormField], path: str) -> FormField | None:
    for f in fields:
        if f.path == path:
            return f
        if path.startswith(f.path + ".") and f.children:
            hit = _find(f.children, path)
            if hit is not None:
                return hit
    return None


def leaves(fields: Sequence[FormField]) -> list[FormField]:
    out: list[FormField] = []
    for f in fields:
        out.extend(leaves(f.children) if f.kind == "object" else [f])
    return out


def _convert(field: FormField, raw: str) -> Any:  # noqa: PLR0911 - one branch per kind reads best
    text = raw.strip()
    if field.kind == "boolean":
        return text.lower() in ("on", "true", "1", "yes")
    if field.kind == "integer":
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError("must be a whole number")
        return int(text)
    if field.kind == "number":
        try:
            return float(text) if "." in text or "e" in text.lower() else int(text)
        except ValueError:
            raise ValueError("must be a number") from None
    if field.kind == "enum":
        for option in field.options:
            if str(option) == text:
                return option
        raise ValueError(f"must be one of {', '.join(map(str, field.options))}")
    if field.kind == "list":
        return [item.strip() for item in re.split(r"[\n,]", raw) if item.strip()]
    if field.kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"must be JSON ({exc.msg})") from None
    return raw


def _check(field: FormField, value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if field.minimum is not None and value < field.minimum:
            raise ValueError(f"must be at least {field.minimum:g}")
        if field.maximum is not None and value > field.maximum:
            raise ValueError(f"must be at most {field.maximum:g}")
    if isinstance(value, str):
        if field.min_length is not None and len(value) < field.min_length:
            raise ValueError(f"must be at least {field.min_length} characters")
        if field.max_length is not None and len(value) > field.max_length:
            raise ValueError(f"must be at most {field.max_length} characters")
        if field.pattern and re.search(field.pattern, value) is None:
            raise ValueError(f"must match {field.pattern}")


def _set(values: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def parse_submission(schema: Mapping[str, Any], form: Mapping[str, str],
                     base: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Values from submitted fields layered over ``base``; errors keyed by dotted path.

    A field left empty keeps the base (default) value, except secrets, which are then left out, and
    booleans, whose absent checkbox means false when the form carried the field (``<path>__present``).
    """
    values: dict[str, Any] = json.loads(json.dumps(base or {}))
    errors: dict[str, str] = {}
    _, fields = build_form(schema, values)
    for field in leaves(fields):
        if field.kind == "boolean":
            if f"{field.path}__present" in form:
                _set(values, field.path, _convert(field, form.get(field.path, "")))
            continue
        raw = form.get(field.path)
        if raw is None:
            continue
        if raw.strip() == "":
            if field.required and field.value is None:
                errors[field.path] = "is required"
            continue
        try:
            value = _convert(field, raw)
            _check(field, value)
        except ValueError as exc:
            errors[field.path] = str(exc)
            continue
        _set(values, field.path, value)
    if not errors:
        for err in Draft7Validator(schema).iter_errors(values):
            path = ".".join(str(p) for p in err.absolute_path) or "(values)"
            errors.setdefault(path, err.message)
    return values, errors
