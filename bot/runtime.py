"""Running the bot: migrations, long polling or webhook, health check, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from urllib.parse import urlparse

from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot import yookassa_notify
from bot.app import Runtime, build_runtime, publish_commands
from bot.clock import Clock
from bot.db import apply_migrations, database_answers
from bot.settings import Settings
from scheduler import build_scheduler

log = logging.getLogger(__name__)

DEFAULT_WEBHOOK_PATH = "/telegram/webhook"


def webhook_path(settings: Settings) -> str:
    path = urlparse(settings.webhook_url or "").path
    return path if path not in ("", "/") else DEFAULT_WEBHOOK_PATH


async def serve(
    settings: Settings, stop_event: asyncio.Event | None = None, *, clock: Clock | None = None
) -> None:
    """Run until `stop_event` is set (or SIGINT/SIGTERM when none is given), then stop cleanly."""
    if stop_event is None:
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_event.set)
    await apply_migrations(settings.database_url)
    runtime = build_runtime(settings, clock=clock)
    scheduler = build_scheduler(runtime)
    try:
        await publish_commands(runtime.bot)
        scheduler.start()
        if settings.webhook_url:
            await _serve_webhook(runtime, stop_event)
        else:
            await _serve_polling(runtime, stop_event)
    finally:
        scheduler.shutdown(wait=False)
        await runtime.close()
        log.info("bot stopped")


async def _serve_polling(runtime: Runtime, stop_event: asyncio.Event) -> None:
    await runtime.bot.delete_webhook(drop_pending_updates=False)
    # YooKassa's notifications need the web server in polling mode too (/healthz comes along).
    runner = await _start_web(runtime, telegram=False) if runtime.extras.get("yookassa") else None
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


def build_web_app(runtime: Runtime, *, telegram: bool = True) -> web.Application:
    """Telegram's webhook (unless polling), YooKassa's notifications when configured, /healthz."""
    settings = runtime.settings
    app = web.Application()
    if telegram:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        SimpleRequestHandler(
            dispatcher=runtime.dispatcher, bot=runtime.bot, secret_token=secret
        ).register(app, path=webhook_path(settings))
    yookassa_notify.register(app, runtime)

    async def healthz(_: web.Request) -> web.Response:
        if await database_answers(runtime.engine):
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "database unavailable"}, status=503)

    app.router.add_get("/healthz", healthz)
    return app


class WebPortUnavailable(RuntimeError):
    """WEB_HOST:WEB_PORT cannot be listened on (taken by another program, or no such address)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"{host}:{port}: {reason}")
        self.host, self.port, self.reason = host, port, reason


async def _start_web(runtime: Runtime, *, telegram: bool) -> web.AppRunner:
    settings = runtime.settings
    runner = web.AppRunner(build_web_app(runtime, telegram=telegram), handle_signals=False)
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
    runner = await _start_web(runtime, telegram=True)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    await runtime.bot.set_webhook(
        url=str(settings.webhook_url),
        secret_token=secret,
        allowed_updates=runtime.dispatcher.resolve_used_update_types(),
    )
    log.info(
        "webhook served on %s:%s%s", settings.web_host, settings.web_port, webhook_path(settings)
    )
    await runtime.dispatcher.emit_startup(bot=runtime.bot)
    try:
        await stop_event.wait()
    finally:
        await runner.cleanup()
        await runtime.dispatcher.emit_shutdown(bot=runtime.bot)
