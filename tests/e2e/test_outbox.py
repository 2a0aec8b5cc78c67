"""Pushed notifications: delivered once from the outbox within Telegram's limits; 429 and 5xx
waited out, a user who blocked the bot skipped, a crash mid-broadcast resumed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_bot
from bot.texts import notifications as notification_texts
from emulator.state import ApiCall
from models import Notification, OutboxStatus, TelegramIdentity
from scheduler.outbox import OutboxSender
from services import notifications
from tests.e2e.conftest import Cabinet
from tests.helpers import eventually


@pytest.fixture
def echo_kind() -> Iterator[str]:
    """A notification kind for these tests only: the payload's text as is."""
    kinds = notification_texts.renderers()
    kinds["test_echo"] = lambda payload: str(payload["text"])
    yield "test_echo"
    del kinds["test_echo"]


async def _queue(cabinet: Cabinet, kind: str, chat_id: int, key: str, text: str) -> None:
    async with cabinet.sessions() as session:
        await notifications.enqueue(
            session, kind=kind, chat_id=chat_id, dedup_key=key, payload={"text": text}
        )
        await notifications.enqueue(
            session, kind=kind, chat_id=chat_id, dedup_key=key, payload={"text": text}
        )
        await session.commit()


async def test_a_queued_notification_arrives_once(cabinet: Cabinet, echo_kind: str) -> None:
    user = cabinet.user(1201)
    await user.send("/start")
    await user.expect("личный кабинет")
    await _queue(cabinet, echo_kind, 1201, "bill:1201:2026-11", "Счёт за ноябрь готов")
    await user.expect("Счёт за ноябрь готов", timeout=15)
    # A later notification as the sentinel: the outbox cycle that delivers it would have sent
    # a second copy of the first one too.
    await _queue(cabinet, echo_kind, 1201, "sentinel:1201", "Проверка связи")
    await user.expect("Проверка связи", timeout=15)
    copies = [m for m in user.bot_messages if m.text == "Счёт за ноябрь готов"]
    assert len(copies) == 1


async def test_a_user_who_blocked_the_bot_is_given_up_on(cabinet: Cabinet, echo_kind: str) -> None:
    user = cabinet.user(1202)
    await user.send("/start")
    await user.expect("личный кабинет")
    user.block_bot()
    await _queue(cabinet, echo_kind, 1202, "reminder:1202", "Пора передать показания")

    async def status() -> OutboxStatus | None:
        async with cabinet.sessions() as session:
            row = await session.scalar(
                Notification.__table__.select()
                .with_only_columns(Notification.status)
                .where(Notification.dedup_key == "reminder:1202")
            )
            return row if row == OutboxStatus.FAILED else None

    assert await eventually(status, timeout=15) == OutboxStatus.FAILED


# --- the sender under Telegram's limits and failures -----------------------------------------


async def _users(cabinet: Cabinet, ids: range) -> list[Any]:
    users = [cabinet.user(i) for i in ids]
    for user in users:
        await user.send("/start")
        await user.expect("личный кабинет")
    return users


async def _queue_many(cabinet: Cabinet, kind: str, chats: list[int], tag: str) -> None:
    async with cabinet.sessions() as session:
        for chat in chats:
            await notifications.enqueue(
                session, kind=kind, chat_id=chat, dedup_key=f"{tag}:{chat}",
                payload={"text": f"{tag} для {chat}"},
            )  # fmt: skip
        await session.commit()


def _sends(cabinet: Cabinet) -> list[ApiCall]:
    return cabinet.emu.calls_to("sendMessage")


async def test_a_429_pauses_the_whole_sender_for_retry_after(
    cabinet: Cabinet, echo_kind: str
) -> None:
    users = await _users(cabinet, range(1211, 1215))
    cabinet.emu.inject_failure("sendMessage", status=429, retry_after=2)
    await _queue_many(cabinet, echo_kind, [u.id for u in users], "Плановое отключение")
    for user in users:
        await user.expect(f"Плановое отключение для {user.id}", timeout=15)
    [refused] = [c for c in _sends(cabinet) if c.error == "injected 429"]
    later = [c for c in _sends(cabinet) if c.at > refused.at and c.error is None]
    # Sends already on their way may land just after the 429; none starts during the pause.
    assert not [c for c in later if refused.at + 0.3 < c.at < refused.at + 1.9]
    assert max(c.at for c in later) >= refused.at + 2
    for user in users:
        copies = [m for m in user.bot_messages if "Плановое отключение" in m.content_text]
        assert len(copies) == 1


