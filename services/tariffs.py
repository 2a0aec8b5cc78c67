"""Tariffs in force: which price per kWh applies to a zone scheme and zone on a given date.

Readings use it for the estimated cost in the summary; bills and payments reuse it.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Tariff

CENT = Decimal("0.01")


async def tariff_in_force(
    session: AsyncSession, zone_scheme: int, zone: int, on: date
) -> Tariff | None:
    """The tariff with the latest `effective_from` not after `on`, or None if none started yet."""
    result: Tariff | None = await session.scalar(
        select(Tariff)
        .where(Tariff.zone_scheme == zone_scheme, Tariff.zone == zone, Tariff.effective_from <= on)
        .order_by(Tariff.effective_from.desc())
        .limit(1)
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
