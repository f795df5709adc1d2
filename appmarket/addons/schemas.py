"""Wire types of addons and rollouts: the desired state a platform team applies, and what a rollout reports.

An addon file (``appmarket addon apply addons/tapp.yaml``) is an ``AddonSpec`` in YAML; the API takes the
same document as JSON. Label selectors use the Kubernetes string syntax (``env=prod,region in (bj,sh),!edge``);
an empty selector matches every cluster.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec


class Override(msgspec.Struct, forbid_unknown_fields=True):
    """Values merged (deeply, in file order) over ``values`` for clusters the selector matches."""

    selector: str
    values: dict[str, Any]


class Window(msgspec.Struct, forbid_unknown_fields=True):
    """A maintenance window: starts at each time ``cron`` names, in ``timezone``, and lasts ``duration`` s.
    A wave starts only inside a window; a wave already running finishes."""

    cron: str
    duration: int
    timezone: str = "UTC"


class WaveSpec(msgspec.Struct, forbid_unknown_fields=True):
    """An explicit wave: named clusters and/or a selector (among the addon's targets)."""

    name: str = ""
    clusters: list[str] = []
    selector: str | None = None


class Strategy(msgspec.Struct, forbid_unknown_fields=True):
    """How a rollout moves. Waves come from ``waves`` (explicit; targets no wave names go in a last wave),
    else from ``wave_size`` clusters or ``wave_percent`` of the targets per wave, else one wave."""

    waves: list[WaveSpec] = []
    wave_size: int | None = None
    wave_percent: int | None = None
    max_parallel: int = 4          # clusters changed at once inside a wave
    failure_budget: int = 0        # failed clusters a wave may tolerate
    health_timeout: int = 300      # seconds for the release to be deployed and its workloads ready
    soak: int = 0                  # seconds to wait after a healthy wave before the next starts
    approval: bool = False         # a person approves each wave before it starts
    window: Window | None = None


class AddonSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    chart: str                     # project/chart in AppMarket, e.g. library/tapp-controller
    version: str
    namespace: str = "kube-system"
    release: str | None = None     # release name; defaults to ``name``
    values: dict[str, Any] = {}
    overrides: list[Override] = []
    targets: str = ""              # label selector over registered clusters
    on_unmatch: Literal["uninstall", "keep"] = "uninstall"
    reconcile_drift: bool = False  # drift found by the periodic check is corrected automatically
    strategy: Strategy = msgspec.field(default_factory=Strategy)


# succeeded-with-failures: every wave passed, but clusters failed within the failure budget
# (``failed_clusters`` counts them; the drift check keeps reporting them as ``failed``).
RolloutState = Literal["running", "paused", "waiting-approval", "waiting-window", "halted", "aborting",
                       "aborted", "succeeded", "succeeded-with-failures", "superseded"]
WaveState = Literal["pending", "waiting-approval", "waiting-window", "running", "checking", "soaking",
                    "succeeded", "failed", "skipped", "aborted"]
TargetState = Literal["pending", "unchanged", "queued", "checking", "healthy", "failed", "unreachable",
                      "rolling-back", "rolled-back", "skipped", "removed"]


class TargetOut(msgspec.Struct):
    """One cluster in a rollout: what was done, its health gate result and the operation that did it."""

    cluster: str
    wave: int
    state: TargetState
    action: str                    # install, upgrade, uninstall or none
    operation_id: int | None
    rollback_operation_id: int | None
    revision: int | None
    previous_revision: int | None  # None when the addon was new on this cluster
    previous_version: str
    health: str                    # why the cluster is unhealthy or unreachable; "" when healthy
    message: str
    updated_at: dt.datetime


class WaveOut(msgspec.Struct):
    index: int
    name: str
    state: WaveState
    failures: int
    failure_budget: int
    targets: list[TargetOut]
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    not_before: dt.datetime | None  # soak end or next maintenance window


class RolloutEventOut(msgspec.Struct):
    """Audit and progress: who did what (pause, resume, abort, approve, skip) and what the engine did."""

    id: int
    at: dt.datetime
    who: str
    action: str
    message: str


class RolloutOut(msgspec.Struct):
    id: int
    addon: str
    generation: int
    chart: str
    version: str
    state: RolloutState
    current_wave: int
    message: str
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    waves: list[WaveOut]
    events: list[RolloutEventOut] | None = None
    # rollout (a new generation), targets (clusters that started or stopped matching), reconcile (drift
    # correction) or delete (uninstall everywhere).
    kind: str = "rollout"
    failed_clusters: int = 0       # targets failed, unreachable or rolled back


class DriftOut(msgspec.Struct):
    """A target whose release differs from the desired state (``kind``: missing, version, values, chart), or
    that the last rollout left failed or unreachable within its failure budget and is still not healthy
    (``failed``)."""

    cluster: str
    kind: str
    detail: str
    checked_at: dt.datetime


class DriftReport(msgspec.Struct):
    """The drift of an addon and whether it is current. ``status``: ``checked``, ``never checked``, or
    ``rollout in progress`` (no check runs while a rollout of the addon is active: the clusters it has not
    reached yet would all show as drift; ``drift`` is then the last check's result)."""

    status: str
    checked_at: dt.datetime | None
    rollout: int | None            # the active rollout, while one is
    drift: list[DriftOut]


class AddonOut(msgspec.Struct):
    name: str
    spec: AddonSpec
    generation: int
    created_by: str
    updated_at: dt.datetime
    targets: list[str]             # clusters the selector matches now
    rollout: RolloutOut | None     # the latest rollout
    drift: list[DriftOut]
    deleting: bool = False
    drift_status: str = "checked"  # as DriftReport.status
    members: list[str] = []        # clusters the addon is placed on (or being placed on) now


class RolloutAction(msgspec.Struct, forbid_unknown_fields=True):
    """``skip`` takes the clusters to leave out; the other actions take none."""

    clusters: list[str] = []
