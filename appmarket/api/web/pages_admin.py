"""Administration pages: users, their API tokens, and every project's robot accounts.

System administrators only, like ``/api/v1/users``: each handler checks the principal before it reads the
form, so a signed-in non-admin gets 403 on GET and on a POST that carries a valid CSRF token.
"""

from __future__ import annotations

from urllib.parse import urlencode

import anyio.to_thread
from litestar import Router, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from appmarket.api.deps import ServicesDep
from appmarket.api.errors import status_for
from appmarket.api.web.render import WEB_ERRORS, Req, checked_form, page, signed_in
from appmarket.auth.schemas import Principal, RobotOut, UserCreate
from appmarket.errors import AppMarketError
from appmarket.services import Services


async def _admin(request: Req, services: Services) -> Principal:
    principal = await signed_in(request, services)
    services.auth.require_admin(principal)
    return principal


async def _admin_page(request: Req, services: Services, principal: Principal, *, error: str = "",
                      status_code: int = 200, form: dict[str, str] | None = None) -> Template:
    users = await anyio.to_thread.run_sync(services.accounts.list_users, principal)
    tokens = await anyio.to_thread.run_sync(services.accounts.tokens_by_user, principal)
    projects = await anyio.to_thread.run_sync(services.projects.list_visible, principal)
    robots: dict[str, list[RobotOut]] = {}
    for p in projects:
        robots[p.name] = await anyio.to_thread.run_sync(services.accounts.list_robots, principal, p.name)
    return page(request, principal, "admin.html", status_code=status_code, users=users, tokens=tokens,
                robots=robots, error=error, message=request.query_params.get("message", ""), form=form or {})


async def _refused(request: Req, services: Services, principal: Principal, exc: AppMarketError,
                   form: dict[str, str] | None = None) -> Template:
    """A refused change re-renders the page with the reason (permission errors still become 401/403)."""
    if exc.code in ("forbidden", "unauthorized"):
        raise exc
    return await _admin_page(request, services, principal, error=exc.message, status_code=status_for(exc),
                             form=form)


def _done(message: str) -> Redirect:
    return Redirect("/ui/admin?" + urlencode({"message": message}), status_code=303)


@get("/ui/admin")
async def admin_page(request: Req, services: ServicesDep) -> Template:
    return await _admin_page(request, services, await _admin(request, services))


@post("/ui/admin/users")
async def create_user(request: Req, services: ServicesDep) -> Template | Redirect:
    principal = await _admin(request, services)
    form = await checked_form(request)
    username = str(form.get("username", "")).strip()
    data = UserCreate(username=username, password=str(form.get("password") or "") or None,
                      is_admin=bool(form.get("is_admin")))
    try:
        await anyio.to_thread.run_sync(services.accounts.create_user, principal, data)
    except AppMarketError as exc:
        return await _refused(request, services, principal, exc, {"username": username})
    return _done(f"Created user {username}")


@post("/ui/admin/users/{username:str}/delete")
async def delete_user(request: Req, username: FromPath[str], services: ServicesDep) -> Template | Redirect:
    principal = await _admin(request, services)
    await checked_form(request)
    try:
        await anyio.to_thread.run_sync(services.accounts.delete_user, principal, username)
    except AppMarketError as exc:
        return await _refused(request, services, principal, exc)
    return _done(f"Deleted user {username}")


@post("/ui/admin/tokens/{token_id:int}/revoke")
async def revoke_token(request: Req, token_id: FromPath[int], services: ServicesDep) -> Template | Redirect:
    principal = await _admin(request, services)
    await checked_form(request)
    try:
        await anyio.to_thread.run_sync(services.accounts.revoke_token, principal, token_id)
    except AppMarketError as exc:
        return await _refused(request, services, principal, exc)
    return _done(f"Revoked token {token_id}")


@post("/ui/admin/projects/{project:str}/robots/{name:str}/delete")
async def delete_robot(request: Req, project: FromPath[str], name: FromPath[str],
                       services: ServicesDep) -> Template | Redirect:
    principal = await _admin(request, services)
    await checked_form(request)
    try:
        await anyio.to_thread.run_sync(services.accounts.delete_robot, principal, project, name)
    except AppMarketError as exc:
        return await _refused(request, services, principal, exc)
    return _done(f"Deleted robot {project}/{name}")


router = Router(path="/", route_handlers=[admin_page, create_user, delete_user, revoke_token, delete_robot],
                exception_handlers=WEB_ERRORS, include_in_schema=False)
