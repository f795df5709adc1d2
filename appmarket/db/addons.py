"""Tables of addons: the desired state, rollouts with their waves and per-cluster targets, events and drift.

All rollout progress lives here (never in a process), so any replica can continue a rollout after a
restart: ``lease_owner``/``lease_until`` say which controller works on a rollout (or addon) right now.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from appmarket.db.models import utcnow


class Addon(SQLModel, table=True):
    """An applied addon file; ``members`` are the clusters it was last placed on (the targets pass diffs them)."""

    __tablename__ = "addon"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=63, unique=True, index=True)
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    generation: int = 1
    members: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    deleting: bool = False
    created_by: str = Field(default="", max_length=128)
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    drift_checked_at: dt.datetime | None = None
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_until: dt.datetime | None = None


class Rollout(SQLModel, table=True):
    """One change of an addon over its clusters (kind: rollout, targets, reconcile or delete)."""

    __tablename__ = "rollout"

    id: int | None = Field(default=None, primary_key=True)
    addon: str = Field(max_length=63, index=True)
    kind: str = Field(default="rollout", max_length=16)
    generation: int = 1
    chart: str = Field(default="", max_length=512)
    version: str = Field(default="", max_length=128)
    # The addon spec this rollout applies (a later apply does not change a running rollout).
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="running", max_length=24, index=True)
    current_wave: int = 0
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_by: str = Field(default="", max_length=128)
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_until: dt.datetime | None = None


class RolloutWave(SQLModel, table=True):
    __tablename__ = "rollout_wave"
    __table_args__ = (UniqueConstraint("rollout_id", "index"),)

    id: int | None = Field(default=None, primary_key=True)
    rollout_id: int = Field(foreign_key="rollout.id", index=True, ondelete="CASCADE")
    index: int
    name: str = Field(default="", max_length=128)
    state: str = Field(default="pending", max_length=24)
    failure_budget: int = 0
    approved_by: str | None = Field(default=None, max_length=128)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    # End of the soak, or the opening of the next maintenance window.
    not_before: dt.datetime | None = None


class RolloutTarget(SQLModel, table=True):
    """One cluster of a rollout. ``step`` numbers the attempts: idempotency keys include it, so a restarted
    controller finds the operation it submitted before instead of submitting another."""

    __tablename__ = "rollout_target"
    __table_args__ = (UniqueConstraint("rollout_id", "cluster"),)

    id: int | None = Field(default=None, primary_key=True)
    rollout_id: int = Field(foreign_key="rollout.id", index=True, ondelete="CASCADE")
    wave: int = 0
    cluster: str = Field(max_length=64)
    state: str = Field(default="pending", max_length=24)
    # install, upgrade, uninstall (planned), or none (unchanged / skipped).
    action: str = Field(default="", max_length=16)
    step: int = 0
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    operation_id: int | None = None
    rollback_operation_id: int | None = None
    # The undo (rollback or uninstall) of this attempt was tried; never tried twice for one step.
    undo_attempted: bool = False
    revision: int | None = None
    previous_revision: int | None = None
    previous_version: str = Field(default="", max_length=128)
    health: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    check_started_at: dt.datetime | None = None
    updated_at: dt.datetime = Field(default_factory=utcnow)


class RolloutEvent(SQLModel, table=True):
    """Audit and progress of a rollout: who (a person or ``controller``) did what, when."""

    __tablename__ = "rollout_event"

    id: int | None = Field(default=None, primary_key=True)
    rollout_id: int = Field(foreign_key="rollout.id", index=True, ondelete="CASCADE")
    at: dt.datetime = Field(default_factory=utcnow)
    who: str = Field(default="", max_length=128)
    action: str = Field(max_length=32)
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class AddonDrift(SQLModel, table=True):
    """What the last drift check found on one cluster (kind: missing, chart, version or values)."""

    __tablename__ = "addon_drift"

    id: int | None = Field(default=None, primary_key=True)
    addon: str = Field(max_length=63, index=True)
    cluster: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    checked_at: dt.datetime = Field(default_factory=utcnow)
