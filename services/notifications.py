"""The notifications outbox and the pushes that fill it.

Queuing happens in the caller's transaction (the caller commits), so a message is sent if and
only if its event was saved; `dedup_key` makes queuing the same event twice harmless.

The scheduled pushes (reading reminders, the monthly bill, meter verification) are *passes*:
one pass per day or period, recorded in `job_runs` in the same transaction as what it queued,
so a pass happens once however many bot processes run it (an advisory lock on PostgreSQL lets
the second skip at once; on SQLite the database's write lock and the primary key do it) and a
bot that was down catches up with one pass, not one per missed tick.

Delivery bookkeeping: `claim_due` leases due messages to one sender; `mark_sent` right after
Telegram answers. Delivery is at least once: a process that dies between Telegram's answer and
that commit (a few milliseconds) sends the message again once the lease runs out.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Account,
    AccountLink,
    Channel,
    Charge,
    JobRun,
    Login,
    Meter,
    Notification,
    OutboxStatus,
    Reading,
    ReadingStatus,
    Subscription,
    TelegramIdentity,
    utcnow,
)
from services.errors import DomainError
from services.periods import period_of, shift

MAX_ATTEMPTS = 10
LEASE = timedelta(minutes=2)
BLOCKED = "blocked: skipped until the user writes again"

REMINDER_KIND = "reading_reminder"
BILL_KIND = "bill_ready"
VERIFICATION_KIND = "meter_verification"
ANNOUNCEMENT_KIND = "announcement"
# The subscription each planned push follows: who gets it when a pass queues it, and checked
# again when it is sent (a pass queues at once, and a push may wait in the outbox for minutes
# or, after downtime, days).
_SUBSCRIPTION_OF = {
    REMINDER_KIND: Subscription.reading_reminders,
    BILL_KIND: Subscription.monthly_bill,
    VERIFICATION_KIND: Subscription.reading_reminders,
}
VERIFICATION_NOTICE_DAYS = 30
BILL_PUSH_MAX_AGE = timedelta(days=20)  # older bills are not pushed (a first run on old data)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    id: int
    kind: str
    chat_id: int
    payload: dict[str, Any]
    channel: Channel = Channel.TELEGRAM
    attempts: int = 0
    login_id: int | None = None


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else ""


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    chat_id: int,
    dedup_key: str,
    payload: dict[str, Any] | None = None,
    login_id: int | None = None,
    now: datetime | None = None,
    channel: Channel = Channel.TELEGRAM,
    lease: timedelta | None = None,
) -> None:
    """Add to the outbox unless the same `dedup_key` is already there (queued earlier in this
    transaction, or by a concurrent one): INSERT … ON CONFLICT DO NOTHING. Does not commit.

    `lease`: the caller delivers it at once itself; the outbox job takes it only if the caller
    has not marked it sent or failed within that time (say, the process died)."""
    now = now or utcnow()
    await enqueue_many(
        session,
        [
            {
                "kind": kind,
                "chat_id": chat_id,
                "dedup_key": dedup_key,
                "payload": payload or {},
                "login_id": login_id,
                "channel": channel,
            }
        ],
        now=now,
        due=now + lease if lease else None,
    )


async def enqueue_many(
    session: AsyncSession,
    rows: list[dict[str, Any]],
    *,
    now: datetime | None = None,
    due: datetime | None = None,
) -> int:
    """`enqueue` for many rows at once (a pass of thousands of reminders); does not commit.
    Returns how many were new (the others were queued before under the same key)."""
    if not rows:
        return 0
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    now = now or utcnow()
    values = [
        {
            "kind": row["kind"],
            "chat_id": row["chat_id"],
            "dedup_key": row["dedup_key"],
            "payload": row.get("payload") or {},
            "login_id": row.get("login_id"),
            "channel": row.get("channel", Channel.TELEGRAM),
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": due or now,
            "created_at": now,
        }
        for row in rows
    ]
    added = 0
    for start in range(0, len(values), 500):
        result = await session.execute(
            insert(Notification)
            .values(values[start : start + 500])
            .on_conflict_do_nothing(index_elements=[Notification.dedup_key])
        )
        added += max(0, getattr(result, "rowcount", 0) or 0)
    return added


# --- delivery bookkeeping ----------------------------------------------------------------------


async def claim_due(
    session: AsyncSession,
    *,
    limit: int = 50,
    now: datetime | None = None,
    lease: timedelta = LEASE,
) -> list[OutgoingMessage]:
    """Take up to `limit` due messages for delivery and commit a lease on them, so another bot
    instance polling the same outbox skips them (SKIP LOCKED on PostgreSQL); if this process
    dies mid-delivery, the lease runs out and they are delivered later.

    Messages to a chat that blocked the bot are not sent: they are closed as skipped in the same
    transaction (the user writing to the bot again clears the mark)."""
    now = now or utcnow()
    query = (
        select(Notification, TelegramIdentity.blocked_bot_at)
        .outerjoin(
            TelegramIdentity,
            and_(
                Notification.channel == Channel.TELEGRAM,
                TelegramIdentity.telegram_user_id == Notification.chat_id,
            ),
        )
        .where(Notification.status == OutboxStatus.PENDING, Notification.next_attempt_at <= now)
        .order_by(Notification.id)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Notification)
    claimed = []
    for notification, blocked_at in (await session.execute(query)).tuples():
        if blocked_at is not None:
            notification.status = OutboxStatus.FAILED
            notification.last_error = BLOCKED
            continue
        notification.next_attempt_at = now + lease
        claimed.append(
            OutgoingMessage(
                notification.id,
                notification.kind,
                notification.chat_id,
                dict(notification.payload),
                notification.channel,
                notification.attempts,
                notification.login_id,
            )
        )
    await session.commit()
    return claimed


async def mark_sent(
    session: AsyncSession, notification_id: int, *, note: str | None = None
) -> None:
    """Record a delivery; `note` for a send whose answer was lost (sent, unconfirmed)."""
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(
            status=OutboxStatus.SENT,
            sent_at=utcnow(),
            attempts=Notification.attempts + 1,
            last_error=note,
        )
    )
    await session.commit()


async def mark_sent_many(session: AsyncSession, notification_ids: list[int]) -> None:
    """Record deliveries in one commit (the sender batches what Telegram confirmed meanwhile)."""
    if not notification_ids:
        return
    table = Notification.__table__
    assert isinstance(table, Table)
    await session.execute(
        update(table)
        .where(table.c.id.in_(notification_ids))
        .values(
            status=OutboxStatus.SENT,
            sent_at=utcnow(),
            attempts=table.c.attempts + 1,
            last_error=None,
        )
    )
    await session.commit()


async def mark_failed(
    session: AsyncSession,
    notification_id: int,
    error: str,
    *,
    permanent: bool = False,
    retry_in: timedelta | None = None,
) -> None:
    """Back off exponentially (or retry after `retry_in`); give up after MAX_ATTEMPTS or at
    once when it cannot succeed."""
    notification = await session.get(Notification, notification_id)
    if notification is None:
        return
    notification.attempts += 1
    notification.last_error = error[:500]
    if permanent or notification.attempts >= MAX_ATTEMPTS:
        notification.status = OutboxStatus.FAILED
    else:
        delay = retry_in or timedelta(seconds=30 * 2**notification.attempts)
        notification.next_attempt_at = utcnow() + delay
    await session.commit()


async def postpone(session: AsyncSession, notification_id: int, until: datetime) -> None:
    """Put a claimed message back, due at `until`, without counting an attempt (flood control:
    Telegram's retry_after, or the chat had a message less than a second ago)."""
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == OutboxStatus.PENDING)
        .values(next_attempt_at=until)
    )
    await session.commit()


