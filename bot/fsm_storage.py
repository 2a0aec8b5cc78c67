"""aiogram FSM storage in the project's database, so dialogs survive a restart without Redis.

An abandoned dialog holds what was typed in it (names, e-mails, phones, password hashes): a
row untouched for `ttl` reads as empty, is not revived by a later write, and `purge` (an hourly
job, scheduler/maintenance.py) deletes it — what Redis does with `state_ttl`/`data_ttl`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db import COMMIT_AT_ONCE
from models import FsmRecord, utcnow

Record = tuple[str | None, dict[str, Any]]


@runtime_checkable
class BufferedStorage(Protocol):
    """A storage that keeps the update's own dialog in the memo until `flush`."""

    def hold(self, key: StorageKey) -> None: ...

    async def flush(self) -> None: ...


class _UpdateMemo:
    """What this update read or wrote, by key: aiogram reads the state of every update before
    the handlers, which then read the data and often clear both (/start, /menu, «Отмена»); with
    the memo that is one read, and clearing an empty dialog no write. A dialog step writes its
    state and its data separately (`set_state`, `update_data`, sometimes twice each): writes
    to the update's own dialog (the key whose lock the update holds, `hold`) are kept here
    and written once, by `flush`: before the update sends anything to Telegram (so what the
    user sees is never ahead of what a restart would resume) and before it lets go of its
    per-user lock. Only for the update in hand (the lock is held), so nothing goes stale
    across updates or processes; another user's dialog (a staff action, «выйти на всех
    устройствах») is written at once, as it is not under this update's lock."""

    __slots__ = ("dirty", "own", "own_key", "rows", "storage")

    def __init__(self) -> None:
        self.rows: dict[str, Record | None] = {}
        self.own: str | None = None
        self.own_key: StorageKey | None = None
        self.dirty = False
        self.storage: BufferedStorage | None = None

    def remember(self, key: str, values: dict[str, Any]) -> None:
        """Apply a write of `values` (state and/or data) to the row remembered for `key`."""
        state, data = self.rows[key] or (None, {})
        self.rows[key] = (values.get("state", state), values.get("data", data))

    def keep(self, key: str, values: dict[str, Any]) -> bool:
        """Keep a write to the update's own dialog for `flush` (True); any other is not kept."""
        if key != self.own:
            return False
        before = self.rows[key] or (None, {})
        self.remember(key, values)
        if before == self.rows[key] == (None, {}):  # clearing an empty dialog: nothing to write
            return True
        self.dirty = True
        return True


def current_memo() -> _UpdateMemo | None:
    return _memo.get()


_memo: ContextVar[_UpdateMemo | None] = ContextVar("fsm_memo", default=None)


async def flush_update_dialog() -> None:
    """Write the update's dialog now if it has changed (a Bot API request is about to go)."""
    memo = _memo.get()
    if memo is not None and memo.dirty and memo.storage is not None:
        await memo.storage.flush()


@contextmanager
def update_memo() -> Iterator[None]:
    """Let the storage remember rows for the duration of one update."""
    token = _memo.set(_UpdateMemo())
    try:
        yield
    finally:
        _memo.reset(token)


