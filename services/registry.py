"""The billing registry: parsing its CSV (accounts × meters × last readings) and importing it.

The billing system is the source of accounts and meters. A file is validated completely before
anything is written, and imported in one transaction with bulk queries, so a bad line changes
nothing and 100 000 rows take seconds. `parse_decimal`/`parse_date`/`format_*` are shared with
the readings export so both directions speak the same format.
"""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Account, Base, Meter, Reading, ReadingSource, ReadingStatus, SubscriberType
from services.periods import period_of

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
_SMALL_INT = re.compile(r"[0-9]{1,2}")
MAX_FRACTION = 2  # kWh readings carry at most two decimals
MAX_NAME = 100
MAX_ADDRESS = 300
CHUNK = 500  # ids per IN (...) list: far below every driver's parameter limit
BATCH = 5000  # rows per executemany

T = TypeVar("T")


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


@dataclass(frozen=True, slots=True)
class RegistryRow:
    """One meter of one account, with the billing's last reading (if any) per zone."""

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


def _text(
    fields: dict[str, str], column: str, line: int, *, limit: int, required: bool = True
) -> str | None:
    value = " ".join(fields[column].split())
    if not value:
        if required:
            raise RowInvalid(RowError(line, Problem.REQUIRED, column))
        return None
    if len(value) > limit:
        raise RowInvalid(RowError(line, Problem.TOO_LONG, column, value[:40]))
    return value


def _date_field(fields: dict[str, str], column: str, line: int) -> date | None:
    raw = fields[column].strip()
    if not raw:
        return None
    try:
        return parse_date(raw)
    except ValueError:
        raise RowInvalid(RowError(line, Problem.BAD_DATE, column, raw)) from None


def _int_field(
    fields: dict[str, str], column: str, line: int, allowed: range, problem: Problem
) -> int:
    raw = fields[column].strip()
    if not _SMALL_INT.fullmatch(raw) or int(raw) not in allowed:
        raise RowInvalid(RowError(line, problem, column, raw))
    return int(raw)


def parse_row(values: Sequence[str], line: int) -> RegistryRow:
    """Validate one data line (already split on `;`); raises RowInvalid naming the first problem."""
    if len(values) != len(HEADER):
        raise RowInvalid(RowError(line, Problem.FIELD_COUNT, value=str(len(values))))
    fields = dict(zip(HEADER, values, strict=True))
    account = fields["account"].strip()
    if not account:
        raise RowInvalid(RowError(line, Problem.REQUIRED, "account"))
    if not ACCOUNT_NUMBER.fullmatch(account):
        raise RowInvalid(RowError(line, Problem.BAD_ACCOUNT, "account", account[:40]))
    surname = _text(fields, "surname", line, limit=MAX_NAME)
    first_name = _text(fields, "first_name", line, limit=MAX_NAME)
    patronymic = _text(fields, "patronymic", line, limit=MAX_NAME, required=False)
    address = _text(fields, "address", line, limit=MAX_ADDRESS)
    meter = fields["meter"].strip()
    if not meter:
        raise RowInvalid(RowError(line, Problem.REQUIRED, "meter"))
    if not METER_SERIAL.fullmatch(meter):
        raise RowInvalid(RowError(line, Problem.BAD_METER, "meter", meter[:40]))
    zones = _int_field(fields, "zones", line, range(1, 4), Problem.BAD_ZONES)
    digits = _int_field(fields, "digits", line, range(4, 10), Problem.BAD_DIGITS)
    verified_until = _date_field(fields, "verified_until", line)
    reading_date = _date_field(fields, "reading_date", line)
    readings: list[Decimal] = []
    for zone, column in enumerate(("t1", "t2", "t3"), start=1):
        raw = fields[column].strip()
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
        try:
            value = parse_decimal(raw)
        except ValueError:
            raise RowInvalid(RowError(line, Problem.BAD_NUMBER, column, raw[:40])) from None
        if not fits_meter(raw, digits):
            raise RowInvalid(RowError(line, Problem.VALUE_TOO_BIG, column, raw[:40]))
        readings.append(value)
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
    stray quote inside a quoted field, a quote left open to the end of the line)."""
    reader = csv.reader([text.rstrip("\r\n")], delimiter=DELIMITER, quotechar='"', strict=True)
    return next(reader, [])


def parse_rows(lines: Iterable[str | bytes]) -> tuple[list[RegistryRow], list[RowError]]:
    """Parse a whole registry (header first); returns the good rows and every bad line.

    One line of the file is one record (an address never spans lines), so broken quoting is
    reported on its own line and cannot swallow the lines after it. `lines` may be text or
    raw bytes (a file opened in binary mode); a UTF-8 BOM is allowed. Besides each line's own
    checks: a meter may appear once per account, and an account's holder and address must be
    the same on all its lines.
    """
    source = _Lines(lines)
    rows: list[RegistryRow] = []
    errors: list[RowError] = []
    first = next(source, None)
    if first is None or not first.strip():
        return [], [RowError(1, Problem.EMPTY_FILE)]
    try:
        header = _split(first)
    except csv.Error:
        header = [first.strip()]
    if tuple(h.strip() for h in header) != HEADER:
        return [], [RowError(1, Problem.BAD_HEADER, value=DELIMITER.join(header)[:120])]
    seen_meters: dict[tuple[str, str], int] = {}
    accounts: dict[str, RegistryRow] = {}
    for text in source:
        line = source.number
        if line in source.undecodable:
            errors.append(RowError(line, Problem.BAD_ENCODING))
            continue
        if not text.strip():
            continue  # blank lines are harmless
        try:
            values = _split(text)
        except csv.Error:
            errors.append(RowError(line, Problem.BAD_CSV))
            continue
        try:
            row = parse_row(values, line)
        except RowInvalid as exc:
            errors.append(exc.error)
            continue
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


Progress = Callable[[int, int], None]  # (done, total) rows


async def _insert_many(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, object]]
) -> None:
    """Core executemany INSERT: one statement per batch, not one per row."""
    table = cast(Table, model.__table__)
    for chunk in _chunks(rows, BATCH):
        await session.execute(insert(table), list(chunk))


async def _update_many(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, object]]
) -> None:
    """Core executemany UPDATE by primary key; every row carries `id` and the same other keys."""
    if not rows:
        return
    table = cast(Table, model.__table__)
    keys = [key for key in rows[0] if key != "id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({key: bindparam(f"new_{key}") for key in keys})
    )
    for chunk in _chunks(rows, BATCH):
        await session.execute(
            statement,
            [{"row_id": row["id"], **{f"new_{key}": row[key] for key in keys}} for row in chunk],
        )


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
    and meters absent from the file are left as they are (a registry may be partial).
    """
    summary = ImportSummary(rows=len(rows))
    total = len(rows) * 3 or 1
    report = progress or (lambda done, all_: None)
    account_ids = await _upsert_accounts(session, rows, now, summary.accounts)
    report(len(rows), total)
    meter_ids = await _upsert_meters(session, rows, account_ids, now, summary.meters)
    report(len(rows) * 2, total)
    await _upsert_readings(session, rows, meter_ids, now, summary.readings, report)
    await session.commit()
    report(total, total)
    return summary


