"""aiogram FSM storage in the project's database, so dialogs survive a restart without Redis.

An abandoned dialog holds what was typed in it (names, e-mails, phones, password hashes): a
row untouched for `ttl` reads as empty, is not revived by a later write, and `purge` (an hourly
job, scheduler/maintenance.py) deletes it — what Redis does with `state_ttl`/`data_ttl`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from sqlalchemy import ColumnElement, delete, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from models import FsmRecord, utcnow


class SqlAlchemyStorage(BaseStorage):
    """One row per FSM key; state and data are upserted in their own short transactions."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl: timedelta | None = None,
    ) -> None:
        self._sessions = sessions
        self._dialect = engine.dialect.name
        self._keys = DefaultKeyBuilder(with_destiny=True, with_bot_id=True)
        self._ttl = ttl

    def _cutoff(self) -> datetime | None:
        """Rows last written before this are expired."""
        return utcnow() - self._ttl if self._ttl is not None else None

    def _live(self) -> ColumnElement[bool]:
        cutoff = self._cutoff()
        return FsmRecord.updated_at >= cutoff if cutoff is not None else true()

    def _insert(self) -> Any:
        return pg_insert if self._dialect == "postgresql" else sqlite_insert

    async def _upsert(self, key: StorageKey, values: dict[str, Any]) -> None:
        insert = self._insert()
        record_key = self._keys.build(key)
        defaults: dict[str, Any] = {"state": None, "data": {}}
        defaults.update(values)
        statement = insert(FsmRecord).values(key=record_key, updated_at=utcnow(), **defaults)
        statement = statement.on_conflict_do_update(
            index_elements=[FsmRecord.key], set_={**values, "updated_at": utcnow()}
        )
        cutoff = self._cutoff()
        async with self._sessions() as session:
            if cutoff is not None:  # an expired dialog is not revived with its old data
                await session.execute(
                    delete(FsmRecord).where(
                        FsmRecord.key == record_key, FsmRecord.updated_at < cutoff
                    )
                )
            await session.execute(statement)
            await session.commit()

    async def _clear(self, key: StorageKey, values: dict[str, Any]) -> None:
        """Clearing writes only when there is something to clear: most updates come from users
        in no dialog, and on SQLite every write transaction queues behind the others."""
        record_key = self._keys.build(key)
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(FsmRecord.state, FsmRecord.data).where(
                        FsmRecord.key == record_key, self._live()
                    )
                )
            ).first()
            if row is None or all(not getattr(row, name) for name in values):
                return
            await session.execute(
                update(FsmRecord)
                .where(FsmRecord.key == record_key)
                .values(**values, updated_at=utcnow())
            )
            await session.commit()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        if value is None:
            await self._clear(key, {"state": None})
        else:
            await self._upsert(key, {"state": value})

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._sessions() as session:
            result = await session.execute(
                select(FsmRecord.state).where(FsmRecord.key == self._keys.build(key), self._live())
            )
            return result.scalar_one_or_none()

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not data:
            await self._clear(key, {"data": {}})
        else:
            await self._upsert(key, {"data": dict(data)})

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._sessions() as session:
            result = await session.execute(
                select(FsmRecord.data).where(FsmRecord.key == self._keys.build(key), self._live())
            )
            data = result.scalar_one_or_none()
            return dict(data) if data else {}

    async def purge(self, *, before: datetime | None = None) -> int:
        """Delete dialogs last touched before `before` (default: older than the TTL)."""
        before = before or self._cutoff()
        if before is None:
            return 0
        async with self._sessions() as session:
            result = await session.execute(delete(FsmRecord).where(FsmRecord.updated_at < before))
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def close(self) -> None:
        """Sessions are short-lived; the engine is disposed by the runtime."""
