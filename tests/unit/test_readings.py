"""The readings service on a real database: validation, submission, replacement, history."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import (
    Account,
    Meter,
    Reading,
    ReadingSource,
    ReadingStatus,
    ReadingSubmission,
    StoredFile,
    Tariff,
)
from services import readings
from services.files import UnsupportedFileType
from services.periods import shift

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PERIOD = date(2026, 11, 1)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


async def make_meter(
    session: AsyncSession,
    *,
    zones: int = 1,
    digits: int = 5,
    history: list[tuple[date, list[str]]] | None = None,
    verified_until: date | None = date(2030, 1, 1),
    number: str = "7400000001",
) -> Meter:
    """An account with one meter and live readings per (period, values per zone)."""
    account = Account(number=number, holder_surname="Иванов", holder_name="Иван",
                      holder_patronymic=None, address="ул. Металлургов, д. 1")  # fmt: skip
    session.add(account)
    await session.flush()
    meter = Meter(account_id=account.id, serial_number=f"S{number}", zones=zones, digits=digits,
                  verified_until=verified_until)  # fmt: skip
    session.add(meter)
    await session.flush()
    for period, values in history or []:
        for zone, value in enumerate(values, start=1):
            session.add(
                Reading(meter_id=meter.id, zone=zone, period=period, value=Decimal(value),
                        source=ReadingSource.BILLING, status=ReadingStatus.ACCEPTED,
                        taken_on=period.replace(day=20))
            )  # fmt: skip
    await session.commit()
    return meter


def monthly(start: str, step: str, months: int = 6) -> list[tuple[date, list[str]]]:
    """Readings for the `months` periods before November 2026, growing by `step` a month."""
    return [
        (shift(PERIOD, -months + i), [str(Decimal(start) + Decimal(step) * i)])
        for i in range(months)
    ]


async def submit(session: AsyncSession, meter: Meter, values: dict[int, str], key: str,
                 period: date = PERIOD) -> readings.SubmissionResult:  # fmt: skip
    return await readings.submit(
        session, account_id=meter.account_id, meter_id=meter.id,
        values={z: Decimal(v) for z, v in values.items()}, period=period,
        idempotency_key=key, today=TODAY, now=NOW,
    )  # fmt: skip


# --- validation ----------------------------------------------------------------------------


async def test_a_normal_value_gives_its_consumption(session: AsyncSession) -> None:
    meter = await make_meter(session, history=monthly("1000", "100"))
    check = await readings.check_value(session, meter.account_id, meter.id, 1, "1 610,5", PERIOD)
    assert check.value == Decimal("1610.50")
    assert check.previous == Decimal("1500")
    assert check.consumption == Decimal("110.50")
    assert check.average == Decimal("100.00")
    assert check.warnings == ()


async def test_below_the_previous_reading_is_refused(session: AsyncSession) -> None:
    meter = await make_meter(session, history=monthly("1000", "100"))
    with pytest.raises(readings.ReadingTooLow) as error:
        await readings.check_value(session, meter.account_id, meter.id, 1, "1499,99", PERIOD)
    assert error.value.previous == Decimal("1500")
    assert error.value.taken_on == date(2026, 10, 20)


async def test_rollover_near_the_capacity_is_a_warning(session: AsyncSession) -> None:
    meter = await make_meter(session, digits=5, history=monthly("99400", "100"))
    check = await readings.check_value(session, meter.account_id, meter.id, 1, "12", PERIOD)
    assert readings.Caution.ROLLOVER in check.warnings
    assert check.consumption == Decimal("112.00")  # 100000 − 99900 + 12
    assert readings.Caution.UNUSUAL not in check.warnings


async def test_three_times_the_average_asks_are_you_sure(session: AsyncSession) -> None:
    meter = await make_meter(session, history=monthly("1000", "100"))
    ok = await readings.check_value(session, meter.account_id, meter.id, 1, "1800", PERIOD)
    assert ok.warnings == ()  # exactly 3×: not unusual
    check = await readings.check_value(session, meter.account_id, meter.id, 1, "1800,01", PERIOD)
    assert check.warnings == (readings.Caution.UNUSUAL,)


async def test_estimated_readings_do_not_set_the_floor(session: AsyncSession) -> None:
    meter = await make_meter(session, history=monthly("1000", "100"))
    session.add(Reading(meter_id=meter.id, zone=1, period=PERIOD, value=Decimal("1900"),
                        source=ReadingSource.ESTIMATED, status=ReadingStatus.ESTIMATED,
                        taken_on=TODAY))  # fmt: skip
    await session.commit()
    check = await readings.check_value(
        session, meter.account_id, meter.id, 1, "1550", shift(PERIOD, 1)
    )
    assert check.previous == Decimal("1500")


async def test_digit_capacity_of_the_meter(session: AsyncSession) -> None:
    meter = await make_meter(session, digits=4)
    with pytest.raises(readings.TooManyDigits):
        await readings.check_value(session, meter.account_id, meter.id, 1, "10000", PERIOD)
    check = await readings.check_value(session, meter.account_id, meter.id, 1, "9999,99", PERIOD)
    assert check.previous is None and check.consumption is None


async def test_another_accounts_meter_is_not_found(session: AsyncSession) -> None:
    meter = await make_meter(session)
    other = await make_meter(session, number="7400000002")
    with pytest.raises(readings.MeterNotFound):
        await readings.check_value(session, other.account_id, meter.id, 1, "1", PERIOD)


# --- overview and summary --------------------------------------------------------------------


async def test_overview_shows_the_last_accepted_reading_per_zone(session: AsyncSession) -> None:
    meter = await make_meter(
        session, zones=2, verified_until=date(2026, 10, 1),
        history=[(date(2026, 9, 1), ["100", "50"]), (date(2026, 10, 1), ["200", "90"])],
    )  # fmt: skip
    session.add(Reading(meter_id=meter.id, zone=1, period=PERIOD, value=Decimal("260"),
                        source=ReadingSource.ESTIMATED, status=ReadingStatus.ESTIMATED,
                        taken_on=TODAY))  # fmt: skip
    await session.commit()
    [overview] = await readings.meters_overview(session, meter.account_id, TODAY)
    assert overview.verification_expired
    assert {z: (r.value, r.taken_on) for z, r in overview.last.items()} == {
        1: (Decimal("200"), date(2026, 10, 20)),
        2: (Decimal("90"), date(2026, 10, 20)),
    }


async def test_summary_prices_consumption_at_the_tariff_in_force(session: AsyncSession) -> None:
    meter = await make_meter(session, zones=2, history=[(date(2026, 10, 1), ["1000", "500"])])
    session.add_all([
        Tariff(zone_scheme=2, zone=1, name="d", price=Decimal("5.78"), effective_from=date(2026, 1, 1)),
        Tariff(zone_scheme=2, zone=1, name="d", price=Decimal("6.45"), effective_from=date(2026, 7, 1)),
        Tariff(zone_scheme=2, zone=2, name="n", price=Decimal("3.51"), effective_from=date(2026, 7, 1)),
    ])  # fmt: skip
    await session.commit()
    summary = await readings.summarize(
        session, meter.account_id, meter.id, {1: Decimal("1100"), 2: Decimal("550.5")}, PERIOD
    )
    assert [(ln.consumption, ln.price, ln.cost) for ln in summary.lines] == [
        (Decimal("100"), Decimal("6.45"), Decimal("645.00")),
        (Decimal("50.5"), Decimal("3.51"), Decimal("177.26")),
    ]
    assert summary.total_cost == Decimal("822.26")


# --- submission --------------------------------------------------------------------------------


async def count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_submission_gets_a_reference_and_accepted_readings(session: AsyncSession) -> None:
    meter = await make_meter(session, zones=3)
    result = await submit(session, meter, {1: "10", 2: "20", 3: "30.5"}, "k1")
    assert result.reference.startswith("П-2026-") and len(result.reference) == 13
    assert not result.duplicate and not result.replaced
    rows = (await session.scalars(select(Reading).order_by(Reading.zone))).all()
    assert [(r.zone, r.value, r.source, r.status, r.period, r.taken_on) for r in rows] == [
        (z, Decimal(v), ReadingSource.SUBSCRIBER, ReadingStatus.ACCEPTED, PERIOD, TODAY)
        for z, v in ((1, "10"), (2, "20"), (3, "30.50"))
    ]


async def test_the_same_key_is_stored_once(session: AsyncSession) -> None:
    meter = await make_meter(session)
    first = await submit(session, meter, {1: "10"}, "same")
    again = await submit(session, meter, {1: "10"}, "same")
    assert again.duplicate and again.reference == first.reference
    assert await count(session, Reading) == 1
    assert await count(session, ReadingSubmission) == 1


async def test_two_presses_at_the_same_moment_store_one_submission(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        meter = await make_meter(session)

    async def press() -> readings.SubmissionResult:
        async with sessions() as own:
            return await submit(own, meter, {1: "10"}, "double")

    results = await asyncio.gather(press(), press())
    assert {r.reference for r in results} == {results[0].reference}
    assert sorted(r.duplicate for r in results) == [False, True]
    async with sessions() as session:
        assert await count(session, Reading) == 1
        assert await count(session, ReadingSubmission) == 1


async def test_a_second_submission_replaces_the_first_and_history_keeps_both(
    session: AsyncSession,
) -> None:
    meter = await make_meter(session, history=[(date(2026, 10, 1), ["100"])])
    first = await submit(session, meter, {1: "150"}, "a")
    second = await submit(session, meter, {1: "160"}, "b")
    assert second.replaced and second.reference != first.reference
    live = (await session.scalars(select(Reading).where(Reading.period == PERIOD,
                                                        Reading.replaced_by_id.is_(None)))).all()  # fmt: skip
    assert [r.value for r in live] == [Decimal("160")]
    [old] = (await session.scalars(select(Reading).where(Reading.value == Decimal("150")))).all()
    assert old.replaced_by_id == live[0].id
    [history] = await readings.history(session, meter.account_id, TODAY)
    november = [(e.value, e.replaced, e.consumption) for e in history.entries if e.period == PERIOD]
    assert sorted(november) == [(Decimal("150"), True, Decimal("50")),
                                (Decimal("160"), False, Decimal("60"))]  # fmt: skip
    assert history.monthly[PERIOD] == {1: Decimal("60")}


async def test_the_photo_is_kept_with_the_submission(session: AsyncSession, tmp_path: Path) -> None:
    meter = await make_meter(session)
    photo_id = await readings.store_photo(session, tmp_path, JPEG, limit_mb=1,
                                          telegram_file_id="f", telegram_file_unique_id="u")  # fmt: skip
    await readings.submit(session, account_id=meter.account_id, meter_id=meter.id,
                          values={1: Decimal(5)}, period=PERIOD, idempotency_key="p",
                          today=TODAY, now=NOW, photo_file_id=photo_id)  # fmt: skip
    submission = await session.scalar(select(ReadingSubmission))
    assert submission is not None and submission.photo_file_id == photo_id
    stored = await session.get(StoredFile, photo_id)
    assert stored is not None and (tmp_path / stored.storage_path).read_bytes() == JPEG


# --- history -----------------------------------------------------------------------------------


async def test_history_statuses_and_consumption(session: AsyncSession) -> None:
    meter = await make_meter(session, history=[(date(2026, 8, 1), ["100"])])
    session.add_all([
        Reading(meter_id=meter.id, zone=1, period=date(2026, 9, 1), value=Decimal("180"),
                source=ReadingSource.ESTIMATED, status=ReadingStatus.ESTIMATED, taken_on=date(2026, 9, 26)),
        Reading(meter_id=meter.id, zone=1, period=date(2026, 10, 1), value=Decimal("50"),
                source=ReadingSource.SUBSCRIBER, status=ReadingStatus.REJECTED,
                reject_reason="меньше предыдущего", taken_on=date(2026, 10, 20)),
    ])  # fmt: skip
    await session.commit()
    [history] = await readings.history(session, meter.account_id, TODAY)
    by_period = {e.period: e for e in history.entries}
    assert by_period[date(2026, 9, 1)].status == ReadingStatus.ESTIMATED
    assert by_period[date(2026, 9, 1)].consumption == Decimal("80")
    assert by_period[date(2026, 10, 1)].status == ReadingStatus.REJECTED
    assert by_period[date(2026, 10, 1)].reject_reason == "меньше предыдущего"
    assert by_period[date(2026, 10, 1)].consumption is None
    assert history.estimated == {date(2026, 9, 1)}
    assert date(2026, 10, 1) not in history.monthly  # a rejected reading is no consumption


async def test_history_is_limited_to_twelve_months(session: AsyncSession) -> None:
    meter = await make_meter(session, history=monthly("1000", "10", months=14))
    [history] = await readings.history(session, meter.account_id, TODAY)
    assert len(history.periods) == 12
    assert history.periods[0] == date(2025, 11, 1) and history.periods[-1] == date(2026, 10, 1)
    assert all(history.monthly[p] == {1: Decimal("10")} for p in history.periods)


async def test_a_pdf_is_not_a_meter_photo(session: AsyncSession, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFileType):
        await readings.store_photo(session, tmp_path, b"%PDF-1.7\n" + b"0" * 64, limit_mb=1,
                                   telegram_file_id="f", telegram_file_unique_id="u")  # fmt: skip
    assert await count(session, StoredFile) == 0


async def test_submit_checks_the_floor_again(session: AsyncSession) -> None:
    """Billing may load a higher reading between the dialog's check and «Подтвердить»."""
    meter = await make_meter(session, zones=2, history=[(date(2026, 10, 1), ["100", "50"])])
    with pytest.raises(readings.ReadingTooLow) as error:
        await submit(session, meter, {1: "120", 2: "40"}, "low")
    assert (error.value.zone, error.value.previous) == (2, Decimal("50"))
    with pytest.raises(readings.MeterNotFound):  # every zone of the meter, no more, no less
        await submit(session, meter, {1: "120"}, "partial")
    assert await count(session, Reading) == 2 and await count(session, ReadingSubmission) == 0


async def test_already_sent_is_this_periods_live_value(session: AsyncSession) -> None:
    meter = await make_meter(session, history=[(date(2026, 10, 1), ["100"])])
    assert (await readings.zone_context(session, meter.id, 1, PERIOD)).sent is None
    await submit(session, meter, {1: "150"}, "a")
    await submit(session, meter, {1: "140"}, "b")  # a typo corrected downwards is allowed
    context = await readings.zone_context(session, meter.id, 1, PERIOD)
    assert context.sent == Decimal("140")
    assert context.previous == Decimal("100")


async def test_two_different_submissions_at_once_leave_one_live_reading(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        meter = await make_meter(session)

    async def press(key: str, value: str) -> readings.SubmissionResult | None:
        async with sessions() as own:
            try:
                return await submit(own, meter, {1: value}, key)
            except readings.SubmissionConflict:
                return None  # the subscriber is asked to press again

    results = await asyncio.gather(press("x", "10"), press("y", "20"))
    assert any(r is not None for r in results)
    async with sessions() as session:
        live = (
            await session.scalars(select(Reading).where(Reading.replaced_by_id.is_(None)))
        ).all()
        assert len(live) == 1
