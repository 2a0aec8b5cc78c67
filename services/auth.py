"""Registration (pending until the e-mail is confirmed), activation, login with graded limits,
logout, password reset, and the letters they send.

A letter carries two secrets of one purpose: a link token (192 bits, URL-safe, it rides in a
`/start` deep link and is enough alone) and a short code of 8 unambiguous characters to type
from a phone, accepted only together with the address it went to. Both are stored as SHA-256
hashes only, work once and live 24 hours.

Nothing here tells a caller whether an address has a login unless the caller proved it owns
it: a registration stays pending (keyed by its token) until its link or code is used, and an
address that already has a login gets a letter instead of a second login; both registrants see
the same reply. Everything limited is counted in `services.attempts` before it is evaluated:
passwords per (login, Telegram user) with a short lock, per login with a CAPTCHA and growing
pauses instead of a lock (and a letter to the owner about the burst), password hashes per
Telegram user, codes, and letters per Telegram user and per address.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    AuditEvent,
    EmailToken,
    Login,
    PendingRegistration,
    Subscription,
    TokenPurpose,
)
from services import attempts, notifications
from services.captcha import ALPHABET, fold
from services.errors import DomainError
from services.identity import bind_login, logout_everywhere
from services.passwords import hash_password, needs_rehash, verify_password
from services.validation import InvalidEmail, check_password, normalize_email

TOKEN_TTL = timedelta(hours=24)
TOKEN_BYTES = 24  # 192 bits → 32 characters of A-Za-z0-9_-
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
CODE_LENGTH = 8
CODE_PATTERN = re.compile(f"[{ALPHABET}]{{{CODE_LENGTH}}}")

# Wrong passwords for one login from one Telegram user: a short lock.
PAIR_LIMIT = 5
PAIR_WINDOW = timedelta(minutes=15)
PAIR_LOCK = timedelta(minutes=15)
# Wrong passwords for one login from anyone: no lock (that would let anyone lock the owner out),
# but beyond the threshold a CAPTCHA before each try and a pause after each failure, doubling.
LOGIN_SOFT_LIMIT = 10
LOGIN_WINDOW = timedelta(hours=24)
FIRST_PAUSE = timedelta(seconds=5)
LONGEST_PAUSE = timedelta(minutes=5)
# Password hashes and checks (each costs ~64 MiB and tens of ms of CPU) per Telegram user.
HASH_LIMIT = 20
HASH_WINDOW = timedelta(minutes=15)
# Wrong codes or links per Telegram user (short lock) and per address (a day's cap).
CODE_LIMIT = 5
CODE_WINDOW = timedelta(minutes=15)
CODE_LOCK = timedelta(minutes=15)
CODE_ADDRESS_LIMIT = 10
CODE_ADDRESS_WINDOW = timedelta(hours=24)
# Letters: one per address per minute; per Telegram user and per address a day's cap (settings).
MAIL_COOLDOWN = timedelta(seconds=60)
MAIL_WINDOW = timedelta(hours=24)
PENDING_PASSWORDS_CHECKED = 3  # newest pending registrations of an address a password is tried on
PENDING_KEPT = timedelta(hours=24)  # after expiry, for «Отправить письмо ещё раз»; then deleted
TOKENS_KEPT = timedelta(days=7)  # used or expired letter secrets, for «уже использована»
COUNTERS_KEPT = timedelta(days=2)
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


class MailTooSoon(DomainError):
    """A letter went to this address less than a minute ago."""

    def __init__(self, seconds_left: int) -> None:
        super().__init__(f"mail too soon: {seconds_left} s")
        self.seconds_left = seconds_left


class MailQuota(enum.StrEnum):
    USER = "user"
    ADDRESS = "address"


class MailQuotaExceeded(DomainError):
    """The day's cap of letters for this Telegram user or this address is used up."""

    def __init__(self, per: MailQuota) -> None:
        super().__init__(f"mail quota per {per}")
        self.per = per


class WrongCredentials(DomainError):
    """Unknown e-mail or wrong password: deliberately the same error.

    `alert`: a letter to the owner about a burst of failures, to be sent by the caller."""

    def __init__(self, alert: Outgoing | None = None) -> None:
        super().__init__("wrong credentials")
        self.alert = alert


