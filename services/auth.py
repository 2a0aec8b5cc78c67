"""Registration, e-mail activation, login with lockout, logout and password reset.

Secrets sent by e-mail are random (192 bits), URL-safe (they ride in a `/start` deep link) and
stored only as SHA-256 hashes; each is single use and lives 24 hours. Nothing here tells a
caller whether an e-mail has a login unless the caller already proved it owns that login.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import AttemptCounter, AuditEvent, EmailToken, Login, Subscription, TokenPurpose
from services import notifications
from services.errors import DomainError
from services.identity import bind_login, logout_everywhere
from services.passwords import hash_password, needs_rehash, verify_password
from services.validation import InvalidEmail, check_password, normalize_email

TOKEN_TTL = timedelta(hours=24)
RESEND_COOLDOWN = timedelta(seconds=60)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
TOKEN_BYTES = 24  # 192 bits → 32 characters of A-Za-z0-9_-
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
LOGGED_OUT_KIND = "auth.logged_out"


# --- errors ----------------------------------------------------------------------------------


class TokenProblem(enum.StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class BadToken(DomainError):
    def __init__(self, reason: TokenProblem, purpose: TokenPurpose | None = None) -> None:
        super().__init__(f"bad token: {reason}")
        self.reason = reason
        self.purpose = purpose


class ResendTooSoon(DomainError):
    def __init__(self, seconds_left: int) -> None:
        super().__init__(f"resend too soon: {seconds_left} s")
        self.seconds_left = seconds_left


class WrongCredentials(DomainError):
    """Unknown e-mail or wrong password: deliberately the same error."""


class LoginLocked(DomainError):
    def __init__(self, until: datetime) -> None:
        super().__init__("login locked")
        self.until = until


class NotActivated(DomainError):
    """The password is right but the e-mail was never confirmed."""


# --- results ---------------------------------------------------------------------------------


class LetterKind(enum.StrEnum):
    ACTIVATION = "activation"
    ALREADY_REGISTERED = "already_registered"  # someone registered an e-mail that has a login
    PASSWORD_RESET = "password_reset"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A letter the caller must send: to whom, which one, with which secret."""

    kind: LetterKind
    email: str
    name: str
    token: str


@dataclass(frozen=True, slots=True)
class NewRegistration:
    surname: str
    name: str
    patronymic: str | None
    email: str
    phone: str
    password_hash: str
    consent_version: str
    consent_at: datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A successful login or reset: who is now logged in."""

    login_id: int
    name: str
    logged_out_chats: tuple[int, ...] = ()


# --- helpers ---------------------------------------------------------------------------------


def looks_like_token(text: str) -> bool:
    return TOKEN_PATTERN.fullmatch(text.strip()) is not None


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.strip().encode()).hexdigest()


def _email_key(email: str) -> str:
    return "email:" + hashlib.sha256(email.encode()).hexdigest()[:40]


def _audit(
    session: AsyncSession,
    action: str,
    *,
    now: datetime,
    login_id: int | None = None,
    telegram_user_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            at=now,
            action=action,
            login_id=login_id,
            telegram_user_id=telegram_user_id,
            entity="login" if login_id is not None else None,
            entity_id=str(login_id) if login_id is not None else None,
            details=details or {},
        )
    )


async def _login_by_email(session: AsyncSession, email: str) -> Login | None:
    login: Login | None = await session.scalar(select(Login).where(Login.email == email))
    return login


async def _issue_token(
    session: AsyncSession, login_id: int, purpose: TokenPurpose, now: datetime
) -> str:
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        EmailToken(
            login_id=login_id,
            purpose=purpose,
            token_hash=_token_hash(raw),
            created_at=now,
            expires_at=now + TOKEN_TTL,
        )
    )
    await session.flush()
    return raw


async def _seconds_until_resend(session: AsyncSession, login_id: int, now: datetime) -> int:
    """0 when a new letter may go, else how long to wait since the last one."""
    last = await session.scalar(
        select(func.max(EmailToken.created_at)).where(EmailToken.login_id == login_id)
    )
    if last is None:
        return 0
    if last.tzinfo is None:  # aggregate results bypass the UTC column type on SQLite
        last = datetime.fromisoformat(str(last)).replace(tzinfo=now.tzinfo)
    left = (last + RESEND_COOLDOWN - now).total_seconds()
    return max(0, int(left + 0.999))


async def hash_new_password(password: str) -> str:
    """Check the policy (raises WeakPassword) and hash with Argon2id off the event loop."""
    check_password(password)
    return await hash_password(password)


async def password_matches(password_hash: str, password: str) -> bool:
    return await verify_password(password_hash, password)


_dummy_hash: str | None = None


async def _dummy() -> str:
    """A hash to verify against when the e-mail is unknown, so both cases take as long."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = await hash_password(secrets.token_urlsafe(16))
    return _dummy_hash


