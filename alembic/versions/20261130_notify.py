"""notify: the channel of a notification (Telegram or SMS) and the passes of scheduled jobs

Revision ID: 20261130_notify
Revises: 20261130_appeals
Create Date: 2026-11-30 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '20261130_notify'
down_revision: str | None = '20261130_appeals'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'job_runs',
        sa.Column('job', sa.String(length=40), nullable=False),
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('queued', sa.Integer(), nullable=False),
        sa.Column('done_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('job', 'key', name=op.f('pk_job_runs')),
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.Enum('telegram', 'sms', name='channel', native_enum=False, length=10), server_default='telegram', nullable=False))
        batch_op.alter_column('chat_id', existing_type=sa.BigInteger(), comment='0 for an SMS', existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('chat_id', existing_type=sa.BigInteger(), comment=None, existing_nullable=False)
        batch_op.drop_column('channel')
    op.drop_table('job_runs')
