"""The rollout engine: a background thread whose ``tick(now)`` moves every active rollout one step on.

Everything it knows is in the database, so a tick is idempotent and any replica can run it: a rollout
(or an addon's periodic pass) is worked on only under its lease, helm and network calls happen outside
transactions, and every decision is re-derived from the rows. Tests call ``tick`` with an injected clock;
soak, maintenance windows and health timeouts are measured against that clock, never slept.

One tick, per rollout: follow in-flight clusters (operation done -> health gate -> healthy or failed),
then evaluate the current wave: start it (after approval and inside the maintenance window), keep at
most ``max_parallel`` clusters in flight, and once nothing is in flight either halt (failures above the
budget: the wave's failed clusters are undone) or soak and move to the next wave.

The periodic addon pass (also in ``tick``) places the addon on clusters that started matching its
selector and removes it from those that stopped, as a small one-wave rollout of kind ``targets``
(health gate, failure budget and maintenance window apply; approval and soak are for applied rollouts
only), and runs the drift check every ``drift_interval``. While a rollout is active, a cluster that starts
matching joins it (its last wave not started yet, else a trailing wave) and everything else (clusters
leaving the selector, drift) waits until the rollout has ended.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlmodel import col, select

from appmarket.addons import drift, planner, window
from appmarket.addons.schemas import AddonSpec, DriftOut
from appmarket.addons.store import ACTIVE, FAILED, AddonStore, PlannedTarget
from appmarket.addons.targets import TargetRunner, needs_undo
from appmarket.addons.values import values_for
from appmarket.db.addons import Addon, Rollout, RolloutTarget, RolloutWave
from appmarket.db.models import utcnow
from appmarket.settings import AddonSettings

log = logging.getLogger(__name__)
SYSTEM = "controller"
IN_FLIGHT = ("queued", "checking")
DONE = ("healthy", "unchanged", "skipped", "removed")
Clock = Callable[[], dt.datetime]
Plan = tuple[list[tuple[str, int]], list[PlannedTarget]]


class Controller:
    def __init__(self, store: AddonStore, runner: TargetRunner, settings: AddonSettings,
                 clock: Clock = utcnow) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings
        self.clock = clock
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="addons")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- thread ---------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="addon-controller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.pool.shutdown(wait=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(self.clock())
            except Exception:
                log.exception("addon controller pass failed")
            self._stop.wait(self.settings.interval)

    # -- one pass -------------------------------------------------------------------------------------

    def tick(self, now: dt.datetime) -> None:
        """One pass at ``now``; leases are measured on the same clock, so a replica that died holding one is
        taken over ``lease_seconds`` later (of the injected clock in tests)."""
        lease = self.settings.lease_seconds
        for addon in self.store.addons():
            if self.store.claim(Addon, addon.id or 0, self.identity, lease, now):
                try:
                    self._addon_pass(addon.name, now)
                finally:
                    self.store.release(Addon, addon.id or 0, self.identity)
        for rid in self.store.active_rollouts():
            if self.store.claim(Rollout, rid, self.identity, lease, now):
                try:
                    self.step(rid, now)
                except Exception:
                    log.exception("rollout %s: step failed", rid)
                finally:
                    self.store.release(Rollout, rid, self.identity)

    # -- addons: targets and drift --------------------------------------------------------------------

    def _addon_pass(self, name: str, now: dt.datetime) -> None:
        """Place the addon on clusters that started matching and take it off those that stopped, then
        check drift. While a rollout is active, new clusters join it and the rest waits for its end."""
        addon = self.store.addon(name)
        if addon is None or addon.deleting:
            return
        spec = planner.spec_of(addon.spec)
        labels = self.store.cluster_labels()
        matching = set(planner.matching(spec, labels))
        deregistered = set(addon.members) - set(labels)
        if deregistered:  # nothing to uninstall from: the cluster itself is gone
            self.store.leave(name, sorted(deregistered))
        members = set(addon.members) & set(labels)
        active = self.store.active_rollout(name)
        if active is not None:
            self._join(active, matching - members, labels)
            return
        new, gone = matching - members, members - matching
        if gone and spec.on_unmatch == "keep":
            self.store.leave(name, sorted(gone))
            gone = set()
        if new or gone:
            self._create(name, addon.spec, "targets", planner.plan_single(spec, labels, "targets", new, gone),
                         f"targets changed: +{sorted(new)} -{sorted(gone)}", new)
            return
        checked = addon.drift_checked_at
        if checked is not None and checked.tzinfo is None:
            checked = checked.replace(tzinfo=dt.UTC)
        if checked is None or (now - checked).total_seconds() >= self.settings.drift_interval:
            self.check_drift(name, now)

    def _join(self, r: Rollout, new: set[str], labels: dict[str, dict[str, str]]) -> None:
        """Clusters that started matching mid-rollout get the version being rolled out, under its gates."""
        if not new or r.kind == "delete" or r.state == "aborting":
            return
        rspec = planner.spec_of(r.spec)
        planned = [PlannedTarget(c, 0, values_for(rspec, labels.get(c, {})), "") for c in sorted(new)]
        text = self.store.join(r.id or 0, r.addon, planned, rspec.strategy.failure_budget)
        if text:
            log.info("rollout %s: %s", r.id, text)

    def check_drift(self, name: str, now: dt.datetime) -> list[DriftOut]:
        """Compare every member's release with the desired state; with reconcile_drift, correct it.
        Not while a rollout of the addon is active (it would report the clusters not reached yet)."""
        addon = self.store.addon(name)
        if addon is None or self.store.active_rollout(name) is not None:
            return self.store.drift(name)
        spec = planner.spec_of(addon.spec)
        labels = self.store.cluster_labels()
        members = [c for c in addon.members if c in labels]
        found = drift.detect(self.runner, self.pool, spec, members, labels, now, self.store.left_failed(name))
        self.store.replace_drift(name, found, now)
        if found and spec.reconcile_drift and not addon.deleting:
            clusters = sorted({d.cluster for d in found})
            self._create(name, addon.spec, "reconcile", planner.plan_single(spec, labels, "reconcile", clusters),
                         "drift found on " + ", ".join(f"{d.cluster} ({d.kind})" for d in found), ())
        return found

    def _create(self, name: str, planned_from: dict[str, Any], kind: str, plan: Plan, message: str,
                joining: Iterable[str]) -> None:
        """Start a targets or reconcile rollout, unless the addon changed since it was planned or another
        rollout started meanwhile (never supersede a person's apply); ``joining`` become members."""
        with self.store.db.write() as s:
            addon = s.exec(select(Addon).where(Addon.name == name).with_for_update()).first()
            if addon is None or addon.deleting or addon.spec != planned_from:
                return
            if s.exec(select(Rollout.id).where(Rollout.addon == name, col(Rollout.state).in_(ACTIVE))).first():
                return
            waves, targets = plan
            self.store.create_rollout(s, addon, kind, dict(addon.spec), waves, targets, SYSTEM, message)
            addon.members = sorted(set(addon.members) | set(joining))
            s.add(addon)

    # -- rollouts -------------------------------------------------------------------------------------

    def step(self, rid: int, now: dt.datetime) -> None:
        r, waves, targets = self.store.rollout(rid)
        spec = planner.spec_of(r.spec)
        if r.state == "aborting":
            self._abort_step(r, spec, targets, now)
            return
        inflight = [t for t in targets if t.state in (*IN_FLIGHT, "rolling-back")]
        if inflight:
            list(self.pool.map(lambda t: self.runner.follow(r, spec, t, now), inflight))
        for _ in range(len(waves) + 2):  # each round moves at most one wave on
            r, waves, targets = self.store.rollout(rid)
            if not self._advance(r, spec, waves, targets, now):
                return

    def _advance(self, r: Rollout, spec: AddonSpec, waves: list[RolloutWave], targets: list[RolloutTarget],  # noqa: PLR0911 - one exit per wave state reads best
                 now: dt.datetime) -> bool:
        """Evaluate the current wave once; True when it moved on and the next wave should be looked at."""
        rid = r.id or 0
        if r.state in ("paused", "halted", "waiting-approval"):
            return False
        if r.current_wave >= len(waves):
            self._finish(r)
            return False
        wave = waves[r.current_wave]
        if r.state == "waiting-window":
            if wave.not_before is not None and _aware(wave.not_before) > now:
                return False
            self._set(rid, ("waiting-window",), state="running", message="", event="window-open",
                      text=f"maintenance window open: wave {wave.name} may start")
            r.state = "running"
        if wave.state in ("pending", "waiting-approval", "waiting-window"):
            if not self._open_wave(r, spec, wave, now):
                return False
            wave.state = "running"
        if wave.state in ("running", "checking"):
            last = r.current_wave + 1 >= len(waves)
            return self._run_wave(r, spec, wave, [t for t in targets if t.wave == wave.index], now, last)
        if wave.state == "soaking":
            if wave.not_before is not None and _aware(wave.not_before) > now:
                return False
            return self._wave_done(r, wave, now)
        if wave.state in ("succeeded", "skipped"):
            self.store.update_rollout(rid, current_wave=r.current_wave + 1)
            return True
        return False

    def _open_wave(self, r: Rollout, spec: AddonSpec, wave: RolloutWave, now: dt.datetime) -> bool:
        """Start the wave unless it waits for approval (applied rollouts only) or for the maintenance window
        (every kind: the window bounds each change the addon makes, targets, reconcile and delete too)."""
        rid = r.id or 0
        if r.kind == "rollout" and spec.strategy.approval and wave.approved_by is None:
            if wave.state != "waiting-approval":
                self.store.update_wave(wave.id or 0, state="waiting-approval")
            self._set(rid, ("running",), state="waiting-approval", event="waiting-approval",
                      message=f"wave {wave.name} waits for approval",
                      text=f"wave {wave.index + 1} ({wave.name}) waits for approval")
            return False
        if spec.strategy.window is not None and not window.is_open(spec.strategy.window, now):
            opens = window.next_open(spec.strategy.window, now)
            self.store.update_wave(wave.id or 0, state="waiting-window", not_before=opens)
            self._set(rid, ("running",), state="waiting-window", event="waiting-window",
                      message=f"wave {wave.name} waits for the maintenance window ({opens.isoformat()})",
                      text=f"wave {wave.index + 1} ({wave.name}) deferred to {opens.isoformat()}")
            return False
        self.store.update_wave(wave.id or 0, state="running", started_at=now, not_before=None)
        self.store.event(rid, SYSTEM, "wave-started", f"wave {wave.index + 1} ({wave.name}) started")
        return True

    def _run_wave(self, r: Rollout, spec: AddonSpec, wave: RolloutWave, mine: list[RolloutTarget],
                  now: dt.datetime, last: bool) -> bool:
        rid = r.id or 0
        failures = sum(t.state in FAILED for t in mine)
        flying = [t for t in mine if t.state in IN_FLIGHT]
        pending = [t for t in mine if t.state == "pending"]
        if failures <= wave.failure_budget and pending and r.state == "running":
            slots = max(0, spec.strategy.max_parallel - len(flying))
            starting = pending[:slots]
            if starting:
                list(self.pool.map(lambda t: self.runner.start(r, spec, t, now), starting))
                _, _, targets = self.store.rollout(rid)
                mine = [t for t in targets if t.wave == wave.index]
                failures = sum(t.state in FAILED for t in mine)
                flying = [t for t in mine if t.state in IN_FLIGHT]
                pending = [t for t in mine if t.state == "pending"]
        if flying:
            if not pending and wave.state != "checking" and all(t.state == "checking" for t in flying):
                self.store.update_wave(wave.id or 0, state="checking")
            return False
        if failures > wave.failure_budget:
            undo = [t for t in mine if t.state in ("failed", "unreachable") and needs_undo(t)]
            if undo:
                list(self.pool.map(lambda t: self.runner.undo(r, spec, t, now), undo))
            failed = sorted(t.cluster for t in mine if t.state in FAILED)
            self.store.update_wave(wave.id or 0, state="failed", finished_at=now)
            self._set(rid, ("running", "paused"), state="halted", event="halted",
                      message=f"wave {wave.name}: {failures} failed (budget {wave.failure_budget}); "
                              f"{len(undo)} rolled back; resume, skip or abort",
                      text=f"wave {wave.index + 1} ({wave.name}) failed on {', '.join(failed)}; "
                           f"rolling back {', '.join(sorted(t.cluster for t in undo)) or 'nothing'}")
            return False
        if pending:
            return False  # paused, or slots will free up
        if spec.strategy.soak and r.kind == "rollout" and not last:
            until = now + dt.timedelta(seconds=spec.strategy.soak)
            self.store.update_wave(wave.id or 0, state="soaking", not_before=until)
            self.store.event(rid, SYSTEM, "soaking", f"wave {wave.index + 1} ({wave.name}) healthy; soaking until "
                                                     f"{until.isoformat()}")
            return False
        return self._wave_done(r, wave, now, skipped=bool(mine) and all(t.state == "skipped" for t in mine))

    def _wave_done(self, r: Rollout, wave: RolloutWave, now: dt.datetime, skipped: bool = False) -> bool:
        """Close the wave (``skipped`` when a person left every one of its clusters out); not if a cluster
        joined it meanwhile."""
        state = "skipped" if skipped else "succeeded"
        return self.store.close_wave(r.id or 0, wave.id or 0, state, now,
                                     (SYSTEM, f"wave-{state}", f"wave {wave.index + 1} ({wave.name}) {state}"))

    def _finish(self, r: Rollout) -> None:
        rid = r.id or 0
        if self.store.finish(rid, SYSTEM) is None:
            return
        if r.kind == "delete":
            self.store.delete_addon(r.addon)
            self.store.event(rid, SYSTEM, "deleted", f"addon {r.addon} uninstalled everywhere and removed")

    def _abort_step(self, r: Rollout, spec: AddonSpec, targets: list[RolloutTarget], now: dt.datetime) -> None:
        """Undo everything this rollout changed: wait for in-flight operations, then roll back or uninstall."""
        rid = r.id or 0
        for t in targets:
            if t.state == "pending":
                self.store.update_target(t.id or 0, state="skipped", message="rollout aborted")
        queued = [t for t in targets if t.state in ("queued", "rolling-back")]
        if queued:
            list(self.pool.map(lambda t: self.runner.follow(r, spec, t, now, gate=False), queued))
        r, waves, targets = self.store.rollout(rid)
        undo = [t for t in targets if needs_undo(t)]
        if undo:
            list(self.pool.map(lambda t: self.runner.undo(r, spec, t, now), undo))
            return
        if any(t.state in ("queued", "rolling-back") for t in targets):
            return
        for w in waves:
            if w.state not in ("succeeded", "failed", "skipped"):
                self.store.update_wave(w.id or 0, state="aborted", finished_at=now)
        self._set(rid, ("aborting",), state="aborted", event="aborted", message="aborted; changes undone",
                  text="every change of this rollout was undone")
        if r.kind == "delete":
            self.store.update_addon(r.addon, deleting=False)

    def _set(self, rid: int, expect: tuple[str, ...], *, event: str, text: str, **fields: object) -> bool:
        """Change the rollout only if it is still in an expected state (a person may have acted meanwhile)."""
        return self.store.update_rollout(rid, event=(SYSTEM, event, text), expect=expect, **fields)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)

