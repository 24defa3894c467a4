"""alerts: alerts from detectors, the groups they fall into, and per-source delivery counters

Revision ID: 0010_alerts
Revises: 0009_intervals
Create Date: 2026-11-26 04:40:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.store.db

revision = '0010_alerts'
down_revision = '0009_intervals'
branch_labels = None
depends_on = None


def _s(n: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def _t() -> bot.store.db.UTCDateTime:
    return bot.store.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', _s(64), nullable=False),
    sa.Column('dedup_key', _s(200), nullable=False),
    sa.Column('group_key', _s(200), nullable=False),
    sa.Column('status', _s(12), nullable=False),
    sa.Column('title', _s(200), nullable=False),
    sa.Column('category', _s(40), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('source_url', _s(500), nullable=True),
    sa.Column('detected_at', _t(), nullable=False),
    sa.Column('received_at', _t(), nullable=False),
    sa.Column('last_seen_at', _t(), nullable=False),
    sa.Column('resolved_at', _t(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('body_sha256', _s(64), nullable=False),
    sa.Column('exercise', sa.Boolean(), nullable=False),
    sa.Column('processed', sa.Boolean(), nullable=False),
    sa.Column('route', _s(64), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('repro_done', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'dedup_key', name='uq_alert_source_dedup'),
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index('ix_alert_pending', ['processed', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_incident_id'), ['incident_id'], unique=False)

    op.create_table('alert_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('open_key', _s(300), nullable=True),
    sa.Column('source', _s(64), nullable=False),
    sa.Column('route', _s(64), nullable=False),
    sa.Column('action', _s(20), nullable=False),
    sa.Column('group_key', _s(200), nullable=False),
    sa.Column('title', _s(200), nullable=False),
    sa.Column('state', _s(12), nullable=False),
    sa.Column('exercise', sa.Boolean(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('first_signal_at', _t(), nullable=False),
    sa.Column('created_at', _t(), nullable=False),
    sa.Column('last_alert_at', _t(), nullable=False),
    sa.Column('alert_count', sa.Integer(), nullable=False),
    sa.Column('resolved_count', sa.Integer(), nullable=False),
    sa.Column('untold', sa.Integer(), nullable=False),
    sa.Column('told_at', _t(), nullable=True),
    sa.Column('triage_effect_id', sa.Integer(), nullable=True),
    sa.Column('claimed_by', _s(64), nullable=True),
    sa.Column('claimed_at', _t(), nullable=True),
    sa.Column('all_resolved_told', sa.Boolean(), nullable=False),
    sa.Column('decided_by', _s(32), nullable=True),
    sa.Column('dismiss_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('open_key'),
    )
    with op.batch_alter_table('alert_group', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_group_incident_id'), ['incident_id'], unique=False)

    op.create_table('alert_source_stat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', _s(64), nullable=False),
    sa.Column('outcome', _s(40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_at', _t(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'outcome', name='uq_alert_stat'),
    )


def downgrade() -> None:
    op.drop_table('alert_source_stat')
    with op.batch_alter_table('alert_group', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_group_incident_id'))
    op.drop_table('alert_group')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_incident_id'))
        batch_op.drop_index(batch_op.f('ix_alert_group_id'))
        batch_op.drop_index('ix_alert_pending')
    op.drop_table('alert')
