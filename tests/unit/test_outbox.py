"""The notifications outbox: queued once per event, retried with backoff, given up eventually."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Notification, OutboxStatus, utcnow
from services import notifications


async def test_same_event_is_queued_once(session: AsyncSession) -> None:
    for _ in range(2):
        await notifications.enqueue(
            session, kind="plain", chat_id=1, dedup_key="bill:42:2026-11", payload={"n": 1}
        )
        await session.commit()
    assert await session.scalar(select(func.count()).select_from(Notification)) == 1


async def test_failed_delivery_backs_off_then_gives_up(session: AsyncSession) -> None:
    await notifications.enqueue(session, kind="plain", chat_id=1, dedup_key="k")
    await session.commit()
    [item] = await notifications.claim_due(session)
    await notifications.mark_failed(session, item.id, "timeout")
    assert await notifications.claim_due(session) == []
    later = utcnow() + timedelta(hours=1)
    [again] = await notifications.claim_due(session, now=later)
    for _ in range(notifications.MAX_ATTEMPTS):
        await notifications.mark_failed(session, again.id, "timeout")
    stored = await session.get(Notification, again.id)
    assert stored is not None and stored.status == OutboxStatus.FAILED
    assert await notifications.claim_due(session, now=utcnow() + timedelta(days=30)) == []


async def test_sent_is_not_sent_again(session: AsyncSession) -> None:
    await notifications.enqueue(session, kind="plain", chat_id=1, dedup_key="k2")
    await session.commit()
    [item] = await notifications.claim_due(session)
    await notifications.mark_sent(session, item.id)
    assert await notifications.claim_due(session, now=utcnow() + timedelta(days=1)) == []


async def test_a_claimed_message_is_not_claimed_again_until_its_lease_ends(
    session: AsyncSession,
) -> None:
    await notifications.enqueue(session, kind="plain", chat_id=1, dedup_key="k3")
    await session.commit()
    now = utcnow()
    assert len(await notifications.claim_due(session, now=now)) == 1
    assert await notifications.claim_due(session, now=now + timedelta(seconds=30)) == []
    assert len(await notifications.claim_due(session, now=now + timedelta(minutes=5))) == 1
