"""SQLAlchemy's aiosqlite dialect with fewer trips to the connection's thread.

aiosqlite runs each sqlite3 call on the connection's own thread; SQLAlchemy's adapter makes
four such calls per statement (cursor, execute, fetchall, close) and one more for the
rollback that ends every pooled checkout, even when nothing was begun. Each trip is a queue
put, a thread wake-up and a GIL hand-off both ways: in a profile of `benchmarks/updates.py`
they were most of the cost of a statement. Here a statement is one trip (the four calls done
together on the connection's thread), and `commit`/`rollback` with no transaction open are no
trips at all (sqlite3's `in_transaction` says so; it only reads the connection's autocommit
flag). Everything else is SQLAlchemy's dialect unchanged; `bot.db.create_engine` selects it
for `sqlite+aiosqlite` URLs.

Writers of one process also queue for the database in asyncio rather than in SQLite. Two
connections of one process that write at once (the dialog storage's engine, the update's
session) otherwise meet in SQLite's write lock, where the loser's busy handler sleeps and
polls (up to 100 ms a sleep): no order, and a late writer can take the lock while an early
one sleeps, so under load some writes waited seconds. Here a connection takes its process's
`WriteQueue` for the database file before its first write of a transaction and gives it back
when the transaction ends: writers are served first come first served, the moment the lock is
free. The busy timeout still covers other processes (the scheduler, a CLI command); waiting
in the queue is bounded by it too, and a timeout raises sqlite3's usual «database is locked».
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import weakref
from collections import deque
from typing import Any

import aiosqlite
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)

from bot.db import COMMIT_AT_ONCE

DRIVER_NAME = "sqlite+aiosqlite_onetrip"

Outcome = tuple[Any, list[Any] | None, int | None, int]

DEFAULT_WAIT = 5.0  # seconds: sqlite3.connect's own default busy timeout
# What makes sqlite3 open a transaction before a statement (INSERT, UPDATE, DELETE, REPLACE)
# or asks for the write lock outright; comments and blanks may come first.
_WRITES = re.compile(
    r"(?:\s+|--[^\n]*\n|/\*.*?\*/)*(?:INSERT|UPDATE|DELETE|REPLACE|BEGIN\s+(?:IMMEDIATE|EXCLUSIVE))\b",
    re.IGNORECASE | re.DOTALL,
)


def starts_write(operation: str) -> bool:
    """Whether `operation` takes SQLite's write lock (and, but for BEGIN, opens a transaction)."""
    return _WRITES.match(operation) is not None


class WriteQueue:
    """First come, first served turns at one database file's write lock, for the connections
    of one event loop. A connection holds its turn from its first write to the end of its
    transaction; the next waiter is handed the turn directly, so nobody can overtake it."""

    __slots__ = ("holder", "owner", "waiters")

    def __init__(self) -> None:
        self.holder: object | None = None
        self.owner: asyncio.Task[Any] | None = None  # the task that took the turn
        self.waiters: deque[tuple[asyncio.Future[None], object]] = deque()

    def take_now(self, holder: object) -> bool:
        """Take the free turn without waiting; False if someone has it or is waiting for it."""
        if self.holder is None and not self.waiters:
            self.holder, self.owner = holder, asyncio.current_task()
            return True
        return False

    async def take(self, holder: object, timeout: float) -> None:
        """Wait for the turn at most `timeout` seconds (TimeoutError). A task that already
        holds the turn through another connection would wait for itself: it fails at once."""
        if self.take_now(holder):
            return
        task = asyncio.current_task()
        if task is not None and self.owner is task:
            raise TimeoutError
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        entry = (waiter, holder)
        self.waiters.append(entry)
        expiry = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.give_back(holder)  # handed over, then cancelled: pass the turn on
            else:
                with contextlib.suppress(ValueError):  # not handed over: out of the queue
                    self.waiters.remove(entry)
            raise
        finally:
            expiry.cancel()
        self.owner = task

    def give_back(self, holder: object) -> None:
        """End `holder`'s turn and hand it to the first waiter still waiting."""
        if self.holder is not holder:
            return
        self.holder = self.owner = None
        while self.waiters:
            waiter, following = self.waiters.popleft()
            if not waiter.done():
                self.holder = following
                waiter.set_result(None)
                return


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WriteQueue]] = (
    weakref.WeakKeyDictionary()
)


