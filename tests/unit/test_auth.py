"""Registration, activation, graded login limits, codes, letters caps and password reset on a
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    AttemptCounter,
    AuditEvent,
    EmailToken,
    Login,
    Notification,
    PendingRegistration,
    Subscription,
    TelegramIdentity,
)
from services import auth, captcha, passwords
from services.identity import bind_login
from services.passwords import needs_rehash, verify_password

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PASSWORD = "Secret2026pass"
CAPS = auth.MailCaps(per_user=5, per_address=5)
ROOT = Path(__file__).resolve().parents[2]


async def new_registration(email: str = "Anna@Example.ru") -> auth.NewRegistration:
    return auth.NewRegistration(
        surname="Петрова", name="Анна", patronymic=None, email=email, phone="+79991234567",
        password_hash=await auth.hash_new_password(PASSWORD), consent_version="2026-01",
        consent_at=NOW,
    )  # fmt: skip


async def registered(
    session: AsyncSession,
    *,
    activate: bool = True,
    user: int = 1,
    now: datetime = NOW,
    email: str = "Anna@Example.ru",
) -> auth.Outgoing:
    result = await auth.register(
        session, await new_registration(email), telegram_user_id=user, now=now, caps=CAPS
    )
    if activate:
        await auth.use_link(session, result.letter.token, telegram_user_id=user, chat_id=user,
                            now=now)  # fmt: skip
    return result.letter


async def fail_login(session: AsyncSession, user: int, at: datetime, **kwargs: object) -> None:
    with pytest.raises(auth.WrongCredentials):
        await auth.log_in(session, "anna@example.ru", "Wrong2026", telegram_user_id=user,
                          chat_id=user, now=at, **kwargs)  # type: ignore[arg-type]  # fmt: skip


# --- registration is pending until activation (#9 item 6) ------------------------------------


async def test_registration_stays_pending_and_only_activation_creates_the_login(
    session: AsyncSession,
) -> None:
    result = await auth.register(
        session, await new_registration(), telegram_user_id=1, now=NOW, caps=CAPS
    )
    letter = result.letter
    assert letter.kind is auth.LetterKind.ACTIVATION and letter.email == "anna@example.ru"
    assert auth.looks_like_token(letter.token) and len(letter.token) <= 64
    assert auth.looks_like_code(letter.code) and len(letter.code) == auth.CODE_LENGTH
    assert await session.scalar(select(func.count()).select_from(Login)) == 0
    pending = await session.get(PendingRegistration, result.pending_id)
    assert pending is not None and pending.expires_at == NOW + timedelta(hours=24)
    assert letter.token not in pending.token_hash and letter.code not in pending.code_hash
    with pytest.raises(auth.NotActivated):  # the right password of a pending registration
        await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=1, chat_id=1,
                          now=NOW)  # fmt: skip

    use = await auth.use_link(session, letter.token, telegram_user_id=1, chat_id=1, now=NOW)
    assert use.outcome is auth.CodeOutcome.ACTIVATED and use.signed_in is not None
    login = await session.scalar(select(Login))
    assert login is not None and login.activated_at == NOW and login.email == "anna@example.ru"
    assert await session.get(Subscription, login.id) is not None
    identity = await session.get(TelegramIdentity, 1)
    assert identity is not None and identity.login_id == login.id  # logged in at once
    assert await session.scalar(select(func.count()).select_from(PendingRegistration)) == 0


async def test_a_taken_address_gets_a_letter_and_nothing_is_stored(session: AsyncSession) -> None:
    await registered(session)
    intruder = await auth.register(
        session, await new_registration("ANNA@example.ru"), telegram_user_id=2,
        now=NOW + timedelta(minutes=5), caps=CAPS,
    )  # fmt: skip
    assert intruder.letter.kind is auth.LetterKind.ALREADY_REGISTERED
    assert intruder.pending_id is None
    assert await session.scalar(select(func.count()).select_from(Login)) == 1
    assert await session.scalar(select(func.count()).select_from(PendingRegistration)) == 0
    use = await auth.use_link(session, intruder.letter.token, telegram_user_id=1, chat_id=1,
                              now=NOW + timedelta(minutes=6))  # fmt: skip
    assert use.outcome is auth.CodeOutcome.RESET  # the owner may set a new password with it


async def test_someone_elses_activation_link_needs_the_registration_password(
    session: AsyncSession,
) -> None:
    """The attacker registered the victim's address; the victim's click alone creates nothing,
    and a login appears only for whoever knows the registration's password."""
    letter = await registered(session, activate=False, user=1)
    use = await auth.use_link(session, letter.token, telegram_user_id=2, chat_id=2, now=NOW)
    assert use.outcome is auth.CodeOutcome.NEEDS_PASSWORD and use.email == "anna@example.ru"
    assert await session.scalar(select(func.count()).select_from(Login)) == 0
    await fail_login(session, 2, NOW, pending_id=use.pending_id)
    signed_in = await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=2,
                                  chat_id=2, now=NOW, pending_id=use.pending_id)  # fmt: skip
    identity = await session.get(TelegramIdentity, 2)
    assert identity is not None and identity.login_id == signed_in.login_id


