"""Project name rules: one OCI repository-name path component, and not one of our own routes."""

from __future__ import annotations

import re

from appmarket.errors import Invalid

# OCI distribution spec, path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")

# First path segments the service itself answers; a project with one of these names would be shadowed.
RESERVED = frozenset({
    "api", "v2", "ui", "static", "health", "healthz", "metrics", "schema", "docs", "login", "logout",
    "token", "auth", "assets", "favicon.ico", "robots.txt", "charts", "index.yaml", "admin", "web",
    "catalog", "clusters", "releases", "operations", "addons", "rollouts", "repositories", "users",
    "settings", "events", "service", "v1", "v3", "oauth", "openapi",
})


def validate_project_name(name: str) -> str:
    if not 2 <= len(name) <= 64:
        raise Invalid("project name must be 2 to 64 characters long")
    if COMPONENT.fullmatch(name) is None:
        raise Invalid(f"invalid project name {name!r}: use lowercase letters, digits and single "
                      "'.', '_', '__' or '-' separators between them")
    if name in RESERVED:
        raise Invalid(f"project name {name!r} is reserved")
    return name
