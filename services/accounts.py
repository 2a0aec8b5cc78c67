"""Personal accounts of a login: linking with a second factor, the current account, unlinking.

Linking asks for what only the holder knows: the account number, the holder's surname and the
serial number of one of the account's meters (printed on the meter and in the bill). Wrong data
never says which part was wrong, and five failures a day lock linking until the next day in the
supplier's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import Account, AccountLink, AuditEvent, Meter, SubscriberType
from services import attempts
from services.errors import DomainError, NotFound

MAX_LINK_FAILURES = 5
SUBSCRIBER_TYPES: tuple[SubscriberType, ...] = tuple(SubscriberType)
_ACCOUNT_NUMBER = re.compile(r"\d{4,20}")


class LinkLocked(DomainError):
    """Too many failed tries today; linking opens again at `until` (aware UTC)."""

    def __init__(self, until: datetime) -> None:
        super().__init__("account linking locked")
        self.until = until


class LinkDataMismatch(DomainError):
    """Number, surname and meter do not match together; never says which one is wrong."""

    def __init__(self, attempts_left: int) -> None:
        super().__init__("account link data mismatch")
        self.attempts_left = attempts_left


class AlreadyLinked(DomainError):
    pass


class BadAccountNumber(DomainError):
    """Not 4–20 digits (spaces and dashes are ignored)."""


@dataclass(frozen=True, slots=True)
class AccountCard:
    """What the «Договоры» section shows about one linked account."""

    id: int
    number: str
    holder: str
    address: str
    balance: Decimal  # positive = debt
    is_current: bool


def normalise_account_number(text: str) -> str:
    """«74 1234-5678» → «7412345678», digits of any script as ASCII; raises BadAccountNumber."""
    digits = re.sub(r"[\s\-]", "", text)
    if not _ACCOUNT_NUMBER.fullmatch(digits):
        raise BadAccountNumber(text[:40])
    return "".join(str(int(digit)) for digit in digits)  # «٧٤…» of another keyboard → «74…»


_SURNAME = re.compile(r"[A-Za-zА-Яа-яЁё][A-Za-zА-Яа-яЁё' \-]{1,99}")
_SERIAL = re.compile(r"\S{1,40}")


class BadSurname(DomainError):
    """Not a surname: letters, hyphens, apostrophes and spaces, 2–100 characters."""


class BadSerial(DomainError):
    """A meter serial number is one word of at most 40 characters."""


def normalise_surname(text: str) -> str:
    surname = " ".join(text.split())
    if not _SURNAME.fullmatch(surname):
        raise BadSurname(surname[:40])
    return surname


def normalise_serial(text: str) -> str:
    serial = text.strip()
    if not _SERIAL.fullmatch(serial):
        raise BadSerial(serial[:40])
    return serial


def _fold(text: str) -> str:
    """Case, «ё» and spacing do not matter when comparing names and serial numbers."""
    return " ".join(text.casefold().replace("ё", "е").split())


def _card(account: Account, link: AccountLink) -> AccountCard:
    return AccountCard(
        id=account.id,
        number=account.number,
        holder=account.holder_full_name,
        address=account.address,
        balance=account.balance,
        is_current=link.is_current,
    )


def _lock_key(login_id: int) -> str:
    return f"link:{login_id}"


def _next_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    local_day = now.astimezone(zone).date()
    return datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=zone).astimezone(
        now.tzinfo
    )


async def link_locked_until(
    session: AsyncSession, login_id: int, *, now: datetime
) -> datetime | None:
    """When linking opens again for this login, or None if it is open now."""
    return await attempts.blocked_until(session, _lock_key(login_id), now=now)


async def is_linked(session: AsyncSession, login_id: int, number: str) -> bool:
    found = await session.scalar(
        select(AccountLink.id)
        .join(Account, Account.id == AccountLink.account_id)
        .where(AccountLink.login_id == login_id, Account.number == number)
    )
    return found is not None


def _day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The local midnight that began today: failures of earlier days do not count."""
    local_day = now.astimezone(zone).date()
    return datetime.combine(local_day, time(0), tzinfo=zone).astimezone(now.tzinfo)