class SqlAlchemyStorage(BaseStorage):
    """One row per FSM key; state and data are upserted in their own short transactions."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl: timedelta | None = None,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._dialect = engine.dialect.name
        self._keys = DefaultKeyBuilder(with_destiny=True, with_bot_id=True)
        self._ttl = ttl
        # The two statements of every dialog step, built once: a statement used again keeps
        # its cache key and compiled form (benchmarks/README.md, issue #15). The upsert is
        # text: SQLAlchemy's dialect `insert().on_conflict_do_update()` has no cache key and
        # was compiled again at every step; this SQL is the same on SQLite and PostgreSQL.
        columns = FsmRecord.__table__.c
        self._write_row = text(
            'INSERT INTO fsm_states ("key", state, data, updated_at) '
            "VALUES (:key, :state, :data, :updated_at) "
            'ON CONFLICT ("key") DO UPDATE SET state = excluded.state, data = excluded.data, '
            "updated_at = excluded.updated_at"
        ).bindparams(
            bindparam("key", type_=columns.key.type),
            bindparam("state", type_=columns.state.type),
            bindparam("data", type_=columns.data.type),
            bindparam("updated_at", type_=columns.updated_at.type),
        )
        read = select(FsmRecord.state, FsmRecord.data).where(FsmRecord.key == bindparam("key"))
        self._read_row = read.where(FsmRecord.updated_at >= bindparam("cutoff")) if ttl else read
        # on SQLite a write's last statement commits in its own trip (holds the lock less)
        self._commit_at_once = {COMMIT_AT_ONCE: True} if self._dialect == "sqlite" else {}

    def _cutoff(self) -> datetime | None:
        """Rows last written before this are expired."""
        return utcnow() - self._ttl if self._ttl is not None else None

    def _insert(self) -> Any:
        return pg_insert if self._dialect == "postgresql" else sqlite_insert

    async def _upsert(self, key: StorageKey, values: dict[str, Any]) -> None:
        record_key = self._keys.build(key)
        memo = _memo.get()
        if memo is not None and memo.keep(record_key, values):
            return
        # a row read live in this update is not expired
        await self._write(
            record_key, values, revive_check=memo is None or record_key not in memo.rows
        )
        if memo is not None and record_key in memo.rows:  # else the other half is unknown
            memo.remember(record_key, values)

    def hold(self, key: StorageKey) -> None:
        """The update in hand holds the per-user lock of `key`: its writes may wait for `flush`."""
        memo = _memo.get()
        if memo is not None:
            memo.own, memo.own_key, memo.storage = self._keys.build(key), key, self

    async def flush(self) -> None:
        """Write what this update changed in its own dialog, in one statement (see
        _UpdateMemo); called before the update's per-user lock is released."""
        memo = _memo.get()
        if memo is None or not memo.dirty or memo.own is None:
            return
        memo.dirty = False  # a failed write is not tried again by the apology's request
        state, data = memo.rows[memo.own] or (None, {})
        # read live in this update: no expired data to keep from reviving
        row = {"key": memo.own, "state": state, "data": data, "updated_at": utcnow()}
        async with self._engine.begin() as connection:
            await connection.execute(self._write_row, row, execution_options=self._commit_at_once)

    async def _write(self, record_key: str, values: dict[str, Any], *, revive_check: bool) -> None:
        insert = self._insert()
        defaults: dict[str, Any] = {"state": None, "data": {}}
        defaults.update(values)
        statement = insert(FsmRecord).values(key=record_key, updated_at=utcnow(), **defaults)
        statement = statement.on_conflict_do_update(
            index_elements=[FsmRecord.key], set_={**values, "updated_at": utcnow()}
        )
        cutoff = self._cutoff()
        async with self._sessions() as session:
            if cutoff is not None and revive_check:
                # an expired dialog is not revived with its old data
                await session.execute(
                    delete(FsmRecord).where(
                        FsmRecord.key == record_key, FsmRecord.updated_at < cutoff
                    )
                )
            await session.execute(statement, execution_options=self._commit_at_once)
            await session.commit()

    async def _read(self, key: StorageKey) -> tuple[str, Record | None]:
        """The live row of `key` as (state, data), or None; from the memo when this update
        has read it already."""
        record_key = self._keys.build(key)
        memo = _memo.get()
        if memo is not None and record_key in memo.rows:
            return record_key, memo.rows[record_key]
        async with self._engine.connect() as connection:
            values: dict[str, Any] = {"key": record_key}
            if self._ttl is not None:
                values["cutoff"] = self._cutoff()
            row = (await connection.execute(self._read_row, values)).first()
        record: Record | None = (row.state, dict(row.data or {})) if row is not None else None
        if memo is not None:
            memo.rows[record_key] = record
        return record_key, record

    async def _clear(self, key: StorageKey, values: dict[str, Any]) -> None:
        """Clearing writes only when there is something to clear: most updates come from users
        in no dialog, and on SQLite every write transaction queues behind the others."""
        record_key, record = await self._read(key)
        if record is None:
            return
        state, data = record
        if not (state and "state" in values) and not (data and "data" in values):
            return
        memo = _memo.get()
        if memo is not None and memo.keep(record_key, values):
            return
        async with self._sessions() as session:
            await session.execute(
                update(FsmRecord)
                .where(FsmRecord.key == record_key)
                .values(**values, updated_at=utcnow()),
                execution_options=self._commit_at_once,
            )
            await session.commit()
        if memo is not None:  # _read put the row in the memo
            memo.remember(record_key, values)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        if value is None:
            await self._clear(key, {"state": None})
        else:
            await self._upsert(key, {"state": value})

    async def get_state(self, key: StorageKey) -> str | None:
        _, record = await self._read(key)
        return record[0] if record is not None else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not data:
            await self._clear(key, {"data": {}})
        else:
            await self._upsert(key, {"data": dict(data)})

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, record = await self._read(key)
        return dict(record[1]) if record is not None else {}

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