async def mark_chat_blocked(session: AsyncSession, chat_id: int, notification_id: int) -> None:
    """Telegram said 403: the user blocked the bot. Close the message and mark the user, so
    further messages to them are skipped until they write again."""
    await session.execute(
        update(TelegramIdentity)
        .where(TelegramIdentity.telegram_user_id == chat_id)
        .values(blocked_bot_at=utcnow())
    )
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(
            status=OutboxStatus.FAILED,
            attempts=Notification.attempts + 1,
            last_error="403: bot was blocked by the user",
        )
    )
    await session.commit()


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    pending: int
    sent: int
    failed: int


async def outbox_counts(session: AsyncSession) -> OutboxCounts:
    rows = dict(
        (
            await session.execute(
                select(Notification.status, func.count()).group_by(Notification.status)
            )
        )
        .tuples()
        .all()
    )
    return OutboxCounts(
        rows.get(OutboxStatus.PENDING, 0),
        rows.get(OutboxStatus.SENT, 0),
        rows.get(OutboxStatus.FAILED, 0),
    )


# --- passes: once per day or period, across processes -------------------------------------------


def _lock_id(job: str, key: str) -> int:
    digest = hashlib.blake2b(f"{job}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _begin_pass(session: AsyncSession, job: str, key: str) -> bool:
    """Whether this process should run the pass `job`/`key` now: not done yet, and (on
    PostgreSQL) no other process is running it — the advisory lock lives until the commit."""
    if _dialect(session) == "postgresql":
        got = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _lock_id(job, key)}
        )
        if not got:
            await session.rollback()
            return False
    done = await session.get(JobRun, (job, key))
    if done is not None:
        await session.rollback()
        return False
    return True


