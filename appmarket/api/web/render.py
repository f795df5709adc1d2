"""What every page handler shares: the signed-in principal, the base template context, form reading."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import anyio.to_thread
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from appmarket.api.errors import status_for
from appmarket.api.web.session import CSRF_FIELD, check_csrf, csrf_token, web_principal
from appmarket.auth.schemas import Principal
from appmarket.errors import AppMarketError, Unauthorized
from appmarket.services import Services

Req = Request[Any, Any, Any]


async def principal_of(request: Req, services: Services) -> Principal:
    return await anyio.to_thread.run_sync(web_principal, request, services)


async def signed_in(request: Req, services: Services) -> Principal:
    principal = await principal_of(request, services)
    if not principal.signed_in:
        raise Unauthorized("sign in to see this page")
    return principal


def context(request: Req, principal: Principal, **extra: Any) -> dict[str, Any]:
    return {"user": principal, "csrf_field": CSRF_FIELD, "csrf_token": csrf_token(request),
            "path": request.url.path, "base_url": str(request.base_url).rstrip("/"), **extra}


def page(request: Req, principal: Principal, template: str, status_code: int = 200, **extra: Any) -> Template:
    return Template(template_name=template, context=context(request, principal, **extra), status_code=status_code)


async def checked_form(request: Req) -> dict[str, Any]:
    """The submitted form after its CSRF token was checked (a forged POST stops here with 403)."""
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    return dict(form)


def web_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors as pages: sign-in redirect for 401, a readable page otherwise."""
    if isinstance(exc, AppMarketError):
        status, message = status_for(exc), exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    else:
        status, message = 500, "Something went wrong on our side."
    if status == 401 and request.method == "GET":
        return Redirect(f"/login?next={quote(request.url.path)}", status_code=303)
    return Template(template_name="error.html", status_code=status,
                    context={"status": status, "message": message, "user": None, "path": request.url.path})


WEB_ERRORS: ExceptionHandlersMap = {AppMarketError: web_error, HTTPException: web_error}
