"""Kubeconfig documents: validate what users upload, build one from server + CA + token, hand it to tools.

Pure functions plus one context manager that writes a 0600 temporary file, which is how credentials
reach helm and the kubernetes client: never on a command line, never in a log.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from appmarket.errors import Invalid


def parse_kubeconfig(text: str, context: str | None = None) -> tuple[dict[str, Any], str]:
    """Validate a kubeconfig and reduce it to one context; return (document, server URL)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"kubeconfig is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind", "Config") != "Config":
        raise Invalid("kubeconfig must be a mapping of kind Config")
    contexts = {c.get("name"): c.get("context", {}) for c in doc.get("contexts") or [] if isinstance(c, dict)}
    name = context or doc.get("current-context") or (next(iter(contexts)) if len(contexts) == 1 else None)
    if not name or name not in contexts:
        raise Invalid(f"kubeconfig has no context {name!r}" if name else "kubeconfig names no current context")
    ctx = contexts[name]
    clusters = {c.get("name"): c.get("cluster", {}) for c in doc.get("clusters") or [] if isinstance(c, dict)}
    users = {u.get("name"): u.get("user", {}) for u in doc.get("users") or [] if isinstance(u, dict)}
    cluster = clusters.get(ctx.get("cluster"))
    if not cluster or not cluster.get("server"):
        raise Invalid(f"context {name!r} names no cluster with a server URL")
    user = users.get(ctx.get("user"), {})
    if any(k in user for k in ("exec", "auth-provider")):
        raise Invalid("kubeconfigs that run external credential plugins are not accepted; use a token or "
                      "client certificate")
    for key in ("certificate-authority", "client-certificate", "client-key", "tokenFile"):
        if key in cluster or key in user:
            raise Invalid(f"kubeconfig refers to a local file ({key}); embed the data instead (*-data)")
    reduced = {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": ctx["cluster"], "cluster": cluster}],
        "users": [{"name": ctx.get("user", "user"), "user": user}],
        "contexts": [{"name": name, "context": {k: v for k, v in ctx.items() if k in ("cluster", "user",
                                                                                      "namespace")}}],
    }
    return reduced, str(cluster["server"])


def build_kubeconfig(server: str, token: str, ca_pem: str | None = None, insecure: bool = False) -> str:
    cluster: dict[str, Any] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "appmarket",
           "clusters": [{"name": "appmarket", "cluster": cluster}],
           "users": [{"name": "appmarket", "user": {"token": token}}],
           "contexts": [{"name": "appmarket", "context": {"cluster": "appmarket", "user": "appmarket"}}]}
    return yaml.safe_dump(doc, sort_keys=False)


@contextmanager
def kubeconfig_file(text: str) -> Iterator[Path]:
    """A private temporary kubeconfig file, removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="appmarket-kubeconfig-", suffix=".yaml")
    path = Path(name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        yield path
    finally:
        path.unlink(missing_ok=True)
