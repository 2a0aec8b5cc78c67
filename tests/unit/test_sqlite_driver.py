"""bot.sqlite_driver: one trip to aiosqlite's thread per statement, none for an empty commit or
rollback, and the same results and errors as SQLAlchemy's own aiosqlite dialect; writers of one
process take turns at the write lock, first come first served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.db
from bot.db import COMMIT_AT_ONCE, create_engine, create_session_factory, database_answers
from bot.sqlite_driver import OneTripDialect, WriteQueue, starts_write, write_queue


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
    assert trips[-1] == "_commit"

    async with engine.connect() as connection:
        await connection.execute(text("UPDATE t SET v = 'z' WHERE id > 1"))
        await connection.rollback()  # a transaction is open: a real rollback
    assert trips[-1] == "_rollback"
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


# --- the in-process write queue -------------------------------------------------------------------


def no_busy_handler(engine: AsyncEngine) -> AsyncEngine:
    """SQLite's busy handler off: a writer that met another in SQLite's lock would fail at once."""

    def off(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    event.listen(engine.sync_engine, "connect", off)
    return engine


@pytest.fixture
async def two_engines(engine: AsyncEngine) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines on one file, as the bot has (the updates' and the dialog storage's)."""
    other = create_engine(engine.url.render_as_string(hide_password=False))
    yield no_busy_handler(engine), no_busy_handler(other)
    await other.dispose()


def queue_of(engine: AsyncEngine) -> WriteQueue:
    found = write_queue(str(engine.url.database))
    assert found is not None
    return found


async def until(condition: Any) -> None:
    """Let other tasks run until `condition()` holds (at most 5 s): the waiters under test
    have no event to wait for, they only join the queue after a few turns of the loop."""
    async with asyncio.timeout(5):
        for _ in range(100_000):
            if condition():
                return
            await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def insert(engine: AsyncEngine, value: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})


def test_statements_that_take_the_write_lock_are_told_apart() -> None:
    for operation in (
        "INSERT INTO t VALUES (1)",
        "  update t set v = 1",
        "-- a comment\nDELETE FROM t",
        "/* hint */ REPLACE INTO t VALUES (1)",
        "BEGIN IMMEDIATE",
    ):
        assert starts_write(operation), operation
    for operation in ("SELECT 1", "PRAGMA busy_timeout=0", "BEGIN", "COMMIT", "ROLLBACK"):
        assert not starts_write(operation), operation


async def test_writers_of_two_engines_queue_instead_of_meeting_in_sqlites_lock(
    two_engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first_engine, second_engine = two_engines
    queue = queue_of(first_engine)
    async with first_engine.connect() as first:
        await first.execute(text("INSERT INTO t (v) VALUES ('first')"))
        second = asyncio.create_task(insert(second_engine, "second"))
        await until(lambda: len(queue.waiters) == 1)
        third = asyncio.create_task(insert(first_engine, "third"))
        await until(lambda: len(queue.waiters) == 2)
        assert not second.done() and not third.done()
        await first.commit()
    await asyncio.gather(second, third)  # no busy handler, yet no «database is locked»
    async with first_engine.connect() as connection:
        rows = (await connection.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert rows == ["first", "second", "third"]  # first come, first served
    assert queue.holder is None and not queue.waiters


async def test_readers_are_not_held_up_by_a_writer(
    two_engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    writer_engine, reader_engine = two_engines
    async with writer_engine.connect() as writer:
        await writer.execute(text("INSERT INTO t (v) VALUES ('uncommitted')"))
        async with asyncio.timeout(5), reader_engine.connect() as reader:
            count = (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one()
        assert count == 0
        await writer.commit()


async def test_a_writer_that_waits_too_long_gets_the_usual_locked_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.db, "SQLITE_BUSY_MS", 200)
    url = f"sqlite+aiosqlite:///{tmp_path}/short.db"
    first_engine, second_engine = create_engine(url), create_engine(url)
    try:
        async with first_engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        async with first_engine.connect() as first:
            await first.execute(text("INSERT INTO t (v) VALUES ('holds')"))
            with pytest.raises(OperationalError, match="database is locked"):
                await insert(second_engine, "waits")
            await first.commit()
        queue = queue_of(first_engine)
        assert queue.holder is None and not queue.waiters
        await insert(second_engine, "later")  # the queue is usable again
    finally:
        await first_engine.dispose()
        await second_engine.dispose()


async def test_a_task_that_holds_the_turn_fails_at_once_instead_of_waiting_for_itself(
    two_engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first_engine, second_engine = two_engines
    async with first_engine.connect() as first:
        await first.execute(text("INSERT INTO t (v) VALUES ('mine')"))
        with pytest.raises(OperationalError, match="database is locked"):
            async with asyncio.timeout(5):  # the wait would be the 10 s busy timeout
                await insert(second_engine, "also mine")
        await first.commit()
    assert queue_of(first_engine).holder is None


async def test_a_cancelled_or_failed_writer_leaves_the_queue_usable(
    two_engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first_engine, second_engine = two_engines
    queue = queue_of(first_engine)
    async with first_engine.connect() as first:
        await first.execute(text("INSERT INTO t (v) VALUES ('a')"))
        waiting = asyncio.create_task(insert(second_engine, "cancelled"))
        await until(lambda: len(queue.waiters) == 1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not queue.waiters  # its connection was dropped, and with it its place
        await first.commit()
    assert queue.holder is None and not queue.waiters

    with pytest.raises(IntegrityError):  # a failed write, rolled back
        async with first_engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (id, v) VALUES (1, 'dup')"))
    assert queue.holder is None

    connection = await second_engine.connect()
    await connection.execute(text("INSERT INTO t (v) VALUES ('then dropped')"))
    await connection.invalidate()  # the connection is closed in mid-transaction
    await connection.close()
    assert queue.holder is None
    await insert(first_engine, "b")
    async with first_engine.connect() as connection:
        rows = (await connection.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert rows == ["a", "b"]


async def test_a_health_check_waits_its_turn_like_any_writer(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE alembic_version (version_num TEXT)"))
    async with engine.connect() as writer:
        await writer.execute(text("INSERT INTO t (v) VALUES ('busy')"))
        assert not await database_answers(engine, timeout=0.2)
        await writer.commit()
    assert await database_answers(engine, timeout=5)
    assert queue_of(engine).holder is None


async def test_a_write_can_commit_in_its_own_trip(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("DELETE FROM t"))
        await connection.execute(
            text("INSERT INTO t (v) VALUES ('at once')"),
            execution_options={COMMIT_AT_ONCE: True},
        )
        await connection.commit()  # nothing left to commit: no trip
        assert queue_of(engine).holder is None  # the turn ended with the trip
    assert trips == ["_run", "_run"]  # the second one committed
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT v FROM t"))).scalars().all()
    assert rows == ["at once"]


async def test_a_statement_can_carry_the_option_through_a_session(
    engine: AsyncEngine, trips: list[str]
) -> None:
    """As services.identity's «last seen» mark does: the session's commit has no trip left."""
    async with engine.connect() as connection:  # warm the pool: connecting has its own trips
        await connection.execute(text("SELECT 1"))
    trips.clear()
    statement = text("INSERT INTO t (v) VALUES ('seen')").execution_options(
        **{COMMIT_AT_ONCE: True}
    )
    async with create_session_factory(engine)() as session:
        await session.execute(statement)
        await session.commit()
    assert trips == ["_run"]
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT v FROM t"))).scalar_one() == "seen"
