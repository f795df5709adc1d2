"""ChartMuseum's API (multi-tenant, depth 1): ``/api/{project}/charts`` and friends.

A script written for ChartMuseum with ``--depth=1`` works unchanged: same paths, same JSON shapes,
same ``{"error": ...}`` bodies and status codes.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

import anyio.to_thread
from litestar import Request, Response, Router, delete, get, head, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from appmarket.api.deps import PrincipalDep, ServicesDep, provide_principal
from appmarket.api.errors import CHARTMUSEUM_HANDLERS
from appmarket.api.uploads import spool_body
from appmarket.errors import Invalid, TooLarge

_PROV_LIMIT = 1024 * 1024


def _force(request: Request[Any, Any, Any]) -> bool:
    value = request.query_params.get("force")
    return value is not None and value.lower() not in ("false", "0", "no")


async def _read_upload(request: Request[Any, Any, Any], limit: int) -> tuple[BinaryIO, bytes | None]:
    """The chart package (spooled) and optional provenance from a raw or multipart body."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return await spool_body(request, limit), None
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _PROV_LIMIT:
        raise TooLarge(f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    form = await request.form()
    chart = form.get("chart")
    if not isinstance(chart, UploadFile):
        raise Invalid("multipart upload needs a file field named 'chart'")
    prov_field = form.get("prov")
    prov = await prov_field.read() if isinstance(prov_field, UploadFile) else None
    return cast(BinaryIO, chart.file), prov


@post("/{project:str}/charts", status_code=HTTP_201_CREATED, request_max_body_size=None)
async def upload_chart(
    request: Request[Any, Any, Any], project: FromPath[str], services: ServicesDep, principal: PrincipalDep
) -> dict[str, bool]:
    package, prov = await _read_upload(request, services.settings.chart_limits.max_archive_bytes)
    try:
        await anyio.to_thread.run_sync(
            lambda: services.charts.upload(principal, project, package, prov, force=_force(request))
        )
    finally:
        package.close()
    return {"saved": True}


@post("/{project:str}/prov", status_code=HTTP_201_CREATED, request_max_body_size=None)
async def upload_prov(
    request: Request[Any, Any, Any], project: FromPath[str], services: ServicesDep, principal: PrincipalDep
) -> dict[str, bool]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        field = form.get("prov")
        if not isinstance(field, UploadFile):
            raise Invalid("multipart upload needs a file field named 'prov'")
        prov = await field.read()
    else:
        spool = await spool_body(request, _PROV_LIMIT)
        prov = spool.read()
        spool.close()
    await anyio.to_thread.run_sync(services.charts.upload_provenance, principal, project, prov)
    return {"saved": True}


@get("/{project:str}/charts", sync_to_thread=True)
def list_charts(
    project: FromPath[str], services: ServicesDep, principal: PrincipalDep
) -> dict[str, list[dict[str, Any]]]:
    return services.charts.list_all(principal, project)


@get("/{project:str}/charts/{name:str}", sync_to_thread=True)
def list_versions(
    project: FromPath[str], name: FromPath[str], services: ServicesDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    return services.charts.list_versions(principal, project, name)


@get("/{project:str}/charts/{name:str}/{version:str}", sync_to_thread=True)
def get_version(
    project: FromPath[str], name: FromPath[str], version: FromPath[str], services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    return services.charts.get_version(principal, project, name, version)


@head("/{project:str}/charts/{name:str}/{version:str}", sync_to_thread=True)
def head_version(
    project: FromPath[str], name: FromPath[str], version: FromPath[str], services: ServicesDep, principal: PrincipalDep
) -> Response[None]:
    services.charts.get_version(principal, project, name, version)
    return Response(None, status_code=HTTP_200_OK)


@delete("/{project:str}/charts/{name:str}/{version:str}", status_code=HTTP_200_OK, sync_to_thread=True)
def delete_version(
    project: FromPath[str], name: FromPath[str], version: FromPath[str], services: ServicesDep, principal: PrincipalDep
) -> dict[str, bool]:
    services.charts.delete(principal, project, name, version)
    return {"deleted": True}


router = Router(
    path="/api",
    route_handlers=[upload_chart, upload_prov, list_charts, list_versions, get_version, head_version, delete_version],
    dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
    exception_handlers=CHARTMUSEUM_HANDLERS,
    include_in_schema=True,
    tags=["chartmuseum"],
)
