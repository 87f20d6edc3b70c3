"""The data model of PRODUCT.md §1 and §5: desks, users, services, prepaid keys, outbox, audit, tokens.

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 04:19:13.976606

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('desks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('razon_social', sa.String(length=200), nullable=False),
    sa.Column('rfc', sa.String(length=13), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('cliente', 'distribuidor')", name=op.f('ck_desks_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desks')),
    sa.UniqueConstraint('rfc', name=op.f('uq_desks_rfc'))
    )
    with op.batch_alter_table('desks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desks_updated_at'), ['updated_at'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('code', name=op.f('uq_products_code'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('session_token', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users'))
    )
    # E-mail unique however it is capitalised (autogenerate cannot see expression indexes on SQLite).
    op.create_index('uq_users_email_lower', 'users', [sa.text('lower(email)')], unique=True)
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('desk_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('actor', sa.String(length=120), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_audit_events_desk_id_desks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_events_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_desk_at', ['desk_id', 'at'], unique=False)
        batch_op.create_index('ix_audit_events_user_at', ['user_id', 'at'], unique=False)

    op.create_table('clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('rfc', sa.String(length=13), nullable=False),
    sa.Column('razon_social', sa.String(length=200), nullable=False),
    sa.Column('search_text', sa.String(length=200), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_clients_desk_id_desks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clients')),
    sa.UniqueConstraint('desk_id', 'rfc', name='uq_clients_desk_rfc')
    )
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.create_index('ix_clients_desk_razon_social', ['desk_id', 'razon_social'], unique=False)

    op.create_table('grid_preferences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('grid', sa.String(length=40), nullable=False),
    sa.Column('columns', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_grid_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_preferences')),
    sa.UniqueConstraint('user_id', 'grid', name='uq_grid_preferences_user_grid')
    )
    op.create_table('user_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'member')", name=op.f('ck_memberships_role')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_memberships_desk_id_desks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('user_id', 'desk_id', name='uq_memberships_user_desk')
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_desk_id'), ['desk_id'], unique=False)

    op.create_table('services',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=20), nullable=True),
    sa.Column('users', sa.Integer(), nullable=True),
    sa.Column('serial', sa.String(length=40), nullable=True),
    sa.Column('cda', sa.String(length=120), nullable=True),
    sa.Column('acquisition', sa.String(length=12), nullable=True),
    sa.Column('activated_on', sa.Date(), nullable=True),
    sa.Column('next_payment_on', sa.Date(), nullable=True),
    sa.Column('plan', sa.String(length=120), nullable=True),
    sa.Column('capacity', sa.String(length=60), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('search_text', sa.String(length=500), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("acquisition IS NULL OR acquisition IN ('electronica', 'fisica')", name=op.f('ck_services_acquisition')),
    sa.CheckConstraint("category IN ('servidor-virtual', 'suscripciones', 'licenciamiento', 'espacio', 'polizas', 'sellado-cfdi', 'cursos')", name=op.f('ck_services_category')),
    sa.CheckConstraint("status IN ('activo', 'vencido', 'cancelado')", name=op.f('ck_services_status')),
    sa.CheckConstraint('users IS NULL OR users >= 0', name=op.f('ck_services_users')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_services_desk_id_desks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_services_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('serial', name=op.f('uq_services_serial'))
    )
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.create_index('ix_services_desk_category_activated', ['desk_id', 'category', 'activated_on', 'id'], unique=False)
        batch_op.create_index('ix_services_desk_category_next_payment', ['desk_id', 'category', 'next_payment_on', 'id'], unique=False)
        batch_op.create_index('ix_services_desk_category_product', ['desk_id', 'category', 'product_id', 'id'], unique=False)
        batch_op.create_index('ix_services_desk_category_valid_until', ['desk_id', 'category', 'valid_until', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_services_updated_at'), ['updated_at'], unique=False)

    op.create_table('stamp_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=80), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('credito', 'consumo')", name=op.f('ck_stamp_movements_kind')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_stamp_movements_quantity')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_stamp_movements_desk_id_desks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stamp_movements')),
    sa.UniqueConstraint('external_id', name=op.f('uq_stamp_movements_external_id'))
    )
    with op.batch_alter_table('stamp_movements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stamp_movements_desk_id'), ['desk_id'], unique=False)

    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=250), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('desk_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pendiente', 'enviado', 'error')", name=op.f('ck_outbox_messages_status')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_outbox_messages_desk_id_desks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_outbox_messages_service_id_services'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_messages_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbox_messages_message_id'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_messages_desk_id'), ['desk_id'], unique=False)
        batch_op.create_index('ix_outbox_messages_due', ['status', 'next_attempt_at', 'id'], unique=False)
        batch_op.create_index('ix_outbox_messages_service', ['service_id', 'id'], unique=False)

    op.create_table('prepaid_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('batch', sa.String(length=40), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('desk_id', sa.Integer(), nullable=True),
    sa.Column('destination', sa.String(length=12), nullable=True),
    sa.Column('confirmed_on', sa.Date(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('license_accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activated_on', sa.Date(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status IN ('nueva', 'revocada')) OR (desk_id IS NOT NULL AND confirmed_on IS NOT NULL)", name=op.f('ck_prepaid_keys_confirmed_has_desk')),
    sa.CheckConstraint("destination IS NULL OR destination IN ('mi_negocio', 'distribuidor')", name=op.f('ck_prepaid_keys_destination')),
    sa.CheckConstraint("status <> 'utilizada' OR activated_on IS NOT NULL", name=op.f('ck_prepaid_keys_used_has_date')),
    sa.CheckConstraint("status IN ('nueva', 'disponible', 'utilizada', 'revocada')", name=op.f('ck_prepaid_keys_status')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_prepaid_keys_quantity')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_prepaid_keys_client_id_clients'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['users.id'], name=op.f('fk_prepaid_keys_confirmed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_prepaid_keys_desk_id_desks'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_prepaid_keys_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_keys')),
    sa.UniqueConstraint('code', name=op.f('uq_prepaid_keys_code'))
    )
    with op.batch_alter_table('prepaid_keys', schema=None) as batch_op:
        batch_op.create_index('ix_prepaid_keys_desk_client_confirmed', ['desk_id', 'client_id', 'confirmed_on', 'id'], unique=False)
        batch_op.create_index('ix_prepaid_keys_desk_confirmed', ['desk_id', 'confirmed_on', 'id'], unique=False)
        batch_op.create_index('ix_prepaid_keys_desk_status_confirmed', ['desk_id', 'status', 'confirmed_on', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prepaid_keys_updated_at'), ['updated_at'], unique=False)



def downgrade():
    with op.batch_alter_table('prepaid_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prepaid_keys_updated_at'))
        batch_op.drop_index('ix_prepaid_keys_desk_status_confirmed')
        batch_op.drop_index('ix_prepaid_keys_desk_confirmed')
        batch_op.drop_index('ix_prepaid_keys_desk_client_confirmed')

    op.drop_table('prepaid_keys')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_service')
        batch_op.drop_index('ix_outbox_messages_due')
        batch_op.drop_index(batch_op.f('ix_outbox_messages_desk_id'))

    op.drop_table('outbox_messages')
    with op.batch_alter_table('stamp_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stamp_movements_desk_id'))

    op.drop_table('stamp_movements')
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_services_updated_at'))
        batch_op.drop_index('ix_services_desk_category_valid_until')
        batch_op.drop_index('ix_services_desk_category_product')
        batch_op.drop_index('ix_services_desk_category_next_payment')
        batch_op.drop_index('ix_services_desk_category_activated')

    op.drop_table('services')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_desk_id'))

    op.drop_table('memberships')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))

    op.drop_table('user_sessions')
    op.drop_table('grid_preferences')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_index('ix_clients_desk_razon_social')

    op.drop_table('clients')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_user_at')
        batch_op.drop_index('ix_audit_events_desk_at')

    op.drop_table('audit_events')
    op.drop_index('uq_users_email_lower', table_name='users')
    op.drop_table('users')
    op.drop_table('products')
    with op.batch_alter_table('desks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desks_updated_at'))

    op.drop_table('desks')
    op.drop_table('api_tokens')
