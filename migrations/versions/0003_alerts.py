"""Alerts: each user's reminders per desk, and the alerts raised (unique per kind, subject, period).

The integrator re-chains this after 0002 (two-factor sign-in).

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01 20:55:19.937672

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('alert_preferences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('payments', sa.Boolean(), nullable=False),
    sa.Column('validity', sa.Boolean(), nullable=False),
    sa.Column('expiring_keys', sa.Boolean(), nullable=False),
    sa.Column('low_stamps', sa.Boolean(), nullable=False),
    sa.Column('stamp_threshold', sa.Integer(), nullable=True),
    sa.Column('stamp_period', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('stamp_threshold IS NULL OR stamp_threshold >= 0', name=op.f('ck_alert_preferences_stamp_threshold')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_alert_preferences_desk_id_desks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_alert_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_preferences')),
    sa.UniqueConstraint('user_id', 'desk_id', name='uq_alert_preferences_user_desk')
    )
    with op.batch_alter_table('alert_preferences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_preferences_desk_id'), ['desk_id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=20), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('batch', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('payment_7', 'payment_1', 'validity_30', 'validity_7', 'keys_expiring', 'stamps_low')", name=op.f('ck_alerts_kind')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_alerts_desk_id_desks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('kind', 'subject_id', 'period', name='uq_alerts_kind_subject_period')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_batch', ['batch'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_desk_id'), ['desk_id'], unique=False)



def downgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_desk_id'))
        batch_op.drop_index('ix_alerts_batch')

    op.drop_table('alerts')
    with op.batch_alter_table('alert_preferences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_preferences_desk_id'))

    op.drop_table('alert_preferences')
