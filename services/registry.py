"""The billing registry: parsing its CSV (accounts × meters × last readings) and importing it.

The billing system is the source of accounts and meters. A file is validated completely before
anything is written, and imported in one transaction with bulk queries, so a bad line changes
nothing and 100 000 rows take seconds. `parse_decimal`/`parse_date`/`format_*` are shared with
the readings export so both directions speak the same format.
"""

from __future__ import annotations

import asyncio
import csv
import enum
import heapq
import logging
import re
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Column,
    CursorResult,
    Date,
    Executable,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.schema import CreateIndex, CreateTable

from models import Account, Meter, Reading, ReadingSource, ReadingStatus, SubscriberType
from services.periods import period_of

log = logging.getLogger(__name__)

HEADER: tuple[str, ...] = (
    "account",
    "surname",
    "first_name",
    "patronymic",
    "address",
    "meter",
    "zones",
    "digits",
    "verified_until",
    "reading_date",
    "t1",
    "t2",
    "t3",
)
DELIMITER = ";"
# ASCII digits only: `\d` would admit Arabic-Indic, full-width and other Unicode digits.
ACCOUNT_NUMBER = re.compile(r"[0-9]{4,20}")
METER_SERIAL = re.compile(r"[0-9A-Za-zА-Яа-яЁё\-/.]{1,40}")
_DECIMAL = re.compile(r"[+]?([0-9]+)(?:[.,]([0-9]+))?")
_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
MAX_FRACTION = 2  # kWh readings carry at most two decimals
MAX_NAME = 100
MAX_ADDRESS = 300
BATCH = 5000  # rows staged per executemany or COPY
MAX_SHOWN = 1000  # bad lines reported in full; the numbers of the rest are kept
WORK_MEM = "256MB"  # PostgreSQL, for the import's transaction only: sorts of a million rows
TEMP_BUFFERS = "512MB"  # PostgreSQL: the staged rows of a million-line file, in memory


class Problem(enum.StrEnum):
    """Why a line was refused; `bot.texts.accounts.registry_problem` words each one."""

    EMPTY_FILE = "empty_file"
    BAD_HEADER = "bad_header"
    BAD_ENCODING = "bad_encoding"
    BAD_CSV = "bad_csv"
    FIELD_COUNT = "field_count"
    REQUIRED = "required"
    TOO_LONG = "too_long"
    BAD_ACCOUNT = "bad_account"
    BAD_METER = "bad_meter"
    BAD_ZONES = "bad_zones"
    BAD_DIGITS = "bad_digits"
    BAD_DATE = "bad_date"
    BAD_NUMBER = "bad_number"
    VALUE_TOO_BIG = "value_too_big"
    UNUSED_ZONE = "unused_zone"
    NO_READING_DATE = "no_reading_date"
    DUPLICATE_METER = "duplicate_meter"
    ACCOUNT_MISMATCH = "account_mismatch"


@dataclass(frozen=True, slots=True)
class RowError:
    """A refused line: its 1-based physical number in the file (the header is line 1)."""

    line: int
    problem: Problem
    column: str | None = None
    value: str | None = None
    other_line: int | None = None


class RowInvalid(ValueError):
    def __init__(self, error: RowError) -> None:
        super().__init__(f"line {error.line}: {error.problem}")
        self.error = error


@dataclass(slots=True)
class RegistryRow:
    """One meter of one account, with the billing's last reading (if any) per zone (not frozen:
    a frozen dataclass takes twice as long to build, and a million are built per import)."""

    line: int
    account: str
    surname: str
    first_name: str
    patronymic: str | None
    address: str
    meter: str
    zones: int
    digits: int
    verified_until: date | None
    reading_date: date | None
    values: tuple[Decimal, ...]  # one per zone when reading_date is set, else empty


# ------------------------------------------------------------------- values


def parse_decimal(text: str) -> Decimal:
    """«1234,5» or «1234.50» → Decimal; no signs but «+», no exponents, no thousands separators."""
    match = _DECIMAL.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a decimal: {text!r}")
    whole, fraction = match.group(1), match.group(2)
    try:
        return Decimal(f"{whole}.{fraction}" if fraction is not None else whole)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise ValueError(f"not a decimal: {text!r}") from exc


