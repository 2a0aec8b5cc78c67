"""Registry CSV: the row parser (with property tests), import round trip, idempotency, atomicity."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.import_registry import run_import
from bot.texts import accounts as texts
from models import Account, Meter, Reading, ReadingSource
from services import registry
from services.registry import HEADER, Problem, RegistryRow, parse_rows
from tests.conftest import make_settings

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HEAD = ";".join(HEADER)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registry-example.csv"


def line(**overrides: str) -> str:
    fields = {
        "account": "7400000101", "surname": "Иванов", "first_name": "Иван",
        "patronymic": "Петрович", "address": "г. Магнитогорск, ул. Металлургов, д. 5",
        "meter": "01234567", "zones": "2", "digits": "6", "verified_until": "31.12.2031",
        "reading_date": "20.11.2026", "t1": "12345,6", "t2": "100.25", "t3": "",
    }  # fmt: skip
    fields.update(overrides)
    return ";".join(fields[h] for h in HEADER)


# --- values ------------------------------------------------------------------------------


@given(st.decimals(min_value=0, max_value=Decimal("9999999.99"), places=2))
def test_decimal_round_trip(value: Decimal) -> None:
    assert registry.parse_decimal(registry.format_decimal(value)) == value
    assert registry.parse_decimal(registry.format_decimal(value).replace(",", ".")) == value


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)))
def test_date_round_trip(value: date) -> None:
    assert registry.parse_date(registry.format_date(value)) == value


@pytest.mark.parametrize("text", ["", "-1", "1e3", "1 000", "12,", ",5", "1,2,3", "abc", "NaN"])
def test_bad_decimals_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        registry.parse_decimal(text)


@pytest.mark.parametrize("text", ["2026-11-20", "31.02.2026", "1.1.26", "20/11/2026", ""])
def test_bad_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        registry.parse_date(text)


# --- rows --------------------------------------------------------------------------------

names = st.text(
    alphabet="АБВГДЕЁЖЗИКЛМНОПРСТУФХЦЧШЩЭЮЯабвгдеёжзиклмнопрстуфхцчшщэюя-", min_size=1, max_size=30
)


@st.composite
def registry_rows(draw: st.DrawFn) -> RegistryRow:
    zones = draw(st.integers(1, 3))
    digits = draw(st.integers(4, 9))
    reading_date = draw(st.none() | st.dates(date(2000, 1, 1), date(2100, 1, 1)))
    limit = Decimal(10) ** digits - Decimal("0.01")
    values: tuple[Decimal, ...] = ()
    if reading_date is not None:
        values = tuple(
            draw(st.decimals(min_value=0, max_value=limit, places=2)) for _ in range(zones)
        )
    return RegistryRow(
        line=2,
        account=draw(st.from_regex(r"[0-9]{4,20}", fullmatch=True)),
        surname=draw(names),
        first_name=draw(names),
        patronymic=draw(st.none() | names),
        address=draw(st.text(alphabet="абв ;\"',.0123456789", min_size=1, max_size=60).filter(
            lambda a: a.strip() == a and "  " not in a and a != ""
        )),
        meter=draw(st.from_regex(r"[0-9A-Z\-/.]{1,40}", fullmatch=True)),
        zones=zones,
        digits=digits,
        verified_until=draw(st.none() | st.dates(date(2000, 1, 1), date(2100, 1, 1))),
        reading_date=reading_date,
        values=values,
    )  # fmt: skip


@given(registry_rows())
def test_row_round_trip(row: RegistryRow) -> None:
    rows, errors = parse_rows([HEAD + "\n", registry.format_row(row)])
    assert errors == []
    assert rows == [row]


@given(st.lists(st.text(max_size=30), min_size=0, max_size=15))
def test_parser_never_crashes_on_garbage(fields: list[str]) -> None:
    rows, errors = parse_rows([HEAD, ";".join(fields)])
    assert len(rows) + len(errors) <= 1
    assert all(e.line == 2 for e in errors)


def test_bom_and_bytes_and_blank_lines_are_fine() -> None:
    rows, errors = parse_rows([("\ufeff" + HEAD + "\n").encode(), b"\n", (line() + "\n").encode()])
    assert errors == []
    assert rows[0].values == (Decimal("12345.6"), Decimal("100.25"))
    assert rows[0].line == 3


@pytest.mark.parametrize(
    ("overrides", "problem", "column"),
    [
        ({"zones": "4"}, Problem.BAD_ZONES, "zones"),
        ({"digits": "3"}, Problem.BAD_DIGITS, "digits"),
        ({"account": "74-AB"}, Problem.BAD_ACCOUNT, "account"),
        ({"surname": " "}, Problem.REQUIRED, "surname"),
        ({"reading_date": "2026-11-20"}, Problem.BAD_DATE, "reading_date"),
        ({"t1": "12,3,4"}, Problem.BAD_NUMBER, "t1"),
        ({"t1": "1000000"}, Problem.VALUE_TOO_BIG, "t1"),
        ({"t2": ""}, Problem.REQUIRED, "t2"),
        ({"t3": "5"}, Problem.UNUSED_ZONE, "t3"),
        ({"reading_date": ""}, Problem.NO_READING_DATE, "reading_date"),
    ],
)
def test_each_bad_field_is_named(overrides: dict[str, str], problem: Problem, column: str) -> None:
    rows, errors = parse_rows([HEAD, line(**overrides)])
    assert rows == []
    assert [(e.line, e.problem, e.column) for e in errors] == [(2, problem, column)]


def test_cross_row_checks_and_every_bad_line_reported() -> None:
    rows, errors = parse_rows(
        [
            HEAD,
            line(),
            line(),  # the same meter again
            line(meter="2", address="другой адрес"),  # the account's address differs
            "short;line",
            b"\xff\xfe;broken",
            line(meter="3"),
        ]
    )
    assert [r.line for r in rows] == [2, 7]
    assert [(e.line, e.problem, e.other_line) for e in errors] == [
        (3, Problem.DUPLICATE_METER, 2),
        (4, Problem.ACCOUNT_MISMATCH, 2),
        (5, Problem.FIELD_COUNT, None),
        (6, Problem.BAD_ENCODING, None),
    ]


@pytest.mark.parametrize(
    ("overrides", "problem", "column"),
    [
        ({"t1": "1" * 27}, Problem.VALUE_TOO_BIG, "t1"),
        ({"t1": "9" * 40 + ",5"}, Problem.VALUE_TOO_BIG, "t1"),
        ({"t1": "1," + "1" * 30}, Problem.VALUE_TOO_BIG, "t1"),
        ({"zones": "²"}, Problem.BAD_ZONES, "zones"),
        ({"digits": "⁶"}, Problem.BAD_DIGITS, "digits"),
        ({"digits": "٦"}, Problem.BAD_DIGITS, "digits"),
        ({"account": "٧٤٠٠٠٠٠١٠١"}, Problem.BAD_ACCOUNT, "account"),  # Arabic-Indic
        ({"account": "７４００００１０１"}, Problem.BAD_ACCOUNT, "account"),  # full-width
        ({"t1": "１２３"}, Problem.BAD_NUMBER, "t1"),
        ({"reading_date": "２０.11.2026"}, Problem.BAD_DATE, "reading_date"),
    ],
)
def test_huge_values_and_non_ascii_digits_are_bad_lines(
    overrides: dict[str, str], problem: Problem, column: str
) -> None:
    """Once a traceback (decimal.InvalidOperation, int('²')) or an account number in Arabic
    digits stored and exported; now each is a bad line with its reason."""
    rows, errors = parse_rows([HEAD, line(**overrides)])
    assert rows == []
    assert [(e.line, e.problem, e.column) for e in errors] == [(2, problem, column)]


def test_values_at_the_limits_pass() -> None:
    rows, errors = parse_rows([HEAD, line(digits="9", t1="999999999,99", t2="000000000001,10")])
    assert errors == []
    assert rows[0].values == (Decimal("999999999.99"), Decimal("1.10"))


def test_broken_quoting_is_a_bad_line_and_swallows_nothing() -> None:
    """`…;"ул. Мира; "кв" 5;…` was once imported with a mangled address; an unclosed quote
    used to eat the lines after it."""
    mangled = line(address='"ул. Мира; "кв" 5"')
    unclosed = line(meter="M2", address='"ул. Мира, д. 5')
    quoted = line(meter="M3", address='"г. Магнитогорск, ул. Металлургов, д. 5"')
    rows, errors = parse_rows([HEAD, mangled, unclosed, quoted, line(meter="M4")])
    assert [(e.line, e.problem) for e in errors] == [(2, Problem.BAD_CSV), (3, Problem.BAD_CSV)]
    assert [r.line for r in rows] == [4, 5]  # a well-quoted field is fine


FIELD_NOISE = st.text(
    alphabet=st.sampled_from(list("0123456789;\"',. -/²٣７abcАБВ\t\r")), max_size=25
)


@given(st.dictionaries(st.sampled_from(HEADER), FIELD_NOISE, max_size=5), st.integers(0, 3))
def test_any_csv_line_is_either_a_row_or_one_reported_error(
    noise: dict[str, str], extra_fields: int
) -> None:
    """Whole CSV lines with random damage (quotes, separators, exotic digits, huge numbers) in
    random fields: parsing never raises, each line is a row or exactly one error, and what is
    accepted is within every limit."""
    text = line(**noise) + ";x" * extra_fields
    rows, errors = parse_rows([HEAD, text, line(meter="SENTINEL")])
    assert [r.meter for r in rows if r.line == 3] == ["SENTINEL"] or any(
        e.line == 3 for e in errors
    )
    second = [r for r in rows if r.line == 2] + [e for e in errors if e.line == 2]
    assert len(second) == 1
    for row in rows:
        assert row.account.isascii() and 4 <= len(row.account) <= 20
        assert 1 <= row.zones <= 3 and 4 <= row.digits <= 9
        assert len(row.address) <= registry.MAX_ADDRESS
        for value in row.values:
            assert value < Decimal(10) ** row.digits
            assert value == value.quantize(Decimal("0.01"))


def test_header_must_match_exactly() -> None:
    rows, errors = parse_rows([HEAD.replace("t3", "t4"), line()])
    assert rows == [] and errors[0].problem is Problem.BAD_HEADER
    assert parse_rows([])[1][0].problem is Problem.EMPTY_FILE


# --- import ----------------------------------------------------------------------------------


async def _counts(session: AsyncSession) -> tuple[int, int, int, int]:
    async def count(model: type) -> int:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    live = await session.scalar(
        select(func.count()).select_from(Reading).where(Reading.replaced_by_id.is_(None))
    )
    return await count(Account), await count(Meter), await count(Reading), int(live or 0)


async def test_round_trip_and_idempotency(session: AsyncSession) -> None:
    with EXAMPLE.open("rb") as stream:
        rows, errors = parse_rows(stream)
    assert errors == []
    first = await registry.import_rows(session, rows, now=NOW)
    assert (first.accounts.created, first.meters.created, first.readings.created) == (4, 5, 7)
    assert await _counts(session) == (4, 5, 7, 7)

    account = await session.scalar(select(Account).where(Account.number == "7400000103"))
    assert account is not None and account.address.startswith("г. Магнитогорск; пос.")
    assert account.holder_patronymic is None
    reading = await session.scalar(
        select(Reading).join(Meter).where(Meter.serial_number == "11223344", Reading.zone == 2)
    )
    assert reading is not None
    assert reading.value == Decimal("3010.10") and reading.period == date(2026, 11, 1)
    assert reading.source is ReadingSource.BILLING and reading.taken_on == date(2026, 11, 19)

    again = await registry.import_rows(session, rows, now=NOW)
    assert (again.accounts.unchanged, again.meters.unchanged, again.readings.unchanged) == (4, 5, 7)
    assert again.accounts.created == again.meters.created == again.readings.created == 0
    assert await _counts(session) == (4, 5, 7, 7)


async def test_import_on_a_connection_that_already_used_temporary_tables(
    session: AsyncSession,
) -> None:
    """PostgreSQL fixes a session's `temp_buffers` when it first touches a temporary table: an
    import on such a pooled connection keeps the default and imports all the same."""
    await session.execute(text("CREATE TEMPORARY TABLE earlier (x integer)"))
    await session.execute(text("INSERT INTO earlier VALUES (1)"))
    await session.commit()
    rows, _ = parse_rows([HEAD, line()])
    summary = await registry.import_rows(session, rows, now=NOW)
    assert (summary.accounts.created, summary.meters.created, summary.readings.created) == (1, 1, 2)
    assert await session.scalar(text("SELECT count(*) FROM earlier")) == 1  # the same connection


async def test_changed_values_update_and_keep_history(session: AsyncSession) -> None:
    rows, _ = parse_rows([HEAD, line()])
    await registry.import_rows(session, rows, now=NOW)
    rows, _ = parse_rows(
        [HEAD, line(address="г. Магнитогорск, ул. Новая, д. 1", t1="12400", digits="7")]
    )
    summary = await registry.import_rows(session, rows, now=NOW)
    assert (summary.accounts.updated, summary.meters.updated) == (1, 1)
    assert (summary.readings.updated, summary.readings.unchanged) == (1, 1)
    assert await _counts(session) == (1, 1, 3, 2)
    old, new = (
        await session.scalars(select(Reading).where(Reading.zone == 1).order_by(Reading.id))
    ).all()
    assert old.replaced_by_id == new.id and new.replaced_by_id is None
    assert new.value == Decimal("12400")


async def test_cli_reports_every_bad_line_and_changes_nothing(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, db_url)
    good = tmp_path / "good.csv"
    good.write_text(HEAD + "\n" + line() + "\n", encoding="utf-8-sig")
    assert await run_import(settings, str(good)) == 0
    assert "лицевые счета: создано 1" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "\n".join([HEAD, line(t1="99"), line(meter="X1", zones="5"), line(meter="X2", t1="abc")]),
        encoding="utf-8",
    )
    assert await run_import(settings, str(bad)) == 1
    err = capsys.readouterr().err
    assert "строка 3: zones «5»" in err and "строка 4: поле t1: «abc» — не число" in err
    assert "ничего не изменено" in err

    from bot.db import create_engine, create_session_factory

    engine = create_engine(db_url)
    try:
        async with create_session_factory(engine)() as session:
            assert await _counts(session) == (1, 1, 2, 2)
            value = await session.scalar(select(Reading.value).where(Reading.zone == 1))
            assert value == Decimal("12345.6")  # line 2's change was not applied either
    finally:
        await engine.dispose()


# --- streaming import ------------------------------------------------------------------------


def test_error_log_keeps_every_line_and_the_first_errors_in_full() -> None:
    log = registry.ErrorLog(limit=3)
    for number in (9, 4, 12, 2, 7, 5, 6, 30):  # cross-line errors arrive after the lines' own
        log.add(registry.RowError(number, Problem.BAD_CSV))
    assert len(log) == 8
    assert [e.line for e in log.shown()] == [2, 4, 5]
    assert log.more_lines() == [6, 7, 9, 12, 30]
    assert texts.registry_more_errors(log.more_lines()) == (
        "…и ещё 5 ошибочных строк: 6–7, 9, 12, 30"
    )


def _file(*lines: str) -> list[bytes]:
    return [(text + "\n").encode() for text in (HEAD, *lines)]


async def test_streaming_checks_across_lines_as_parse_rows_does(session: AsyncSession) -> None:
    """Duplicate meters and diverging holders, spread over many small batches, reported with
    the same lines and references as the in-memory parser; nothing is written."""
    rng = random.Random(15)
    lines = []
    for _ in range(120):
        account = f"740000{rng.randint(1, 12):04d}"
        holder = rng.choice([{}, {}, {}, {"address": "другой адрес"}, {"patronymic": ""}])
        lines.append(line(account=account, meter=f"M{rng.randint(1, 15)}", **holder))
    lines[40] = line(t1="abc")  # a line's own error among them
    expected_rows, expected = parse_rows(_file(*lines))
    assert {e.problem for e in expected} == {
        Problem.DUPLICATE_METER, Problem.ACCOUNT_MISMATCH, Problem.BAD_NUMBER
    }  # fmt: skip
    result = await registry.import_registry(session, _file(*lines), now=NOW, batch=7)
    assert result.summary is None
    assert result.errors.shown() == expected
    assert await _counts(session) == (0, 0, 0, 0)
    assert len(expected_rows) + len(expected) == 120


async def test_streaming_import_in_batches_then_a_late_bad_line_changes_nothing(
    session: AsyncSession,
) -> None:
    good = [line(account=f"74000{n:05d}", meter=f"S{n}", t1=f"{n},5") for n in range(1, 58)]
    steps: list[tuple[int, int]] = []
    result = await registry.import_registry(
        session, _file(*good), now=NOW, batch=10, progress=lambda *step: steps.append(step)
    )
    assert result.summary is not None and len(result.errors) == 0
    assert (result.summary.rows, result.summary.accounts.created) == (57, 57)
    assert (result.summary.meters.created, result.summary.readings.created) == (57, 114)
    assert steps[-1] == (registry.APPLY_STEPS, registry.APPLY_STEPS)

    changed = [line(account=f"74000{n:05d}", meter=f"S{n}", t1=f"{n},7") for n in range(1, 58)]
    changed.append(line(account="7400099999", meter="NEW"))
    late = [*changed, line(account="7400099998", meter="X", zones="7")]
    result = await registry.import_registry(session, _file(*late), now=NOW, batch=10)
    assert result.summary is None
    assert [(e.line, e.problem) for e in result.errors.shown()] == [(60, Problem.BAD_ZONES)]
    assert await _counts(session) == (57, 57, 114, 114)
    values = set((await session.scalars(select(Reading.value).where(Reading.zone == 1))).all())
    assert values == {Decimal(f"{n}.5") for n in range(1, 58)}

    result = await registry.import_registry(session, _file(*changed), now=NOW, batch=10)
    assert result.summary is not None
    assert (result.summary.accounts.created, result.summary.accounts.unchanged) == (1, 57)
    assert (result.summary.readings.updated, result.summary.readings.unchanged) == (57, 57)
    assert await _counts(session) == (58, 58, 173, 116)  # 57 replaced kept as history


async def test_cli_prints_the_first_errors_and_the_numbers_of_the_rest(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of bad lines: the first MAX_SHOWN in full, the rest as line ranges, the total."""
    settings = make_settings(tmp_path, db_url)
    bad = tmp_path / "bad.csv"
    lines = [line(meter="D")] + [line(meter=f"M{n}", zones="0") for n in range(1005)]
    lines.insert(600, line(meter="D"))  # a duplicate meter among them, found after the rest
    bad.write_text("\n".join([HEAD, *lines]) + "\n", encoding="utf-8")
    assert await run_import(settings, str(bad)) == 1
    err = capsys.readouterr().err.splitlines()
    assert len([e for e in err if e.startswith("строка ")]) == registry.MAX_SHOWN
    assert "строка 602: счётчик D этого лицевого счёта уже был в строке 2" in err
    assert err[-2] == "…и ещё 6 ошибочных строк: 1003–1008"
    assert err[-1].startswith("Реестр не загружен: 1006 ошибок.")