async def _finish_pass(
    session: AsyncSession, job: str, key: str, queued: int, now: datetime
) -> int:
    """Record the pass with what it queued, in one commit; 0 when another process won."""
    session.add(JobRun(job=job, key=key, queued=queued, done_at=now))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return 0
    return queued


async def pass_done(session: AsyncSession, job: str, key: str) -> bool:
    return await session.get(JobRun, (job, key)) is not None


# --- recipients --------------------------------------------------------------------------------


@dataclass
class Recipient:
    login_id: int
    chats: list[int] = field(default_factory=list)
    phone: str | None = None  # when the subscriber chose SMS


async def _recipients(
    session: AsyncSession, flag: Any, login_ids: Iterable[int] | None = None
) -> dict[int, Recipient]:
    """Logins with the subscription `flag` on: their logged-in Telegram chats (not blocked) and
    their phone when they chose SMS."""
    query = (
        select(Login.id, Login.phone, Subscription.sms, TelegramIdentity.chat_id)
        .join(Subscription, Subscription.login_id == Login.id)
        .outerjoin(
            TelegramIdentity,
            and_(TelegramIdentity.login_id == Login.id, TelegramIdentity.blocked_bot_at.is_(None)),
        )
        .where(flag.is_(True))
    )
    if login_ids is not None:
        query = query.where(Login.id.in_(list(login_ids)))
    found: dict[int, Recipient] = {}
    for login_id, phone, sms, chat_id in (await session.execute(query)).tuples():
        recipient = found.setdefault(login_id, Recipient(login_id))
        if chat_id is not None and chat_id not in recipient.chats:
            recipient.chats.append(chat_id)
        if sms and phone:
            recipient.phone = phone
    return {k: v for k, v in found.items() if v.chats or v.phone}


def _rows_for(
    recipient: Recipient, kind: str, key: str, payload: dict[str, Any]
) -> list[dict[str, Any]]:
    """One outbox row per chat of the recipient and one SMS when they chose SMS."""
    rows = [
        {
            "kind": kind,
            "chat_id": chat,
            "dedup_key": f"{key}:{chat}",
            "payload": payload,
            "login_id": recipient.login_id,
        }
        for chat in recipient.chats
    ]
    if recipient.phone:
        rows.append(
            {
                "kind": kind,
                "chat_id": 0,
                "dedup_key": f"{key}:sms{recipient.login_id}",
                "payload": {**payload, "phone": recipient.phone},
                "login_id": recipient.login_id,
                "channel": Channel.SMS,
            }
        )
    return rows


# --- reading reminders -------------------------------------------------------------------------


def _day_of(month: date, day: int) -> date:
    """`day` of the month of `month`, or its last day when the month is shorter (a window
    «25-31» ends on the 30th in November)."""
    following = shift(period_of(month), 1)
    return min(month.replace(day=1) + timedelta(days=day - 1), following - timedelta(days=1))


def reminder_days(today: date, window: tuple[int, int]) -> tuple[date, date]:
    """The scheduled reminder days of the month's window: its first and its last day."""
    first, last = window
    return _day_of(today, first), _day_of(today, last)