def fits_meter(text: str, digits: int) -> bool:
    """Whether a reading spelled `text` (already a decimal) fits a meter of `digits` whole
    digits with at most two decimals; counts digits in the text, so a 30-digit value is
    refused without any Decimal arithmetic (which would overflow its context)."""
    match = _DECIMAL.fullmatch(text.strip())
    if match is None:
        return False
    whole = match.group(1).lstrip("0")
    fraction = (match.group(2) or "").rstrip("0")
    return len(whole) <= digits and len(fraction) <= MAX_FRACTION


def format_decimal(value: Decimal) -> str:
    """The registry's spelling of a reading: a comma, two decimals («1234,50»)."""
    return f"{value.quantize(Decimal('0.01')):.2f}".replace(".", ",")


def parse_date(text: str) -> date:
    """«05.11.2026» → date(2026, 11, 5); raises ValueError on anything else."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a DD.MM.YYYY date: {text!r}")
    day, month, year = (int(g) for g in match.groups())
    return date(year, month, day)


def format_date(value: date) -> str:
    return value.strftime("%d.%m.%Y")


# ------------------------------------------------------------------- rows


def _text(raw: str, column: str, line: int, *, limit: int, required: bool = True) -> str | None:
    value = " ".join(raw.split())
    if not value:
        if required:
            raise RowInvalid(RowError(line, Problem.REQUIRED, column))
        return None
    if len(value) > limit:
        raise RowInvalid(RowError(line, Problem.TOO_LONG, column, value[:40]))
    return value


@lru_cache(maxsize=4096)
def _known_date(text: str) -> date:
    """`parse_date` remembered: a registry has a few hundred distinct dates in a million rows."""
    return parse_date(text)


def _date_field(raw: str, column: str, line: int) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return _known_date(raw)
    except ValueError:
        raise RowInvalid(RowError(line, Problem.BAD_DATE, column, raw)) from None


def _small_ints(allowed: range) -> dict[str, int]:
    """Every spelling of one or two ASCII digits (`5`, `05`) whose value is allowed."""
    spellings = [str(n) for n in range(10)] + [f"{n:02d}" for n in range(100)]
    return {text: int(text) for text in spellings if int(text) in allowed}


_ZONES = _small_ints(range(1, 4))
_DIGITS = _small_ints(range(4, 10))


def _reading(raw: str, column: str, digits: int, line: int) -> Decimal:
    """`parse_decimal` and `fits_meter` in one match: this runs for every zone of every row."""
    match = _DECIMAL.fullmatch(raw)
    if match is None:
        raise RowInvalid(RowError(line, Problem.BAD_NUMBER, column, raw[:40]))
    whole, fraction = match.groups()
    if len(whole.lstrip("0")) > digits or (
        fraction is not None and len(fraction.rstrip("0")) > MAX_FRACTION
    ):
        raise RowInvalid(RowError(line, Problem.VALUE_TOO_BIG, column, raw[:40]))
    return Decimal(f"{whole}.{fraction}" if fraction is not None else whole)


def parse_row(values: Sequence[str], line: int) -> RegistryRow:
    """Validate one data line (already split on `;`); raises RowInvalid naming the first problem."""
    if len(values) != len(HEADER):
        raise RowInvalid(RowError(line, Problem.FIELD_COUNT, value=str(len(values))))
    (account, surname_raw, first_name_raw, patronymic_raw, address_raw, meter, zones_raw,
     digits_raw, verified_raw, reading_raw, *zone_values) = values  # fmt: skip
    account = account.strip()
    if not account:
        raise RowInvalid(RowError(line, Problem.REQUIRED, "account"))
    if not ACCOUNT_NUMBER.fullmatch(account):
        raise RowInvalid(RowError(line, Problem.BAD_ACCOUNT, "account", account[:40]))
    surname = _text(surname_raw, "surname", line, limit=MAX_NAME)
    first_name = _text(first_name_raw, "first_name", line, limit=MAX_NAME)
    patronymic = _text(patronymic_raw, "patronymic", line, limit=MAX_NAME, required=False)
    address = _text(address_raw, "address", line, limit=MAX_ADDRESS)
    meter = meter.strip()
    if not meter:
        raise RowInvalid(RowError(line, Problem.REQUIRED, "meter"))
    if not METER_SERIAL.fullmatch(meter):
        raise RowInvalid(RowError(line, Problem.BAD_METER, "meter", meter[:40]))
    zones = _ZONES.get(zones_raw.strip())
    if zones is None:
        raise RowInvalid(RowError(line, Problem.BAD_ZONES, "zones", zones_raw.strip()))
    digits = _DIGITS.get(digits_raw.strip())
    if digits is None:
        raise RowInvalid(RowError(line, Problem.BAD_DIGITS, "digits", digits_raw.strip()))
    verified_until = _date_field(verified_raw, "verified_until", line)
    reading_date = _date_field(reading_raw, "reading_date", line)
    readings: list[Decimal] = []
    for zone, column, raw in zip((1, 2, 3), ("t1", "t2", "t3"), zone_values, strict=True):
        raw = raw.strip()
        if zone > zones:
            if raw:
                raise RowInvalid(RowError(line, Problem.UNUSED_ZONE, column, raw[:40]))
            continue
        if not raw:
            if reading_date is not None:
                raise RowInvalid(RowError(line, Problem.REQUIRED, column))
            continue
        if reading_date is None:
            raise RowInvalid(RowError(line, Problem.NO_READING_DATE, "reading_date"))
        readings.append(_reading(raw, column, digits, line))
    assert surname is not None and first_name is not None and address is not None
    return RegistryRow(
        line=line,
        account=account,
        surname=surname,
        first_name=first_name,
        patronymic=patronymic,
        address=address,
        meter=meter,
        zones=zones,
        digits=digits,
        verified_until=verified_until,
        reading_date=reading_date,
        values=tuple(readings),
    )


class _Lines:
    """Feeds csv.reader while remembering which physical lines were not valid UTF-8."""

    def __init__(self, lines: Iterable[str | bytes]) -> None:
        self._lines = iter(lines)
        self.number = 0
        self.undecodable: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = next(self._lines)
        self.number += 1
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.undecodable.add(self.number)
                text = raw.decode("utf-8", errors="replace")
        else:
            text = raw
        if self.number == 1:
            text = text.removeprefix("\ufeff")
        return text


def _split(text: str) -> list[str]:
    """One physical line split on `;` with CSV quoting; raises csv.Error on broken quoting (a
    stray quote inside a quoted field, a quote left open to the end of the line). A line with
    no quote and no carriage return inside reads the same as a plain split, which is faster."""
    text = text.rstrip("\r\n")
    if '"' not in text and "\r" not in text and "\n" not in text:
        return text.split(DELIMITER) if text else []
    reader = csv.reader([text], delimiter=DELIMITER, quotechar='"', strict=True)
    return next(reader, [])


def _header_error(source: _Lines) -> RowError | None:
    """Reads the first line: None when it is the expected header, else the file's one error."""
    first = next(source, None)
    if first is None or not first.strip():
        return RowError(1, Problem.EMPTY_FILE)
    try:
        header = _split(first)
    except csv.Error:
        header = [first.strip()]
    if tuple(h.strip() for h in header) != HEADER:
        return RowError(1, Problem.BAD_HEADER, value=DELIMITER.join(header)[:120])
    return None


