"""Builds the Bot, the Dispatcher and everything they share (the composition root)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.types import BotCommand, ErrorEvent
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.aiogram_tuning import KeepResponseTypes, route_callbacks_by_prefix, run_sync_filters_inline
from bot.clock import Clock
from bot.db import create_engine, create_session_factory
from bot.fsm_storage import BufferedStorage, SqlAlchemyStorage
from bot.middlewares import (
    CallbackAnswers,
    DbSessionMiddleware,
    DuplicateUpdateMiddleware,
    FlushDialogBeforeRequests,
    FsmFlushMiddleware,
    FsmMemoMiddleware,
    InFlightMiddleware,
    ViewerMiddleware,
)
from bot.settings import Settings
from bot.telegram_retry import RetryMiddleware
from bot.texts import common as texts
from handlers import feature_routers
from handlers.staff import StaffDirectory
from services.captcha import Captcha
from services.mailer import Mailer
from services.receipts import ReceiptCache
from services.sms import SmsGateway, build_sms_gateway
from services.yookassa_api import YooKassaGateway

log = logging.getLogger(__name__)
GRACE_SECONDS = 15.0


@dataclass
class Runtime:
    """What one running bot owns; `close()` releases all of it."""

    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    storage: BaseStorage
    in_flight: InFlightMiddleware
    extras: dict[str, Any] = field(default_factory=dict)
    storage_engine: AsyncEngine | None = None

    async def close(self) -> None:
        sms = self.extras.get("sms")
        if sms is not None:
            await sms.close()
        release_routers(self.dispatcher)
        await self.dispatcher.fsm.close()
        await self.bot.session.close()
        await self.engine.dispose()
        if self.storage_engine is not None:
            await self.storage_engine.dispose()


def release_routers(dispatcher: Dispatcher) -> None:
    """Detach the feature routers (module-level singletons in aiogram) from a stopped dispatcher,
    so the same process can build another one: a restart, the tests, the benchmark."""
    for router in dispatcher.sub_routers:
        router._parent_router = None
    dispatcher.sub_routers.clear()


def build_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(KeepResponseTypes())
    session.middleware(FlushDialogBeforeRequests())
    session.middleware(RetryMiddleware())
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def build_storage(
    settings: Settings, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> BaseStorage:
    """Redis when REDIS_URL is set, else the database; either forgets a dialog untouched for
    DIALOG_TTL_HOURS. The database storage should get its own engine: it is called while the
    update's session holds a connection of the main pool."""
    if settings.redis_url:
        from aiogram.fsm.storage.base import DefaultKeyBuilder

        from bot.fsm_redis import BufferedRedisStorage

        return BufferedRedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(with_destiny=True, with_bot_id=True),
            state_ttl=settings.dialog_ttl,
            data_ttl=settings.dialog_ttl,
        )
    return SqlAlchemyStorage(engine, sessions, ttl=settings.dialog_ttl)


def build_events_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """One user's updates are handled one at a time (a quick second message or a double press
    must not race the first through the dialog); different users still run in parallel.
    With Redis the lock holds across bot instances too; it shares the storage's client, which
    the storage closes (aiogram's isolation does not close its own)."""
    if isinstance(storage, SqlAlchemyStorage | MemoryStorage):
        return SimpleEventIsolation()  # and the Redis client is not even imported
    from aiogram.fsm.storage.redis import RedisStorage

    from bot.isolation import OrderedRedisEventIsolation

    if isinstance(storage, RedisStorage):
        return OrderedRedisEventIsolation(redis=storage.redis, key_builder=storage.key_builder)
    return SimpleEventIsolation()


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    """Log the update id with the stack trace; tell the user a short apology, never internals.

    A reply lost to the network (Telegram did not answer in time, the connection dropped) may
    have arrived all the same: no apology then, a warning in the log."""
    update = event.update
    if isinstance(event.exception, TelegramNetworkError):
        log.warning("update %s: %s", update.update_id, event.exception)
        return True
    log.error("update %s failed", update.update_id, exc_info=event.exception)
    try:
        if update.callback_query is not None:
            # Usually answered already by CallbackAnswers; this covers failures before it ran.
            with contextlib.suppress(TelegramBadRequest):
                await update.callback_query.answer(texts.ERROR_APOLOGY, show_alert=True)
        elif update.message is not None and update.message.chat.type == "private":
            await bot.send_message(update.message.chat.id, texts.ERROR_APOLOGY)
    except TelegramAPIError:
        log.warning("could not deliver the apology for update %s", update.update_id)
    return True