def local_moment(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone)


def reminder_slot(
    now: datetime, zone: ZoneInfo, window: tuple[int, int], at: time, snoozed: Iterable[date] = ()
) -> date | None:
    """The latest reminder day whose time has come, inside this month's window: a scheduled day
    or a day someone asked to be reminded on. A bot down for days catches up with this one."""
    local = now.astimezone(zone)
    today = local.date()
    first, last = window
    if not first <= today.day <= last:
        return None
    candidates = [d for d in (*reminder_days(today, window), *snoozed) if first <= d.day <= last]
    due = [
        d
        for d in candidates
        if d.month == today.month and d <= today and local >= local_moment(d, at, zone)
    ]
    return max(due) if due else None


async def accounts_missing_readings(
    session: AsyncSession, period: date, account_ids: Iterable[int] | None = None
) -> set[int]:
    """Accounts with an active meter zone that has no accepted reading for `period` yet."""
    expected = select(Meter.account_id, func.sum(Meter.zones).label("zones")).where(
        Meter.is_active.is_(True)
    )
    if account_ids is not None:
        expected = expected.where(Meter.account_id.in_(list(account_ids)))
    expected_rows = dict(
        (await session.execute(expected.group_by(Meter.account_id))).tuples().all()
    )
    sent = (
        select(Meter.account_id, func.count(func.distinct(Reading.meter_id * 10 + Reading.zone)))
        .join(Reading, Reading.meter_id == Meter.id)
        .where(
            Meter.is_active.is_(True),
            Reading.period == period,
            Reading.replaced_by_id.is_(None),
            Reading.status == ReadingStatus.ACCEPTED,
            Reading.zone <= Meter.zones,
        )
        .group_by(Meter.account_id)
    )
    if account_ids is not None:
        sent = sent.where(Meter.account_id.in_(list(account_ids)))
    sent_rows = dict((await session.execute(sent)).tuples().all())
    return {
        account_id
        for account_id, zones in expected_rows.items()
        if zones and sent_rows.get(account_id, 0) < zones
    }


@dataclass(frozen=True, slots=True)
class PlannedPush:
    """What a pass would queue, for `python -m bot notify --dry-run`."""

    kind: str
    login_id: int
    account_number: str
    telegram_chats: int
    sms: bool


async def _linked_accounts(
    session: AsyncSession, login_ids: Iterable[int], account_ids: Iterable[int] | None = None
) -> list[tuple[int, Account]]:
    query = (
        select(AccountLink.login_id, Account)
        .join(Account, Account.id == AccountLink.account_id)
        .where(AccountLink.login_id.in_(list(login_ids)))
        .order_by(AccountLink.login_id, Account.id)
    )
    if account_ids is not None:
        query = query.where(Account.id.in_(list(account_ids)))
    return list((await session.execute(query)).tuples().all())


def reminder_payload(
    account: Account, period: date, slot: date, window: tuple[int, int]
) -> dict[str, Any]:
    return {
        "account_id": account.id,
        "number": account.number,
        "address": account.address,
        "period": period.isoformat(),
        "day": slot.isoformat(),
        "last_day": _day_of(slot, window[1]).day,
        "final": slot == _day_of(slot, window[1]),
    }


async def _plan_reminders(session: AsyncSession, slot: date) -> list[tuple[Recipient, Account]]:
    recipients = await _recipients(session, _SUBSCRIPTION_OF[REMINDER_KIND])
    if not recipients:
        return []
    links = await _linked_accounts(session, recipients)
    missing = await accounts_missing_readings(session, period_of(slot), {a.id for _, a in links})
    return [(recipients[login_id], account) for login_id, account in links if account.id in missing]


async def _snoozed(session: AsyncSession) -> list[Notification]:
    return list(
        await session.scalars(
            select(Notification).where(
                Notification.kind == REMINDER_KIND, Notification.status == OutboxStatus.SNOOZED
            )
        )
    )


def _day(notification: Notification) -> date:
    return date.fromisoformat(str(notification.payload["day"]))