def _each_line(source: _Lines) -> Iterator[RegistryRow | RowError]:
    """The data lines after the header, each checked on its own: a row or that line's error
    (blank lines are harmless and skipped). Checks across lines are the caller's."""
    for text in source:
        line = source.number
        if line in source.undecodable:
            yield RowError(line, Problem.BAD_ENCODING)
            continue
        if not text.strip():
            continue
        try:
            values = _split(text)
        except csv.Error:
            yield RowError(line, Problem.BAD_CSV)
            continue
        try:
            yield parse_row(values, line)
        except RowInvalid as exc:
            yield exc.error


def parse_rows(lines: Iterable[str | bytes]) -> tuple[list[RegistryRow], list[RowError]]:
    """Parse a whole registry (header first) in memory; returns the good rows and every bad line.

    One line of the file is one record (an address never spans lines), so broken quoting is
    reported on its own line and cannot swallow the lines after it. `lines` may be text or
    raw bytes (a file opened in binary mode); a UTF-8 BOM is allowed. Besides each line's own
    checks: a meter may appear once per account, and an account's holder and address must be
    the same on all its lines (the first good line of a meter or an account is the reference).
    `import_registry` applies the same rules to a file of any size with bounded memory.
    """
    source = _Lines(lines)
    bad_header = _header_error(source)
    if bad_header is not None:
        return [], [bad_header]
    rows: list[RegistryRow] = []
    errors: list[RowError] = []
    seen_meters: dict[tuple[str, str], int] = {}
    accounts: dict[str, RegistryRow] = {}
    for item in _each_line(source):
        if isinstance(item, RowError):
            errors.append(item)
            continue
        row, line = item, item.line
        key = (row.account, row.meter)
        if key in seen_meters:
            errors.append(
                RowError(line, Problem.DUPLICATE_METER, "meter", row.meter, seen_meters[key])
            )
            continue
        seen_meters[key] = line
        first_row = accounts.setdefault(row.account, row)
        if _holder(first_row) != _holder(row):
            errors.append(
                RowError(line, Problem.ACCOUNT_MISMATCH, "account", row.account, first_row.line)
            )
            continue
        rows.append(row)
    return rows, errors


