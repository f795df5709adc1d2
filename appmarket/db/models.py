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


class CatalogApp(SQLModel, table=True):
    """One catalog app (chart name in a project), denormalised from its versions for fast search.

    Maintained in the chart write transaction (``appmarket/catalog/projection.py``) and re-derivable
    from ``chart_version`` at any time; the ``*_lc`` columns are lowercase search fields.
    """

    __tablename__ = "catalog_app"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        # PostgreSQL: a trigram index answers LIKE '%term%' (migration 0003); SQLite: a plain index.
        Index("ix_catalog_app_search_lc", "search_lc", postgresql_using="gin",
              postgresql_ops={"search_lc": "gin_trgm_ops"}),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", ondelete="CASCADE")
    name: str = Field(max_length=255)
    latest_version: str = Field(max_length=128)
    app_version: str = Field(default="", max_length=255)
    versions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    display_name: str = Field(default="", max_length=255)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    icon: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    category: str = Field(default="", max_length=128)
    category_lc: str = Field(default="", max_length=128, index=True)
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    architectures: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    gpu: str = Field(default="none", max_length=16)
    gpu_resource: str = Field(default="", max_length=128)
    gpu_count: int = 0
    # Umbrella charts: the suite they define and its ordered members.
    suite: str = Field(default="", max_length=128)
    suite_members: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    deprecated: bool = False
    updated_at: dt.datetime = Field(default_factory=utcnow, index=True)
    # Search and filter fields: lowercase; list fields delimited as ",a,b," so LIKE '%,a,%' matches one item.
    name_lc: str = Field(default="", max_length=255, index=True)
    display_lc: str = Field(default="", max_length=255)
    keywords_lc: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    description_lc: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    arch_lc: str = Field(default="", max_length=255)
    suites_lc: str = Field(default="", max_length=255)
    # name, display name, keywords and description in one column: the WHERE of a search is one LIKE per term.
    search_lc: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class CatalogSync(SQLModel, table=True):
    """The project ``index_rev`` the catalog rows of a project reflect; behind means "re-derive"."""

    __tablename__ = "catalog_sync"

    project_id: int = Field(primary_key=True, foreign_key="project.id", ondelete="CASCADE")
    index_rev: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class CatalogPublication(SQLModel, table=True):
    """What ``appmarket catalog publish`` recorded for a curated chart version it uploaded."""

    __tablename__ = "catalog_publication"

    chart_version_id: int = Field(primary_key=True, foreign_key="chart_version.id", ondelete="CASCADE")
    # SHA-256 over the chart's source files (and its file:// dependencies'): the "unchanged" test.
    source_digest: str = Field(max_length=80)
    images: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    published_at: dt.datetime = Field(default_factory=utcnow)


# -- OCI registry (issue 3) -------------------------------------------------------------------------
# Repository names are full OCI names ("team-a/nginx"); their first component is the project.


class OciManifest(SQLModel, table=True):
    """A manifest or index in a repository; its exact bytes are the blob named by ``digest``."""

    __tablename__ = "oci_manifest"
    __table_args__ = (
        UniqueConstraint("repository", "digest"),
        Index("ix_oci_manifest_subject", "repository", "subject_digest"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    repository: str = Field(max_length=255)
    digest: str = Field(max_length=140)
    media_type: str = Field(max_length=255)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    artifact_type: str | None = Field(default=None, max_length=255)
    subject_digest: str | None = Field(default=None, max_length=140)
    annotations: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # "os/arch[/variant]" this manifest (or index) serves, for "which architectures" questions.
    platforms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Set when the manifest is a Helm chart recorded as a ChartVersion of the project.
    chart_version: str | None = Field(default=None, max_length=128)
    created_at: dt.datetime = Field(default_factory=utcnow)


class OciManifestRef(SQLModel, table=True):
    """A digest a manifest references (config, layer or child manifest): what GC marks."""

    __tablename__ = "oci_manifest_ref"

    id: int | None = Field(default=None, primary_key=True)
    manifest_id: int = Field(foreign_key="oci_manifest.id", index=True, ondelete="CASCADE")
    digest: str = Field(max_length=140, index=True)
    kind: str = Field(max_length=16)


class OciTag(SQLModel, table=True):
    __tablename__ = "oci_tag"
    __table_args__ = (UniqueConstraint("repository", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    repository: str = Field(max_length=255)
    name: str = Field(max_length=128)
    digest: str = Field(max_length=140)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class OciRepoBlob(SQLModel, table=True):
    """A blob linked into a repository (uploaded or mounted there): repository-scoped blob access."""

    __tablename__ = "oci_repo_blob"
    __table_args__ = (UniqueConstraint("repository", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    repository: str = Field(max_length=255)
    digest: str = Field(max_length=140, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)


class OciUpload(SQLModel, table=True):
    """An upload session; its bytes sit in storage at ``paths.upload_key(id)`` until completed."""

    __tablename__ = "oci_upload"

    id: str = Field(primary_key=True, max_length=64)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    repository: str = Field(max_length=255)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow, index=True)
