"""Database access of addons and rollouts: short transactions only, never around helm or network calls.

Leases: a controller works on a rollout (or runs an addon's periodic pass) only while it holds the row's
lease, taken by one conditional UPDATE (``lease_owner`` free, expired or already ours), which both SQLite
and PostgreSQL apply atomically, so replicas never work on the same rollout at once; a dead replica's
lease simply expires. Lease times come from the caller's clock (the controller's, injected in tests).

Membership (``Addon.members``) only grows when a rollout plans the addon onto a cluster and only shrinks
when the addon is really gone from it (an uninstall ended ``removed``), when a person leaves it there
(``on_unmatch: keep``, skipping its uninstall) or when the cluster is deregistered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from appmarket.addons.schemas import (
    DriftOut,
    RolloutEventOut,
    RolloutOut,
    TargetOut,
    WaveOut,
)
from appmarket.db.addons import Addon, AddonDrift, Rollout, RolloutEvent, RolloutTarget, RolloutWave
from appmarket.db.engine import Database
from appmarket.db.installer import Cluster, Operation
from appmarket.db.models import utcnow
from appmarket.errors import NotFound

# Rollouts the controller still drives; the others are final.
ACTIVE = ("running", "paused", "waiting-approval", "waiting-window", "halted", "aborting")
FINAL = ("aborted", "succeeded", "succeeded-with-failures", "superseded")
# Waves a cluster that starts matching mid-rollout may still join (none of their clusters started yet).
UNSTARTED = ("pending", "waiting-approval", "waiting-window")
# Targets a wave cannot be closed with.
OPEN_TARGETS = ("pending", "queued", "checking", "rolling-back")


# Targets that count against a wave's failure budget.
FAILED = ("failed", "unreachable", "rolling-back", "rolled-back")


class PlannedTarget:
    """A cluster to place in a new rollout: its wave, the values it gets and the planned action."""

    __slots__ = ("action", "cluster", "values", "wave")

    def __init__(self, cluster: str, wave: int, values: dict[str, Any], action: str) -> None:
        self.cluster, self.wave, self.values, self.action = cluster, wave, values, action


class AddonStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- leases ---------------------------------------------------------------------------------------

    def claim(self, table: type[Rollout] | type[Addon], row_id: int, owner: str, seconds: float,
              now: dt.datetime | None = None) -> bool:
        now = now or utcnow()
        with self.db.write() as s:
            result = s.execute(update(table).where(
                col(table.id) == row_id,
                or_(col(table.lease_owner).is_(None), col(table.lease_until) < now, col(table.lease_owner) == owner),
            ).values(lease_owner=owner, lease_until=now + dt.timedelta(seconds=seconds)))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, table: type[Rollout] | type[Addon], row_id: int, owner: str) -> None:
        with self.db.write() as s:
            s.execute(update(table).where(col(table.id) == row_id, col(table.lease_owner) == owner)
                      .values(lease_owner=None, lease_until=None))

    # -- clusters and operations (read only) ----------------------------------------------------------

    def cluster_labels(self) -> dict[str, dict[str, str]]:
        with self.db.read() as s:
            return {c.name: dict(c.labels) for c in s.exec(select(Cluster)).all()}

    def operation(self, op_id: int) -> Operation | None:
        with self.db.read() as s:
            return s.get(Operation, op_id)

    def operation_by_key(self, key: str) -> Operation | None:
        with self.db.read() as s:
            return s.exec(select(Operation).where(Operation.idempotency_key == key[:128])).first()

    # -- addons ---------------------------------------------------------------------------------------

    def addon(self, name: str) -> Addon | None:
        with self.db.read() as s:
            return s.exec(select(Addon).where(Addon.name == name)).first()

    def addons(self) -> list[Addon]:
        with self.db.read() as s:
            return list(s.exec(select(Addon).order_by(col(Addon.name))).all())

    def update_addon(self, name: str, **fields: Any) -> None:
        with self.db.write() as s:
            row = s.exec(select(Addon).where(Addon.name == name)).first()
            if row is not None:
                for key, value in fields.items():
                    setattr(row, key, value)
                s.add(row)

    def leave(self, name: str, clusters: Sequence[str]) -> None:
        """The addon is no longer on these clusters (uninstalled, or left there by a person): not members."""
        gone = set(clusters)
        with self.db.write() as s:
            row = s.exec(select(Addon).where(Addon.name == name).with_for_update()).first()
            if row is not None and gone & set(row.members):
                row.members = sorted(set(row.members) - gone)
                s.add(row)

    def join(self, rollout_id: int, addon: str, planned: Sequence[PlannedTarget], budget: int) -> str | None:
        """Add clusters that started matching to an active rollout: into its last wave that has not started
        (so they get the same approval and window), else a trailing wave ``joined``; they become members.

        Runs under the rollout row's lock, as closing a wave and finishing do, so a cluster never joins a
        wave that is being closed. Returns what happened (for the log), None when the rollout is no longer
        one to join."""
        with self.db.write() as s:
            r = s.exec(select(Rollout).where(Rollout.id == rollout_id).with_for_update()).first()
            if r is None or r.state not in ACTIVE or r.state == "aborting":
                return None
            waves = list(s.exec(select(RolloutWave).where(RolloutWave.rollout_id == rollout_id)
                                .order_by(col(RolloutWave.index))).all())
            known = set(s.exec(select(RolloutTarget.cluster).where(RolloutTarget.rollout_id == rollout_id)).all())
            joining = [p for p in planned if p.cluster not in known]
            if not joining:
                return None
            open_ = [w for w in waves if w.index >= r.current_wave and w.state in UNSTARTED]
            if open_:
                wave = open_[-1]
            else:
                wave = RolloutWave(rollout_id=rollout_id, index=len(waves), name="joined", failure_budget=budget)
                s.add(wave)
            for p in joining:
                s.add(RolloutTarget(rollout_id=rollout_id, wave=wave.index, cluster=p.cluster, values=p.values,
                                    action=p.action))
            row = s.exec(select(Addon).where(Addon.name == addon).with_for_update()).first()
            if row is not None:
                row.members = sorted(set(row.members) | {p.cluster for p in joining})
                s.add(row)
            names = ", ".join(p.cluster for p in joining)
            text = f"{names} started matching: joined wave {wave.index + 1} ({wave.name})"
            s.add(RolloutEvent(rollout_id=rollout_id, who="controller", action="joined", message=text))
            r.updated_at = utcnow()
            s.add(r)
            return text

    def close_wave(self, rollout_id: int, wave_id: int, state: str, now: dt.datetime, event: tuple[str, str, str]) \
            -> bool:
        """Close a wave and move the rollout on, unless a target of it is still open (one just joined)."""
        with self.db.write() as s:
            r = s.exec(select(Rollout).where(Rollout.id == rollout_id).with_for_update()).first()
            w = s.get(RolloutWave, wave_id)
            if r is None or w is None:
                return False
            still_open = s.exec(select(RolloutTarget.id).where(
                RolloutTarget.rollout_id == rollout_id, RolloutTarget.wave == w.index,
                col(RolloutTarget.state).in_(OPEN_TARGETS))).first()
            if still_open is not None:
                return False
            w.state, w.finished_at, w.not_before = state, now, None
            r.current_wave, r.updated_at = w.index + 1, utcnow()
            s.add(w)
            s.add(r)
            s.add(RolloutEvent(rollout_id=rollout_id, who=event[0], action=event[1], message=event[2]))
            return True

    def finish(self, rollout_id: int, who: str) -> str | None:
        """End a rollout that passed its last wave: ``succeeded``, or ``succeeded-with-failures`` when clusters
        failed within the budget. Refused (None) if it is no longer running or a wave was added meanwhile."""
        with self.db.write() as s:
            r = s.exec(select(Rollout).where(Rollout.id == rollout_id).with_for_update()).first()
            if r is None or r.state != "running":
                return None
            later = s.exec(select(RolloutWave.id).where(RolloutWave.rollout_id == rollout_id,
                                                        col(RolloutWave.index) >= r.current_wave)).first()
            if later is not None:
                return None
            failed = sorted(f"{t.cluster} ({t.state})" for t in s.exec(select(RolloutTarget).where(
                RolloutTarget.rollout_id == rollout_id, col(RolloutTarget.state).in_(FAILED))).all())
            r.state = "succeeded-with-failures" if failed else "succeeded"
            r.message = f"{len(failed)} cluster(s) failed within the budget: {', '.join(failed)}" if failed else ""
            r.updated_at = utcnow()
            s.add(r)
            text = f"{r.kind} of {r.addon} {r.version} finished" + (f"; {r.message}" if failed else "")
            s.add(RolloutEvent(rollout_id=rollout_id, who=who, action=r.state, message=text))
            return r.state

    def left_failed(self, addon: str) -> dict[str, tuple[int, RolloutTarget]]:
        """Clusters the addon's newest finished rollout touching them left failed or unreachable (within the
        budget), with that rollout's id; a later rollout that got them healthy clears them."""
        with self.db.read() as s:
            rows = s.exec(select(Rollout.id, Rollout.state, RolloutTarget)
                          .join(RolloutTarget, col(RolloutTarget.rollout_id) == Rollout.id)
                          .where(Rollout.addon == addon, col(Rollout.state).in_(FINAL), Rollout.state != "superseded")
                          .order_by(col(Rollout.id))).all()
        newest = {t.cluster: (rid or 0, state, t) for rid, state, t in rows}
        return {c: (rid, t) for c, (rid, state, t) in newest.items()
                if state == "succeeded-with-failures" and t.state in ("failed", "unreachable")}

    def delete_addon(self, name: str) -> None:
        with self.db.write() as s:
            for row in s.exec(select(Addon).where(Addon.name == name)).all():
                s.delete(row)
            for drift in s.exec(select(AddonDrift).where(AddonDrift.addon == name)).all():
                s.delete(drift)

    def drift(self, addon: str) -> list[DriftOut]:
        with self.db.read() as s:
            rows = s.exec(select(AddonDrift).where(AddonDrift.addon == addon).order_by(col(AddonDrift.cluster))).all()
        return [DriftOut(cluster=d.cluster, kind=d.kind, detail=d.detail, checked_at=d.checked_at) for d in rows]

    def replace_drift(self, addon: str, found: Sequence[DriftOut], checked_at: dt.datetime) -> None:
        with self.db.write() as s:
            for old in s.exec(select(AddonDrift).where(AddonDrift.addon == addon)).all():
                s.delete(old)
            for d in found:
                s.add(AddonDrift(addon=addon, cluster=d.cluster, kind=d.kind, detail=d.detail, checked_at=d.checked_at))
            row = s.exec(select(Addon).where(Addon.name == addon)).first()
            if row is not None:
                row.drift_checked_at = checked_at
                s.add(row)

    # -- rollouts -------------------------------------------------------------------------------------

    def create_rollout(self, s: Session, addon: Addon, kind: str, spec: dict[str, Any], waves: list[tuple[str, int]],
                       targets: list[PlannedTarget], who: str, message: str) -> Rollout:
        """Inside the caller's transaction (which holds the addon row): supersede the active rollout, add this one."""
        for old in s.exec(select(Rollout).where(Rollout.addon == addon.name, col(Rollout.state).in_(ACTIVE))).all():
            old.state, old.updated_at = "superseded", utcnow()
            old.message = f"superseded by a newer {kind}"
            s.add(old)
            s.add(RolloutEvent(rollout_id=old.id or 0, who=who, action="superseded", message=old.message))
        rollout = Rollout(addon=addon.name, kind=kind, generation=addon.generation, chart=str(spec["chart"]),
                          version=str(spec["version"]), spec=spec, created_by=who, message=message,
                          state="running" if targets else "succeeded")
        s.add(rollout)
        s.flush()
        rid = rollout.id or 0
        for index, (name, budget) in enumerate(waves):
            s.add(RolloutWave(rollout_id=rid, index=index, name=name, failure_budget=budget))
        for t in targets:
            s.add(RolloutTarget(rollout_id=rid, wave=t.wave, cluster=t.cluster, values=t.values, action=t.action))
        s.add(RolloutEvent(rollout_id=rid, who=who, action="created", message=message))
        return rollout

    def active_rollouts(self) -> list[int]:
        with self.db.read() as s:
            ids = s.exec(select(Rollout.id).where(col(Rollout.state).in_(ACTIVE)).order_by(col(Rollout.id))).all()
        return [i for i in ids if i is not None]

    def active_rollout(self, addon: str) -> Rollout | None:
        with self.db.read() as s:
            return s.exec(select(Rollout).where(Rollout.addon == addon, col(Rollout.state).in_(ACTIVE))
                          .order_by(col(Rollout.id).desc())).first()

    def latest(self, addon: str) -> Rollout | None:
        with self.db.read() as s:
            return s.exec(select(Rollout).where(Rollout.addon == addon).order_by(col(Rollout.id).desc())).first()

    def rollout(self, rollout_id: int) -> tuple[Rollout, list[RolloutWave], list[RolloutTarget]]:
        with self.db.read() as s:
            r = s.get(Rollout, rollout_id)
            if r is None:
                raise NotFound(f"rollout {rollout_id} not found")
            waves = list(s.exec(select(RolloutWave).where(RolloutWave.rollout_id == rollout_id)
                                .order_by(col(RolloutWave.index))).all())
            targets = list(s.exec(select(RolloutTarget).where(RolloutTarget.rollout_id == rollout_id)
                                  .order_by(col(RolloutTarget.wave), col(RolloutTarget.cluster))).all())
        return r, waves, targets

    def rollouts(self, addon: str | None, limit: int) -> list[Rollout]:
        with self.db.read() as s:
            q = select(Rollout)
            if addon:
                q = q.where(Rollout.addon == addon)
            return list(s.exec(q.order_by(col(Rollout.id).desc()).limit(limit)).all())

    def update_rollout(self, rollout_id: int, event: tuple[str, str, str] | None = None,
                       expect: tuple[str, ...] | None = None, **fields: Any) -> bool:
        """Set fields (and add an event ``(who, action, message)``) in one transaction; with ``expect``, only
        while the rollout is in one of those states (a person or another replica may have acted meanwhile)."""
        with self.db.write() as s:
            r = s.exec(select(Rollout).where(Rollout.id == rollout_id).with_for_update()).first()
            if r is None or (expect is not None and r.state not in expect):
                return False
            for key, value in fields.items():
                setattr(r, key, value)
            r.updated_at = utcnow()
            s.add(r)
            if event is not None:
                s.add(RolloutEvent(rollout_id=rollout_id, who=event[0], action=event[1], message=event[2]))
            return True

    def update_wave(self, wave_id: int, **fields: Any) -> None:
        with self.db.write() as s:
            w = s.get(RolloutWave, wave_id)
            if w is not None:
                for key, value in fields.items():
                    setattr(w, key, value)
                s.add(w)

    def update_target(self, target_id: int, **fields: Any) -> None:
        with self.db.write() as s:
            t = s.get(RolloutTarget, target_id)
            if t is not None:
                for key, value in fields.items():
                    setattr(t, key, value)
                t.updated_at = utcnow()
                s.add(t)

    def event(self, rollout_id: int, who: str, action: str, message: str) -> None:
        with self.db.write() as s:
            s.add(RolloutEvent(rollout_id=rollout_id, who=who, action=action, message=message))

    def events(self, rollout_id: int, after: int = 0) -> list[RolloutEventOut]:
        with self.db.read() as s:
            rows = s.exec(select(RolloutEvent).where(RolloutEvent.rollout_id == rollout_id,
                                                     col(RolloutEvent.id) > after).order_by(col(RolloutEvent.id))).all()
        return [RolloutEventOut(id=e.id or 0, at=e.at, who=e.who, action=e.action, message=e.message) for e in rows]

    def rollout_out(self, rollout_id: int, with_events: bool = False) -> RolloutOut:
        r, waves, targets = self.rollout(rollout_id)
        return rollout_out(r, waves, targets, self.events(rollout_id) if with_events else None)


