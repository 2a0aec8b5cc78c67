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

Writers of one process also queue for the database file in the driver rather than in SQLite.
Two connections of one process that write at once (the dialog storage's engine, the update's
session) otherwise meet in SQLite's write lock, where the loser's busy handler sleeps and
polls (up to 100 ms a sleep): no order, and a late writer can take the lock while an early
one sleeps, so under load some writes waited seconds. Here a connection takes its turn in the
file's `WriteQueue` before its first write of a transaction and gives it back when the
transaction ends: first come, first served, and the next writer starts the moment the lock is
free. Turns are taken and handed over on the connections' own threads, not in the event loop:
a dialog write (statement and commit in one trip, `bot.db.COMMIT_AT_ONCE`) then holds the
turn for the fraction of a millisecond SQLite needs, and a hand-over does not wait for a busy
loop to come round. The busy timeout still covers other processes (the scheduler, a CLI
command); waiting in the queue is bounded by it too, and a timeout raises sqlite3's usual
«database is locked».
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
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
    """First come, first served turns at one database file's write lock for the connections
    of this process, taken and handed over on their threads. A connection holds its turn from
    its first write to the end of its transaction; the next waiter is handed the turn directly,
    so nobody can overtake it."""

    __slots__ = ("_mutex", "holder", "waiters")

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.holder: Turn | None = None
        self.waiters: deque[Turn] = deque()

    def take(self, turn: Turn, timeout: float) -> bool:
        """Wait for the turn at most `timeout` seconds; whether it came."""
        with self._mutex:
            if self.holder is None and not self.waiters:
                self.holder = turn
                return True
            turn.gate.clear()
            self.waiters.append(turn)
        turn.gate.wait(timeout)
        with self._mutex:
            if self.holder is turn:  # handed over (perhaps just as the wait ran out)
                return True
            if turn in self.waiters:  # else withdrawn: its connection was closed
                self.waiters.remove(turn)
            return False

    def give_back(self, turn: Turn) -> None:
        """End `turn` if it holds the lock, and hand the lock to the first waiter."""
        with self._mutex:
            self._hand_over(turn)

    def withdraw(self, turn: Turn) -> None:
        """A connection is closed: end its turn or take it out of the queue."""
        with self._mutex:
            if turn in self.waiters:
                self.waiters.remove(turn)
                turn.gate.set()  # its thread, if still waiting, stops waiting (and fails)
            self._hand_over(turn)

    def _hand_over(self, turn: Turn) -> None:
        if self.holder is turn:
            self.holder = self.waiters.popleft() if self.waiters else None
            if self.holder is not None:
                self.holder.gate.set()


class Turn:
    """One connection's place in its file's queue; `task` is the asyncio task whose statement
    took the turn (set in the event loop), so that a task never waits for itself."""

    __slots__ = ("gate", "queue", "task", "wait")

    def __init__(self, queue: WriteQueue, wait: float) -> None:
        self.queue, self.wait = queue, wait
        self.gate = threading.Event()
        self.task: asyncio.Task[Any] | None = None

    @property
    def held(self) -> bool:
        return self.queue.holder is self

    def take(self) -> None:
        """On the connection's thread, before a write."""
        if not self.held and not self.queue.take(self, self.wait):
            raise sqlite3.OperationalError("database is locked")

    def end_unless_in_transaction(self, raw: sqlite3.Connection) -> None:
        """On the connection's thread, after a statement, commit or rollback."""
        if self.held and not _in_transaction(raw):
            self.queue.give_back(self)


_queues: dict[str, WriteQueue] = {}
_queues_mutex = threading.Lock()


def write_queue(database: str) -> WriteQueue | None:
    """The process's queue for a database file; None for an in-memory database (each
    connection has its own)."""
    if database in ("", ":memory:") or "mode=memory" in database:
        return None
    key = database if database.startswith("file:") else os.path.realpath(database)
    with _queues_mutex:
        return _queues.setdefault(key, WriteQueue())


def _in_transaction(raw: sqlite3.Connection) -> bool:
    try:
        return raw.in_transaction
    except sqlite3.Error:  # closed: no transaction is left
        return False


@contextmanager
def _in_turn(raw: sqlite3.Connection, turn: Turn | None, write: bool) -> Iterator[None]:
    """On the connection's thread, around a trip: a `write` first waits for the connection's
    turn, and the turn ends with the transaction."""
    if write and turn is not None:
        turn.take()
    try:
        yield
    finally:
        if turn is not None:
            turn.end_unless_in_transaction(raw)