def _holder(row: RegistryRow) -> tuple[str, str, str | None, str]:
    return row.surname, row.first_name, row.patronymic, row.address


def format_row(row: RegistryRow) -> str:
    """The line `parse_row` reads back as `row` (used by tests and the example generator)."""
    values = [format_decimal(v) for v in row.values] + [""] * (3 - len(row.values))
    fields = [
        row.account,
        row.surname,
        row.first_name,
        row.patronymic or "",
        row.address,
        row.meter,
        str(row.zones),
        str(row.digits),
        format_date(row.verified_until) if row.verified_until else "",
        format_date(row.reading_date) if row.reading_date else "",
        *values,
    ]
    buffer: list[str] = []
    writer = csv.writer(_ListWriter(buffer), delimiter=DELIMITER, lineterminator="\n")
    writer.writerow(fields)
    return buffer[0]


class _ListWriter:
    def __init__(self, target: list[str]) -> None:
        self._target = target

    def write(self, text: str) -> int:
        self._target.append(text)
        return len(text)


# ------------------------------------------------------------------- import


@dataclass(slots=True)
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(slots=True)
class ImportSummary:
    rows: int = 0
    accounts: Counts = field(default_factory=Counts)
    meters: Counts = field(default_factory=Counts)
    readings: Counts = field(default_factory=Counts)


Progress = Callable[[int, int], None]  # (done, total) steps


class ErrorLog:
    """Every bad line of a file: all their numbers, and the errors themselves for the first
    `limit` lines only, so a file of a million bad lines still fits in memory. Errors may be
    added in any order (checks across lines come after the lines' own); one error per line."""

    def __init__(self, limit: int = MAX_SHOWN) -> None:
        self.limit = limit
        self._lines = array("q")
        self._kept: list[tuple[int, RowError]] = []  # a max-heap by line: (-line, error)

    def add(self, error: RowError) -> None:
        self._lines.append(error.line)
        item = (-error.line, error)
        if len(self._kept) < self.limit:
            heapq.heappush(self._kept, item)
        elif self._kept and error.line < -self._kept[0][0]:
            heapq.heapreplace(self._kept, item)

    def __len__(self) -> int:
        return len(self._lines)

    def shown(self) -> list[RowError]:
        """The errors kept in full, in line order: those of the first `limit` bad lines."""
        return sorted((error for _, error in self._kept), key=lambda error: error.line)

    def more_lines(self) -> list[int]:
        """The numbers of the bad lines after those `shown()`, in order."""
        return sorted(self._lines)[len(self._kept) :]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What `import_registry` did: a summary when the file was imported, else every bad line
    (and then nothing in the database changed)."""

    summary: ImportSummary | None
    errors: ErrorLog


# The file's good rows are staged in temporary tables of the importing connection: the checks
# across lines and the import itself are a few set-based statements each, whatever the size.
_TEMPORARY = MetaData()
STAGE = Table(
    "registry_stage",
    _TEMPORARY,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("account", String(20), nullable=False),
    Column("surname", String(MAX_NAME), nullable=False),
    Column("first_name", String(MAX_NAME), nullable=False),
    Column("patronymic", String(MAX_NAME)),
    Column("address", String(MAX_ADDRESS), nullable=False),
    Column("meter", String(40), nullable=False),
    Column("zones", SmallInteger, nullable=False),
    Column("digits", SmallInteger, nullable=False),
    Column("verified_until", Date),
    Column("reading_date", Date),
    Column("period", Date),
    Column("t1", Numeric(14, 2)),
    Column("t2", Numeric(14, 2)),
    Column("t3", Numeric(14, 2)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
STAGE_ACCOUNTS = Table(
    "registry_stage_accounts",
    _TEMPORARY,
    Column("account", String(20), nullable=False),
    Column("surname", String(MAX_NAME), nullable=False),
    Column("first_name", String(MAX_NAME), nullable=False),
    Column("patronymic", String(MAX_NAME)),
    Column("address", String(MAX_ADDRESS), nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
STAGE_READINGS = Table(
    "registry_stage_readings",
    _TEMPORARY,
    Column("meter_id", Integer, nullable=False),
    Column("zone", SmallInteger, nullable=False),
    Column("period", Date, nullable=False),
    Column("value", Numeric(14, 2), nullable=False),
    Column("taken_on", Date, nullable=False),
    Column("live_id", Integer),
    Column("live_value", Numeric(14, 2)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_STAGED_COLUMNS = [column.name for column in STAGE.columns]
# SQLite's `UPDATE … FROM` looks accounts up by number; PostgreSQL hashes both sides instead, and
# an index filled row by row would cost it more than the grouping itself.
STAGE_ACCOUNTS_NUMBER = Index("ix_registry_stage_accounts", STAGE_ACCOUNTS.c.account, unique=True)


async def _local_temp_buffers(connection: AsyncConnection) -> None:
    """PostgreSQL: a larger `temp_buffers` for this transaction, so the staged rows stay in
    memory rather than going through the server's 8 MB default. It can only be set before the
    session first touches a temporary table: on a connection that already has, the default
    stays (tried in a savepoint so the transaction goes on)."""
    try:
        async with connection.begin_nested():
            await connection.exec_driver_sql(f"SET LOCAL temp_buffers = '{TEMP_BUFFERS}'")
    except DBAPIError:
        log.debug("registry: temp_buffers already fixed for this connection")


_NO_VALUES: tuple[None, ...] = (None, None, None)


@lru_cache(maxsize=4096)
def _sqlite_dates(day: date) -> tuple[str, str]:
    """A reading date and its period as SQLAlchemy stores dates in SQLite (few distinct)."""
    return day.isoformat(), period_of(day).isoformat()


def _staged(row: RegistryRow, sqlite: bool) -> tuple[object, ...]:
    """A row as the staging table takes it: for SQLite in the storage format SQLAlchemy uses
    (ISO dates, floats for numerics); for asyncpg's COPY as Python values."""
    values = (*row.values, *_NO_VALUES[len(row.values) :])
    taken, verified = row.reading_date, row.verified_until
    if sqlite:
        taken_text, period_text = _sqlite_dates(taken) if taken else (None, None)
        return (
            row.line, row.account, row.surname, row.first_name, row.patronymic, row.address,
            row.meter, row.zones, row.digits, _sqlite_dates(verified)[0] if verified else None,
            taken_text, period_text, *(float(v) if v is not None else None for v in values),
        )  # fmt: skip
    return (
        row.line, row.account, row.surname, row.first_name, row.patronymic, row.address,
        row.meter, row.zones, row.digits, verified, taken, period_of(taken) if taken else None,
        *values,
    )  # fmt: skip


