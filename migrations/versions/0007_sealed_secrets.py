"""CDAs and the codes of keys in no desk encrypted at rest (portal/sealed.py), as the TOTP secrets
are; every key found by its code's keyed digest.

The integrator re-chains this after the round's other migrations.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-08 03:05:00

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from portal.sealed import data_key, digest, seal, unseal


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BATCH = 1000
CODE_IN_DESK_ONLY = ("(desk_id IS NULL AND code IS NULL AND sealed_code IS NOT NULL) OR "
                     "(desk_id IS NOT NULL AND code IS NOT NULL AND sealed_code IS NULL)")


def _rewrite(table, column, change):
    """Every non-null value of table.column through change(value), a batch at a time."""
    connection = op.get_bind()
    rows = sa.table(table, sa.column("id", sa.Integer), sa.column(column, sa.Text))
    last = 0
    while True:
        batch = connection.execute(sa.select(rows.c.id, rows.c[column]).where(
            rows.c.id > last, rows.c[column].is_not(None)).order_by(rows.c.id).limit(BATCH)).all()
        if not batch:
            return
        connection.execute(rows.update().where(rows.c.id == sa.bindparam("row_id")).values({column: sa.bindparam("value")}),
                           [{"row_id": row_id, "value": change(value)} for row_id, value in batch])
        last = batch[-1][0]


def upgrade():
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.alter_column('cda', existing_type=sa.String(length=120), type_=sa.Text(), existing_nullable=True)
    key = data_key(current_app.config)
    _rewrite("services", "cda", lambda clear: seal("cda", clear, key))

    with op.batch_alter_table('prepaid_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_code', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('code_digest', sa.String(length=64), nullable=True))
        batch_op.alter_column('code', existing_type=sa.String(length=16), nullable=True)
    _seal_codes(key)
    with op.batch_alter_table('prepaid_keys', schema=None) as batch_op:
        batch_op.alter_column('code_digest', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_prepaid_keys_code_digest'), ['code_digest'])
        batch_op.create_check_constraint(batch_op.f('ck_prepaid_keys_code_in_desk_only'), CODE_IN_DESK_ONLY)


def _seal_codes(key):
    """Every key gets its code's digest; a key in no desk keeps its code only encrypted."""
    connection = op.get_bind()
    keys = sa.table("prepaid_keys", sa.column("id", sa.Integer), sa.column("code", sa.String),
                    sa.column("desk_id", sa.Integer), sa.column("sealed_code", sa.Text),
                    sa.column("code_digest", sa.String))
    last = 0
    while True:
        batch = connection.execute(sa.select(keys.c.id, keys.c.code, keys.c.desk_id).where(keys.c.id > last)
                                   .order_by(keys.c.id).limit(BATCH)).all()
        if not batch:
            return
        connection.execute(
            keys.update().where(keys.c.id == sa.bindparam("row_id")).values(
                code=sa.bindparam("clear"), sealed_code=sa.bindparam("sealed"), code_digest=sa.bindparam("digest")),
            [{"row_id": row_id, "digest": digest("key_code", code, key),
              "clear": code if desk_id is not None else None,
              "sealed": seal("key_code", code, key) if desk_id is None else None}
             for row_id, code, desk_id in batch])
        last = batch[-1][0]


def downgrade():
    key = data_key(current_app.config)
    connection = op.get_bind()
    keys = sa.table("prepaid_keys", sa.column("id", sa.Integer), sa.column("code", sa.String),
                    sa.column("sealed_code", sa.Text))
    sealed = connection.execute(sa.select(keys.c.id, keys.c.sealed_code).where(keys.c.sealed_code.is_not(None))).all()
    with op.batch_alter_table('prepaid_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_prepaid_keys_code_in_desk_only'), type_='check')
    for row_id, value in sealed:
        connection.execute(keys.update().where(keys.c.id == row_id).values(code=unseal("key_code", value, key)))
    with op.batch_alter_table('prepaid_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_prepaid_keys_code_digest'), type_='unique')
        batch_op.drop_column('code_digest')
        batch_op.drop_column('sealed_code')
        batch_op.alter_column('code', existing_type=sa.String(length=16), nullable=False)
    _rewrite("services", "cda", lambda sealed: unseal("cda", sealed, key))
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.alter_column('cda', existing_type=sa.Text(), type_=sa.String(length=120), existing_nullable=True)
