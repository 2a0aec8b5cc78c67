"""Bills: the monthly billing run, a bill's lines, and what is paid and still due on each bill.

The rules, as the README documents them:

- A period is billed once the reading window of its month has closed. Per meter zone the
  consumption is the accepted reading of the period minus the latest accepted reading before it
  (through zero when the counter rolled over, as `services.readings` decides), times the tariff
  in force on the first day of the period.
- No reading this period: the consumption is the average monthly consumption of the last
  6 periods by accepted readings (at least two readings needed), the line is marked «по среднему».
- Issued bills are never rewritten. The lines of a meter zone form a chain (each starts where the
  previous ended); when a reading arrives after averages were charged, or a reading of a billed
  period changes, the next bill starts with a correction line (перерасчёт) that moves the chain
  to the real reading, at the tariff of the bill's period.
- Opening balance is the account's debt before the payments credited since the previous bill;
  «Итого к оплате» = opening − paid + charged, which is the account's balance after the run.
- A payment counts toward the bill that was the latest when it was paid; older debts are settled
  first (a later bill includes the unpaid rest of the earlier one).
"""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from sqlalchemy import Insert, Row, Table, Update, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from models import (
    Account,
    Charge,
    ChargeLine,
    LineBasis,
    Meter,
    Payment,
    PaymentStatus,
    Reading,
    ReadingStatus,
    Tariff,
)
from services.errors import DomainError, NotFound
from services.periods import period_of, shift
from services.readings import capacity, consumption_between, is_rollover
from services.tariffs import cost

log = logging.getLogger(__name__)

AVERAGE_MONTHS = 6
BATCH_SIZE = 1000
CENT = Decimal("0.01")
ZERO = Decimal(0)

# --- periods -----------------------------------------------------------------------------------


class PeriodNotClosed(DomainError):
    """The reading window of the period has not closed yet: readings may still come."""

    def __init__(self, period: date, opens_on: date) -> None:
        super().__init__(f"{period} can be billed from {opens_on}")
        self.period = period
        self.opens_on = opens_on


def _last_day(period: date) -> int:
    return (shift(period, 1) - timedelta(days=1)).day


def billing_day(period: date, window: tuple[int, int]) -> date:
    """The first day the period can be billed: the day after its reading window closes."""
    return period.replace(day=min(window[1], _last_day(period))) + timedelta(days=1)


def last_closed_period(today: date, window: tuple[int, int]) -> date:
    """The newest period whose reading window has closed by `today`."""
    current = period_of(today)
    return current if today >= billing_day(current, window) else shift(current, -1)


def due_date(period: date, due_day: int) -> date:
    """A bill is due on `due_day` of the month after its period."""
    return shift(period, 1).replace(day=due_day)


def bill_number(account_number: str, period: date) -> str:
    return f"{account_number}-{period.year:04d}{period.month:02d}"  # no strftime: once per bill


# --- the pure rules of one meter zone ----------------------------------------------------------


def signed_difference(old: Decimal, new: Decimal, digits: int) -> Decimal:
    """new − old on a counter of `digits` digits: the shorter way round the dial."""
    top = capacity(digits)
    diff = new - old
    if diff > top / 2:
        diff -= top
    elif diff < -top / 2:
        diff += top
    return diff


def wrap(value: Decimal, digits: int) -> Decimal:
    """A meter value past its capacity shows zeros again."""
    top = capacity(digits)
    return value % top if value >= top or value < 0 else value


def average_of(points: Sequence[tuple[date, Decimal]], digits: int) -> Decimal | None:
    """Average monthly consumption between accepted readings (period, value), oldest first."""
    if len(points) < 2:
        return None
    total = sum((consumption_between(a[1], b[1], digits) for a, b in pairwise(points)), Decimal(0))
    first, last = points[0][0], points[-1][0]
    months = (last.year - first.year) * 12 + last.month - first.month
    if months <= 0 or total < 0:
        return None
    return (total / months).quantize(CENT)


@dataclass(frozen=True, slots=True)
class LineDraft:
    meter_id: int
    zone: int
    previous_value: Decimal
    current_value: Decimal
    consumption: Decimal
    price: Decimal
    amount: Decimal
    basis: LineBasis
    corrects_period: date | None = None


class ZoneProblem(enum.StrEnum):
    NO_AVERAGE = "no_average"  # no reading and too little history for an average
    READING_BELOW = "reading_below"  # the reading is below what was billed already


