"""Round trips to PostgreSQL per update: the pool pings a connection only after it idled
(bot.db._ping_if_idle), so a busy bot pays nothing for it and a server restart in a quiet hour
costs no update; the viewer is read without BEGIN and COMMIT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import db
from tests.conftest import fresh_pg_database


@pytest.fixture
async def pg_engine(pg_template: str) -> AsyncIterator[AsyncEngine]:
    async with fresh_pg_database(pg_template) as url:
        engine = db.create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()


def _count_pings(engine: AsyncEngine) -> list[int]:
    dialect = engine.sync_engine.dialect
    calls: list[int] = []
    ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        calls.append(1)
        return ping(dbapi_connection)

    dialect.do_ping = counted  # type: ignore[method-assign]
    return calls


async def _answer(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT 1"))).scalar_one())


async def _terminate_other_backends(engine: AsyncEngine) -> None:
    """What a server restart does to the pooled connections."""
    async with engine.connect() as connection:
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )


async def test_a_connection_in_use_is_not_pinged(pg_engine: AsyncEngine) -> None:
    pings = _count_pings(pg_engine)
    for _ in range(5):
        assert await _answer(pg_engine) == 1
    assert pings == []


async def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    pg_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with pg_engine.connect() as first, pg_engine.connect() as second:
        # two pooled connections: the one terminating the other survives
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))
    await _terminate_other_backends(pg_engine)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    pings = _count_pings(pg_engine)
    for _ in range(3):
        assert await _answer(pg_engine) == 1
    assert pings  # the dead connection was found by the ping, not by a failed query


async def test_a_restart_under_traffic_fails_one_query_then_the_pool_recovers(
    pg_engine: AsyncEngine,
) -> None:
    async with pg_engine.connect() as first, pg_engine.connect() as second:
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))
    await _terminate_other_backends(pg_engine)
    failures = 0
    for _ in range(3):
        try:
            assert await _answer(pg_engine) == 1
        except DBAPIError as error:
            assert error.connection_invalidated
            failures += 1
    assert failures == 1


async def test_the_viewer_is_read_without_a_transaction_of_its_own(
    pg_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg sends BEGIN and COMMIT as round trips of their own: a known user's update reads
    its viewer in one (services.identity._read_options)."""
    import asyncpg.transaction

    from bot.db import create_session_factory
    from services.identity import resolve_viewer

    sessions = create_session_factory(pg_engine)
    async with sessions() as session:
        await resolve_viewer(session, 77, 77)  # a new identity: written
    started: list[int] = []
    start = asyncpg.transaction.Transaction.start

    async def counted(self: asyncpg.transaction.Transaction) -> None:
        started.append(1)
        await start(self)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", counted)
    async with sessions() as session:
        viewer = await resolve_viewer(session, 77, 77)
        assert viewer.telegram_user_id == 77 and viewer.login_id is None
    assert started == []
    async with sessions() as session:  # the handler's own work still runs in a transaction
        await session.execute(text("SELECT 1"))
        await session.commit()
    assert started == [1]
