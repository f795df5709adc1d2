"""What a running install, upgrade or rollback has achieved while helm still waits.

``helm upgrade --wait`` prints nothing until it is done, so the executor polls beside it: helm's
history says when the new revision is recorded and its status (pending-install, then deployed or
failed); the health gate (``health.check_release``) reads that revision's workloads from the cluster.
Each poll yields a sentence such as ``revision 2 pending-upgrade: 1/3 workloads ready; waiting for
Deployment apps/web: 0/2 ready``, and only when it differs from the last one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from appmarket.errors import AppMarketError
from appmarket.installer.health import HealthReport, check_release, describe
from appmarket.installer.helm import Helm

#: Seconds one poll may spend reading the cluster (a slow cluster must not pile polls up).
READ_TIMEOUT = 5.0


def summarize(revision: int, status: str, report: HealthReport) -> str:
    """One progress sentence from helm's status of the revision and the health of its workloads."""
    head = f"revision {revision} {status}"
    if not report.reachable:
        return f"{head}; workloads unknown ({report.reasons[0] if report.reasons else 'cluster unreachable'})"
    if not report.workloads:
        return f"{head}; no workloads to wait for"
    text = f"{head}: {report.ready_count}/{len(report.workloads)} workloads ready"
    waiting = [describe(w) for w in report.workloads if not w.ready]
    if waiting:
        text += f"; waiting for {waiting[0]}" + (f" and {len(waiting) - 1} more" if len(waiting) > 1 else "")
    return text


class ReleaseProgress:
    """Polled by the executor while helm runs on one release; remembers what it last said."""

    def __init__(self, helm: Helm, kc: Path, kubeconfig: dict[str, Any], name: str, namespace: str,
                 revision_before: int) -> None:
        self.helm = helm
        self.kc = kc
        self.kubeconfig = kubeconfig
        self.name = name
        self.namespace = namespace
        self.revision_before = revision_before
        self.last = ""
        self._manifest: tuple[int, str] | None = None

    async def poll(self) -> str | None:
        """A new progress sentence, or None when nothing changed or the new revision is not recorded yet."""
        try:
            history = await self.helm.history(self.kc, self.name, self.namespace)
            if not history or int(history[-1]["revision"]) <= self.revision_before:
                return None
            revision, status = int(history[-1]["revision"]), str(history[-1]["status"])
            if self._manifest is None or self._manifest[0] != revision:
                manifest = await self.helm.manifest(self.kc, self.name, self.namespace, revision)
                self._manifest = (revision, manifest)
        except (AppMarketError, KeyError, ValueError):
            return None  # helm is mid-write or the cluster hiccupped: the next poll tries again
        # "deployed" here: the health report should speak of workloads only; helm's status is said apart.
        report = await asyncio.to_thread(check_release, self.kubeconfig, "deployed", self._manifest[1],
                                         self.namespace, timeout=READ_TIMEOUT)
        message = summarize(revision, status, report)
        if message == self.last:
            return None
        self.last = message
        return message