@dataclass(frozen=True, slots=True)
class ZoneInput:
    """What the run knows about one meter zone for the period."""

    meter_id: int
    zone: int
    digits: int
    price: Decimal
    reading: Decimal | None  # the accepted reading of the period
    actual: tuple[date, Decimal] | None  # the latest accepted reading before the period
    billed: Decimal | None  # where the chain of billed lines ends
    billed_at_actual: Decimal | None  # where the chain stood at the end of `actual`'s period
    history: Sequence[tuple[date, Decimal]] = ()  # accepted readings for the average


def bill_zone(z: ZoneInput) -> list[LineDraft] | ZoneProblem | None:
    """The lines of one meter zone, a problem that stops the account, or None (not in service)."""

    def line(
        previous: Decimal,
        current: Decimal,
        consumption: Decimal,
        basis: LineBasis,
        corrects: date | None = None,
    ) -> LineDraft:
        return LineDraft(z.meter_id, z.zone, previous, current, consumption, z.price,
                         cost(consumption, z.price), basis, corrects)  # fmt: skip

    lines: list[LineDraft] = []
    if z.billed is None:
        if z.actual is None:
            if z.reading is None:
                return None  # never read, never billed: not in service yet
            return [line(z.reading, z.reading, ZERO, LineBasis.READING)]  # the initial reading
        start = z.actual[1]
    else:
        start = z.billed
        if z.actual is not None and z.billed_at_actual is not None:
            if z.reading is not None:
                # A real reading now: take back what averages or a changed reading put on the
                # chain since the last real reading.
                delta = signed_difference(z.billed, z.actual[1], z.digits)
            else:
                delta = signed_difference(z.billed_at_actual, z.actual[1], z.digits)
            if delta != 0:
                target = wrap(z.billed + delta, z.digits)
                lines.append(line(z.billed, target, delta, LineBasis.CORRECTION, z.actual[0]))
                start = target
    if z.reading is not None:
        if z.reading < start and not is_rollover(start, z.reading, z.digits):
            return ZoneProblem.READING_BELOW
        lines.append(
            line(start, z.reading, consumption_between(start, z.reading, z.digits),
                 LineBasis.READING)
        )  # fmt: skip
        return lines
    average = average_of(z.history, z.digits)
    if average is None:
        return ZoneProblem.NO_AVERAGE
    lines.append(line(start, wrap(start + average, z.digits), average, LineBasis.AVERAGE))
    return lines


# --- the run -----------------------------------------------------------------------------------


class SkipReason(enum.StrEnum):
    NO_METERS = "no_meters"
    NO_READINGS = "no_readings"
    NO_TARIFF = "no_tariff"
    NO_AVERAGE = "no_average"
    READING_BELOW = "reading_below"
    LATER_BILL = "later_bill"


@dataclass(frozen=True, slots=True)
class Skipped:
    """An account the run could not bill, and why (shown to the operator)."""

    account: str
    reason: SkipReason
    serial: str | None = None
    zone: int | None = None
    zone_scheme: int | None = None
    period: date | None = None


@dataclass(slots=True)
class RunSummary:
    period: date
    candidates: int = 0  # accounts without a bill for the period when the run started
    billed: int = 0
    by_reading: int = 0  # every line from a reading (or a correction)
    by_average: int = 0  # at least one line «по среднему»
    already_billed: int = 0
    total_charged: Decimal = ZERO
    skipped: list[Skipped] = field(default_factory=list)
    charge_ids: list[int] = field(default_factory=list)


Progress = Callable[[int, int], None]


