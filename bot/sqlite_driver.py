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
"""

from __future__ import annotations

import sqlite3
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

DRIVER_NAME = "sqlite+aiosqlite_onetrip"

Outcome = tuple[Any, list[Any] | None, int | None, int]


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


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        connection: Any = self._connection  # an aiosqlite.Connection
        try:
            description, rows, lastrowid, rowcount = self.await_(
                connection._execute(_run, connection._conn, operation, parameters)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self.description = description
        self.lastrowid, self.rowcount = lastrowid, rowcount
        if rows is not None:
            self._rows = deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

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
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        if type(adapted) is AsyncAdapt_aiosqlite_connection:
            return OneTripConnection(self, adapted._connection)
        return adapted  # the sync fallback mode is left as it is


class OneTripDialect(SQLiteDialect_aiosqlite):
    supports_statement_cache = True  # statements compile as in the parent dialect

    @classmethod
    def import_dbapi(cls) -> OneTripDBAPI:
        return OneTripDBAPI(aiosqlite, sqlite3)


registry.register(DRIVER_NAME.replace("+", "."), __name__, "OneTripDialect")
