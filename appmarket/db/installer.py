"""Tables of the installer: registered clusters, releases, and operations with their events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from appmarket.db.models import utcnow


class Cluster(SQLModel, table=True):
    """A Kubernetes cluster AppMarket may install into; its kubeconfig is stored encrypted."""

    __tablename__ = "cluster"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    server: str = Field(max_length=512)
    kubeconfig_sealed: str = Field(sa_column=Column(Text, nullable=False))
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Last probe result (reachable, version, nodes, architectures, GPUs), see installer/clusters.py.
    capabilities: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Default for rollback-on-failure (helm --atomic) of operations in this cluster.
    atomic_default: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=128)


class Release(SQLModel, table=True):
    """What AppMarket knows of a Helm release; helm's own records in the cluster stay the truth."""

    __tablename__ = "release"
    __table_args__ = (UniqueConstraint("cluster", "namespace", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster: str = Field(max_length=64, index=True)
    namespace: str = Field(max_length=63)
    name: str = Field(max_length=53)
    # "project/chart" for AppMarket charts, else a chart name (with ``repo``) or an oci:// reference.
    chart_ref: str = Field(default="", max_length=512)
    repo: str = Field(default="", max_length=512)
    chart_version: str = Field(default="", max_length=128)
    revision: int = 0
    # helm's status (deployed, failed, pending-upgrade, uninstalled, ...) or "new" before the first install.
    status: str = Field(default="new", max_length=32)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The user-supplied values of the last successful operation (the early preflight of a merge upgrade).
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The one operation allowed to run on this release; claiming sets it under a row lock.
    active_operation_id: int | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Operation(SQLModel, table=True):
    """One requested change to a release: queued -> running -> succeeded | failed (or cancelled)."""

    __tablename__ = "operation"
    __table_args__ = (Index("ix_operation_state_id", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="release.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    state: str = Field(default="queued", max_length=16)
    # Request parameters (chart, version, values, flags); see installer/schemas.py ReleaseRequest.
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Who, what and where, fixed at submission; outcome fields below.
    audit: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    idempotency_key: str | None = Field(default=None, max_length=128, unique=True)
    requested_by: str = Field(default="", max_length=128)
    worker: str = Field(default="", max_length=128)
    # Set by a cancel request while running; the worker polls it with each heartbeat and stops helm.
    cancel_requested: bool = False
    revision_before: int = 0
    revision_after: int | None = None
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    helm_output: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: dt.datetime = Field(default_factory=utcnow)
    started_at: dt.datetime | None = None
    heartbeat_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


class OperationEvent(SQLModel, table=True):
    """A progress line of an operation, streamed over SSE."""

    __tablename__ = "operation_event"

    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True, ondelete="CASCADE")
    at: dt.datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=32)
    message: str = Field(sa_column=Column(Text, nullable=False))
