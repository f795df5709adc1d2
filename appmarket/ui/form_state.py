"""What the install page carries from one submission to the next, beside the schema form itself.

Schema defaults fill the keys values.yaml lacks (the form and the YAML editor show the same mapping);
secrets are taken out of everything the page echoes; errors are placed next to the field they concern,
or in a summary when no field on the page is theirs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from appmarket.ui.schema_form import FormField, build_form, leaves

MASK = "••••••"
# Shorter secrets are not masked in previews: replacing two letters everywhere would garble the manifest.
MIN_MASKED = 3


def _copy(values: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(values))
    return copied


def with_defaults(schema: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each schema ``default`` written where the key is absent (secrets excepted)."""
    out = _copy(values)
    _, fields = build_form(schema, out)
    for f in leaves(fields):
        if f.kind == "secret" or f.default is None:
            continue
        node: Any = out
        parts = f.path.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict):
                break
            node = node.setdefault(part, {})
        if isinstance(node, dict) and parts[-1] not in node:
            node[parts[-1]] = f.default
    return out


def secret_paths(schema: Mapping[str, Any]) -> list[str]:
    _, fields = build_form(schema, {})
    return [f.path for f in leaves(fields) if f.kind == "secret"]


def split_secrets(schema: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values without any secret, the secrets by dotted path)."""
    public = _copy(values)
    secrets: dict[str, Any] = {}
    for path in secret_paths(schema):
        *parents, last = path.split(".")
        node: Any = public
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            value = node.pop(last)
            if value not in (None, ""):
                secrets[path] = value
    return public, secrets


def mask(text: str, secrets: Iterable[Any]) -> str:
    """``text`` with each secret (as typed, and base64-encoded as a Secret's data holds it) masked."""
    for secret in secrets:
        raw = str(secret)
        if len(raw) < MIN_MASKED:
            continue
        text = text.replace(raw, MASK).replace(base64.b64encode(raw.encode()).decode(), MASK)
    return text


def rendered_paths(fields: Sequence[FormField], featured: Sequence[FormField]) -> set[str]:
    """Dotted paths the page shows a place for: featured fields, the others, and their fieldsets."""
    out = {f.path for f in featured}

    def walk(items: Sequence[FormField]) -> None:
        for f in items:
            if f.featured:
                continue
            if f.kind == "object":
                shown = [c for c in f.children if not c.featured]
                if shown:
                    out.add(f.path)
                    walk(shown)
            else:
                out.add(f.path)

    walk(fields)
    return out


def place_errors(errors: Mapping[str, str], shown: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """(messages by the field they go beside, messages for the summary).

    An error goes to the nearest field at or above its path (``hosts.0`` beside ``hosts``, a missing
    ``auth.password`` reported on ``auth`` beside the ``auth`` fieldset); the rest go to the summary.
    """
    by_field: dict[str, list[str]] = {}
    summary: list[str] = []
    for key, message in errors.items():
        parts = key.split(".")
        target = next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in shown), None)
        if target is None:
            summary.append(message if key.startswith("(") else f"{key}: {message}")
        else:
            # "replicas must be at most 5" reads as a sentence; "auth: 'password' is required…" needs the colon.
            sep = " " if target == key and message[:1].islower() else ": "
            by_field.setdefault(target, []).append(f"{key}{sep}{message}")
    return by_field, summary