def write_queue(database: str) -> WriteQueue | None:
    """The running loop's queue for a database file; None for an in-memory database (each
    connection has its own) or outside a running loop."""
    if database in ("", ":memory:") or "mode=memory" in database:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    key = database if database.startswith("file:") else os.path.realpath(database)
    return _queues.setdefault(loop, {}).setdefault(key, WriteQueue())


def _run(raw: sqlite3.Connection, operation: str, parameters: Any) -> Outcome:
    """On the connection's thread: the statement and all its rows."""
    cursor = raw.cursor()
    try:
        cursor.execute(operation, () if parameters is None else parameters)
        if cursor.description:
            return cursor.description, cursor.fetchall(), -1, -1
        return None, None, cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


def _run_and_commit(raw: sqlite3.Connection, operation: str, parameters: Any) -> Outcome:
    """On the connection's thread: the statement, then the commit of its transaction."""
    outcome = _run(raw, operation, parameters)
    raw.commit()
    return outcome


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None, *, commit: bool = False) -> Any:
        connection: Any = self._connection  # an aiosqlite.Connection
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        adapted.wait_for_turn(operation)
        run = _run_and_commit if commit else _run
        try:
            description, rows, lastrowid, rowcount = self.await_(
                connection._execute(run, connection._conn, operation, parameters)
            )
        except Exception as error:
            adapted.end_turn_unless_in_transaction()
            self._adapt_connection._handle_exception(error)
        adapted.end_turn_unless_in_transaction()
        self.description = description
        self.lastrowid, self.rowcount = lastrowid, rowcount
        if rows is not None:
            self._rows = deque(rows)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        adapted.wait_for_turn(operation)
        try:
            return super().executemany(operation, seq_of_parameters)
        finally:
            adapted.end_turn_unless_in_transaction()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_queue", "_turn", "_wait")

    def __init__(self, dbapi: Any, connection: Any, queue: WriteQueue | None, wait: float) -> None:
        super().__init__(dbapi, connection)
        self._queue, self._wait, self._turn = queue, wait, False

    def wait_for_turn(self, operation: str) -> None:
        """Before a statement: a write outside this connection's turn waits for the turn."""
        if self._turn or self._queue is None or not starts_write(operation):
            return
        if not self._queue.take_now(self):
            try:
                self.await_(self._queue.take(self, self._wait))
            except TimeoutError:
                raise self.dbapi.OperationalError("database is locked") from None
        self._turn = True

    def end_turn_unless_in_transaction(self) -> None:
        if self._turn and not self._in_transaction():
            self._end_turn()

    def _end_turn(self) -> None:
        if self._turn and self._queue is not None:
            self._turn = False
            self._queue.give_back(self)

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        if server_side:
            return super().cursor(server_side=True)
        return OneTripCursor(self)

    def _in_transaction(self) -> bool:
        try:
            return bool(self._connection._conn.in_transaction)
        except (ValueError, sqlite3.Error):  # closed: let aiosqlite raise its own error
            return True

    def rollback(self) -> None:
        try:
            if self._in_transaction():
                super().rollback()
        finally:
            self.end_turn_unless_in_transaction()

    def commit(self) -> None:
        try:
            if self._in_transaction():
                super().commit()
        finally:
            self.end_turn_unless_in_transaction()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            self._end_turn()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        database = str(arg[0] if arg else kw.get("database", ""))
        wait = float(kw.get("timeout", DEFAULT_WAIT))
        adapted = super().connect(*arg, **kw)
        if type(adapted) is AsyncAdapt_aiosqlite_connection:
            return OneTripConnection(self, adapted._connection, write_queue(database), wait)
        return adapted  # the sync fallback mode is left as it is


class OneTripDialect(SQLiteDialect_aiosqlite):
    supports_statement_cache = True  # statements compile as in the parent dialect

    @classmethod
    def import_dbapi(cls) -> OneTripDBAPI:
        return OneTripDBAPI(aiosqlite, sqlite3)

    def do_execute(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        if (
            context is not None
            and context.execution_options.get(COMMIT_AT_ONCE)
            and isinstance(cursor, OneTripCursor)
        ):
            cursor.execute(statement, parameters, commit=True)
        else:
            cursor.execute(statement, parameters)


registry.register(DRIVER_NAME.replace("+", "."), __name__, "OneTripDialect")
