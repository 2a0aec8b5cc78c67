"""Dialog state is kept outside the process: in the database, or in Redis when configured."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from bot.fsm_storage import SqlAlchemyStorage
from models import FsmRecord, utcnow
from tests.conftest import REDIS_AVAILABLE, REDIS_URL, make_settings


async def test_database_storage_survives_a_new_engine(db_url: str) -> None:
    key = StorageKey(bot_id=1, chat_id=42, user_id=42)
    engine = create_engine(db_url)
    storage = SqlAlchemyStorage(engine, create_session_factory(engine))
    await storage.set_state(key, "Registration:email")
    await storage.set_data(key, {"surname": "Римская-Корсакова", "step": 2})
    await storage.set_state(key, "Registration:phone")
    await engine.dispose()

    engine = create_engine(db_url)
    storage = SqlAlchemyStorage(engine, create_session_factory(engine))
    try:
        assert await storage.get_state(key) == "Registration:phone"
        assert await storage.get_data(key) == {"surname": "Римская-Корсакова", "step": 2}
        await storage.set_state(key, None)
        await storage.set_data(key, {})
        assert await storage.get_state(key) is None
        assert await storage.get_data(key) == {}
        other = StorageKey(bot_id=1, chat_id=43, user_id=43)
        assert await storage.get_state(other) is None
    finally:
        await engine.dispose()


async def test_keys_are_per_bot_chat_and_user(sessions: async_sessionmaker[AsyncSession]) -> None:
    engine = sessions.kw["bind"]
    storage = SqlAlchemyStorage(engine, sessions)
    first = StorageKey(bot_id=1, chat_id=10, user_id=10)
    second = StorageKey(bot_id=2, chat_id=10, user_id=10)
    await storage.set_state(first, "A:a")
    assert await storage.get_state(second) is None


@pytest.mark.skipif(not REDIS_AVAILABLE, reason=f"Redis is not reachable at {REDIS_URL}")
async def test_redis_storage_survives_a_new_connection() -> None:
    from aiogram.fsm.storage.redis import RedisStorage

    from bot.app import build_storage
    from tests.conftest import make_settings

    settings = make_settings(
        __import__("pathlib").Path("/tmp"), "sqlite+aiosqlite://", redis_url=REDIS_URL
    )
    key = StorageKey(bot_id=random.randint(10**8, 10**9), chat_id=7, user_id=7)
    storage = build_storage(settings, None, None)  # type: ignore[arg-type]
    assert isinstance(storage, RedisStorage)
    await storage.set_state(key, "LinkAccount:number")
    await storage.set_data(key, {"number": "7400000001"})
    await storage.close()
    storage = build_storage(settings, None, None)  # type: ignore[arg-type]
    try:
        assert await storage.get_state(key) == "LinkAccount:number"
        assert await storage.get_data(key) == {"number": "7400000001"}
        await storage.set_state(key, None)
        await storage.set_data(key, {})
    finally:
        await storage.close()


async def test_an_abandoned_dialog_expires_and_is_purged(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """What was typed into a dialog left for longer than the TTL is gone: it reads as empty,
    a later step does not bring it back, and the purge deletes the row (#9 item 8)."""
    storage = SqlAlchemyStorage(sessions.kw["bind"], sessions, ttl=timedelta(hours=24))
    old, fresh = (StorageKey(bot_id=1, chat_id=n, user_id=n) for n in (50, 51))
    for key in (old, fresh):
        await storage.set_state(key, "Registration:phone")
        await storage.set_data(key, {"email": "anna@example.ru", "password_hash": "$argon2id$x"})
    async with sessions() as session:
        await session.execute(
            update(FsmRecord)
            .where(FsmRecord.key.contains(":50:"))
            .values(updated_at=utcnow() - timedelta(hours=25))
        )
        await session.commit()
    assert await storage.get_state(old) is None and await storage.get_data(old) == {}
    assert await storage.get_state(fresh) == "Registration:phone"
    assert await storage.purge() == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(FsmRecord)) == 1
    # a stale row that the purge has not reached yet is not revived by a new step either
    await storage.set_data(old, {"email": "anna@example.ru"})
    async with sessions() as session:
        await session.execute(update(FsmRecord).values(updated_at=utcnow() - timedelta(days=2)))
        await session.commit()
    await storage.set_state(old, "Login:email")
    assert await storage.get_state(old) == "Login:email"
    assert await storage.get_data(old) == {}


@pytest.mark.skipif(not REDIS_AVAILABLE, reason=f"Redis is not reachable at {REDIS_URL}")
async def test_redis_dialog_keys_expire_after_the_ttl() -> None:
    from aiogram.fsm.storage.redis import RedisStorage

    from bot.app import build_storage

    settings = make_settings(Path("/tmp"), "sqlite+aiosqlite://", redis_url=REDIS_URL,
                             dialog_ttl_hours=3)  # fmt: skip
    key = StorageKey(bot_id=random.randint(10**8, 10**9), chat_id=7, user_id=7)
    storage = build_storage(settings, None, None)  # type: ignore[arg-type]
    assert isinstance(storage, RedisStorage)
    try:
        await storage.set_state(key, "Registration:email")
        await storage.set_data(key, {"full_name": "Петрова Анна"})
        for destiny in ("state", "data"):
            ttl = await storage.redis.ttl(storage.key_builder.build(key, destiny))
            assert 3 * 3600 - 60 < ttl <= 3 * 3600
    finally:
        await storage.set_state(key, None)
        await storage.set_data(key, {})
        await storage.close()


