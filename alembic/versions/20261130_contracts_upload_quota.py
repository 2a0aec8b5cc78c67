"""contracts: the uploader of a stored file (daily upload quota per login)

Revision ID: 20261130_contracts
Revises: 20261129_bills
Create Date: 2026-11-30 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261130_contracts'
down_revision: str | None = '20261129_bills'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_id', sa.Integer(), nullable=True, comment='uploader (quota)'))
        batch_op.create_index(batch_op.f('ix_stored_files_login_id'), ['login_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_stored_files_login_id_logins'), 'logins', ['login_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_stored_files_login_id_logins'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_stored_files_login_id'))
        batch_op.drop_column('login_id')
