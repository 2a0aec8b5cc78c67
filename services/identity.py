"""Who is writing: the Telegram identity, its login (if logged in) and the current account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import COMMIT_AT_ONCE
from models import Account, AccountLink, Login, TelegramIdentity, utcnow

LAST_SEEN_RESOLUTION = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class CurrentAccount:
    id: int
    number: str
    address: str


@dataclass(frozen=True, slots=True)
class Viewer:
    """The subscriber behind an update, as handlers need it."""

    telegram_user_id: int
    login_id: int | None = None
    first_name: str | None = None
    full_name: str | None = None
    account: CurrentAccount | None = None

    @property
    def logged_in(self) -> bool:
        return self.login_id is not None


# One statement for the viewer of every update, built once so its compiled form is cached.
_VIEWER = (
    select(
        TelegramIdentity.last_seen_at,
        TelegramIdentity.blocked_bot_at,
        Login.id.label("login_id"),
        Login.surname,
        Login.name,
        Login.patronymic,
        Account.id.label("account_id"),
        Account.number,
        Account.address,
    )
    .select_from(TelegramIdentity)
    .outerjoin(Login, Login.id == TelegramIdentity.login_id)
    .outerjoin(
        AccountLink,
        (AccountLink.login_id == Login.id) & AccountLink.is_current.is_(True),
    )
    .outerjoin(Account, Account.id == AccountLink.account_id)
    .where(TelegramIdentity.telegram_user_id == bindparam("user_id"))
)
# Committed with the statement on SQLite (resolve_viewer commits right after it anyway): the
# write lock is held for one trip to the connection's thread instead of two.
_SEEN = (
    update(TelegramIdentity)
    .where(TelegramIdentity.telegram_user_id == bindparam("user_id"))
    .values(last_seen_at=bindparam("seen_at"), blocked_bot_at=None)
    .execution_options(**{COMMIT_AT_ONCE: True})
)


def _read_options(session: AsyncSession) -> dict[str, str]:
    """On PostgreSQL the viewer is read outside a transaction: asyncpg sends BEGIN and COMMIT
    as round trips of their own, two of the three a guest's update would otherwise cost; its
    one write (the `last seen` mark or a new identity) is one statement either way. SQLite
    starts no transaction for a read, so it keeps its connection as it is."""
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return {}
    return {"isolation_level": "AUTOCOMMIT"}


async def resolve_viewer(
    session: AsyncSession, telegram_user_id: int, chat_id: int, *, now: datetime | None = None
) -> Viewer:
    """Load (or create) the identity with its login and current account in one round trip;
    writes only for a new identity or a `last seen` mark older than LAST_SEEN_RESOLUTION."""
    now = now or utcnow()
    connection = await session.connection(execution_options=_read_options(session))
    row = (await connection.execute(_VIEWER, {"user_id": telegram_user_id})).first()
    if row is None:
        session.add(
            TelegramIdentity(telegram_user_id=telegram_user_id, chat_id=chat_id, last_seen_at=now)
        )
        try:
            await session.commit()
        except IntegrityError:  # the same new user's other update got there first
            await session.rollback()
        return Viewer(telegram_user_id=telegram_user_id)
    stale = row.last_seen_at is None or now - row.last_seen_at > LAST_SEEN_RESOLUTION
    if stale or row.blocked_bot_at is not None:  # writing again: pushes reach them again
        await connection.execute(_SEEN, {"user_id": telegram_user_id, "seen_at": now})
    # End the transaction either way: the connection goes back to the pool instead of being
    # held while the handler talks to Telegram.
    await session.commit()
    if row.login_id is None:
        return Viewer(telegram_user_id=telegram_user_id)
    return Viewer(
        telegram_user_id=telegram_user_id,
        login_id=row.login_id,
        first_name=row.name,
        full_name=" ".join(p for p in (row.surname, row.name, row.patronymic) if p),
        account=(
            CurrentAccount(row.account_id, row.number, row.address)
            if row.account_id is not None
            else None
        ),
    )


async def mark_blocked(session: AsyncSession, telegram_user_id: int, *, blocked: bool) -> None:
    """Remember that the user blocked (or unblocked) the bot, so pushes skip them."""
    identity = await session.get(TelegramIdentity, telegram_user_id)
    if identity is None:
        return
    identity.blocked_bot_at = utcnow() if blocked else None
    await session.commit()


async def bind_login(
    session: AsyncSession, telegram_user_id: int, chat_id: int, login_id: int | None
) -> None:
    """Bind the Telegram user to a login (None = log out); the caller commits."""
    identity = await session.get(TelegramIdentity, telegram_user_id)
    if identity is None:
        identity = TelegramIdentity(telegram_user_id=telegram_user_id, chat_id=chat_id)
        session.add(identity)
    identity.login_id = login_id
    identity.logged_in_at = utcnow() if login_id is not None else None


async def logout_everywhere(
    session: AsyncSession, login_id: int, *, except_telegram_user_id: int | None = None
) -> list[int]:
    """Unbind every Telegram identity of a login (after a password change); returns their chats."""
    identities = (
        await session.scalars(select(TelegramIdentity).where(TelegramIdentity.login_id == login_id))
    ).all()
    chats = []
    for identity in identities:
        if identity.telegram_user_id != except_telegram_user_id:
            identity.login_id = None
            identity.logged_in_at = None
            chats.append(identity.chat_id)
    return chats