class _Staging:
    """The temporary tables on the session's connection, and loading rows into them in batches
    (executemany of the raw driver on SQLite, COPY on PostgreSQL)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.rows = 0
        self.sqlite = False

    async def create(self) -> None:
        connection = await self.session.connection()
        self.sqlite = connection.dialect.name == "sqlite"
        if not self.sqlite:
            await _local_temp_buffers(connection)
        await self.drop()
        for table in (STAGE, STAGE_ACCOUNTS, STAGE_READINGS):
            await connection.execute(CreateTable(table))

    async def drop(self) -> None:
        """On SQLite; PostgreSQL drops them with the transaction (and could not before: a
        streamed query keeps them in use until then)."""
        if not self.sqlite:
            return
        connection = await self.session.connection()
        for table in (STAGE, STAGE_ACCOUNTS, STAGE_READINGS):
            await connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")

    async def load(self, rows: Sequence[RegistryRow]) -> None:
        if not rows:
            return
        records = [_staged(row, self.sqlite) for row in rows]
        connection = await self.session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        if self.sqlite:
            marks = ", ".join("?" * len(_STAGED_COLUMNS))
            names = ", ".join(_STAGED_COLUMNS)
            await raw.executemany(f"INSERT INTO {STAGE.name} ({names}) VALUES ({marks})", records)
        else:
            await raw.copy_records_to_table(STAGE.name, records=records, columns=_STAGED_COLUMNS)
        self.rows += len(rows)

    async def load_all(self, batches: Iterator[list[RegistryRow]]) -> None:
        """Stage batches as a worker thread reads and checks them: while one batch is written
        (by the driver's thread on SQLite, by the server on PostgreSQL) the next is parsed."""
        loading: asyncio.Task[None] | None = None
        try:
            while True:
                rows = await asyncio.to_thread(next, batches, None)
                if loading is not None:
                    await loading
                    loading = None
                if rows is None:
                    return
                loading = asyncio.create_task(self.load(rows))
        finally:
            if loading is not None:  # the file could not be read on: stop writing
                loading.cancel()
                await asyncio.wait([loading])

    async def analyze(self) -> None:
        """PostgreSQL never analyzes temporary tables by itself, and its plans need the counts;
        its sorts and hashes over a million rows fit in memory with a larger `work_mem`."""
        if not self.sqlite:
            connection = await self.session.connection()
            await connection.exec_driver_sql(f"ANALYZE {STAGE.name}")
            await connection.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")

    async def analyze_targets(self) -> None:
        """PostgreSQL: fresh statistics of the tables the import joins with. Rows written by the
        previous import (or by this one, a step earlier) are not counted until autovacuum gets
        round to them, and with no rows in its statistics the planner joins by nested loops:
        re-importing 3 000 rows took 3.5 s in one statement, and that time grows as the square."""
        if not self.sqlite:
            connection = await self.session.connection()
            await connection.exec_driver_sql("ANALYZE accounts, meters, readings")

    async def cross_line_errors(self) -> AsyncIterator[RowError]:
        """Checks across lines, as `parse_rows` does them: a meter repeated in an account (the
        first line of the meter wins), then an account whose holder or address differs from its
        first line; in line order."""
        s, first = STAGE, STAGE.alias("first_line")
        windows = select(
            s.c.line, s.c.account, s.c.meter, s.c.surname, s.c.first_name, s.c.patronymic,
            s.c.address,
            func.min(s.c.line).over(partition_by=(s.c.account, s.c.meter)).label("meter_first"),
            func.min(s.c.line).over(partition_by=s.c.account).label("account_first"),
        ).subquery("w")  # fmt: skip
        w = windows.c
        query = (
            select(w.line, w.account, w.meter, w.meter_first, w.account_first)
            .join_from(windows, first, first.c.line == w.account_first)
            .where(
                or_(
                    w.line != w.meter_first,
                    first.c.surname != w.surname,
                    first.c.first_name != w.first_name,
                    first.c.patronymic.is_distinct_from(w.patronymic),
                    first.c.address != w.address,
                )
            )
            .order_by(w.line)
        )
        result = await self.session.stream(query)
        try:
            async for line, account, meter, meter_first, account_first in result:
                if line != meter_first:
                    yield RowError(line, Problem.DUPLICATE_METER, "meter", meter, meter_first)
                else:
                    yield RowError(
                        line, Problem.ACCOUNT_MISMATCH, "account", account, account_first
                    )
        finally:
            await result.close()


def _good_batches(source: _Lines, errors: ErrorLog, size: int) -> Iterator[list[RegistryRow]]:
    """The file's good rows in lists of `size`; each bad line goes to `errors`."""
    batch: list[RegistryRow] = []
    for item in _each_line(source):
        if isinstance(item, RowError):
            errors.add(item)
            continue
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@asynccontextmanager
async def _staging(session: AsyncSession) -> AsyncIterator[_Staging]:
    """Temporary tables for one import. Whatever the caller has not committed is rolled back on
    the way out, and the tables go with it (on SQLite their DDL is outside the transaction, so
    they are dropped explicitly: the pooled connection may be reused)."""
    staging = _Staging(session)
    await staging.create()
    try:
        yield staging
    finally:
        await session.rollback()
        await staging.drop()


async def import_registry(
    session: AsyncSession,
    lines: Iterable[str | bytes],
    *,
    now: datetime,
    progress: Progress | None = None,
    batch: int = BATCH,
    shown: int = MAX_SHOWN,
) -> ImportResult:
    """Validate and import a registry file of any size, streaming: memory stays bounded.

    Each line is checked as it is read and the good ones are staged in batches; then the checks
    across lines run on the staged rows. Every bad line is reported (the first `shown` in full)
    and, if there is one, nothing in the database changes; otherwise the file is imported as
    `import_rows` describes, in the same transaction, committed once. `progress` follows the
    import's steps after the file has been read.
    """
    errors = ErrorLog(shown)
    source = _Lines(lines)
    bad_header = _header_error(source)
    if bad_header is not None:
        errors.add(bad_header)
        return ImportResult(None, errors)
    started = time.perf_counter()
    async with _staging(session) as staging:
        await staging.load_all(_good_batches(source, errors, batch))
        await staging.analyze()
        log.debug("registry: %d rows read and staged in %.2f s", staging.rows, _since(started))
        checked = time.perf_counter()
        async for error in staging.cross_line_errors():
            errors.add(error)
        log.debug("registry: checks across lines in %.2f s", _since(checked))
        if errors:
            return ImportResult(None, errors)
        summary = await _apply(staging, now, progress or (lambda done, total: None))
        committed = time.perf_counter()
        await staging.drop()
        await session.commit()
        log.debug("registry: commit in %.2f s", _since(committed))
    log.debug("registry: imported in %.2f s", _since(started))
    return ImportResult(summary, errors)


def _since(started: float) -> float:
    return time.perf_counter() - started


async def import_rows(
    session: AsyncSession,
    rows: Sequence[RegistryRow],
    *,
    now: datetime,
    progress: Progress | None = None,
) -> ImportSummary:
    """Create or update accounts, meters and billing readings from parsed rows; commits once.

    Accounts are matched by number, meters by (account, serial number), readings by
    (meter, zone, period = first day of the reading date's month). A changed reading value
    replaces the live reading and keeps the old one as history (`replaced_by_id`). Accounts
    and meters absent from the file are left as they are (a registry may be partial); the
    balance is never touched. `rows` must have passed `parse_rows`' checks.
    """
    async with _staging(session) as staging:
        await staging.load_all(
            list(rows[start : start + BATCH]) for start in range(0, len(rows), BATCH)
        )
        await staging.analyze()
        summary = await _apply(staging, now, progress or (lambda done, total: None))
        await staging.drop()
        await session.commit()
    return summary


APPLY_STEPS = 9


async def _apply(staging: _Staging, now: datetime, report: Progress) -> ImportSummary:
    """The staged rows (checked: one line per meter, one holder per account) into accounts,
    meters and readings, set-based; the caller commits. Each `UPDATE` touches only what
    differs, so the counts of updated and unchanged rows come from the statements."""
    session = staging.session
    summary = ImportSummary(rows=staging.rows)
    s, sa = STAGE, STAGE_ACCOUNTS
    accounts = cast(Table, Account.__table__)
    meters = cast(Table, Meter.__table__)
    readings = cast(Table, Reading.__table__)
    step = 0

    async def run(statement: Executable) -> int:
        nonlocal step
        started = time.perf_counter()
        result = await session.execute(statement)
        step += 1
        log.debug("registry: import step %d in %.2f s", step, _since(started))
        report(step, APPLY_STEPS)
        return cast(CursorResult[Any], result).rowcount

    await staging.analyze_targets()
    holders = (s.c.account, s.c.surname, s.c.first_name, s.c.patronymic, s.c.address)
    # Checked: one holder per account, so any line of an account will do.
    one_per_account = (
        select(*holders).group_by(*holders)
        if staging.sqlite
        else select(*holders).distinct(s.c.account).order_by(s.c.account)
    )
    total_accounts = await run(
        insert(sa).from_select(
            ["account", "surname", "first_name", "patronymic", "address"], one_per_account
        )
    )
    if staging.sqlite:
        await session.execute(CreateIndex(STAGE_ACCOUNTS_NUMBER))
    summary.accounts.updated = await run(
        update(accounts)
        .where(
            accounts.c.number == sa.c.account,
            or_(
                accounts.c.holder_surname != sa.c.surname,
                accounts.c.holder_name != sa.c.first_name,
                accounts.c.holder_patronymic.is_distinct_from(sa.c.patronymic),
                accounts.c.address != sa.c.address,
            ),
        )
        .values(
            holder_surname=sa.c.surname,
            holder_name=sa.c.first_name,
            holder_patronymic=sa.c.patronymic,
            address=sa.c.address,
            updated_at=now,
        )
    )
    summary.accounts.created = await run(
        insert(accounts).from_select(
            [
                "number",
                "subscriber_type",
                "holder_surname",
                "holder_name",
                "holder_patronymic",
                "address",
                "balance",
                "created_at",
                "updated_at",
            ],
            select(
                sa.c.account,
                literal(SubscriberType.INDIVIDUAL, accounts.c.subscriber_type.type),
                sa.c.surname,
                sa.c.first_name,
                sa.c.patronymic,
                sa.c.address,
                literal(Decimal("0.00"), accounts.c.balance.type),
                literal(now, accounts.c.created_at.type),
                literal(now, accounts.c.updated_at.type),
            )
            .where(~exists().where(accounts.c.number == sa.c.account))
            .order_by(sa.c.account),
        )
    )
    summary.accounts.unchanged = (
        total_accounts - summary.accounts.created - summary.accounts.updated
    )

    summary.meters.updated = await run(
        update(meters)
        .where(
            accounts.c.number == s.c.account,
            meters.c.account_id == accounts.c.id,
            meters.c.serial_number == s.c.meter,
            or_(
                meters.c.zones != s.c.zones,
                meters.c.digits != s.c.digits,
                meters.c.verified_until.is_distinct_from(s.c.verified_until),
                meters.c.is_active.is_(False),
            ),
        )
        .values(zones=s.c.zones, digits=s.c.digits, verified_until=s.c.verified_until,
                is_active=True)
    )  # fmt: skip
    summary.meters.created = await run(
        insert(meters).from_select(
            [
                "account_id",
                "serial_number",
                "zones",
                "digits",
                "verified_until",
                "is_active",
                "created_at",
            ],
            select(
                accounts.c.id,
                s.c.meter,
                s.c.zones,
                s.c.digits,
                s.c.verified_until,
                literal(True, meters.c.is_active.type),
                literal(now, meters.c.created_at.type),
            )
            .join_from(s, accounts, accounts.c.number == s.c.account)
            .where(
                ~exists().where(
                    meters.c.account_id == accounts.c.id, meters.c.serial_number == s.c.meter
                )
            )
            .order_by(accounts.c.id, s.c.meter),
        )
    )
    summary.meters.unchanged = staging.rows - summary.meters.created - summary.meters.updated

    await staging.analyze_targets()
    zones = union_all(*(select(literal(n).label("n")) for n in (1, 2, 3))).subquery("zones")
    value = case((zones.c.n == 1, s.c.t1), (zones.c.n == 2, s.c.t2), else_=s.c.t3)
    live = readings.alias("live")
    r = STAGE_READINGS
    await run(
        insert(r).from_select(
            ["meter_id", "zone", "period", "value", "taken_on", "live_id", "live_value"],
            select(meters.c.id, zones.c.n, s.c.period, value, s.c.reading_date, live.c.id,
                   live.c.value)
            .join_from(s, accounts, accounts.c.number == s.c.account)
            .join(meters, and_(meters.c.account_id == accounts.c.id,
                               meters.c.serial_number == s.c.meter))
            .join(zones, zones.c.n <= s.c.zones)
            .outerjoin(live, and_(live.c.meter_id == meters.c.id, live.c.zone == zones.c.n,
                                  live.c.period == s.c.period, live.c.replaced_by_id.is_(None)))
            .where(s.c.reading_date.is_not(None)),
        )
    )  # fmt: skip
    changed = and_(r.c.live_id.is_not(None), r.c.live_value != r.c.value)
    counted = await session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((r.c.live_id.is_(None), 1), else_=0)), 0),
            func.coalesce(func.sum(case((changed, 1), else_=0)), 0),
        )
    )
    total, created, updated = counted.one()
    summary.readings.created, summary.readings.updated = int(created), int(updated)
    summary.readings.unchanged = int(total) - int(created) - int(updated)
    # A replaced reading first points at itself so the new one can take the «live» slot of the
    # partial unique index; then it is pointed at its successor.
    replaced = select(r.c.live_id).where(changed)
    await run(
        update(readings)
        .where(readings.c.id.in_(replaced))
        .values(replaced_by_id=readings.c.id)
        .execution_options(synchronize_session=False)
    )
    await run(
        insert(readings).from_select(
            ["meter_id", "zone", "period", "value", "source", "status", "taken_on",
             "submitted_at"],
            select(
                r.c.meter_id, r.c.zone, r.c.period, r.c.value,
                literal(ReadingSource.BILLING, readings.c.source.type),
                literal(ReadingStatus.ACCEPTED, readings.c.status.type),
                r.c.taken_on, literal(now, readings.c.submitted_at.type),
            )
            .where(or_(r.c.live_id.is_(None), changed))
            .order_by(r.c.meter_id, r.c.zone, r.c.period),
        )
    )  # fmt: skip
    if updated:
        successor = readings.alias("successor")
        await run(
            update(readings)
            .where(readings.c.id.in_(replaced))
            .values(
                replaced_by_id=select(successor.c.id)
                .where(
                    successor.c.meter_id == readings.c.meter_id,
                    successor.c.zone == readings.c.zone,
                    successor.c.period == readings.c.period,
                    successor.c.replaced_by_id.is_(None),
                )
                .scalar_subquery()
            )
            .execution_options(synchronize_session=False)
        )
    report(APPLY_STEPS, APPLY_STEPS)
    return summary
