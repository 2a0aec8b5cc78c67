"""The notifications outbox: queue a message with the event that caused it, deliver it later.

Queuing happens in the caller's transaction (the caller commits), so a message is sent if and
only if its event was saved; `dedup_key` makes queuing the same event twice harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Notification, OutboxStatus, utcnow

MAX_ATTEMPTS = 6
LEASE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    id: int
    kind: str
    chat_id: int
    payload: dict[str, Any]


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    chat_id: int,
    dedup_key: str,
    payload: dict[str, Any] | None = None,
    login_id: int | None = None,
    now: datetime | None = None,
    lease: timedelta | None = None,
) -> None:
    """Add to the outbox unless the same `dedup_key` is already there (queued earlier in this
    transaction, or by a concurrent one): INSERT … ON CONFLICT DO NOTHING. Does not commit.

    `lease`: the caller delivers it at once itself; the outbox job takes it only if the caller
    has not marked it sent or failed within that time (say, the process died)."""
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    now = now or utcnow()
    await session.execute(
        insert(Notification)
        .values(
            kind=kind,
            chat_id=chat_id,
            dedup_key=dedup_key,
            payload=payload or {},
            login_id=login_id,
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now + lease if lease else now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Notification.dedup_key])
    )


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else ""


async def claim_due(
    session: AsyncSession,
    *,
    limit: int = 50,
    now: datetime | None = None,
    lease: timedelta = LEASE,
) -> list[OutgoingMessage]:
    """Take up to `limit` due messages for delivery and commit a lease on them, so another bot
    instance polling the same outbox skips them (SKIP LOCKED on PostgreSQL); if this process
    dies mid-delivery, the lease runs out and they are delivered later."""
    now = now or utcnow()
    query = (
        select(Notification)
        .where(Notification.status == OutboxStatus.PENDING, Notification.next_attempt_at <= now)
        .order_by(Notification.id)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(await session.scalars(query))
    for notification in rows:
        notification.next_attempt_at = now + lease
    await session.commit()
    return [OutgoingMessage(n.id, n.kind, n.chat_id, dict(n.payload)) for n in rows]


async def mark_sent(session: AsyncSession, notification_id: int) -> None:
    notification = await session.get(Notification, notification_id)
    if notification is not None:
        notification.status = OutboxStatus.SENT
        notification.sent_at = utcnow()
        notification.attempts += 1
        await session.commit()


async def mark_failed(
    session: AsyncSession, notification_id: int, error: str, *, permanent: bool = False
) -> None:
    """Back off exponentially; give up after MAX_ATTEMPTS or at once when it cannot succeed."""
    notification = await session.get(Notification, notification_id)
    if notification is None:
        return
    notification.attempts += 1
    notification.last_error = error[:500]
    if permanent or notification.attempts >= MAX_ATTEMPTS:
        notification.status = OutboxStatus.FAILED
    else:
        notification.next_attempt_at = utcnow() + timedelta(seconds=30 * 2**notification.attempts)
    await session.commit()
