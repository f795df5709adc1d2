"""The values-schema form model: fields from a schema, and values (with errors) from a submission."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import Environment, FileSystemLoader

from appmarket.api.web import WEB_DIR
from appmarket.ui.form_state import MASK, mask, place_errors, rendered_paths, split_secrets, with_defaults
from appmarket.ui.schema_form import build_form, leaves, parse_submission

SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["replicaCount", "auth"],
    "properties": {
        "replicaCount": {"type": "integer", "minimum": 1, "maximum": 9, "default": 1,
                         "description": "How many pods"},
        "mode": {"type": "string", "enum": ["standalone", "cluster"], "default": "standalone"},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "metrics": {"type": "boolean", "default": False},
        "auth": {"type": "object", "required": ["password"], "properties": {
            "password": {"type": "string", "format": "password", "minLength": 8},
            "user": {"type": "string", "pattern": "^[a-z]+$", "default": "admin"},
        }},
        "persistence": {"type": "object", "properties": {
            "size": {"type": "string", "default": "8Gi", "title": "Volume size"},
            "storageClass": {"type": ["string", "null"]},
        }},
        "hosts": {"type": "array", "items": {"type": "string"}},
        "tolerations": {"type": "array", "items": {"type": "object"}},
    },
}
VALUES = {"replicaCount": 1, "mode": "standalone", "metrics": False, "auth": {"user": "admin"},
          "persistence": {"size": "8Gi", "storageClass": None}, "hosts": [], "tolerations": []}


def test_fields_cover_every_kind_and_featured_come_first() -> None:
    featured, fields = build_form(SCHEMA, VALUES, ["persistence.size", "replicaCount", "no.such"])
    assert [f.path for f in featured] == ["persistence.size", "replicaCount"]
    assert featured[0].label == "Volume size"
    kinds = {f.path: f.kind for f in leaves(fields)}
    assert kinds == {
        "replicaCount": "integer", "mode": "enum", "ratio": "number", "metrics": "boolean",
        "auth.password": "secret", "auth.user": "string", "persistence.size": "string",
        "persistence.storageClass": "string", "hosts": "list", "tolerations": "json",
    }
    by_path = {f.path: f for f in leaves(fields)}
    assert by_path["replicaCount"].required
    assert (by_path["replicaCount"].minimum, by_path["replicaCount"].maximum) == (1, 9)
    assert by_path["auth.password"].required
    assert by_path["mode"].options == ["standalone", "cluster"]
    assert by_path["persistence.size"].value == "8Gi"
    assert by_path["replicaCount"].description == "How many pods"


def test_submission_becomes_typed_values() -> None:
    form = {"replicaCount": "3", "mode": "cluster", "ratio": "0.5", "metrics": "on", "metrics__present": "1",
            "auth.password": "s3cret-pass", "auth.user": "", "persistence.size": "20Gi",
            "hosts": "a.example.com\nb.example.com", "tolerations": '[{"key": "gpu"}]'}
    values, errors = parse_submission(SCHEMA, form, VALUES)
    assert errors == {}
    assert values["replicaCount"] == 3
    assert values["mode"] == "cluster"
    assert values["ratio"] == 0.5
    assert values["metrics"] is True
    assert values["auth"] == {"user": "admin", "password": "s3cret-pass"}
    assert values["persistence"]["size"] == "20Gi"
    assert values["hosts"] == ["a.example.com", "b.example.com"]
    assert values["tolerations"] == [{"key": "gpu"}]
    unchecked, _ = parse_submission(SCHEMA, {"metrics__present": "1", "auth.password": "long-enough"},
                                    {**VALUES, "metrics": True})
    assert unchecked["metrics"] is False


@pytest.mark.parametrize(("form", "path", "message"), [
    ({"replicaCount": "three"}, "replicaCount", "whole number"),
    ({"replicaCount": "12"}, "replicaCount", "at most 9"),
    ({"replicaCount": "0"}, "replicaCount", "at least 1"),
    ({"ratio": "lots"}, "ratio", "number"),
    ({"mode": "galaxy"}, "mode", "one of standalone, cluster"),
    ({"auth.password": "short"}, "auth.password", "at least 8 characters"),
    ({"auth.user": "Root!"}, "auth.user", "must match"),
    ({"tolerations": "[{"}, "tolerations", "must be JSON"),
    ({"replicaCount": ""}, "auth", "'password' is a required property"),
])
def test_bad_fields_get_clear_errors(form: dict[str, str], path: str, message: str) -> None:
    base_form = {"auth.password": "long-enough-pass"} if path not in ("auth.password", "auth") else {}
    _, errors = parse_submission(SCHEMA, {**base_form, **form}, VALUES)
    assert path in errors, errors
    assert message in errors[path]


def _rendered(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
    """What a browser submits for an untouched form: each field's rendered text (checkboxes as sent)."""
    _, fields = build_form(schema, values)
    form: dict[str, str] = {}
    for f in leaves(fields):
        if f.kind == "boolean":
            form[f"{f.path}__present"] = "1"
            if f.value:
                form[f.path] = "on"
        else:
            form[f.path] = f.text
    return form