async def _upsert_accounts(
    session: AsyncSession, rows: Sequence[RegistryRow], now: datetime, counts: Counts
) -> dict[str, int]:
    wanted: dict[str, RegistryRow] = {}
    for row in rows:
        wanted.setdefault(row.account, row)
    numbers = list(wanted)
    existing: dict[str, tuple[int, tuple[str, str, str | None, str]]] = {}
    for chunk in _chunks(numbers):
        result = await session.execute(
            select(
                Account.number,
                Account.id,
                Account.holder_surname,
                Account.holder_name,
                Account.holder_patronymic,
                Account.address,
            ).where(Account.number.in_(chunk))
        )
        for number, id_, surname, name, patronymic, address in result:
            existing[number] = (id_, (surname, name, patronymic, address))
    new: list[dict[str, object]] = []
    changed: list[dict[str, object]] = []
    for number, row in wanted.items():
        holder = _holder(row)
        values = {
            "holder_surname": row.surname,
            "holder_name": row.first_name,
            "holder_patronymic": row.patronymic,
            "address": row.address,
            "updated_at": now,
        }
        if number not in existing:
            new.append(
                {
                    "number": number,
                    "subscriber_type": SubscriberType.INDIVIDUAL,
                    "balance": Decimal("0.00"),
                    "created_at": now,
                    **values,
                }
            )
        elif existing[number][1] != holder:
            changed.append({"id": existing[number][0], **values})
        else:
            counts.unchanged += 1
    counts.created, counts.updated = len(new), len(changed)
    await _insert_many(session, Account, new)
    await _update_many(session, Account, changed)
    ids = {number: entry[0] for number, entry in existing.items()}
    created_numbers = [str(item["number"]) for item in new]
    for chunk in _chunks(created_numbers):
        created = await session.execute(
            select(Account.number, Account.id).where(Account.number.in_(chunk))
        )
        ids.update(dict(created.tuples().all()))
    return ids


