"""Rate-limited attempts are reserved atomically before they are evaluated: N concurrent tries
(each in its own session, as N updates would be) never get more than the limit evaluated, on
SQLite and on PostgreSQL alike (#9 item 4)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import Account, AttemptCounter, Login, Meter, SubscriberType
from services import accounts, attempts, auth, passwords

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MSK = ZoneInfo("Europe/Moscow")
N = 20


async def _together(count: int, attempt: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """Start `count` attempts at the same moment and collect what each ended with."""
    start = asyncio.Event()

    async def one(n: int) -> Any:
        await start.wait()
        try:
            return await attempt(n)
        except Exception as exc:  # the outcome is what the test inspects
            return exc

    tasks = [asyncio.create_task(one(n)) for n in range(count)]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


def _count_allowed(monkeypatch: pytest.MonkeyPatch) -> list[attempts.Attempt]:
    """Record every reservation that let its attempt through to evaluation."""
    allowed: list[attempts.Attempt] = []
    real = attempts.reserve

    async def reserve(*args: Any, **kwargs: Any) -> attempts.Attempt:
        attempt = await real(*args, **kwargs)
        if attempt.allowed:
            allowed.append(attempt)
        return attempt

    monkeypatch.setattr(attempts, "reserve", reserve)
    return allowed


async def test_concurrent_reservations_get_distinct_numbers(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def reserve(n: int) -> attempts.Attempt:
        async with sessions() as session:
            return await attempts.reserve(
                session, "test:new-key", now=NOW, window_start=NOW - timedelta(hours=1), limit=5
            )

    results = await _together(N, reserve)
    assert all(isinstance(r, attempts.Attempt) for r in results), results  # no IntegrityError
    assert sorted(r.count for r in results) == list(range(1, N + 1))
    assert sum(r.allowed for r in results) == 5


async def test_concurrent_wrong_passwords_are_evaluated_at_most_the_limit(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sessions() as session:
        registration = auth.NewRegistration(
            surname="Петрова", name="Анна", patronymic=None, email="anna@example.ru",
            phone="+79991234567", password_hash=await auth.hash_new_password("Secret2026pass"),
            consent_version="2026-01", consent_at=NOW,
        )  # fmt: skip
        result = await auth.register(
            session, registration, telegram_user_id=1, now=NOW, caps=auth.MailCaps(5, 5)
        )
        await auth.use_link(session, result.letter.token, telegram_user_id=1, chat_id=1, now=NOW)

    checked: list[str] = []
    real_verify = passwords.verify_password

    async def verify(password_hash: str, password: str) -> bool:
        checked.append(password)
        return await real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", verify)

    async def wrong(n: int) -> None:
        async with sessions() as session:
            await auth.log_in(session, "anna@example.ru", f"Wrong{n}pass", telegram_user_id=5,
                              chat_id=5, now=NOW)  # fmt: skip

    results = await _together(N, wrong)
    kinds = {type(r) for r in results}
    assert kinds <= {auth.WrongCredentials, auth.LoginLocked}, results
    assert len(checked) <= auth.PAIR_LIMIT
    async with sessions() as session:  # then the right password: still locked for this user
        with pytest.raises(auth.LoginLocked):
            await auth.log_in(session, "anna@example.ru", "Secret2026pass", telegram_user_id=5,
                              chat_id=5, now=NOW)  # fmt: skip
    assert len(checked) <= auth.PAIR_LIMIT


async def test_concurrent_account_link_guesses_are_evaluated_at_most_the_limit(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sessions() as session:
        login = Login(
            email="a@example.com", phone="+79990000000", surname="Петров", name="Пётр",
            password_hash="x", consent_version="1", consent_at=NOW,
        )  # fmt: skip
        account = Account(
            number="7400000000", holder_surname="Ёлкина", holder_name="Анна",
            holder_patronymic=None, address="ул. Тестовая, д. 1",
        )  # fmt: skip
        session.add_all([login, account])
        await session.flush()
        session.add(Meter(account_id=account.id, serial_number="SN-0", zones=1, digits=6))
        await session.commit()
        login_id = login.id
    allowed = _count_allowed(monkeypatch)

    async def guess(n: int, serial: str = "wrong") -> accounts.AccountCard:
        async with sessions() as session:
            return await accounts.link_account(
                session, login_id, subscriber_type=SubscriberType.INDIVIDUAL,
                number="7400000000", surname="Ёлкина", meter_serial=f"{serial}-{n}", now=NOW,
                zone=MSK,
            )  # fmt: skip

    results = await _together(N + 1, guess)
    assert {type(r) for r in results} <= {accounts.LinkDataMismatch, accounts.LinkLocked}, results
    assert len(allowed) <= accounts.MAX_LINK_FAILURES
    with pytest.raises(accounts.LinkLocked):  # even the right serial now
        await guess(0, "SN")
    async with sessions() as session:
        counter = await session.scalar(select(AttemptCounter))
        assert counter is not None and counter.locked_until is not None
