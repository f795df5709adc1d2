"""Addon and rollout pages: apply an addon from YAML, see its targets, drift and rollouts, and follow a
rollout wave by wave over server-sent events with the admin actions (pause, resume, abort, approve, skip)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import anyio.to_thread
from litestar import Router, get, post
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent, Template

from appmarket.addons.documents import spec_yaml
from appmarket.addons.schemas import AddonOut, RolloutAction, RolloutOut
from appmarket.addons.service import SKIPPABLE
from appmarket.addons.store import FINAL
from appmarket.api.addons import ACTIONS, last_event_id, parse_spec, rollout_events
from appmarket.api.deps import ServicesDep
from appmarket.api.errors import status_for
from appmarket.api.web.render import WEB_ERRORS, Req, checked_form, context, page, signed_in
from appmarket.api.web.session import CSRF_FIELD, check_csrf
from appmarket.auth.schemas import Principal
from appmarket.errors import AppMarketError, Conflict
from appmarket.services import Services

# What the form starts with: the curated TApp controller, canary first, then the rest with approval.
EXAMPLE = """\
name: tapp-controller
chart: library/tapp-controller
version: "1.0.0"
namespace: kube-system
targets: env=prod
values: {}
overrides: []
strategy:
  waves:
    - name: canary
      selector: ring=canary
  max_parallel: 4
  failure_budget: 0
  health_timeout: 300
  soak: 600
  approval: true
"""





def _refused(exc: AppMarketError) -> bool:
    """Permission errors become the error page; the others are shown inline beside the form."""
    return exc.code in ("forbidden", "unauthorized")


async def _addons_page(request: Req, services: Services, principal: Principal, *, text: str = "", error: str = "",
                       status_code: int = 200) -> Template:
    addons = await anyio.to_thread.run_sync(services.addons.list, principal)
    recent = await anyio.to_thread.run_sync(services.addons.rollouts, principal, None, 20)
    return page(request, principal, "addons.html", status_code=status_code, addons=addons, recent=recent,
                spec_text=text or EXAMPLE, error=error, message=request.query_params.get("message", ""))


@get("/ui/addons")
async def addons_page(request: Req, services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    return await _addons_page(request, services, principal)


@post("/ui/addons")
async def apply_addon(request: Req, services: ServicesDep) -> Template | Redirect:
    principal = await signed_in(request, services)
    services.auth.require_admin(principal)
    form = await checked_form(request)
    text = str(form.get("spec_yaml") or "")
    try:
        spec = parse_spec(text.encode(), "application/yaml")
        out: AddonOut = await anyio.to_thread.run_sync(services.addons.apply, principal, spec)
    except AppMarketError as exc:
        if _refused(exc):
            raise
        return await _addons_page(request, services, principal, text=text, error=exc.message,
                                  status_code=status_for(exc))
    return Redirect(f"/ui/addons/{quote(out.name)}", status_code=303)


async def _addon_page(request: Req, services: Services, principal: Principal, name: str, *, error: str = "",
                      status_code: int = 200) -> Template:
    addon = await anyio.to_thread.run_sync(services.addons.get, principal, name)
    rollouts = await anyio.to_thread.run_sync(services.addons.rollouts, principal, name, 50)
    states: dict[str, Any] = {}
    if addon.rollout is not None:
        states = {t.cluster: t for w in addon.rollout.waves for t in w.targets}
    return page(request, principal, "addon.html", status_code=status_code, addon=addon, rollouts=rollouts,
                states=states, spec_text=spec_yaml(addon.spec), release=addon.spec.release or addon.name,
                error=error, message=request.query_params.get("message", ""))


@get("/ui/addons/{name:str}")
async def addon_page(request: Req, name: FromPath[str], services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    return await _addon_page(request, services, principal, name)


@post("/ui/addons/{name:str}/drift")
async def check_drift(request: Req, name: FromPath[str], services: ServicesDep) -> Redirect:
    principal = await signed_in(request, services)
    await checked_form(request)
    report = await anyio.to_thread.run_sync(services.addons.check_drift, principal, name)
    if report.status == "rollout in progress":
        note = f"No drift check while rollout {report.rollout} is in progress"
    elif report.drift:
        note = f"Drift check: {len(report.drift)} cluster(s) differ"
    else:
        note = "Drift check: every target matches"
    return Redirect(f"/ui/addons/{quote(name)}?message={quote(note)}", status_code=303)


@post("/ui/addons/{name:str}/delete")
async def delete_addon(request: Req, name: FromPath[str], services: ServicesDep) -> Template | Redirect:
    principal = await signed_in(request, services)
    services.auth.require_admin(principal)
    form = await checked_form(request)
    try:
        await anyio.to_thread.run_sync(services.addons.delete, principal, name, str(form.get("confirm", "")))
    except AppMarketError as exc:
        if _refused(exc):
            raise
        return await _addon_page(request, services, principal, name, error=exc.message,
                                 status_code=status_for(exc))
    note = f"Removing {name}: uninstalling it from every target"
    return Redirect(f"/ui/addons?message={quote(note)}", status_code=303)


def _rollout_context(rollout: RolloutOut, latest_id: int) -> dict[str, Any]:
    """What the page shows and which actions make sense in the rollout's state."""
    active = rollout.id == latest_id and rollout.state not in FINAL
    state = rollout.state
    undoing = any(t.state == "rolling-back" for w in rollout.waves for t in w.targets)
    actions = {
        "pause": active and state in ("running", "waiting-approval", "waiting-window"),
        "resume": active and (state == "paused" or (state == "halted" and not undoing)),
        "approve": active and state == "waiting-approval",
        "abort": active and state != "aborting",
        "skip": active and state != "aborting",
    }
    skippable = [t.cluster for w in rollout.waves for t in w.targets if t.state in SKIPPABLE]
    return {"r": rollout, "can": actions, "skippable": skippable, "final": state in FINAL}