async def test_a_5xx_is_retried_after_a_pause_and_delivered_once(
    cabinet: Cabinet, echo_kind: str
) -> None:
    [user] = await _users(cabinet, range(1221, 1222))
    cabinet.emu.inject_failure("sendMessage", status=502)
    await _queue_many(cabinet, echo_kind, [user.id], "Офис закрыт 31 декабря")
    await user.expect("Офис закрыт 31 декабря", timeout=15)
    calls = [c for c in _sends(cabinet) if c.chat_id == user.id and "Офис" in str(c.params)]
    assert [c.error for c in calls] == ["injected 502", None]
    assert calls[1].at - calls[0].at >= 0.9  # backed off

    async def recorded() -> Notification | None:
        async with cabinet.sessions() as session:
            row = await session.scalar(
                select(Notification).where(Notification.dedup_key.startswith("Офис закрыт"))
            )
            return row if row is not None and row.status == OutboxStatus.SENT else None

    row = await eventually(recorded)
    assert row.attempts == 2 and row.last_error is None


async def test_a_chat_that_blocked_the_bot_is_skipped_until_the_user_writes_again(
    cabinet: Cabinet, echo_kind: str
) -> None:
    [user] = await _users(cabinet, range(1231, 1232))
    user.chat.blocked = True  # blocked, and the bot has not heard of it yet: it learns by a 403
    await _queue_many(cabinet, echo_kind, [user.id], "Первое")

    async def blocked_mark() -> object:
        async with cabinet.sessions() as session:
            identity = await session.get(TelegramIdentity, user.id)
            return identity.blocked_bot_at if identity else None

    await eventually(blocked_mark, timeout=15)
    tried = len([c for c in _sends(cabinet) if c.chat_id == user.id])
    await _queue_many(cabinet, echo_kind, [user.id], "Второе")

    async def closed() -> bool:
        async with cabinet.sessions() as session:
            row = await session.scalar(
                select(Notification).where(Notification.dedup_key == f"Второе:{user.id}")
            )
            return row is not None and row.status == OutboxStatus.FAILED

    await eventually(closed, timeout=15)
    assert len([c for c in _sends(cabinet) if c.chat_id == user.id]) == tried  # not even tried
    user.chat.blocked = False  # unblocked in the client, and writes again
    await user.send("/start")
    await user.expect("личный кабинет")
    await _queue_many(cabinet, echo_kind, [user.id], "Третье")
    await user.expect("Третье для", timeout=15)
    assert not [m for m in user.bot_messages if "Второе" in m.content_text]


async def test_a_crash_mid_broadcast_resumes_with_no_duplicate_and_no_loss(
    cabinet: Cabinet, echo_kind: str
) -> None:
    """The sending process dies while Telegram holds one of its requests: what it had sent is
    not sent again, the rest (the held one included) goes out from the next process once the
    lease of the dead one ran out."""
    users = await _users(cabinet, range(1241, 1253))
    await cabinet.stop()  # the cabinet's own sender is out of the way; two senders stand in
    await _queue_many(cabinet, echo_kind, [u.id for u in users], "Объявление")
    before = len(_sends(cabinet))
    lease = timedelta(seconds=1)
    first_bot, second_bot = build_bot(cabinet.settings), build_bot(cabinet.settings)
    try:
        first = OutboxSender(first_bot, cabinet.sessions, rate=5, lease=lease)
        crashed = asyncio.create_task(first.drain())
        while len(_sends(cabinet)) - before < 4:
            await cabinet.emu.wait_for_call("sendMessage", timeout=10)
        gate = cabinet.emu.hold("sendMessage")
        held = await cabinet.emu.wait_for_call("sendMessage", timeout=10)

        async def earlier_ones_marked() -> bool:
            async with cabinet.sessions() as session:
                sent = await session.scalar(
                    select(func.count()).where(Notification.status == OutboxStatus.SENT)
                )
            return sent == len(_sends(cabinet)) - before - 1

        await eventually(earlier_ones_marked)
        crashed.cancel()  # the process dies: nothing handed back, no mark for the held send
        with contextlib.suppress(asyncio.CancelledError):
            await crashed
        gate.set()
        second = OutboxSender(second_bot, cabinet.sessions, rate=30, lease=lease)

        async def all_sent() -> bool:
            await second.drain()
            async with cabinet.sessions() as session:
                counts = await notifications.outbox_counts(session)
            return counts.pending == 0

        await eventually(all_sent, timeout=15)
    finally:
        await first_bot.session.close()
        await second_bot.session.close()
    assert held.chat_id is not None
    for user in users:
        copies = [m for m in user.bot_messages if "Объявление" in m.content_text]
        assert len(copies) == 1, user.transcript()
