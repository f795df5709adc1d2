"""catalog: denormalised apps, per-project sync revision, curated publication records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table('catalog_app',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', _S(length=255), nullable=False),
    # Early in the row: PostgreSQL deforms columns in order, and every search reads this one.
    sa.Column('search_lc', sa.Text(), nullable=False),
    sa.Column('latest_version', _S(length=128), nullable=False),
    sa.Column('app_version', _S(length=255), nullable=False),
    sa.Column('versions', sa.JSON(), nullable=False),
    sa.Column('display_name', _S(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('icon', sa.Text(), nullable=False),
    sa.Column('category', _S(length=128), nullable=False),
    sa.Column('category_lc', _S(length=128), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('architectures', sa.JSON(), nullable=False),
    sa.Column('gpu', _S(length=16), nullable=False),
    sa.Column('gpu_resource', _S(length=128), nullable=False),
    sa.Column('gpu_count', sa.Integer(), nullable=False),
    sa.Column('suite', _S(length=128), nullable=False),
    sa.Column('suite_members', sa.JSON(), nullable=False),
    sa.Column('deprecated', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('name_lc', _S(length=255), nullable=False),
    sa.Column('display_lc', _S(length=255), nullable=False),
    sa.Column('keywords_lc', sa.Text(), nullable=False),
    sa.Column('description_lc', sa.Text(), nullable=False),
    sa.Column('arch_lc', _S(length=255), nullable=False),
    sa.Column('suites_lc', _S(length=255), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'name')
    )
    with op.batch_alter_table('catalog_app', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_app_category_lc'), ['category_lc'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_app_name_lc'), ['name_lc'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_app_updated_at'), ['updated_at'], unique=False)
    _search_index()

    op.create_table('catalog_sync',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('index_rev', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id')
    )
    op.create_table('catalog_publication',
    sa.Column('chart_version_id', sa.Integer(), nullable=False),
    sa.Column('source_digest', _S(length=80), nullable=False),
    sa.Column('images', sa.JSON(), nullable=False),
    sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['chart_version_id'], ['chart_version.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('chart_version_id')
    )


def _search_index() -> None:
    """PostgreSQL: trigram GIN (pg_trgm is a trusted extension, part of the standard server packages).

    Without pg_trgm the index is left out and searches scan; still correct, slower past ~10,000 apps.
    """
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        op.create_index('ix_catalog_app_search_lc', 'catalog_app', ['search_lc'])
        return
    if bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first() is None:
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text('CREATE EXTENSION IF NOT EXISTS pg_trgm'))
    except sa.exc.DBAPIError:
        return
    op.create_index('ix_catalog_app_search_lc', 'catalog_app', ['search_lc'], postgresql_using='gin',
                    postgresql_ops={'search_lc': 'gin_trgm_ops'})


def downgrade() -> None:
    op.execute('DROP INDEX IF EXISTS ix_catalog_app_search_lc')
    op.drop_table('catalog_publication')
    op.drop_table('catalog_sync')
    with op.batch_alter_table('catalog_app', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_app_updated_at'))
        batch_op.drop_index(batch_op.f('ix_catalog_app_name_lc'))
        batch_op.drop_index(batch_op.f('ix_catalog_app_category_lc'))
    op.drop_table('catalog_app')
