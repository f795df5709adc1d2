"""The values-schema form model: fields from a schema, and values (with errors) from a submission."""

from __future__ import annotations

from typing import Any

import pytest

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
