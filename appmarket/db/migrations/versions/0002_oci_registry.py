"""OCI registry: manifests, their references, tags, repository blob links and upload sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def _project_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "oci_manifest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("repository", _STR(length=255), nullable=False),
        sa.Column("digest", _STR(length=140), nullable=False),
        sa.Column("media_type", _STR(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("artifact_type", _STR(length=255), nullable=True),
        sa.Column("subject_digest", _STR(length=140), nullable=True),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("platforms", sa.JSON(), nullable=False),
        sa.Column("chart_version", _STR(length=128), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        _project_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repository", "digest"),
    )
    op.create_index("ix_oci_manifest_project_id", "oci_manifest", ["project_id"])
    op.create_index("ix_oci_manifest_subject", "oci_manifest", ["repository", "subject_digest"])

    op.create_table(
        "oci_manifest_ref",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("digest", _STR(length=140), nullable=False),
        sa.Column("kind", _STR(length=16), nullable=False),
        sa.ForeignKeyConstraint(["manifest_id"], ["oci_manifest.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_oci_manifest_ref_manifest_id", "oci_manifest_ref", ["manifest_id"])
    op.create_index("ix_oci_manifest_ref_digest", "oci_manifest_ref", ["digest"])

    op.create_table(
        "oci_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("repository", _STR(length=255), nullable=False),
        sa.Column("name", _STR(length=128), nullable=False),
        sa.Column("digest", _STR(length=140), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        _project_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repository", "name"),
    )
    op.create_index("ix_oci_tag_project_id", "oci_tag", ["project_id"])

    op.create_table(
        "oci_repo_blob",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("repository", _STR(length=255), nullable=False),
        sa.Column("digest", _STR(length=140), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        _project_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repository", "digest"),
    )
    op.create_index("ix_oci_repo_blob_project_id", "oci_repo_blob", ["project_id"])
    op.create_index("ix_oci_repo_blob_digest", "oci_repo_blob", ["digest"])

    op.create_table(
        "oci_upload",
        sa.Column("id", _STR(length=64), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("repository", _STR(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        _project_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_oci_upload_project_id", "oci_upload", ["project_id"])
    op.create_index("ix_oci_upload_updated_at", "oci_upload", ["updated_at"])


def downgrade() -> None:
    for index, table in (("ix_oci_upload_updated_at", "oci_upload"), ("ix_oci_upload_project_id", "oci_upload"),
                         ("ix_oci_repo_blob_digest", "oci_repo_blob"),
                         ("ix_oci_repo_blob_project_id", "oci_repo_blob"), ("ix_oci_tag_project_id", "oci_tag"),
                         ("ix_oci_manifest_ref_digest", "oci_manifest_ref"),
                         ("ix_oci_manifest_ref_manifest_id", "oci_manifest_ref"),
                         ("ix_oci_manifest_subject", "oci_manifest"),
                         ("ix_oci_manifest_project_id", "oci_manifest")):
        op.drop_index(index, table_name=table)
    for table in ("oci_upload", "oci_repo_blob", "oci_tag", "oci_manifest_ref", "oci_manifest"):
        op.drop_table(table)
