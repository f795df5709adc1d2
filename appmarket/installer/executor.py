"""Running one claimed operation against its cluster, and reconciling operations whose worker died.

Everything here happens in a worker thread: helm is awaited in that thread's event loop while a
heartbeat task keeps the operation visibly alive. Outcomes are read back from helm's own history, so
AppMarket's release rows follow the cluster, never the other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import yaml

from appmarket.db.installer import Operation, Release
from appmarket.db.models import utcnow
from appmarket.errors import AppMarketError, NotFound
from appmarket.installer.cluster_registry import ClusterRegistry
from appmarket.installer.clusters import mark_release_failed
from appmarket.installer.helm import Helm, HelmFailed, terminate
from appmarket.installer.kubeconfig import kubeconfig_file
from appmarket.installer.operations import PENDING, OperationStore
from appmarket.installer.plan import effective_values, recorded_values
from appmarket.installer.preflight import PreflightFailed, preflight, values_diff
from appmarket.installer.progress import ReleaseProgress
from appmarket.installer.sources import ChartResolver

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """A cancel request stopped the operation's helm (SIGTERM, which helm handles by failing the revision)."""
HELM_TIME = "%Y-%m-%dT%H:%M:%S"


def secrets_of(kubeconfig: dict[str, Any]) -> tuple[str, ...]:
    """Credential strings of a kubeconfig, scrubbed from anything helm prints."""
    found: list[str] = []
    for user in kubeconfig.get("users") or []:
        for key in ("token", "password", "client-key-data", "client-certificate-data"):
            value = (user.get("user") or {}).get(key)
            if isinstance(value, str) and value:
                found.append(value)
    return tuple(found)