async def test_activation_link_is_single_use_and_expires(session: AsyncSession) -> None:
    letter = await registered(session, activate=False)
    with pytest.raises(auth.BadToken) as expired:
        await auth.use_link(session, letter.token, telegram_user_id=1, chat_id=1,
                            now=NOW + timedelta(hours=25))  # fmt: skip
    assert expired.value.reason is auth.TokenProblem.EXPIRED
    await auth.use_link(session, letter.token, telegram_user_id=1, chat_id=1,
                        now=NOW + timedelta(hours=1))  # fmt: skip
    with pytest.raises(auth.BadToken) as gone:
        await auth.use_link(session, letter.token, telegram_user_id=1, chat_id=1,
                            now=NOW + timedelta(hours=2))  # fmt: skip
    assert gone.value.reason is auth.TokenProblem.USED  # «уже использована», not «не подошла»
    with pytest.raises(auth.BadToken):
        await auth.use_link(session, "x" * 32, telegram_user_id=1, chat_id=1, now=NOW)


# --- short codes (#10 item 9) ----------------------------------------------------------------


async def test_the_short_code_works_typed_loosely_and_only_with_its_address(
    session: AsyncSession,
) -> None:
    await registered(session)
    later = NOW + timedelta(minutes=2)
    letter = await auth.request_password_reset(
        session, "anna@example.ru", telegram_user_id=8, now=later, caps=CAPS
    )
    assert letter is not None and len(letter.code) == 8
    assert set(letter.code) <= set(captcha.ALPHABET)
    with pytest.raises(auth.BadToken):  # the same code with another address
        await auth.use_code(session, "other@example.ru", letter.code, telegram_user_id=8,
                            chat_id=8, now=later)  # fmt: skip
    typed = f" {letter.code[:4].lower()}-{letter.code[4:].lower()} "
    use = await auth.use_code(session, "anna@example.ru", typed, telegram_user_id=8, chat_id=8,
                              now=later)  # fmt: skip
    assert use.outcome is auth.CodeOutcome.RESET and use.token_id is not None


async def test_wrong_codes_lock_the_telegram_user(session: AsyncSession) -> None:
    await registered(session)
    for n in range(auth.CODE_LIMIT - 1):
        with pytest.raises(auth.BadToken):
            await auth.use_code(session, "anna@example.ru", "ACEFHJKM", telegram_user_id=8,
                                chat_id=8, now=NOW + timedelta(seconds=n))  # fmt: skip
    with pytest.raises(auth.TooManyCodes) as locked:
        await auth.use_code(session, "anna@example.ru", "ACEFHJKM", telegram_user_id=8,
                            chat_id=8, now=NOW + timedelta(seconds=10))  # fmt: skip
    assert locked.value.until == NOW + timedelta(seconds=10) + auth.CODE_LOCK
    letter = await auth.request_password_reset(
        session, "anna@example.ru", telegram_user_id=9, now=NOW + timedelta(minutes=1), caps=CAPS
    )
    assert letter is not None
    with pytest.raises(auth.TooManyCodes):  # even the right code, until the lock ends
        await auth.use_code(session, "anna@example.ru", letter.code, telegram_user_id=8,
                            chat_id=8, now=NOW + timedelta(minutes=2))  # fmt: skip