def _run(
    raw: sqlite3.Connection,
    operation: str,
    parameters: Any,
    turn: Turn | None = None,
    write: bool = False,
    commit: bool = False,
) -> Outcome:
    """On the connection's thread: the statement and all its rows (then the commit of its
    transaction when `commit`)."""
    with _in_turn(raw, turn, write):
        cursor = raw.cursor()
        try:
            cursor.execute(operation, () if parameters is None else parameters)
            if cursor.description:
                outcome: Outcome = cursor.description, cursor.fetchall(), -1, -1
            else:
                outcome = None, None, cursor.lastrowid, cursor.rowcount
        finally:
            cursor.close()
        if commit:
            raw.commit()
        return outcome


def _run_many(
    raw: sqlite3.Connection, operation: str, rows: Any, turn: Turn | None, write: bool
) -> tuple[int | None, int]:
    """On the connection's thread: `executemany`."""
    with _in_turn(raw, turn, write):
        cursor = raw.cursor()
        try:
            cursor.executemany(operation, rows)
            return cursor.lastrowid, cursor.rowcount
        finally:
            cursor.close()


def _commit(raw: sqlite3.Connection, turn: Turn | None) -> None:
    """On the connection's thread: commit, and end the connection's turn."""
    with _in_turn(raw, turn, write=False):
        raw.commit()


def _rollback(raw: sqlite3.Connection, turn: Turn | None) -> None:
    """On the connection's thread: roll back, and end the connection's turn."""
    with _in_turn(raw, turn, write=False):
        raw.rollback()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None, *, commit: bool = False) -> Any:
        connection: Any = self._connection  # an aiosqlite.Connection
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        turn, write = adapted.before(operation)
        try:
            description, rows, lastrowid, rowcount = self.await_(
                connection._execute(
                    _run, connection._conn, operation, parameters, turn, write, commit
                )
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        finally:
            adapted.after()
        self.description = description
        self.lastrowid, self.rowcount = lastrowid, rowcount
        if rows is not None:
            self._rows = deque(rows)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        connection: Any = self._connection
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        turn, write = adapted.before(operation)
        try:
            self.lastrowid, self.rowcount = self.await_(
                connection._execute(
                    _run_many, connection._conn, operation, seq_of_parameters, turn, write
                )
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        finally:
            adapted.after()
        self.description = None
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_turn",)

    def __init__(self, dbapi: Any, connection: Any, turn: Turn | None) -> None:
        super().__init__(dbapi, connection)
        self._turn = turn

    def before(self, operation: str) -> tuple[Turn | None, bool]:
        """In the event loop, before a statement: whether it must wait for the turn. A task
        whose other connection holds the turn would wait for itself: it fails at once."""
        turn = self._turn
        if turn is None or not starts_write(operation) or turn.held:
            return turn, False
        holder = turn.queue.holder
        if holder is not None and holder.task is not None and holder.task is _current_task():
            raise self.dbapi.OperationalError("database is locked")
        return turn, True

    def after(self) -> None:
        """In the event loop, after a trip: note which task holds the turn."""
        if self._turn is not None:
            self._turn.task = _current_task() if self._turn.held else None

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        if server_side:
            return super().cursor(server_side=True)
        return OneTripCursor(self)

    def _in_transaction(self) -> bool:
        try:
            return bool(self._connection._conn.in_transaction)
        except (ValueError, sqlite3.Error):  # closed: let aiosqlite raise its own error
            return True

    def _end(self, how: Any) -> None:
        connection: Any = self._connection
        try:
            self.await_(connection._execute(how, connection._conn, self._turn))
        except Exception as error:
            self._handle_exception(error)
        finally:
            self.after()

    def rollback(self) -> None:
        if self._in_transaction():
            self._end(_rollback)

    def commit(self) -> None:
        if self._in_transaction():
            self._end(_commit)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_back()

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            self._give_back()

    def _give_back(self) -> None:
        if self._turn is not None:
            self._turn.queue.withdraw(self._turn)
            self._turn.task = None


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop (garbage collection)
        return None


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        database = str(arg[0] if arg else kw.get("database", ""))
        wait = float(kw.get("timeout", DEFAULT_WAIT))
        adapted = super().connect(*arg, **kw)
        if type(adapted) is AsyncAdapt_aiosqlite_connection:
            queue = write_queue(database)
            turn = Turn(queue, wait) if queue is not None else None
            return OneTripConnection(self, adapted._connection, turn)
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
