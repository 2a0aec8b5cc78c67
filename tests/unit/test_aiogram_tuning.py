"""bot.aiogram_tuning: magic filters run on the event loop; Response[T] types are kept."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import GetMe, SendMessage
from aiogram.methods.base import Response
from aiogram.types import CallbackQuery, Chat, Message, Update, User

from bot.aiogram_tuning import KeepResponseTypes, route_callbacks_by_prefix, run_sync_filters_inline


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


class _ReadingCb(CallbackData, prefix="rd"):
    action: str


class _CancelCb(CallbackData, prefix="x"):  # no fields: packs to the bare prefix
    pass


class _OtherCb(CallbackData, prefix="zz"):
    action: str


def _press(data: str) -> Update:
    user = User(id=5, is_bot=False, first_name="Мария")
    message = Message(message_id=1, date=datetime(2026, 11, 30), chat=Chat(id=5, type="private"))
    query = CallbackQuery(id="1", from_user=user, chat_instance="c", data=data, message=message)
    return Update(update_id=2, callback_query=query)


async def test_a_router_turns_away_callbacks_of_other_prefixes_in_one_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A press goes through the routers in order; a router whose handlers all take known
    CallbackData gets a root filter on their prefixes, so its handlers' filters do not unpack
    another router's buttons, and every button still reaches its handler."""
    readings, other, fallback = Router(), Router(), Router()
    seen: list[str] = []

    @readings.callback_query(_ReadingCb.filter())
    async def reading(query: CallbackQuery) -> None:
        seen.append("reading")

    @readings.callback_query(_CancelCb.filter())
    async def cancel(query: CallbackQuery) -> None:
        seen.append("cancel")

    @other.callback_query(_OtherCb.filter())
    async def other_button(query: CallbackQuery) -> None:
        seen.append("other")

    @fallback.callback_query()
    async def stale(query: CallbackQuery) -> None:
        seen.append("stale")

    dispatcher = Dispatcher()
    dispatcher.include_routers(readings, other, fallback)
    run_sync_filters_inline(dispatcher)
    assert route_callbacks_by_prefix(dispatcher) == 2  # not the fallback: it takes any press
    assert route_callbacks_by_prefix(dispatcher) == 0
    unpacked: list[str] = []
    unpack = _ReadingCb.unpack.__func__  # type: ignore[attr-defined]

    def counted(cls: type[_ReadingCb], value: str) -> _ReadingCb:
        unpacked.append(value)
        return unpack(cls, value)  # type: ignore[no-any-return]

    monkeypatch.setattr(_ReadingCb, "unpack", classmethod(counted))
    bot = Bot("42:TEST")
    try:
        for data in ("rd:enter", "x", "zz:go", "old-button", "rdx:1"):
            await dispatcher.feed_update(bot, _press(data))
    finally:
        await bot.session.close()
    assert seen == ["reading", "cancel", "other", "stale", "stale"]
    # the readings router's first handler unpacked only the presses of its own router
    assert unpacked == ["rd:enter", "x"]
