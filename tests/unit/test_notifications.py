"""Rules of the scheduled pushes: when a reminder is due, a pass runs once across processes
(an advisory lock on PostgreSQL), SMS through the HTTP provider."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from bot.texts import notifications as texts
from models import (
    Account,
    AccountLink,
    Channel,
    JobRun,
    Login,
    Meter,
    Notification,
    OutboxStatus,
    Subscription,
    TelegramIdentity,
)
from scheduler.outbox import OutboxSender
from services import notifications
from services.demo import DEMO_EMAIL, seed_demo_data
from services.identity import bind_login
from services.sms import HttpSmsGateway, SmsError
from tests.fake_sms import API_KEY, FakeSmsProvider

MOSCOW = ZoneInfo("Europe/Moscow")
WINDOW = (15, 25)
TEN = time(10, 0)


def slot(local: datetime, snoozed: tuple[date, ...] = ()) -> date | None:
    return notifications.reminder_slot(local.replace(tzinfo=MOSCOW), MOSCOW, WINDOW, TEN, snoozed)


def test_the_reminder_slot_through_a_month() -> None:
    assert slot(datetime(2026, 12, 14, 12, 0)) is None  # before the window
    assert slot(datetime(2026, 12, 15, 9, 59)) is None  # first day, before the time
    assert slot(datetime(2026, 12, 15, 10, 0)) == date(2026, 12, 15)
    # Later days point back at the 15th: a bot down that morning catches up once.
    assert slot(datetime(2026, 12, 20, 8, 0)) == date(2026, 12, 15)
    assert slot(datetime(2026, 12, 16, 9, 0), (date(2026, 12, 16),)) == date(2026, 12, 15)
    assert slot(datetime(2026, 12, 16, 10, 0), (date(2026, 12, 16),)) == date(2026, 12, 16)
    assert slot(datetime(2026, 12, 25, 10, 30)) == date(2026, 12, 25)
    assert slot(datetime(2026, 12, 26, 10, 30)) is None  # after the window


async def _subscribers(session: AsyncSession, chats: int) -> int:
    """The demo login in `chats` Telegram chats; returns the login id."""
    await seed_demo_data(session, today=date(2026, 11, 20))
    login_id = await session.scalar(select(Login.id).where(Login.email == DEMO_EMAIL))
    assert login_id is not None
    for chat in range(chats):
        await bind_login(session, 5000 + chat, 5000 + chat, login_id)
    await session.commit()
    return login_id


def _second_process(db_url: str) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(create_engine(db_url))


async def _remind(sessions: async_sessionmaker[AsyncSession], at: datetime) -> int:
    async with sessions() as session:
        return await notifications.queue_reminders(
            session, now=at, zone=MOSCOW, window=WINDOW, at=TEN
        )


async def test_two_processes_run_a_pass_once(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    await _subscribers(session, chats=3)
    other = _second_process(db_url)
    try:
        at = datetime(2026, 12, 15, 10, 0, tzinfo=MOSCOW)
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            # While one process runs the pass (it holds the advisory lock), another skips it
            # at once instead of waiting.
            async with sessions() as holder:
                assert await notifications._begin_pass(holder, "reminders", "2026-12-15")
                assert await asyncio.wait_for(_remind(other, at), 5) == 0
                await holder.rollback()
        results = sorted(await asyncio.gather(_remind(sessions, at), _remind(other, at)))
        assert results[0] == 0 and results[1] == 3  # one account, three chats
        assert await session.scalar(select(func.count()).select_from(Notification)) == 3
        assert await session.scalar(select(func.count()).select_from(JobRun)) == 1
    finally:
        bind = other.kw["bind"]
        await bind.dispose()


async def test_sms_go_through_the_http_provider(session: AsyncSession) -> None:
    login_id = await _subscribers(session, chats=0)
    await session.execute(
        update(Subscription).where(Subscription.login_id == login_id).values(sms=True)
    )
    await session.commit()
    at = datetime(2026, 12, 15, 10, 0, tzinfo=MOSCOW)
    assert (
        await notifications.queue_reminders(session, now=at, zone=MOSCOW, window=WINDOW, at=TEN)
        == 1
    )
    async with FakeSmsProvider() as provider:
        gateway = HttpSmsGateway(provider.url, API_KEY, "MEF")
        bot = Bot("1:unused")
        assert session.bind is not None
        sessions = create_session_factory(session.bind)  # type: ignore[arg-type]
        sender = OutboxSender(bot, sessions, rate=30, lease=notifications.LEASE, sms=gateway)
        provider.statuses.append(503)  # the provider is down once: tried again later
        try:
            assert await sender.drain() == 0
            row = await session.scalar(select(Notification))
            assert row is not None and row.channel == Channel.SMS
            await session.refresh(row)
            assert row.status == OutboxStatus.PENDING and "503" in (row.last_error or "")
            await session.execute(update(Notification).values(next_attempt_at=datetime.now(UTC)))
            await session.commit()
            assert await sender.drain() == 1
            provider.statuses.append(400)
            with pytest.raises(SmsError) as refused:
                await gateway.send("+79990000000", "x", message_id="t")
            assert refused.value.permanent
        finally:
            await gateway.close()
            await bot.session.close()
    [sms] = provider.accepted
    assert sms["to"] == "+79991234567" and sms["sender"] == "MEF"
    assert "передайте показания по л/с" in sms["text"] and "до 25.12" in sms["text"]


async def test_meter_verification_is_told_once_per_meter_and_date(session: AsyncSession) -> None:
    login_id = await _subscribers(session, chats=1)
    today = date(2026, 11, 20)
    accounts = list(await session.scalars(select(Account).order_by(Account.id)))
    expired = accounts[5]  # the demo account whose meter's verification ran out 40 days ago
    session.add(AccountLink(login_id=login_id, account_id=expired.id, is_current=False))
    soon = await session.scalar(
        select(Meter).where(Meter.account_id == accounts[0].id).order_by(Meter.id).limit(1)
    )
    assert soon is not None
    soon.verified_until = date(2026, 12, 10)  # within 30 days
    await session.commit()
    now = datetime(2026, 11, 20, 10, 0, tzinfo=MOSCOW)
    assert await notifications.queue_verification(session, today, now=now) == 2
    assert await notifications.queue_verification(session, today, now=now) == 0
    # The next day's pass finds the same meters: told already.
    tomorrow = date(2026, 11, 21)
    assert await notifications.queue_verification(session, tomorrow, now=now) == 0
    payloads = {n.payload["serial"]: n.payload for n in await session.scalars(select(Notification))}
    assert payloads[soon.serial_number]["expired"] is False
    [other] = [p for s, p in payloads.items() if s != soon.serial_number]
    assert other["expired"] is True
    assert "истёк" in texts.meter_verification(other)
    assert "истекает 10.12.2026" in texts.meter_verification(payloads[soon.serial_number])
    # A new verification date (the meter was verified) brings a notice in time again.
    soon.verified_until = date(2026, 12, 15)
    await session.commit()
    assert await notifications.queue_verification(session, date(2026, 11, 22), now=now) == 1


async def test_a_queued_push_is_weighed_again_when_its_turn_comes(session: AsyncSession) -> None:
    """A pass queues its pushes at once; they may wait. Turning a subscription or SMS off,
    logging a chat out or unlinking the account meanwhile stops them before they are sent."""
    login_id = await _subscribers(session, chats=2)
    await session.execute(
        update(Subscription).where(Subscription.login_id == login_id).values(sms=True)
    )
    await session.commit()
    at = datetime(2026, 12, 15, 10, 0, tzinfo=MOSCOW)
    assert await _remind_in(session, at) == 3  # two chats and one SMS
    due = await notifications.claim_due(session, now=datetime.now(UTC))
    by_chat = {item.chat_id: item for item in due}
    assert set(by_chat) == {5000, 5001, 0} and {i.login_id for i in due} == {login_id}

    async def wanted() -> dict[int, bool]:
        return {chat: await notifications.still_wanted(session, i) for chat, i in by_chat.items()}

    assert await wanted() == {5000: True, 5001: True, 0: True}
    await session.execute(
        update(Subscription).where(Subscription.login_id == login_id).values(sms=False)
    )
    await session.execute(
        update(TelegramIdentity)
        .where(TelegramIdentity.telegram_user_id == 5001)
        .values(login_id=None)
    )
    await session.commit()
    assert await wanted() == {5000: True, 5001: False, 0: False}

    account_id = int(by_chat[5000].payload["account_id"])
    bill = notifications.OutgoingMessage(
        0, notifications.BILL_KIND, 5000, {"account_id": account_id}, login_id=login_id
    )
    assert await notifications.still_wanted(session, bill)
    await session.execute(
        update(Subscription).where(Subscription.login_id == login_id).values(monthly_bill=False)
    )
    await session.commit()
    assert not await notifications.still_wanted(session, bill)
    assert await notifications.still_wanted(session, by_chat[5000])  # reminders are still on
    await session.execute(
        delete(AccountLink).where(
            AccountLink.login_id == login_id, AccountLink.account_id == account_id
        )
    )
    await session.commit()
    assert not await notifications.still_wanted(session, by_chat[5000])

    # The sender drops them without a request to Telegram or to the SMS provider.
    await session.execute(update(Notification).values(next_attempt_at=datetime.now(UTC)))
    await session.commit()
    assert session.bind is not None
    sessions = create_session_factory(session.bind)  # type: ignore[arg-type]
    bot = Bot("1:unused")
    try:
        sender = OutboxSender(bot, sessions, rate=30, lease=notifications.LEASE)
        assert await sender.drain() == 0
    finally:
        await bot.session.close()
    session.expire_all()
    rows = list(await session.scalars(select(Notification)))
    assert {(r.status, r.last_error) for r in rows} == {
        (OutboxStatus.FAILED, "not needed any more")
    }


async def _remind_in(session: AsyncSession, at: datetime) -> int:
    return await notifications.queue_reminders(session, now=at, zone=MOSCOW, window=WINDOW, at=TEN)
