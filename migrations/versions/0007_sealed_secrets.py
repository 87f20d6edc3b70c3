"""CDAs encrypted at rest (portal/sealed.py), as the TOTP secrets are.

The integrator re-chains this after the round's other migrations.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-08 03:05:00

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from portal.sealed import data_key, seal, unseal


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0003'
branch_labels = None
depends_on = None

BATCH = 1000


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


def downgrade():
    key = data_key(current_app.config)
    _rewrite("services", "cda", lambda sealed: unseal("cda", sealed, key))
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.alter_column('cda', existing_type=sa.Text(), type_=sa.String(length=120), existing_nullable=True)
