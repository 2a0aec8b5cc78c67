"""Pushed notifications: delivered once from the outbox; a user who blocked the bot is skipped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.texts import notifications as notification_texts
from models import Notification, OutboxStatus
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
