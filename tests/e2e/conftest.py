"""The end-to-end cabinet: the real bot (real Dispatcher, real AiohttpSession) polling the
project's Bot API emulator over HTTP, on a fresh database, with a frozen clock."""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.db import create_engine, create_session_factory
from bot.runtime import serve
from bot.settings import Settings
from emulator import BotAPIEmulator
from models import Login
from services.demo import DEMO_EMAIL, DemoSummary, seed_demo_data
from services.identity import bind_login
from tests.conftest import (
    MOSCOW_NOON,
    PG_AVAILABLE,
    REDIS_AVAILABLE,
    REDIS_URL,
    fresh_pg_database,
    make_settings,
)

STAFF_CHAT_ID = -1001234567890
BOT_USERNAME = "mef_cabinet_bot"


@dataclass
class Cabinet:
    """One bot under test: start/stop/restart it, script users, reach the database directly."""

    emu: BotAPIEmulator
    settings: Settings
    clock: FrozenClock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tmp_path: Path
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        """Start the bot and return once it polls for updates (or raise what it crashed with)."""
        self._stop = asyncio.Event()
        ready_call = "setWebhook" if self.settings.webhook_url else "getUpdates"
        polling = asyncio.create_task(self.emu.wait_for_call(ready_call, timeout=30))
        self._task = asyncio.create_task(serve(self.settings, self._stop, clock=self.clock))
        done, _ = await asyncio.wait({polling, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if polling not in done:
            polling.cancel()
            self._task.result()
            raise AssertionError("the bot stopped before polling")
        polling.result()

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        task, self._task = self._task, None
        await asyncio.wait_for(task, 30)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def user(self, user_id: int = 1001, **profile: Any) -> Any:
        profile.setdefault("first_name", "Иван")
        return self.emu.user(user_id, **profile)

    def staff_group(self) -> Any:
        return self.emu.group(STAFF_CHAT_ID, title="Металлэнергофинанс — обращения")

    async def seed_demo(self) -> DemoSummary:
        async with self.sessions() as session:
            return await seed_demo_data(session, today=self.clock.today())

    async def login_as(self, user_id: int, email: str = DEMO_EMAIL) -> int:
        """Arrange a logged-in subscriber directly (tests of other features need not log in)."""
        async with self.sessions() as session:
            login_id = await session.scalar(select(Login.id).where(Login.email == email))
            assert login_id is not None, f"no login {email}"
            await bind_login(session, user_id, user_id, login_id)
            await session.commit()
            return login_id


BACKENDS = ["sqlite", "postgres+redis"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres+redis" and not (PG_AVAILABLE and REDIS_AVAILABLE):
        pytest.skip("PostgreSQL or Redis is not reachable")
    return str(request.param)


@pytest.fixture
async def cabinet(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> AsyncIterator[Cabinet]:
    bot_id = random.randint(10**8, 10**9)
    token = f"{bot_id}:TEST-{bot_id}"
    async with AsyncExitStack() as stack:
        if backend == "sqlite":
            template: Path = request.getfixturevalue("sqlite_template")
            shutil.copy(template, tmp_path / "bot.db")
            database_url, redis_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", None
        else:
            pg_template: str = request.getfixturevalue("pg_template")
            database_url = await stack.enter_async_context(fresh_pg_database(pg_template))
            redis_url = REDIS_URL
        async with _run_cabinet(request, tmp_path, token, database_url, redis_url) as cabinet:
            yield cabinet


@asynccontextmanager
async def _run_cabinet(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    token: str,
    database_url: str,
    redis_url: str | None,
) -> AsyncIterator[Cabinet]:
    bot_id = int(token.split(":")[0])
    marker = request.node.get_closest_marker("settings")
    extra: dict[str, Any] = dict(marker.kwargs) if marker else {}
    async with BotAPIEmulator(token=token, bot_username=BOT_USERNAME) as emu:
        settings = make_settings(
            tmp_path,
            database_url,
            bot_token=token,
            telegram_api_url=emu.base_url,
            redis_url=redis_url,
            **{"staff_chat_id": STAFF_CHAT_ID, **extra},
        )
        engine = create_engine(database_url)
        clock = FrozenClock(settings.zone, MOSCOW_NOON)
        cabinet = Cabinet(emu, settings, clock, engine, create_session_factory(engine), tmp_path)
        try:
            await cabinet.start()
            yield cabinet
        finally:
            await cabinet.stop()
            await engine.dispose()
            if redis_url:
                await _drop_redis_keys(redis_url, bot_id)
        assert not emu.unexpected_calls, f"the bot called unknown methods: {emu.unexpected_calls}"


async def _drop_redis_keys(url: str, bot_id: int) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(f"fsm:{bot_id}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()
