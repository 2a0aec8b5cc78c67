"""Throughput and reply latency of the bot under N concurrent scripted users, next to a bare
aiogram echo bot driven the same way through the same emulator in the same run.

    python benchmarks/updates.py [--users 200] [--database-url URL] [--redis-url URL]

Each user goes through a short dialog of four updates (/start, /help, a free-text message and
a main-menu section button), waiting for the reply to each before sending the next.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.settings import Settings
from bot.texts import common as texts
from emulator import BotAPIEmulator

TOKEN = "123456:BENCH"
# (what the user sends, a fragment of the reply the bot must show)
CABINET_DIALOG = [
    ("/start", "личный кабинет"),
    ("/help", "Команды:"),
    ("сколько я должен?", "Не понял"),
    (texts.MENU_READINGS, "после входа"),
]
ECHO_DIALOG = [(text, text) for text, _ in CABINET_DIALOG]


@dataclass
class Result:
    name: str
    updates: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (
            f"{self.name:<22} {self.updates:>6} updates in {self.seconds:6.2f} s  "
            f"{self.rate:8.1f} updates/s  p50 {self.pct(0.50):7.1f} ms  "
            f"p99 {self.pct(0.99):7.1f} ms  mean {statistics.mean(self.latencies) * 1000:7.1f} ms"
        )


async def drive(
    emu: BotAPIEmulator, users: int, dialog: list[tuple[str, str]], name: str
) -> Result:
    latencies: list[float] = []

    async def one(user_id: int) -> None:
        user = emu.user(user_id, first_name=f"U{user_id}")
        for text, expected in dialog:
            started = time.perf_counter()
            await user.send(text)
            await user.expect(expected, timeout=120)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(10_000 + i) for i in range(users)))
    return Result(name, users * len(dialog), time.perf_counter() - started, latencies)


@asynccontextmanager
async def echo_bot(emu: BotAPIEmulator) -> Any:
    """The baseline: aiogram with one echo handler, no database, no middlewares."""
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    task = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    await emu.wait_for_call("getUpdates", timeout=30)
    try:
        yield
    finally:
        await dispatcher.stop_polling()
        await task


@asynccontextmanager
async def cabinet_bot(emu: BotAPIEmulator, database_url: str, redis_url: str | None) -> Any:
    from bot.runtime import serve

    settings = Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=emu.base_url,
        database_url=database_url,
        redis_url=redis_url,
        log_level="ERROR",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    await emu.wait_for_call("getUpdates", timeout=60)
    try:
        yield
    finally:
        stop.set()
        await task


async def measure(
    name: str,
    bot: Callable[[BotAPIEmulator], AbstractAsyncContextManager[Any]],
    users: int,
    dialog: list[tuple[str, str]],
) -> Result:
    async with BotAPIEmulator(token=TOKEN) as emu, bot(emu):
        await drive(emu, min(users, 10), dialog, "warm-up")
        return await drive(emu, users, dialog, name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default=None, help="FSM storage in Redis")
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        database_url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        print(f"{date.today()} · {platform.machine()} · {platform.python_version()} · "
              f"{args.users} users × {len(CABINET_DIALOG)} updates · {database_url.split(':')[0]}"
              f"{' + Redis' if args.redis_url else ''}")  # fmt: skip
        baseline = await measure(
            "bare aiogram echo bot", lambda emu: echo_bot(emu), args.users, ECHO_DIALOG
        )
        print(baseline.line())
        ours = await measure(
            "cabinet bot",
            lambda emu: cabinet_bot(emu, database_url, args.redis_url),
            args.users,
            CABINET_DIALOG,
        )
        print(ours.line())
        print(
            f"ratio (cabinet / baseline): throughput {ours.rate / baseline.rate:.2f}×, "
            f"p50 latency {ours.pct(0.5) / baseline.pct(0.5):.2f}×, "
            f"p99 latency {ours.pct(0.99) / baseline.pct(0.99):.2f}×"
        )


def run() -> None:
    asyncio.run(main())


if __name__ == "__main__":
    run()
