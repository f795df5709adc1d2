"""The OCI Distribution API under ``/v2``: parse, call the registry services, map errors once.

Repository names contain slashes, so one catch-all route dispatches on the path's suffix
(``/blobs/uploads/``, ``/blobs/<digest>``, ``/manifests/<ref>``, ``/tags/list``, ``/referrers/<digest>``).
Domain errors become the spec's error envelope from the code table in ``repo/oci/codes.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from litestar import Request, Response, Router, post, route
from litestar.di import Provide
from litestar.enums import HttpMethod
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from appmarket.api.conditional import not_modified
from appmarket.api.deps import PrincipalDep, ServicesDep, provide_principal
from appmarket.api.errors import PROBLEM_HANDLERS
from appmarket.api.oci_body import DOWNLOADS, parse_content_range, parse_range, read_limited, stream_into
from appmarket.api.registry_auth import Caller, caller_async, challenge, token_get, token_post
from appmarket.errors import AppMarketError, Conflict, Forbidden, Invalid, NotFound, TooLarge, Unauthorized
from appmarket.repo.oci import codes
from appmarket.repo.oci.manifest import OCI_INDEX, referrers_index
from appmarket.repo.oci.reference import check_digest
from appmarket.services import Services

log = logging.getLogger(__name__)
Req = Request[Any, Any, Any]
SMALL_BLOB = 1024 * 1024
Handler = Callable[[Req, Services, Caller, "re.Match[str]"], Awaitable[Response[Any]]]

_DEFAULT_CODES: list[tuple[type[AppMarketError], str]] = [
    (Unauthorized, codes.UNAUTHORIZED), (Forbidden, codes.DENIED), (TooLarge, codes.TOO_LARGE),
    (NotFound, codes.NAME_UNKNOWN), (Conflict, codes.DENIED), (Invalid, codes.BLOB_UPLOAD_INVALID),
]


def oci_error(request: Req, exc: Exception) -> Response[Any]:
    """Every /v2 error, rendered from the code table."""
    headers: dict[str, str] = {}
    if isinstance(exc, AppMarketError):
        code = exc.code if exc.code in codes.CODES else next(
            (c for cls, c in _DEFAULT_CODES if isinstance(exc, cls)), codes.UNSUPPORTED)
        status, message = codes.CODES[code].status, exc.message
        if isinstance(exc, Conflict):
            status = 409
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
        code = {401: codes.UNAUTHORIZED, 403: codes.DENIED, 413: codes.TOO_LARGE}.get(status, codes.UNSUPPORTED)
        headers.update(exc.headers or {})
    else:
        log.exception("unhandled /v2 error")
        return Response(codes.envelope(codes.UNSUPPORTED, "internal error"), status_code=500)
    if status == 401:
        services: Services = request.app.state.services
        headers["WWW-Authenticate"] = challenge(request, services, request.scope.get("oci_scope"))  # type: ignore[arg-type]
    if status == 416 and "oci_size" in request.scope:
        headers["Content-Range"] = f"bytes */{request.scope['oci_size']}"  # type: ignore[typeddict-item]
    return Response(codes.envelope(code, message), status_code=status, headers=headers)


def _small(request: Req) -> bool:
    """Bodies up to ``SMALL_BLOB`` with a declared length take the one-call path (configs, charts)."""
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) <= SMALL_BLOB


def _range_header(size: int) -> str:
    return f"0-{max(size - 1, 0)}"


def _upload_headers(name: str, upload_id: str, size: int) -> dict[str, str]:
    return {"Location": f"/v2/{name}/blobs/uploads/{upload_id}", "Range": _range_header(size),
            "Docker-Upload-UUID": upload_id, "OCI-Chunk-Min-Length": "0"}


def _blob_created(name: str, digest: str) -> Response[Any]:
    return Response(b"", status_code=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                                   "Docker-Content-Digest": digest})


def _n(request: Req) -> int | None:
    raw = request.query_params.get("n")
    if raw is None or raw == "":
        return None
    if not _N.fullmatch(raw):  # ASCII and bounded: str.isdigit() takes "²", int() refuses 5,000 digits
        raise Invalid(f"n must be a non-negative integer, not {raw!r}", code=codes.PAGINATION_NUMBER_INVALID)
    return int(raw)


_N = re.compile(r"[0-9]{1,9}")


def _link(path: str, n: int | None, items: list[str], more: bool) -> dict[str, str]:
    """``Link`` to the next page, only when one exists (the service fetched one entry past the page)."""
    if n is None or not items or not more:
        return {}
    return {"Link": f'<{path}?n={n}&last={quote(items[-1], safe="")}>; rel="next"'}


# -- blobs and uploads ------------------------------------------------------------------------------------

async def start_upload(request: Req, services: Services, caller: Caller, m: re.Match[str]) -> Response[Any]:
    name, up, q = m["name"], services.registry.uploads, request.query_params
    if q.get("mount") and q.get("from"):
        mounted = await anyio.to_thread.run_sync(up.mount, caller.principal, name, q["mount"], q["from"])
        if mounted:
            return _blob_created(name, q["mount"])
    digest = q.get("digest")
    if digest is not None:
        check_digest(digest)
        if _small(request):
            data = await read_limited(request, SMALL_BLOB)
            await anyio.to_thread.run_sync(up.put_small, caller.principal, name, digest, data)
            return _blob_created(name, digest)
    state = await anyio.to_thread.run_sync(up.start, caller.principal, name)
    if digest is None:
        return Response(b"", status_code=202, headers=_upload_headers(name, state.id, 0))
    try:
        sink = await anyio.to_thread.run_sync(up.open_sink, caller.principal, name, state.id)
        await stream_into(request, sink)
        await anyio.to_thread.run_sync(up.complete, caller.principal, name, state.id, digest)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(up.discard, state.id)
        raise
    return _blob_created(name, digest)


async def upload_session(request: Req, services: Services, caller: Caller, m: re.Match[str]) -> Response[Any]:
    name, upload_id, up = m["name"], m["id"], services.registry.uploads
    if request.method == "GET":
        state = await anyio.to_thread.run_sync(up.status, caller.principal, name, upload_id)
        return Response(b"", status_code=204, headers=_upload_headers(name, upload_id, state.size))
    if request.method == "DELETE":
        await anyio.to_thread.run_sync(up.cancel, caller.principal, name, upload_id)
        return Response(b"", status_code=204)
    if request.method == "PATCH":
        start = parse_content_range(request.headers.get("content-range"))
        try:
            sink = await anyio.to_thread.run_sync(up.open_sink, caller.principal, name, upload_id, start)
        except Invalid as exc:
            if exc.code == codes.RANGE_INVALID:
                state = await anyio.to_thread.run_sync(up.status, caller.principal, name, upload_id)
                return Response(codes.envelope(exc.code, exc.message), status_code=codes.CODES[exc.code].status,
                                headers=_upload_headers(name, upload_id, state.size))
            raise
        state = await stream_into(request, sink)
        return Response(b"", status_code=202, headers=_upload_headers(name, upload_id, state.size))
    if request.method == "PUT":
        digest = request.query_params.get("digest")
        if not digest:
            raise Invalid("PUT to an upload needs ?digest=", code=codes.DIGEST_INVALID)
        declared = request.headers.get("content-length")
        if _small(request) and declared != "0":
            data = await read_limited(request, SMALL_BLOB)
            if await anyio.to_thread.run_sync(up.put_small, caller.principal, name, digest, data, upload_id):
                return _blob_created(name, digest)
            sink = await anyio.to_thread.run_sync(up.open_sink, caller.principal, name, upload_id)
            await anyio.to_thread.run_sync(sink.write, data)
            await anyio.to_thread.run_sync(sink.finish)
        elif declared != "0":
            sink = await anyio.to_thread.run_sync(up.open_sink, caller.principal, name, upload_id)
            await stream_into(request, sink)
        await anyio.to_thread.run_sync(up.complete, caller.principal, name, upload_id, digest)
        return _blob_created(name, digest)
    raise Invalid(f"{request.method} not supported on uploads", code=codes.UNSUPPORTED)


async def blob(request: Req, services: Services, caller: Caller, m: re.Match[str]) -> Response[Any]:
    name, digest, ms = m["name"], m["digest"], services.registry.manifests
    if request.method == "DELETE":
        await anyio.to_thread.run_sync(ms.unlink_blob, caller.principal, name, digest)
        return Response(b"", status_code=202)
    info = await anyio.to_thread.run_sync(ms.blob_info, caller.principal, name, digest)
    headers = {"Docker-Content-Digest": digest, "ETag": f'"{digest}"', "Accept-Ranges": "bytes"}
    if not_modified(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(b"", status_code=304, headers=headers)
    request.scope["oci_size"] = info.size  # type: ignore[typeddict-unknown-key]
    span = parse_range(request.headers.get("range"), info.size)
    key = services.registry.blob_key(digest)
    if request.method == "GET" and span is None and services.registry.presign:
        url = await anyio.to_thread.run_sync(services.store.presigned_url, key, services.registry.presign_expiry)
        if url:
            return Redirect(url, status_code=307, headers=headers)
    offset, length = span if span is not None else (0, info.size)
    headers["Content-Length"] = str(length)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{info.size}"
    if request.method == "HEAD":
        return Response(b"", status_code=status, media_type="application/octet-stream", headers=headers)
    chunks = await anyio.to_thread.run_sync(services.store.open, key, offset, length, DOWNLOADS.chunk_size())
    return Stream(DOWNLOADS.counted(chunks), status_code=status, media_type="application/octet-stream",
                  headers=headers)


# -- manifests and discovery ------------------------------------------------------------------------------

async def manifest(request: Req, services: Services, caller: Caller, m: re.Match[str]) -> Response[Any]:
    name, ref, ms = m["name"], m["ref"], services.registry.manifests
    if request.method == "PUT":
        body = await read_limited(request, services.settings.oci.max_manifest_bytes)
        extra = request.query_params.getall("tag", [])
        info = await anyio.to_thread.run_sync(ms.put, caller.principal, name, ref, body,
                                              request.headers.get("content-type"), extra)
        headers = {"Location": f"/v2/{name}/manifests/{info.digest}", "Docker-Content-Digest": info.digest}
        if info.subject:
            headers["OCI-Subject"] = info.subject
        return Response(b"", status_code=201, headers=headers)
    if request.method == "DELETE":
        await anyio.to_thread.run_sync(ms.delete, caller.principal, name, ref)
        return Response(b"", status_code=202)
    info, data = await anyio.to_thread.run_sync(ms.fetch, caller.principal, name, ref, request.method == "GET")
    headers = {"Docker-Content-Digest": info.digest, "ETag": f'"{info.digest}"'}
    if not_modified(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(b"", status_code=304, media_type=info.media_type, headers=headers)
    headers["Content-Length"] = str(info.size)
    return Response(data, status_code=200, media_type=info.media_type, headers=headers)


async def tags_list(request: Req, services: Services, caller: Caller, m: re.Match[str]) -> Response[Any]:
    name, n = m["name"], _n(request)
    tags, more = await anyio.to_thread.run_sync(services.registry.manifests.tags, caller.principal, name, n,
                                                request.query_params.get("last"))
    return Response({"name": name, "tags": tags}, status_code=200,
                    headers=_link(f"/v2/{name}/tags/list", n, tags, more))


async def referrers(request: Req, services: Services, caller: Caller, m: re.Match[str]) -> Response[Any]:
    artifact_type = request.query_params.get("artifactType")
    found = await anyio.to_thread.run_sync(services.registry.manifests.referrers, caller.principal, m["name"],
                                           m["digest"], artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return Response(referrers_index(found), status_code=200, media_type=OCI_INDEX, headers=headers)


async def catalog(request: Req, services: Services, caller: Caller, m: re.Match[str]) -> Response[Any]:
    del m
    n = _n(request)

    def may_pull(principal: Any, project: Any) -> bool:
        return "pull" in services.auth.project_actions(principal, project)

    repos, more = await anyio.to_thread.run_sync(services.registry.manifests.catalog, caller.principal, n,
                                                 request.query_params.get("last"), may_pull)
    return Response({"repositories": repos}, status_code=200, headers=_link("/v2/_catalog", n, repos, more))


# (pattern, methods, OCI action the token must grant, handler); first match wins.
_ROUTES: list[tuple[re.Pattern[str], frozenset[str], str, Handler]] = [
    (re.compile(r"_catalog"), frozenset({"GET"}), "", catalog),
    (re.compile(r"(?P<name>.+)/blobs/uploads/?"), frozenset({"POST"}), "push", start_upload),
    (re.compile(r"(?P<name>.+)/blobs/uploads/(?P<id>[^/]+)"), frozenset({"GET", "PATCH", "PUT", "DELETE"}),
     "push", upload_session),
    (re.compile(r"(?P<name>.+)/blobs/(?P<digest>[^/]+)"), frozenset({"GET", "HEAD", "DELETE"}), "pull", blob),
    (re.compile(r"(?P<name>.+)/manifests/(?P<ref>[^/]+)"), frozenset({"GET", "HEAD", "PUT", "DELETE"}),
     "pull", manifest),
    (re.compile(r"(?P<name>.+)/tags/list"), frozenset({"GET"}), "pull", tags_list),
    (re.compile(r"(?P<name>.+)/referrers/(?P<digest>[^/]+)"), frozenset({"GET"}), "pull", referrers),
]
_WRITE_ACTION = {"PUT": "push", "PATCH": "push", "POST": "push", "DELETE": "delete"}


@route("/", http_method=[HttpMethod.GET, HttpMethod.HEAD])
async def v2_base(request: Req, services: ServicesDep) -> Response[Any]:
    caller = await caller_async(request, services)
    if not caller.principal.signed_in and caller.claims is None:  # a valid anonymous token is enough
        raise Unauthorized("authentication required", code=codes.UNAUTHORIZED)
    return Response({}, status_code=200, headers={"Docker-Distribution-API-Version": "registry/2.0"})


@route("/{path:path}", http_method=[HttpMethod.GET, HttpMethod.HEAD, HttpMethod.PUT, HttpMethod.PATCH,
                                    HttpMethod.POST, HttpMethod.DELETE], request_max_body_size=None)
async def v2_dispatch(request: Req, path: FromPath[str], services: ServicesDep) -> Response[Any]:
    path = path.strip("/")
    for pattern, methods, action, handler in _ROUTES:
        m = pattern.fullmatch(path)
        if m is None:
            continue
        if request.method not in methods:
            raise Invalid(f"{request.method} is not supported here", code=codes.UNSUPPORTED)
        caller = await caller_async(request, services)
        if "name" in m.groupdict():
            needed = _WRITE_ACTION.get(request.method, action) if action else ""
            actions = "pull,push" if needed == "push" else needed
            request.scope["oci_scope"] = f"repository:{m['name']}:{actions}"  # type: ignore[typeddict-unknown-key]
            caller.require_scope(m["name"], needed)
        return await handler(request, services, caller, m)
    raise NotFound(f"no such endpoint /v2/{path}", code=codes.NAME_UNKNOWN)


@post("/api/v1/admin/gc", sync_to_thread=True, status_code=200, tags=["admin"])
def admin_gc(services: ServicesDep, principal: PrincipalDep) -> dict[str, int]:
    """Delete blobs no manifest or chart references (after the grace window) and expired uploads."""
    services.auth.require_admin(principal)
    report = services.registry.gc()
    return {"blobs_deleted": report.blobs_deleted, "bytes_freed": report.bytes_freed,
            "uploads_expired": report.uploads_expired, "orphans_deleted": report.orphans_deleted,
            "staged_deleted": report.staged_deleted}


_HANDLERS: dict[int | type[Exception], Any] = {AppMarketError: oci_error, HTTPException: oci_error,
                                              Exception: oci_error}

router = Router(path="/v2", route_handlers=[v2_base, v2_dispatch], exception_handlers=_HANDLERS,
                include_in_schema=False)
token_router = Router(path="/", route_handlers=[token_get, token_post], exception_handlers=_HANDLERS,
                      include_in_schema=False)
admin_router = Router(path="/", route_handlers=[admin_gc],
                      exception_handlers=PROBLEM_HANDLERS,
                      dependencies={"principal": Provide(provide_principal, sync_to_thread=True)})