def release_fields(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Release row fields from helm history (latest revision last); uninstalled when helm has none."""
    if not history:
        return {"status": "uninstalled", "description": "helm has no record of the release"}
    last = history[-1]
    return {"revision": int(last["revision"]), "status": str(last["status"]),
            "description": str(last.get("description", ""))}


def helm_updated(entry: dict[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(entry["updated"])[:19], HELM_TIME).replace(tzinfo=dt.UTC)
    except (KeyError, ValueError):
        return None


class Executor:
    def __init__(self, store: OperationStore, clusters: ClusterRegistry, helm: Helm, charts: ChartResolver,
                 heartbeat_interval: float = 2.0, operation_timeout: int = 300) -> None:
        self.store = store
        self.clusters = clusters
        self.helm = helm
        self.charts = charts
        self.heartbeat_interval = heartbeat_interval
        self.operation_timeout = operation_timeout

    # -- running --------------------------------------------------------------------------------------

    def run(self, op: Operation, rel: Release) -> None:
        op_id = op.id or 0
        kubeconfig: dict[str, Any] | None = None
        try:
            kubeconfig = self.clusters.kubeconfig(rel.cluster)
            text = yaml.safe_dump(kubeconfig)
            # Two private files: helm processes are stopped by their kubeconfig path, so a progress read
            # that times out must never stop the change it watches (and a cancel stops both).
            with kubeconfig_file(text) as kc, kubeconfig_file(text) as poll_kc:
                asyncio.run(self._run(op, rel, kc, kubeconfig, poll_kc))
        except HelmFailed as exc:
            self._failed(op, rel, exc, kubeconfig)
        except PreflightFailed as exc:
            for problem in exc.details:
                where = f"{problem['field']}: " if problem.get("field") else ""
                self.store.event(op_id, "preflight", f"refused ({problem['check']}): {where}{problem['message']}")
            self.store.finish(op_id, "failed", exc.message)
        except Cancelled:
            self._failed(op, rel, HelmFailed("cancelled while helm was running"), kubeconfig, state="cancelled")
        except AppMarketError as exc:
            self.store.finish(op_id, "failed", exc.message)
        except Exception as exc:
            log.exception("operation %s crashed", op_id)
            self.store.finish(op_id, "failed", f"internal error: {type(exc).__name__}: {exc}")

    async def _beating(self, op_id: int, coro: Coroutine[Any, Any, Any], kc: Path | None = None,
                       progress: ReleaseProgress | None = None) -> Any:
        """Await a helm call while writing heartbeats and progress events.

        With ``progress``, each heartbeat also starts a poll of the release (when the previous one is
        done) and records what it found whenever that changed; until a poll has found something, a
        "still running" event every fifth heartbeat says at least that helm is alive.
        """
        task = asyncio.ensure_future(coro)
        started = asyncio.get_running_loop().time()
        beats = 0
        poll: asyncio.Future[str | None] | None = None
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.heartbeat_interval)
                if done:
                    return task.result()
                beats += 1
                if await asyncio.to_thread(self.store.heartbeat, op_id):
                    if kc is not None:
                        terminate(kc)
                    task.cancel()  # pyhelm3 then stops its shell and waits for both to exit
                    with contextlib.suppress(asyncio.CancelledError, AppMarketError):
                        await task
                    raise Cancelled
                if progress is not None and (poll is None or poll.done()):
                    if poll is not None and not poll.exception() and (found := poll.result()):
                        await asyncio.to_thread(self.store.event, op_id, "progress", found)
                    poll = asyncio.ensure_future(progress.poll())
                if beats % 5 == 0 and (progress is None or not progress.last):
                    elapsed = int(asyncio.get_running_loop().time() - started)
                    await asyncio.to_thread(self.store.event, op_id, "progress", f"helm still running ({elapsed}s)")
        finally:
            if poll is not None and not poll.done():
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await poll

    async def _run(self, op: Operation, rel: Release, kc: Path, kubeconfig: dict[str, Any], poll_kc: Path) -> None:
        p = op.params
        op_id = op.id or 0
        secrets = secrets_of(kubeconfig)
        ev: Callable[[str, str], Coroutine[Any, Any, None]] = \
            lambda kind, msg: asyncio.to_thread(self.store.event, op_id, kind, msg)  # noqa: E731
        if op.kind in ("install", "upgrade"):
            with self.charts.materialize(p["chart"], p.get("repo"), p.get("version")) as source:
                async with self.helm.fetch(source) as package:
                    await ev("chart", f"chart {p['chart']} {p.get('version') or '(latest)'} ready")
                    values = await self._values(op, rel, kc)
                    await self._preflight(op, rel, package, values)
                    flags = [f for f, on in (("--wait", p.get("wait")), ("--rollback-on-failure", p.get("atomic")),
                                             ("--reset-values", True)) if on]
                    await ev("helm", f"helm upgrade --install {rel.name} -n {rel.namespace} {' '.join(flags)}")
                    result = await self._beating(op_id, self.helm.install_or_upgrade(
                        kc, rel.name, rel.namespace, package, values, atomic=bool(p.get("atomic")),
                        wait=bool(p.get("wait")), timeout=p.get("timeout"), description=p.get("description"),
                        scrub=secrets), kc, self._progress(op, rel, poll_kc, kubeconfig))
            info = result.get("info", {})
            revision = int(result.get("version", 0))
            self.store.finish(op_id, "succeeded", f"{info.get('status', 'deployed')}: revision {revision}",
                              output=str(info.get("notes", "")), revision=revision,
                              release={"revision": revision, "status": info.get("status", "deployed"),
                                       "description": info.get("description", ""), "chart_ref": p["chart"],
                                       "repo": p.get("repo") or "", "chart_version": _chart_version(result, p),
                                       "values": dict(result.get("config") or {})})
            return
        if op.kind == "rollback":
            await ev("helm", f"helm rollback {rel.name} {p.get('revision') or '(previous)'} -n {rel.namespace}")
            await self._beating(op_id, self.helm.rollback(kc, rel.name, rel.namespace, p.get("revision"),
                                                          wait=bool(p.get("wait")), timeout=p.get("timeout"),
                                                          scrub=secrets),
                                kc, self._progress(op, rel, poll_kc, kubeconfig))
        elif op.kind == "uninstall":
            await ev("helm", f"helm uninstall {rel.name} -n {rel.namespace}")
            await self._beating(op_id, self.helm.uninstall(kc, rel.name, rel.namespace, wait=bool(p.get("wait")),
                                                           timeout=p.get("timeout"), scrub=secrets), kc)
        elif op.kind == "recover":
            await self._recover(op, rel, kc, kubeconfig, secrets)
            return
        history = await self.helm.history(kc, rel.name, rel.namespace)
        fields = release_fields(history)
        audit = {}
        if op.kind == "rollback":
            fields["values"] = await self.helm.values(kc, rel.name, rel.namespace)
            fields["chart_version"] = _history_version(history)
            audit = {"values_diff": values_diff(rel.values, fields["values"]), "version": fields["chart_version"]}
        self.store.finish(op_id, "succeeded", f"{fields['status']}: revision {fields.get('revision', rel.revision)}",
                          revision=fields.get("revision"), release=fields, audit=audit)

    async def _values(self, op: Operation, rel: Release, kc: Path) -> dict[str, Any]:
        """The user-supplied values helm gets; a merge reads the recorded ones now, after any queued change."""
        p = op.params
        if not p.get("reuse_values"):
            return dict(p.get("values") or {})
        recorded, revision = await recorded_values(self.helm, kc, rel.name, rel.namespace)
        if revision is not None:
            await asyncio.to_thread(self.store.event, op.id or 0, "values",
                                    f"request merged over the values of revision {revision}")
        return effective_values(p.get("values") or {}, True, recorded)

    async def _preflight(self, op: Operation, rel: Release, package: Path, values: dict[str, Any]) -> None:
        """Preflight of exactly what helm will render, before helm touches the cluster."""
        facts = await asyncio.to_thread(self.charts.package_facts, package)
        caps, _ = await asyncio.to_thread(self.clusters.capabilities, rel.cluster)
        report = preflight(facts, values, caps, override_fit=bool(op.params.get("override_fit")))
        passed = f"preflight passed for {facts.name} {facts.version}"
        for warning in report.warnings:
            passed += f"; {warning}"
        await asyncio.to_thread(self.store.event, op.id or 0, "preflight", passed)

    def _progress(self, op: Operation, rel: Release, kc: Path, kubeconfig: dict[str, Any]) -> ReleaseProgress:
        """The release poller of an install, upgrade or rollback: helm writes a revision after this one.

        The last revision AppMarket saw is the baseline (none once uninstalled: helm dropped the history).
        """
        latest = 0 if rel.status in ("new", "uninstalled") else max(op.revision_before, rel.revision or 0)
        return ReleaseProgress(self.helm, kc, kubeconfig, rel.name, rel.namespace, latest)

    async def _recover(self, op: Operation, rel: Release, kc: Path, kubeconfig: dict[str, Any],
                       secrets: tuple[str, ...]) -> None:
        op_id = op.id or 0
        history = await self.helm.history(kc, rel.name, rel.namespace)
        if not history or history[-1]["status"] not in PENDING:
            fields = release_fields(history)
            self.store.finish(op_id, "succeeded", f"nothing to recover: release is {fields['status']}",
                              release=fields)
            return
        pending = history[-1]
        good = [h for h in history[:-1] if h["status"] in ("deployed", "superseded")]
        action = op.params.get("action", "rollback")
        if action == "rollback" and good:
            target = int(good[-1]["revision"])
            await asyncio.to_thread(self.store.event, op_id, "helm",
                                    f"release is {pending['status']} (revision {pending['revision']}); "
                                    f"rolling back to revision {target}")
            await self._beating(op_id, self.helm.rollback(kc, rel.name, rel.namespace, target, wait=True,
                                                          scrub=secrets), kc)
        elif action == "rollback":
            raise HelmFailed(f"revision {pending['revision']} is {pending['status']} and no earlier revision was "
                             "deployed; recover with action mark-failed, then uninstall or upgrade")
        else:
            await asyncio.to_thread(mark_release_failed, kubeconfig, rel.namespace, rel.name,
                                    int(pending["revision"]),
                                    f"marked failed by AppMarket (operation {op_id}) after an interrupted helm")
            await asyncio.to_thread(self.store.event, op_id, "recover",
                                    f"revision {pending['revision']} marked failed")
        history = await self.helm.history(kc, rel.name, rel.namespace)
        fields = release_fields(history)
        self.store.finish(op_id, "succeeded", f"recovered: {fields['status']} at revision {fields['revision']}",
                          revision=fields["revision"], release=fields,
                          audit={"recovered_from": f"{pending['status']} revision {pending['revision']}"})

    def _failed(self, op: Operation, rel: Release, exc: HelmFailed, kubeconfig: dict[str, Any] | None,
                state: str = "failed") -> None:
        """Record a helm failure, with the release state helm left behind (after any automatic rollback)."""
        fields: dict[str, Any] = {}
        note = ""
        if kubeconfig is not None:
            try:
                with kubeconfig_file(yaml.safe_dump(kubeconfig)) as kc:
                    history = asyncio.run(self.helm.history(kc, rel.name, rel.namespace))
                fields = release_fields(history)
                if op.params.get("atomic") and history and history[-1]["status"] == "deployed" \
                        and int(history[-1]["revision"]) != op.revision_before:
                    note = f" (rolled back: revision {history[-1]['revision']} is deployed)"
                elif op.params.get("atomic") and not history and "roll" in exc.output.lower():
                    note = " (rolled back: the failed install was removed)"
            except AppMarketError as read_exc:
                note = f" (release state unknown: {read_exc.message})"
        self.store.finish(op.id or 0, state, exc.message + note, output=exc.output,
                          revision=fields.get("revision"), release=fields)

    # -- reconciliation -------------------------------------------------------------------------------

    def refresh(self, rel: Release) -> str:
        """Read an idle release's state from helm (how a release left pending-* is detected as stuck)."""
        with kubeconfig_file(yaml.safe_dump(self.clusters.kubeconfig(rel.cluster))) as kc:
            history = asyncio.run(self.helm.history(kc, rel.name, rel.namespace))
        fields = release_fields(history)
        self.store.update_release(rel.id or 0, **fields)
        if fields["status"] in PENDING:
            log.warning("release %s/%s/%s is stuck in %s (revision %s): recover it", rel.cluster, rel.namespace,
                        rel.name, fields["status"], fields.get("revision"))
        return str(fields["status"])

    def reconcile(self, op_id: int) -> str:
        """Settle a running operation whose worker died: finished, still in flight elsewhere, or failed."""
        op, rel = self.store.get(op_id)
        try:
            kubeconfig = self.clusters.kubeconfig(rel.cluster)
        except NotFound:
            self.store.finish(op_id, "failed", f"cluster {rel.cluster!r} is no longer registered")
            return "failed"
        with kubeconfig_file(yaml.safe_dump(kubeconfig)) as kc:
            history = asyncio.run(self.helm.history(kc, rel.name, rel.namespace))
        fields = release_fields(history)
        last = history[-1] if history else None
        why = f"worker {op.worker} stopped during the operation"
        if op.kind == "uninstall" and (last is None or last["status"] == "uninstalled"):
            state, message = "succeeded", f"reconciled after restart: uninstalled ({why})"
        elif last is None:
            state, message = "failed", f"reconciled after restart: helm recorded nothing ({why})"
        elif last["status"] in PENDING:
            updated = helm_updated(last)
            if updated and utcnow() - updated < dt.timedelta(seconds=self.operation_timeout + 30):
                self.store.heartbeat(op_id)  # an orphaned helm may still finish; look again later
                return "waiting"
            state, message = "failed", (f"reconciled after restart: helm left revision {last['revision']} "
                                        f"{last['status']}; use recover ({why})")
        elif last["status"] == "deployed" and int(last["revision"]) > op.revision_before:
            state, message = "succeeded", f"reconciled after restart: revision {last['revision']} deployed"
        else:
            state, message = "failed", (f"reconciled after restart: revision {last['revision']} is "
                                        f"{last['status']}: {last.get('description', '')} ({why})")
        if state == "succeeded" and op.kind in ("install", "upgrade", "rollback"):
            # As after a run the worker saw through: the release row records what helm deployed.
            with kubeconfig_file(yaml.safe_dump(kubeconfig)) as kc:
                fields["values"] = asyncio.run(self.helm.values(kc, rel.name, rel.namespace,
                                                                revision=int(fields["revision"])))
            fields["chart_version"] = _history_version(history) or rel.chart_version
            if op.kind != "rollback":
                fields.update(chart_ref=op.params.get("chart", rel.chart_ref), repo=op.params.get("repo") or "")
        self.store.finish(op_id, state, message, revision=fields.get("revision"), release=fields)
        return state


def _chart_version(result: dict[str, Any], params: dict[str, Any]) -> str:
    meta = (result.get("chart") or {}).get("metadata") or {}
    return str(meta.get("version") or params.get("version") or "")


def _history_version(history: list[dict[str, Any]]) -> str:
    """``chart`` in helm history is ``<name>-<version>``; the version is after the last dash before a digit."""
    if not history:
        return ""
    chart = str(history[-1].get("chart", ""))
    for i in range(len(chart) - 1, 0, -1):
        if chart[i] == "-" and chart[i + 1:i + 2].isdigit():
            return chart[i + 1:]
    return ""
