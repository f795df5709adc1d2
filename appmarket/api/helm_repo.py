"""The Helm HTTP repository: ``/{project}/index.yaml`` and ``/{project}/charts/<file>``.

The index handler is the hot path (Helm fetches the whole index on every ``repo update``): it serves
cached bytes with no database query while the cache is fresh, answers ``304`` to ``If-None-Match``, and
serves a gzip copy made once per revision to clients that ask for it.
"""

from __future__ import annotations

import email.utils
from typing import Any

import anyio.to_thread
from litestar import Request, Response, Router, get, route
from litestar.enums import HttpMethod
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from appmarket.api.conditional import not_modified
from appmarket.api.deps import ServicesDep, principal_async
from appmarket.api.errors import CHARTMUSEUM_HANDLERS
from appmarket.auth.permissions import Action


@get("/{project:str}/index.yaml")
async def index_yaml(request: Request[Any, Any, Any], project: FromPath[str], services: ServicesDep) -> Response[bytes]:
    snap = services.index.fresh(project)
    if snap is None:
        snap = await anyio.to_thread.run_sync(services.index.snapshot, project)
    if snap.project.visibility != "public" or request.headers.get("authorization"):
        principal = await principal_async(request, services)
        if snap.project.visibility != "public":
            project_row = await anyio.to_thread.run_sync(services.projects.lookup, project)
            await anyio.to_thread.run_sync(services.auth.require, principal, project_row, Action.PULL)
    headers = {
        "ETag": snap.etag,
        "Last-Modified": email.utils.format_datetime(snap.last_modified, usegmt=True),
        "Cache-Control": "no-cache",
        "Vary": "Accept-Encoding",
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and (snap.etag in if_none_match or if_none_match.strip() == "*"):
        return Response(b"", status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        body = snap.body if len(snap.body) < 1024 else await anyio.to_thread.run_sync(snap.gzipped)
        if body is snap.body:
            del headers["Content-Encoding"]
        return Response(body, media_type="application/x-yaml", headers=headers)
    return Response(snap.body, media_type="application/x-yaml", headers=headers)


@route("/{project:str}/charts/{filename:str}", http_method=[HttpMethod.GET, HttpMethod.HEAD])
async def chart_file(
    request: Request[Any, Any, Any], project: FromPath[str], filename: FromPath[str], services: ServicesDep
) -> Response[Any]:
    principal = await principal_async(request, services)
    dl = await anyio.to_thread.run_sync(services.charts.download, principal, project, filename)
    headers = {"ETag": f'"{dl.digest}"', "Docker-Content-Digest": dl.digest}
    if not_modified(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(b"", status_code=304, headers=headers)
    if dl.redirect_url:
        return Redirect(dl.redirect_url, status_code=307, headers=headers)
    headers["Content-Length"] = str(dl.size)
    if request.method == "HEAD":
        return Response(b"", media_type=dl.content_type, headers=headers)
    return Stream(services.charts.open_blob(dl.key), media_type=dl.content_type, headers=headers)


router = Router(
    path="/",
    route_handlers=[index_yaml, chart_file],
    exception_handlers=CHARTMUSEUM_HANDLERS,
    tags=["helm repository"],
)
