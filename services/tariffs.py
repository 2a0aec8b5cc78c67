"""Tariffs in force: which price per kWh applies to a zone scheme and zone on a given date.

Readings use it for the estimated cost in the summary; the billing run and payments reuse it.
The operator keeps the tariff book with `python -m bot tariffs` (list and add).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Charge, Tariff
from services.errors import DomainError

CENT = Decimal("0.01")


# Built once (a summary of readings reads it per zone): see services/readings.py.
_IN_FORCE = (
    select(Tariff)
    .where(
        Tariff.zone_scheme == bindparam("zone_scheme"),
        Tariff.zone == bindparam("zone"),
        Tariff.effective_from <= bindparam("on"),
    )
    .order_by(Tariff.effective_from.desc())
    .limit(1)
)


async def tariff_in_force(
    session: AsyncSession, zone_scheme: int, zone: int, on: date
) -> Tariff | None:
    """The tariff with the latest `effective_from` not after `on`, or None if none started yet."""
    result: Tariff | None = await session.scalar(
        _IN_FORCE, {"zone_scheme": zone_scheme, "zone": zone, "on": on}
    )
    return result


async def tariffs_in_force(session: AsyncSession, zone_scheme: int, on: date) -> dict[int, Tariff]:
    """Every zone of a scheme → its tariff in force on `on` (zones without a tariff are absent)."""
    found: dict[int, Tariff] = {}
    for zone in range(1, zone_scheme + 1):
        tariff = await tariff_in_force(session, zone_scheme, zone, on)
        if tariff is not None:
            found[zone] = tariff
    return found


def cost(consumption: Decimal, price: Decimal) -> Decimal:
    """kWh × ₽/kWh rounded to kopecks the way bills round (half up)."""
    return (consumption * price).quantize(CENT, rounding=ROUND_HALF_UP)


# --- the tariff book (python -m bot tariffs) ---------------------------------------------------

MAX_PRICE_DECIMALS = 4
MAX_PRICE = Decimal("1000")


class TariffError(DomainError):
    """A tariff cannot be added; the CLI prints the reason in Russian."""


class BadPrice(TariffError):
    pass


class BadZone(TariffError):
    pass


class NotFirstOfMonth(TariffError):
    pass


class TariffExists(TariffError):
    def __init__(self, existing: Tariff) -> None:
        super().__init__(f"tariff {existing.id} starts the same day")
        self.existing = existing


class PeriodAlreadyBilled(TariffError):
    """Bills were issued for the tariff's first month or later: they would not match it."""

    def __init__(self, latest: date) -> None:
        super().__init__(f"bills exist up to {latest}")
        self.latest = latest


def parse_price(text: str) -> Decimal:
    """«6,43» or «6.4321» → Decimal; positive, at most 4 decimals (₽ per kWh)."""
    compact = text.strip().replace(" ", "").replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d+)?", compact):
        raise BadPrice(text)
    value = Decimal(compact)
    if value <= 0 or value >= MAX_PRICE or -value.as_tuple().exponent > MAX_PRICE_DECIMALS:  # type: ignore[operator]
        raise BadPrice(text)
    return value


async def list_tariffs(session: AsyncSession) -> list[Tariff]:
    """Every tariff by zone scheme, zone and start date."""
    return list(
        await session.scalars(
            select(Tariff).order_by(Tariff.zone_scheme, Tariff.zone, Tariff.effective_from)
        )
    )


async def add_tariff(
    session: AsyncSession,
    *,
    zone_scheme: int,
    zone: int,
    price: Decimal,
    effective_from: date,
    name: str,
) -> Tariff:
    """Add a price that takes effect on the first day of a month not billed yet; commits."""
    if zone_scheme not in (1, 2, 3) or not 1 <= zone <= zone_scheme:
        raise BadZone(f"{zone_scheme}/{zone}")
    if price <= 0 or -price.as_tuple().exponent > MAX_PRICE_DECIMALS:  # type: ignore[operator]
        raise BadPrice(str(price))
    if effective_from.day != 1:
        raise NotFirstOfMonth(str(effective_from))
    existing = await session.scalar(
        select(Tariff).where(
            Tariff.zone_scheme == zone_scheme,
            Tariff.zone == zone,
            Tariff.effective_from == effective_from,
        )
    )
    if existing is not None:
        raise TariffExists(existing)
    latest_billed = await session.scalar(
        select(func.max(Charge.period)).where(Charge.period >= effective_from)
    )
    if latest_billed is not None:
        raise PeriodAlreadyBilled(latest_billed)
    tariff = Tariff(
        zone_scheme=zone_scheme, zone=zone, name=name, price=price, effective_from=effective_from
    )
    session.add(tariff)
    await session.commit()
    return tariff
