"""Linking accounts: the three facts together, neutral failures, the daily lock, current account."""

from __future__ import annotations

from collections import Counter
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
    for account in (first, second):  # the viewer is read with Core: it refreshes no object
        await session.refresh(account)
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


SEPARATORS = st.sampled_from([" ", "-", " - ", "  ", "\u00a0", "\t", "\u2009"])
account_digits = st.text(alphabet="0123456789", min_size=4, max_size=20)


@st.composite
def typed_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(digits of a valid account number, the same number as a person types it: grouped by
    spaces or dashes, padded with spaces, sometimes in the digits of another script)."""
    digits = draw(account_digits)
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=len(digits) - 1)))
    pieces = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    typed = pieces[0]
    for piece in pieces[1:]:
        typed += draw(SEPARATORS) + piece
    zero = draw(st.sampled_from([ord("0"), 0x0660, 0x06F0, 0xFF10]))  # ASCII, Arabic, full-width
    typed = "".join(chr(zero + int(c)) if c.isdigit() else c for c in typed)
    padding = st.text(alphabet=" \t\n\u00a0", max_size=3)
    return digits, draw(padding) + typed + draw(padding)


@given(typed_numbers())
def test_a_typed_account_number_normalises_to_its_digits(sample: tuple[str, str]) -> None:
    digits, typed = sample
    assert accounts.normalise_account_number(typed) == digits
    assert accounts.normalise_account_number(digits) == digits


@given(
    st.one_of(
        st.text(alphabet="0123456789 -", max_size=30).filter(
            lambda t: not 4 <= sum(c.isdigit() for c in t) <= 20
        ),
        st.builds(
            lambda head, junk, tail: head + junk + tail,
            account_digits,
            st.characters(exclude_categories=["Nd", "Zs", "Zl", "Zp", "Cc"]).filter(
                lambda c: c != "-" and not c.isspace()
            ),
            st.text(alphabet="0123456789", max_size=5),
        ),
    )
)
def test_garbage_is_not_an_account_number(text: str) -> None:
    with pytest.raises(accounts.BadAccountNumber):
        accounts.normalise_account_number(text)


def test_any_text_is_accepted_exactly_when_it_is_4_to_20_digits_and_separators() -> None:
    """Random text against a rule written out independently; the counter proves that both
    outcomes were checked many times, not skipped."""
    outcomes: Counter[str] = Counter()

    @given(
        st.one_of(
            typed_numbers().map(lambda sample: sample[1]),
            st.text(alphabet="0123456789 -\u00a0x.", max_size=25),
            st.text(max_size=25),
        )
    )
    def check(text: str) -> None:
        kept = [c for c in text if not (c.isspace() or c == "-")]
        valid = all(c.isdecimal() for c in kept) and 4 <= len(kept) <= 20
        try:
            number = accounts.normalise_account_number(text)
        except accounts.BadAccountNumber:
            assert not valid, text
            outcomes["refused"] += 1
            return
        assert valid, text
        assert number == "".join(str(int(c)) for c in kept)
        outcomes["accepted"] += 1

    check()
    assert outcomes["accepted"] >= 20 and outcomes["refused"] >= 20, outcomes
