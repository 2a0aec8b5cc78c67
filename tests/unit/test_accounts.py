"""Linking accounts: the three facts together, neutral failures, the daily lock, current account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Account, AccountLink, Login, Meter, SubscriberType
from services import accounts
from services.errors import NotFound
from services.identity import bind_login, resolve_viewer

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 12:00 in Moscow


async def _setup(session: AsyncSession) -> tuple[int, list[Account]]:
    login = Login(
        email="a@example.com", phone="+79990000000", surname="Петров", name="Пётр",
        password_hash="x", consent_version="1", consent_at=NOW,
    )  # fmt: skip
    session.add(login)
    made = []
    for i, surname in enumerate(("Ёлкина", "Сидоров")):
        account = Account(
            number=f"740000000{i}", holder_surname=surname, holder_name="Анна",
            holder_patronymic=None, address=f"ул. Тестовая, д. {i}",
        )  # fmt: skip
        session.add(account)
        await session.flush()
        session.add(Meter(account_id=account.id, serial_number=f"SN-{i}", zones=1, digits=6))
        made.append(account)
    await session.commit()
    return login.id, made


async def _link(session: AsyncSession, login_id: int, number: str, surname: str, serial: str,
                now: datetime = NOW) -> accounts.AccountCard:  # fmt: skip
    return await accounts.link_account(
        session, login_id, subscriber_type=SubscriberType.INDIVIDUAL, number=number,
        surname=surname, meter_serial=serial, now=now, zone=MSK,
    )  # fmt: skip


async def test_link_switch_unlink(session: AsyncSession) -> None:
    login_id, (first, second) = await _setup(session)
    card = await _link(session, login_id, "74 0000-0000", "елкина", "sn-0")
    assert card.is_current and card.holder == "Ёлкина Анна"
    card2 = await _link(session, login_id, second.number, "Сидоров", "SN-1")
    assert not card2.is_current
    with pytest.raises(accounts.AlreadyLinked):
        await _link(session, login_id, first.number, "x", "y")

    await bind_login(session, 77, 77, login_id)
    await session.commit()
    assert (await resolve_viewer(session, 77, 77, now=NOW)).account.number == first.number  # type: ignore[union-attr]
    await accounts.make_current(session, login_id, second.id)
    session.expire_all()
    assert (await resolve_viewer(session, 77, 77, now=NOW)).account.number == second.number  # type: ignore[union-attr]
    current = (await session.scalars(select(AccountLink).where(AccountLink.is_current))).all()
    assert len(current) == 1

    new_current = await accounts.unlink(session, login_id, second.id, now=NOW)
    assert new_current is not None and new_current.number == first.number
    assert await accounts.unlink(session, login_id, first.id, now=NOW) is None
    with pytest.raises(NotFound):
        await accounts.make_current(session, login_id, first.id)


async def test_failures_are_neutral_and_lock_until_local_midnight(session: AsyncSession) -> None:
    login_id, (account, _other) = await _setup(session)
    attempts = [
        ("0000000000", "Ёлкина", "SN-0"),  # no such account
        (account.number, "Сидоров", "SN-0"),  # wrong surname
        (account.number, "Ёлкина", "SN-1"),  # another account's meter
        (account.number, "Ёлкина", "nope"),
    ]
    lefts = []
    for number, surname, serial in attempts:
        with pytest.raises(accounts.LinkDataMismatch) as caught:
            await _link(session, login_id, number, surname, serial)
        lefts.append(caught.value.attempts_left)
    assert lefts == [4, 3, 2, 1]
    with pytest.raises(accounts.LinkLocked) as locked:
        await _link(session, login_id, account.number, "x", "y")
    midnight = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 00:00 21.11 in Moscow
    assert locked.value.until == midnight
    with pytest.raises(accounts.LinkLocked):  # even right data
        await _link(
            session, login_id, account.number, "Ёлкина", "SN-0", midnight - timedelta(seconds=1)
        )
    card = await _link(session, login_id, account.number, "Ёлкина", "SN-0", midnight)
    assert card.number == account.number


async def test_failures_of_yesterday_do_not_count(session: AsyncSession) -> None:
    login_id, (account, _) = await _setup(session)
    for _ in range(4):
        with pytest.raises(accounts.LinkDataMismatch):
            await _link(session, login_id, account.number, "x", "y")
    with pytest.raises(accounts.LinkDataMismatch) as caught:
        await _link(session, login_id, account.number, "x", "y", NOW + timedelta(days=1))
    assert caught.value.attempts_left == 4


@given(st.text(max_size=30))
def test_account_number_normalisation(text: str) -> None:
    try:
        number = accounts.normalise_account_number(text)
    except accounts.BadAccountNumber:
        return
    assert number.isdigit() and 4 <= len(number) <= 20
    assert accounts.normalise_account_number(number) == number
