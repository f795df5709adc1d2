"""Wire types of the installer API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from appmarket.installer.clusters import Capabilities


class ClusterCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Either a kubeconfig (optionally naming its context) or server + token (+ CA certificate)."""

    name: str
    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None
    token: str | None = None
    ca_cert: str | None = None
    insecure_skip_tls_verify: bool = False
    labels: dict[str, str] = {}
    atomic_default: bool = True


class ClusterLabels(msgspec.Struct, forbid_unknown_fields=True):
    """Labels to set (a null value removes the label)."""

    labels: dict[str, str | None]


class ClusterUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /api/v1/clusters/{name}``: what may change without registering again (omitted: unchanged).

    Credentials are not among them: a new kubeconfig is a new registration (remove, then add), probed first.
    """

    atomic_default: bool | msgspec.UnsetType = msgspec.UNSET
    labels: dict[str, str | None] | msgspec.UnsetType = msgspec.UNSET


class ClusterOut(msgspec.Struct):
    """A registered cluster; credentials are never part of it."""

    name: str
    server: str
    labels: dict[str, str]
    capabilities: Capabilities | None
    atomic_default: bool
    created_at: dt.datetime
    created_by: str


class ReleaseRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Install or upgrade. ``chart``: ``project/chart`` in AppMarket, a chart name with ``repo`` (an HTTP
    repository URL), or an ``oci://`` reference; on upgrade it defaults to the release's chart."""

    chart: str | None = None
    version: str | None = None
    repo: str | None = None
    values: dict[str, Any] = {}
    reuse_values: bool = False
    reset_values: bool = False
    # Rollback on failure (helm --rollback-on-failure); None takes the cluster's default.
    atomic: bool | None = None
    wait: bool = True
    timeout: int | None = None
    dry_run: bool = False
    diff: bool = False
    # Install even if kubeVersion, architecture or GPU fit say no (the override is audited).
    override_fit: bool = False
    description: str | None = None
    idempotency_key: str | None = None


class RollbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    revision: int | None = None
    wait: bool = True
    timeout: int | None = None
    idempotency_key: str | None = None


class RecoverRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Unstick a release left pending-* by a dead helm: roll back to the last deployed revision, or mark the
    pending revision failed (so the next upgrade can proceed)."""

    action: Literal["rollback", "mark-failed"] = "rollback"
    idempotency_key: str | None = None


class ReleaseOut(msgspec.Struct):
    cluster: str
    namespace: str
    name: str
    chart: str
    repo: str
    version: str
    revision: int
    status: str
    description: str
    updated_at: dt.datetime
    active_operation_id: int | None
    # helm reports pending-* while no AppMarket operation runs on the release: use recover.
    stuck: bool = False


class EventOut(msgspec.Struct):
    id: int
    at: dt.datetime
    kind: str
    message: str


class OperationOut(msgspec.Struct):
    id: int
    kind: str
    state: str
    cluster: str
    namespace: str
    release: str
    requested_by: str
    params: dict[str, Any]
    audit: dict[str, Any]
    message: str
    revision_before: int
    revision_after: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    events: list[EventOut] | None = None
    helm_output: str | None = None


class DryRunOut(msgspec.Struct):
    """A rendered release that was not applied; ``diff`` against the deployed manifest when asked."""

    chart: str
    version: str
    manifest: str
    notes: str
    warnings: list[str]
    diff: str | None = None
