"""What the controller does to one cluster of a rollout: start its change, follow the operation, run the
health gate, and undo it. Each method makes short database writes around installer or helm calls.

Changes go through the installer's durable operations (``ReleaseService``) under a principal naming the
rollout, with ``wait=False`` and ``atomic=False``: the health gate waits and the rollout rolls back. Every
submission's idempotency key is (rollout, cluster, step, action) and is written down before the call, so
a controller restarted between submitting and recording finds the same operation instead of a second one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import yaml

from appmarket.addons.planner import release_name
from appmarket.addons.schemas import AddonSpec
from appmarket.addons.store import AddonStore
from appmarket.auth.schemas import Principal
from appmarket.db.addons import Rollout, RolloutTarget
from appmarket.errors import AppMarketError, NotFound
from appmarket.installer import health
from appmarket.installer import helm as helm_mod
from appmarket.installer.cluster_registry import ClusterRegistry
from appmarket.installer.kubeconfig import kubeconfig_file
from appmarket.installer.operations import FINAL
from appmarket.installer.releases import GONE, ReleaseService
from appmarket.installer.schemas import ReleaseRequest, RollbackRequest

log = logging.getLogger(__name__)
T = TypeVar("T")
# Words in helm/installer failures that mean the cluster could not be reached at all.
_UNREACHABLE = ("unreachable", "connection refused", "no such host", "i/o timeout", "dial tcp",
                "connect: ", "eof", "handshake timeout", "connection reset")


def principal_of(rollout_id: int) -> Principal:
    """The system principal operations of a rollout are submitted as (it shows as who in their audit)."""
    return Principal(kind="user", name=f"rollout:{rollout_id}", is_admin=True)


def needs_undo(t: RolloutTarget) -> bool:
    """A failed cluster this attempt changed: its operation ran (failed, or succeeded and then failed the
    health gate). One unreachable before anything was applied has nothing to undo."""
    if t.operation_id is None or t.action not in ("install", "upgrade") or t.undo_attempted:
        return False
    return t.state in ("failed", "checking", "healthy") or (t.state == "unreachable" and t.revision is not None)


def unreachable_message(message: str) -> bool:
    low = message.lower()
    return any(word in low for word in _UNREACHABLE)


class TargetRunner:
    def __init__(self, store: AddonStore, releases: ReleaseService, clusters: ClusterRegistry,
                 operation_timeout: float = 600.0) -> None:
        self.store = store
        self.releases = releases
        self.clusters = clusters
        self.operation_timeout = operation_timeout  # seconds (of the controller's clock) a change or undo may take

    # -- starting -------------------------------------------------------------------------------------

    def start(self, r: Rollout, spec: AddonSpec, t: RolloutTarget, now: dt.datetime) -> None:
        """Decide install/upgrade/unchanged/uninstall and submit the operation.

        No probe first: it would sit on every wave's critical path, and an unreachable cluster fails its
        operation at once anyway (helm: "Kubernetes cluster unreachable"), which ``follow`` reports as
        ``unreachable``."""
        tid = t.id or 0
        ns, name = spec.namespace, release_name(spec)
        rel = self.releases.store.release_row(t.cluster, ns, name)
        exists = rel is not None and rel.status not in GONE
        if t.action == "uninstall":
            if not exists:
                self._removed(r, t, "release not installed")
                return
            assert rel is not None
            self.store.update_target(tid, state="queued", previous_revision=rel.revision,
                                     previous_version=rel.chart_version, check_started_at=now)
            self._submit(r, spec, t, "uninstall")
            return
        if exists and rel is not None and r.kind != "reconcile" and rel.status == "deployed" \
                and rel.active_operation_id is None and (rel.chart_ref, rel.chart_version, rel.values) == \
                (spec.chart, spec.version, t.values):
            self.store.update_target(tid, state="unchanged", action="none", revision=rel.revision,
                                     previous_revision=rel.revision, previous_version=rel.chart_version,
                                     message="already at the desired chart, version and values")
            return
        action = "upgrade" if exists else "install"
        prev = rel.revision if exists and rel is not None and rel.status == "deployed" else None
        self.store.update_target(tid, state="queued", action=action, previous_revision=prev,
                                 previous_version=rel.chart_version if exists and rel is not None else "",
                                 operation_id=None, rollback_operation_id=None, revision=None, health="",
                                 message="", check_started_at=now)
        self._submit(r, spec, t, action)

    def _submit(self, r: Rollout, spec: AddonSpec, t: RolloutTarget, action: str) -> None:
        """Submit (or find again) the operation of this attempt and record its id."""
        rid, tid = r.id or 0, t.id or 0
        who = principal_of(rid)
        key = f"{t.cluster}:{t.step}:{action}"
        known = self.store.operation_by_key(f"{who.name}:{key}")
        if known is not None:
            self.store.update_target(tid, operation_id=known.id, action=action)
            return
        ns, name = spec.namespace, release_name(spec)
        try:
            if action == "uninstall":
                op = self.releases.uninstall(who, t.cluster, ns, name, wait=False, idempotency_key=key)
            else:
                req = ReleaseRequest(chart=spec.chart, version=spec.version, values=t.values, atomic=False,
                                     wait=False, idempotency_key=key,
                                     description=f"addon {spec.name} rollout {rid}")
                call = self.releases.install if action == "install" else self.releases.upgrade
                op = call(who, t.cluster, ns, name, req)  # type: ignore[assignment]
        except AppMarketError as exc:
            if isinstance(exc, NotFound) and t.cluster not in self.clusters.names():
                self.store.update_target(tid, state="failed", message=f"cluster {t.cluster!r} is no longer registered")
            elif action == "uninstall" and isinstance(exc, NotFound):
                self._removed(r, t, f"{action} not submitted: {exc.message}")
            else:
                self.store.update_target(tid, state="failed", message=f"{action} not submitted: {exc.message}")
            return
        self.store.update_target(tid, operation_id=op.id, action=action)

    # -- following ------------------------------------------------------------------------------------

    def follow(self, r: Rollout, spec: AddonSpec, t: RolloutTarget, now: dt.datetime, gate: bool = True) -> None:
        """Move an in-flight target on: operation finished -> health gate -> healthy or failed."""
        if t.state == "queued":
            if t.operation_id is None:
                self._submit(r, spec, t, t.action)  # a restart between recording the intent and submitting
                return
            op = self.store.operation(t.operation_id)
            if op is None or op.state not in FINAL:
                if self._overdue(t, now):
                    self._give_up(spec, t, op.state if op else "missing")
                return
            if op.state != "succeeded":  # revision stays None: nothing to undo if the cluster was not reached
                state = "unreachable" if unreachable_message(op.message) else "failed"
                self.store.update_target(t.id or 0, state=state, message=f"{t.action} {op.state}: {op.message}",
                                         health=op.message if state == "unreachable" else "")
            elif t.action == "uninstall":
                self._removed(r, t, "uninstalled")
            else:
                self.store.update_target(t.id or 0, state="checking", revision=op.revision_after,
                                         check_started_at=now, message=f"{t.action}: {op.message}")
                if gate:
                    t.state, t.check_started_at = "checking", now
                    self.check(spec, t, now)
        elif t.state == "checking" and gate:
            self.check(spec, t, now)
        elif t.state == "rolling-back":
            self._follow_undo(r, spec, t, now)

    def _overdue(self, t: RolloutTarget, now: dt.datetime) -> bool:
        """The target's operation (change or undo; ``check_started_at`` is when it was set going) has run
        longer than ``operation_timeout``: helm can wait forever on a cluster that accepts and never answers."""
        started = t.check_started_at or now
        started = started if started.tzinfo is not None else started.replace(tzinfo=dt.UTC)
        return (now - started).total_seconds() >= self.operation_timeout

    def _give_up(self, spec: AddonSpec, t: RolloutTarget, op_state: str) -> None:
        """Stop waiting for a change that does not end: failed, or unreachable if the cluster does not answer.
        Its operation goes on in the installer; the rollout's budget, and a person, decide what follows."""
        report = self.health(spec, t.cluster)
        state = "failed" if report.reachable else "unreachable"
        self.store.update_target(t.id or 0, state=state, health="; ".join(report.reasons), message=(
            f"{t.action} not finished after {self.operation_timeout:g}s (operation {t.operation_id} {op_state})"))

    def _removed(self, r: Rollout, t: RolloutTarget, message: str) -> None:
        """The addon is off this cluster: the target is done and the cluster no longer a member."""
        self.store.update_target(t.id or 0, state="removed", message=message)
        self.store.leave(r.addon, [t.cluster])

    def check(self, spec: AddonSpec, t: RolloutTarget, now: dt.datetime) -> None:
        """The health gate: helm's release status plus readiness of the release's workloads."""
        report = self.health(spec, t.cluster)
        if report.healthy:
            self.store.update_target(t.id or 0, state="healthy", health="", message="healthy")
            return
        reason = "; ".join(report.reasons) or "not healthy"
        started = t.check_started_at or now
        if started.tzinfo is None:
            started = started.replace(tzinfo=dt.UTC)
        if (now - started).total_seconds() >= spec.strategy.health_timeout:
            state = "failed" if report.reachable else "unreachable"
            self.store.update_target(t.id or 0, state=state, health=reason,
                                     message=f"health gate failed after {spec.strategy.health_timeout}s")
        else:
            self.store.update_target(t.id or 0, health=reason)

    def health(self, spec: AddonSpec, cluster: str) -> health.HealthReport:
        try:
            kubeconfig = self.clusters.kubeconfig(cluster)
            found = self._read(kubeconfig, lambda kc: self.releases.helm.status_manifest(
                kc, release_name(spec), spec.namespace))
        except AppMarketError as exc:
            return health.HealthReport(healthy=False, reachable=not unreachable_message(exc.message),
                                       reasons=[exc.message], workloads=[])
        if found is None:
            return health.HealthReport(healthy=False, reachable=True, reasons=["release not found"], workloads=[])
        return health.check_release(kubeconfig, found[0], found[1], spec.namespace)

    def release_record(self, kubeconfig: dict[str, Any], spec: AddonSpec) -> dict[str, Any] | None:
        """helm status of the addon's release (status, chart, user values and manifest), None if absent."""
        return self._read(kubeconfig, lambda kc: self.releases.helm.status(kc, release_name(spec), spec.namespace))

    def release_history(self, kubeconfig: dict[str, Any], spec: AddonSpec) -> list[dict[str, Any]]:
        """helm history (oldest first): the chart name and version of each revision (helm 4's status has neither)."""
        return self._read(kubeconfig, lambda kc: self.releases.helm.history(kc, release_name(spec), spec.namespace))

    def _read(self, kubeconfig: dict[str, Any], call: Callable[[Path], Coroutine[Any, Any, T]]) -> T:
        """One helm read through a private kubeconfig file; the helm adapter bounds it (installer.read_timeout),
        so a cluster that accepts connections and never answers cannot hang a health gate or drift check."""
        with kubeconfig_file(yaml.safe_dump(kubeconfig)) as kc:
            return helm_mod.run(call(kc))

    # -- undoing --------------------------------------------------------------------------------------

    def undo(self, r: Rollout, spec: AddonSpec, t: RolloutTarget, now: dt.datetime) -> None:
        """Roll the cluster back to its previous revision, or uninstall where the addon was new.
        ``check_started_at`` becomes the start of the undo: it gets ``operation_timeout`` to finish."""
        self.store.update_target(t.id or 0, state="rolling-back", rollback_operation_id=None, undo_attempted=True,
                                 check_started_at=now)
        t.state, t.rollback_operation_id, t.check_started_at = "rolling-back", None, now
        self._submit_undo(r, spec, t)

    def _submit_undo(self, r: Rollout, spec: AddonSpec, t: RolloutTarget) -> None:
        who = principal_of(r.id or 0)
        kind = "uninstall" if t.previous_revision is None else "rollback"
        key = f"{t.cluster}:{t.step}:undo-{kind}"
        known = self.store.operation_by_key(f"{who.name}:{key}")
        if known is not None:
            self.store.update_target(t.id or 0, rollback_operation_id=known.id)
            return
        ns, name = spec.namespace, release_name(spec)
        try:
            if kind == "uninstall":
                op = self.releases.uninstall(who, t.cluster, ns, name, wait=False, idempotency_key=key)
            else:
                op = self.releases.rollback(who, t.cluster, ns, name, RollbackRequest(
                    revision=t.previous_revision, wait=False, idempotency_key=key))
        except NotFound:
            self.store.update_target(t.id or 0, state="rolled-back", message="nothing to undo: release not installed")
            return
        except AppMarketError as exc:
            self.store.update_target(t.id or 0, state="failed", message=f"{kind} not submitted: {exc.message}")
            return
        self.store.update_target(t.id or 0, rollback_operation_id=op.id)

    def _follow_undo(self, r: Rollout, spec: AddonSpec, t: RolloutTarget, now: dt.datetime) -> None:
        """Follow the undo; one that fails, or does not finish within ``operation_timeout`` (a dead cluster can
        keep helm waiting far longer), ends the target failed or unreachable, so a person can resume,
        skip or abort instead of waiting on it; its operation goes on in the installer."""
        if t.rollback_operation_id is None:
            self._submit_undo(r, spec, t)
            return
        op = self.store.operation(t.rollback_operation_id)
        if op is not None and op.state == "succeeded":
            what = "uninstalled (the addon was new here)" if t.previous_revision is None \
                else f"rolled back to revision {t.previous_revision}"
            self.store.update_target(t.id or 0, state="rolled-back", message=what)
        elif op is not None and op.state in FINAL:
            state = "unreachable" if unreachable_message(op.message) else "failed"
            self.store.update_target(t.id or 0, state=state, message=f"undo {op.state}: {op.message}",
                                     health=op.message if state == "unreachable" else t.health)
        elif self._overdue(t, now):
            state = "unreachable" if unreachable_message(t.health) else "failed"
            self.store.update_target(t.id or 0, state=state, message=(
                f"undo not finished after {self.operation_timeout:g}s (operation {t.rollback_operation_id} "
                f"{op.state if op else 'missing'}); the cluster keeps what it has"))
