"""bot.aiogram_tuning: magic filters run on the event loop; Response[T] types are kept."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.methods import GetMe, SendMessage
from aiogram.methods.base import Response
from aiogram.types import Chat, Message, Update, User

from bot.aiogram_tuning import KeepResponseTypes, run_sync_filters_inline


def _update(text: str) -> Update:
    user = User(id=5, is_bot=False, first_name="Мария")
    chat = Chat(id=5, type="private")
    message = Message(
        message_id=1, date=datetime(2026, 11, 30), chat=chat, from_user=user, text=text
    )
    return Update(update_id=1, message=message)


async def test_magic_and_plain_filters_run_without_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = Router()
    seen: list[str] = []

    def short(message: Message) -> bool:
        return len(message.text or "") < 10

    @router.message(F.text == "Показания", short)
    async def readings(message: Message) -> None:
        seen.append("readings")

    @router.message(F.text)
    async def anything(message: Message) -> None:
        seen.append("anything")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    assert run_sync_filters_inline(dispatcher) == 3
    assert run_sync_filters_inline(dispatcher) == 0  # the routers may be reused

    async def no_threads(*_: Any, **__: Any) -> None:
        raise AssertionError("a filter went to a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    bot = Bot("42:TEST")
    try:
        await dispatcher.feed_update(bot, _update("Показания"))
        await dispatcher.feed_update(bot, _update("Счета"))
    finally:
        await bot.session.close()
    assert seen == ["readings", "anything"]


async def test_response_types_are_held_for_the_life_of_the_process() -> None:
    """pydantic caches `Response[T]` weakly; in the bot process it was built again and again
    (16 % of the event loop's samples in a py-spy profile of the readings walk, 0.1 % after)."""
    keeper = KeepResponseTypes()
    sent: list[str] = []

    async def make_request(bot: Bot, method: Any) -> Any:
        sent.append(method.__api_method__)
        return None

    bot = Bot("42:TEST")
    try:
        await keeper(make_request, bot, GetMe())
        await keeper(make_request, bot, SendMessage(chat_id=1, text="x"))
        await keeper(make_request, bot, SendMessage(chat_id=2, text="y"))
    finally:
        await bot.session.close()
    assert sent == ["getMe", "sendMessage", "sendMessage"]
    assert keeper.held() == {Response[User], Response[Message]}
