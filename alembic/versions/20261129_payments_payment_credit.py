"""payments: provider charge ids named as the Bot API names them, balance snapshot, method, link

Revision ID: 20261129_payments
Revises: 0001
Create Date: 2026-11-29 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261129_payments"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAMES = (
    ("telegram_charge_id", "telegram_payment_charge_id", None),
    ("provider_payment_id", "provider_payment_charge_id", "YooKassa payment id"),
)
BALANCE_COMMENT = "account balance when the payment was started; a change refuses the checkout"
METHOD_COMMENT = "the provider's payment method type: bank_card, sbp, …"
CHARGE_COMMENT = "the bill paid; None = an advance"


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        for old, _, _ in RENAMES:
            batch_op.drop_constraint(f"uq_payments_{old}", type_="unique")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        for old, new, comment in RENAMES:
            batch_op.alter_column(
                old,
                new_column_name=new,
                existing_type=sa.String(length=100),
                existing_nullable=True,
                comment=comment,
            )
        batch_op.alter_column(
            "charge_id", existing_type=sa.Integer(), existing_nullable=True, comment=CHARGE_COMMENT
        )
        batch_op.add_column(
            sa.Column(
                "balance_snapshot", sa.Numeric(precision=12, scale=2), nullable=True, comment=BALANCE_COMMENT
            )
        )
        batch_op.add_column(
            sa.Column("method", sa.String(length=40), nullable=True, comment=METHOD_COMMENT)
        )
        batch_op.add_column(sa.Column("confirmation_url", sa.String(length=2000), nullable=True))
    with op.batch_alter_table("payments", schema=None) as batch_op:
        for _, new, _ in RENAMES:
            batch_op.create_unique_constraint(f"uq_payments_{new}", [new])
        batch_op.create_index("ix_payments_status_created_at", ["status", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_status_created_at")
        for _, new, _ in RENAMES:
            batch_op.drop_constraint(f"uq_payments_{new}", type_="unique")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("confirmation_url")
        batch_op.drop_column("method")
        batch_op.drop_column("balance_snapshot")
        batch_op.alter_column(
            "charge_id",
            existing_type=sa.Integer(),
            existing_nullable=True,
            comment=None,
            existing_comment=CHARGE_COMMENT,
        )
        for old, new, comment in RENAMES:
            batch_op.alter_column(
                new,
                new_column_name=old,
                existing_type=sa.String(length=100),
                existing_nullable=True,
                comment=None,
                existing_comment=comment,
            )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        for old, _, _ in RENAMES:
            batch_op.create_unique_constraint(f"uq_payments_{old}", [old])
