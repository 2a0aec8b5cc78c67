"""The end-to-end cabinet: the real bot (real Dispatcher, real AiohttpSession) polling the
project's Bot API emulator over HTTP, on a fresh database, with a frozen clock."""

from __future__ import annotations

import asyncio
import copy
import random
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.db import create_engine, create_session_factory
from bot.runtime import serve
from bot.settings import Settings
from emulator import BotAPIEmulator
from models import Base, Login
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
    sqlite_template: Path
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
        """The demo data as `demo-data` writes it, copied from a snapshot seeded once per day
        and process (seeding it row by row took most of an end-to-end test's time)."""
        snapshot = await demo_snapshot(self.sqlite_template, self.clock.today())
        async with self.engine.begin() as connection:
            for table, _ in snapshot.tables:
                if await connection.scalar(select(func.count()).select_from(table)):
                    break  # the test wrote rows of its own: seed the slow way around them
            else:
                for table, rows in snapshot.tables:
                    await connection.execute(table.insert(), rows)
                if connection.dialect.name == "postgresql":
                    await _advance_sequences(connection, [table for table, _ in snapshot.tables])
                return copy.deepcopy(snapshot.summary)
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


@dataclass
class DemoSnapshot:
    summary: DemoSummary
    tables: list[tuple[Table, list[dict[str, Any]]]]  # in foreign-key order


_demo_snapshots: dict[date, DemoSnapshot] = {}


async def demo_snapshot(sqlite_template: Path, today: date) -> DemoSnapshot:
    """Seed the demo data once into a scratch SQLite copy and keep its rows, typed by the
    models (aware datetimes, Decimals, enums), to be inserted into any backend."""
    if today in _demo_snapshots:
        return _demo_snapshots[today]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo.db"
        shutil.copy(sqlite_template, path)
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            async with engine.connect() as connection:
                before = {
                    table: await connection.scalar(select(func.count()).select_from(table))
                    for table in Base.metadata.sorted_tables
                }
            async with create_session_factory(engine)() as session:
                summary = await seed_demo_data(session, today=today)
            tables = []
            async with engine.connect() as connection:
                for table in Base.metadata.sorted_tables:
                    rows = [dict(row._mapping) for row in await connection.execute(select(table))]
                    if len(rows) == before[table]:
                        continue
                    assert before[table] == 0, f"{table.name} had rows before the demo data"
                    tables.append((table, rows))
        finally:
            await engine.dispose()
    _demo_snapshots[today] = DemoSnapshot(summary, tables)
    return _demo_snapshots[today]


async def _advance_sequences(connection: AsyncConnection, tables: list[Table]) -> None:
    """Rows came with their ids: move each id sequence past them, as inserts would have."""
    for table in tables:
        if "id" not in table.c:
            continue
        await connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f'(SELECT max(id) FROM "{table.name}"))'
            )
        )


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
        cabinet = Cabinet(
            emu,
            settings,
            clock,
            engine,
            create_session_factory(engine),
            tmp_path,
            request.getfixturevalue("sqlite_template"),
        )
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