# --- registration and activation -------------------------------------------------------------


async def register(
    session: AsyncSession, data: NewRegistration, *, telegram_user_id: int, now: datetime
) -> Outgoing | None:
    """Create a login waiting for activation and the letter that activates it.

    An e-mail that already has a login gets a different letter (someone tried to register,
    here is how to reset the password) and nothing is changed; the caller shows the same
    reply either way. None: that address got a letter less than a minute ago."""
    email = normalize_email(data.email)
    existing = await _login_by_email(session, email)
    if existing is None:
        login = Login(
            email=email,
            phone=data.phone,
            surname=data.surname,
            name=data.name,
            patronymic=data.patronymic,
            password_hash=data.password_hash,
            consent_version=data.consent_version,
            consent_at=data.consent_at,
            created_at=now,
        )
        session.add(login)
        try:
            await session.flush()
        except IntegrityError:  # the same e-mail registered a moment ago by someone else
            await session.rollback()
            existing = await _login_by_email(session, email)
            if existing is None:
                raise
        else:
            session.add(Subscription(login_id=login.id, updated_at=now))
            token = await _issue_token(session, login.id, TokenPurpose.ACTIVATION, now)
            _audit(session, "auth.register", now=now, login_id=login.id,
                   telegram_user_id=telegram_user_id)  # fmt: skip
            await session.commit()
            return Outgoing(LetterKind.ACTIVATION, email, login.name, token)
    _audit(session, "auth.register_existing", now=now, login_id=existing.id,
           telegram_user_id=telegram_user_id)  # fmt: skip
    if await _seconds_until_resend(session, existing.id, now):
        await session.commit()
        return None
    token = await _issue_token(session, existing.id, TokenPurpose.PASSWORD_RESET, now)
    await session.commit()
    return Outgoing(LetterKind.ALREADY_REGISTERED, email, existing.name, token)


async def resend_letter(session: AsyncSession, email: str, *, now: datetime) -> Outgoing | None:
    """«Отправить письмо ещё раз»: a fresh activation letter (or, for a login that is already
    active, the already-registered one). Raises ResendTooSoon within a minute of the last."""
    try:
        email = normalize_email(email)
    except InvalidEmail:
        return None
    login = await _login_by_email(session, email)
    if login is None:
        return None
    wait = await _seconds_until_resend(session, login.id, now)
    if wait:
        raise ResendTooSoon(wait)
    if login.activated_at is None:
        token = await _issue_token(session, login.id, TokenPurpose.ACTIVATION, now)
        kind = LetterKind.ACTIVATION
    else:
        token = await _issue_token(session, login.id, TokenPurpose.PASSWORD_RESET, now)
        kind = LetterKind.ALREADY_REGISTERED
    await session.commit()
    return Outgoing(kind, email, login.name, token)


async def _valid_token(session: AsyncSession, raw: str, now: datetime) -> EmailToken:
    if not looks_like_token(raw):
        raise BadToken(TokenProblem.UNKNOWN)
    token = await session.scalar(
        select(EmailToken).where(EmailToken.token_hash == _token_hash(raw))
    )
    if token is None:
        raise BadToken(TokenProblem.UNKNOWN)
    if token.used_at is not None:
        raise BadToken(TokenProblem.USED, token.purpose)
    if token.expires_at <= now:
        raise BadToken(TokenProblem.EXPIRED, token.purpose)
    return token


