"""Domain errors to HTTP, once per surface.

The ChartMuseum API and Helm repository answer ``{"error": "..."}``; the management API answers
RFC 9457 problem+json. (The OCI surface renders its own envelope from its code table.)
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap

from appmarket.errors import (
    AppMarketError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    Unauthorized,
    Upstream,
)

log = logging.getLogger(__name__)

STATUS: dict[type[AppMarketError], int] = {
    TooLarge: 413,
    Invalid: 400,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    Upstream: 502,
}

BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="AppMarket"'}


def status_for(exc: AppMarketError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _describe(exc: Exception) -> tuple[int, str, dict[str, str]]:
    if isinstance(exc, AppMarketError):
        status = status_for(exc)
        headers = BASIC_CHALLENGE if status == 401 else {}
        return status, exc.message, headers
    if isinstance(exc, HTTPException):
        detail = exc.detail
        extra = getattr(exc, "extra", None)
        if extra and isinstance(extra, list | dict):
            detail = f"{detail}: {extra}"
        return exc.status_code, str(detail), dict(exc.headers or {})
    log.exception("unhandled error")
    return 500, "internal server error", {}


def chartmuseum_error(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status, message, headers = _describe(exc)
    return Response({"error": message}, status_code=status, headers=headers)


def problem_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status, message, headers = _describe(exc)
    body = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": message,
        "instance": request.url.path,
    }
    if isinstance(exc, AppMarketError):
        body["code"] = exc.code
        details = getattr(exc, "details", None)
        if details:
            # Per-item reasons (for example preflight's per-field values errors).
            body["errors"] = details
    return Response(body, status_code=status, headers=headers, media_type="application/problem+json")


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

CHARTMUSEUM_HANDLERS: ExceptionHandlersMap = {AppMarketError: chartmuseum_error, HTTPException: chartmuseum_error}
PROBLEM_HANDLERS: ExceptionHandlersMap = {AppMarketError: problem_error, HTTPException: problem_error}