# --- letters: cooldown and daily caps (#9 item 11) --------------------------------------------


async def test_letters_have_a_cooldown_and_daily_caps(session: AsyncSession) -> None:
    result = await auth.register(
        session, await new_registration(), telegram_user_id=1, now=NOW, caps=CAPS
    )
    with pytest.raises(auth.MailTooSoon) as soon:
        await auth.resend_letter(session, "anna@example.ru", pending_id=result.pending_id,
                                 telegram_user_id=1, now=NOW + timedelta(seconds=20),
                                 caps=CAPS)  # fmt: skip
    assert soon.value.seconds_left == 40
    at = NOW
    for _ in range(CAPS.per_address - 1):
        at += timedelta(minutes=2)
        again = await auth.resend_letter(session, "anna@example.ru", pending_id=result.pending_id,
                                         telegram_user_id=1, now=at, caps=CAPS)  # fmt: skip
        assert again.kind is auth.LetterKind.ACTIVATION
    with pytest.raises(auth.MailQuotaExceeded) as capped:
        await auth.resend_letter(session, "anna@example.ru", pending_id=result.pending_id,
                                 telegram_user_id=2, now=at + timedelta(minutes=2),
                                 caps=CAPS)  # fmt: skip
    assert capped.value.per is auth.MailQuota.ADDRESS
    # the same cap answers for an address with no login at all (nothing to tell them apart)
    for n in range(CAPS.per_user):
        assert await auth.request_password_reset(
            session, f"nobody{n}@example.ru", telegram_user_id=3, now=NOW, caps=CAPS
        ) is None  # fmt: skip
    with pytest.raises(auth.MailQuotaExceeded) as mine:
        await auth.request_password_reset(session, "nobody9@example.ru", telegram_user_id=3,
                                          now=NOW, caps=CAPS)  # fmt: skip
    assert mine.value.per is auth.MailQuota.USER
    # a day later the caps are open again
    letter = await auth.request_password_reset(
        session, "anna@example.ru", telegram_user_id=3, now=NOW + timedelta(days=1, minutes=1),
        caps=CAPS,
    )  # fmt: skip
    assert letter is None  # «anna» has no login: her registration is still pending


async def test_resend_of_a_registration_deleted_long_ago_says_so(session: AsyncSession) -> None:
    with pytest.raises(auth.RegistrationGone):
        await auth.resend_letter(session, "anna@example.ru", pending_id=123, telegram_user_id=1,
                                 now=NOW, caps=CAPS)  # fmt: skip


# --- login: graded limits (#9 items 4, 5, 12) -------------------------------------------------


async def test_the_short_lock_is_per_telegram_user_and_the_owner_still_gets_in(
    session: AsyncSession,
) -> None:
    await registered(session)
    for attempt in range(auth.PAIR_LIMIT - 1):
        await fail_login(session, 5, NOW + timedelta(seconds=attempt))
    with pytest.raises(auth.LoginLocked) as locked:
        await auth.log_in(session, "anna@example.ru", "Wrong2026", telegram_user_id=5, chat_id=5,
                          now=NOW + timedelta(seconds=5))  # fmt: skip
    until = locked.value.until
    assert until == NOW + timedelta(seconds=5, minutes=15)
    with pytest.raises(auth.LoginLocked):  # even the right password, from the locked user
        await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=5, chat_id=5,
                          now=NOW + timedelta(minutes=1))  # fmt: skip
    gate = await auth.login_gate(session, "anna@example.ru", telegram_user_id=5,
                                 now=NOW + timedelta(minutes=1))  # fmt: skip
    assert gate.locked_until == until
    # the owner, on their own phone, is not locked out by someone else's guesses
    owner = await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=6,
                              chat_id=6, now=NOW + timedelta(minutes=1))  # fmt: skip
    assert owner.name == "Анна"
    signed_in = await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=5,
                                  chat_id=5, now=until + timedelta(seconds=1))  # fmt: skip
    assert signed_in.login_id == owner.login_id
    actions = (await session.scalars(select(AuditEvent.action))).all()
    assert actions.count("auth.login_failed") == auth.PAIR_LIMIT and "auth.lockout" in actions
    for event in await session.scalars(select(AuditEvent)):
        assert "anna" not in str(event.details).lower()