async def _upsert_meters(
    session: AsyncSession,
    rows: Sequence[RegistryRow],
    account_ids: dict[str, int],
    now: datetime,
    counts: Counts,
) -> dict[tuple[str, str], int]:
    by_account: dict[int, str] = {id_: number for number, id_ in account_ids.items()}
    existing: dict[tuple[str, str], tuple[int, tuple[int, int, date | None, bool]]] = {}
    for chunk in _chunks(list(by_account)):
        result = await session.execute(
            select(
                Meter.account_id,
                Meter.serial_number,
                Meter.id,
                Meter.zones,
                Meter.digits,
                Meter.verified_until,
                Meter.is_active,
            ).where(Meter.account_id.in_(chunk))
        )
        for account_id, serial, id_, zones, digits, verified, active in result:
            existing[(by_account[account_id], serial)] = (id_, (zones, digits, verified, active))
    new: list[dict[str, object]] = []
    changed: list[dict[str, object]] = []
    for row in rows:
        key = (row.account, row.meter)
        state = (row.zones, row.digits, row.verified_until, True)
        values = {
            "zones": row.zones,
            "digits": row.digits,
            "verified_until": row.verified_until,
            "is_active": True,
        }
        if key not in existing:
            new.append(
                {
                    "account_id": account_ids[row.account],
                    "serial_number": row.meter,
                    "created_at": now,
                    **values,
                }
            )
        elif existing[key][1] != state:
            changed.append({"id": existing[key][0], **values})
        else:
            counts.unchanged += 1
    counts.created, counts.updated = len(new), len(changed)
    await _insert_many(session, Meter, new)
    await _update_many(session, Meter, changed)
    ids = {key: entry[0] for key, entry in existing.items()}
    if new:
        new_accounts = sorted({int(str(item["account_id"])) for item in new})
        for chunk in _chunks(new_accounts):
            result = await session.execute(
                select(Meter.account_id, Meter.serial_number, Meter.id).where(
                    Meter.account_id.in_(chunk)
                )
            )
            for account_id, serial, id_ in result:
                ids[(by_account[account_id], serial)] = id_
    return ids


async def _upsert_readings(
    session: AsyncSession,
    rows: Sequence[RegistryRow],
    meter_ids: dict[tuple[str, str], int],
    now: datetime,
    counts: Counts,
    report: Progress,
) -> None:
    wanted: dict[tuple[int, int, date], tuple[Decimal, date]] = {}
    for row in rows:
        if row.reading_date is None:
            continue
        meter_id = meter_ids[(row.account, row.meter)]
        period = period_of(row.reading_date)
        for zone, value in enumerate(row.values, start=1):
            wanted[(meter_id, zone, period)] = (value, row.reading_date)
    periods = sorted({key[2] for key in wanted})
    meters = sorted({key[0] for key in wanted})
    live: dict[tuple[int, int, date], tuple[int, Decimal]] = {}
    for chunk in _chunks(meters):
        result = await session.execute(
            select(Reading.meter_id, Reading.zone, Reading.period, Reading.id, Reading.value).where(
                Reading.meter_id.in_(chunk),
                Reading.period.in_(periods),
                Reading.replaced_by_id.is_(None),
            )
        )
        for meter_id, zone, period, id_, value in result:
            live[(meter_id, zone, period)] = (id_, value)
    new: list[dict[str, object]] = []
    replaced: list[int] = []
    for key, (value, taken_on) in wanted.items():
        current = live.get(key)
        if current is not None and current[1] == value:
            counts.unchanged += 1
            continue
        if current is not None:
            replaced.append(current[0])
        meter_id, zone, period = key
        new.append(
            {
                "meter_id": meter_id,
                "zone": zone,
                "period": period,
                "value": value,
                "source": ReadingSource.BILLING,
                "status": ReadingStatus.ACCEPTED,
                "taken_on": taken_on,
                "submitted_at": now,
            }
        )
    counts.updated = len(replaced)
    counts.created = len(new) - len(replaced)
    # A replaced reading first points at itself so the new one can take the «live» slot of the
    # partial unique index; then it is pointed at its successor.
    for id_chunk in _chunks(replaced):
        await session.execute(
            update(Reading)
            .where(Reading.id.in_(id_chunk))
            .values(replaced_by_id=Reading.id)
            .execution_options(synchronize_session=False)
        )
    inserted = 0
    for new_chunk in _chunks(new, BATCH):
        await _insert_many(session, Reading, new_chunk)
        inserted += len(new_chunk)
        report(len(rows) * 2 + inserted * len(rows) // len(new), len(rows) * 3)
    if replaced:
        successors: list[dict[str, object]] = []
        replaced_set = set(replaced)
        replaced_keys = {
            live_id: key for key, (live_id, _) in live.items() if live_id in replaced_set
        }
        by_key: dict[tuple[int, int, date], int] = {}
        for chunk in _chunks(sorted({key[0] for key in replaced_keys.values()})):
            result = await session.execute(
                select(Reading.meter_id, Reading.zone, Reading.period, Reading.id).where(
                    Reading.meter_id.in_(chunk),
                    Reading.period.in_(periods),
                    Reading.replaced_by_id.is_(None),
                )
            )
            for meter_id, zone, period, id_ in result:
                by_key[(meter_id, zone, period)] = id_
        for old_id, key in replaced_keys.items():
            successors.append({"id": old_id, "replaced_by_id": by_key[key]})
        await _update_many(session, Reading, successors)