def test_yaml_editor_wins_where_only_it_changed_and_fields_win_where_they_changed() -> None:
    base = {**VALUES, "auth": {"user": "admin", "password": "long-enough-pass"}}
    edited = {**base, "replicaCount": 7, "persistence": {"size": "50Gi", "storageClass": None}}
    form = _rendered(SCHEMA, base)
    # Untouched fields (including those inside the closed "All parameters" box) leave the YAML's edits alone.
    values, errors = parse_submission(SCHEMA, form, base, edited)
    assert errors == {}
    assert values["replicaCount"] == 7
    assert values["persistence"]["size"] == "50Gi"
    # A field the user changed wins over the YAML; the YAML's other edit survives beside it.
    values, errors = parse_submission(SCHEMA, {**form, "replicaCount": "4"}, base, edited)
    assert errors == {}
    assert (values["replicaCount"], values["persistence"]["size"]) == (4, "50Gi")
    # A key removed in the YAML stays removed when its field is untouched.
    trimmed = {k: v for k, v in edited.items() if k != "mode"}
    values, _ = parse_submission(SCHEMA, form, base, trimmed)
    assert "mode" not in values
    # Textareas come back with CRLF line ends: that is not a change either.
    listed = {**base, "hosts": ["a.example.com", "b.example.com"]}
    crlf = {**_rendered(SCHEMA, listed), "hosts": "a.example.com\r\nb.example.com"}
    values, _ = parse_submission(SCHEMA, crlf, listed, {**listed, "hosts": ["c.example.com"]})
    assert values["hosts"] == ["c.example.com"]


def test_unticked_checkbox_is_a_change_only_against_what_was_rendered() -> None:
    base = {**VALUES, "metrics": True, "auth": {"password": "long-enough-pass"}}
    form = _rendered(SCHEMA, base)
    values, _ = parse_submission(SCHEMA, form, base, {**base, "metrics": True})
    assert values["metrics"] is True
    form.pop("metrics")  # the user unticked it
    values, _ = parse_submission(SCHEMA, form, base, base)
    assert values["metrics"] is False


def test_secrets_typed_earlier_are_kept_and_never_rendered() -> None:
    base = {**VALUES, "auth": {"user": "admin", "password": "hunter2-hunter2"}}
    _, fields = build_form(SCHEMA, base)
    secret = next(f for f in leaves(fields) if f.path == "auth.password")
    assert secret.text == ""  # the page never carries it
    public, secrets = split_secrets(SCHEMA, base)
    assert public["auth"] == {"user": "admin"}
    assert secrets == {"auth.password": "hunter2-hunter2"}
    form = _rendered(SCHEMA, public)
    values, errors = parse_submission(SCHEMA, form, public, public, kept=secrets)
    assert errors == {}
    assert values["auth"]["password"] == "hunter2-hunter2"
    values, _ = parse_submission(SCHEMA, {**form, "auth.password": "a-new-password"}, public, public, kept=secrets)
    assert values["auth"]["password"] == "a-new-password"
    assert mask("pw: hunter2-hunter2, b64: aHVudGVyMi1odW50ZXIy", secrets.values()) == \
        f"pw: {MASK}, b64: {MASK}"


def test_schema_default_is_the_initial_value_where_values_lack_the_key() -> None:
    schema = {"type": "object", "properties": {
        "replicas": {"type": "integer", "default": 3},
        "tier": {"type": "string", "enum": ["free", "pro"], "default": "pro"},
        "tls": {"type": "object", "properties": {"enabled": {"type": "boolean", "default": True},
                                                 "issuer": {"type": "string", "default": "letsencrypt"}}},
        "token": {"type": "string", "writeOnly": True, "default": "never-shown"},
        "name": {"type": "string", "default": "web"},
    }}
    _, fields = build_form(schema, {"name": "mine"})
    by_path = {f.path: f for f in leaves(fields)}
    assert (by_path["replicas"].value, by_path["replicas"].text) == (3, "3")
    assert by_path["tier"].text == "pro"
    assert by_path["tls.enabled"].value is True
    assert by_path["tls.issuer"].text == "letsencrypt"
    assert by_path["name"].text == "mine"  # values.yaml wins over the schema default
    assert by_path["token"].text == ""
    filled = with_defaults(schema, {"name": "mine"})
    assert filled == {"name": "mine", "replicas": 3, "tier": "pro", "tls": {"enabled": True, "issuer": "letsencrypt"}}
    _, explicit_null = build_form(schema, {"replicas": None})
    assert {f.path: f for f in explicit_null}["replicas"].value is None  # an explicit null is kept