def build_dispatcher(
    settings: Settings,
    *,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    storage: BaseStorage,
    in_flight: InFlightMiddleware,
    **extras: Any,
) -> Dispatcher:
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=build_events_isolation(storage),
        settings=settings,
        sessions=sessions,
        **extras,
    )
    # The in-flight counter wraps aiogram's own outer middlewares too (errors, user context,
    # FSM and its per-user lock), so «idle» means the lock is released and the storage unused.
    aiogram_outer = list(dispatcher.update.outer_middleware[:])
    for middleware in aiogram_outer:
        dispatcher.update.outer_middleware.unregister(middleware)
    dispatcher.update.outer_middleware(in_flight)
    buffered = storage if isinstance(storage, BufferedStorage) else None
    if buffered is not None:
        dispatcher.update.outer_middleware(FsmMemoMiddleware())
    for middleware in aiogram_outer:
        dispatcher.update.outer_middleware(middleware)
    if buffered is not None:
        dispatcher.update.outer_middleware(FsmFlushMiddleware(buffered))
    dispatcher.update.outer_middleware(DuplicateUpdateMiddleware())
    dispatcher.update.outer_middleware(DbSessionMiddleware(sessions))
    dispatcher.update.outer_middleware(ViewerMiddleware())
    dispatcher.callback_query.middleware(CallbackAnswers())
    dispatcher.errors.register(on_error)
    dispatcher.include_routers(*feature_routers())
    run_sync_filters_inline(dispatcher)
    route_callbacks_by_prefix(dispatcher)

    async def finish_in_flight() -> None:
        if not await in_flight.wait_idle(GRACE_SECONDS):
            log.warning("stopping with updates still in flight")

    # Shutdown handlers run in order and aiogram registers «close the FSM storage» first:
    # updates still being handled must finish before their storage goes away.
    dispatcher.shutdown.register(finish_in_flight)
    dispatcher.shutdown.handlers.insert(0, dispatcher.shutdown.handlers.pop())
    return dispatcher


def build_yookassa(settings: Settings) -> YooKassaGateway | None:
    """The YooKassa API client when YOOKASSA_SHOP_ID/YOOKASSA_SECRET_KEY are set."""
    if settings.yookassa_shop_id is None or settings.yookassa_secret_key is None:
        return None
    return YooKassaGateway(
        settings.yookassa_shop_id,
        settings.yookassa_secret_key.get_secret_value(),
        settings.yookassa_api_url,
    )


def build_sms(settings: Settings) -> SmsGateway:
    """The SMS provider of SMS_API_URL, or a gateway that only logs."""
    key = settings.sms_api_key.get_secret_value() if settings.sms_api_key else None
    return build_sms_gateway(
        settings.sms_api_url, key, settings.sms_sender, settings.sms_timeout_seconds
    )


def build_runtime(settings: Settings, *, clock: Clock | None = None, **extras: Any) -> Runtime:
    """Everything one bot needs; `extras` reach handlers as keyword arguments (DI)."""
    extras["clock"] = clock or Clock(settings.zone)
    extras.setdefault("mailer", Mailer(settings))
    extras.setdefault("captcha", Captcha())
    extras.setdefault("staff", StaffDirectory(settings))
    extras.setdefault("receipts_cache", ReceiptCache())
    extras.setdefault("yookassa", build_yookassa(settings))
    extras.setdefault("sms", build_sms(settings))
    engine = create_engine(settings.database_url)
    sessions = create_session_factory(engine)
    storage_engine = None if settings.redis_url else create_engine(settings.database_url)
    storage = build_storage(
        settings, storage_engine or engine, create_session_factory(storage_engine or engine)
    )
    in_flight = InFlightMiddleware()
    dispatcher = build_dispatcher(
        settings, engine=engine, sessions=sessions, storage=storage, in_flight=in_flight, **extras
    )
    bot = build_bot(settings)
    return Runtime(
        settings,
        bot,
        dispatcher,
        engine,
        sessions,
        storage,
        in_flight,
        dict(extras),
        storage_engine,
    )


async def publish_commands(bot: Bot) -> None:
    await bot.set_my_commands(
        [
            BotCommand(command=name, description=text)
            for name, text in texts.COMMAND_DESCRIPTIONS.items()
        ]
    )
