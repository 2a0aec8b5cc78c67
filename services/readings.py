"""Meter readings: parsing and validating a value, the reading window, submission with
replacement and idempotency, the history per meter and zone, and the export for billing."""

from __future__ import annotations

import csv
import enum
import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import Account, Meter, Reading, ReadingSource, ReadingStatus, ReadingSubmission
from services import tariffs
from services.errors import DomainError, NotFound
from services.files import UnsupportedFileType, UploadQuota, detect_type, store_file
from services.periods import period_of, shift
from services.registry import DELIMITER, format_date, format_decimal

# Reference numbers look like «П-2026-000042» (П for «показания»), as the web cabinet prints them.
REFERENCE_PREFIX = "П"
# A counter "rolled over" when the previous value was in the top 10 % of its capacity
# and the new one is in the bottom 10 %.
ROLLOVER_SHARE = Decimal("0.1")
# Consumption above this many times the monthly average asks «Вы уверены?».
UNUSUAL_FACTOR = Decimal(3)
AVERAGE_MONTHS = 6
HISTORY_MONTHS = 12
MAX_DECIMALS = 2
EXPORT_HEADER = ("account", "meter", "zone", "reading_date", "value", "source", "submitted_at")

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_NUMBER = re.compile(r"([0-9]+)(?:[.,]([0-9]*))?")
_LIVE_STATUSES = (ReadingStatus.ACCEPTED, ReadingStatus.ESTIMATED)


# --- errors ----------------------------------------------------------------------------------


class ReadingError(DomainError):
    """The value cannot be taken; the handler re-asks with the reason."""


class NotANumber(ReadingError):
    pass


class TooManyDecimals(ReadingError):
    def __init__(self, allowed: int = MAX_DECIMALS) -> None:
        super().__init__(f"more than {allowed} decimals")
        self.allowed = allowed


class TooManyDigits(ReadingError):
    def __init__(self, digits: int) -> None:
        super().__init__(f"more than {digits} integer digits")
        self.digits = digits


class ReadingTooLow(ReadingError):
    def __init__(self, previous: Decimal, taken_on: date | None = None, zone: int = 1) -> None:
        super().__init__(f"below the previous reading {previous}")
        self.previous = previous
        self.taken_on = taken_on
        self.zone = zone


class MeterNotFound(NotFound):
    """No such active meter on the account (a stale button or another account's meter)."""


class SubmissionConflict(DomainError):
    """Another submission for the same meter and period was being saved at the same moment."""


# --- parsing and the pure rules ----------------------------------------------------------------


def parse_reading(text: str, digits: int) -> Decimal:
    """«12 345,6» → Decimal("12345.6"); at most `digits` integer digits and two decimals.

    Digits of other scripts («١٢٣», full-width «１２３») are read as the same digits.
    """
    compact = _ascii_digits(_SPACES.sub("", text))
    match = _NUMBER.fullmatch(compact)
    if match is None:
        raise NotANumber(text)
    integer, fraction = match[1], match[2] or ""
    if len(fraction) > MAX_DECIMALS:
        raise TooManyDecimals()
    try:
        value = Decimal(f"{integer}.{fraction or '0'}")
    except InvalidOperation as exc:  # pragma: no cover - the regex admits digits only
        raise NotANumber(text) from exc
    if value >= capacity(digits):
        raise TooManyDigits(digits)
    return value.quantize(Decimal("0.01"))


_LIST_SEPARATORS = re.compile(r"[;\n]")
_GROUPED_THOUSANDS = re.compile(r"\d{1,3}(?:\s\d{3})+(?:[.,]\d*)?")


def split_values(text: str) -> list[str]:
    """Several values typed in one message, one per zone: «9870 13200», «9870; 13200» or one
    per line → ["9870", "13200"]. A single value, grouped thousands included («12 345,6»),
    stays one item, so the caller can tell one value from several.
    """
    stripped = text.strip()
    if _LIST_SEPARATORS.search(stripped):
        parts = [part.strip() for part in _LIST_SEPARATORS.split(stripped)]
        return [part for part in parts if part] or [stripped]
    tokens = stripped.split()
    if len(tokens) <= 1 or _GROUPED_THOUSANDS.fullmatch(" ".join(tokens)):
        return [stripped]
    return tokens