class LoginLocked(DomainError):
    """Too many wrong passwords for this login from this Telegram user; open again at `until`."""

    def __init__(self, until: datetime, alert: Outgoing | None = None) -> None:
        super().__init__("login locked")
        self.until = until
        self.alert = alert


class LoginPaused(DomainError):
    """The login saw many failures: the next try may come at `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__("login paused")
        self.until = until


class CaptchaRequired(DomainError):
    """The login saw many failures: solve a CAPTCHA before the next try."""


class TooManyPasswordChecks(DomainError):
    """This Telegram user made the bot hash too many passwords lately."""


class TooManyCodes(DomainError):
    """Too many wrong codes from letters; open again at `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__("too many codes")
        self.until = until


class NotActivated(DomainError):
    """The password is right but the e-mail was never confirmed."""

    def __init__(self, pending_id: int) -> None:
        super().__init__("not activated")
        self.pending_id = pending_id


class RegistrationGone(DomainError):
    """The pending registration expired long ago and was deleted: register again."""


# --- results ---------------------------------------------------------------------------------


class LetterKind(enum.StrEnum):
    ACTIVATION = "activation"
    ALREADY_REGISTERED = "already_registered"  # someone registered an e-mail that has a login
    PASSWORD_RESET = "password_reset"
    LOGIN_ALERT = "login_alert"  # a burst of wrong passwords for the login


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A letter the caller must send: to whom, which one, with which secrets."""

    kind: LetterKind
    email: str
    name: str
    token: str = ""
    code: str = ""


@dataclass(frozen=True, slots=True)
class MailCaps:
    """Letters a day: per Telegram user and per address (settings)."""

    per_user: int
    per_address: int


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
class Registered:
    """The letter to send; `pending_id` only when a pending registration was created."""

    letter: Outgoing
    pending_id: int | None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A successful login, activation or reset: who is now logged in."""

    login_id: int
    name: str
    logged_out_chats: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class LoginGate:
    """What the login dialog must do before asking the password for an address."""

    locked_until: datetime | None
    captcha: bool


class CodeOutcome(enum.StrEnum):
    ACTIVATED = "activated"  # the registrant's own link or code: logged in
    NEEDS_PASSWORD = "needs_password"  # someone else's registration: prove its password
    RESET = "reset"  # a reset code: ask the new password


@dataclass(frozen=True, slots=True)
class CodeUse:
    outcome: CodeOutcome
    signed_in: SignedIn | None = None
    pending_id: int | None = None
    email: str | None = None
    token_id: int | None = None


# --- helpers ---------------------------------------------------------------------------------


def looks_like_token(text: str | None) -> bool:
    """A link token pasted as text (any message kind: None is not a token)."""
    return text is not None and TOKEN_PATTERN.fullmatch(text.strip()) is not None


def looks_like_code(text: str | None) -> bool:
    """A short code from a letter, however it was typed («acef-hjkm», Cyrillic look-alikes)."""
    return text is not None and CODE_PATTERN.fullmatch(fold(text)) is not None


_PASSWORD_LIKE = re.compile(r"[!-~]{8,128}")


def looks_like_password(text: str | None) -> bool:
    """A message that may hold a password: one word of 8–128 printable ASCII characters with a
    letter and a digit, not an address, command or link. Such a message is deleted wherever
    nothing else took it."""
    if text is None or not _PASSWORD_LIKE.fullmatch(text.strip()):
        return False
    word = text.strip()
    if "@" in word or word.startswith("/") or "://" in word:
        return False
    return any(c.isascii() and c.isalpha() for c in word) and any(c.isdigit() for c in word)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _token_hash(raw: str) -> str:
    return _sha(raw.strip())


def _code_hash(code: str) -> str:
    return _sha("code:" + fold(code))


def _new_secrets() -> tuple[str, str]:
    """A link token and a short code."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return token, code


def _email_key(email: str) -> str:
    return "email:" + _sha(email)[:40]


def _subject(login: Login | None, email: str) -> str:
    """Counters of an address with no login are kept too, so both cases behave alike."""
    return f"login:{login.id}" if login is not None else _email_key(email)


def _loose_email(email: str) -> str:
    try:
        return normalize_email(email)
    except InvalidEmail:
        return email.strip().lower()


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


async def _issue_reset(session: AsyncSession, login_id: int, now: datetime) -> tuple[str, str]:
    token, code = _new_secrets()
    session.add(
        EmailToken(
            login_id=login_id,
            purpose=TokenPurpose.PASSWORD_RESET,
            token_hash=_token_hash(token),
            code_hash=_code_hash(code),
            created_at=now,
            expires_at=now + TOKEN_TTL,
        )
    )
    await session.flush()
    return token, code


def _seconds(until: datetime | None, now: datetime) -> int:
    if until is None:
        return int(MAIL_COOLDOWN.total_seconds())
    return max(1, int((until - now).total_seconds() + 0.999))


async def _reserve_letter(
    session: AsyncSession, email: str, *, telegram_user_id: int, now: datetime, caps: MailCaps
) -> None:
    """Count a letter against the caps (the same whether the address has a login or not);
    raises MailTooSoon or MailQuotaExceeded."""
    window_start = now - MAIL_WINDOW
    user = await attempts.reserve(
        session, f"mail:tg:{telegram_user_id}", now=now, window_start=window_start,
        limit=caps.per_user,
    )  # fmt: skip
    if not user.allowed:
        raise MailQuotaExceeded(MailQuota.USER)
    address = await attempts.reserve(
        session, "mail:" + _email_key(email), now=now, window_start=window_start,
        limit=caps.per_address, hold_from=1, hold_until=now + MAIL_COOLDOWN,
    )  # fmt: skip
    if address.allowed:
        return
    await attempts.release(session, user.key)
    await session.commit()
    if address.count == 0:
        raise MailTooSoon(_seconds(address.blocked_until, now))
    raise MailQuotaExceeded(MailQuota.ADDRESS)


async def _reserve_hashing(session: AsyncSession, telegram_user_id: int, now: datetime) -> None:
    attempt = await attempts.reserve(
        session, f"hash:tg:{telegram_user_id}", now=now, window_start=now - HASH_WINDOW,
        limit=HASH_LIMIT,
    )  # fmt: skip
    if not attempt.allowed:
        raise TooManyPasswordChecks()


# --- passwords (also for the password change in «Настройки») ---------------------------------


def check_new_password(password: str) -> None:
    """The password policy of the web cabinet; raises WeakPassword with every problem."""
    check_password(password)


async def hash_new_password(password: str) -> str:
    """Check the policy (raises WeakPassword) and hash with Argon2id off the event loop."""
    check_new_password(password)
    return await hash_password(password)


async def take_new_password(
    session: AsyncSession, password: str, *, telegram_user_id: int, now: datetime
) -> str:
    """A new password typed in a dialog: the policy, then a hash counted against the Telegram
    user's limit. Raises WeakPassword or TooManyPasswordChecks."""
    check_new_password(password)
    await _reserve_hashing(session, telegram_user_id, now)
    return await hash_password(password)


async def confirm_new_password(
    session: AsyncSession, password_hash: str, repeat: str, *, telegram_user_id: int, now: datetime
) -> bool:
    """Whether the repeated password is the one hashed a step before (a counted check)."""
    await _reserve_hashing(session, telegram_user_id, now)
    return await verify_password(password_hash, repeat)


_dummy_hash: str | None = None


async def _dummy() -> str:
    """A hash to verify against when the e-mail is unknown, so both cases take as long."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = await hash_password(secrets.token_urlsafe(16))
    return _dummy_hash


# --- registration and activation -------------------------------------------------------------


async def register(
    session: AsyncSession,
    data: NewRegistration,
    *,
    telegram_user_id: int,
    now: datetime,
    caps: MailCaps,
) -> Registered:
    """Keep the registration pending and give the letter that activates it; nothing becomes a
    login before that. An address that already has a login gets a different letter (someone
    tried to register, here is how to reset the password) and nothing is stored; the caller
    shows the same reply either way. Raises MailTooSoon or MailQuotaExceeded (alike for both)."""
    email = normalize_email(data.email)
    await _reserve_letter(session, email, telegram_user_id=telegram_user_id, now=now, caps=caps)
    existing = await _login_by_email(session, email)
    if existing is not None:
        token, code = await _issue_reset(session, existing.id, now)
        _audit(session, "auth.register_existing", now=now, login_id=existing.id,
               telegram_user_id=telegram_user_id)  # fmt: skip
        await session.commit()
        letter = Outgoing(LetterKind.ALREADY_REGISTERED, email, existing.name, token, code)
        return Registered(letter, None)
    token, code = _new_secrets()
    pending = PendingRegistration(
        token_hash=_token_hash(token),
        code_hash=_code_hash(code),
        email=email,
        phone=data.phone,
        surname=data.surname,
        name=data.name,
        patronymic=data.patronymic,
        password_hash=data.password_hash,
        consent_version=data.consent_version,
        consent_at=data.consent_at,
        telegram_user_id=telegram_user_id,
        created_at=now,
        expires_at=now + TOKEN_TTL,
    )
    session.add(pending)
    await session.flush()
    _audit(session, "auth.register", now=now, telegram_user_id=telegram_user_id,
           details={"pending": pending.id})  # fmt: skip
    await session.commit()
    return Registered(Outgoing(LetterKind.ACTIVATION, email, data.name, token, code), pending.id)


async def resend_letter(
    session: AsyncSession,
    email: str,
    *,
    pending_id: int | None,
    telegram_user_id: int,
    now: datetime,
    caps: MailCaps,
) -> Outgoing:
    """«Отправить письмо ещё раз»: new secrets for the registrant's own pending registration
    (even an expired one), or the already-registered letter again when the address has a login.
    Raises MailTooSoon, MailQuotaExceeded, or RegistrationGone when there is nothing to renew."""
    email = _loose_email(email)
    login = await _login_by_email(session, email)
    pending = None
    if login is None and pending_id is not None:
        pending = await session.get(PendingRegistration, pending_id)
        if pending is not None and pending.email != email:
            pending = None
    if login is None and pending is None:
        raise RegistrationGone()
    await _reserve_letter(session, email, telegram_user_id=telegram_user_id, now=now, caps=caps)
    if login is not None:
        token, code = await _issue_reset(session, login.id, now)
        await session.commit()
        return Outgoing(LetterKind.ALREADY_REGISTERED, email, login.name, token, code)
    assert pending is not None
    token, code = _new_secrets()
    pending.token_hash = _token_hash(token)
    pending.code_hash = _code_hash(code)
    pending.expires_at = now + TOKEN_TTL
    await session.commit()
    return Outgoing(LetterKind.ACTIVATION, email, pending.name, token, code)


async def _activate(
    session: AsyncSession,
    pending: PendingRegistration,
    *,
    telegram_user_id: int,
    chat_id: int,
    now: datetime,
) -> SignedIn:
    """The pending registration becomes the login of its address and this user is logged in;
    the other pending registrations of the address are void."""
    if await _login_by_email(session, pending.email) is not None:
        raise BadToken(TokenProblem.USED, TokenPurpose.ACTIVATION)
    login = Login(
        email=pending.email,
        phone=pending.phone,
        surname=pending.surname,
        name=pending.name,
        patronymic=pending.patronymic,
        password_hash=pending.password_hash,
        consent_version=pending.consent_version,
        consent_at=pending.consent_at,
        activated_at=now,
        created_at=now,
    )
    session.add(login)
    try:
        await session.flush()
    except IntegrityError:  # another registration of the address was activated a moment ago
        await session.rollback()
        raise BadToken(TokenProblem.USED, TokenPurpose.ACTIVATION) from None
    session.add(Subscription(login_id=login.id, updated_at=now))
    # The used link is remembered (as a spent activation secret), so opening it again says
    # «уже использована» rather than «не подошла»; the registration's own row goes.
    session.add(
        EmailToken(
            login_id=login.id,
            purpose=TokenPurpose.ACTIVATION,
            token_hash=pending.token_hash,
            created_at=pending.created_at,
            expires_at=pending.expires_at,
            used_at=now,
        )
    )
    await session.execute(
        delete(PendingRegistration).where(PendingRegistration.email == pending.email)
    )
    await bind_login(session, telegram_user_id, chat_id, login.id)
    _audit(session, "auth.activate", now=now, login_id=login.id,
           telegram_user_id=telegram_user_id)  # fmt: skip
    _audit(session, "auth.login", now=now, login_id=login.id, telegram_user_id=telegram_user_id)
    await session.commit()
    return SignedIn(login.id, login.name)


async def _reserve_code(
    session: AsyncSession, telegram_user_id: int, now: datetime, subject: str | None = None
) -> list[attempts.Attempt]:
    """Count a code (and, typed with an address, against that address); raises TooManyCodes."""
    mine = await attempts.reserve(
        session, f"code:tg:{telegram_user_id}", now=now, window_start=now - CODE_WINDOW,
        limit=CODE_LIMIT,
    )  # fmt: skip
    if not mine.allowed:
        raise TooManyCodes(mine.blocked_until or now + CODE_LOCK)
    reserved = [mine]
    if subject is not None:
        theirs = await attempts.reserve(
            session, f"code:{subject}", now=now, window_start=now - CODE_ADDRESS_WINDOW,
            limit=CODE_ADDRESS_LIMIT,
        )  # fmt: skip
        if not theirs.allowed:
            await attempts.release(session, mine.key)
            await session.commit()
            raise TooManyCodes(now + CODE_LOCK)
        reserved.append(theirs)
    return reserved


async def _code_failed(
    session: AsyncSession, reserved: list[attempts.Attempt], now: datetime
) -> datetime | None:
    """A wrong code was counted; lock the Telegram user at the limit. Commits."""
    mine = reserved[0]
    until = None
    if mine.count >= CODE_LIMIT:
        until = now + CODE_LOCK
        await attempts.lock(session, mine.key, until)
    await session.commit()
    return until


async def _code_fine(session: AsyncSession, reserved: list[attempts.Attempt]) -> None:
    for attempt in reserved:
        await attempts.release(session, attempt.key)


async def _use_pending(
    session: AsyncSession,
    pending: PendingRegistration,
    *,
    telegram_user_id: int,
    chat_id: int,
    now: datetime,
    proven_pending_id: int | None,
) -> CodeUse:
    if pending.expires_at <= now:
        await session.commit()
        raise BadToken(TokenProblem.EXPIRED, TokenPurpose.ACTIVATION)
    if pending.telegram_user_id != telegram_user_id and pending.id != proven_pending_id:
        await session.commit()
        return CodeUse(CodeOutcome.NEEDS_PASSWORD, pending_id=pending.id, email=pending.email)
    signed_in = await _activate(
        session, pending, telegram_user_id=telegram_user_id, chat_id=chat_id, now=now
    )
    return CodeUse(CodeOutcome.ACTIVATED, signed_in=signed_in)


def _check_reset(token: EmailToken, now: datetime) -> None:
    if token.used_at is not None:
        raise BadToken(TokenProblem.USED, token.purpose)
    if token.expires_at <= now:
        raise BadToken(TokenProblem.EXPIRED, token.purpose)
    if token.purpose is not TokenPurpose.PASSWORD_RESET:
        raise BadToken(TokenProblem.UNKNOWN, token.purpose)


async def use_link(
    session: AsyncSession, raw: str, *, telegram_user_id: int, chat_id: int, now: datetime
) -> CodeUse:
    """A `/start` link from a letter. The registrant's own activation link logs them in; anyone
    else must then prove the registration's password. Raises BadToken or TooManyCodes."""
    if not looks_like_token(raw):
        raise BadToken(TokenProblem.UNKNOWN)
    reserved = await _reserve_code(session, telegram_user_id, now)
    digest = _token_hash(raw)
    pending = await session.scalar(
        select(PendingRegistration).where(PendingRegistration.token_hash == digest)
    )
    token = None
    if pending is None:
        token = await session.scalar(select(EmailToken).where(EmailToken.token_hash == digest))
    if pending is None and token is None:
        until = await _code_failed(session, reserved, now)
        if until is not None:
            raise TooManyCodes(until)
        raise BadToken(TokenProblem.UNKNOWN)
    await _code_fine(session, reserved)
    if pending is not None:
        return await _use_pending(
            session, pending, telegram_user_id=telegram_user_id, chat_id=chat_id, now=now,
            proven_pending_id=None,
        )  # fmt: skip
    assert token is not None
    await session.commit()
    _check_reset(token, now)
    return CodeUse(CodeOutcome.RESET, token_id=token.id)


async def use_code(
    session: AsyncSession,
    email: str,
    code: str,
    *,
    telegram_user_id: int,
    chat_id: int,
    now: datetime,
    pending_id: int | None = None,
) -> CodeUse:
    """A short code typed in a dialog that knows the address it was sent to. `pending_id`: a
    registration this dialog already proved (its password), activated like the user's own.
    Raises BadToken or TooManyCodes."""
    email = _loose_email(email)
    login = await _login_by_email(session, email)
    reserved = await _reserve_code(session, telegram_user_id, now, _subject(login, email))
    digest = _code_hash(code)
    token = None
    if login is not None:
        token = await session.scalar(
            select(EmailToken)
            .where(
                EmailToken.login_id == login.id,
                EmailToken.code_hash == digest,
                EmailToken.purpose == TokenPurpose.PASSWORD_RESET,
            )
            .order_by(EmailToken.id.desc())
            .limit(1)
        )
    pending = None
    if token is None:
        pending = await session.scalar(
            select(PendingRegistration)
            .where(PendingRegistration.email == email, PendingRegistration.code_hash == digest)
            .order_by(PendingRegistration.id.desc())
            .limit(1)
        )
    if token is None and pending is None:
        until = await _code_failed(session, reserved, now)
        if until is not None:
            raise TooManyCodes(until)
        raise BadToken(TokenProblem.UNKNOWN)
    await _code_fine(session, reserved)
    if pending is not None:
        return await _use_pending(
            session, pending, telegram_user_id=telegram_user_id, chat_id=chat_id, now=now,
            proven_pending_id=pending_id,
        )  # fmt: skip
    assert token is not None
    await session.commit()
    _check_reset(token, now)
    return CodeUse(CodeOutcome.RESET, token_id=token.id)


# --- login and logout ------------------------------------------------------------------------


def _pair_key(subject: str, telegram_user_id: int) -> str:
    return f"pw:{subject}:tg:{telegram_user_id}"


def _pause_after(count: int) -> timedelta:
    """The pause after the n-th failure of a login beyond its threshold: 5 s, 10 s, 20 s…"""
    beyond = max(0, count - LOGIN_SOFT_LIMIT - 1)
    pause: timedelta = FIRST_PAUSE * 2 ** min(beyond, 16)
    return min(pause, LONGEST_PAUSE)


async def login_gate(
    session: AsyncSession, email: str, *, telegram_user_id: int, now: datetime
) -> LoginGate:
    """Before asking the password: is this Telegram user locked out of the address, and does
    the address need a CAPTCHA (the same for addresses with and without a login)."""
    email = _loose_email(email)
    subject = _subject(await _login_by_email(session, email), email)
    locked = await attempts.blocked_until(session, _pair_key(subject, telegram_user_id), now=now)
    seen = await attempts.count(session, f"pw:{subject}", window_start=now - LOGIN_WINDOW)
    return LoginGate(locked_until=locked, captcha=seen >= LOGIN_SOFT_LIMIT)


async def _pending_with_password(
    session: AsyncSession, email: str, password: str
) -> PendingRegistration | None:
    """The newest pending registrations of the address whose password this is."""
    rows = (
        await session.scalars(
            select(PendingRegistration)
            .where(PendingRegistration.email == email)
            .order_by(PendingRegistration.id.desc())
            .limit(PENDING_PASSWORDS_CHECKED)
        )
    ).all()
    if not rows:
        await verify_password(await _dummy(), password)
        return None
    for pending in rows:
        if await verify_password(pending.password_hash, password):
            return pending
    return None


async def log_in(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    telegram_user_id: int,
    chat_id: int,
    now: datetime,
    captcha_solved: bool = False,
    pending_id: int | None = None,
) -> SignedIn:
    """Check e-mail and password and bind this Telegram user to the login.

    `pending_id`: a pending registration whose link this user opened; its right password
    activates it. Raises WrongCredentials (unknown e-mail and wrong password alike),
    LoginLocked (this user, this login), LoginPaused, CaptchaRequired, TooManyPasswordChecks
    or NotActivated."""
    email = _loose_email(email)
    login = await _login_by_email(session, email)
    subject = _subject(login, email)
    pair = await attempts.reserve(
        session, _pair_key(subject, telegram_user_id), now=now, window_start=now - PAIR_WINDOW,
        limit=PAIR_LIMIT,
    )  # fmt: skip
    if not pair.allowed:
        raise LoginLocked(pair.blocked_until or now + PAIR_LOCK)
    # Beyond the threshold only a solved CAPTCHA is evaluated, and its reservation pauses the
    # login at once, so concurrent tries cannot slip in before the pause after a failure is set.
    whole = await attempts.reserve(
        session, f"pw:{subject}", now=now, window_start=now - LOGIN_WINDOW,
        hold_from=LOGIN_SOFT_LIMIT + 1 if captcha_solved else None, hold_until=now + FIRST_PAUSE,
    )  # fmt: skip
    refusal: DomainError | None = None
    if not whole.allowed:
        refusal = LoginPaused(whole.blocked_until or now + FIRST_PAUSE)
    elif whole.count > LOGIN_SOFT_LIMIT and not captcha_solved:
        refusal = CaptchaRequired()
    else:
        try:
            await _reserve_hashing(session, telegram_user_id, now)
        except TooManyPasswordChecks as exc:
            refusal = exc
    if refusal is not None:
        await attempts.release(session, pair.key)
        if whole.allowed:
            await attempts.release(session, whole.key)
        await session.commit()
        raise refusal

    pending = None
    if login is not None:
        ok = await verify_password(login.password_hash, password)
    else:
        pending = await _pending_with_password(session, email, password)
        ok = pending is not None
    if not ok:
        alert = None
        if login is not None and whole.count == LOGIN_SOFT_LIMIT:
            alert = Outgoing(LetterKind.LOGIN_ALERT, login.email, login.name)
            _audit(session, "auth.login_alert", now=now, login_id=login.id,
                   details={"failures": whole.count})  # fmt: skip
        if whole.count > LOGIN_SOFT_LIMIT:
            await attempts.hold(session, whole.key, now + _pause_after(whole.count))
        _audit(session, "auth.login_failed", now=now, login_id=login.id if login else None,
               telegram_user_id=telegram_user_id,
               details={"reason": "wrong_password" if login else "unknown_email"})  # fmt: skip
        if pair.count >= PAIR_LIMIT:
            until = now + PAIR_LOCK
            await attempts.lock(session, pair.key, until)
            _audit(session, "auth.lockout", now=now, login_id=login.id if login else None,
                   telegram_user_id=telegram_user_id,
                   details={"minutes": int(PAIR_LOCK.total_seconds() // 60)})  # fmt: skip
            await session.commit()
            raise LoginLocked(until, alert)
        await session.commit()
        raise WrongCredentials(alert)

    await attempts.clear(session, pair.key)
    await attempts.release(session, whole.key)
    if login is None:
        assert pending is not None
        if pending.id == pending_id and pending.expires_at > now:
            return await _activate(
                session, pending, telegram_user_id=telegram_user_id, chat_id=chat_id, now=now
            )
        await session.commit()
        raise NotActivated(pending.id)
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


async def log_out_other_sessions(
    session: AsyncSession, login_id: int, *, except_telegram_user_id: int | None, event: str
) -> list[int]:
    """Log every other Telegram user of the login out and queue each a notice (after a password
    change); `event` makes the notices idempotent, e.g. «reset:17». The caller commits."""
    chats = await logout_everywhere(
        session, login_id, except_telegram_user_id=except_telegram_user_id
    )
    for chat in chats:
        await notifications.enqueue(
            session,
            kind=LOGGED_OUT_KIND,
            chat_id=chat,
            dedup_key=f"{event}:{chat}",
            login_id=login_id,
        )
    return chats


# --- password reset --------------------------------------------------------------------------


async def request_password_reset(
    session: AsyncSession,
    email: str,
    *,
    telegram_user_id: int,
    now: datetime,
    caps: MailCaps,
) -> Outgoing | None:
    """A reset letter when the address has a login. Counted against the caps either way, so
    the caller answers the same whatever this returns; raises MailTooSoon or MailQuotaExceeded."""
    email = normalize_email(email)
    await _reserve_letter(session, email, telegram_user_id=telegram_user_id, now=now, caps=caps)
    login = await _login_by_email(session, email)
    if login is None:
        return None
    token, code = await _issue_reset(session, login.id, now)
    _audit(session, "auth.reset_requested", now=now, login_id=login.id,
           telegram_user_id=telegram_user_id)  # fmt: skip
    await session.commit()
    return Outgoing(LetterKind.PASSWORD_RESET, email, login.name, token, code)


async def check_reset_token(session: AsyncSession, token_id: int, *, now: datetime) -> None:
    """Re-check a reset code a dialog accepted earlier (it may have expired or been used since
    on another device); raises BadToken."""
    token = await session.get(EmailToken, token_id)
    if token is None:
        raise BadToken(TokenProblem.UNKNOWN, TokenPurpose.PASSWORD_RESET)
    _check_reset(token, now)


async def reset_password(
    session: AsyncSession,
    token_id: int,
    password_hash: str,
    *,
    telegram_user_id: int,
    chat_id: int,
    now: datetime,
) -> SignedIn:
    """Use a reset code the dialog accepted (re-checked here): set the new password (already
    hashed), log out every other Telegram user of the login, log this one in."""
    token = await session.get(EmailToken, token_id)
    if token is None:
        raise BadToken(TokenProblem.UNKNOWN, TokenPurpose.PASSWORD_RESET)
    _check_reset(token, now)
    login = await session.get(Login, token.login_id)
    if login is None:
        raise BadToken(TokenProblem.UNKNOWN, TokenPurpose.PASSWORD_RESET)
    await session.execute(
        update(EmailToken)
        .where(
            EmailToken.login_id == login.id,
            EmailToken.purpose == TokenPurpose.PASSWORD_RESET,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    login.password_hash = password_hash
    login.password_changed_at = now
    chats = await log_out_other_sessions(
        session, login.id, except_telegram_user_id=telegram_user_id, event=f"reset:{token.id}"
    )
    await bind_login(session, telegram_user_id, chat_id, login.id)
    subject = _subject(login, login.email)
    await attempts.clear(
        session, _pair_key(subject, telegram_user_id), f"pw:{subject}", f"code:{subject}"
    )
    _audit(session, "auth.password_reset", now=now, login_id=login.id,
           telegram_user_id=telegram_user_id, details={"sessions_closed": len(chats)})  # fmt: skip
    await session.commit()
    return SignedIn(login.id, login.name, tuple(chats))


# --- housekeeping ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Purged:
    pending: int
    tokens: int
    counters: int


async def purge_expired(session: AsyncSession, *, now: datetime) -> Purged:
    """Delete what outlived its use: pending registrations (names, phones, password hashes) a
    day after they expired, letter secrets a week after, attempt counters after two days."""
    pending = await session.execute(
        delete(PendingRegistration).where(PendingRegistration.expires_at < now - PENDING_KEPT)
    )
    tokens = await session.execute(
        delete(EmailToken).where(
            or_(EmailToken.expires_at < now - TOKENS_KEPT, EmailToken.used_at < now - TOKENS_KEPT)
        )
    )
    await session.commit()
    counters = await attempts.purge(session, before=now - COUNTERS_KEPT)
    return Purged(
        int(getattr(pending, "rowcount", 0) or 0),
        int(getattr(tokens, "rowcount", 0) or 0),
        counters,
    )


__all__ = [
    "BadToken",
    "CaptchaRequired",
    "CodeOutcome",
    "CodeUse",
    "LetterKind",
    "LoginGate",
    "LoginLocked",
    "LoginPaused",
    "MailCaps",
    "MailQuota",
    "MailQuotaExceeded",
    "MailTooSoon",
    "NewRegistration",
    "NotActivated",
    "Outgoing",
    "Purged",
    "Registered",
    "RegistrationGone",
    "SignedIn",
    "TokenProblem",
    "TooManyCodes",
    "TooManyPasswordChecks",
    "WrongCredentials",
    "check_new_password",
    "check_reset_token",
    "confirm_new_password",
    "hash_new_password",
    "log_in",
    "log_out",
    "log_out_other_sessions",
    "login_gate",
    "looks_like_code",
    "looks_like_password",
    "looks_like_token",
    "purge_expired",
    "register",
    "request_password_reset",
    "resend_letter",
    "reset_password",
    "take_new_password",
    "use_code",
    "use_link",
]
