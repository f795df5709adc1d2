"""Operations and release pages: watch an operation live (server-sent events), then upgrade with a diff,
roll back or uninstall.

A release page shows what the API would give the same user: each read is asked of the service and a
refused one is left out, so a viewer sees status, manifest, notes and history but no values, operations
or actions. When the cluster does not answer, the page shows the state last recorded in the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio.to_thread
import yaml
from litestar import get, post
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template

from appmarket.api.deps import ServicesDep
from appmarket.api.errors import status_for
from appmarket.api.operations import operation_events
from appmarket.api.web.render import Req, checked_form, page, signed_in
from appmarket.auth.schemas import Principal
from appmarket.errors import Forbidden, Invalid, NotFound, Unauthorized, Upstream
from appmarket.installer.operations import ACTIVE, FINAL
from appmarket.installer.schemas import DryRunOut, OperationOut, ReleaseRequest, RollbackRequest
from appmarket.services import Services

OPERATION_STATES = (*ACTIVE, *FINAL)
T = TypeVar("T")


@get(["/ui/operations", "/operations"])
async def operations_page(request: Req, services: ServicesDep) -> Template:
    """Recent operations, newest first, filtered by state and cluster (admins: they carry values)."""
    principal = await signed_in(request, services)
    services.auth.require_admin(principal)
    params = request.query_params
    state = params.get("state") or None
    if state not in (None, *OPERATION_STATES):
        raise Invalid(f"state must be one of {', '.join(OPERATION_STATES)}")
    cluster = params.get("cluster") or None
    ops = await anyio.to_thread.run_sync(lambda: services.releases.operations(
        principal, cluster=cluster, state=state, limit=200))
    clusters = await anyio.to_thread.run_sync(services.clusters.list, principal)
    return page(request, principal, "operations.html", ops=ops, clusters=clusters, states=OPERATION_STATES,
                state=state or "", cluster=cluster or "")


@get("/ui/operations/{op_id:int}")
async def operation_page(request: Req, op_id: FromPath[int], services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    op = await anyio.to_thread.run_sync(services.releases.operation, principal, op_id)
    return page(request, principal, "operation.html", op=op, final_states=FINAL)


async def unnamed(events: AsyncIterator[ServerSentEventMessage]) -> AsyncIterator[ServerSentEventMessage]:
    """The API's events with their SSE name dropped: the page reads the kind from the data, so a kind the
    installer adds later still reaches it (a browser drops named events nobody listens for)."""
    async for message in events:
        yield ServerSentEventMessage(data=message.data, id=message.id)


@get("/ui/operations/{op_id:int}/events")
async def operation_stream(request: Req, op_id: FromPath[int], services: ServicesDep) -> ServerSentEvent:
    principal = await signed_in(request, services)
    await anyio.to_thread.run_sync(services.releases.operation, principal, op_id)
    try:
        after = int(request.headers.get("last-event-id", "0") or 0)
    except ValueError:
        after = 0
    return ServerSentEvent(unnamed(operation_events(services, op_id, after)))


@get("/ui/releases")
async def releases_page(request: Req, services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    clusters = await anyio.to_thread.run_sync(services.clusters.list, principal)
    rows = []
    for c in clusters:
        rows.extend(await anyio.to_thread.run_sync(services.releases.list_releases, principal, c.name, None))
    return page(request, principal, "releases.html", releases=rows, clusters=clusters)


@get("/ui/releases/{cluster:str}/{namespace:str}/{name:str}")
async def release_page(request: Req, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                       services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    return await _release(request, services, principal, cluster, namespace, name)


class _Unreachable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _allowed(call: Callable[[], T]) -> T | None:
    """``call()``, or None where the API refuses this user; a cluster that does not answer raises _Unreachable."""
    try:
        return await anyio.to_thread.run_sync(call)
    except (Forbidden, Unauthorized):
        return None
    except Upstream as exc:
        raise _Unreachable(exc.message) from exc


async def _reads(services: Services, principal: Principal, cluster: str, namespace: str, name: str,
                 gone: bool) -> dict[str, Any]:
    """History, values, manifest and notes as the API would give them to ``principal`` (helm reads)."""
    r = services.releases
    out: dict[str, Any] = {"history": None, "values": None, "manifest": "", "notes": "", "unreachable": ""}
    try:
        try:
            out["history"] = await _allowed(lambda: r.history(principal, cluster, namespace, name))
        except NotFound:  # helm keeps no history of an uninstalled release
            out["history"] = []
        if gone:
            return out
        values = await _allowed(lambda: r.values(principal, cluster, namespace, name))
        out["values"] = None if values is None else yaml.safe_dump(values, sort_keys=False)
        out["manifest"] = await _allowed(lambda: r.manifest(principal, cluster, namespace, name)) or ""
        out["notes"] = await _allowed(lambda: r.notes(principal, cluster, namespace, name)) or ""
    except _Unreachable as exc:
        out["unreachable"] = exc.message
    return out


async def _release(request: Req, services: Services, principal: Principal, cluster: str, namespace: str,
                   name: str, preview: DryRunOut | None = None, error: str = "", status_code: int = 200,
                   values_text: str | None = None, selected_version: str | None = None) -> Template:
    # get() answers from the database when the cluster does not: the last known state.
    rel = await anyio.to_thread.run_sync(services.releases.get, principal, cluster, namespace, name)
    reads = await _reads(services, principal, cluster, namespace, name,
                         gone=rel.status in ("uninstalled", "not-installed"))
    ops = await _allowed(lambda: services.releases.operations(
        principal, cluster=cluster, namespace=namespace, release=name, limit=20))
    versions: list[str] = []
    if "/" in rel.chart and not rel.repo and principal.is_admin:
        project, chart = rel.chart.split("/", 1)
        listed = await anyio.to_thread.run_sync(services.charts.list_versions, principal, project, chart)
        versions = [v["version"] for v in listed]
    shown_values = values_text if values_text is not None else reads["values"]
    return page(request, principal, "release.html", status_code=status_code, rel=rel, ops=ops, preview=preview,
                error=error, values_text=shown_values, selected_version=selected_version or rel.version,
                versions=versions, **reads)


@post("/ui/releases/{cluster:str}/{namespace:str}/{name:str}/upgrade")
async def release_upgrade(request: Req, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                          services: ServicesDep) -> Template | Redirect:
    principal = await signed_in(request, services)
    form = await checked_form(request)
    services.auth.require_admin(principal)  # the service refuses too; refuse before parsing anything
    text = str(form.get("values_yaml") or "")
    try:
        values = yaml.safe_load(text) or {}
        if not isinstance(values, dict):
            raise Invalid("values must be a YAML mapping")
    except yaml.YAMLError as exc:
        return await _release(request, services, principal, cluster, namespace, name,
                              error=f"invalid YAML: {exc}", status_code=400, values_text=text)
    preview = form.get("action") == "preview"
    req = ReleaseRequest(version=str(form.get("version") or "") or None, values=values, reset_values=True,
                         diff=preview)
    try:
        result = await anyio.to_thread.run_sync(services.releases.upgrade, principal, cluster, namespace, name, req)
    except (Invalid, Upstream) as exc:
        return await _release(request, services, principal, cluster, namespace, name, error=exc.message,
                              status_code=status_for(exc), values_text=text)
    if isinstance(result, DryRunOut):
        return await _release(request, services, principal, cluster, namespace, name, preview=result,
                              values_text=text, selected_version=req.version)
    return Redirect(f"/ui/operations/{result.id}", status_code=303)


@post("/ui/releases/{cluster:str}/{namespace:str}/{name:str}/rollback")
async def release_rollback(request: Req, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                           services: ServicesDep) -> Redirect:
    principal = await signed_in(request, services)
    form = await checked_form(request)
    services.auth.require_admin(principal)
    raw = str(form.get("revision", "0") or "0")
    revision = int(raw) if raw.isdigit() and int(raw) > 0 else None
    op: OperationOut = await anyio.to_thread.run_sync(services.releases.rollback, principal, cluster, namespace,
                                                      name, RollbackRequest(revision=revision))
    return Redirect(f"/ui/operations/{op.id}", status_code=303)


@post("/ui/releases/{cluster:str}/{namespace:str}/{name:str}/uninstall")
async def release_uninstall(request: Req, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                            services: ServicesDep) -> Redirect:
    principal = await signed_in(request, services)
    await checked_form(request)
    services.auth.require_admin(principal)
    op: OperationOut = await anyio.to_thread.run_sync(
        lambda: services.releases.uninstall(principal, cluster, namespace, name))
    return Redirect(f"/ui/operations/{op.id}", status_code=303)


HANDLERS = [operations_page, operation_page, operation_stream, releases_page, release_page, release_upgrade,
            release_rollback, release_uninstall]