async def _rollout_page(request: Req, services: Services, principal: Principal, rollout_id: int, *,
                        error: str = "", status_code: int = 200) -> Template:
    rollout = await anyio.to_thread.run_sync(services.addons.rollout, principal, rollout_id)
    latest = await anyio.to_thread.run_sync(services.addons.latest_rollout, principal, rollout.addon)
    ctx = _rollout_context(rollout, latest.id)
    if request.query_params.get("fragment"):
        return Template(template_name="rollout_live.html", context=context(request, principal, error=error, **ctx))
    return page(request, principal, "rollout.html", status_code=status_code, error=error, **ctx)


@get("/ui/rollouts/{rollout_id:int}")
async def rollout_page(request: Req, rollout_id: FromPath[int], services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    return await _rollout_page(request, services, principal, rollout_id)


@get("/ui/rollouts/{rollout_id:int}/events")
async def rollout_stream(request: Req, rollout_id: FromPath[int], services: ServicesDep) -> ServerSentEvent:
    principal = await signed_in(request, services)
    await anyio.to_thread.run_sync(services.addons.rollout, principal, rollout_id)
    return ServerSentEvent(rollout_events(services, principal, rollout_id, last_event_id(request)))


@post("/ui/rollouts/{rollout_id:int}/{action:str}")
async def rollout_action(request: Req, rollout_id: FromPath[int], action: FromPath[str],
                         services: ServicesDep) -> Template | Redirect:
    principal = await signed_in(request, services)
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    services.auth.require_admin(principal)
    if action not in ACTIONS:
        return await _rollout_page(request, services, principal, rollout_id, error=f"unknown action {action!r}",
                                   status_code=400)
    body = RolloutAction(clusters=[str(c) for c in form.getall("clusters", [])] if action == "skip" else [])
    try:
        rollout = await anyio.to_thread.run_sync(services.addons.rollout, principal, rollout_id)
        latest = await anyio.to_thread.run_sync(services.addons.latest_rollout, principal, rollout.addon)
        if latest.id != rollout_id:
            raise Conflict(f"rollout {rollout_id} is no longer the latest of {rollout.addon} "
                           f"(see rollout {latest.id})")
        await anyio.to_thread.run_sync(services.addons.act, principal, rollout.addon, action, body)
    except AppMarketError as exc:
        if _refused(exc) or exc.code == "not_found":
            raise
        return await _rollout_page(request, services, principal, rollout_id, error=exc.message,
                                   status_code=status_for(exc))
    return Redirect(f"/ui/rollouts/{rollout_id}", status_code=303)


router = Router(path="/", route_handlers=[addons_page, apply_addon, addon_page, check_drift, delete_addon,
                                          rollout_page, rollout_stream, rollout_action],
                exception_handlers=WEB_ERRORS, include_in_schema=False)
