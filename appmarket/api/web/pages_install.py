"""The install flow and release pages: pick a cluster that fits, fill the schema form, preview, install,
watch the operation live (server-sent events), then upgrade with a diff, roll back or uninstall."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import yaml
from litestar import Router, get, post
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent, Template

from appmarket.api.deps import ServicesDep
from appmarket.api.errors import status_for
from appmarket.api.operations import operation_events
from appmarket.api.web.render import WEB_ERRORS, Req, checked_form, page, signed_in
from appmarket.auth.schemas import Principal
from appmarket.errors import Invalid, Upstream
from appmarket.installer.operations import ACTIVE, FINAL
from appmarket.installer.placement import cluster_fit
from appmarket.installer.preflight import PreflightFailed
from appmarket.installer.schemas import DryRunOut, OperationOut, ReleaseRequest, RollbackRequest
from appmarket.services import Services
from appmarket.ui.schema_form import build_form, parse_submission


def _featured(annotations: dict[str, str]) -> list[str]:
    try:
        paths = yaml.safe_load(annotations.get("appmarket.io/featured-parameters", "[]"))
    except yaml.YAMLError:
        return []
    return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []


def _values_from(form: dict[str, Any], schema: dict[str, Any] | None, defaults: dict[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    """Values from the expert YAML editor (if edited) overlaid with the typed form fields."""
    base = defaults
    text = str(form.get("values_yaml") or "")
    if text.strip() and text.strip() != yaml.safe_dump(defaults, sort_keys=False).strip():
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            return defaults, {"(values)": f"the YAML editor holds invalid YAML: {exc}"}
        if not isinstance(loaded, dict):
            return defaults, {"(values)": "the YAML editor must hold a mapping"}
        base = loaded
    if not schema:
        return base, {}
    return parse_submission(schema, {k: str(v) for k, v in form.items()}, base)


async def _install_page(request: Req, services: Services, principal: Principal, project: str, name: str,
                        version: str | None, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                        preview: DryRunOut | None = None, status_code: int = 200) -> Template:
    services.auth.require_admin(principal)
    base = str(request.base_url).rstrip("/")
    detail = await anyio.to_thread.run_sync(
        lambda: services.catalog.detail(principal, project, name, version, base_url=base))
    fits = await anyio.to_thread.run_sync(cluster_fit, services.clusters, services.releases.charts, principal,
                                          f"{project}/{name}", detail.version)
    defaults = yaml.safe_load(detail.values_yaml or "{}") or {}
    values = defaults
    if form is not None:
        values, _ = _values_from(form, detail.values_schema, defaults)
    featured, fields = build_form(detail.values_schema or {}, values,
                                  [p.path for p in detail.featured_parameters])
    suite, toggles = None, {}
    if detail.app.suite:  # an umbrella chart: its members in order, each with its `<member>.enabled` switch
        suites = await anyio.to_thread.run_sync(services.catalog.suites, principal)
        suite = next((x for x in suites if x.project == project and x.app.name == name), None)
        members = {f"{m.name}.enabled": m.name for m in suite.members} if suite else {}
        toggles = {members[f.path]: f for f in featured if f.path in members and f.kind == "boolean"}
        featured = [f for f in featured if f.path not in members or members[f.path] not in toggles]
    return page(request, principal, "install.html", status_code=status_code, d=detail, fits=fits, suite=suite,
                toggles=toggles,
                featured=featured, fields=fields, form=form or {}, errors=errors or {}, preview=preview,
                values_yaml=yaml.safe_dump(values, sort_keys=False))


@get("/ui/install/{project:str}/{name:str}")
async def install_form(request: Req, project: FromPath[str], name: FromPath[str], services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    return await _install_page(request, services, principal, project, name, request.query_params.get("version"))


@post("/ui/install/{project:str}/{name:str}")
async def install_submit(request: Req, project: FromPath[str], name: FromPath[str],
                         services: ServicesDep) -> Template | Redirect:
    principal = await signed_in(request, services)
    services.auth.require_admin(principal)
    form = await checked_form(request)
    version = str(form.get("version") or "") or None
    detail = await anyio.to_thread.run_sync(
        lambda: services.catalog.detail(principal, project, name, version, base_url=""))
    defaults = yaml.safe_load(detail.values_yaml or "{}") or {}
    values, errors = _values_from(form, detail.values_schema, defaults)
    cluster, namespace = str(form.get("cluster", "")), str(form.get("namespace", "")).strip() or "default"
    release = str(form.get("release", "")).strip() or name
    if not cluster:
        errors["cluster"] = "pick a cluster"
    if errors:
        return await _install_page(request, services, principal, project, name, version, form, errors,
                                   status_code=400)
    req = ReleaseRequest(chart=f"{project}/{name}", version=detail.version, values=values,
                         dry_run=form.get("action") == "preview", override_fit=bool(form.get("override_fit")))
    try:
        result = await anyio.to_thread.run_sync(services.releases.install, principal, cluster, namespace, release, req)
    except PreflightFailed as exc:
        errs = {str(d.get("field") or d.get("check")): str(d.get("message")) for d in exc.details}
        return await _install_page(request, services, principal, project, name, version, form, errs,
                                   status_code=400)
    except (Invalid, Upstream) as exc:  # e.g. the chart refuses the values (helm `fail`): keep the form
        return await _install_page(request, services, principal, project, name, version, form,
                                   {"(install)": exc.message}, status_code=status_for(exc))
    if isinstance(result, DryRunOut):
        return await _install_page(request, services, principal, project, name, version, form, preview=result)
    return Redirect(f"/ui/operations/{result.id}", status_code=303)


OPERATION_STATES = (*ACTIVE, *FINAL)


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
    return page(request, principal, "operation.html", op=op)


@get("/ui/operations/{op_id:int}/events")
async def operation_stream(request: Req, op_id: FromPath[int], services: ServicesDep) -> ServerSentEvent:
    principal = await signed_in(request, services)
    await anyio.to_thread.run_sync(services.releases.operation, principal, op_id)
    after = int(request.headers.get("last-event-id", "0") or 0)
    return ServerSentEvent(operation_events(services, op_id, after))


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


async def _release(request: Req, services: Services, principal: Principal, cluster: str, namespace: str,
                   name: str, preview: DryRunOut | None = None, error: str = "", status_code: int = 200,
                   values_text: str | None = None, selected_version: str | None = None) -> Template:
    rel = await anyio.to_thread.run_sync(services.releases.get, principal, cluster, namespace, name)
    history = await anyio.to_thread.run_sync(services.releases.history, principal, cluster, namespace, name)
    ops = await anyio.to_thread.run_sync(lambda: services.releases.operations(
        principal, cluster=cluster, namespace=namespace, release=name, limit=20))
    extra: dict[str, Any] = {"values": "", "manifest": "", "notes": "", "versions": []}
    if principal.is_admin and rel.status not in ("uninstalled", "not-installed"):
        extra["values"] = yaml.safe_dump(await anyio.to_thread.run_sync(
            lambda: services.releases.values(principal, cluster, namespace, name)), sort_keys=False)
        extra["manifest"] = await anyio.to_thread.run_sync(services.releases.manifest, principal, cluster,
                                                           namespace, name)
        extra["notes"] = await anyio.to_thread.run_sync(services.releases.notes, principal, cluster, namespace, name)
    if "/" in rel.chart and not rel.repo:
        project, chart = rel.chart.split("/", 1)
        versions = await anyio.to_thread.run_sync(services.charts.list_versions, principal, project, chart)
        extra["versions"] = [v["version"] for v in versions]
    return page(request, principal, "release.html", status_code=status_code, rel=rel, history=history, ops=ops,
                preview=preview, error=error, values_text=values_text if values_text is not None else extra["values"],
                selected_version=selected_version or rel.version, **extra)


@post("/ui/releases/{cluster:str}/{namespace:str}/{name:str}/upgrade")
async def release_upgrade(request: Req, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                          services: ServicesDep) -> Template | Redirect:
    principal = await signed_in(request, services)
    form = await checked_form(request)
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
    revision = int(str(form.get("revision", "0")) or 0) or None
    op: OperationOut = await anyio.to_thread.run_sync(services.releases.rollback, principal, cluster, namespace,
                                                      name, RollbackRequest(revision=revision))
    return Redirect(f"/ui/operations/{op.id}", status_code=303)


@post("/ui/releases/{cluster:str}/{namespace:str}/{name:str}/uninstall")
async def release_uninstall(request: Req, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                            services: ServicesDep) -> Redirect:
    principal = await signed_in(request, services)
    await checked_form(request)
    op: OperationOut = await anyio.to_thread.run_sync(
        lambda: services.releases.uninstall(principal, cluster, namespace, name))
    return Redirect(f"/ui/operations/{op.id}", status_code=303)


router = Router(path="/", route_handlers=[install_form, install_submit, operations_page, operation_page,
                                          operation_stream, releases_page, release_page, release_upgrade,
                                          release_rollback, release_uninstall],
                exception_handlers=WEB_ERRORS, include_in_schema=False)