async def plan_reminders(
    session: AsyncSession, *, now: datetime, zone: ZoneInfo, window: tuple[int, int], at: time
) -> list[PlannedPush]:
    """Who would be reminded now (nothing is queued)."""
    snoozed = await _snoozed(session)
    slot = reminder_slot(now, zone, window, at, {_day(n) for n in snoozed})
    if slot is None or await pass_done(session, "reminders", slot.isoformat()):
        return []
    planned = []
    if slot in reminder_days(slot, window):
        planned = [
            PlannedPush(REMINDER_KIND, r.login_id, a.number, len(r.chats), r.phone is not None)
            for r, a in await _plan_reminders(session, slot)
        ]
    numbers = {n.payload["account_id"]: n.payload["number"] for n in snoozed if _day(n) <= slot}
    return planned + [
        PlannedPush(REMINDER_KIND, n.login_id or 0, str(numbers[n.payload["account_id"]]), 1, False)
        for n in snoozed
        if _day(n) <= slot
    ]


async def queue_reminders(
    session: AsyncSession, *, now: datetime, zone: ZoneInfo, window: tuple[int, int], at: time
) -> int:
    """The reminders pass of the current slot day, once. On a scheduled day: to subscribers with
    reminders on, for every linked account with a meter zone still without a reading for the
    period; on any slot day: the «Напомнить завтра» reminders due by then. Returns how many
    messages were queued (0 when the pass was done already, by this process or another)."""
    snoozed = await _snoozed(session)
    slot = reminder_slot(now, zone, window, at, {_day(n) for n in snoozed})
    if slot is None:
        await session.rollback()
        return 0
    key = slot.isoformat()
    if not await _begin_pass(session, "reminders", key):
        return 0
    rows: list[dict[str, Any]] = []
    if slot in reminder_days(slot, window):
        for recipient, account in await _plan_reminders(session, slot):
            payload = reminder_payload(account, period_of(slot), slot, window)
            rows += _rows_for(recipient, REMINDER_KIND, f"remind:{account.id}:{key}", payload)
    released = 0
    due_now = [n for n in snoozed if _day(n) <= slot]
    missing = await accounts_missing_readings(
        session, period_of(slot), {int(n.payload["account_id"]) for n in due_now}
    )
    for notification in due_now:
        if int(notification.payload["account_id"]) in missing:
            notification.status = OutboxStatus.PENDING
            notification.next_attempt_at = utcnow()
            released += 1
        else:
            notification.status = OutboxStatus.FAILED
            notification.last_error = "readings are in: not needed"
    await session.flush()
    # A scheduled reminder of the same day and chat as a released one has its key: not queued.
    added = await enqueue_many(session, rows, now=utcnow())
    return await _finish_pass(session, "reminders", key, added + released, now)


class CannotSnooze(DomainError):
    """The reading window ends today: there is no «tomorrow» to be reminded on."""


class ReadingsAlreadyIn(DomainError):
    """Every meter of the account has its readings for the period: nothing to remind of."""


async def snooze_reminder(
    session: AsyncSession,
    *,
    login_id: int,
    chat_id: int,
    account_id: int,
    now: datetime,
    zone: ZoneInfo,
    window: tuple[int, int],
) -> date:
    """«Напомнить завтра»: a reminder for this chat and account tomorrow at the reminder time.
    Returns tomorrow's date."""
    today = now.astimezone(zone).date()
    tomorrow = today + timedelta(days=1)
    first, last = window
    if tomorrow.month != today.month or not first <= tomorrow.day <= last:
        raise CannotSnooze(str(today))
    link = await session.scalar(
        select(Account)
        .join(AccountLink, AccountLink.account_id == Account.id)
        .where(AccountLink.login_id == login_id, Account.id == account_id)
    )
    if link is None:
        raise CannotSnooze("not linked")
    period = period_of(today)
    if account_id not in await accounts_missing_readings(session, period, [account_id]):
        raise ReadingsAlreadyIn(link.number)
    # Kept aside (SNOOZED) until the reminders pass of that day releases it; the pass's own
    # reminder to this chat has the same key, so the subscriber gets one.
    await enqueue(
        session,
        kind=REMINDER_KIND,
        chat_id=chat_id,
        login_id=login_id,
        dedup_key=f"remind:{account_id}:{tomorrow.isoformat()}:{chat_id}",
        payload={**reminder_payload(link, period, tomorrow, window), "snoozed": True},
    )
    await session.execute(
        update(Notification)
        .where(
            Notification.dedup_key == f"remind:{account_id}:{tomorrow.isoformat()}:{chat_id}",
            Notification.status == OutboxStatus.PENDING,
            Notification.attempts == 0,
        )
        .values(status=OutboxStatus.SNOOZED)
    )
    await session.commit()
    return tomorrow