def target_out(t: RolloutTarget) -> TargetOut:
    return TargetOut(cluster=t.cluster, wave=t.wave, state=t.state, action=t.action or "none",  # type: ignore[arg-type]
                     operation_id=t.operation_id, rollback_operation_id=t.rollback_operation_id, revision=t.revision,
                     previous_revision=t.previous_revision, previous_version=t.previous_version, health=t.health,
                     message=t.message, updated_at=t.updated_at)


def rollout_out(r: Rollout, waves: list[RolloutWave], targets: list[RolloutTarget],
                events: list[RolloutEventOut] | None) -> RolloutOut:
    wave_outs = []
    for w in waves:
        mine = [t for t in targets if t.wave == w.index]
        failures = sum(t.state in FAILED for t in mine)
        wave_outs.append(WaveOut(index=w.index, name=w.name, state=w.state, failures=failures,  # type: ignore[arg-type]
                                 failure_budget=w.failure_budget, targets=[target_out(t) for t in mine],
                                 started_at=w.started_at, finished_at=w.finished_at, not_before=w.not_before))
    return RolloutOut(id=r.id or 0, addon=r.addon, generation=r.generation, chart=r.chart, version=r.version,
                      state=r.state, current_wave=r.current_wave, message=r.message,  # type: ignore[arg-type]
                      created_by=r.created_by, created_at=r.created_at, updated_at=r.updated_at, waves=wave_outs,
                      events=events, kind=r.kind, failed_clusters=sum(t.state in FAILED for t in targets))
