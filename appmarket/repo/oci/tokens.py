"""Registry bearer tokens: compact JWS (HS256) signed with the registry key, and scope algebra.

Docker's token protocol wants a bearer token scoped to ``repository:<name>:<actions>``; the claims are
checked on every /v2 request. Written by hand (about forty lines) rather than adding a JWT dependency.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from appmarket.errors import Unauthorized

OCI_ACTIONS = ("pull", "push", "delete")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: dict[str, Any], key: bytes) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(sig)}"


def decode(token: str, key: bytes, *, audience: str, now: float | None = None) -> dict[str, Any]:
    """Verify signature, algorithm, audience and expiry; raise ``Unauthorized`` otherwise."""
    try:
        header_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        claims = json.loads(_unb64(body_b64))
        sig = _unb64(sig_b64)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unauthorized("malformed registry token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise Unauthorized("unsupported registry token")
    want = hmac.new(key, f"{header_b64}.{body_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, sig):
        raise Unauthorized("bad registry token signature")
    if claims.get("aud") != audience:
        raise Unauthorized("registry token for another service")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= (time.time() if now is None else now):
        raise Unauthorized("registry token expired")
    return claims


def is_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def parse_scopes(scopes: list[str]) -> dict[str, set[str]]:
    """``repository:team-a/x:pull,push`` (possibly several, space separated) to {name: actions}."""
    asked: dict[str, set[str]] = {}
    for scope in scopes:
        for item in scope.split():
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue  # registry:catalog:* and unknown kinds grant nothing by themselves
            wanted = {a for a in actions.split(",") if a}
            if "*" in wanted:
                wanted = set(OCI_ACTIONS)
            asked.setdefault(name, set()).update(a for a in wanted if a in OCI_ACTIONS)
    return asked


def access_claim(granted: dict[str, set[str]]) -> list[dict[str, Any]]:
    return [{"type": "repository", "name": n, "actions": sorted(a)} for n, a in sorted(granted.items()) if a]


def allowed(claims: dict[str, Any], repository: str, action: str) -> bool:
    for entry in claims.get("access") or []:
        if isinstance(entry, dict) and entry.get("type") == "repository" and entry.get("name") == repository \
                and action in (entry.get("actions") or []):
            return True
    return False
