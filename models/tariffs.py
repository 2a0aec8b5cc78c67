"""Tariffs per zone scheme and zone, with the date they take effect."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Numeric, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Tariff(Base):
    __tablename__ = "tariffs"
    __table_args__ = (
        UniqueConstraint("zone_scheme", "zone", "effective_from"),
        CheckConstraint("zone BETWEEN 1 AND zone_scheme", name="zone_in_scheme"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    zone_scheme: Mapped[int] = mapped_column(SmallInteger, comment="meter zones: 1, 2 or 3")
    zone: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(100))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 4), comment="₽ per kWh")
    effective_from: Mapped[date]
