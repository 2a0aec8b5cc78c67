"""settings: an e-mail change waiting for its letter, and the withdrawal of the consent

Revision ID: 20261130_settings
Revises: 20261129_bills
Create Date: 2026-11-30 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '20261130_settings'
down_revision: str | None = '20261130_contracts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('logins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_withdrawn_at', models.base.UTCDateTime(timezone=True), nullable=True, comment='152-ФЗ: consent withdrawn, personal data erased (billing history kept)'))
    with op.batch_alter_table('email_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('new_email', sa.String(length=254), nullable=True, comment='an e-mail change: the new address this secret confirms'))


def downgrade() -> None:
    with op.batch_alter_table('email_tokens', schema=None) as batch_op:
        batch_op.drop_column('new_email')
    with op.batch_alter_table('logins', schema=None) as batch_op:
        batch_op.drop_column('consent_withdrawn_at')
