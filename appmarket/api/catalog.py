"""The catalog API under ``/api/v1/catalog``: search, app detail, categories and suites (problem+json)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get
from litestar.di import Provide
from litestar.params import FromPath, FromQuery

from appmarket.api.deps import PrincipalDep, ServicesDep, provide_principal
from appmarket.api.errors import PROBLEM_HANDLERS
from appmarket.catalog.schemas import AppDetail, AppPage, Category, Suite
from appmarket.catalog.search import Query
from appmarket.errors import Invalid


@get("/apps", sync_to_thread=True, tags=["catalog"])
def search_apps(
    services: ServicesDep, principal: PrincipalDep,
    q: FromQuery[str] = "", category: FromQuery[str | None] = None, project: FromQuery[str | None] = None,
    arch: FromQuery[str | None] = None, gpu: FromQuery[str | None] = None, suite: FromQuery[str | None] = None,
    sort: FromQuery[str | None] = None, page: FromQuery[int] = 1, per_page: FromQuery[int] = 20,
) -> AppPage:
    """Apps the caller may read; ``q`` ranks by name, display name, keywords, description."""
    if sort not in (None, "", "relevance", "name", "updated"):
        raise Invalid("sort must be one of relevance, name, updated")
    query = Query(q=q, category=category, project=project, arch=arch, gpu=gpu, suite=suite,
                  sort=sort or None, page=page, per_page=per_page)  # type: ignore[arg-type]
    return services.catalog.search(principal, query)


@get("/apps/{project:str}/{name:str}", sync_to_thread=True, tags=["catalog"])
def app_detail(
    request: Request[Any, Any, Any], project: FromPath[str], name: FromPath[str], services: ServicesDep,
    principal: PrincipalDep, version: FromQuery[str | None] = None,
) -> AppDetail:
    """One app at ``version`` (default: latest): README as sanitised HTML, values, images, install lines."""
    return services.catalog.detail(principal, project, name, version, str(request.base_url))


@get("/categories", sync_to_thread=True, tags=["catalog"])
def categories(services: ServicesDep, principal: PrincipalDep) -> list[Category]:
    return services.catalog.categories(principal)


@get("/suites", sync_to_thread=True, tags=["catalog"])
def suites(services: ServicesDep, principal: PrincipalDep) -> list[Suite]:
    return services.catalog.suites(principal)


router = Router(
    path="/api/v1/catalog",
    route_handlers=[search_apps, app_detail, categories, suites],
    dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
    exception_handlers=PROBLEM_HANDLERS,
)