async def link_account(
    session: AsyncSession,
    login_id: int,
    *,
    subscriber_type: SubscriberType,
    number: str,
    surname: str,
    meter_serial: str,
    now: datetime,
    zone: ZoneInfo,
) -> AccountCard:
    """Check the three facts together and link; the first linked account becomes current.

    The try is counted before the facts are compared (services.attempts), so concurrent
    guesses cannot get past the day's limit."""
    number = normalise_account_number(number)
    if await is_linked(session, login_id, number):
        raise AlreadyLinked(number)
    key = _lock_key(login_id)
    attempt = await attempts.reserve(
        session, key, now=now, window_start=_day_start(now, zone), limit=MAX_LINK_FAILURES
    )
    if not attempt.allowed:
        raise LinkLocked(attempt.blocked_until or _next_midnight(now, zone))
    account = await session.scalar(
        select(Account).where(Account.number == number, Account.subscriber_type == subscriber_type)
    )
    matches = False
    if account is not None and _fold(account.holder_surname) == _fold(surname):
        serials = await session.scalars(
            select(Meter.serial_number).where(Meter.account_id == account.id)
        )
        matches = any(_fold(s) == _fold(meter_serial) for s in serials)
    if account is None or not matches:
        left = attempt.left(MAX_LINK_FAILURES)
        if left == 0:
            until = _next_midnight(now, zone)
            await attempts.lock(session, key, until)
            await session.commit()
            raise LinkLocked(until)
        await session.commit()
        raise LinkDataMismatch(left)
    await attempts.release(session, key)
    try:
        link = await add_link(session, login_id, account.id, now=now)
    except IntegrityError:
        await session.rollback()
        if await is_linked(session, login_id, number):  # saved a moment ago (a double press)
            raise AlreadyLinked(number) from None
        raise
    session.add(
        AuditEvent(
            at=now, action="account_linked", login_id=login_id, entity="account",
            entity_id=str(account.id),
        )
    )  # fmt: skip
    await session.commit()
    return _card(account, link)


async def add_link(
    session: AsyncSession, login_id: int, account_id: int, *, now: datetime
) -> AccountLink:
    """Link an account (current if the login has none yet); the caller commits."""
    has_current = await session.scalar(
        select(AccountLink.id).where(
            AccountLink.login_id == login_id, AccountLink.is_current.is_(True)
        )
    )
    link = AccountLink(
        login_id=login_id, account_id=account_id, is_current=has_current is None, linked_at=now
    )
    session.add(link)
    await session.flush()
    return link


async def list_accounts(session: AsyncSession, login_id: int) -> list[AccountCard]:
    """The login's accounts in the order they were linked."""
    rows = await session.execute(
        select(Account, AccountLink)
        .join(AccountLink, AccountLink.account_id == Account.id)
        .where(AccountLink.login_id == login_id)
        .order_by(AccountLink.id)
    )
    return [_card(account, link) for account, link in rows.tuples()]


async def get_account(session: AsyncSession, login_id: int, account_id: int) -> AccountCard:
    """One linked account; NotFound if it is not (or no longer) linked to this login."""
    row = (
        await session.execute(
            select(Account, AccountLink)
            .join(AccountLink, AccountLink.account_id == Account.id)
            .where(AccountLink.login_id == login_id, AccountLink.account_id == account_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"account {account_id} is not linked")
    return _card(*row._tuple())


async def make_current(session: AsyncSession, login_id: int, account_id: int) -> AccountCard:
    """Switch the current account; exactly one link per login stays current."""
    row = (
        await session.execute(
            select(Account, AccountLink)
            .join(AccountLink, AccountLink.account_id == Account.id)
            .where(AccountLink.login_id == login_id, AccountLink.account_id == account_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"account {account_id} is not linked")
    account, link = row._tuple()
    if not link.is_current:
        await session.execute(
            update(AccountLink)
            .where(AccountLink.login_id == login_id, AccountLink.is_current.is_(True))
            .values(is_current=False)
            .execution_options(synchronize_session=False)
        )
        await session.flush()
        link.is_current = True
        await session.commit()
    return _card(account, link)


async def unlink(
    session: AsyncSession, login_id: int, account_id: int, *, now: datetime
) -> AccountCard | None:
    """Remove the link; if it was current, the earliest remaining link becomes current.

    Returns the new current account (None when no account is left).
    """
    link = await session.scalar(
        select(AccountLink).where(
            AccountLink.login_id == login_id, AccountLink.account_id == account_id
        )
    )
    if link is None:
        raise NotFound(f"account {account_id} is not linked")
    was_current = link.is_current
    await session.delete(link)
    await session.flush()
    session.add(
        AuditEvent(
            at=now, action="account_unlinked", login_id=login_id, entity="account",
            entity_id=str(account_id),
        )
    )  # fmt: skip
    if was_current:
        successor = await session.scalar(
            select(AccountLink)
            .where(AccountLink.login_id == login_id)
            .order_by(AccountLink.id)
            .limit(1)
        )
        if successor is not None:
            successor.is_current = True
    await session.commit()
    current = await session.scalar(
        select(AccountLink.account_id).where(
            AccountLink.login_id == login_id, AccountLink.is_current.is_(True)
        )
    )
    return None if current is None else await get_account(session, login_id, current)


async def count_links(session: AsyncSession, login_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(AccountLink).where(AccountLink.login_id == login_id)
        )
        or 0
    )
