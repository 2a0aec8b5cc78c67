"""Running the bot: migrations, long polling or webhook, health check, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
from typing import Any
from urllib.parse import urlparse

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetMe, TelegramMethod
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import ClientConnectorDNSError, ClientConnectorError, web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import yookassa_notify
from bot.app import Runtime, build_runtime, publish_commands
from bot.clock import Clock
from bot.db import apply_migrations, database_answers
from bot.settings import OperatorError, Settings
from bot.texts import cli as texts
from scheduler import build_scheduler

log = logging.getLogger(__name__)

DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
CONNECT_DELAYS = (1.0, 2.0, 4.0, 8.0)  # pauses between tries to reach the Bot API at start
CONNECT_TIMEOUT = 10
JOBS_GRACE_SECONDS = 15.0


class StartupError(OperatorError):
    """The bot cannot start; the message is one Russian line naming the cause and the variable.
    Exit code 2 for configuration the operator must fix, 3 for a service that is down."""

    exit_code = 2


def webhook_path(settings: Settings) -> str:
    path = urlparse(settings.webhook_url or "").path
    return path if path not in ("", "/") else DEFAULT_WEBHOOK_PATH


async def serve(
    settings: Settings,
    stop_event: asyncio.Event | None = None,
    *,
    clock: Clock | None = None,
    freeze: bool = False,
) -> None:
    """Run until `stop_event` is set (or SIGINT/SIGTERM when none is given), then stop cleanly.
    Raises StartupError when Telegram cannot be used; whatever was opened is closed. `freeze`:
    the process is the bot's own (`python -m bot run`), see freeze_start_up_objects."""
    if stop_event is None:
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_event.set)
    await apply_migrations(settings.database_url)
    runtime = build_runtime(settings, clock=clock)
    scheduler = build_scheduler(runtime)
    try:
        await connect(runtime.bot, settings, stop_event)
        if stop_event.is_set():
            return
        await publish_commands(runtime.bot)
        if freeze:
            freeze_start_up_objects()
        scheduler.start()
        if settings.webhook_url:
            await _serve_webhook(runtime, stop_event)
        else:
            await _serve_polling(runtime, stop_event)
    finally:
        await stop_scheduler(scheduler)
        await runtime.close()
        log.info("bot stopped")


# Python's default is a young-generation collection every 700 net allocations, and a full one
# every 100 of those; a dialog step allocates thousands of short-lived objects.
GC_THRESHOLDS = (20_000, 20, 20)


