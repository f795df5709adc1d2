"""From a chart's ``values.schema.json`` to a form, and from a submitted form back to values.

The web install flow renders ``build_form``'s fields (featured parameters first) and turns the POSTed
fields into a values mapping with ``parse_submission``, which checks each field as typed (numbers,
bounds, enums, patterns, required) and then the whole result against the schema. Fields are keyed by
their dotted path (``persistence.size``), which is also the HTML input name.

The form and the "all values" YAML editor are two views of one mapping. Each field carries the text it
was rendered with (``FormField.text``); on submission a field counts only where its text changed, so an
edit made in the YAML editor is not overwritten by an untouched field, and an edit made in a field wins
over the YAML it was rendered beside.
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
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    children: list[FormField] = []
    featured: bool = False
    #: What the input shows (never a secret): also what a submission is compared with to see a change.
    text: str = ""
    item_kind: Kind = "string"


_MISSING = object()


def _lookup(values: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at ``path``, or ``_MISSING`` where a key is absent (unlike an explicit null)."""
    node: Any = values
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _get(values: Mapping[str, Any], path: Sequence[str]) -> Any:
    found = _lookup(values, path)
    return None if found is _MISSING else found


def _bounds(schema: Mapping[str, Any], inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    """A bound and whether it is exclusive, from draft 6+ (number) or draft 4 (boolean) keywords."""
    excl = schema.get(exclusive)
    if isinstance(excl, bool):
        return schema.get(inclusive), excl and schema.get(inclusive) is not None
    if isinstance(excl, int | float):
        return excl, True
    return schema.get(inclusive), False


def text_of(field: FormField) -> str:
    """The text an input shows for ``field.value``; the template renders exactly this."""
    value = field.value
    if field.kind in ("secret", "object") or value is None:
        return "null" if field.kind == "json" and value is None else ""
    if field.kind == "boolean":
        return "on" if value else ""
    if field.kind == "list":
        return "\n".join(str(v) for v in value) if isinstance(value, list) else json.dumps(value)
    if field.kind == "json":
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) and field.kind != "enum" else str(value)


def _kind(schema: Mapping[str, Any], depth: int) -> Kind:
    types = schema.get("type")
    if isinstance(types, list):
        types = next((t for t in types if t != "null"), "string")
    if "enum" in schema:
        return "enum"
    if types == "object" and "properties" in schema and depth < MAX_DEPTH:
        return "object"
    if types == "array":
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return "json"
        return "list" if items.get("type") in ("string", "integer", "number") and "enum" not in items else "json"
    if types == "string" and (schema.get("format") == "password" or schema.get("writeOnly")):
        return "secret"
    return _SCALARS.get(str(types), "json")


def _field(name: str, path: list[str], schema: Mapping[str, Any], values: Mapping[str, Any],
           required: bool, depth: int) -> FormField:
    kind = _kind(schema, depth)
    value = _lookup(values, path)
    default = schema.get("default")
    if value is _MISSING:  # values.yaml lacks the key: the schema's default is what the field starts with
        value = None if kind in ("object", "secret") else default
    minimum, excl_min = _bounds(schema, "minimum", "exclusiveMinimum")
    maximum, excl_max = _bounds(schema, "maximum", "exclusiveMaximum")
    items = schema.get("items")
    items = items if isinstance(items, Mapping) else {}
    field = FormField(
        path=".".join(path), label=str(schema.get("title") or name), kind=kind,
        description=str(schema.get("description", "")), required=required,
        value=value, default=default, options=list(schema.get("enum", [])),
        minimum=minimum, maximum=maximum, exclusive_minimum=excl_min, exclusive_maximum=excl_max,
        min_length=schema.get("minLength"), max_length=schema.get("maxLength"), pattern=schema.get("pattern"),
        item_kind=_SCALARS.get(str(items.get("type")), "string"),
    )
    field.text = text_of(field)
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


def _scalar(kind: Kind, text: str) -> Any:
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError("must be a whole number")
        return int(text)
    if kind == "number":
        try:
            return float(text) if "." in text or "e" in text.lower() else int(text)
        except ValueError:
            raise ValueError("must be a number") from None
    return text


def _convert(field: FormField, raw: str) -> Any:
    text = raw.strip()
    if field.kind == "boolean":
        return text.lower() in ("on", "true", "1", "yes")
    if field.kind in ("integer", "number"):
        return _scalar(field.kind, text)
    if field.kind == "enum":
        for option in field.options:
            if str(option) == text:
                return option
        raise ValueError(f"must be one of {', '.join(map(str, field.options))}")
    if field.kind == "list":
        return [_scalar(field.item_kind, item.strip()) for item in re.split(r"[\n,]", raw) if item.strip()]
    if field.kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"must be JSON ({exc.msg})") from None
    return raw


def _check(field: FormField, value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = field.minimum, field.maximum
        if low is not None and (value <= low if field.exclusive_minimum else value < low):
            raise ValueError(f"must be {'greater than' if field.exclusive_minimum else 'at least'} {low:g}")
        if high is not None and (value >= high if field.exclusive_maximum else value > high):
            raise ValueError(f"must be {'less than' if field.exclusive_maximum else 'at most'} {high:g}")
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
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _norm(text: str) -> str:
    """Browsers send textarea lines as CRLF and drop a leading newline: compare without either."""
    return text.replace("\r\n", "\n").strip()


def _submitted(field: FormField, form: Mapping[str, str]) -> tuple[bool, Any]:
    """(changed, value) of one field: unchanged where the submitted text is the text it was rendered with."""
    if field.kind == "boolean":
        if f"{field.path}__present" not in form:
            return False, None
        value = _convert(field, form.get(field.path, ""))
        return value != bool(field.value), value
    raw = form.get(field.path)
    if raw is None or raw.strip() == "" or (field.kind != "secret" and _norm(raw) == _norm(field.text)):
        return False, None
    value = _convert(field, raw)
    _check(field, value)
    return True, value


def parse_submission(schema: Mapping[str, Any], form: Mapping[str, str], base: Mapping[str, Any] | None = None,
                     edited: Mapping[str, Any] | None = None, kept: Mapping[str, Any] | None = None,
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """Values from a submitted form; errors keyed by dotted path.

    ``base`` is what the form was rendered from, ``edited`` what the YAML editor sent back (``base`` when
    absent). The result is ``edited`` with every field whose text changed written over it. A field left
    empty changes nothing; an empty secret keeps the value in ``kept`` (typed earlier, never re-sent to
    the page) unless the YAML editor set one.
    """
    rendered: dict[str, Any] = json.loads(json.dumps(base or {}))
    values: dict[str, Any] = json.loads(json.dumps(rendered if edited is None else edited))
    errors: dict[str, str] = {}
    _, fields = build_form(schema, rendered)
    for field in leaves(fields):
        try:
            changed, value = _submitted(field, form)
        except ValueError as exc:
            errors[field.path] = str(exc)
            continue
        if changed:
            _set(values, field.path, value)
        elif field.kind == "secret" and kept and field.path in kept \
                and _lookup(values, field.path.split(".")) is _MISSING:
            _set(values, field.path, kept[field.path])
        raw = form.get(field.path)
        if field.required and raw is not None and not raw.strip() and _get(values, field.path.split(".")) is None:
            errors[field.path] = "is required"
    if not errors:
        for err in Draft7Validator(schema).iter_errors(values):
            path = ".".join(str(p) for p in err.absolute_path) or "(values)"
            errors.setdefault(path, err.message)
    return values, errors
