"""bot.sqlite_driver: one trip to aiosqlite's thread per statement, none for an empty commit or
rollback, and the same results and errors as SQLAlchemy's own aiosqlite dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import create_engine
from bot.sqlite_driver import OneTripDialect


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/trips.db")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the functions sent to aiosqlite's connection thread."""
    seen: list[str] = []
    original: Any = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", type(fn).__name__))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_the_project_engine_uses_the_one_trip_dialect(engine: AsyncEngine) -> None:
    assert isinstance(engine.dialect, OneTripDialect)
    assert engine.dialect.name == "sqlite" and engine.dialect.driver == "aiosqlite"


async def test_a_read_is_one_trip_and_ends_without_a_rollback(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as connection:  # warm the pool: connecting has its own trips
        await connection.execute(text("SELECT 1"))
    trips.clear()
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT v FROM t"))).all()
    assert rows == [] and trips == ["_run"]


async def test_writes_commit_roll_back_and_report_like_the_stock_dialect(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.begin() as connection:
        result = await connection.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
        assert result.rowcount == 2
        inserted = await connection.execute(text("INSERT INTO t (v) VALUES ('c')"))
        assert inserted.lastrowid == 3
    assert trips[-1] == "commit"

    async with engine.connect() as connection:
        await connection.execute(text("UPDATE t SET v = 'z' WHERE id > 1"))
        await connection.rollback()  # a transaction is open: a real rollback
    assert trips[-1] == "rollback"
    async with engine.connect() as connection:
        values = (await connection.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
        updated = await connection.execute(text("UPDATE t SET v = 'y' WHERE id = 1"))
        assert updated.rowcount == 1
        await connection.commit()
    assert values == ["a", "b", "c"]

    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (id, v) VALUES (1, 'dup')"))
    with pytest.raises(OperationalError):
        async with engine.connect() as connection:
            await connection.execute(text("SELECT nothing FROM nowhere"))
    async with engine.connect() as connection:
        first = (await connection.execute(text("SELECT v FROM t WHERE id = 1"))).scalar_one()
    assert first == "y"
