"""Outer middlewares: in-flight tracking, duplicate updates, one DB session and the viewer."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.fsm.context import FSMContext
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import CallbackQuery, Chat, TelegramObject, Update, User
from aiogram.utils.callback_answer import CallbackAnswer, CallbackAnswerMiddleware
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.fsm_storage import BufferedStorage, flush_update_dialog, update_memo
from bot.texts import common as texts
from services.identity import resolve_viewer

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
log = logging.getLogger(__name__)


class InFlightMiddleware(BaseMiddleware):
    """Counts updates being handled so a graceful stop can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        self._count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class FsmMemoMiddleware(BaseMiddleware):
    """Lets the FSM storage remember what it read for the rest of the update (see
    bot.fsm_storage.update_memo): outside aiogram's FSM middleware, which reads the state."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        with update_memo():
            return await handler(event, data)


class FsmFlushMiddleware(BaseMiddleware):
    """Inside aiogram's FSM middleware (the per-user lock is held): the FSM storage writes the
    update's dialog once, when the handlers are done, before the lock is released."""

    def __init__(self, storage: BufferedStorage) -> None:
        self._storage = storage

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        state: FSMContext | None = data.get("state")
        if state is None:
            return await handler(event, data)
        self._storage.hold(state.key)
        try:
            return await handler(event, data)
        finally:
            await self._storage.flush()


class FlushDialogBeforeRequests(BaseRequestMiddleware):
    """Bot API request middleware: the update's dialog is written before anything is sent, so a
    reply never runs ahead of the state a restart would resume from (bot.fsm_storage)."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        await flush_update_dialog()
        return await make_request(bot, method)


class DuplicateUpdateMiddleware(BaseMiddleware):
    """Drops an update whose id was just handled (a webhook retried after a lost reply)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._capacity = capacity

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            if event.update_id in self._seen:
                log.info("duplicate update %s ignored", event.update_id)
                return None
            self._seen[event.update_id] = None
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
        return await handler(event, data)


class DbSessionMiddleware(BaseMiddleware):
    """One AsyncSession per update; anything a service did not commit is rolled back on close."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self._sessions() as session:
            data["session"] = session
            return await handler(event, data)


class ViewerMiddleware(BaseMiddleware):
    """Puts `viewer` (services.identity.Viewer, or None outside private chats) into handler data."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        viewer = None
        if user is not None and not user.is_bot and (chat is None or chat.type == "private"):
            viewer = await resolve_viewer(data["session"], user.id, chat.id if chat else user.id)
        data["viewer"] = viewer
        return await handler(event, data)


class CallbackAnswers(CallbackAnswerMiddleware):
    """Answers every callback query after its handler, so buttons never spin; when the handler
    fails, the answer is the apology (an alert), not silence."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)

        async def guarded(event: TelegramObject, data: dict[str, Any]) -> Any:
            try:
                return await handler(event, data)
            except Exception:
                answer: CallbackAnswer | None = data.get("callback_answer")
                if answer is not None and not answer.answered:
                    answer.text, answer.show_alert = texts.ERROR_APOLOGY, True
                raise

        return await super().__call__(guarded, event, data)