async def test_a_burst_on_one_login_alerts_the_owner_then_needs_captcha_and_pauses(
    session: AsyncSession,
) -> None:
    await registered(session)
    at = NOW
    alerts = []
    for n in range(auth.LOGIN_SOFT_LIMIT):  # from many Telegram users, none locked
        at += timedelta(seconds=1)
        with pytest.raises(auth.WrongCredentials) as failed:
            await auth.log_in(session, "anna@example.ru", "Wrong2026", telegram_user_id=100 + n,
                              chat_id=100 + n, now=at)  # fmt: skip
        alerts.append(failed.value.alert)
    assert alerts[:-1] == [None] * (auth.LOGIN_SOFT_LIMIT - 1)
    alert = alerts[-1]
    assert alert is not None and alert.kind is auth.LetterKind.LOGIN_ALERT
    assert alert.email == "anna@example.ru" and not alert.token
    gate = await auth.login_gate(session, "anna@example.ru", telegram_user_id=999, now=at)
    assert gate.captcha and gate.locked_until is None
    with pytest.raises(auth.CaptchaRequired):
        await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=200,
                          chat_id=200, now=at)  # fmt: skip
    await fail_login(session, 201, at, captcha_solved=True)
    with pytest.raises(auth.LoginPaused) as paused:
        await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=202,
                          chat_id=202, now=at + timedelta(seconds=1), captcha_solved=True)  # fmt: skip
    assert paused.value.until == at + auth.FIRST_PAUSE
    await fail_login(session, 203, at + auth.FIRST_PAUSE, captcha_solved=True)
    with pytest.raises(auth.LoginPaused) as longer:
        await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=204, chat_id=204,
                          now=at + auth.FIRST_PAUSE, captcha_solved=True)  # fmt: skip
    assert longer.value.until == at + auth.FIRST_PAUSE * 3  # the pause doubled
    owner = await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=205,
                              chat_id=205, now=at + auth.FIRST_PAUSE * 3,
                              captcha_solved=True)  # fmt: skip
    assert owner.name == "Анна"
    locks = (await session.scalars(select(AttemptCounter.locked_until))).all()
    assert all(lock is None or lock <= at + auth.LONGEST_PAUSE for lock in locks)  # no long lock


async def test_an_unknown_address_behaves_like_a_known_one(session: AsyncSession) -> None:
    await registered(session)
    for email in ("nobody@example.ru", "anna@example.ru"):
        for n in range(auth.LOGIN_SOFT_LIMIT):
            with pytest.raises(auth.WrongCredentials):
                await auth.log_in(session, email, "Wrong2026", telegram_user_id=300 + n,
                                  chat_id=300 + n, now=NOW)  # fmt: skip
        gate = await auth.login_gate(session, email, telegram_user_id=1, now=NOW)
        assert gate.captcha


async def test_password_hashing_is_rate_limited_per_telegram_user(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "HASH_LIMIT", 3)
    for n in range(auth.HASH_LIMIT):
        await auth.take_new_password(session, PASSWORD, telegram_user_id=7,
                                     now=NOW + timedelta(seconds=n))  # fmt: skip
    with pytest.raises(auth.TooManyPasswordChecks):
        await auth.take_new_password(session, PASSWORD, telegram_user_id=7,
                                     now=NOW + timedelta(minutes=1))  # fmt: skip
    with pytest.raises(auth.TooManyPasswordChecks):  # a login check is a hash too
        await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=7, chat_id=7,
                          now=NOW + timedelta(minutes=1))  # fmt: skip
    await auth.take_new_password(session, PASSWORD, telegram_user_id=8,
                                 now=NOW + timedelta(minutes=1))  # fmt: skip
    await auth.take_new_password(session, PASSWORD, telegram_user_id=7,
                                 now=NOW + auth.HASH_WINDOW + timedelta(minutes=1))  # fmt: skip


