"""addons: addons, rollouts, waves, targets, events, drift

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('addon',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('members', sa.JSON(), nullable=False),
    sa.Column('deleting', sa.Boolean(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('drift_checked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('lease_owner', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('addon', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addon_name'), ['name'], unique=True)

    op.create_table('addon_drift',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('addon', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
    sa.Column('cluster', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('checked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('addon_drift', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addon_drift_addon'), ['addon'], unique=False)

    op.create_table('rollout',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('addon', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('chart', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('current_wave', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('lease_owner', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rollout', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollout_addon'), ['addon'], unique=False)
        batch_op.create_index(batch_op.f('ix_rollout_state'), ['state'], unique=False)

    op.create_table('rollout_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('who', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollout.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rollout_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollout_event_rollout_id'), ['rollout_id'], unique=False)

    op.create_table('rollout_target',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('cluster', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('operation_id', sa.Integer(), nullable=True),
    sa.Column('rollback_operation_id', sa.Integer(), nullable=True),
    sa.Column('undo_attempted', sa.Boolean(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=True),
    sa.Column('previous_revision', sa.Integer(), nullable=True),
    sa.Column('previous_version', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('health', sa.Text(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('check_started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollout.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rollout_id', 'cluster')
    )
    with op.batch_alter_table('rollout_target', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollout_target_rollout_id'), ['rollout_id'], unique=False)

    op.create_table('rollout_wave',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('failure_budget', sa.Integer(), nullable=False),
    sa.Column('approved_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('not_before', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollout.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rollout_id', 'index')
    )
    with op.batch_alter_table('rollout_wave', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollout_wave_rollout_id'), ['rollout_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('rollout_wave', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollout_wave_rollout_id'))

    op.drop_table('rollout_wave')
    with op.batch_alter_table('rollout_target', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollout_target_rollout_id'))

    op.drop_table('rollout_target')
    with op.batch_alter_table('rollout_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollout_event_rollout_id'))

    op.drop_table('rollout_event')
    with op.batch_alter_table('rollout', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollout_state'))
        batch_op.drop_index(batch_op.f('ix_rollout_addon'))

    op.drop_table('rollout')
    with op.batch_alter_table('addon_drift', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addon_drift_addon'))

    op.drop_table('addon_drift')
    with op.batch_alter_table('addon', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addon_name'))

    op.drop_table('addon')
