"""Worker threads that run queued operations, and a maintenance thread that keeps things honest.

Threads, not asyncio tasks on the server's loop: claiming and recording are synchronous database
transactions and helm runs for minutes, so each worker blocks in its own thread (awaiting helm in its
own event loop, see helm.py) and the web server's loop stays free. The maintenance thread reconciles
operations whose worker died (no heartbeat for ``stale_after``), including those of this replica's
previous life, and re-probes clusters every ``health_interval``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid

from appmarket.db.models import utcnow
from appmarket.errors import AppMarketError
from appmarket.installer.cluster_registry import ClusterRegistry
from appmarket.installer.executor import Executor
from appmarket.installer.operations import OperationStore
from appmarket.settings import InstallerSettings

log = logging.getLogger(__name__)


class WorkerPool:
    def __init__(self, store: OperationStore, executor: Executor, clusters: ClusterRegistry,
                 settings: InstallerSettings) -> None:
        self.store = store
        self.executor = executor
        self.clusters = clusters
        self.settings = settings
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Operations whose reconciliation failed (cluster unreachable): op id -> next attempt (monotonic).
        self._retry_at: dict[int, float] = {}

    def start(self) -> None:
        for i in range(self.settings.workers):
            t = threading.Thread(target=self._work, args=(f"{self.identity}/w{i}",), name=f"installer-{i}",
                                 daemon=True)
            t.start()
            self._threads.append(t)
        if self.settings.workers:
            t = threading.Thread(target=self._maintain, name="installer-maintenance", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop claiming; operations still running are left to reconciliation after the restart."""
        self._stop.set()
        self.notify()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def notify(self) -> None:
        """Wake idle workers (a submission in this replica)."""
        with self._wake:
            self._wake.notify_all()

    def _work(self, name: str) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.store.claim(name)
            except Exception:
                log.exception("claiming an operation failed")
                claimed = None
            if claimed is None:
                with self._wake:
                    self._wake.wait(self.settings.poll_interval)
                continue
            op, rel = claimed
            log.info("operation %s (%s %s/%s/%s) started by %s", op.id, op.kind, rel.cluster, rel.namespace,
                     rel.name, name)
            self.executor.run(op, rel)
            self.notify()  # the release is free again: a queued follower may run now

    def _maintain(self) -> None:
        next_probe = time.monotonic() + self.settings.health_interval
        while not self._stop.wait(min(self.settings.heartbeat_interval, 1.0)):
            self.reconcile_stale()
            if time.monotonic() >= next_probe:
                next_probe = time.monotonic() + self.settings.health_interval
                self.probe_clusters()

    def reconcile_stale(self) -> None:
        cutoff = utcnow() - dt.timedelta(seconds=self.settings.stale_after)
        for op_id in self.store.stale(cutoff):
            if self._retry_at.get(op_id, 0.0) > time.monotonic():
                continue
            try:
                outcome = self.executor.reconcile(op_id)
                self._retry_at.pop(op_id, None)
                log.info("operation %s reconciled: %s", op_id, outcome)
            except AppMarketError as exc:
                self._retry_at[op_id] = time.monotonic() + 10 * self.settings.heartbeat_interval
                log.warning("operation %s cannot be reconciled yet: %s", op_id, exc.message)
            except Exception:
                log.exception("reconciling operation %s failed", op_id)

    def probe_clusters(self) -> None:
        """Re-probe every cluster; in reachable ones, re-read idle releases from helm (finds stuck ones)."""
        for name in self.clusters.names():
            if self._stop.is_set():
                return
            try:
                caps = self.clusters.refresh(name).capabilities
                if caps is None or not caps.reachable:
                    continue
            except AppMarketError as exc:
                log.warning("probing cluster %s failed: %s", name, exc.message)
                continue
            for rel in self.store.releases(name):
                if rel.active_operation_id is None and rel.status not in ("new", "uninstalled"):
                    try:
                        self.executor.refresh(rel)
                    except AppMarketError as exc:
                        log.warning("reading release %s/%s/%s failed: %s", name, rel.namespace, rel.name,
                                    exc.message)