async def still_wanted(session: AsyncSession, item: OutgoingMessage) -> bool:
    """Checked just before sending a planned push, as things are now rather than when it was
    queued: the login still subscribes (and to SMS, for an SMS), the chat is still logged in to
    it and the account still linked to it; a reminder whose readings came in meanwhile is
    dropped too. Other kinds (a logout notice, a reply from staff) always go."""
    flag = _SUBSCRIPTION_OF.get(item.kind)
    if flag is None or item.login_id is None:
        return True
    query = select(Subscription.login_id).where(
        Subscription.login_id == item.login_id, flag.is_(True)
    )
    if item.channel == Channel.SMS:
        query = query.where(Subscription.sms.is_(True))
    else:
        query = query.where(
            exists().where(
                TelegramIdentity.chat_id == item.chat_id,
                TelegramIdentity.login_id == item.login_id,
            )
        )
    account_id = item.payload.get("account_id")
    if account_id is not None:
        query = query.where(
            exists().where(
                AccountLink.login_id == item.login_id, AccountLink.account_id == int(account_id)
            )
        )
    if await session.scalar(query) is None:
        return False
    if item.kind != REMINDER_KIND or account_id is None:
        return True
    period = date.fromisoformat(str(item.payload["period"]))
    return int(account_id) in await accounts_missing_readings(session, period, [int(account_id)])


# --- the monthly bill ---------------------------------------------------------------------------


async def _bill_plan(
    session: AsyncSession, period: date, now: datetime
) -> list[tuple[Recipient, Account, Charge]]:
    recipients = await _recipients(session, _SUBSCRIPTION_OF[BILL_KIND])
    if not recipients:
        return []
    charges = {
        c.account_id: c
        for c in await session.scalars(
            select(Charge).where(
                Charge.period == period, Charge.created_at >= now - BILL_PUSH_MAX_AGE
            )
        )
    }
    if not charges:
        return []
    links = await _linked_accounts(session, recipients, charges)
    return [(recipients[login_id], a, charges[a.id]) for login_id, a in links]


def bill_payload(account: Account, charge: Charge) -> dict[str, Any]:
    return {
        "account_id": account.id,
        "charge_id": charge.id,
        "number": account.number,
        "bill_number": charge.number,
        "period": charge.period.isoformat(),
        "amount": f"{charge.total_due:.2f}",
        "due_date": charge.due_date.isoformat(),
    }


async def plan_bills(session: AsyncSession, period: date, *, now: datetime) -> list[PlannedPush]:
    if await pass_done(session, "bills", period.isoformat()):
        return []
    return [
        PlannedPush(BILL_KIND, r.login_id, a.number, len(r.chats), r.phone is not None)
        for r, a, _ in await _bill_plan(session, period, now)
    ]


async def queue_bills(session: AsyncSession, period: date, *, now: datetime) -> int:
    """The monthly bill pass of `period`, once, after its billing run: every subscriber with the
    bill on gets each linked account's bill (the PDF is attached when it is sent)."""
    key = period.isoformat()
    if not await _begin_pass(session, "bills", key):
        return 0
    if not await pass_done(session, "billing", key):  # the billing run is not over yet
        await session.rollback()
        return 0
    rows: list[dict[str, Any]] = []
    for recipient, account, charge in await _bill_plan(session, period, now):
        rows += _rows_for(recipient, BILL_KIND, f"bill:{charge.id}", bill_payload(account, charge))
    added = await enqueue_many(session, rows, now=utcnow())
    return await _finish_pass(session, "bills", key, added, now)


