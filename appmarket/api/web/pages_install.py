"""The install flow: pick a cluster that fits, fill the schema form (or the YAML editor), preview, install.

Secrets typed into password fields are never echoed back into the page: between a preview and the
install they wait in the encrypted session cookie, keyed by chart, and previews and messages mask them.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import msgspec
import yaml
from litestar import Router, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from appmarket.api.deps import ServicesDep
from appmarket.api.errors import status_for
from appmarket.api.web import pages_release
from appmarket.api.web.render import WEB_ERRORS, Req, checked_form, page, signed_in
from appmarket.auth.schemas import Principal
from appmarket.catalog.schemas import AppDetail
from appmarket.errors import Invalid, Upstream
from appmarket.installer.placement import cluster_fit
from appmarket.installer.preflight import PreflightFailed
from appmarket.installer.schemas import DryRunOut, ReleaseRequest
from appmarket.services import Services
from appmarket.ui.form_state import mask, place_errors, rendered_paths, secret_paths, split_secrets, with_defaults
from appmarket.ui.schema_form import build_form, leaves, parse_submission

SECRETS_KEY = "install_secrets"


class Submitted(msgspec.Struct):
    """One POST of the install form, read back into values."""

    values: dict[str, Any]  # everything, secrets included: what gets installed
    errors: dict[str, str]
    shown: dict[str, Any]  # what the fields render from next (the submitted values, or the last good ones)
    yaml_text: str | None = None  # the editor's text when it cannot be parsed (kept as typed)
    rendered_text: str | None = None


def initial_values(detail: AppDetail) -> dict[str, Any]:
    """The chart's values.yaml with schema defaults filled in, without its secrets (helm keeps those)."""
    defaults = yaml.safe_load(detail.values_yaml or "{}") or {}
    schema = detail.values_schema or {}
    return split_secrets(schema, with_defaults(schema, defaults))[0] if schema else defaults


