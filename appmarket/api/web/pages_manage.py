"""Repositories, clusters and account pages: thin views over the same services as the API."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from litestar import Router, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template

from appmarket.api.deps import ServicesDep
from appmarket.api.web.render import WEB_ERRORS, Req, checked_form, page, principal_of, signed_in
from appmarket.auth.schemas import Principal, RobotCreate, RobotIssued, TokenCreate, TokenIssued
from appmarket.errors import AppMarketError, Invalid
from appmarket.installer.schemas import ClusterCreate
from appmarket.repo.oci import listing as oci_listing
from appmarket.services import Services

MAX_KUBECONFIG = 256 * 1024


@get("/ui/repositories")
async def repositories(request: Req, services: ServicesDep) -> Template:
    principal = await principal_of(request, services)
    projects = await anyio.to_thread.run_sync(services.projects.list_visible, principal)
    images = await anyio.to_thread.run_sync(oci_listing.repository_counts, services.db)
    return page(request, principal, "repositories.html", projects=projects, images=images)


@get("/ui/repositories/{project:str}")
async def repository(request: Req, project: FromPath[str], services: ServicesDep) -> Template:
    principal = await principal_of(request, services)
    info = await anyio.to_thread.run_sync(services.projects.get, principal, project)
    charts = await anyio.to_thread.run_sync(services.charts.list_all, principal, project)
    row = await anyio.to_thread.run_sync(services.projects.lookup, project)
    actions = await anyio.to_thread.run_sync(services.auth.project_actions, principal, row)
    images = await anyio.to_thread.run_sync(oci_listing.repositories, services.db, services.auth, principal,
                                            project)
    base = services.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return page(request, principal, "repository.html", project=info, charts=charts, images=images,
                registry=base.split("://", 1)[-1], plain_http=" --plain-http" if base.startswith("http://") else "",
                repo_url=base, can_push="push" in actions, message=request.query_params.get("message", ""))


@post("/ui/repositories/{project:str}/charts", request_max_body_size=None)
async def upload_chart(request: Req, project: FromPath[str], services: ServicesDep) -> Redirect | Template:
    principal = await signed_in(request, services)
    form = await checked_form(request)
    upload = form.get("chart")
    if not isinstance(upload, UploadFile):
        raise Invalid("choose a chart package (.tgz) to upload")
    data = await upload.read()
    try:
        saved = await anyio.to_thread.run_sync(
            lambda: services.charts.upload(principal, project, io.BytesIO(data)))
    except AppMarketError as exc:
        if exc.code in ("forbidden", "unauthorized"):
            raise
        return Redirect(f"/ui/repositories/{project}?message=Refused:+{exc.message}", status_code=303)
    return Redirect(f"/ui/repositories/{project}?message=Uploaded+{saved.name}+{saved.version}", status_code=303)


@get("/ui/clusters")
async def clusters(request: Req, services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    rows = await anyio.to_thread.run_sync(services.clusters.list, principal)
    return page(request, principal, "clusters.html", clusters=rows, error="",
                message=request.query_params.get("message", ""))


@post("/ui/clusters/{name:str}/probe")
async def probe_cluster(request: Req, name: FromPath[str], services: ServicesDep) -> Redirect:
    """Probe a cluster now (as POST /api/v1/clusters/{name}/probe) instead of waiting for the health check."""
    principal = await signed_in(request, services)
    await checked_form(request)
    services.auth.require_admin(principal)
    out = await anyio.to_thread.run_sync(services.clusters.refresh, name)
    caps = out.capabilities
    note = f"{name}: reachable" if caps and caps.reachable else f"{name}: unreachable"
    if caps and caps.error:
        note += f" ({caps.error})"
    return Redirect(f"/ui/clusters?message={quote(note)}", status_code=303)


@post("/ui/clusters")
async def register_cluster(request: Req, services: ServicesDep) -> Redirect | Template:
    principal = await signed_in(request, services)
    form = await checked_form(request)
    services.auth.require_admin(principal)
    text = str(form.get("kubeconfig_text") or "")
    upload = form.get("kubeconfig")
    if isinstance(upload, UploadFile):
        raw = await upload.read()
        if raw:
            text = raw[:MAX_KUBECONFIG].decode(errors="replace")
    labels = dict(item.split("=", 1) for item in str(form.get("labels", "")).split(",") if "=" in item)
    data = ClusterCreate(name=str(form.get("name", "")).strip(), kubeconfig=text or None, labels=labels)
    try:
        await anyio.to_thread.run_sync(services.clusters.register, principal, data)
    except AppMarketError as exc:
        if exc.code in ("forbidden", "unauthorized"):
            raise
        rows = await anyio.to_thread.run_sync(services.clusters.list, principal)
        return page(request, principal, "clusters.html", status_code=400, clusters=rows, error=exc.message,
                    message="")
    return Redirect("/ui/clusters", status_code=303)


async def _account_page(request: Req, services: Services, principal: Principal, *, issued: TokenIssued | None = None,
                        robot: RobotIssued | None = None) -> Template:
    """Tokens, users (admins) and projects; a just-issued token or robot secret is shown this once."""
    tokens = await anyio.to_thread.run_sync(services.accounts.list_tokens, principal)
    users = await anyio.to_thread.run_sync(services.accounts.list_users, principal) if principal.is_admin else []
    projects = await anyio.to_thread.run_sync(services.projects.list_visible, principal)
    return page(request, principal, "account.html", tokens=tokens, users=users, projects=projects,
                issued=issued, robot=robot)


@get("/ui/account")
async def account(request: Req, services: ServicesDep) -> Template:
    return await _account_page(request, services, await signed_in(request, services))


@post("/ui/account/tokens")
async def create_token(request: Req, services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    form = await checked_form(request)
    issued = await anyio.to_thread.run_sync(services.accounts.create_token, principal,
                                            TokenCreate(name=str(form.get("name", ""))[:128]))
    return await _account_page(request, services, principal, issued=issued)


@post("/ui/account/tokens/{token_id:int}/revoke")
async def revoke_own_token(request: Req, token_id: FromPath[int], services: ServicesDep) -> Redirect:
    principal = await signed_in(request, services)
    await checked_form(request)
    await anyio.to_thread.run_sync(services.accounts.revoke_token, principal, token_id)
    return Redirect("/ui/account", status_code=303)


@post("/ui/account/robots")
async def create_robot(request: Req, services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    form: dict[str, Any] = await checked_form(request)
    actions = [a for a in ("pull", "push", "delete", "overwrite") if form.get(f"action_{a}")]
    robot = await anyio.to_thread.run_sync(
        services.accounts.create_robot, principal, str(form.get("project", "")),
        RobotCreate(name=str(form.get("name", "")), actions=actions, expires_in_days=90))
    return await _account_page(request, services, principal, robot=robot)


router = Router(path="/", route_handlers=[repositories, repository, upload_chart, clusters, register_cluster,
                                          probe_cluster,
                                          account, create_token, revoke_own_token, create_robot],
                exception_handlers=WEB_ERRORS, include_in_schema=False)
