"""The billing run and bill statuses on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import (
    Account,
    Charge,
    ChargeLine,
    LineBasis,
    Meter,
    Payment,
    PaymentChannel,
    PaymentStatus,
    Reading,
    ReadingSource,
    ReadingStatus,
    Tariff,
)
from services import billing
from services.billing import BillStatus, SkipReason
from services.periods import shift

WINDOW = (15, 25)
NOV = date(2026, 11, 1)
PRICES = {
    (1, 1): Decimal("5.6000"),
    (2, 1): Decimal("6.4500"),
    (2, 2): Decimal("3.5100"),
    (3, 1): Decimal("7.4200"),
    (3, 2): Decimal("3.5100"),
    (3, 3): Decimal("5.6000"),
}
D = Decimal


def moment(day: date, hour: int = 1) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def tariffs(session: AsyncSession, start: date = date(2026, 1, 1), **override: str) -> None:
    for (scheme, zone), price in PRICES.items():
        value = Decimal(override.get(f"t{scheme}{zone}", price))
        session.add(Tariff(zone_scheme=scheme, zone=zone, name=f"{scheme}/{zone}", price=value,
                           effective_from=start))  # fmt: skip
    await session.commit()


async def account(
    session: AsyncSession, number: str = "7400000001", *, zones: int = 1, digits: int = 6,
    balance: str = "0",
) -> tuple[Account, Meter]:  # fmt: skip
    acc = Account(number=number, holder_surname="Иванов", holder_name="Иван",
                  holder_patronymic="Петрович", address="г. Магнитогорск, ул. Ленина, д. 1",
                  balance=Decimal(balance))  # fmt: skip
    session.add(acc)
    await session.flush()
    meter = Meter(account_id=acc.id, serial_number=f"S{number}", zones=zones, digits=digits)
    session.add(meter)
    await session.commit()
    return acc, meter


async def read(session: AsyncSession, meter: Meter, period: date, *values: str) -> list[Reading]:
    rows = [
        Reading(meter_id=meter.id, zone=zone, period=period, value=Decimal(value),
                source=ReadingSource.SUBSCRIBER, status=ReadingStatus.ACCEPTED,
                taken_on=period.replace(day=20))
        for zone, value in enumerate(values, start=1)
    ]  # fmt: skip
    session.add_all(rows)
    await session.commit()
    return rows


async def replace(session: AsyncSession, old: Reading, value: str) -> None:
    """A corrected reading of the same period (as the registry import or a resubmission does)."""
    old.replaced_by_id = old.id
    await session.flush()
    new = Reading(meter_id=old.meter_id, zone=old.zone, period=old.period, value=Decimal(value),
                  source=ReadingSource.BILLING, status=ReadingStatus.ACCEPTED,
                  taken_on=old.taken_on)  # fmt: skip
    session.add(new)
    await session.flush()
    old.replaced_by_id = new.id
    await session.commit()


async def run(session: AsyncSession, period: date) -> billing.RunSummary:
    closes = billing.billing_day(period, WINDOW)
    return await billing.run_billing(
        session, period, today=closes, now=moment(closes), window=WINDOW, due_day=10
    )


async def lines(session: AsyncSession, acc: Account, period: date) -> list[ChargeLine]:
    return list(
        await session.scalars(
            select(ChargeLine)
            .join(Charge, Charge.id == ChargeLine.charge_id)
            .where(Charge.account_id == acc.id, Charge.period == period)
            .order_by(ChargeLine.zone, ChargeLine.id)
        )
    )


async def bill(session: AsyncSession, acc: Account, period: date) -> Charge:
    charge = await session.scalar(
        select(Charge).where(Charge.account_id == acc.id, Charge.period == period)
    )
    assert charge is not None
    await session.refresh(charge)
    return charge


def shape(rows: list[ChargeLine]) -> list[tuple[int, LineBasis, Decimal, Decimal, Decimal]]:
    return [(r.zone, r.basis, r.previous_value, r.current_value, r.consumption) for r in rows]


# --- charges per meter type --------------------------------------------------------------------


async def test_single_zone_meter_is_billed_by_the_reading(session: AsyncSession) -> None:
    await tariffs(session)
    acc, meter = await account(session)
    await read(session, meter, shift(NOV, -1), "1000")
    await read(session, meter, NOV, "1150.50")
    summary = await run(session, NOV)
    assert (summary.billed, summary.by_reading, summary.by_average) == (1, 1, 0)
    assert shape(await lines(session, acc, NOV)) == [
        (1, LineBasis.READING, D("1000"), D("1150.50"), D("150.50"))
    ]
    charge = await bill(session, acc, NOV)
    assert charge.charged == D("842.80")  # 150,5 kWh × 5,60 ₽
    assert charge.total_due == D("842.80") and charge.opening_balance == 0
    assert charge.due_date == date(2026, 12, 10) and charge.number == "7400000001-202611"
    await session.refresh(acc)
    assert acc.balance == D("842.80")
    assert summary.total_charged == D("842.80")


async def test_two_and_three_zone_meters_charge_each_zone_at_its_price(
    session: AsyncSession,
) -> None:
    await tariffs(session)
    two, meter2 = await account(session, "7400000002", zones=2)
    three, meter3 = await account(session, "7400000003", zones=3)
    await read(session, meter2, shift(NOV, -1), "100", "50")
    await read(session, meter2, NOV, "200", "90")
    await read(session, meter3, shift(NOV, -1), "10", "20", "30")
    await read(session, meter3, NOV, "20", "40", "60")
    await run(session, NOV)
    assert [(r.zone, r.consumption, r.price, r.amount) for r in await lines(session, two, NOV)] == [
        (1, D("100"), D("6.45"), D("645.00")),
        (2, D("40"), D("3.51"), D("140.40")),
    ]
    assert (await bill(session, two, NOV)).charged == D("785.40")
    three_lines = await lines(session, three, NOV)
    assert [r.amount for r in three_lines] == [D("74.20"), D("70.20"), D("168.00")]
    assert (await bill(session, three, NOV)).charged == D("312.40")


async def test_rollover_counts_through_zero(session: AsyncSession) -> None:
    await tariffs(session)
    acc, meter = await account(session, digits=5)
    await read(session, meter, shift(NOV, -1), "99950")
    await read(session, meter, NOV, "100")
    await run(session, NOV)
    [line] = await lines(session, acc, NOV)
    assert (line.previous_value, line.current_value, line.consumption) == (
        D("99950"), D("100"), D("150")
    )  # fmt: skip


# --- missing readings and corrections ----------------------------------------------------------


async def _half_year(session: AsyncSession, meter: Meter, monthly: int = 100) -> None:
    for months_back in range(7, 0, -1):
        await read(
            session, meter, shift(NOV, -months_back), str(1000 + monthly * (7 - months_back))
        )


async def test_missing_reading_is_billed_by_average_and_corrected_when_it_arrives(
    session: AsyncSession,
) -> None:
    await tariffs(session)
    acc, meter = await account(session)
    await _half_year(session, meter)  # April … October: 1000 … 1600, 100 kWh a month
    summary = await run(session, NOV)
    assert (summary.by_reading, summary.by_average) == (0, 1)
    assert shape(await lines(session, acc, NOV)) == [
        (1, LineBasis.AVERAGE, D("1600"), D("1700"), D("100"))
    ]
    dec = shift(NOV, 1)
    await read(session, meter, dec, "1850")  # 250 kWh really used in November and December
    await run(session, dec)
    december = await lines(session, acc, dec)
    assert shape(december) == [
        (1, LineBasis.CORRECTION, D("1700"), D("1600"), D("-100")),
        (1, LineBasis.READING, D("1600"), D("1850"), D("250")),
    ]
    assert december[0].corrects_period == shift(NOV, -1)
    assert december[0].amount == D("-560.00")
    assert (await bill(session, acc, dec)).charged == D("840.00")  # 150 kWh × 5,60
    # Nothing was rewritten: November's bill still shows its average.
    assert shape(await lines(session, acc, NOV))[0][1] == LineBasis.AVERAGE


async def test_a_late_reading_for_a_billed_period_is_settled_once(session: AsyncSession) -> None:
    await tariffs(session)
    acc, meter = await account(session)
    await _half_year(session, meter)
    await run(session, NOV)  # by average: 1600 → 1700
    await read(session, meter, NOV, "1680")  # November's reading arrives after its bill
    dec = shift(NOV, 1)
    await run(session, dec)  # no December reading yet
    assert shape(await lines(session, acc, dec)) == [
        (1, LineBasis.CORRECTION, D("1700"), D("1680"), D("-20")),
        # the average of May … November: (1680 − 1100) / 6
        (1, LineBasis.AVERAGE, D("1680"), D("1776.67"), D("96.67")),
    ]
    jan = shift(NOV, 2)
    await run(session, jan)  # still no reading: the late one is not settled a second time
    assert [r.basis for r in await lines(session, acc, jan)] == [LineBasis.AVERAGE]


async def test_a_changed_reading_of_a_closed_period_gives_a_correction_next_period(
    session: AsyncSession,
) -> None:
    await tariffs(session)
    acc, meter = await account(session)
    oct_ = shift(NOV, -1)
    await read(session, meter, shift(NOV, -2), "1000")
    [october] = await read(session, meter, oct_, "1200")
    await run(session, oct_)
    october_bill = await bill(session, acc, oct_)
    await replace(session, october, "1180")
    again = await run(session, oct_)  # re-running the closed period changes nothing
    assert again.billed == 0 and again.already_billed == 1
    assert (await bill(session, acc, oct_)).charged == october_bill.charged
    await read(session, meter, NOV, "1300")
    await run(session, NOV)
    november = await lines(session, acc, NOV)
    assert shape(november) == [
        (1, LineBasis.CORRECTION, D("1200"), D("1180"), D("-20")),
        (1, LineBasis.READING, D("1180"), D("1300"), D("120")),
    ]
    assert november[0].corrects_period == oct_


async def test_running_a_period_twice_changes_nothing(session: AsyncSession) -> None:
    await tariffs(session)
    acc, meter = await account(session, balance="100")
    await read(session, meter, shift(NOV, -1), "1000")
    await read(session, meter, NOV, "1100")
    first = await run(session, NOV)
    await session.refresh(acc)
    balance = acc.balance
    second = await run(session, NOV)
    assert (first.billed, second.billed, second.candidates, second.already_billed) == (1, 0, 0, 1)
    assert await session.scalar(select(func.count()).select_from(Charge)) == 1
    assert await session.scalar(select(func.count()).select_from(ChargeLine)) == 1
    await session.refresh(acc)
    assert acc.balance == balance == D("660.00")


async def test_tariff_change_within_the_year(session: AsyncSession) -> None:
    await tariffs(session, t11="5.02")
    session.add(Tariff(zone_scheme=1, zone=1, name="1/1", price=D("5.60"),
                       effective_from=date(2026, 7, 1)))  # fmt: skip
    await session.commit()
    acc, meter = await account(session)
    await read(session, meter, date(2026, 5, 1), "1000")
    await read(session, meter, date(2026, 6, 1), "1100")
    await read(session, meter, date(2026, 7, 1), "1200")
    await run(session, date(2026, 6, 1))
    await run(session, date(2026, 7, 1))
    assert (await bill(session, acc, date(2026, 6, 1))).charged == D("502.00")
    assert (await bill(session, acc, date(2026, 7, 1))).charged == D("560.00")


# --- what cannot be billed ---------------------------------------------------------------------


async def test_accounts_that_cannot_be_billed_are_reported_and_the_run_goes_on(
    session: AsyncSession,
) -> None:
    await tariffs(session)
    ok, ok_meter = await account(session, "7400000001")
    await read(session, ok_meter, shift(NOV, -1), "1000")
    await read(session, ok_meter, NOV, "1100")
    _, single = await account(session, "7400000002")
    await read(session, single, shift(NOV, -1), "500")  # one reading: no average possible
    session.add(Account(number="7400000003", holder_surname="Петрова", holder_name="Анна",
                        address="г. Магнитогорск"))  # fmt: skip
    await session.commit()
    summary = await run(session, NOV)
    assert summary.billed == 1
    assert {(s.account, s.reason) for s in summary.skipped} == {
        ("7400000002", SkipReason.NO_AVERAGE),
        ("7400000003", SkipReason.NO_METERS),
    }
    assert (await bill(session, ok, NOV)).charged == D("560.00")


async def test_a_zone_without_tariff_stops_only_its_account(session: AsyncSession) -> None:
    session.add(Tariff(zone_scheme=1, zone=1, name="1/1", price=D("5.60"),
                       effective_from=date(2026, 1, 1)))  # fmt: skip
    await session.commit()
    _, meter = await account(session, "7400000002", zones=2)
    await read(session, meter, shift(NOV, -1), "100", "50")
    await read(session, meter, NOV, "200", "90")
    summary = await run(session, NOV)
    [skipped] = summary.skipped
    assert (skipped.reason, skipped.zone_scheme, skipped.zone) == (SkipReason.NO_TARIFF, 2, 1)


async def test_a_period_is_billed_only_after_its_reading_window(session: AsyncSession) -> None:
    with pytest.raises(billing.PeriodNotClosed) as caught:
        await billing.run_billing(session, NOV, today=date(2026, 11, 25),
                                  now=moment(date(2026, 11, 25)), window=WINDOW, due_day=10)  # fmt: skip
    assert caught.value.opens_on == date(2026, 11, 26)
    assert billing.last_closed_period(date(2026, 11, 25), WINDOW) == shift(NOV, -1)
    assert billing.last_closed_period(date(2026, 11, 26), WINDOW) == NOV


# --- payments and statuses ---------------------------------------------------------------------


async def pay(session: AsyncSession, acc: Account, amount: str, at: datetime) -> None:
    """What the payments service does when it credits a payment."""
    session.add(Payment(account_id=acc.id, amount=D(amount), channel=PaymentChannel.TELEGRAM,
                        status=PaymentStatus.SUCCEEDED, payload=f"p-{at.timestamp()}-{amount}",
                        paid_at=at))  # fmt: skip
    await session.execute(
        update(Account).where(Account.id == acc.id).values(balance=Account.balance - D(amount))
    )
    await session.commit()


async def test_payments_are_applied_and_statuses_follow_them(session: AsyncSession) -> None:
    await tariffs(session)
    acc, meter = await account(session, balance="300")
    oct_, dec = shift(NOV, -1), shift(NOV, 1)
    await read(session, meter, shift(NOV, -2), "1000")
    await read(session, meter, oct_, "1100")  # 560,00
    await read(session, meter, NOV, "1200")  # 560,00
    await read(session, meter, dec, "1300")  # 560,00
    await run(session, oct_)
    [october] = await billing.bill_statuses(session, acc.id)
    assert (october.total_due, october.status, october.to_pay) == (
        D("860.00"), BillStatus.UNPAID, D("860.00")
    )  # fmt: skip
    await pay(session, acc, "500", moment(date(2026, 11, 5)))
    [october] = await billing.bill_statuses(session, acc.id)
    assert (october.status, october.paid, october.to_pay) == (
        BillStatus.PARTIAL, D("500.00"), D("360.00")
    )  # fmt: skip
    assert await billing.remaining_due(session, october.charge_id) == D("360.00")
    await run(session, NOV)
    november_bill = await bill(session, acc, NOV)
    assert (november_bill.opening_balance, november_bill.paid, november_bill.total_due) == (
        D("860.00"), D("500.00"), D("920.00")
    )  # fmt: skip
    november, october = await billing.bill_statuses(session, acc.id)
    assert (october.status, october.carried_to) == (BillStatus.PARTIAL, NOV)
    await pay(session, acc, "1000", moment(date(2026, 12, 1)))
    november, october = await billing.bill_statuses(session, acc.id)
    assert (november.status, november.overpaid, november.to_pay) == (
        BillStatus.OVERPAID, D("80.00"), D("0")
    )  # fmt: skip
    assert (october.status, october.to_pay, october.carried_to) == (BillStatus.PAID, D("0"), None)
    await run(session, dec)
    december = (await billing.bill_statuses(session, acc.id))[0]
    assert (december.opening_balance, december.paid_in_period, december.total_due) == (
        D("920.00"), D("1000.00"), D("480.00")
    )  # fmt: skip
    assert december.status == BillStatus.UNPAID
    await pay(session, acc, "480", moment(date(2026, 12, 28)))
    statuses = await billing.bill_statuses(session, acc.id, limit=6)
    assert [s.status for s in statuses] == [
        BillStatus.PAID, BillStatus.OVERPAID, BillStatus.PAID
    ]  # fmt: skip
    assert [s.period for s in statuses] == [dec, NOV, oct_]


async def test_a_later_full_payment_settles_older_unpaid_bills(session: AsyncSession) -> None:
    await tariffs(session)
    acc, meter = await account(session)
    oct_ = shift(NOV, -1)
    await read(session, meter, shift(NOV, -2), "1000")
    await read(session, meter, oct_, "1100")
    await read(session, meter, NOV, "1200")
    await run(session, oct_)
    await run(session, NOV)
    november, october = await billing.bill_statuses(session, acc.id)
    assert october.status == BillStatus.UNPAID and october.carried_to == NOV
    assert november.total_due == D("1120.00")
    await pay(session, acc, "700", moment(date(2026, 11, 28)))
    november, october = await billing.bill_statuses(session, acc.id)
    assert (october.status, november.status, november.to_pay) == (
        BillStatus.PAID, BillStatus.PARTIAL, D("420.00")
    )  # fmt: skip


async def test_charges_are_issued_in_batches(session: AsyncSession) -> None:
    await tariffs(session)
    for index in range(7):
        _, meter = await account(session, f"74000000{index:02d}")
        await read(session, meter, shift(NOV, -1), "1000")
        await read(session, meter, NOV, "1010")
    seen: list[tuple[int, int]] = []
    closes = billing.billing_day(NOV, WINDOW)
    summary = await billing.run_billing(
        session, NOV, today=closes, now=moment(closes), window=WINDOW, due_day=10,
        progress=lambda done, total: seen.append((done, total)), batch_size=3,
    )  # fmt: skip
    assert summary.billed == 7 and seen == [(3, 7), (6, 7), (7, 7)]
    assert summary.total_charged == 7 * D("56.00")


def test_the_average_needs_two_readings() -> None:
    assert billing.average_of([(NOV, D("10"))], 5) is None
    points = [(shift(NOV, -3), D("100")), (shift(NOV, -1), D("300"))]
    assert billing.average_of(points, 5) == D("100.00")
    assert billing.signed_difference(D("99990"), D("10"), 5) == D("20")
    assert billing.signed_difference(D("10"), D("99990"), 5) == D("-20")
    assert billing.wrap(D("100010"), 5) == D("10")


async def test_next_bill_is_after_the_window_closes(session: AsyncSession) -> None:
    acc, _ = await account(session)
    before = await billing.next_bill(session, acc.id, date(2026, 11, 20), WINDOW)
    assert (before.period, before.on, before.has_readings) == (NOV, date(2026, 11, 26), False)
    after = await billing.next_bill(session, acc.id, date(2026, 11, 27), WINDOW)
    assert (after.period, after.on) == (shift(NOV, 1), date(2026, 12, 26))


async def test_the_nightly_job_bills_the_period_whose_window_closed(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    from bot.clock import FrozenClock
    from scheduler.billing import bill_closed_period
    from tests.conftest import make_settings

    async with sessions() as session:
        await tariffs(session)
        acc, meter = await account(session)
        await read(session, meter, shift(NOV, -1), "1000")
        await read(session, meter, NOV, "1100")
    settings = make_settings(tmp_path, "sqlite+aiosqlite:///unused.db")
    clock = FrozenClock(settings.zone, datetime(2026, 11, 25, 23, 0))
    runtime = SimpleNamespace(settings=settings, sessions=sessions, extras={"clock": clock})
    before = await bill_closed_period(runtime)  # type: ignore[arg-type]
    # 25 November: November's window is open, so October is billed (its first reading, 0 kWh).
    assert (before.period, before.billed, before.total_charged) == (shift(NOV, -1), 1, D("0"))
    clock.set(datetime(2026, 11, 26, 1, 30))
    night = await bill_closed_period(runtime)  # type: ignore[arg-type]
    assert (night.period, night.billed) == (NOV, 1)
    again = await bill_closed_period(runtime)  # type: ignore[arg-type]
    assert (again.billed, again.already_billed) == (0, 1)
    async with sessions() as session:
        assert (await bill(session, acc, NOV)).charged == D("560.00")


async def test_the_tuple_executemany_writes_what_it_reads_and_reports_a_duplicate_bill(
    session: AsyncSession,
) -> None:
    """The run writes bills as plain tuples through the driver (`billing._executemany`): money,
    dates and the line basis read back as written, and a bill another run wrote meanwhile is the
    IntegrityError the run retries its batch on."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    await tariffs(session)
    acc, meter = await account(session)
    await read(session, meter, shift(NOV, -1), "1000")
    await read(session, meter, NOV, "1150.50")
    summary = await run(session, NOV)
    [line] = await lines(session, acc, NOV)
    assert (line.previous_value, line.current_value, line.consumption) == (
        Decimal("1000.00"), Decimal("1150.50"), Decimal("150.50"))  # fmt: skip
    assert (line.basis, line.corrects_period) == (LineBasis.READING, None)
    charge = await session.get(Charge, summary.charge_ids[0])
    assert charge is not None and charge.due_date == date(2026, 12, 10)
    assert charge.number == "7400000001-202611" and charge.total_due == line.amount
    connection = await session.connection()
    with pytest.raises(IntegrityError):
        await billing._executemany(
            connection, insert(billing._table(Charge)), billing.CHARGE_COLUMNS,
            [(acc.id, NOV, "7400000001-202611-2", 0, 0, 0, 0, date(2026, 12, 10),
              moment(NOV))],
        )  # fmt: skip
    await session.rollback()