def test_the_hashing_pool_is_sized_to_the_cpus() -> None:
    assert passwords.pool_size() == len(os.sched_getaffinity(0))
    assert passwords._executor()._max_workers == passwords.pool_size()


# --- password reset (#9 item 8) --------------------------------------------------------------


async def test_reset_sets_password_and_logs_out_other_sessions(session: AsyncSession) -> None:
    await registered(session)
    login = await session.scalar(select(Login))
    assert login is not None
    await bind_login(session, 7, 7, login.id)
    await session.commit()
    later = NOW + timedelta(minutes=2)
    letter = await auth.request_password_reset(session, "ANNA@example.ru", telegram_user_id=8,
                                               now=later, caps=CAPS)  # fmt: skip
    assert letter is not None and letter.kind is auth.LetterKind.PASSWORD_RESET
    use = await auth.use_link(session, letter.token, telegram_user_id=8, chat_id=8, now=later)
    assert use.outcome is auth.CodeOutcome.RESET and use.token_id is not None
    new_hash = await auth.hash_new_password("Brand2new")
    signed_in = await auth.reset_password(session, use.token_id, new_hash, telegram_user_id=8,
                                          chat_id=8, now=later)  # fmt: skip
    assert set(signed_in.logged_out_chats) == {1, 7}  # the registrant and the other phone
    await session.refresh(login)
    assert await verify_password(login.password_hash, "Brand2new")
    assert login.password_changed_at == later
    seven = await session.get(TelegramIdentity, 7)
    eight = await session.get(TelegramIdentity, 8)
    assert seven is not None and seven.login_id is None
    assert eight is not None and eight.login_id == login.id
    notified = (await session.scalars(select(Notification.chat_id))).all()
    assert sorted(notified) == [1, 7]
    with pytest.raises(auth.BadToken) as used:
        await auth.reset_password(session, use.token_id, new_hash, telegram_user_id=8, chat_id=8,
                                  now=later)  # fmt: skip
    assert used.value.reason is auth.TokenProblem.USED


async def test_a_reset_code_accepted_earlier_is_checked_again(session: AsyncSession) -> None:
    await registered(session)
    letter = await auth.request_password_reset(session, "anna@example.ru", telegram_user_id=8,
                                               now=NOW + timedelta(minutes=1), caps=CAPS)  # fmt: skip
    assert letter is not None
    use = await auth.use_code(session, "anna@example.ru", letter.code, telegram_user_id=8,
                              chat_id=8, now=NOW + timedelta(minutes=1))  # fmt: skip
    assert use.token_id is not None
    await auth.check_reset_token(session, use.token_id, now=NOW + timedelta(hours=23))
    late = NOW + timedelta(hours=24, minutes=1, seconds=1)
    with pytest.raises(auth.BadToken) as expired:
        await auth.check_reset_token(session, use.token_id, now=late)
    assert expired.value.reason is auth.TokenProblem.EXPIRED
    with pytest.raises(auth.BadToken):
        await auth.reset_password(session, use.token_id, "x", telegram_user_id=8, chat_id=8,
                                  now=late)  # fmt: skip


async def test_a_used_reset_code_retires_the_older_letters(session: AsyncSession) -> None:
    await registered(session)
    codes = []
    for minutes in (5, 7):
        letter = await auth.request_password_reset(
            session, "anna@example.ru", telegram_user_id=1, now=NOW + timedelta(minutes=minutes),
            caps=CAPS,
        )  # fmt: skip
        assert letter is not None
        codes.append(letter.token)
    first = await auth.use_link(session, codes[0], telegram_user_id=1, chat_id=1,
                                now=NOW + timedelta(minutes=8))  # fmt: skip
    second = await auth.use_link(session, codes[1], telegram_user_id=1, chat_id=1,
                                 now=NOW + timedelta(minutes=8))  # fmt: skip
    assert first.token_id is not None and second.token_id is not None
    await auth.reset_password(session, second.token_id, await auth.hash_new_password("Brand2new"),
                              telegram_user_id=1, chat_id=1, now=NOW + timedelta(minutes=8))  # fmt: skip
    with pytest.raises(auth.BadToken) as stale:
        await auth.use_link(session, codes[0], telegram_user_id=9, chat_id=9,
                            now=NOW + timedelta(minutes=9))  # fmt: skip
    assert stale.value.reason is auth.TokenProblem.USED


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


