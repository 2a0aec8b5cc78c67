"""The readings export for billing: accepted live readings of a period, in the registry's format."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.export_readings import parse_period, run_export
from bot.settings import Settings
from models import Reading, ReadingSource, ReadingStatus
from services import readings
from services.registry import parse_date, parse_decimal
from tests.conftest import make_settings
from tests.unit.test_readings import make_meter

MOSCOW = ZoneInfo("Europe/Moscow")
NOVEMBER = date(2026, 11, 1)


async def _arrange(session: AsyncSession) -> None:
    """Two accounts: a replaced submission, an estimated and a rejected reading, another month."""
    single = await make_meter(session, number="7400000001", history=[(date(2026, 10, 1), ["100"])])
    three = await make_meter(session, zones=3, number="7400000002", digits=6)
    for key, value in (("first", "150"), ("second", "155.5")):
        await readings.submit(
            session, account_id=single.account_id, meter_id=single.id, values={1: Decimal(value)},
            period=NOVEMBER, idempotency_key=key, today=date(2026, 11, 20),
            now=datetime(2026, 11, 20, 21, 30, 5, tzinfo=UTC),
        )  # fmt: skip
    session.add_all([
        Reading(meter_id=three.id, zone=1, period=NOVEMBER, value=Decimal("123456.78"),
                source=ReadingSource.BILLING, status=ReadingStatus.ACCEPTED,
                taken_on=date(2026, 11, 3), submitted_at=datetime(2026, 11, 4, 6, 0, tzinfo=UTC)),
        Reading(meter_id=three.id, zone=2, period=NOVEMBER, value=Decimal("10"),
                source=ReadingSource.ESTIMATED, status=ReadingStatus.ESTIMATED,
                taken_on=date(2026, 11, 3)),
        Reading(meter_id=three.id, zone=3, period=NOVEMBER, value=Decimal("5"),
                source=ReadingSource.SUBSCRIBER, status=ReadingStatus.REJECTED,
                reject_reason="нечитаемо", taken_on=date(2026, 11, 3)),
    ])  # fmt: skip
    await session.commit()


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=";"))


async def test_one_row_per_accepted_live_reading(session: AsyncSession) -> None:
    await _arrange(session)
    rows = await readings.export_rows(session, NOVEMBER)
    text = readings.export_csv(rows, MOSCOW)
    assert _rows(text) == [
        ["account", "meter", "zone", "reading_date", "value", "source", "submitted_at"],
        ["7400000001", "S7400000001", "1", "20.11.2026", "155,50", "subscriber", "21.11.2026 00:30:05"],
        ["7400000002", "S7400000002", "1", "03.11.2026", "123456,78", "billing", "04.11.2026 09:00:00"],
    ]  # fmt: skip
    assert await readings.export_rows(session, date(2026, 12, 1)) == []


async def test_the_export_reads_back_through_the_registry_parsers(session: AsyncSession) -> None:
    """Every value and date the export writes is what the registry import would read."""
    await _arrange(session)
    rows = await readings.export_rows(session, NOVEMBER)
    parsed = _rows(readings.export_csv(rows, MOSCOW))[1:]
    assert len(parsed) == len(rows)
    for row, fields in zip(rows, parsed, strict=True):
        account, meter, zone, reading_date, value, source, submitted_at = fields
        assert (account, meter, int(zone)) == (row.account, row.meter, row.zone)
        assert parse_date(reading_date) == row.reading_date
        assert parse_decimal(value) == row.value
        assert ReadingSource(source) == row.source
        day, clock = submitted_at.split(" ")
        moment = datetime.combine(parse_date(day), time.fromisoformat(clock), MOSCOW)
        assert moment == row.submitted_at.replace(microsecond=0)


@given(
    st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
)
def test_any_value_and_date_round_trip(value: Decimal, day: date) -> None:
    row = readings.ExportRow("74", "S", 1, day, value, ReadingSource.SUBSCRIBER,
                             datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    fields = _rows(readings.export_csv([row], MOSCOW))[1]
    assert parse_decimal(fields[4]) == value
    assert parse_date(fields[3]) == day


@pytest.mark.parametrize(
    ("text", "expected"), [("2026-11", NOVEMBER), ("2026-1", date(2026, 1, 1))]
)
def test_period_argument(text: str, expected: date) -> None:
    assert parse_period(text) == expected


@pytest.mark.parametrize("text", ["2026-13", "11.2026", "2026", "", "2026-00"])
def test_bad_period_argument(text: str) -> None:
    assert parse_period(text) is None


@pytest.fixture
def cli_settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


async def test_command_writes_a_utf8_file(
    session: AsyncSession,
    cli_settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _arrange(session)
    out = tmp_path / "readings-2026-11.csv"
    assert await run_export(cli_settings, "2026-11", str(out)) == 0
    content = out.read_bytes().decode("utf-8")
    assert content.splitlines()[0] == "account;meter;zone;reading_date;value;source;submitted_at"
    assert len(content.splitlines()) == 3
    assert "2 строки" in capsys.readouterr().err


async def test_command_refuses_a_bad_period(
    cli_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_export(cli_settings, "ноябрь", None) == 2
    assert "ГГГГ-ММ" in capsys.readouterr().err


async def test_command_writes_to_stdout_by_default(
    session: AsyncSession, cli_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await _arrange(session)
    assert await run_export(cli_settings, "2026-11", None) == 0
    assert capsys.readouterr().out.startswith("account;meter;zone;")
