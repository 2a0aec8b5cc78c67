"""Bills (charges per account and period) and payments."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Enum,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, CreatedAtMixin

if TYPE_CHECKING:
    from models.accounts import Account


class Charge(CreatedAtMixin, Base):
    """A monthly bill (счёт) of an account: one per account and period, never rewritten.

    `created_at` is the moment of issue: payments credited after it count toward this bill
    until the next one is issued (services.billing.bill_statuses).
    """

    __tablename__ = "charges"
    __table_args__ = (UniqueConstraint("account_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    period: Mapped[date] = mapped_column(comment="first day of the billing month")
    number: Mapped[str] = mapped_column(String(32), unique=True)
    opening_balance: Mapped[Decimal]
    charged: Mapped[Decimal]
    paid: Mapped[Decimal]
    total_due: Mapped[Decimal] = mapped_column(comment="«Итого к оплате»")
    due_date: Mapped[date]

    account: Mapped[Account] = relationship()
    lines: Mapped[list[ChargeLine]] = relationship(order_by="ChargeLine.id")


class LineBasis(enum.StrEnum):
    READING = "reading"  # by the accepted reading of the period
    AVERAGE = "average"  # «по среднему»: no reading this period
    CORRECTION = "correction"  # перерасчёт of earlier periods after a reading arrived or changed


class ChargeLine(Base):
    """One meter zone of a bill: consumption × tariff.

    The lines of one meter zone form a chain across bills: each line starts where the previous
    one ended (`previous_value` = the earlier line's `current_value`), so corrections never
    rewrite an issued bill, they add a line to the next one.
    """

    __tablename__ = "charge_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id", ondelete="CASCADE"), index=True)
    meter_id: Mapped[int | None] = mapped_column(
        ForeignKey("meters.id", ondelete="SET NULL"), index=True
    )
    zone: Mapped[int] = mapped_column(SmallInteger)
    previous_value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    current_value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    consumption: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    amount: Mapped[Decimal]
    basis: Mapped[LineBasis] = mapped_column(
        Enum(
            LineBasis, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
        ),
        default=LineBasis.READING,
        server_default=LineBasis.READING.value,
    )
    corrects_period: Mapped[date | None] = mapped_column(
        comment="for a correction: the period whose reading it settles"
    )


def _values(enum_cls: type[enum.Enum]) -> list[str]:
    return [str(m.value) for m in enum_cls]


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


class PaymentChannel(enum.StrEnum):
    TELEGRAM = "telegram"  # Telegram Payments with YooKassa as provider
    YOOKASSA_LINK = "yookassa_link"  # a YooKassa confirmation URL


class Payment(CreatedAtMixin, Base):
    """A payment attempt: pending until the provider confirms it, then credited to the account
    exactly once; both provider ids are unique, so a repeated confirmation cannot credit twice."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    charge_id: Mapped[int | None] = mapped_column(
        ForeignKey("charges.id", ondelete="SET NULL"), comment="the bill paid; None = an advance"
    )
    login_id: Mapped[int | None] = mapped_column(ForeignKey("logins.id", ondelete="SET NULL"))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    amount: Mapped[Decimal]
    balance_snapshot: Mapped[Decimal | None] = mapped_column(
        comment="account balance when the payment was started; a change refuses the checkout"
    )
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    channel: Mapped[PaymentChannel] = mapped_column(
        Enum(PaymentChannel, native_enum=False, length=20, values_callable=_values)
    )
    status: Mapped[PaymentStatus] = mapped_column(
        Enum(PaymentStatus, native_enum=False, length=20, values_callable=_values),
        default=PaymentStatus.PENDING,
    )
    payload: Mapped[str] = mapped_column(
        String(128), unique=True, comment="invoice payload / idempotence key"
    )
    provider_payment_charge_id: Mapped[str | None] = mapped_column(
        String(100), unique=True, comment="YooKassa payment id"
    )
    telegram_payment_charge_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    method: Mapped[str | None] = mapped_column(
        String(40), comment="the provider's payment method type: bank_card, sbp, …"
    )
    confirmation_url: Mapped[str | None] = mapped_column(String(2000))
    paid_at: Mapped[datetime | None]