async def _retire_tokens(
    session: AsyncSession, login_id: int, purpose: TokenPurpose, now: datetime
) -> None:
    """Use up every open code of this purpose: after one worked, older letters are dead."""
    await session.execute(
        update(EmailToken)
        .where(
            EmailToken.login_id == login_id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=now)
    )


async def token_purpose(session: AsyncSession, raw: str, *, now: datetime) -> TokenPurpose:
    """What a code from a letter is for, without using it up; raises BadToken."""
    return (await _valid_token(session, raw, now)).purpose


async def activate(
    session: AsyncSession, raw: str, *, telegram_user_id: int, now: datetime
) -> SignedIn:
    """Use an activation code: the login may log in from now on."""
    token = await _valid_token(session, raw, now)
    if token.purpose is not TokenPurpose.ACTIVATION:
        raise BadToken(TokenProblem.UNKNOWN, token.purpose)
    login = await session.get(Login, token.login_id)
    if login is None:
        raise BadToken(TokenProblem.UNKNOWN)
    await _retire_tokens(session, login.id, TokenPurpose.ACTIVATION, now)
    if login.activated_at is None:
        login.activated_at = now
        _audit(session, "auth.activate", now=now, login_id=login.id,
               telegram_user_id=telegram_user_id)  # fmt: skip
    await session.commit()
    return SignedIn(login.id, login.name)


# --- login and logout ------------------------------------------------------------------------


async def _counters(session: AsyncSession, keys: list[str]) -> dict[str, AttemptCounter]:
    rows = await session.scalars(select(AttemptCounter).where(AttemptCounter.key.in_(keys)))
    return {row.key: row for row in rows}


def _locked_until(counters: dict[str, AttemptCounter], now: datetime) -> datetime | None:
    until = [c.locked_until for c in counters.values() if c.locked_until and c.locked_until > now]
    return max(until) if until else None


def _tg_key(telegram_user_id: int) -> str:
    return f"tg:{telegram_user_id}"


async def check_not_locked(session: AsyncSession, *, telegram_user_id: int, now: datetime) -> None:
    """Raise LoginLocked when this Telegram user may not try to log in yet."""
    until = _locked_until(await _counters(session, [_tg_key(telegram_user_id)]), now)
    if until is not None:
        raise LoginLocked(until)


async def _record_failure(session: AsyncSession, keys: list[str], now: datetime) -> datetime | None:
    """Count a failure under every key; returns the lock end when this failure locked one."""
    counters = await _counters(session, keys)
    locked: datetime | None = None
    for key in keys:
        counter = counters.get(key)
        if counter is None:
            counter = AttemptCounter(key=key, failures=0, window_started_at=now)
            session.add(counter)
        if now - counter.window_started_at > FAILURE_WINDOW:
            counter.failures = 0
            counter.window_started_at = now
        counter.failures += 1
        if counter.failures >= MAX_FAILURES:
            counter.locked_until = now + LOCK_DURATION
            counter.failures = 0
            counter.window_started_at = now
            locked = counter.locked_until
    return locked


async def log_in(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    telegram_user_id: int,
    chat_id: int,
    now: datetime,
) -> SignedIn:
    """Check e-mail and password and bind this Telegram user to the login.

    Raises WrongCredentials (unknown e-mail and wrong password alike), LoginLocked (5 failures
    in 15 minutes lock the login and the Telegram user for 15 minutes) or NotActivated."""
    try:
        email = normalize_email(email)
    except InvalidEmail:
        email = email.strip().lower()
    login = await _login_by_email(session, email)
    subject_key = f"login:{login.id}" if login is not None else _email_key(email)
    keys = [subject_key, _tg_key(telegram_user_id)]
    until = _locked_until(await _counters(session, keys), now)
    if until is not None:
        raise LoginLocked(until)
    ok = await verify_password(login.password_hash if login else await _dummy(), password)
    if login is None or not ok:
        locked = await _record_failure(session, keys, now)
        login_id = login.id if login else None
        reason = "wrong_password" if login else "unknown_email"
        _audit(session, "auth.login_failed", now=now, login_id=login_id,
               telegram_user_id=telegram_user_id, details={"reason": reason})  # fmt: skip
        if locked is not None:
            _audit(session, "auth.lockout", now=now, login_id=login_id,
                   telegram_user_id=telegram_user_id, details={"minutes": 15})  # fmt: skip
        await session.commit()
        if locked is not None:
            raise LoginLocked(locked)
        raise WrongCredentials()
    await session.execute(delete(AttemptCounter).where(AttemptCounter.key.in_(keys)))
    if login.activated_at is None:
        await session.commit()
        raise NotActivated()
    if needs_rehash(login.password_hash):
        login.password_hash = await hash_password(password)
    await bind_login(session, telegram_user_id, chat_id, login.id)
    _audit(session, "auth.login", now=now, login_id=login.id, telegram_user_id=telegram_user_id)
    await session.commit()
    return SignedIn(login.id, login.name)


