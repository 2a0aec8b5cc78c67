"""Shared fixtures: a fresh database per test (SQLite always, PostgreSQL when reachable) and
the end-to-end cabinet: the real bot polling the project's Bot API emulator."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory, upgrade_sync
from bot.settings import Settings

PG_ADMIN_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MOSCOW_NOON = datetime(2026, 11, 20, 12, 0)  # inside the default reading window 15–25


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 0.5
        ):
            return True
    except OSError:
        return False


PG_AVAILABLE = _reachable(PG_ADMIN_URL, 5432)
REDIS_AVAILABLE = _reachable(REDIS_URL, 6379)
_printed: set[str] = set()


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    lines.append(
        "PostgreSQL: "
        + (
            "reachable"
            if PG_AVAILABLE
            else f"NOT reachable at {PG_ADMIN_URL}, its tests are skipped"
        )
    )
    lines.append(
        "Redis: "
        + (
            "reachable"
            if REDIS_AVAILABLE
            else f"NOT reachable at {REDIS_URL}, its tests are skipped"
        )
    )
    return lines


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: migrations run once per session."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


async def _pg_execute(sql: str) -> None:
    import asyncpg

    dsn = PG_ADMIN_URL.replace("+asyncpg", "")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _run_blocking(sql: str) -> None:
    """Run SQL from sync code that may itself be called inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(_pg_execute(sql))).result()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test's database is cloned from."""
    if not PG_AVAILABLE:
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    name = f"mef_tmpl_{os.getpid()}"
    _run_blocking(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _run_blocking(f'CREATE DATABASE "{name}"')
    upgrade_sync(pg_url(name))
    yield name
    _run_blocking(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(database: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"


@asynccontextmanager
async def fresh_pg_database(template: str) -> AsyncIterator[str]:
    name = f"mef_test_{uuid.uuid4().hex[:12]}"
    await _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield pg_url(name)
    finally:
        await _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A freshly migrated, empty database for one test; dropped afterwards."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "test.db"
        shutil.copy(template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    async with fresh_pg_database(request.getfixturevalue("pg_template")) as url:
        yield url


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(db_url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session on a fresh database: what a test commits vanishes with the database."""
    async with sessions() as session:
        yield session


# --- end to end ------------------------------------------------------------------------------


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": "1:placeholder",
        "database_url": database_url,
        "redis_url": None,
        "staff_chat_id": -1001234567890,
        "tz": "Europe/Moscow",
        "mail_dir": tmp_path / "mail",
        "upload_dir": tmp_path / "uploads",
        "captcha_enabled": True,
        "smtp_host": None,
        "webhook_url": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)
