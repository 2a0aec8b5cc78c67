"""appeals: numbers, the staff card and topic, who took it, the staff chat's messages

Revision ID: 20261130_appeals
Revises: 20261129_bills
Create Date: 2026-11-30 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '20261130_appeals'
down_revision: str | None = '20261130_settings'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.String(length=20), nullable=True, comment='О-2026-000042'))
        batch_op.add_column(sa.Column('staff_chat_id', sa.BigInteger(), nullable=True, comment='the staff chat the appeal is handled in'))
        batch_op.add_column(sa.Column('staff_card_message_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('thread_claimed_at', models.base.UTCDateTime(timezone=True), nullable=True, comment='a bot process is creating the forum topic (one topic per appeal)'))
        batch_op.add_column(sa.Column('taken_by_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('taken_by_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('awaiting_since', models.base.UTCDateTime(timezone=True), nullable=True, comment="the subscriber's oldest unanswered message"))
        batch_op.create_unique_constraint(batch_op.f('uq_appeals_number'), ['number'])
        batch_op.create_index(batch_op.f('ix_appeals_awaiting_since'), ['awaiting_since'], unique=False)

    op.create_table('appeal_staff_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appeal_id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['appeal_id'], ['appeals.id'], name=op.f('fk_appeal_staff_messages_appeal_id_appeals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal_staff_messages')),
    sa.UniqueConstraint('chat_id', 'message_id', name=op.f('uq_appeal_staff_messages_chat_id_message_id'))
    )
    with op.batch_alter_table('appeal_staff_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appeal_staff_messages_appeal_id'), ['appeal_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('appeal_staff_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appeal_staff_messages_appeal_id'))
    op.drop_table('appeal_staff_messages')
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appeals_awaiting_since'))
        batch_op.drop_constraint(batch_op.f('uq_appeals_number'), type_='unique')
        batch_op.drop_column('awaiting_since')
        batch_op.drop_column('taken_by_name')
        batch_op.drop_column('taken_by_id')
        batch_op.drop_column('thread_claimed_at')
        batch_op.drop_column('staff_card_message_id')
        batch_op.drop_column('staff_chat_id')
        batch_op.drop_column('number')
