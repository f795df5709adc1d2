"""Signed-in browsers: an encrypted session cookie, and CSRF tokens on every form.

The session holds only the user id and a CSRF token; the principal is rebuilt from the database on each
request, so a revoked or demoted account loses access at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from litestar import Request
from litestar.middleware.session.client_side import CookieBackendConfig

from appmarket.auth.schemas import ANONYMOUS, Principal
from appmarket.errors import Forbidden
from appmarket.services import Services

CSRF_FIELD = "csrf_token"
# Paths that never carry a browser session: the protocol and API surfaces stay cookie-free and fast.
NOT_WEB = [r"^/(api|v2|metrics|health|static)(/|$)", r"^/[^/]+/(index\.yaml|charts/)"]


def session_config(secret_key: bytes) -> CookieBackendConfig:
    """The cookie is AES-GCM encrypted with a key derived from the service's secret key."""
    key = hashlib.sha256(b"appmarket-session\0" + secret_key).digest()
    return CookieBackendConfig(secret=key, key="appmarket_session", httponly=True, samesite="lax",
                               max_age=12 * 3600, exclude=NOT_WEB)


def web_principal(request: Request[Any, Any, Any], services: Services) -> Principal:
    user_id = request.session.get("user_id") if request.scope.get("session") is not None else None
    if not isinstance(user_id, int):
        return ANONYMOUS
    principal = services.auth.principal_for_user(user_id)
    return principal or ANONYMOUS


def csrf_token(request: Request[Any, Any, Any]) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.set_session({**request.session, "csrf": token})
    return token


def check_csrf(request: Request[Any, Any, Any], submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forbidden("the form expired or did not come from this site; reload the page and try again")