@pytest.mark.parametrize(("prop", "raw", "message"), [
    ({"type": "integer", "exclusiveMinimum": 0}, "0", "must be greater than 0"),
    ({"type": "integer", "exclusiveMaximum": 10}, "10", "must be less than 10"),
    ({"type": "number", "exclusiveMinimum": 0.5}, "0.5", "must be greater than 0.5"),
    ({"type": "number", "minimum": 1, "exclusiveMinimum": True}, "1", "must be greater than 1"),  # draft 4
])
def test_exclusive_bounds_are_strict(prop: dict[str, Any], raw: str, message: str) -> None:
    schema = {"type": "object", "properties": {"n": prop}}
    _, errors = parse_submission(schema, {"n": raw}, {})
    assert message in errors["n"]
    bound = prop.get("exclusiveMinimum", prop.get("exclusiveMaximum"))
    inside = str(prop.get("minimum", bound) + 1) if "exclusiveMinimum" in prop else str(bound - 1)
    _, errors = parse_submission(schema, {"n": inside}, {})
    assert errors == {}, errors
    field = build_form(schema, {})[1][0]
    assert field.exclusive_minimum or field.exclusive_maximum


def test_draft4_inclusive_bounds_stay_inclusive() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "exclusiveMinimum": False}}}
    field = build_form(schema, {})[1][0]
    assert (field.minimum, field.exclusive_minimum) == (1, False)
    assert parse_submission(schema, {"n": "1"}, {})[1] == {}


def test_integer_lists_stay_integers() -> None:
    schema = {"type": "object", "properties": {"ports": {"type": "array", "items": {"type": "integer"}}}}
    values, errors = parse_submission(schema, {"ports": "80\n443"}, {"ports": [8080]})
    assert errors == {}
    assert values["ports"] == [80, 443]
    assert parse_submission(schema, {"ports": "80\nhttp"}, {})[1]["ports"] == "must be a whole number"


def test_every_error_has_a_place() -> None:
    featured, fields = build_form(SCHEMA, VALUES, ["replicaCount"])
    shown = rendered_paths(fields, featured)
    errors = {"auth": "'password' is a required property", "hosts.0": "'' is too short",
              "replicaCount": "must be at most 9", "(values)": "the YAML editor must hold a mapping",
              "cluster": "pick a cluster", "persistence.size": "is required"}
    by_field, summary = place_errors(errors, shown)
    assert by_field == {"auth": ["auth: 'password' is a required property"], "hosts": ["hosts.0: '' is too short"],
                        "replicaCount": ["replicaCount must be at most 9"],
                        "persistence.size": ["persistence.size is required"]}
    assert summary == ["the YAML editor must hold a mapping", "cluster: pick a cluster"]
    # An object whose every child is featured has no fieldset: its error goes to the summary.
    only = {"type": "object", "properties": {"db": {"type": "object", "properties": {"host": {"type": "string"}}}}}
    featured, fields = build_form(only, {}, ["db.host"])
    by_field, summary = place_errors({"db": "'port' is a required property"}, rendered_paths(fields, featured))
    assert by_field == {}
    assert summary == ["db: 'port' is a required property"]


def _html(schema: dict[str, Any], values: dict[str, Any]) -> str:
    """The fields as the install page renders them (the real template macro)."""
    env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=True)
    macro = env.get_template("_form.html").module.field  # type: ignore[attr-defined]
    return "".join(str(macro(f, {}, set())) for f in build_form(schema, values)[1])


def test_browser_bounds_and_initial_values_in_the_html() -> None:
    html = _html({"type": "object", "properties": {
        "workers": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
        "ratio": {"type": "number", "exclusiveMinimum": 0.5, "maximum": 2},
        "region": {"type": "string", "default": "eu-1"},
        "tier": {"type": "string", "enum": ["free", "pro"]},
        "token": {"type": "string", "format": "password"},
    }}, {"token": "do-not-echo"})
    workers = html[html.index('id="f-workers"'):]
    assert 'min="1"' in workers[:200] and 'max="9"' in workers[:200]  # exact for integers
    ratio = html[html.index('id="f-ratio"'):]
    assert 'min="0.5"' in ratio[:200] and 'step="any"' in ratio[:200]  # the server refuses 0.5 itself
    assert 'value="eu-1"' in html
    assert '<option value="" selected>(not set)</option>' in html  # no silent pick of the first option
    assert "do-not-echo" not in html
