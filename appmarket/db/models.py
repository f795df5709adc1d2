"""Tables. The API never returns these objects; services map them to msgspec wire Structs.

Chart bytes live in blob storage, content-addressed; the database holds what requests need (metadata,
the pre-rendered index entry, README, values, schema) so no request path ever scans storage.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Project(SQLModel, table=True):
    """A tenant: one Helm repository and one OCI namespace."""

    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True, index=True)
    visibility: str = Field(default="private", max_length=16)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: dt.datetime = Field(default_factory=utcnow)
    # Bumped in the same transaction as every change to the project's charts; index caches compare it.
    index_rev: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    index_changed_at: dt.datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=128, unique=True, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    is_admin: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow)


class Robot(SQLModel, table=True):
    """A CI account bound to one project and a set of actions, with an expiry."""

    __tablename__ = "robot"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=128)
    actions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expires_at: dt.datetime | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=128)


class ApiToken(SQLModel, table=True):
    """A bearer secret, stored as its SHA-256 (tokens are random 256-bit values, so no slow hash)."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    # First characters of the token, shown in listings so people can tell tokens apart.
    prefix: str = Field(max_length=16)
    name: str = Field(default="", max_length=128)
    user_id: int | None = Field(default=None, foreign_key="app_user.id", index=True, ondelete="CASCADE")
    robot_id: int | None = Field(default=None, foreign_key="robot.id", index=True, ondelete="CASCADE")
    expires_at: dt.datetime | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_used_at: dt.datetime | None = None


class Membership(SQLModel, table=True):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=16)


class ChartVersion(SQLModel, table=True):
    """One chart version in one project; its package is the blob named by ``digest``."""

    __tablename__ = "chart_version"
    __table_args__ = (
        UniqueConstraint("project_id", "name", "version"),
        Index("ix_chart_version_project_name", "project_id", "name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", ondelete="CASCADE")
    name: str = Field(max_length=255)
    version: str = Field(max_length=128)
    digest: str = Field(max_length=140)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    prov_digest: str | None = Field(default=None, max_length=140)
    created_at: dt.datetime = Field(default_factory=utcnow)
    app_version: str = Field(default="", max_length=255)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    chart_type: str = Field(default="application", max_length=16)
    deprecated: bool = False
    icon: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The Chart.yaml fields as Helm names them, for the ChartMuseum API and the catalog.
    metadata_json: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Pre-rendered YAML fragment of this version's index.yaml entry (see repo/index.py).
    index_entry: str = Field(sa_column=Column(Text, nullable=False))
    readme: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    values_yaml: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    values_schema: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Where the version came from: "helm-http" (ChartMuseum API) or "oci".
    source: str = Field(default="helm-http", max_length=16)
    pushed_by: str = Field(default="", max_length=128)


class Blob(SQLModel, table=True):
    """A content-addressed object in storage, recorded when its bytes are committed."""

    __tablename__ = "blob"

    digest: str = Field(primary_key=True, max_length=140)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    media_type: str = Field(default="application/octet-stream", max_length=255)
    created_at: dt.datetime = Field(default_factory=utcnow)
