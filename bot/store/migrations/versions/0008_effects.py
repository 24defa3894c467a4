"""effects ledger, and the channel topic as last set

Revision ID: 0008_effects
Revises: 0005_scheduler
Create Date: 2026-11-26 01:30:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.store.db

revision = '0008_effects'
down_revision = '0005_scheduler'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('effect',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('lane', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('after_id', sa.Integer(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', bot.store.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('not_before', bot.store.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deadline', bot.store.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', bot.store.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', bot.store.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('done_at', bot.store.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('effect', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_effect_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_effect_state_lane', ['state', 'lane', 'id'], unique=False)
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('topic')
    with op.batch_alter_table('effect', schema=None) as batch_op:
        batch_op.drop_index('ix_effect_state_lane')
        batch_op.drop_index(batch_op.f('ix_effect_incident_id'))
    op.drop_table('effect')