def _mapping(text: str, what: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"the {what} holds invalid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise Invalid(f"the {what} must hold a mapping")
    return loaded


def values_from(form: dict[str, Any], schema: dict[str, Any] | None, start: dict[str, Any],
                kept: dict[str, Any]) -> Submitted:
    """The YAML editor's mapping with each form field whose text changed written over it.

    ``values_yaml_rendered`` is the YAML the page was rendered with: without it (an older page, a
    script) the fields are compared with the submitted YAML itself.
    """
    rendered_text = form.get("values_yaml_rendered")
    try:
        rendered = _mapping(str(rendered_text), "page") if rendered_text is not None else None
    except Invalid:
        rendered = None
    base = start if rendered is None else rendered
    text = form.get("values_yaml")
    try:
        edited = base if text is None else _mapping(str(text), "YAML editor")
    except Invalid as exc:
        return Submitted(values=base, errors={"(values)": exc.message}, shown=base, yaml_text=str(text),
                         rendered_text=None if rendered_text is None else str(rendered_text))
    if rendered is None:
        base = edited
    if not schema:
        return Submitted(values=edited, errors={}, shown=edited)
    values, errors = parse_submission(schema, {k: str(v) for k, v in form.items()}, base, edited, kept)
    return Submitted(values=values, errors=errors, shown=values)


def _kept(request: Req, key: str) -> dict[str, Any]:
    stash = request.session.get(SECRETS_KEY)
    found = stash.get(key) if isinstance(stash, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def _keep(request: Req, key: str, secrets: dict[str, Any]) -> None:
    stash = request.session.get(SECRETS_KEY)
    stash = dict(stash) if isinstance(stash, dict) else {}
    if secrets:
        stash[key] = secrets
    elif key not in stash:
        return
    else:
        stash.pop(key)
    request.set_session({**request.session, SECRETS_KEY: stash})


async def _install_page(request: Req, services: Services, principal: Principal, detail: AppDetail, *,
                        form: dict[str, Any] | None = None, sub: Submitted | None = None,
                        errors: dict[str, str] | None = None, preview: DryRunOut | None = None,
                        status_code: int = 200) -> Template:
    project, name = detail.app.project, detail.app.name
    fits = await anyio.to_thread.run_sync(cluster_fit, services.clusters, services.releases.charts, principal,
                                          f"{project}/{name}", detail.version)
    known = await anyio.to_thread.run_sync(services.clusters.list, principal)
    probe_errors = {c.name: c.capabilities.error for c in known if c.capabilities and c.capabilities.error}
    schema = detail.values_schema or {}
    kept = _kept(request, f"{project}/{name}")
    shown = initial_values(detail) if sub is None else split_secrets(schema, sub.shown)[0]
    errors = {k: mask(v, kept.values()) for k, v in {**(sub.errors if sub else {}), **(errors or {})}.items()}
    featured, fields = build_form(schema, shown, [p.path for p in detail.featured_parameters])
    for f in leaves(fields):  # a refused entry stays as typed, to be corrected
        if f.path in errors and form and f.path in form and f.kind not in ("secret", "boolean"):
            f.text = str(form[f.path])
    suite, toggles = None, {}
    if detail.app.suite:  # an umbrella chart: its members in order, each with its `<member>.enabled` switch
        suites = await anyio.to_thread.run_sync(services.catalog.suites, principal)
        suite = next((x for x in suites if x.project == project and x.app.name == name), None)
        members = {f"{m.name}.enabled": m.name for m in suite.members} if suite else {}
        toggles = {members[f.path]: f for f in featured if f.path in members and f.kind == "boolean"}
        featured = [f for f in featured if f.path not in members or members[f.path] not in toggles]
    places = rendered_paths(fields, featured)
    field_errors, summary = place_errors(errors, places)
    featured_paths = {f.path for f in featured}
    dumped = yaml.safe_dump(shown, sort_keys=False) if shown else ""
    if preview is not None:
        preview = msgspec.structs.replace(preview, manifest=mask(preview.manifest, kept.values()),
                                          notes=mask(preview.notes, kept.values()))
    return page(request, principal, "install.html", status_code=status_code, d=detail, fits=fits, suite=suite,
                toggles=toggles, probe_errors=probe_errors, featured=featured, fields=fields, form=form or {},
                field_errors=field_errors, summary_errors=summary, kept=set(kept), preview=preview,
                open_parameters=any(p not in featured_paths for p in field_errors),
                yaml_open=bool(sub and sub.yaml_text is not None), secret_paths=secret_paths(schema),
                values_yaml=sub.yaml_text if sub and sub.yaml_text is not None else dumped,
                rendered_yaml=sub.rendered_text if sub and sub.rendered_text is not None else dumped)


async def _detail(request: Req, services: Services, principal: Principal, project: str, name: str,
                  version: str | None) -> AppDetail:
    base = str(request.base_url).rstrip("/")
    return await anyio.to_thread.run_sync(
        lambda: services.catalog.detail(principal, project, name, version, base_url=base))


@get("/ui/install/{project:str}/{name:str}")
async def install_form(request: Req, project: FromPath[str], name: FromPath[str], services: ServicesDep) -> Template:
    principal = await signed_in(request, services)
    services.auth.require_admin(principal)
    _keep(request, f"{project}/{name}", {})  # a fresh form starts without secrets from an earlier visit
    detail = await _detail(request, services, principal, project, name, request.query_params.get("version"))
    return await _install_page(request, services, principal, detail)


@post("/ui/install/{project:str}/{name:str}")
async def install_submit(request: Req, project: FromPath[str], name: FromPath[str],
                         services: ServicesDep) -> Template | Redirect:
    principal = await signed_in(request, services)
    services.auth.require_admin(principal)
    form = await checked_form(request)
    key = f"{project}/{name}"
    detail = await _detail(request, services, principal, project, name, str(form.get("version") or "") or None)
    sub = values_from(form, detail.values_schema, initial_values(detail), _kept(request, key))
    schema = detail.values_schema or {}
    if sub.yaml_text is None:  # what the user typed is what the next submission keeps
        _keep(request, key, split_secrets(schema, sub.values)[1])
    else:  # the YAML could not be read: keep at least the secrets typed into their fields
        typed = {p: str(form[p]) for p in secret_paths(schema) if str(form.get(p) or "")}
        _keep(request, key, {**_kept(request, key), **typed})
    cluster, namespace = str(form.get("cluster", "")), str(form.get("namespace", "")).strip() or "default"
    release = str(form.get("release", "")).strip() or name
    errors = {} if cluster else {"cluster": "pick a cluster"}
    if sub.errors or errors:
        return await _install_page(request, services, principal, detail, form=form, sub=sub, errors=errors,
                                   status_code=400)
    req = ReleaseRequest(chart=key, version=detail.version, values=sub.values,
                         dry_run=form.get("action") == "preview", override_fit=bool(form.get("override_fit")))
    try:
        result = await anyio.to_thread.run_sync(services.releases.install, principal, cluster, namespace, release, req)
    except PreflightFailed as exc:
        errs = {str(d.get("field") or d.get("check")): str(d.get("message")) for d in exc.details}
        return await _install_page(request, services, principal, detail, form=form, sub=sub, errors=errs,
                                   status_code=400)
    except (Invalid, Upstream) as exc:  # e.g. the chart refuses the values (helm `fail`): keep the form
        return await _install_page(request, services, principal, detail, form=form, sub=sub,
                                   errors={"(install)": exc.message}, status_code=status_for(exc))
    if isinstance(result, DryRunOut):
        return await _install_page(request, services, principal, detail, form=form, sub=sub, preview=result)
    _keep(request, key, {})
    return Redirect(f"/ui/operations/{result.id}", status_code=303)


router = Router(path="/", route_handlers=[install_form, install_submit, *pages_release.HANDLERS],
                exception_handlers=WEB_ERRORS, include_in_schema=False)