async def test_the_hourly_job_purges_dialogs_and_registration_data(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """scheduler/maintenance.py: one run forgets abandoned dialogs and expired registrations."""
    from types import SimpleNamespace

    from bot.clock import FrozenClock
    from models import PendingRegistration
    from scheduler.maintenance import purge_expired

    settings = make_settings(tmp_path, "sqlite+aiosqlite://", dialog_ttl_hours=24)
    clock = FrozenClock(settings.zone, utcnow() + timedelta(days=3))
    storage = SqlAlchemyStorage(sessions.kw["bind"], sessions, ttl=settings.dialog_ttl)
    await storage.set_state(StorageKey(bot_id=1, chat_id=60, user_id=60), "Registration:email")
    async with sessions() as session:
        session.add(
            PendingRegistration(
                token_hash="a" * 64, code_hash="b" * 64, email="anna@example.ru",
                phone="+79991234567", surname="Петрова", name="Анна", password_hash="x",
                consent_version="2026-01", consent_at=utcnow(), telegram_user_id=60,
                expires_at=utcnow() + timedelta(hours=1),
            )
        )  # fmt: skip
        await session.commit()
    runtime = SimpleNamespace(
        extras={"clock": clock}, storage=storage, settings=settings, sessions=sessions
    )
    await purge_expired(runtime)  # type: ignore[arg-type]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(FsmRecord)) == 0
        assert await session.scalar(select(func.count()).select_from(PendingRegistration)) == 0


async def test_one_update_reads_its_dialog_once_and_clears_an_empty_one_for_free(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """aiogram reads the state of every update and /start, /menu, «Отмена» clear the dialog:
    within one update (bot.middlewares.FsmMemoMiddleware) that is one SELECT, and no write
    when the dialog is empty; what the update writes is what it reads back."""
    from sqlalchemy import event

    from bot.fsm_storage import update_memo

    engine = sessions.kw["bind"]
    storage = SqlAlchemyStorage(engine, sessions, ttl=timedelta(hours=24))
    key = StorageKey(bot_id=1, chat_id=55, user_id=55)
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        with update_memo():
            assert await storage.get_state(key) is None
            assert await storage.get_data(key) == {}
            await storage.set_state(key, None)
            await storage.set_data(key, {})
        assert statements == ["SELECT"]

        statements.clear()
        with update_memo():
            assert await storage.get_state(key) is None
            await storage.set_state(key, "ReadingEntry:value")
            await storage.set_data(key, {"meter": 7})
            assert await storage.get_state(key) == "ReadingEntry:value"
            assert await storage.get_data(key) == {"meter": 7}
        assert statements.count("SELECT") == 1

        with update_memo():  # the next update reads afresh
            assert await storage.get_data(key) == {"meter": 7}
            await storage.set_state(key, None)
            await storage.set_data(key, {})
            assert await storage.get_state(key) is None
        assert await storage.get_state(key) is None and await storage.get_data(key) == {}
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_dialog_step_is_written_once_when_the_update_is_done(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A step writes its state and data separately; for the update's own dialog (the key whose
    lock it holds, bot.middlewares.FsmFlushMiddleware) that is one upsert at `flush`, and
    another user's dialog is still written at once (it is not under this update's lock)."""
    from sqlalchemy import event

    from bot.fsm_storage import update_memo

    engine = sessions.kw["bind"]
    storage = SqlAlchemyStorage(engine, sessions, ttl=timedelta(hours=24))
    own, other = StorageKey(1, 56, 56), StorageKey(1, 57, 57)
    await storage.set_state(other, "Staff:answer")
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        with update_memo():
            storage.hold(own)
            assert await storage.get_state(own) is None
            await storage.set_state(own, "ReadingEntry:value")
            await storage.update_data(own, {"meter": 7})
            await storage.update_data(own, {"value": "123"})
            assert statements == ["SELECT"]
            assert await storage.get_data(own) == {"meter": 7, "value": "123"}
            await storage.set_state(other, None)  # another dialog: at once
            assert statements == ["SELECT", "SELECT", "UPDATE"]
            await storage.flush()
            assert statements == ["SELECT", "SELECT", "UPDATE", "INSERT"]
            await storage.flush()  # nothing more to write
            assert statements.count("INSERT") == 1
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert await storage.get_state(own) == "ReadingEntry:value"
    assert await storage.get_data(own) == {"meter": 7, "value": "123"}
    assert await storage.get_state(other) is None


@pytest.mark.skipif(not REDIS_AVAILABLE, reason=f"Redis is not reachable at {REDIS_URL}")
async def test_redis_dialog_step_is_one_read_and_one_write_with_ttls() -> None:
    """bot.fsm_redis: within an update the own dialog is read once (state and data together)
    and written once, in one MULTI with aiogram's keys and TTLs, so plain RedisStorage reads it;
    another user's dialog is written at once."""
    from aiogram.fsm.storage.redis import RedisStorage

    from bot.app import build_storage
    from bot.fsm_storage import update_memo

    settings = make_settings(Path("/tmp"), "sqlite+aiosqlite://", redis_url=REDIS_URL,
                             dialog_ttl_hours=3)  # fmt: skip
    bot_id = random.randint(10**8, 10**9)
    own, other = StorageKey(bot_id, 8, 8), StorageKey(bot_id, 9, 9)
    storage = build_storage(settings, None, None)  # type: ignore[arg-type]
    plain = RedisStorage(storage.redis, key_builder=storage.key_builder)  # type: ignore[attr-defined]
    commands: list[str] = []
    original = storage.redis.execute_command  # type: ignore[attr-defined]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        commands.append(str(args[0]))
        return await original(*args, **kwargs)

    try:
        await plain.set_state(other, "Staff:answer")
        storage.redis.execute_command = counted  # type: ignore[attr-defined]
        with update_memo():
            storage.hold(own)  # type: ignore[attr-defined]
            assert await storage.get_state(own) is None
            await storage.set_state(own, "ReadingEntry:value")
            await storage.update_data(own, {"meter": 7})
            await storage.update_data(own, {"value": "123"})
            assert await storage.get_data(own) == {"meter": 7, "value": "123"}
            assert commands == ["MGET"]
            await storage.set_state(other, None)  # not this update's dialog: at once
            assert commands == ["MGET", "DEL"]
            await storage.flush()  # type: ignore[attr-defined]
        assert await plain.get_state(own) == "ReadingEntry:value"
        assert await plain.get_data(own) == {"meter": 7, "value": "123"}
        assert await plain.get_state(other) is None
        for destiny in ("state", "data"):
            ttl = await plain.redis.ttl(plain.key_builder.build(own, destiny))
            assert 3 * 3600 - 60 < ttl <= 3 * 3600
        with update_memo():  # a step that ends the dialog deletes both keys
            storage.hold(own)  # type: ignore[attr-defined]
            assert await storage.get_state(own) == "ReadingEntry:value"
            await storage.set_state(own, None)
            await storage.set_data(own, {})
            await storage.flush()  # type: ignore[attr-defined]
        assert await plain.get_state(own) is None and await plain.get_data(own) == {}
    finally:
        storage.redis.execute_command = original  # type: ignore[attr-defined]
        await storage.close()


@pytest.mark.skipif(not REDIS_AVAILABLE, reason=f"Redis is not reachable at {REDIS_URL}")
async def test_redis_clearing_an_empty_dialog_writes_nothing() -> None:
    """A guest's /start or /menu: aiogram reads the state and the handler clears the dialog;
    with nothing stored that is the one MGET, and no MULTI to delete keys that are not there."""
    from bot.app import build_storage
    from bot.fsm_storage import update_memo

    settings = make_settings(Path("/tmp"), "sqlite+aiosqlite://", redis_url=REDIS_URL)
    own = StorageKey(random.randint(10**8, 10**9), 8, 8)
    storage = build_storage(settings, None, None)  # type: ignore[arg-type]
    commands: list[str] = []
    original = storage.redis.execute_command  # type: ignore[attr-defined]
    pipeline = storage.redis.pipeline  # type: ignore[attr-defined]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        commands.append(str(args[0]))
        return await original(*args, **kwargs)

    def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
        commands.append("MULTI")
        return pipeline(*args, **kwargs)

    storage.redis.execute_command = counted  # type: ignore[attr-defined]
    storage.redis.pipeline = counted_pipeline  # type: ignore[attr-defined]
    try:
        with update_memo():
            storage.hold(own)  # type: ignore[attr-defined]
            assert await storage.get_state(own) is None
            await storage.set_state(own, None)
            await storage.set_data(own, {})
            await storage.flush()  # type: ignore[attr-defined]
        assert commands == ["MGET"]
        with update_memo():  # a dialog that was there is still deleted
            storage.hold(own)  # type: ignore[attr-defined]
            assert await storage.get_state(own) is None
            await storage.set_state(own, "ReadingEntry:value")
            await storage.flush()  # type: ignore[attr-defined]
            await storage.set_state(own, None)
            await storage.flush()  # type: ignore[attr-defined]
        assert commands == ["MGET", "MGET", "MULTI", "MULTI"]
        assert await storage.get_state(own) is None
    finally:
        storage.redis.execute_command = original  # type: ignore[attr-defined]
        storage.redis.pipeline = pipeline  # type: ignore[attr-defined]
        await storage.close()
