"""Catalog pages and sign-in. Each handler: read the request, call a service, render a template."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from appmarket.api.deps import ServicesDep
from appmarket.api.web.render import WEB_ERRORS, context, principal_of
from appmarket.api.web.session import CSRF_FIELD, check_csrf, csrf_token
from appmarket.catalog.schemas import Suite
from appmarket.catalog.search import Query
from appmarket.errors import NotFound, Unauthorized

PER_PAGE = 24


@get("/", name="catalog")
async def catalog_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template:
    principal = await principal_of(request, services)
    params = request.query_params
    page = int(params.get("page", "1")) if params.get("page", "1").isdigit() else 1
    query = Query(q=params.get("q", "").strip(), category=params.get("category") or None,
                  arch=params.get("arch") or None, gpu=params.get("gpu") or None,
                  suite=params.get("suite") or None, page=max(1, page), per_page=PER_PAGE)
    result = await anyio.to_thread.run_sync(services.catalog.search, principal, query)
    categories = await anyio.to_thread.run_sync(services.catalog.categories, principal)
    keep = {k: v for k, v in params.items() if k != "page" and v}
    pages = max(1, (result.total + PER_PAGE - 1) // PER_PAGE)
    ctx = context(request, principal, result=result, categories=categories, query=query, pages=pages,
                   page_link=lambda n: "/?" + urlencode({**keep, "page": n}))
    name = "_cards.html" if request.headers.get("hx-request") else "catalog.html"
    return Template(template_name=name, context=ctx)


@get("/ui/apps/{project:str}/{name:str}", name="app-detail")
async def app_page(request: Request[Any, Any, Any], project: FromPath[str], name: FromPath[str],
                   services: ServicesDep) -> Template:
    principal = await principal_of(request, services)
    version = request.query_params.get("version") or None
    base = str(request.base_url).rstrip("/")
    detail = await anyio.to_thread.run_sync(
        lambda: services.catalog.detail(principal, project, name, version, base_url=base))
    return Template(template_name="app_detail.html", context=context(request, principal, d=detail))


def find_suite(suites: list[Suite], name: str, project: str | None = None) -> Suite:
    for suite in suites:
        if suite.name == name and project in (None, suite.project):
            return suite
    raise NotFound(f"suite {name!r} not found")


@get("/ui/suites", name="suites")
async def suites_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template:
    principal = await principal_of(request, services)
    suites = await anyio.to_thread.run_sync(services.catalog.suites, principal)
    return Template(template_name="suites.html", context=context(request, principal, suites=suites))


@get("/ui/suites/{name:str}", name="suite")
async def suite_page(request: Request[Any, Any, Any], name: FromPath[str], services: ServicesDep) -> Template:
    """The members in install order; Install suite installs the umbrella chart through the install flow."""
    principal = await principal_of(request, services)
    suites = await anyio.to_thread.run_sync(services.catalog.suites, principal)
    suite = find_suite(suites, name, request.query_params.get("project") or None)
    base = str(request.base_url).rstrip("/")
    detail = await anyio.to_thread.run_sync(
        lambda: services.catalog.detail(principal, suite.project, suite.app.name, None, base_url=base))
    pinned = {str(d.get("name")): str(d.get("version", "")) for d in detail.dependencies}
    return Template(template_name="suite.html",
                    context=context(request, principal, suite=suite, d=detail, pinned=pinned))


@get("/login", name="login")
async def login_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template:
    principal = await principal_of(request, services)
    return Template(template_name="login.html",
                    context=context(request, principal, next=request.query_params.get("next", "/"), error=""))


@post("/login", status_code=303)
async def login_submit(request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    username, secret = str(form.get("username", "")), str(form.get("password", ""))
    target = str(form.get("next", "/"))
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    try:
        principal = await anyio.to_thread.run_sync(services.auth.login, username, secret)
    except Unauthorized:
        ctx = context(request, await principal_of(request, services), next=target,
                       error="Wrong username, password or token.")
        return Template(template_name="login.html", context=ctx, status_code=401)
    request.set_session({"user_id": principal.user_id, "csrf": csrf_token(request)})
    return Redirect(target, status_code=303)


@post("/logout", status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    request.clear_session()
    return Redirect("/", status_code=303)


router = Router(path="/", route_handlers=[catalog_page, app_page, suites_page, suite_page, login_page, login_submit,
                                          logout],
                exception_handlers=WEB_ERRORS,
                include_in_schema=False)