async def run_billing(
    session: AsyncSession,
    period: date,
    *,
    today: date,
    now: datetime,
    window: tuple[int, int],
    due_day: int,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> RunSummary:
    """Bill every account without a bill for `period`; commits per batch of accounts.

    Running it again bills nobody twice (one bill per account and period); an account that
    cannot be billed is reported in `skipped` and the run goes on.
    """
    period = period_of(period)
    opens_on = billing_day(period, window)
    if today < opens_on:
        raise PeriodNotClosed(period, opens_on)
    summary = RunSummary(period)
    summary.already_billed = (
        await session.scalar(select(func.count()).where(Charge.period == period)) or 0
    )
    summary.candidates = (
        await session.scalar(select(func.count()).select_from(Account).where(_unbilled(period)))
        or 0
    )
    await session.commit()
    tariffs = await _tariffs(session, period)
    done = 0
    last_id = 0
    while True:
        ids = list(
            await session.scalars(
                select(Account.id)
                .where(Account.id > last_id, _unbilled(period))
                .order_by(Account.id)
                .limit(batch_size)
            )
        )
        if not ids:
            break
        last_id = ids[-1]
        try:
            await _bill_batch(session, ids, period, now, due_day, tariffs, summary)
            await session.commit()
        except IntegrityError:
            # Another run billed some of these accounts at the same moment: redo the rest.
            await session.rollback()
            log.info("billing batch after account %s raced another run; retrying", ids[0])
            last_id = ids[0] - 1
            continue
        done += len(ids)
        if progress is not None:
            progress(done, summary.candidates)
    return summary


def _unbilled(period: date):  # type: ignore[no-untyped-def]
    return (
        ~select(Charge.id).where(Charge.account_id == Account.id, Charge.period == period).exists()
    )


async def _tariffs(session: AsyncSession, period: date) -> dict[tuple[int, int], Decimal]:
    """(zone scheme, zone) → the price in force on the first day of the period."""
    rows = await session.execute(
        select(Tariff.zone_scheme, Tariff.zone, Tariff.price)
        .where(Tariff.effective_from <= period)
        .order_by(Tariff.effective_from)
    )
    prices: dict[tuple[int, int], Decimal] = {}
    for scheme, zone, price in rows:
        prices[(scheme, zone)] = price  # later starts overwrite earlier ones
    return prices


async def _bill_batch(
    session: AsyncSession,
    account_ids: list[int],
    period: date,
    now: datetime,
    due_day: int,
    tariffs: dict[tuple[int, int], Decimal],
    summary: RunSummary,
) -> None:
    # Core execution on the session's connection: the rows need none of the ORM's loading.
    connection = await session.connection()
    account_query = select(Account.id, Account.number, Account.balance).where(
        Account.id.in_(account_ids)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        account_query = account_query.with_for_update()
    accounts = (await connection.execute(account_query.order_by(Account.id))).all()
    later: dict[int, date] = {}
    for account_id, first in await connection.execute(
        select(Charge.account_id, func.min(Charge.period))
        .where(Charge.account_id.in_(account_ids), Charge.period > period)
        .group_by(Charge.account_id)
    ):
        later[account_id] = first
    meters_by_account: dict[int, list[Row[tuple[int, int, str, int, int]]]] = defaultdict(list)
    for meter in await connection.execute(
        select(Meter.id, Meter.account_id, Meter.serial_number, Meter.zones, Meter.digits)
        .where(Meter.account_id.in_(account_ids), Meter.is_active.is_(True))
        .order_by(Meter.id)
    ):
        meters_by_account[meter.account_id].append(meter)
    meter_ids = [m.id for ms in meters_by_account.values() for m in ms]
    state = await _zone_state(connection, meter_ids, period)
    paid = await _payments_since_last_bill(connection, account_ids, period, now)

    charges: list[tuple[object, ...]] = []  # in the order of CHARGE_COLUMNS
    due = due_date(period, due_day)
    lines_by_account: dict[int, list[LineDraft]] = {}
    for account in accounts:
        if account.id in later:
            summary.skipped.append(
                Skipped(account.number, SkipReason.LATER_BILL, period=later[account.id])
            )
            continue
        result = _bill_account(account.number, meters_by_account.get(account.id, []), state,
                               tariffs, period)  # fmt: skip
        if isinstance(result, Skipped):
            summary.skipped.append(result)
            continue
        charged = sum((line.amount for line in result), ZERO)
        account_paid = paid.get(account.id, ZERO)
        charges.append((account.id, period, bill_number(account.number, period),
                        account.balance + account_paid, charged, account_paid,
                        account.balance + charged, due, now))  # fmt: skip
        lines_by_account[account.id] = result
    if not charges:
        return
    charge_table, line_table, account_table = (_table(Charge), _table(ChargeLine), _table(Account))
    await _executemany(connection, insert(charge_table), CHARGE_COLUMNS, charges)
    # The unique (account, period) makes the rows of the period for these accounts ours.
    charge_of = dict(
        (
            await connection.execute(
                select(charge_table.c.account_id, charge_table.c.id).where(
                    charge_table.c.period == period, charge_table.c.account_id.in_(lines_by_account)
                )
            )
        )
        .tuples()
        .all()
    )
    line_rows = [
        (charge_of[account_id], line.meter_id, line.zone, line.previous_value,
         line.current_value, line.consumption, line.price, line.amount, line.basis,
         line.corrects_period)
        for account_id, lines in lines_by_account.items()
        for line in lines
    ]  # fmt: skip
    await _executemany(connection, insert(line_table), LINE_COLUMNS, line_rows)
    await _executemany(
        connection,
        update(account_table)
        .where(account_table.c.id == bindparam("b_account", type_=account_table.c.id.type))
        .values(
            balance=account_table.c.balance
            + bindparam("b_charged", type_=account_table.c.balance.type),
            updated_at=bindparam("b_now", type_=account_table.c.updated_at.type),
        ),
        ("b_account", "b_charged", "b_now"),
        [(charge[0], charge[4], now) for charge in charges],
    )
    for account_lines in lines_by_account.values():
        summary.total_charged += sum((line.amount for line in account_lines), ZERO)
        if any(line.basis == LineBasis.AVERAGE for line in account_lines):
            summary.by_average += 1
        else:
            summary.by_reading += 1
    summary.billed += len(charges)
    summary.charge_ids.extend(charge_of[account_id] for account_id in lines_by_account)


CHARGE_COLUMNS = ("account_id", "period", "number", "opening_balance", "charged", "paid",
                  "total_due", "due_date", "created_at")  # fmt: skip
LINE_COLUMNS = ("charge_id", "meter_id", "zone", "previous_value", "current_value",
                "consumption", "price", "amount", "basis", "corrects_period")  # fmt: skip


async def _executemany(
    connection: AsyncConnection,
    statement: Insert | Update,
    names: Sequence[str],
    rows: Sequence[tuple[object, ...]],
) -> None:
    """`statement` for every row of plain tuples (values in the order of `names`: columns of an
    insert, bind parameters of an update). Compiled once, the values converted column by column
    by the types' bind processors and handed to the driver's executemany: SQLAlchemy's own
    executemany builds and processes a parameter dictionary per row, most of the cost of
    writing a few hundred thousand rows."""
    if not rows:
        return
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    order = compiled.positiontup
    assert order is not None, "a positional paramstyle (qmark, numeric_dollar) is expected"
    columns = list(zip(*rows, strict=True))
    values = []
    for name in order:
        column = columns[names.index(name)]
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        values.append(column if process is None else list(map(process, column)))
    await connection.exec_driver_sql(compiled.string, list(zip(*values, strict=True)))


def _table(model: type[Account] | type[Charge] | type[ChargeLine]) -> Table:
    """The Core table of a model: bulk statements skip the ORM's per-row bookkeeping."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


@dataclass(slots=True)
class _ZoneState:
    reading: dict[tuple[int, int], Decimal] = field(default_factory=dict)
    actual: dict[tuple[int, int], tuple[date, Decimal]] = field(default_factory=dict)
    billed: dict[tuple[int, int], tuple[date, Decimal]] = field(default_factory=dict)
    billed_at_actual: dict[tuple[int, int], Decimal] = field(default_factory=dict)
    history: dict[tuple[int, int], list[tuple[date, Decimal]]] = field(default_factory=dict)


_LIVE_ACCEPTED = and_(Reading.replaced_by_id.is_(None), Reading.status == ReadingStatus.ACCEPTED)


async def _zone_state(
    connection: AsyncConnection, meter_ids: list[int], period: date
) -> _ZoneState:
    """Readings and the billed chain of every zone of these meters, in a few queries."""
    state = _ZoneState()
    if not meter_ids:
        return state
    for meter_id, zone, value in await connection.execute(
        select(Reading.meter_id, Reading.zone, Reading.value).where(
            Reading.meter_id.in_(meter_ids), Reading.period == period, _LIVE_ACCEPTED
        )
    ):
        state.reading[(meter_id, zone)] = value
    latest_reading = (
        select(
            Reading.meter_id,
            Reading.zone,
            Reading.period,
            Reading.value,
            func.row_number()
            .over(
                partition_by=(Reading.meter_id, Reading.zone),
                order_by=(Reading.period.desc(), Reading.id.desc()),
            )
            .label("rank"),
        )
        .where(Reading.meter_id.in_(meter_ids), Reading.period < period, _LIVE_ACCEPTED)
        .subquery()
    )
    for meter_id, zone, when, value in await connection.execute(
        select(
            latest_reading.c.meter_id,
            latest_reading.c.zone,
            latest_reading.c.period,
            latest_reading.c.value,
        ).where(latest_reading.c.rank == 1)
    ):
        state.actual[(meter_id, zone)] = (when, value)
    latest_line = (
        select(
            ChargeLine.meter_id,
            ChargeLine.zone,
            Charge.period,
            ChargeLine.current_value,
            func.row_number()
            .over(
                partition_by=(ChargeLine.meter_id, ChargeLine.zone),
                order_by=(Charge.period.desc(), ChargeLine.id.desc()),
            )
            .label("rank"),
        )
        .join(Charge, Charge.id == ChargeLine.charge_id)
        .where(ChargeLine.meter_id.in_(meter_ids), Charge.period < period)
        .subquery()
    )
    for meter_id, zone, when, value in await connection.execute(
        select(
            latest_line.c.meter_id,
            latest_line.c.zone,
            latest_line.c.period,
            latest_line.c.current_value,
        ).where(latest_line.c.rank == 1)
    ):
        state.billed[(meter_id, zone)] = (when, value)
    # Where the chain stood at the actual reading's period: the same as its end unless lines
    # were billed after that reading (averages, or a reading since rejected or changed).
    behind: set[int] = set()
    for key, (when, _) in state.actual.items():
        billed = state.billed.get(key)
        if billed is not None:
            if billed[0] <= when:
                state.billed_at_actual[key] = billed[1]
            else:
                behind.add(key[0])
    if behind:
        # The chain's value at the end of the actual reading's period, plus the corrections
        # that already settled that reading in later bills.
        rows = await connection.execute(
            select(
                ChargeLine.meter_id,
                ChargeLine.zone,
                Charge.period,
                ChargeLine.previous_value,
                ChargeLine.current_value,
                ChargeLine.consumption,
                ChargeLine.basis,
                ChargeLine.corrects_period,
            )
            .join(Charge, Charge.id == ChargeLine.charge_id)
            .where(ChargeLine.meter_id.in_(behind), Charge.period < period)
            .order_by(Charge.period, ChargeLine.id)
        )
        settled: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
        for meter_id, zone, when, previous, value, consumption, basis, corrects in rows:
            key = (meter_id, zone)
            actual = state.actual.get(key)
            if actual is None:
                continue
            if when <= actual[0]:
                state.billed_at_actual[key] = value
                continue
            # The chain's first bill is after the reading: it started from that reading.
            state.billed_at_actual.setdefault(key, previous)
            if basis == LineBasis.CORRECTION and corrects == actual[0]:
                settled[key] += consumption
        for key, delta in settled.items():
            if key in state.billed_at_actual:
                state.billed_at_actual[key] += delta
    missing = {key[0] for key in set(state.actual) | set(state.billed) if key not in state.reading}
    if missing:
        rows = await connection.execute(
            select(Reading.meter_id, Reading.zone, Reading.period, Reading.value)
            .where(
                Reading.meter_id.in_(missing),
                Reading.period >= shift(period, -(AVERAGE_MONTHS + 1)),
                Reading.period < period,
                _LIVE_ACCEPTED,
            )
            .order_by(Reading.period, Reading.id)
        )
        for meter_id, zone, when, value in rows:
            state.history.setdefault((meter_id, zone), []).append((when, value))
    return state


async def _payments_since_last_bill(
    connection: AsyncConnection, account_ids: list[int], period: date, now: datetime
) -> dict[int, Decimal]:
    """Per account: succeeded payments credited after its previous bill was issued."""
    last_issue = (
        select(Charge.account_id, func.max(Charge.created_at).label("issued_at"))
        .where(Charge.account_id.in_(account_ids), Charge.period < period)
        .group_by(Charge.account_id)
        .subquery()
    )
    rows = await connection.execute(
        select(Payment.account_id, func.sum(Payment.amount))
        .outerjoin(last_issue, last_issue.c.account_id == Payment.account_id)
        .where(
            Payment.account_id.in_(account_ids),
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.paid_at.is_not(None),
            Payment.paid_at <= now,
            (last_issue.c.issued_at.is_(None)) | (Payment.paid_at > last_issue.c.issued_at),
        )
        .group_by(Payment.account_id)
    )
    return {account_id: Decimal(total) for account_id, total in rows}


def _bill_account(
    number: str,
    meters: Sequence[Row[tuple[int, int, str, int, int]]],
    state: _ZoneState,
    tariffs: dict[tuple[int, int], Decimal],
    period: date,
) -> list[LineDraft] | Skipped:
    if not meters:
        return Skipped(number, SkipReason.NO_METERS)
    lines: list[LineDraft] = []
    for meter in meters:
        for zone in range(1, meter.zones + 1):
            key = (meter.id, zone)
            price = tariffs.get((meter.zones, zone))
            billed = state.billed.get(key)
            z = ZoneInput(
                meter_id=meter.id,
                zone=zone,
                digits=meter.digits,
                price=price if price is not None else ZERO,
                reading=state.reading.get(key),
                actual=state.actual.get(key),
                billed=billed[1] if billed else None,
                billed_at_actual=state.billed_at_actual.get(key),
                history=state.history.get(key, ()),
            )
            result = bill_zone(z)
            if result is None:
                continue
            if price is None:
                return Skipped(number, SkipReason.NO_TARIFF, meter.serial_number, zone,
                               meter.zones, period)  # fmt: skip
            if isinstance(result, ZoneProblem):
                reason = (
                    SkipReason.NO_AVERAGE
                    if result == ZoneProblem.NO_AVERAGE
                    else SkipReason.READING_BELOW
                )
                return Skipped(number, reason, meter.serial_number, zone, meter.zones)
            lines.extend(result)
    if not lines:
        return Skipped(number, SkipReason.NO_READINGS)
    return lines


# --- what is paid and due on each bill ---------------------------------------------------------


class BillStatus(enum.StrEnum):
    PAID = "paid"  # оплачен
    PARTIAL = "partial"  # частично
    UNPAID = "unpaid"  # не оплачен
    OVERPAID = "overpaid"  # переплата


@dataclass(frozen=True, slots=True)
class BillState:
    """A bill as the subscriber sees it today."""

    charge_id: int
    period: date
    number: str
    opening_balance: Decimal
    charged: Decimal
    paid_in_period: Decimal  # payments printed on the bill (credited before it was issued)
    total_due: Decimal  # «Итого к оплате» as issued
    due_date: date
    issued_at: datetime
    paid: Decimal  # paid toward this bill since it was issued (older debts settled first)
    to_pay: Decimal  # still to pay on it, ≥ 0
    overpaid: Decimal  # > 0: paid more than was due
    status: BillStatus
    carried_to: date | None  # a later bill includes the unpaid rest of this one


class BillNotFound(NotFound):
    """No such bill on this account (a stale button, or another account's bill)."""


async def bill_statuses(
    session: AsyncSession, account_id: int, *, limit: int | None = None
) -> list[BillState]:
    """The account's bills, newest first, with what is paid and due on each (for payments too)."""
    query = select(Charge).where(Charge.account_id == account_id).order_by(Charge.period.desc())
    if limit is not None:
        query = query.limit(limit)
    charges = list(await session.scalars(query))
    if not charges:
        return []
    oldest_issue = min(c.created_at for c in charges)
    payments = list(
        (
            await session.execute(
                select(Payment.paid_at, Payment.amount).where(
                    Payment.account_id == account_id,
                    Payment.status == PaymentStatus.SUCCEEDED,
                    Payment.paid_at.is_not(None),
                    Payment.paid_at > oldest_issue,
                )
            )
        ).all()
    )
    return _states(charges, [(p.paid_at, p.amount) for p in payments])


def _states(charges: list[Charge], payments: list[tuple[datetime, Decimal]]) -> list[BillState]:
    """`charges` newest first; each payment counts toward the bill latest when it was paid."""
    states: list[BillState] = []
    outstanding_next: Decimal | None = None
    charged_next = ZERO
    next_issue: datetime | None = None
    next_period: date | None = None
    for charge in charges:
        paid_after = sum(
            (
                amount
                for paid_at, amount in payments
                if paid_at > charge.created_at and (next_issue is None or paid_at <= next_issue)
            ),
            ZERO,
        )
        own = charge.total_due - paid_after
        if outstanding_next is None or own < 0:
            outstanding = own
        else:
            outstanding = max(ZERO, min(own, outstanding_next - charged_next))
        if outstanding < 0:
            status, paid = BillStatus.OVERPAID, paid_after
        elif outstanding == 0:
            status, paid = BillStatus.PAID, charge.total_due
        elif outstanding >= charge.total_due:
            status, paid = BillStatus.UNPAID, ZERO
        else:
            status, paid = BillStatus.PARTIAL, charge.total_due - outstanding
        to_pay = max(outstanding, ZERO)
        states.append(
            BillState(
                charge_id=charge.id,
                period=charge.period,
                number=charge.number,
                opening_balance=charge.opening_balance,
                charged=charge.charged,
                paid_in_period=charge.paid,
                total_due=charge.total_due,
                due_date=charge.due_date,
                issued_at=charge.created_at,
                paid=paid,
                to_pay=to_pay,
                overpaid=max(-outstanding, ZERO),
                status=status,
                carried_to=next_period if to_pay > 0 else None,
            )
        )
        outstanding_next, charged_next = outstanding, charge.charged
        next_issue, next_period = charge.created_at, charge.period
    return states


async def remaining_due(session: AsyncSession, charge_id: int) -> Decimal:
    """What is still to pay on a bill (0 when paid or overpaid): the amount to invoice."""
    charge = await session.get(Charge, charge_id)
    if charge is None:
        raise BillNotFound(str(charge_id))
    newer = list(
        await session.scalars(
            select(Charge)
            .where(Charge.account_id == charge.account_id, Charge.period >= charge.period)
            .order_by(Charge.period.desc())
        )
    )
    payments = (
        await session.execute(
            select(Payment.paid_at, Payment.amount).where(
                Payment.account_id == charge.account_id,
                Payment.status == PaymentStatus.SUCCEEDED,
                Payment.paid_at.is_not(None),
                Payment.paid_at > charge.created_at,
            )
        )
    ).all()
    states = _states(newer, [(p.paid_at, p.amount) for p in payments])
    return states[-1].to_pay


# --- a bill's detail ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BillLine:
    serial: str | None
    zone_scheme: int
    zone: int
    previous_value: Decimal
    current_value: Decimal
    consumption: Decimal
    price: Decimal
    amount: Decimal
    basis: LineBasis
    corrects_period: date | None


@dataclass(frozen=True, slots=True)
class BillDetail:
    state: BillState
    account_number: str
    holder: str
    address: str
    lines: list[BillLine]


async def bill_detail(session: AsyncSession, account_id: int, charge_id: int) -> BillDetail:
    """A bill of the account with its lines; BillNotFound for anyone else's bill."""
    charge = await session.get(Charge, charge_id)
    if charge is None or charge.account_id != account_id:
        raise BillNotFound(str(charge_id))
    account = await session.get(Account, account_id)
    assert account is not None
    states = await bill_statuses(session, account_id)
    state = next(s for s in states if s.charge_id == charge_id)
    rows = await session.execute(
        select(ChargeLine, Meter.serial_number, Meter.zones)
        .outerjoin(Meter, Meter.id == ChargeLine.meter_id)
        .where(ChargeLine.charge_id == charge_id)
        .order_by(ChargeLine.meter_id, ChargeLine.zone, ChargeLine.id)
    )
    lines = [
        BillLine(serial, zones or line.zone, line.zone, line.previous_value, line.current_value,
                 line.consumption, line.price, line.amount, line.basis, line.corrects_period)
        for line, serial, zones in rows
    ]  # fmt: skip
    return BillDetail(state, account.number, account.holder_full_name, account.address, lines)


@dataclass(frozen=True, slots=True)
class NextBill:
    """When the first (or next) bill of an account will come."""

    period: date
    on: date
    has_readings: bool


async def next_bill(
    session: AsyncSession, account_id: int, today: date, window: tuple[int, int]
) -> NextBill:
    """The first period whose billing day is still ahead, and whether readings were ever sent."""
    period = period_of(today)
    if today >= billing_day(period, window):
        period = shift(period, 1)
    has_readings = (
        await session.scalar(
            select(Reading.id)
            .join(Meter, Meter.id == Reading.meter_id)
            .where(Meter.account_id == account_id, _LIVE_ACCEPTED)
            .limit(1)
        )
        is not None
    )
    return NextBill(period, billing_day(period, window), has_readings)
