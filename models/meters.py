"""Meters (приборы учёта) of an account and the readings sent for them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, CreatedAtMixin, utcnow

if TYPE_CHECKING:
    from models.accounts import Account


class Meter(CreatedAtMixin, Base):
    __tablename__ = "meters"
    __table_args__ = (
        UniqueConstraint("account_id", "serial_number"),
        CheckConstraint("zones BETWEEN 1 AND 3", name="zones_1_3"),
        CheckConstraint("digits BETWEEN 4 AND 9", name="digits_4_9"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    serial_number: Mapped[str] = mapped_column(String(40))
    zones: Mapped[int] = mapped_column(SmallInteger, comment="1 single, 2 day/night, 3 three-zone")
    digits: Mapped[int] = mapped_column(SmallInteger, comment="integer digit capacity")
    verified_until: Mapped[date | None]
    is_active: Mapped[bool] = mapped_column(default=True)

    account: Mapped[Account] = relationship(back_populates="meters")


def _values(enum_cls: type[enum.Enum]) -> list[str]:
    return [str(m.value) for m in enum_cls]


class ReadingSource(enum.StrEnum):
    SUBSCRIBER = "subscriber"  # sent by the subscriber (bot or web)
    BILLING = "billing"  # imported from the billing system's registry
    ESTIMATED = "estimated"  # расчётное, computed by billing


class ReadingStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    ESTIMATED = "estimated"
    REJECTED = "rejected"


class Reading(Base):
    """One value per meter zone and period; a resubmission replaces, history keeps both."""

    __tablename__ = "readings"
    __table_args__ = (
        CheckConstraint("zone BETWEEN 1 AND 3", name="zone_1_3"),
        Index(
            "uq_readings_meter_zone_period_live",
            "meter_id",
            "zone",
            "period",
            unique=True,
            sqlite_where=text("replaced_by_id IS NULL"),
            postgresql_where=text("replaced_by_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    zone: Mapped[int] = mapped_column(SmallInteger)
    period: Mapped[date] = mapped_column(comment="first day of the billing month")
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    source: Mapped[ReadingSource] = mapped_column(
        Enum(ReadingSource, native_enum=False, length=20, values_callable=_values)
    )
    status: Mapped[ReadingStatus] = mapped_column(
        Enum(ReadingStatus, native_enum=False, length=20, values_callable=_values),
        default=ReadingStatus.ACCEPTED,
    )
    reject_reason: Mapped[str | None] = mapped_column(String(300))
    taken_on: Mapped[date] = mapped_column(comment="date the value was read off the meter")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("reading_submissions.id", ondelete="SET NULL"), index=True
    )
    replaced_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("readings.id", ondelete="SET NULL")
    )

    meter: Mapped[Meter] = relationship()


class ReadingSubmission(CreatedAtMixin, Base):
    """One confirmed «Передать показания» action: reference number, photo, idempotency key."""

    __tablename__ = "reading_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    login_id: Mapped[int | None] = mapped_column(ForeignKey("logins.id", ondelete="SET NULL"))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    photo_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("stored_files.id", ondelete="SET NULL")
    )
