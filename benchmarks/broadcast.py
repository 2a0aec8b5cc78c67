"""The outbox sender against Telegram's limits: N queued notifications delivered to the
project's Bot API emulator, which records when each send arrived.

    python benchmarks/broadcast.py [--count 10000] [--repeat-share 0.05] [--database-url URL]

Every chat gets one announcement; a share of the chats gets a second one (the sender must keep
one second between two messages to a chat). Prints the achieved messages per second against
the 30/s limit (goal: at least 95 % of it), duplicates, losses, sends over the limits as the
emulator saw them, and the time to drain the outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.db import apply_migrations, create_engine, create_session_factory
from emulator import BotAPIEmulator
from scheduler.outbox import OutboxSender
from services import notifications

TOKEN = "123456:BENCH"
LIMIT = 30
FIRST_CHAT = 100_000


async def run(count: int, repeat_share: float, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await apply_migrations(url)
        engine = create_engine(url)
        sessions = create_session_factory(engine)
        repeats = int(count * repeat_share)
        chats = [FIRST_CHAT + i for i in range(count - repeats)]
        second = chats[:repeats]
        async with BotAPIEmulator(token=TOKEN) as emu:
            for chat in chats:
                emu.user(chat, first_name=f"U{chat}").chat.bot_allowed = True
            async with sessions() as session:
                rows = [
                    {"kind": notifications.ANNOUNCEMENT_KIND, "chat_id": chat,
                     "dedup_key": f"bench:{n}:{chat}", "payload": {"text": f"#{n} для {chat}"}}
                    for n, group in enumerate((chats, second)) for chat in group
                ]  # fmt: skip
                await notifications.enqueue_many(session, rows)
                await session.commit()
            bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
            sender = OutboxSender(bot, sessions, rate=LIMIT, lease=timedelta(minutes=2))
            started = time.perf_counter()
            try:
                while True:
                    await sender.drain()
                    async with sessions() as session:
                        if (await notifications.outbox_counts(session)).pending == 0:
                            break
                    await asyncio.sleep(0.05)  # postponed second messages come due
            finally:
                await bot.session.close()
            drained = time.perf_counter() - started
            calls = [c for c in emu.calls_to("sendMessage") if c.error is None]
            texts = Counter(
                (m.chat.id, m.text) for c in chats for m in emu.chat(c).messages.values()
                if m.text and m.text.startswith("📢")
            )  # fmt: skip
            overall, per_chat = emu.flood_violations(per_second=LIMIT, per_chat_seconds=1.0)
        await engine.dispose()
    span = calls[-1].at - calls[0].at if len(calls) > 1 else 0.0
    rate = (len(calls) - 1) / span if span else 0.0
    duplicates = sum(n - 1 for n in texts.values() if n > 1)
    losses = len(rows) - len(texts)
    print(f"{platform.machine()}, Python {platform.python_version()}, database {url.split(':')[0]}")
    print(f"queued {len(rows)} notifications to {len(chats)} chats ({repeats} chats get two)")
    print(f"delivered {len(texts)} in {span:.1f} s: {rate:.2f} msg/s = "
          f"{rate / LIMIT:.1%} of the {LIMIT}/s limit")  # fmt: skip
    print(f"duplicates {duplicates}, losses {losses}, "
          f"limit violations: {overall} over {LIMIT}/s, {per_chat} within 1 s in one chat")  # fmt: skip
    print(f"time to drain the outbox: {drained:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat-share", type=float, default=0.05)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(run(args.count, args.repeat_share, args.database_url))


if __name__ == "__main__":
    main()
