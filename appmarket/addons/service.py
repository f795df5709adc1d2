"""Addons as the API sees them: apply desired state, read rollouts, act on them (pause, resume, approve,
skip, abort), delete, and run the drift check. The controller does the work; this module only records
intent in the database (and audits who asked for it, as rollout events)."""

from __future__ import annotations

import builtins

import msgspec
from sqlmodel import Session, col, select

from appmarket.addons import planner
from appmarket.addons.controller import Controller
from appmarket.addons.schemas import AddonOut, AddonSpec, DriftReport, RolloutAction, RolloutEventOut, RolloutOut
from appmarket.addons.store import ACTIVE, AddonStore
from appmarket.auth.schemas import Principal
from appmarket.auth.service import AuthService
from appmarket.db.addons import Addon, Rollout, RolloutEvent, RolloutTarget, RolloutWave
from appmarket.db.installer import Cluster
from appmarket.db.models import utcnow
from appmarket.errors import Conflict, Invalid, NotFound, Unauthorized
from appmarket.installer.sources import ChartResolver

ACTIONS = ("pause", "resume", "abort", "approve", "skip")
SKIPPABLE = ("pending", "failed", "unreachable", "rolled-back")


class AddonService:
    def __init__(self, store: AddonStore, auth: AuthService, charts: ChartResolver, controller: Controller) -> None:
        self.store = store
        self.auth = auth
        self.charts = charts
        self.controller = controller

    # -- desired state --------------------------------------------------------------------------------

    def apply(self, principal: Principal, spec: AddonSpec) -> AddonOut:
        """Create or update; a changed chart/version/values/overrides starts a rollout of a new generation."""
        self.auth.require_admin(principal)
        planner.validate(spec, lambda chart, version: self.charts.local_version(principal, chart, version))
        raw = msgspec.to_builtins(spec)
        with self.store.db.write() as s:
            addon = s.exec(select(Addon).where(Addon.name == spec.name).with_for_update()).first()
            labels = _labels(s)
            if addon is None:
                addon = Addon(name=spec.name, spec=raw, created_by=principal.name, members=[])
                s.add(addon)
                s.flush()
                self._new_generation(s, addon, spec, labels, principal.name, "addon created")
            else:
                if addon.deleting:
                    raise Conflict(f"addon {spec.name!r} is being deleted")
                old = planner.spec_of(addon.spec)
                if (old.namespace, planner.release_name(old)) != (spec.namespace, planner.release_name(spec)):
                    raise Invalid("namespace and release of an addon cannot change; delete it and apply it again")
                if addon.spec != raw:
                    addon.spec, addon.updated_at = raw, utcnow()
                    if planner.desired_changed(old, spec):
                        addon.generation += 1
                        self._new_generation(s, addon, spec, labels, principal.name,
                                             f"generation {addon.generation}: {spec.chart} {spec.version}")
                    s.add(addon)
        return self.get(principal, spec.name)

    def _new_generation(self, s: Session, addon: Addon, spec: AddonSpec, labels: dict[str, dict[str, str]],
                        who: str, message: str) -> None:
        """Roll the new desired state out to the clusters the new selector matches. Members that no longer
        match stay members (the addon is still on them) until the addon pass, once this rollout has ended,
        uninstalls it from them; with ``on_unmatch: keep`` they leave membership now and keep what they run."""
        matching = planner.matching(spec, labels)
        waves, targets = planner.plan_rollout(spec, labels, matching)
        kept = set(addon.members) & set(labels) if spec.on_unmatch == "uninstall" else set()
        addon.members = sorted(kept | set(matching))
        self.store.create_rollout(s, addon, "rollout", msgspec.to_builtins(spec), waves, targets, who, message)

    def list(self, principal: Principal) -> list[AddonOut]:
        _reader(principal)
        return [self._out(a) for a in self.store.addons()]

    def get(self, principal: Principal, name: str) -> AddonOut:
        _reader(principal)
        return self._out(self._addon(name))

    def delete(self, principal: Principal, name: str, confirm: str) -> AddonOut:
        """Uninstall the addon from every cluster it was placed on, then remove it (a ``delete`` rollout)."""
        self.auth.require_admin(principal)
        if confirm != name:
            raise Invalid(f"confirm the deletion by giving the addon's name ({name!r})")
        with self.store.db.write() as s:
            addon = s.exec(select(Addon).where(Addon.name == name).with_for_update()).first()
            if addon is None:
                raise NotFound(f"addon {name!r} not found")
            if addon.deleting:
                raise Conflict(f"addon {name!r} is already being deleted")
            spec = planner.spec_of(addon.spec)
            labels = _labels(s)
            members = [c for c in addon.members if c in labels]
            waves, targets = planner.plan_single(spec, labels, "delete", (), members)
            addon.deleting = True
            s.add(addon)
            self.store.create_rollout(s, addon, "delete", dict(addon.spec), waves, targets, principal.name,
                                      f"delete requested by {principal.name}")
        out = msgspec.structs.replace(self._out(addon), deleting=True)
        if not targets:
            self.store.delete_addon(name)
        return out

    # -- rollouts -------------------------------------------------------------------------------------

    def rollouts(self, principal: Principal, addon: str | None = None, limit: int = 50) -> builtins.list[RolloutOut]:
        _reader(principal)
        return [self.store.rollout_out(r.id or 0) for r in self.store.rollouts(addon, max(1, min(limit, 500)))]

    def rollout(self, principal: Principal, rollout_id: int) -> RolloutOut:
        _reader(principal)
        return self.store.rollout_out(rollout_id, with_events=True)

    def latest_rollout(self, principal: Principal, addon: str) -> RolloutOut:
        _reader(principal)
        r = self.store.latest(addon)
        if r is None:
            raise NotFound(f"addon {addon!r} has no rollout")
        return self.store.rollout_out(r.id or 0, with_events=True)

    def events(self, rollout_id: int, after: int = 0) -> builtins.list[RolloutEventOut]:
        return self.store.events(rollout_id, after)

    def drift(self, principal: Principal, name: str) -> DriftReport:
        _reader(principal)
        return self._drift_report(self._addon(name))

    def check_drift(self, principal: Principal, name: str) -> DriftReport:
        """Run the drift check now; while a rollout is active none runs and the report says so."""
        self.auth.require_admin(principal)
        self._addon(name)
        self.controller.check_drift(name, self.controller.clock())
        return self._drift_report(self._addon(name))

    def _drift_report(self, addon: Addon) -> DriftReport:
        active = self.store.active_rollout(addon.name)
        status = "rollout in progress" if active is not None else \
            "checked" if addon.drift_checked_at is not None else "never checked"
        return DriftReport(status=status, checked_at=addon.drift_checked_at, rollout=active.id if active else None,
                           drift=self.store.drift(addon.name))

    def act(self, principal: Principal, addon: str, action: str, body: RolloutAction) -> RolloutOut:
        """pause | resume | abort | approve | skip on the addon's latest rollout, recorded with who and when."""
        self.auth.require_admin(principal)
        if action not in ACTIONS:
            raise Invalid(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
        latest = self.store.latest(addon)
        if latest is None:
            raise NotFound(f"addon {addon!r} has no rollout")
        rid = latest.id or 0
        with self.store.db.write() as s:
            r = s.exec(select(Rollout).where(Rollout.id == rid).with_for_update()).first()
            assert r is not None
            text = getattr(self, f"_{action}")(s, r, principal.name, body)
            r.updated_at = utcnow()
            s.add(r)
            s.add(RolloutEvent(rollout_id=rid, who=principal.name, action=action, message=text))
        return self.store.rollout_out(rid, with_events=True)

    @staticmethod
    def _pause(s: Session, r: Rollout, who: str, body: RolloutAction) -> str:
        if r.state not in ("running", "waiting-approval", "waiting-window"):
            raise Conflict(f"rollout {r.id} is {r.state}; only a running or waiting rollout can be paused")
        r.state, r.message = "paused", f"paused by {who}"
        return f"paused by {who}; clusters in flight finish, no new ones start"

    @staticmethod
    def _resume(s: Session, r: Rollout, who: str, body: RolloutAction) -> str:
        if r.state == "paused":
            r.state, r.message = "running", ""
            return f"resumed by {who}"
        if r.state != "halted":
            raise Conflict(f"rollout {r.id} is {r.state}; only a paused or halted rollout can be resumed")
        targets = _wave_targets(s, r)
        if any(t.state == "rolling-back" for t in targets):
            raise Conflict("the failed clusters are still being rolled back; resume when that has finished")
        retried = []
        for t in targets:
            if t.state in ("failed", "unreachable", "rolled-back"):
                t.state, t.step, t.health, t.undo_attempted = "pending", t.step + 1, "", False
                t.operation_id = t.rollback_operation_id = None
                t.message, t.updated_at = f"retry requested by {who}", utcnow()
                s.add(t)
                retried.append(t.cluster)
        _reopen_wave(s, r)
        r.state, r.message = "running", ""
        return f"resumed by {who}; retrying {', '.join(retried) or 'nothing'}"

    @staticmethod
    def _approve(s: Session, r: Rollout, who: str, body: RolloutAction) -> str:
        if r.state != "waiting-approval":
            raise Conflict(f"rollout {r.id} is {r.state}; nothing waits for approval")
        wave = _wave(s, r)
        wave.approved_by = who
        s.add(wave)
        r.state, r.message = "running", ""
        return f"wave {wave.index + 1} ({wave.name}) approved by {who}"

    @staticmethod
    def _skip(s: Session, r: Rollout, who: str, body: RolloutAction) -> str:
        if not body.clusters:
            raise Invalid("name the clusters to skip")
        if r.state not in ACTIVE or r.state == "aborting":
            raise Conflict(f"rollout {r.id} is {r.state}; clusters can no longer be skipped")
        rows = {t.cluster: t for t in s.exec(select(RolloutTarget).where(RolloutTarget.rollout_id == r.id)).all()}
        for name in body.clusters:
            t = rows.get(name)
            if t is None:
                raise NotFound(f"cluster {name!r} is not part of rollout {r.id}")
            if t.state not in SKIPPABLE:
                raise Conflict(f"cluster {name!r} is {t.state}; it cannot be skipped")
        for name in body.clusters:
            t = rows[name]
            t.state, t.message, t.updated_at = "skipped", f"skipped by {who}", utcnow()
            s.add(t)
        kept = {n for n in body.clusters if rows[n].action == "uninstall"}
        addon = s.exec(select(Addon).where(Addon.name == r.addon).with_for_update()).first()
        if kept and addon is not None:  # left as it is, by a person: the addon stays there, not a member
            addon.members = sorted(set(addon.members) - kept)
            s.add(addon)
        if r.state == "halted":  # the wave is judged again without them; it may now proceed
            _reopen_wave(s, r)
            r.state, r.message = "running", ""
        return f"skipped by {who}: {', '.join(body.clusters)}"

    @staticmethod
    def _abort(s: Session, r: Rollout, who: str, body: RolloutAction) -> str:
        if r.state not in ACTIVE or r.state == "aborting":
            raise Conflict(f"rollout {r.id} is {r.state}; it cannot be aborted")
        r.state, r.message = "aborting", f"aborted by {who}; undoing its changes"
        return f"aborted by {who}; every change of this rollout is being undone"

    # -- helpers --------------------------------------------------------------------------------------

    def _addon(self, name: str) -> Addon:
        addon = self.store.addon(name)
        if addon is None:
            raise NotFound(f"addon {name!r} not found")
        return addon

    def _out(self, addon: Addon) -> AddonOut:
        spec = planner.spec_of(addon.spec)
        latest = self.store.latest(addon.name)
        report = self._drift_report(addon)
        return AddonOut(name=addon.name, spec=spec, generation=addon.generation, created_by=addon.created_by,
                        updated_at=addon.updated_at, targets=planner.matching(spec, self.store.cluster_labels()),
                        rollout=self.store.rollout_out(latest.id or 0) if latest else None,
                        drift=report.drift, deleting=addon.deleting, drift_status=report.status,
                        members=list(addon.members))


def _reader(principal: Principal) -> None:
    if not principal.signed_in:
        raise Unauthorized("sign in to see addons")


def _labels(s: Session) -> dict[str, dict[str, str]]:
    return {c.name: dict(c.labels) for c in s.exec(select(Cluster)).all()}


def _wave(s: Session, r: Rollout) -> RolloutWave:
    wave = s.exec(select(RolloutWave).where(RolloutWave.rollout_id == r.id,
                                            RolloutWave.index == r.current_wave)).first()
    if wave is None:
        raise Conflict(f"rollout {r.id} has no wave {r.current_wave}")
    return wave


def _wave_targets(s: Session, r: Rollout) -> list[RolloutTarget]:
    return list(s.exec(select(RolloutTarget).where(RolloutTarget.rollout_id == r.id,
                                                   RolloutTarget.wave == r.current_wave)
                       .order_by(col(RolloutTarget.cluster))).all())


def _reopen_wave(s: Session, r: Rollout) -> None:
    wave = _wave(s, r)
    wave.state, wave.finished_at = "running", None
    s.add(wave)
