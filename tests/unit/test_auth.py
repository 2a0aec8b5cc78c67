"""Registration, activation, login lockout and password reset on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    AuditEvent,
    EmailToken,
    Login,
    Notification,
    Subscription,
    TelegramIdentity,
    TokenPurpose,
)
from services import auth
from services.identity import bind_login
from services.passwords import needs_rehash, verify_password

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PASSWORD = "Secret2026pass"


async def new_registration(email: str = "Anna@Example.ru") -> auth.NewRegistration:
    return auth.NewRegistration(
        surname="Петрова", name="Анна", patronymic=None, email=email, phone="+79991234567",
        password_hash=await auth.hash_new_password(PASSWORD), consent_version="2026-01",
        consent_at=NOW,
    )  # fmt: skip


async def registered(session: AsyncSession, *, activate: bool = True) -> auth.Outgoing:
    outgoing = await auth.register(session, await new_registration(), telegram_user_id=1, now=NOW)
    assert outgoing is not None
    if activate:
        await auth.activate(session, outgoing.token, telegram_user_id=1, now=NOW)
    return outgoing


async def test_register_creates_a_login_waiting_for_activation(session: AsyncSession) -> None:
    outgoing = await registered(session, activate=False)
    assert outgoing.kind is auth.LetterKind.ACTIVATION and outgoing.email == "anna@example.ru"
    assert auth.looks_like_token(outgoing.token) and len(outgoing.token) <= 64
    login = await session.scalar(select(Login))
    assert login is not None and login.activated_at is None and login.email == "anna@example.ru"
    assert await session.get(Subscription, login.id) is not None
    token = await session.scalar(select(EmailToken))
    assert token is not None and token.token_hash != outgoing.token and len(token.token_hash) == 64
    assert token.expires_at == NOW + timedelta(hours=24)
    with pytest.raises(auth.NotActivated):
        await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=1, chat_id=1,
                          now=NOW)  # fmt: skip


async def test_existing_email_changes_nothing_and_gets_a_reset_letter(
    session: AsyncSession,
) -> None:
    await registered(session)
    other = await new_registration("ANNA@example.ru")
    outgoing = await auth.register(
        session, other, telegram_user_id=2, now=NOW + timedelta(minutes=5)
    )
    assert outgoing is not None and outgoing.kind is auth.LetterKind.ALREADY_REGISTERED
    assert await session.scalar(select(func.count()).select_from(Login)) == 1
    assert await auth.token_purpose(session, outgoing.token, now=NOW) is TokenPurpose.PASSWORD_RESET
    # a second attempt within a minute sends nothing (no mail bombing) and says nothing
    again = await auth.register(session, other, telegram_user_id=2, now=NOW + timedelta(minutes=5))
    assert again is None


async def test_activation_code_is_single_use_and_expires(session: AsyncSession) -> None:
    outgoing = await registered(session, activate=False)
    with pytest.raises(auth.BadToken) as expired:
        await auth.activate(
            session, outgoing.token, telegram_user_id=1, now=NOW + timedelta(hours=25)
        )
    assert expired.value.reason is auth.TokenProblem.EXPIRED
    await auth.activate(session, outgoing.token, telegram_user_id=1, now=NOW + timedelta(hours=1))
    with pytest.raises(auth.BadToken) as used:
        await auth.activate(
            session, outgoing.token, telegram_user_id=1, now=NOW + timedelta(hours=2)
        )
    assert used.value.reason is auth.TokenProblem.USED
    with pytest.raises(auth.BadToken) as unknown:
        await auth.token_purpose(session, "x" * 32, now=NOW)
    assert unknown.value.reason is auth.TokenProblem.UNKNOWN


async def test_resend_has_a_one_minute_cooldown(session: AsyncSession) -> None:
    await registered(session, activate=False)
    with pytest.raises(auth.ResendTooSoon) as soon:
        await auth.resend_letter(session, "anna@example.ru", now=NOW + timedelta(seconds=20))
    assert soon.value.seconds_left == 40
    again = await auth.resend_letter(session, "anna@example.ru", now=NOW + timedelta(seconds=60))
    assert again is not None and again.kind is auth.LetterKind.ACTIVATION
    assert await auth.resend_letter(session, "nobody@example.ru", now=NOW) is None


async def test_unknown_email_and_wrong_password_fail_alike(session: AsyncSession) -> None:
    await registered(session)
    for email, password in [("nobody@example.ru", PASSWORD), ("anna@example.ru", "Wrong2026")]:
        with pytest.raises(auth.WrongCredentials):
            await auth.log_in(session, email, password, telegram_user_id=5, chat_id=5, now=NOW)


async def test_five_failures_lock_login_and_telegram_user(session: AsyncSession) -> None:
    await registered(session)
    for attempt in range(4):
        with pytest.raises(auth.WrongCredentials):
            await auth.log_in(session, "anna@example.ru", "Wrong2026", telegram_user_id=5,
                              chat_id=5, now=NOW + timedelta(seconds=attempt))  # fmt: skip
    with pytest.raises(auth.LoginLocked) as locked:
        await auth.log_in(session, "anna@example.ru", "Wrong2026", telegram_user_id=5, chat_id=5,
                          now=NOW + timedelta(seconds=5))  # fmt: skip
    until = locked.value.until
    assert until == NOW + timedelta(seconds=5, minutes=15)
    # the right password from another Telegram user: the login is locked
    with pytest.raises(auth.LoginLocked):
        await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=6, chat_id=6,
                          now=NOW + timedelta(minutes=1))  # fmt: skip
    # the locked Telegram user cannot try another login either
    with pytest.raises(auth.LoginLocked):
        await auth.check_not_locked(session, telegram_user_id=5, now=NOW + timedelta(minutes=1))
    signed_in = await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=5,
                                  chat_id=5, now=until + timedelta(seconds=1))  # fmt: skip
    assert signed_in.name == "Анна"
    identity = await session.get(TelegramIdentity, 5)
    assert identity is not None and identity.login_id == signed_in.login_id
    actions = (await session.scalars(select(AuditEvent.action))).all()
    assert actions.count("auth.login_failed") == 5 and "auth.lockout" in actions
    for event in await session.scalars(select(AuditEvent)):
        assert "anna" not in str(event.details).lower()


async def test_failures_outside_the_window_do_not_add_up(session: AsyncSession) -> None:
    await registered(session)
    for attempt in range(8):
        with pytest.raises(auth.WrongCredentials):
            await auth.log_in(session, "anna@example.ru", "Wrong2026", telegram_user_id=5,
                              chat_id=5, now=NOW + timedelta(minutes=10 * attempt))  # fmt: skip


async def test_reset_sets_password_and_logs_out_other_sessions(session: AsyncSession) -> None:
    outgoing = await registered(session)
    login = await session.scalar(select(Login))
    assert login is not None
    await bind_login(session, 7, 7, login.id)
    await session.commit()
    later = NOW + timedelta(minutes=2)
    letter = await auth.request_password_reset(session, "ANNA@example.ru", telegram_user_id=8,
                                               now=later)  # fmt: skip
    assert letter is not None and letter.token != outgoing.token
    assert await auth.request_password_reset(session, "nobody@example.ru", telegram_user_id=8,
                                             now=later) is None  # fmt: skip
    new_hash = await auth.hash_new_password("Brand2new")
    signed_in = await auth.reset_password(session, letter.token, new_hash, telegram_user_id=8,
                                          chat_id=8, now=later)  # fmt: skip
    assert signed_in.logged_out_chats == (7,)
    await session.refresh(login)
    assert await verify_password(login.password_hash, "Brand2new")
    assert login.password_changed_at == later
    seven = await session.get(TelegramIdentity, 7)
    eight = await session.get(TelegramIdentity, 8)
    assert seven is not None and seven.login_id is None
    assert eight is not None and eight.login_id == login.id
    notification = await session.scalar(select(Notification))
    assert notification is not None and notification.chat_id == 7
    with pytest.raises(auth.BadToken):
        await auth.reset_password(session, letter.token, new_hash, telegram_user_id=8, chat_id=8,
                                  now=later)  # fmt: skip


async def test_activation_code_cannot_reset_a_password(session: AsyncSession) -> None:
    outgoing = await registered(session, activate=False)
    with pytest.raises(auth.BadToken):
        await auth.reset_password(session, outgoing.token, "x", telegram_user_id=1, chat_id=1,
                                  now=NOW)  # fmt: skip


async def test_login_rehashes_a_password_hashed_with_old_parameters(session: AsyncSession) -> None:
    await registered(session)
    login = await session.scalar(select(Login))
    assert login is not None
    old_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    assert needs_rehash(old_hash)
    login.password_hash = old_hash
    await session.commit()
    await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=5, chat_id=5, now=NOW)
    await session.refresh(login)
    assert login.password_hash != old_hash and not needs_rehash(login.password_hash)
    assert await verify_password(login.password_hash, PASSWORD)


async def test_a_used_code_retires_the_older_letters(session: AsyncSession) -> None:
    first = await registered(session, activate=False)
    later = NOW + timedelta(minutes=2)
    second = await auth.resend_letter(session, "anna@example.ru", now=later)
    assert second is not None
    await auth.activate(session, second.token, telegram_user_id=1, now=later)
    with pytest.raises(auth.BadToken) as old:
        await auth.activate(session, first.token, telegram_user_id=1, now=later)
    assert old.value.reason is auth.TokenProblem.USED

    resets = []
    for minutes in (5, 7):
        letter = await auth.request_password_reset(
            session, "anna@example.ru", telegram_user_id=1, now=NOW + timedelta(minutes=minutes)
        )
        assert letter is not None
        resets.append(letter.token)
    new_hash = await auth.hash_new_password("Brand2new")
    await auth.reset_password(session, resets[1], new_hash, telegram_user_id=1, chat_id=1,
                              now=NOW + timedelta(minutes=8))  # fmt: skip
    with pytest.raises(auth.BadToken) as stale:
        await auth.reset_password(session, resets[0], new_hash, telegram_user_id=9, chat_id=9,
                                  now=NOW + timedelta(minutes=9))  # fmt: skip
    assert stale.value.reason is auth.TokenProblem.USED
    assert stale.value.purpose is TokenPurpose.PASSWORD_RESET