async def billing_finished(session: AsyncSession, period: date, *, now: datetime) -> None:
    """The billing job billed `period` to the end: its bill push may go (not before, or the
    accounts of batches still to come would be left out)."""
    if await pass_done(session, "billing", period.isoformat()):
        return
    session.add(JobRun(job="billing", key=period.isoformat(), queued=0, done_at=now))
    try:
        await session.commit()
    except IntegrityError:  # another process recorded it at the same moment
        await session.rollback()


# --- meter verification -------------------------------------------------------------------------


async def _verification_plan(
    session: AsyncSession, today: date
) -> list[tuple[Recipient, Account, Meter]]:
    meters = list(
        await session.scalars(
            select(Meter).where(
                Meter.is_active.is_(True),
                Meter.verified_until.is_not(None),
                Meter.verified_until <= today + timedelta(days=VERIFICATION_NOTICE_DAYS),
            )
        )
    )
    if not meters:
        return []
    by_account: dict[int, list[Meter]] = defaultdict(list)
    for meter in meters:
        by_account[meter.account_id].append(meter)
    recipients = await _recipients(session, _SUBSCRIPTION_OF[VERIFICATION_KIND])
    links = await _linked_accounts(session, recipients, by_account)
    return [
        (recipients[login_id], account, meter)
        for login_id, account in links
        for meter in by_account[account.id]
    ]


def verification_payload(account: Account, meter: Meter, today: date) -> dict[str, Any]:
    assert meter.verified_until is not None
    return {
        "account_id": account.id,
        "number": account.number,
        "serial": meter.serial_number,
        "verified_until": meter.verified_until.isoformat(),
        "expired": meter.verified_until < today,
    }


async def plan_verification(session: AsyncSession, today: date) -> list[PlannedPush]:
    if await pass_done(session, "verification", today.isoformat()):
        return []
    return [
        PlannedPush(VERIFICATION_KIND, r.login_id, a.number, len(r.chats), r.phone is not None)
        for r, a, _ in await _verification_plan(session, today)
    ]


async def queue_verification(session: AsyncSession, today: date, *, now: datetime) -> int:
    """Meters whose verification expires within 30 days or has expired: one notice per meter
    and verification date (a new date after the verification brings a new notice in time)."""
    key = today.isoformat()
    if not await _begin_pass(session, "verification", key):
        return 0
    rows: list[dict[str, Any]] = []
    for recipient, account, meter in await _verification_plan(session, today):
        payload = verification_payload(account, meter, today)
        base = f"verify:{meter.id}:{payload['verified_until']}"
        rows += [r for r in _rows_for(recipient, VERIFICATION_KIND, base, payload)
                 if r.get("channel") != Channel.SMS]  # fmt: skip
    added = await enqueue_many(session, rows, now=utcnow())
    return await _finish_pass(session, "verification", key, added, now)


# --- operator announcements ---------------------------------------------------------------------


async def announcement_chats(session: AsyncSession, address_contains: str | None) -> list[int]:
    """Chats of every logged-in subscriber (not blocked), or only of those with a linked account
    whose address contains the fragment, in any case (compared in Python: SQLite folds the case
    of ASCII letters only)."""
    base = select(TelegramIdentity.chat_id).where(
        TelegramIdentity.login_id.is_not(None), TelegramIdentity.blocked_bot_at.is_(None)
    )
    if not address_contains:
        return sorted(set(await session.scalars(base)))
    wanted = address_contains.casefold()
    rows = await session.execute(
        base.add_columns(Account.address)
        .join(AccountLink, AccountLink.login_id == TelegramIdentity.login_id)
        .join(Account, Account.id == AccountLink.account_id)
    )
    return sorted({chat for chat, address in rows.tuples().all() if wanted in address.casefold()})


async def queue_announcement(
    session: AsyncSession, text_body: str, chats: list[int], *, key: str
) -> int:
    """Queue one announcement to the chats; `key` (a hash of the text) keeps a repeated command
    from sending it twice."""
    rows = [
        {"kind": ANNOUNCEMENT_KIND, "chat_id": chat, "dedup_key": f"news:{key}:{chat}",
         "payload": {"text": text_body}}
        for chat in chats
    ]  # fmt: skip
    added = await enqueue_many(session, rows)
    await session.commit()
    return added
