"""bills: basis of a charge line (reading, average, correction) and the period it corrects

Revision ID: 20261129_bills
Revises: 20261129_auth
Create Date: 2026-11-29 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261129_bills'
down_revision: str | None = '20261129_auth'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('charge_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('basis', sa.Enum('reading', 'average', 'correction', name='linebasis', native_enum=False, length=20), server_default='reading', nullable=False))
        batch_op.add_column(sa.Column('corrects_period', sa.Date(), nullable=True, comment='for a correction: the period whose reading it settles'))
        batch_op.create_index(batch_op.f('ix_charge_lines_meter_id'), ['meter_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('charge_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_charge_lines_meter_id'))
        batch_op.drop_column('corrects_period')
        batch_op.drop_column('basis')