def _ascii_digits(text: str) -> str:
    return "".join(
        str(unicodedata.decimal(char)) if char.isdecimal() and not char.isascii() else char
        for char in text
    )


def capacity(digits: int) -> Decimal:
    """The value after which the counter shows zeros again: 10^digits."""
    return Decimal(10) ** digits


def is_rollover(previous: Decimal, value: Decimal, digits: int) -> bool:
    """Below the previous value, but the previous was near the top and the new one is small."""
    top = capacity(digits)
    return (
        value < previous and previous >= top * (1 - ROLLOVER_SHARE) and value < top * ROLLOVER_SHARE
    )


def consumption_between(previous: Decimal, value: Decimal, digits: int) -> Decimal:
    """kWh between two readings; through zero when the counter rolled over."""
    if is_rollover(previous, value, digits):
        return capacity(digits) - previous + value
    return value - previous


class Caution(enum.StrEnum):
    ROLLOVER = "rollover"
    UNUSUAL = "unusual"


@dataclass(frozen=True, slots=True)
class ZoneCheck:
    """What a valid value means: consumption since the previous reading and what to confirm."""

    zone: int
    value: Decimal
    previous: Decimal | None
    previous_taken_on: date | None
    consumption: Decimal | None
    average: Decimal | None
    warnings: tuple[Caution, ...] = ()


def classify(
    value: Decimal,
    previous: Decimal | None,
    digits: int,
    average: Decimal | None,
    months: int = 1,
) -> tuple[Decimal | None, tuple[Caution, ...]]:
    """The monotonic and rollover rules: (consumption, warnings) or ReadingTooLow.

    `average` is the usual monthly consumption; `months` how many periods the consumption spans.
    """
    if previous is None:
        return None, ()
    warnings: list[Caution] = []
    if value < previous:
        if not is_rollover(previous, value, digits):
            raise ReadingTooLow(previous)
        warnings.append(Caution.ROLLOVER)
    consumption = consumption_between(previous, value, digits)
    if (
        average is not None
        and average > 0
        and consumption > UNUSUAL_FACTOR * average * max(months, 1)
    ):
        warnings.append(Caution.UNUSUAL)
    return consumption, tuple(warnings)


# --- the reading window ------------------------------------------------------------------------


class WindowPosition(enum.StrEnum):
    BEFORE = "before"
    INSIDE = "inside"
    AFTER = "after"


@dataclass(frozen=True, slots=True)
class PeriodChoice:
    """For which billing period readings sent `today` count, and why."""

    period: date
    position: WindowPosition
    first_day: int
    last_day: int


def period_for(today: date, window: tuple[int, int]) -> PeriodChoice:
    """Inside the window and before it: this month's period; after it: next month's."""
    first, last = window
    if today.day < first:
        return PeriodChoice(period_of(today), WindowPosition.BEFORE, first, last)
    if today.day > last:
        return PeriodChoice(shift(period_of(today), 1), WindowPosition.AFTER, first, last)
    return PeriodChoice(period_of(today), WindowPosition.INSIDE, first, last)


# --- meters ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LastReading:
    value: Decimal
    taken_on: date
    period: date


@dataclass(frozen=True, slots=True)
class MeterInfo:
    """What the readings dialog needs of a meter, read as columns (no ORM entity)."""

    id: int
    serial_number: str
    zones: int
    digits: int
    verified_until: date | None


@dataclass(frozen=True, slots=True)
class ZoneContext:
    """What the question for a zone's value says about the zone, for a period."""

    previous: Decimal | None  # the last accepted value before the period: the floor
    sent: Decimal | None  # the live accepted value of the period itself: a new one replaces it


# The statements of the reading dialog's steps are built once, with their values as bound
# parameters: a statement object used again keeps its cache key and compiled form, so a step
# pays for executing it, not for building it (benchmarks/README.md, issue #15).
_METER_COLUMNS = (Meter.id, Meter.serial_number, Meter.zones, Meter.digits, Meter.verified_until)
_METER = select(*_METER_COLUMNS).where(
    Meter.id == bindparam("meter_id"),
    Meter.account_id == bindparam("account_id"),
    Meter.is_active.is_(True),
)
_ACCOUNT_METERS = (
    select(*_METER_COLUMNS)
    .where(Meter.account_id == bindparam("account_id"), Meter.is_active.is_(True))
    .order_by(Meter.id)
)


