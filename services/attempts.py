"""Counters of rate-limited attempts, reserved atomically before an attempt is evaluated.

Everything the bot rate-limits goes through here: passwords at login, account-linking guesses,
codes from letters, letters sent, password hashes. `reserve` counts the attempt and reads the
count back in one statement (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, the same on SQLite
and PostgreSQL), so N concurrent attempts get the numbers 1…N and at most `limit` of them are
let through, whatever the timing. The reservation is committed at once, before the (slow)
evaluation; an attempt that turned out fine is handed back with `release`.

A key is refused while it is locked (`lock`, which also restarts its count) or held (`hold`,
a pause between attempts that keeps the count); refused attempts are not counted. A count
restarts when its window began before the `window_start` the caller gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import AttemptCounter

_table = AttemptCounter.__table__
_when = AttemptCounter.window_started_at.type  # UTC-aware binding on both databases


@dataclass(frozen=True, slots=True)
class Attempt:
    """One reserved (or refused) attempt."""

    key: str
    count: int  # this attempt's number in its window; 0 when refused while locked or held
    allowed: bool
    blocked_until: datetime | None = None  # when a refused key opens again, if known

    def left(self, limit: int) -> int:
        """Attempts left in the window after this one, had it failed."""
        return max(0, limit - self.count)


def _at(value: datetime) -> ColumnElement[Any]:
    return bindparam(None, value, type_=_when)


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def reserve(
    session: AsyncSession,
    key: str,
    *,
    now: datetime,
    window_start: datetime,
    limit: int | None = None,
    hold_from: int | None = None,
    hold_until: datetime | None = None,
) -> Attempt:
    """Count one attempt under `key` and commit; the result says whether to evaluate it.

    `limit`: attempts beyond it in one window are refused (counted, never evaluated).
    `hold_from`/`hold_until`: from that attempt of the window on, the reservation itself holds
    the key until `hold_until`, so concurrent attempts cannot slip in before a pause is set."""
    insert = _insert(session)
    current = AttemptCounter.__table__.c
    stale = current.window_started_at < _at(window_start)
    count = case((stale, 1), else_=current.failures + 1)
    held: Any = None
    first_held: datetime | None = None
    if hold_from is not None and hold_until is not None:
        held = case((count >= hold_from, _at(hold_until)), else_=None)
        first_held = hold_until if hold_from <= 1 else None
    statement = (
        insert(_table)
        .values(key=key, failures=1, window_started_at=now, locked_until=first_held)
        .on_conflict_do_update(
            index_elements=[current.key],
            set_={
                "failures": count,
                "window_started_at": case((stale, _at(now)), else_=current.window_started_at),
                "locked_until": held,
            },
            where=or_(current.locked_until.is_(None), current.locked_until <= _at(now)),
        )
        .returning(current.failures)
    )
    reserved = (await session.execute(statement)).scalar_one_or_none()
    if reserved is None:
        until = await session.scalar(
            select(AttemptCounter.locked_until).where(AttemptCounter.key == key)
        )
        await session.commit()
        return Attempt(key, 0, allowed=False, blocked_until=until)
    await session.commit()
    allowed = limit is None or reserved <= limit
    return Attempt(key, int(reserved), allowed=allowed)


async def lock(session: AsyncSession, key: str, until: datetime) -> None:
    """Refuse the key until `until`; its count starts again after that. The caller commits."""
    await session.execute(
        update(AttemptCounter)
        .where(AttemptCounter.key == key)
        .values(locked_until=until, failures=0)
        .execution_options(synchronize_session=False)
    )


async def hold(session: AsyncSession, key: str, until: datetime) -> None:
    """Refuse the key until `until` (a pause), keeping its count. The caller commits."""
    await session.execute(
        update(AttemptCounter)
        .where(AttemptCounter.key == key)
        .values(locked_until=until)
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, key: str) -> None:
    """Hand back a reserved attempt that turned out fine. The caller commits."""
    await session.execute(
        update(AttemptCounter)
        .where(AttemptCounter.key == key, AttemptCounter.failures > 0)
        .values(failures=AttemptCounter.failures - 1)
        .execution_options(synchronize_session=False)
    )


async def clear(session: AsyncSession, *keys: str) -> None:
    """Forget the keys (a proven owner starts afresh). The caller commits."""
    await session.execute(delete(AttemptCounter).where(AttemptCounter.key.in_(keys)))


async def blocked_until(session: AsyncSession, key: str, *, now: datetime) -> datetime | None:
    """When a locked or held key opens again, or None when it is open now."""
    until = await session.scalar(
        select(AttemptCounter.locked_until).where(AttemptCounter.key == key)
    )
    return until if until is not None and until > now else None


async def count(session: AsyncSession, key: str, *, window_start: datetime) -> int:
    """Attempts counted under the key in its current window (0 when the window is over)."""
    row = (
        await session.execute(
            select(AttemptCounter.failures, AttemptCounter.window_started_at).where(
                AttemptCounter.key == key
            )
        )
    ).first()
    if row is None or row.window_started_at < window_start:
        return 0
    return int(row.failures)


async def purge(session: AsyncSession, *, before: datetime) -> int:
    """Delete counters whose window began and whose lock ended before `before`; commits."""
    result = await session.execute(
        delete(AttemptCounter).where(
            AttemptCounter.window_started_at < before,
            or_(AttemptCounter.locked_until.is_(None), AttemptCounter.locked_until < before),
        )
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = [
    "Attempt",
    "blocked_until",
    "clear",
    "count",
    "hold",
    "lock",
    "purge",
    "release",
    "reserve",
]