async def log_out(
    session: AsyncSession, *, telegram_user_id: int, chat_id: int, login_id: int, now: datetime
) -> None:
    await bind_login(session, telegram_user_id, chat_id, None)
    _audit(session, "auth.logout", now=now, login_id=login_id, telegram_user_id=telegram_user_id)
    await session.commit()


# --- password reset --------------------------------------------------------------------------


async def request_password_reset(
    session: AsyncSession, email: str, *, telegram_user_id: int, now: datetime
) -> Outgoing | None:
    """A reset letter when the e-mail has a login and none went in the last minute.

    The caller answers the same whatever this returns."""
    try:
        email = normalize_email(email)
    except InvalidEmail:
        return None
    login = await _login_by_email(session, email)
    if login is None or await _seconds_until_resend(session, login.id, now):
        return None
    token = await _issue_token(session, login.id, TokenPurpose.PASSWORD_RESET, now)
    _audit(session, "auth.reset_requested", now=now, login_id=login.id,
           telegram_user_id=telegram_user_id)  # fmt: skip
    await session.commit()
    return Outgoing(LetterKind.PASSWORD_RESET, email, login.name, token)


async def reset_password(
    session: AsyncSession,
    raw: str,
    password_hash: str,
    *,
    telegram_user_id: int,
    chat_id: int,
    now: datetime,
) -> SignedIn:
    """Use a reset code: set the new password (already hashed), log out every other Telegram
    session of the login, log this one in. Proves the e-mail, so it also activates."""
    token = await _valid_token(session, raw, now)
    if token.purpose is not TokenPurpose.PASSWORD_RESET:
        raise BadToken(TokenProblem.UNKNOWN, token.purpose)
    login = await session.get(Login, token.login_id)
    if login is None:
        raise BadToken(TokenProblem.UNKNOWN)
    await _retire_tokens(session, login.id, TokenPurpose.PASSWORD_RESET, now)
    login.password_hash = password_hash
    login.password_changed_at = now
    if login.activated_at is None:
        login.activated_at = now
    chats = await logout_everywhere(session, login.id, except_telegram_user_id=telegram_user_id)
    for chat in chats:
        await notifications.enqueue(
            session,
            kind=LOGGED_OUT_KIND,
            chat_id=chat,
            dedup_key=f"reset:{token.id}:{chat}",
            login_id=login.id,
        )
    await bind_login(session, telegram_user_id, chat_id, login.id)
    await session.execute(
        delete(AttemptCounter).where(
            AttemptCounter.key.in_([f"login:{login.id}", _tg_key(telegram_user_id)])
        )
    )
    _audit(session, "auth.password_reset", now=now, login_id=login.id,
           telegram_user_id=telegram_user_id, details={"sessions_closed": len(chats)})  # fmt: skip
    await session.commit()
    return SignedIn(login.id, login.name, tuple(chats))


__all__ = [
    "LOCK_DURATION",
    "MAX_FAILURES",
    "RESEND_COOLDOWN",
    "TOKEN_TTL",
    "BadToken",
    "LetterKind",
    "LoginLocked",
    "NewRegistration",
    "NotActivated",
    "Outgoing",
    "ResendTooSoon",
    "SignedIn",
    "TokenProblem",
    "WrongCredentials",
    "activate",
    "check_not_locked",
    "hash_new_password",
    "log_in",
    "log_out",
    "looks_like_token",
    "password_matches",
    "register",
    "request_password_reset",
    "resend_letter",
    "reset_password",
    "token_purpose",
]