# The live readings of one zone of one meter (not replaced by a later one).
_LIVE_OF_ZONE = (
    Reading.meter_id == bindparam("meter_id"),
    Reading.zone == bindparam("zone"),
    Reading.replaced_by_id.is_(None),
)


def _live_accepted(*where: ColumnElement[bool]) -> Select[tuple[Decimal, date, date]]:
    """Live accepted readings of one zone, newest first."""
    return (
        select(Reading.value, Reading.taken_on, Reading.period)
        .where(*_LIVE_OF_ZONE, Reading.status == ReadingStatus.ACCEPTED, *where)
        .order_by(Reading.period.desc(), Reading.id.desc())
    )


_LAST_ACCEPTED = _live_accepted().limit(1)
_LAST_ACCEPTED_BEFORE = _live_accepted(Reading.period < bindparam("before")).limit(1)
# one live reading per zone and period: the period's own (if sent) and the one before it
_UP_TO_PERIOD = _live_accepted(Reading.period <= bindparam("period")).limit(2)
_AVERAGE_POINTS = (
    select(Reading.value, Reading.period)
    .where(
        *_LIVE_OF_ZONE,
        Reading.status.in_(_LIVE_STATUSES),
        Reading.period >= bindparam("since"),
        Reading.period < bindparam("period"),
    )
    .order_by(Reading.period)
)
_PERIOD_READING = select(Reading.id).where(*_LIVE_OF_ZONE, Reading.period == bindparam("period"))
_NEW_SUBMISSION = insert(ReadingSubmission).returning(ReadingSubmission.id)
_SET_REFERENCE = (
    update(ReadingSubmission)
    .where(ReadingSubmission.id == bindparam("submission_id"))
    .values(reference=bindparam("reference"))
)
_NEW_READING = insert(Reading).returning(Reading.id)
_REPLACE = (
    update(Reading)
    .where(Reading.id == bindparam("reading_id"))
    .values(replaced_by_id=bindparam("replaced_by"))
)
_SUBMISSION = (
    select(ReadingSubmission.reference, Reading.period)
    .join(Reading, Reading.submission_id == ReadingSubmission.id)
    .where(ReadingSubmission.idempotency_key == bindparam("key"))
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class MeterOverview:
    id: int
    serial_number: str
    zones: int
    digits: int
    verified_until: date | None
    verification_expired: bool
    last: dict[int, LastReading]


async def get_meter(session: AsyncSession, account_id: int, meter_id: int) -> MeterInfo:
    row = (await session.execute(_METER, {"meter_id": meter_id, "account_id": account_id})).first()
    if row is None:
        raise MeterNotFound(str(meter_id))
    return MeterInfo(*row)


def verification_expired(meter: MeterInfo, today: date) -> bool:
    return meter.verified_until is not None and meter.verified_until < today


async def meters_overview(
    session: AsyncSession, account_id: int, today: date
) -> list[MeterOverview]:
    """Every active meter of the account with its last accepted reading per zone."""
    rows = (await session.execute(_ACCOUNT_METERS, {"account_id": account_id})).all()
    result = []
    for meter in (MeterInfo(*row) for row in rows):
        last: dict[int, LastReading] = {}
        for zone in range(1, meter.zones + 1):
            reading = await _last_accepted(session, meter.id, zone, before=None)
            if reading is not None:
                last[zone] = reading
        result.append(
            MeterOverview(
                meter.id,
                meter.serial_number,
                meter.zones,
                meter.digits,
                meter.verified_until,
                verification_expired(meter, today),
                last,
            )
        )
    return result


async def _last_accepted(
    session: AsyncSession, meter_id: int, zone: int, *, before: date | None
) -> LastReading | None:
    """The newest live accepted reading of a zone, optionally of a period before `before`."""
    values: dict[str, object] = {"meter_id": meter_id, "zone": zone}
    if before is not None:
        values["before"] = before
    query = _LAST_ACCEPTED if before is None else _LAST_ACCEPTED_BEFORE
    row = (await session.execute(query, values)).first()
    return LastReading(*row) if row is not None else None


async def zone_context(
    session: AsyncSession, meter_id: int, zone: int, period: date
) -> ZoneContext:
    """The floor for a zone's new value and what was sent for `period` already, in one query."""
    values = {"meter_id": meter_id, "zone": zone, "period": period}
    rows = [LastReading(*row) for row in (await session.execute(_UP_TO_PERIOD, values)).all()]
    sent = rows[0].value if rows and rows[0].period == period else None
    earlier = [row.value for row in rows if row.period < period]
    return ZoneContext(earlier[0] if earlier else None, sent)


def _months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


async def average_consumption(
    session: AsyncSession, meter: MeterInfo, zone: int, period: date
) -> Decimal | None:
    """Average monthly consumption over the last 6 periods before `period` (None if unknown)."""
    since = shift(period, -(AVERAGE_MONTHS + 1))
    values = {"meter_id": meter.id, "zone": zone, "since": since, "period": period}
    points = (await session.execute(_AVERAGE_POINTS, values)).all()
    if len(points) < 2:
        return None
    total = sum(
        (consumption_between(a.value, b.value, meter.digits) for a, b in pairwise(points)),
        Decimal(0),
    )
    months = _months_between(points[0].period, points[-1].period)
    return (total / months).quantize(Decimal("0.01")) if months > 0 else None


async def check_value(
    session: AsyncSession, account_id: int, meter_id: int, zone: int, text: str, period: date
) -> ZoneCheck:
    """Parse and validate one zone's value for `period`; raises a ReadingError with the reason."""
    meter = await get_meter(session, account_id, meter_id)
    value = parse_reading(text, meter.digits)
    previous = await _last_accepted(session, meter.id, zone, before=period)
    average = await average_consumption(session, meter, zone, period)
    months = _months_between(previous.period, period) if previous is not None else 1
    try:
        consumption, warnings = classify(value, previous.value if previous else None,
                                         meter.digits, average, months)  # fmt: skip
    except ReadingTooLow as exc:
        raise ReadingTooLow(exc.previous, previous.taken_on if previous else None, zone) from None
    return ZoneCheck(
        zone,
        value,
        previous.value if previous else None,
        previous.taken_on if previous else None,
        consumption,
        average,
        warnings,
    )


# --- summary and submission --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SummaryLine:
    zone: int
    value: Decimal
    previous: Decimal | None
    consumption: Decimal | None
    rollover: bool
    price: Decimal | None
    cost: Decimal | None


@dataclass(frozen=True, slots=True)
class Summary:
    meter_id: int
    serial_number: str
    zones: int
    period: date
    lines: list[SummaryLine]
    total_cost: Decimal | None


async def summarize(
    session: AsyncSession, account_id: int, meter_id: int, values: dict[int, Decimal], period: date
) -> Summary:
    """Consumption per zone and its estimated cost at the tariff in force for `period`."""
    meter = await get_meter(session, account_id, meter_id)
    prices = await tariffs.tariffs_in_force(session, meter.zones, period)
    lines = []
    for zone in sorted(values):
        value = values[zone]
        previous = await _last_accepted(session, meter.id, zone, before=period)
        consumption = consumption_between(previous.value, value, meter.digits) if previous else None
        tariff = prices.get(zone)
        line_cost = (
            tariffs.cost(consumption, tariff.price)
            if consumption is not None and tariff is not None
            else None
        )
        lines.append(
            SummaryLine(
                zone,
                value,
                previous.value if previous else None,
                consumption,
                previous is not None and is_rollover(previous.value, value, meter.digits),
                tariff.price if tariff else None,
                line_cost,
            )
        )
    costs = [line.cost for line in lines]
    total = sum((c for c in costs if c is not None), Decimal(0)) if None not in costs else None
    return Summary(meter.id, meter.serial_number, meter.zones, period, lines, total)


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    reference: str
    period: date
    duplicate: bool
    replaced: bool = False


def _reference(year: int, submission_id: int) -> str:
    return f"{REFERENCE_PREFIX}-{year}-{submission_id:06d}"


async def find_submission(session: AsyncSession, idempotency_key: str) -> SubmissionResult | None:
    """The submission already stored under this key (a second press of «Подтвердить»)."""
    row = (await session.execute(_SUBMISSION, {"key": idempotency_key})).first()
    if row is None or row.reference is None:
        return None
    return SubmissionResult(row.reference, row.period, duplicate=True)


async def store_photo(
    session: AsyncSession,
    upload_dir: Path,
    data: bytes,
    *,
    limit_mb: int,
    telegram_file_id: str | None,
    telegram_file_unique_id: str | None,
    login_id: int | None = None,
    quota: UploadQuota | None = None,
) -> int:
    """Keep the meter photo until the submission is confirmed; returns the stored file id.

    Only pictures (JPEG, PNG, HEIC): a PDF is a document, not a photo of the meter. With
    `login_id` and `quota` the photo counts against the uploader's daily upload quota.
    """
    detected = detect_type(data)
    if detected is not None and not detected.mime_type.startswith("image/"):
        raise UnsupportedFileType(detected.mime_type)
    stored = await store_file(
        session,
        upload_dir,
        data,
        filename=None,
        limit_mb=limit_mb,
        telegram_file_id=telegram_file_id,
        telegram_file_unique_id=telegram_file_unique_id,
        login_id=login_id,
        quota=quota,
    )
    await session.commit()
    return stored.id


async def submit(
    session: AsyncSession,
    *,
    account_id: int,
    meter_id: int,
    values: dict[int, Decimal],
    period: date,
    idempotency_key: str,
    today: date,
    now: datetime,
    login_id: int | None = None,
    telegram_user_id: int | None = None,
    photo_file_id: int | None = None,
) -> SubmissionResult:
    """Store one confirmed submission; the same key stored twice gives the first result back
    (found when its insert hits the key's unique index: a second press is rare, and the common
    press pays no query for it).

    A live reading of the same meter, zone and period is replaced (kept in the history).
    The values are checked again: billing may have loaded a higher reading since the dialog.
    """
    meter = await get_meter(session, account_id, meter_id)
    if set(values) != set(range(1, meter.zones + 1)):
        raise MeterNotFound(f"{meter_id}/{sorted(values)}")
    for zone, value in sorted(values.items()):
        parse_reading(f"{value:f}", meter.digits)
        previous = await _last_accepted(session, meter.id, zone, before=period)
        if previous is not None:
            try:
                classify(value, previous.value, meter.digits, None)
            except ReadingTooLow:
                raise ReadingTooLow(previous.value, previous.taken_on, zone) from None
    try:
        result = await _store(
            session, meter, values, period, idempotency_key, today, now,
            login_id, telegram_user_id, photo_file_id,
        )  # fmt: skip
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await find_submission(session, idempotency_key)
        if existing is not None:
            return existing
        raise SubmissionConflict(str(meter_id)) from None
    return result


async def _store(
    session: AsyncSession,
    meter: MeterInfo,
    values: dict[int, Decimal],
    period: date,
    idempotency_key: str,
    today: date,
    now: datetime,
    login_id: int | None,
    telegram_user_id: int | None,
    photo_file_id: int | None,
) -> SubmissionResult:
    connection = await session.connection()  # Core statements: one step of a dialog, hot
    # Read before the first write: on SQLite the write lock is then held for the writes only.
    replacing = {
        zone: (await connection.execute(_PERIOD_READING, _zone_of(meter.id, zone, period))).scalar()
        for zone in sorted(values)
    }
    submission = {
        "meter_id": meter.id,
        "login_id": login_id,
        "telegram_user_id": telegram_user_id,
        "idempotency_key": idempotency_key,
        "photo_file_id": photo_file_id,
        "created_at": now,
    }
    # a concurrent press with the same key fails here
    submission_id = (await connection.execute(_NEW_SUBMISSION, submission)).scalar_one()
    reference = _reference(today.year, submission_id)
    await connection.execute(
        _SET_REFERENCE, {"submission_id": submission_id, "reference": reference}
    )
    for zone, old_id in replacing.items():
        if old_id is not None:
            # Leave the «one live reading» index before the new row enters it; points at itself
            # for a moment, then at its replacement.
            await connection.execute(_REPLACE, {"reading_id": old_id, "replaced_by": old_id})
        reading = {
            **_zone_of(meter.id, zone, period),
            "value": values[zone],
            "source": ReadingSource.SUBSCRIBER,
            "status": ReadingStatus.ACCEPTED,
            "reject_reason": None,
            "taken_on": today,
            "submitted_at": now,
            "submission_id": submission_id,
            "replaced_by_id": None,
        }
        new_id = (await connection.execute(_NEW_READING, reading)).scalar_one()
        if old_id is not None:
            await connection.execute(_REPLACE, {"reading_id": old_id, "replaced_by": new_id})
    replaced = any(old_id is not None for old_id in replacing.values())
    return SubmissionResult(reference, period, duplicate=False, replaced=replaced)


def _zone_of(meter_id: int, zone: int, period: date) -> dict[str, object]:
    return {"meter_id": meter_id, "zone": zone, "period": period}


# --- history -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    period: date
    zone: int
    value: Decimal
    consumption: Decimal | None
    status: ReadingStatus
    source: ReadingSource
    reject_reason: str | None
    replaced: bool
    taken_on: date
    reference: str | None


@dataclass(frozen=True, slots=True)
class MeterHistory:
    meter_id: int
    serial_number: str
    zones: int
    # every month of the range, oldest first, months without a reading included
    periods: list[date]
    entries: list[HistoryEntry]
    # period → zone → consumption of the live reading (None when unknown)
    monthly: dict[date, dict[int, Decimal | None]] = field(default_factory=dict)
    # periods whose live readings are estimated by billing
    estimated: set[date] = field(default_factory=set)
    # period → how many months its consumption covers, when more than one (after a gap)
    spans: dict[date, int] = field(default_factory=dict)


async def history(
    session: AsyncSession, account_id: int, today: date, months: int = HISTORY_MONTHS
) -> list[MeterHistory]:
    """The last `months` months per meter and zone, newest first in `entries`."""
    current = period_of(today)
    earliest = shift(current, -(months + 1))
    meters = (
        await session.scalars(
            select(Meter)
            .where(Meter.account_id == account_id, Meter.is_active.is_(True))
            .order_by(Meter.id)
        )
    ).all()
    result = []
    for meter in meters:
        rows = (
            await session.execute(
                select(Reading, ReadingSubmission.reference)
                .outerjoin(ReadingSubmission, ReadingSubmission.id == Reading.submission_id)
                .where(
                    Reading.meter_id == meter.id,
                    Reading.period >= earliest,
                    Reading.period <= shift(current, 1),
                )
                .order_by(Reading.period, Reading.zone, Reading.submitted_at, Reading.id)
            )
        ).all()
        rows_of_meter = [(r, ref) for r, ref in rows]
        result.append(_meter_history(meter, rows_of_meter, history_range(
            [r.period for r, _ in rows_of_meter], current, months)))  # fmt: skip
    return result


def history_range(with_readings: list[date], current: date, months: int) -> list[date]:
    """Every month the history shows: up to the last month with a reading (at least up to the
    previous month, so missed months show), at most `months` back, not before the first
    reading of that stretch. Months without a reading stay in the range as gaps."""
    if not with_readings:
        return []
    end = max(max(with_readings), shift(current, -1))
    earliest = shift(end, -(months - 1))
    inside = [period for period in with_readings if earliest <= period <= end]
    if not inside:
        return []
    start = min(inside)
    return [shift(start, i) for i in range(_months_between(start, end) + 1)]


def _meter_history(
    meter: Meter, rows: list[tuple[Reading, str | None]], shown: list[date]
) -> MeterHistory:
    periods = sorted({reading.period for reading, _ in rows})
    previous_live: dict[int, tuple[date, Decimal]] = {}
    entries: list[HistoryEntry] = []
    monthly: dict[date, dict[int, Decimal | None]] = defaultdict(dict)
    estimated: set[date] = set()
    spans: dict[date, int] = {}
    visible = set(shown)
    for period in periods:
        period_rows = [(r, ref) for r, ref in rows if r.period == period]
        live_values: dict[int, tuple[date, Decimal]] = {}
        for reading, reference in period_rows:
            base = previous_live.get(reading.zone)
            consumption = (
                consumption_between(base[1], reading.value, meter.digits)
                if base is not None and reading.status != ReadingStatus.REJECTED
                else None
            )
            live = reading.replaced_by_id is None
            if live and reading.status != ReadingStatus.REJECTED:
                live_values[reading.zone] = (period, reading.value)
                if period in visible:
                    monthly[period][reading.zone] = consumption
                    if base is not None and _months_between(base[0], period) > 1:
                        spans[period] = max(spans.get(period, 1), _months_between(base[0], period))
                    if reading.status == ReadingStatus.ESTIMATED:
                        estimated.add(period)
            if period in visible:
                entries.append(
                    HistoryEntry(
                        period, reading.zone, reading.value, consumption, reading.status,
                        reading.source, reading.reject_reason, not live, reading.taken_on,
                        reference,
                    )
                )  # fmt: skip
        previous_live.update(live_values)
    entries.sort(key=lambda e: (e.period, -e.zone), reverse=True)
    return MeterHistory(
        meter.id, meter.serial_number, meter.zones, shown, entries, dict(monthly), estimated, spans
    )


@dataclass(frozen=True, slots=True)
class ChartMonth:
    """One month on the history chart: the consumption per zone, or a gap."""

    period: date
    consumption: dict[int, Decimal]  # zones whose consumption is known; empty: a gap
    months: int = 1  # how many months the consumption covers (more than one after a gap)
    estimated: bool = False

    @property
    def gap(self) -> bool:
        """No reading this month (or none to count from): nothing is known, not zero."""
        return not self.consumption


def chart_months(meter: MeterHistory) -> list[ChartMonth]:
    """The chart's data: every month of the range in order, a month without a known
    consumption as a gap (never a zero bar), and how many months a bar after a gap covers."""
    return [
        ChartMonth(
            period,
            {
                zone: value
                for zone, value in sorted(meter.monthly.get(period, {}).items())
                if value is not None
            },
            meter.spans.get(period, 1),
            period in meter.estimated,
        )
        for period in meter.periods
    ]


# --- export for the billing system -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportRow:
    account: str
    meter: str
    zone: int
    reading_date: date
    value: Decimal
    source: ReadingSource
    submitted_at: datetime


async def export_rows(session: AsyncSession, period: date) -> list[ExportRow]:
    """One row per accepted live reading of `period`: the latest replacement only."""
    rows = (
        await session.execute(
            select(Account.number, Meter.serial_number, Reading)
            .join(Meter, Meter.id == Reading.meter_id)
            .join(Account, Account.id == Meter.account_id)
            .where(
                Reading.period == period_of(period),
                Reading.replaced_by_id.is_(None),
                Reading.status == ReadingStatus.ACCEPTED,
            )
            .order_by(Account.number, Meter.serial_number, Reading.zone)
        )
    ).all()
    return [
        ExportRow(number, serial, r.zone, r.taken_on, r.value, r.source, r.submitted_at)
        for number, serial, r in rows
    ]


def format_timestamp(moment: datetime, zone: ZoneInfo) -> str:
    """«20.11.2026 12:00:05»: the registry's date spelling plus the time in the supplier's TZ."""
    return f"{format_date(moment.astimezone(zone))} {moment.astimezone(zone):%H:%M:%S}"


def export_csv(rows: list[ExportRow], zone: ZoneInfo) -> str:
    """`;`-separated like the registry import, header first; numbers and dates in its spelling."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator="\n")
    writer.writerow(EXPORT_HEADER)
    for row in rows:
        writer.writerow(
            (
                row.account,
                row.meter,
                row.zone,
                format_date(row.reading_date),
                format_decimal(row.value),
                row.source.value,
                format_timestamp(row.submitted_at, zone),
            )
        )
    return buffer.getvalue()