def freeze_start_up_objects() -> None:
    """What start-up made (aiogram's types and routers, SQLAlchemy's mappers, the settings)
    lives as long as the process, yet Python's cyclic garbage collector went through all of it
    at every full collection: about 240 000 objects, 0.3 s with the event loop stopped.
    `gc.freeze` moves them out of its sight (garbage is collected first, so none is kept).
    What is made later (pydantic builds aiogram's schemas on first use) is still scanned, and
    with the default thresholds full collections came every few seconds at 50 updates/s: the
    walk's p99 was 847 ms, 41 ms with these thresholds (benchmarks/README.md, issue #15)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def connect(bot: Bot, settings: Settings, stop_event: asyncio.Event) -> None:
    """Ask the Bot API who we are (getMe), retrying a network failure with growing pauses (a
    container may start before its network); every failure becomes a StartupError. The call
    goes around the retry middleware: this loop is the only one."""
    url = settings.telegram_api_url
    for attempt, pause in enumerate((*CONNECT_DELAYS, None), start=1):
        try:
            me = await bot.session.make_request(bot, GetMe(), timeout=CONNECT_TIMEOUT)
        except TelegramUnauthorizedError:
            raise StartupError(texts.TOKEN_REFUSED) from None
        except (TelegramNotFound, ClientDecodeError):
            raise StartupError(texts.api_not_found(url)) from None
        except (TelegramNetworkError, TelegramServerError) as exc:
            reason = _unreachable_reason(exc)
            if pause is None:
                raise StartupError(texts.api_unreachable(url, reason), exit_code=3) from None
            log.warning(
                "Bot API at %s: %s (attempt %s), next try in %.0f s", url, exc, attempt, pause
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), pause)
            if stop_event.is_set():
                return
        else:
            log.info("connected to the Bot API as @%s", me.username)
            return


def _unreachable_reason(exc: Exception) -> str:
    cause = exc.__cause__
    if isinstance(exc, TelegramServerError):
        return texts.REASON_SERVER_ERROR
    if isinstance(cause, ClientConnectorDNSError):
        return texts.REASON_NO_SUCH_HOST
    if isinstance(cause, ClientConnectorError):
        return texts.REASON_REFUSED
    return texts.REASON_NO_ANSWER


async def stop_scheduler(scheduler: AsyncIOScheduler, grace: float = JOBS_GRACE_SECONDS) -> None:
    """Stop starting jobs, let the running ones finish (an outbox delivery in flight completes
    its sends and its commit), then shut the scheduler down."""
    if not scheduler.running:
        return
    scheduler.pause()
    executor = scheduler._lookup_executor("default")
    # AsyncIOExecutor keeps the futures of running jobs here; shutdown() would cancel them.
    running = [f for f in getattr(executor, "_pending_futures", ()) if not f.done()]
    if running:
        _, late = await asyncio.wait(running, timeout=grace)
        if late:
            log.warning("%s scheduler job(s) still running at stop", len(late))
    scheduler.shutdown(wait=False)


async def _serve_polling(runtime: Runtime, stop_event: asyncio.Event) -> None:
    await runtime.bot.delete_webhook(drop_pending_updates=False)
    # YooKassa's notifications need the web server in polling mode too (/healthz comes along).
    runner = await _start_web(runtime, secret=None) if runtime.extras.get("yookassa") else None
    try:
        await _poll_until_stopped(runtime, stop_event)
    finally:
        if runner is not None:
            await runner.cleanup()


async def _poll_until_stopped(runtime: Runtime, stop_event: asyncio.Event) -> None:
    dispatcher, bot = runtime.dispatcher, runtime.bot
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=25,
            tasks_concurrency_limit=runtime.settings.max_concurrent_updates,
        )
    )
    stopper = asyncio.create_task(stop_event.wait())
    done, _ = await asyncio.wait({polling, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if stopper in done:
        with contextlib.suppress(RuntimeError):  # polling had not started yet
            await dispatcher.stop_polling()
    else:
        stopper.cancel()
    await polling


class BoundedWebhookHandler(SimpleRequestHandler):
    """Answers Telegram at once and handles each update in the background, at most `limit` at
    a time (MAX_CONCURRENT_UPDATES, as in polling): past it, the answer to Telegram waits for a
    free slot, so Telegram holds further updates back instead of the bot piling up tasks.
    The bot's session is closed by `Runtime.close`, after the updates in flight finished."""

    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, *, secret_token: str, limit: int, **data: Any
    ) -> None:
        super().__init__(
            dispatcher, bot, handle_in_background=True, secret_token=secret_token, **data
        )
        self._slots = asyncio.Semaphore(limit)

    async def _handle_request_background(self, bot: Bot, request: web.Request) -> web.Response:
        update = await request.json(loads=bot.session.json_loads)
        await self._slots.acquire()
        task = asyncio.create_task(self._feed_then_release(bot, update))
        self._background_feed_update_tasks.add(task)
        task.add_done_callback(self._background_feed_update_tasks.discard)
        return web.json_response({}, dumps=bot.session.json_dumps)

    async def _feed_then_release(self, bot: Bot, update: dict[str, Any]) -> None:
        try:
            result = await self.dispatcher.feed_raw_update(bot=bot, update=update, **self.data)
            if isinstance(result, TelegramMethod):
                await self.dispatcher.silent_call_request(bot=bot, result=result)
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Nothing: the session outlives the web server until in-flight updates are done."""


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, or a random one for this run: a webhook never runs without a secret.
    A random secret suits one instance; several instances behind one URL need WEBHOOK_SECRET."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    log.info("WEBHOOK_SECRET is empty: a random secret is used for this run")
    return secrets.token_urlsafe(32)


def build_web_app(runtime: Runtime, *, secret: str | None) -> web.Application:
    """The web server: Telegram's webhook guarded by `secret` (None in polling mode: no webhook
    route at all), YooKassa's notifications when configured, and `GET /healthz`. Features add
    their own routes here."""
    settings = runtime.settings
    app = web.Application()
    if secret is not None:
        BoundedWebhookHandler(
            runtime.dispatcher,
            runtime.bot,
            secret_token=secret,
            limit=settings.max_concurrent_updates,
        ).register(app, path=webhook_path(settings))
    yookassa_notify.register(app, runtime)

    async def healthz(_: web.Request) -> web.Response:
        if await database_answers(runtime.engine):
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "database unavailable"}, status=503)

    app.router.add_get("/healthz", healthz)
    return app


class WebPortUnavailable(StartupError):
    """WEB_HOST:WEB_PORT cannot be listened on (taken by another program, or no such address)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(texts.web_port_unavailable(host, port))
        self.host, self.port, self.reason = host, port, reason


async def _start_web(runtime: Runtime, *, secret: str | None) -> web.AppRunner:
    settings = runtime.settings
    runner = web.AppRunner(build_web_app(runtime, secret=secret), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise WebPortUnavailable(settings.web_host, settings.web_port, exc.strerror or "") from exc
    return runner


async def _serve_webhook(runtime: Runtime, stop_event: asyncio.Event) -> None:
    settings = runtime.settings
    secret = webhook_secret(settings)
    runner = await _start_web(runtime, secret=secret)
    try:
        await runtime.bot.set_webhook(
            url=str(settings.webhook_url),
            secret_token=secret,
            max_connections=min(settings.max_concurrent_updates, 100),
            allowed_updates=runtime.dispatcher.resolve_used_update_types(),
        )
        log.info(
            "webhook served on %s:%s%s",
            settings.web_host, settings.web_port, webhook_path(settings),
        )  # fmt: skip
        await runtime.dispatcher.emit_startup(bot=runtime.bot)
        await stop_event.wait()
    finally:
        # No new updates (the listening socket closes first); those in flight finish in the
        # dispatcher's shutdown handlers before the connections and the session close.
        for site in list(runner.sites):
            await site.stop()
        await runtime.dispatcher.emit_shutdown(bot=runtime.bot)
        await runner.cleanup()
