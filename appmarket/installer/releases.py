"""Releases as the API sees them: validate and preflight a request, queue it as an operation, read state.

Requests never run helm for changes themselves: they become Operation rows that workers execute, so
a change survives a restart and never runs beside another change to the same release. Reads (status,
values, manifest, history, dry-run renders) ask helm directly, since helm's records are the truth.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import yaml

from appmarket.auth.schemas import Principal
from appmarket.auth.service import AuthService
from appmarket.errors import Conflict, Invalid, NotFound, Unauthorized
from appmarket.installer import helm as helm_mod
from appmarket.installer.cluster_registry import ClusterRegistry
from appmarket.installer.helm import ChartSource, Helm, manifest_diff
from appmarket.installer.kubeconfig import kubeconfig_file
from appmarket.installer.operations import PENDING, OperationStore, operation_out, release_out
from appmarket.installer.plan import deployed_manifest, effective_values, recorded_values
from appmarket.installer.preflight import preflight, values_diff
from appmarket.installer.schemas import (
    DryRunOut,
    OperationOut,
    RecoverRequest,
    ReleaseOut,
    ReleaseRequest,
    RollbackRequest,
)
from appmarket.installer.sources import ChartResolver, is_local

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
GONE = ("new", "uninstalled")


def check_names(namespace: str, name: str) -> None:
    if len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace):
        raise Invalid(f"invalid namespace {namespace!r}")
    if len(name) > 53 or not _DNS_LABEL.fullmatch(name):
        raise Invalid(f"invalid release name {name!r}: lowercase letters, digits and '-', at most 53")


class ReleaseService:
    def __init__(self, store: OperationStore, clusters: ClusterRegistry, auth: AuthService, helm: Helm,
                 charts: ChartResolver, notify: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.clusters = clusters
        self.auth = auth
        self.helm = helm
        self.charts = charts
        self.notify = notify

    # -- changes --------------------------------------------------------------------------------------

    def install(self, principal: Principal, cluster: str, namespace: str, name: str, req: ReleaseRequest,
                refuse_if_busy: bool = False) -> OperationOut | DryRunOut:
        self._prepare(principal, cluster, namespace, name)
        if (replayed := self._replay(principal, "install", cluster, namespace, name, req)) is not None:
            return replayed
        rel = self.store.release_row(cluster, namespace, name)
        if not req.chart:
            raise Invalid("chart is required to install")
        if rel is not None and rel.status not in GONE and rel.active_operation_id is None and not req.dry_run:
            raise Conflict(f"release {cluster}/{namespace}/{name} exists ({rel.status}); upgrade it instead")
        return self._change(principal, cluster, namespace, name, "install", req, {}, refuse_if_busy,
                            self._digest("install", cluster, namespace, name, req))

    def upgrade(self, principal: Principal, cluster: str, namespace: str, name: str, req: ReleaseRequest,
                refuse_if_busy: bool = False) -> OperationOut | DryRunOut:
        self._prepare(principal, cluster, namespace, name)
        if (replayed := self._replay(principal, "upgrade", cluster, namespace, name, req)) is not None:
            return replayed
        rel = self.store.release_row(cluster, namespace, name)
        if rel is None or rel.status in GONE:
            raise NotFound(f"release {cluster}/{namespace}/{name} is not installed")
        original = req
        if req.chart is None:
            req = msgspec.structs.replace(req, chart=rel.chart_ref, repo=req.repo or rel.repo or None,
                                          version=req.version or rel.chart_version or None)
        return self._change(principal, cluster, namespace, name, "upgrade", req, dict(rel.values), refuse_if_busy,
                            self._digest("upgrade", cluster, namespace, name, original))

    def _change(self, principal: Principal, cluster: str, namespace: str, name: str, kind: str,
                req: ReleaseRequest, old_values: dict[str, Any], refuse: bool,
                digest: str) -> OperationOut | DryRunOut:
        assert req.chart is not None
        if req.reuse_values and req.reset_values:
            raise Invalid("reuse_values and reset_values exclude each other")
        caps, atomic_default = self.clusters.capabilities(cluster)
        version = req.version
        if is_local(req.chart, req.repo):
            row = self.charts.local_version(principal, req.chart, req.version)
            version = row.version
        if req.dry_run or req.diff:  # a diff is always a dry run; the CLI submits the change afterwards
            return self._dry_run(cluster, namespace, name, req, version, caps)
        # An early refusal against the values AppMarket recorded; the worker checks again, exactly, right
        # before helm runs (values merged over what helm recorded then, the package helm installs).
        effective = effective_values(req.values, req.reuse_values, old_values)
        warnings: list[str] = []
        overridden: list[str] = []
        if is_local(req.chart, req.repo):
            report = preflight(self.charts.facts(row), effective, caps, override_fit=req.override_fit)
            warnings, overridden = report.warnings, [p.message for p in report.overridden]
        else:
            warnings.append("external chart: preflight runs when the worker has fetched the chart")
        params = {"chart": req.chart, "repo": req.repo, "version": version, "values": req.values,
                  "reuse_values": req.reuse_values, "reset_values": req.reset_values,
                  "atomic": atomic_default if req.atomic is None else req.atomic, "wait": req.wait,
                  "timeout": req.timeout, "description": req.description, "override_fit": req.override_fit}
        audit = {"who": principal.name, "where": f"{cluster}/{namespace}/{name}",
                 "what": {"chart": req.chart, "version": version, "values_diff": values_diff(old_values, effective)},
                 "warnings": warnings, "overridden": overridden}
        return self._submit(principal, cluster, namespace, name, kind, params, audit, req.idempotency_key, refuse,
                            digest)

    def rollback(self, principal: Principal, cluster: str, namespace: str, name: str, req: RollbackRequest,
                 refuse_if_busy: bool = False) -> OperationOut:
        self._prepare(principal, cluster, namespace, name)
        if (replayed := self._replay(principal, "rollback", cluster, namespace, name, req)) is not None:
            return replayed
        self._existing(cluster, namespace, name)
        params = {"revision": req.revision, "wait": req.wait, "timeout": req.timeout}
        audit = {"who": principal.name, "where": f"{cluster}/{namespace}/{name}",
                 "what": {"rollback_to": req.revision}}
        return self._submit(principal, cluster, namespace, name, "rollback", params, audit, req.idempotency_key,
                            refuse_if_busy, self._digest("rollback", cluster, namespace, name, req))

    def uninstall(self, principal: Principal, cluster: str, namespace: str, name: str, *, wait: bool = True,
                  idempotency_key: str | None = None, refuse_if_busy: bool = False) -> OperationOut:
        self._prepare(principal, cluster, namespace, name)
        request = {"wait": wait, "idempotency_key": idempotency_key}
        if (replayed := self._replay(principal, "uninstall", cluster, namespace, name, request)) is not None:
            return replayed
        self._existing(cluster, namespace, name)
        audit = {"who": principal.name, "where": f"{cluster}/{namespace}/{name}", "what": {"uninstall": True}}
        digest = self._digest("uninstall", cluster, namespace, name, request)
        return self._submit(principal, cluster, namespace, name, "uninstall", {"wait": wait}, audit,
                            idempotency_key, refuse_if_busy, digest)

    def recover(self, principal: Principal, cluster: str, namespace: str, name: str,
                req: RecoverRequest) -> OperationOut:
        """Queue the audited recovery of a release helm left pending (refused while an operation is active)."""
        self._prepare(principal, cluster, namespace, name)
        if (replayed := self._replay(principal, "recover", cluster, namespace, name, req)) is not None:
            return replayed
        self._existing(cluster, namespace, name)
        audit = {"who": principal.name, "where": f"{cluster}/{namespace}/{name}", "what": {"recover": req.action}}
        return self._submit(principal, cluster, namespace, name, "recover", {"action": req.action}, audit,
                            req.idempotency_key, True, self._digest("recover", cluster, namespace, name, req))

    def _submit(self, principal: Principal, cluster: str, namespace: str, name: str, kind: str,
                params: dict[str, Any], audit: dict[str, Any], key: str | None, refuse: bool,
                digest: str) -> OperationOut:
        op, rel, _ = self.store.submit(cluster, namespace, name, kind, params, audit, principal.name, key, refuse,
                                       digest)
        self.notify()
        return operation_out(op, rel)

    def _dry_run(self, cluster: str, namespace: str, name: str, req: ReleaseRequest, version: str | None,
                 caps: dict[str, Any]) -> DryRunOut:
        """Render what the change would deploy, through the same values and preflight as the worker."""
        assert req.chart is not None
        with kubeconfig_file(yaml.safe_dump(self.clusters.kubeconfig(cluster))) as kc, \
                self.charts.materialize(req.chart, req.repo, version) as source:
            return helm_mod.run(self._render(kc, name, namespace, source, req, version, caps))

    async def _render(self, kc: Path, name: str, namespace: str, source: ChartSource, req: ReleaseRequest,
                      version: str | None, caps: dict[str, Any]) -> DryRunOut:
        assert req.chart is not None
        async with self.helm.fetch(source) as package:
            recorded: dict[str, Any] = {}
            if req.reuse_values:
                recorded, _ = await recorded_values(self.helm, kc, name, namespace)
            values = effective_values(req.values, req.reuse_values, recorded)
            facts = await asyncio.to_thread(self.charts.package_facts, package)
            report = preflight(facts, values, caps, override_fit=req.override_fit)
            rendered = await self.helm.install_or_upgrade(kc, name, namespace, package, values, dry_run=True)
        manifest = str(rendered.get("manifest", ""))
        diff = None
        if req.diff:
            try:
                deployed = await deployed_manifest(self.helm, kc, name, namespace)
            except NotFound:
                deployed = ""
            diff = manifest_diff(deployed, manifest, f"{name} (deployed)",
                                 f"{name} ({req.chart} {version or facts.version})")
        return DryRunOut(chart=req.chart, version=version or facts.version, manifest=manifest,
                         notes=str(rendered.get("info", {}).get("notes", "")), warnings=report.warnings, diff=diff)

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, principal: Principal, cluster: str, namespace: str, name: str) -> ReleaseOut:
        """The release as helm reports it now (falling back to the last known state if unreachable)."""
        self._reader(principal)
        rel = self._existing(cluster, namespace, name, allow_gone=True)
        try:
            history = self._helm(cluster, lambda kc: self.helm.history(kc, name, namespace))
        except (NotFound, Invalid):
            raise
        except Exception:  # an unreachable cluster: answer with what we last knew
            return release_out(rel)
        if history:
            last = history[-1]
            rel.status, rel.revision = str(last["status"]), int(last["revision"])
            rel.description = str(last.get("description", ""))
            if rel.active_operation_id is None:
                self.store.update_release(rel.id or 0, status=rel.status, revision=rel.revision,
                                          description=rel.description)
        return release_out(rel, stuck=rel.status in PENDING and rel.active_operation_id is None)

    def list_releases(self, principal: Principal, cluster: str, namespace: str | None = None) -> list[ReleaseOut]:
        self._reader(principal)
        self.clusters.get(principal, cluster)
        return [release_out(r) for r in self.store.releases(cluster, namespace)]

    def history(self, principal: Principal, cluster: str, namespace: str, name: str) -> list[dict[str, Any]]:
        self._reader(principal)
        history: list[dict[str, Any]] = self._helm(cluster, lambda kc: self.helm.history(kc, name, namespace))
        return history

    def values(self, principal: Principal, cluster: str, namespace: str, name: str, *,
               revision: int | None = None, computed: bool = False) -> dict[str, Any]:
        self.auth.require_admin(principal)  # values often hold passwords
        values: dict[str, Any] = self._helm(cluster, lambda kc: self.helm.values(
            kc, name, namespace, revision=revision, computed=computed))
        return values

    def manifest(self, principal: Principal, cluster: str, namespace: str, name: str,
                 revision: int | None = None) -> str:
        self._reader(principal)
        return str(self._helm(cluster, lambda kc: self.helm.manifest(kc, name, namespace, revision)))

    def notes(self, principal: Principal, cluster: str, namespace: str, name: str,
              revision: int | None = None) -> str:
        self._reader(principal)
        return str(self._helm(cluster, lambda kc: self.helm.notes(kc, name, namespace, revision)))

    def operation(self, principal: Principal, op_id: int) -> OperationOut:
        self.auth.require_admin(principal)  # parameters, audit and helm output carry values
        op, rel = self.store.get(op_id)
        return operation_out(op, rel, self.store.events(op_id), with_output=True)

    def operations(self, principal: Principal, **filters: Any) -> list[OperationOut]:
        self.auth.require_admin(principal)
        return self.store.list_operations(**filters)

    def cancel(self, principal: Principal, op_id: int) -> OperationOut:
        self.auth.require_admin(principal)
        self.store.cancel(op_id, principal.name)
        return self.operation(principal, op_id)

    # -- helpers --------------------------------------------------------------------------------------

    @staticmethod
    def _digest(kind: str, cluster: str, namespace: str, name: str, request: Any) -> str:
        """What makes two submissions the same request (the idempotency key itself aside)."""
        body = msgspec.to_builtins(request)
        body.pop("idempotency_key", None)
        doc = {"kind": kind, "where": [cluster, namespace, name], "request": body}
        return hashlib.sha256(msgspec.json.encode(doc, order="sorted")).hexdigest()

    def _replay(self, principal: Principal, kind: str, cluster: str, namespace: str, name: str,
                request: Any) -> OperationOut | None:
        """A retried submission (same Idempotency-Key, same request) answers with the first operation."""
        key = request.get("idempotency_key") if isinstance(request, dict) else request.idempotency_key
        if not key or getattr(request, "dry_run", False) or getattr(request, "diff", False):
            return None
        found = self.store.replay(principal.name, key, self._digest(kind, cluster, namespace, name, request))
        return None if found is None else operation_out(*found)

    def _helm(self, cluster: str, call: Callable[[Any], Any]) -> Any:
        with kubeconfig_file(yaml.safe_dump(self.clusters.kubeconfig(cluster))) as kc:
            return helm_mod.run(call(kc))

    def _prepare(self, principal: Principal, cluster: str, namespace: str, name: str) -> None:
        """Changing releases is for admins (clusters are admin-registered; per-cluster roles are future work)."""
        self.auth.require_admin(principal)
        check_names(namespace, name)
        self.clusters.get(principal, cluster)

    def _existing(self, cluster: str, namespace: str, name: str, allow_gone: bool = False) -> Any:
        rel = self.store.release_row(cluster, namespace, name)
        if rel is None or (rel.status == "new" and rel.active_operation_id is None and not allow_gone):
            raise NotFound(f"release {cluster}/{namespace}/{name} not found")
        return rel

    @staticmethod
    def _reader(principal: Principal) -> None:
        if not principal.signed_in:
            raise Unauthorized("sign in to see releases")
