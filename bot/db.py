"""Engine, session factory and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from alembic.config import Config


PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQLITE_BUSY_MS = 10_000
# An execution option for SQLite (bot.sqlite_driver; other drivers ignore it): commit the
# transaction together with this statement, in the same trip to the connection's thread, and
# the caller's commit that follows has nothing left to do. For a transaction's last statement:
# it holds the database's write lock one trip less, and every other writer waits for that.
COMMIT_AT_ONCE = "onetrip_commit_at_once"
HEALTH_TIMEOUT = 3.0
# A pooled server connection idle longer than this is checked before use (see _ping_if_idle).
PING_AFTER_IDLE_S = 10.0


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a file-based SQLite database on first run."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An engine that never puts statement parameters (e-mails, phones, password hashes) into
    its errors or logs: `hide_parameters=True`."""
    ensure_sqlite_folder(url)
    if is_sqlite(url):
        parsed = make_url(url)
        if parsed.drivername == "sqlite+aiosqlite":
            from bot.sqlite_driver import DRIVER_NAME

            parsed = parsed.set(drivername=DRIVER_NAME)
        engine = create_async_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            # sqlite3's busy timeout, and how long bot.sqlite_driver queues a writer
            connect_args={"timeout": SQLITE_BUSY_MS / 1000},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url, echo=echo, hide_parameters=True, pool_size=10, max_overflow=20
    )
    event.listen(engine.sync_engine.pool, "checkin", _mark_idle)
    dialect = engine.sync_engine.dialect
    event.listen(
        engine.sync_engine.pool,
        "checkout",
        lambda dbapi_connection, record, _proxy: _ping_if_idle(dialect, dbapi_connection, record),
    )
    return engine


def _mark_idle(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any) -> None:
    """A connection that waited in the pool a while is pinged before use; a dead one is
    replaced by the pool (DisconnectionError), so a restart of the server in a quiet hour
    costs no subscriber an error. SQLAlchemy's `pool_pre_ping` pings at every checkout:
    three round trips on asyncpg (BEGIN, the ping, ROLLBACK) for each update, which is
    what the busy hours pay for nothing (benchmarks/README.md, issue #15). A server that
    restarts under traffic fails the updates in flight either way; the first error
    invalidates the rest of the pool."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise exc.DisconnectionError(str(error)) from error


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def database_answers(engine: AsyncEngine, timeout: float = HEALTH_TIMEOUT) -> bool:
    """Whether the database works now (for /healthz): the server answers the migrations table;
    a SQLite file still exists and its write lock can be had (no other process holds it), so
    neither a pooled connection to a deleted file nor a reader-only check can fool it."""
    url = engine.url
    sqlite = url.get_backend_name() == "sqlite"
    file = Path(url.database) if sqlite and url.database not in (None, "", ":memory:") else None
    if file is not None and not await asyncio.to_thread(file.is_file):
        return False
    try:
        async with asyncio.timeout(timeout), engine.connect() as conn:
            if sqlite:
                await conn.exec_driver_sql(f"PRAGMA busy_timeout={int(timeout * 500)}")
            try:
                await conn.execute(text("SELECT count(*) FROM alembic_version"))
                if sqlite:
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    await conn.exec_driver_sql("ROLLBACK")
            finally:
                if sqlite:
                    await conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    except Exception:
        return False
    return True


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # migrations run at start only: not kept imported for it

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    from alembic import command

    ensure_sqlite_folder(url)
    command.upgrade(alembic_config(url), revision)


def downgrade_sync(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


_REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=\n]*=\s*(.+?)\s*$", re.MULTILINE)


def head_revision() -> str | None:
    """The one head of alembic/versions, read from the files' `revision` and `down_revision`
    lines; None when it cannot be told that way (a merge, an unusual file): Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (PROJECT_ROOT / "alembic" / "versions").glob("*.py"):
        found = {m[1]: m[2] for m in _REVISION_LINE.finditer(path.read_text("utf-8"))}
        revision, parent = found.get("revision", ""), found.get("down_revision", "None")
        if not re.fullmatch(r"['\"][\w-]+['\"]", revision):
            return None
        revisions.add(revision[1:-1])
        if parent != "None":
            if not re.fullmatch(r"['\"][\w-]+['\"]", parent):
                return None
            parents.add(parent[1:-1])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def schema_revision(url: str) -> str | None:
    """The revision the database is at, or None (no database yet, no migrations table)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except Exception:
        return None
    finally:
        await engine.dispose()
    return str(rows[0][0]) if len(rows) == 1 else None


async def apply_migrations(url: str) -> None:
    """Bring the schema to head; Alembic's env runs its own event loop, so use a thread.
    A database already at head is left alone without loading Alembic (11 MiB of the bot's
    peak memory, and most starts are of an up-to-date bot)."""
    head = head_revision()
    if head is not None and await schema_revision(url) == head:
        return
    await asyncio.to_thread(upgrade_sync, url)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what it wraps (`orig`) and what caused it, outermost first."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [getattr(item, "orig", None), item.__cause__, item.__context__]
    return seen


def explain_error(exc: BaseException, url: str) -> tuple[str, int] | None:
    """One Russian line and the exit code (2 fix DATABASE_URL, 3 the server is down) for a
    failure to reach or open the database; None when `exc` is something else."""
    from bot.texts import cli as texts

    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    for item in _chain(exc):
        name = type(item).__name__
        text = str(item)
        if name == "InvalidCatalogNameError":
            return texts.db_missing(shown, parsed.database or ""), 2
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return texts.db_refused_login(shown), 2
        if is_sqlite(url) and "file is not a database" in text:
            return texts.sqlite_not_a_database(shown), 2
        if is_sqlite(url) and "unable to open database file" in text:
            return texts.sqlite_cannot_open(shown), 2
        if is_sqlite(url) and "database is locked" in text:
            return texts.sqlite_locked(shown), 3
        if isinstance(item, FileNotFoundError | PermissionError | NotADirectoryError):
            return texts.sqlite_cannot_open(shown), 2
        if isinstance(item, OSError) and not is_sqlite(url):
            return texts.db_unreachable(shown, item.strerror or str(item)), 3
    return None
