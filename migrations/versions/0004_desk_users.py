"""Desk users: the viewer role (Consulta) and owners' pending invitations.

The integrator re-chains this after the other revisions of its round.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 02:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_memberships_role'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_memberships_role'), "role IN ('owner', 'member', 'viewer')")
    op.create_table('desk_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'member', 'viewer')", name=op.f('ck_desk_invitations_role')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_desk_invitations_desk_id_desks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_desk_invitations_invited_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_invitations')),
    sa.UniqueConstraint('desk_id', 'email', name='uq_desk_invitations_desk_email')
    )
    with op.batch_alter_table('desk_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desk_invitations_invited_by_id'), ['invited_by_id'], unique=False)


def downgrade():
    with op.batch_alter_table('desk_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desk_invitations_invited_by_id'))
    op.drop_table('desk_invitations')
    op.execute("DELETE FROM memberships WHERE role = 'viewer'")
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_memberships_role'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_memberships_role'), "role IN ('owner', 'member')")
