"""The tariff in force for a zone scheme, zone and date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from models import Tariff
from services.tariffs import cost, tariff_in_force, tariffs_in_force


async def _seed(session: AsyncSession) -> None:
    session.add_all(
        [
            Tariff(zone_scheme=1, zone=1, name="single", price=Decimal("5.02"),
                   effective_from=date(2026, 1, 1)),
            Tariff(zone_scheme=1, zone=1, name="single", price=Decimal("5.60"),
                   effective_from=date(2026, 7, 1)),
            Tariff(zone_scheme=2, zone=1, name="day", price=Decimal("6.45"),
                   effective_from=date(2026, 7, 1)),
            Tariff(zone_scheme=2, zone=2, name="night", price=Decimal("3.51"),
                   effective_from=date(2026, 7, 1)),
        ]
    )  # fmt: skip
    await session.commit()


async def test_the_latest_tariff_started_by_the_date_applies(session: AsyncSession) -> None:
    await _seed(session)
    before = await tariff_in_force(session, 1, 1, date(2026, 6, 30))
    on_the_day = await tariff_in_force(session, 1, 1, date(2026, 7, 1))
    later = await tariff_in_force(session, 1, 1, date(2027, 3, 15))
    assert before is not None and before.price == Decimal("5.02")
    assert on_the_day is not None and on_the_day.price == Decimal("5.60")
    assert later is not None and later.price == Decimal("5.60")


async def test_no_tariff_before_the_first_one_started(session: AsyncSession) -> None:
    await _seed(session)
    assert await tariff_in_force(session, 1, 1, date(2025, 12, 31)) is None
    assert await tariff_in_force(session, 3, 1, date(2026, 11, 1)) is None


async def test_every_zone_of_a_scheme(session: AsyncSession) -> None:
    await _seed(session)
    prices = await tariffs_in_force(session, 2, date(2026, 11, 1))
    assert {zone: t.price for zone, t in prices.items()} == {
        1: Decimal("6.45"),
        2: Decimal("3.51"),
    }
    assert await tariffs_in_force(session, 2, date(2026, 6, 1)) == {}


def test_cost_is_rounded_half_up_to_kopecks() -> None:
    assert cost(Decimal("100.50"), Decimal("5.6000")) == Decimal("562.80")
    assert cost(Decimal("0.01"), Decimal("0.5000")) == Decimal("0.01")  # 0.005 → 0.01
    assert cost(Decimal("0"), Decimal("7.42")) == Decimal("0.00")