# --- housekeeping (#9 item 8) ----------------------------------------------------------------


async def test_expired_registrations_secrets_and_counters_are_purged(session: AsyncSession) -> None:
    await registered(session, activate=True)
    await registered(session, activate=False, user=2, now=NOW + timedelta(minutes=2),
                     email="boris@example.ru")  # fmt: skip
    await auth.request_password_reset(session, "anna@example.ru", telegram_user_id=3,
                                      now=NOW + timedelta(minutes=4), caps=CAPS)  # fmt: skip
    await fail_login(session, 4, NOW)
    soon = await auth.purge_expired(session, now=NOW + timedelta(hours=30))
    assert soon == auth.Purged(pending=0, tokens=0, counters=0)
    later = await auth.purge_expired(session, now=NOW + timedelta(days=9))
    assert later.pending == 1 and later.tokens == 2 and later.counters > 0  # reset + used link
    for model in (PendingRegistration, EmailToken, AttemptCounter):
        assert await session.scalar(select(func.count()).select_from(model)) == 0
    assert await session.scalar(select(func.count()).select_from(Login)) == 1


# --- what messages look like (#10 items 1, 10) -----------------------------------------------


def test_recognisers_are_safe_on_messages_without_text() -> None:
    for check in (auth.looks_like_token, auth.looks_like_code, auth.looks_like_password):
        assert check(None) is False
    assert auth.looks_like_password("Secret2026pass")
    assert auth.looks_like_password("mypass123")
    for text in ("ivan@example.ru", "/start abc", "12345678", "Привет2026", "слово", "ab1"):
        assert not auth.looks_like_password(text), text


def test_captcha_alphabet_has_no_look_alikes_and_the_check_is_forgiving() -> None:
    look_alikes = set("0OQD1IL5S2Z8BGVY")  # of each pair (6/G, 8/B…) at most one stays
    assert not look_alikes & set(captcha.ALPHABET)
    assert captcha.matches("ACEHK", "acehk")
    assert captcha.matches("ACEHK", "а с е н к")  # typed on a Russian keyboard
    assert captcha.matches("ACE37", "АСЕЗ7")
    assert not captcha.matches("ACEHK", "ACEHX")
    assert not captcha.matches("", "")


async def test_captcha_picture_is_large() -> None:
    from PIL import Image

    challenge = await captcha.Captcha(lambda: "ACE47").new_challenge()
    assert challenge.text == "ACE47"
    with Image.open(io.BytesIO(challenge.png)) as image:
        assert image.size == (captcha.WIDTH, captcha.HEIGHT)
        assert image.size[0] >= 400 and image.size[1] >= 150
        darkest, lightest = image.convert("L").getextrema()
        assert isinstance(darkest, int) and isinstance(lightest, int)
        assert darkest < 100 and lightest > 200  # dark text on a light ground


def test_the_captcha_library_is_imported_only_when_a_picture_is_drawn() -> None:
    probe = (
        "import sys, services.captcha as c; c.Captcha();"
        "print('captcha.image' in sys.modules, 'PIL.Image' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DIALOG_TTL_HOURS", "0"),
        ("DIALOG_TTL_HOURS", "сутки"),
        ("MAIL_PER_USER_PER_DAY", "1000"),
        ("MAIL_PER_ADDRESS_PER_DAY", "-1"),
    ],
)
def test_auth_settings_refuse_bad_values_in_russian(variable: str, value: str) -> None:
    from bot.settings import ConfigError, load_settings

    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, **{variable.lower(): value})
    assert str(error.value).startswith(f"Ошибка конфигурации: {variable} — ожидается целое число")
