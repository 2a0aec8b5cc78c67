"""«⚙️ Настройки»: the profile (phone, names, e-mail with confirmation), subscriptions, the
password change and the erasure of personal data (152-ФЗ).

An e-mail change is a letter to the new address with a link token and a short code, counted
and stored like the letters of `services.auth` (hashes only, 24 hours, once); the login's
address changes only when one of them comes back. The old password is checked against a
counter in `services.attempts` before each hash check. Erasure anonymises the login in place:
its bills, payments and readings stay tied to it (the law keeps them); contract applications
and appeals go with their files, and the consent shows when it was withdrawn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    AccountLink,
    Appeal,
    AppealAttachment,
    AppealMessage,
    ContractApplication,
    ContractDocument,
    EmailToken,
    Login,
    Notification,
    OutboxStatus,
    PendingRegistration,
    StoredFile,
    Subscription,
    TelegramIdentity,
    TokenPurpose,
)
from services import attempts, auth, notifications
from services.errors import DomainError, NotFound
from services.validation import normalize_email

# Wrong old passwords in «Сменить пароль», per login and Telegram user: a short lock.
OLD_PASSWORD_LIMIT = 5
OLD_PASSWORD_WINDOW = timedelta(minutes=15)
OLD_PASSWORD_LOCK = timedelta(minutes=15)
ERASED_KIND = "settings.erased"
ERASED_DOMAIN = "erased.invalid"  # RFC 2606: never a real address


# --- errors ----------------------------------------------------------------------------------


class EmailUnchanged(DomainError):
    """The new address is the login's address already."""


class EmailTaken(DomainError):
    """Another login has this address."""


class WrongPassword(DomainError):
    """The current password typed in «Сменить пароль» is wrong; `left` tries before a lock."""

    def __init__(self, left: int) -> None:
        super().__init__("wrong current password")
        self.left = left


class PasswordChangeLocked(DomainError):
    """Too many wrong current passwords; «Сменить пароль» opens again at `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__("password change locked")
        self.until = until


class SmsNeedsPhone(DomainError):
    """SMS cannot be switched on for a login without a phone number."""


# --- the profile -----------------------------------------------------------------------------


class Field(enum.StrEnum):
    """What the profile dialog edits one at a time (the e-mail has its own dialog)."""

    PHONE = "phone"
    SURNAME = "surname"
    NAME = "name"
    PATRONYMIC = "patronymic"


@dataclass(frozen=True, slots=True)
class Profile:
    login_id: int
    email: str
    phone: str
    surname: str
    name: str
    patronymic: str | None
    pending_email: str | None = None  # an e-mail change waiting for its letter to come back

    def value(self, field: Field) -> str | None:
        return {
            Field.PHONE: self.phone,
            Field.SURNAME: self.surname,
            Field.NAME: self.name,
            Field.PATRONYMIC: self.patronymic,
        }[field]


def _profile(login: Login) -> Profile:
    return Profile(login.id, login.email, login.phone, login.surname, login.name, login.patronymic)


async def _login(session: AsyncSession, login_id: int) -> Login:
    login = await session.get(Login, login_id)
    if login is None or login.consent_withdrawn_at is not None:
        raise NotFound(f"login {login_id}")
    return login


async def get_profile(
    session: AsyncSession, login_id: int, *, now: datetime | None = None
) -> Profile:
    """The profile; with `now`, also the new address an e-mail change waits to confirm."""
    found = _profile(await _login(session, login_id))
    if now is None:
        return found
    pending = await pending_email_change(session, login_id, now=now)
    return dataclasses.replace(found, pending_email=pending)


async def save_profile(
    session: AsyncSession,
    login_id: int,
    values: dict[Field, str | None],
    *,
    telegram_user_id: int,
    now: datetime,
) -> tuple[Profile, list[Field]]:
    """Store the fields a dialog collected (already normalised by `services.validation`);
    returns the profile and which fields really changed. Surname, name and phone cannot be
    emptied; the patronymic can."""
    login = await _login(session, login_id)
    changed: list[Field] = []
    for field, value in values.items():
        if field is not Field.PATRONYMIC and not value:
            raise ValueError(f"{field} cannot be empty")
        if _profile(login).value(field) != value:
            setattr(login, field.value, value)
            changed.append(field)
    if changed:
        auth._audit(session, "profile.updated", now=now, login_id=login.id,
                    telegram_user_id=telegram_user_id,
                    details={"fields": [f.value for f in changed]})  # fmt: skip
    await session.commit()
    return _profile(login), changed


# --- the e-mail change -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailChangeLetter:
    """The letter that confirms a new address: to it, with the secrets."""

    email: str
    name: str
    token: str
    code: str


@dataclass(frozen=True, slots=True)
class EmailChanged:
    """A confirmed change; the old address is told (`old_email`)."""

    login_id: int
    name: str
    old_email: str
    new_email: str


async def request_email_change(
    session: AsyncSession,
    login_id: int,
    new_email: str,
    *,
    telegram_user_id: int,
    now: datetime,
    caps: auth.MailCaps,
) -> EmailChangeLetter:
    """A letter with a link and a code to the new address; the login keeps its address until
    one of them comes back. Only the newest request works. Raises InvalidEmail,
    EmailUnchanged, MailTooSoon, MailQuotaExceeded or EmailTaken (counted as a letter, so
    probing whose address is registered is as limited as sending letters)."""
    login = await _login(session, login_id)
    email = normalize_email(new_email)
    if email == login.email:
        raise EmailUnchanged()
    await auth._reserve_letter(
        session, email, telegram_user_id=telegram_user_id, now=now, caps=caps
    )
    if await auth._login_by_email(session, email) is not None:
        raise EmailTaken()
    await session.execute(
        delete(EmailToken).where(
            EmailToken.login_id == login.id,
            EmailToken.purpose == TokenPurpose.EMAIL_CHANGE,
            EmailToken.used_at.is_(None),
        )
    )
    token, code = auth._new_secrets()
    session.add(
        EmailToken(
            login_id=login.id,
            purpose=TokenPurpose.EMAIL_CHANGE,
            token_hash=auth._token_hash(token),
            code_hash=auth._code_hash(code),
            new_email=email,
            created_at=now,
            expires_at=now + auth.TOKEN_TTL,
        )
    )
    auth._audit(session, "profile.email_change_requested", now=now, login_id=login.id,
                telegram_user_id=telegram_user_id)  # fmt: skip
    await session.commit()
    return EmailChangeLetter(email, login.name, token, code)


async def pending_email_change(
    session: AsyncSession, login_id: int, *, now: datetime
) -> str | None:
    """The new address waiting for its letter to come back, if any."""
    email: str | None = await session.scalar(
        select(EmailToken.new_email)
        .where(
            EmailToken.login_id == login_id,
            EmailToken.purpose == TokenPurpose.EMAIL_CHANGE,
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > now,
        )
        .order_by(EmailToken.id.desc())
        .limit(1)
    )
    return email


async def _apply_email_change(
    session: AsyncSession, token: EmailToken, *, telegram_user_id: int, now: datetime
) -> EmailChanged:
    if token.used_at is not None:
        raise auth.BadToken(auth.TokenProblem.USED, TokenPurpose.EMAIL_CHANGE)
    if token.expires_at <= now:
        raise auth.BadToken(auth.TokenProblem.EXPIRED, TokenPurpose.EMAIL_CHANGE)
    login = await session.get(Login, token.login_id)
    if login is None or login.consent_withdrawn_at is not None or token.new_email is None:
        raise auth.BadToken(auth.TokenProblem.UNKNOWN, TokenPurpose.EMAIL_CHANGE)
    old_email, new_email, login_id, name = login.email, token.new_email, login.id, login.name
    token.used_at = now
    login.email = new_email
    auth._audit(session, "profile.email_changed", now=now, login_id=login_id,
                telegram_user_id=telegram_user_id)  # fmt: skip
    try:
        await session.commit()
    except IntegrityError:  # someone registered the address meanwhile
        await session.rollback()
        raise EmailTaken() from None
    return EmailChanged(login_id, name, old_email, new_email)


async def _use(
    session: AsyncSession,
    reserved: list[attempts.Attempt],
    token: EmailToken | None,
    *,
    telegram_user_id: int,
    now: datetime,
) -> EmailChanged:
    """A counted link or code: a miss counts (and may lock), a hit is handed back and used."""
    if token is None:
        until = await auth._code_failed(session, reserved, now)
        if until is not None:
            raise auth.TooManyCodes(until)
        raise auth.BadToken(auth.TokenProblem.UNKNOWN, TokenPurpose.EMAIL_CHANGE)
    await auth._code_fine(session, reserved)
    return await _apply_email_change(session, token, telegram_user_id=telegram_user_id, now=now)


async def confirm_email_change_link(
    session: AsyncSession, raw: str, *, telegram_user_id: int, now: datetime
) -> EmailChanged:
    """The link from the letter (whoever opens it: it proves the mailbox). Raises BadToken,
    TooManyCodes or EmailTaken."""
    if not auth.looks_like_token(raw):
        raise auth.BadToken(auth.TokenProblem.UNKNOWN, TokenPurpose.EMAIL_CHANGE)
    reserved = await auth._reserve_code(session, telegram_user_id, now)
    token = await session.scalar(
        select(EmailToken).where(
            EmailToken.token_hash == auth._token_hash(raw),
            EmailToken.purpose == TokenPurpose.EMAIL_CHANGE,
        )
    )
    return await _use(session, reserved, token, telegram_user_id=telegram_user_id, now=now)


async def confirm_email_change_code(
    session: AsyncSession, login_id: int, code: str, *, telegram_user_id: int, now: datetime
) -> EmailChanged:
    """The short code typed in the dialog of the login that asked for the change. Raises
    BadToken, TooManyCodes or EmailTaken."""
    reserved = await auth._reserve_code(session, telegram_user_id, now, f"login:{login_id}")
    token = await session.scalar(
        select(EmailToken)
        .where(
            EmailToken.login_id == login_id,
            EmailToken.purpose == TokenPurpose.EMAIL_CHANGE,
            EmailToken.code_hash == auth._code_hash(code),
        )
        .order_by(EmailToken.id.desc())
        .limit(1)
    )
    return await _use(session, reserved, token, telegram_user_id=telegram_user_id, now=now)


# --- subscriptions ---------------------------------------------------------------------------


class Topic(enum.StrEnum):
    READINGS = "reading_reminders"
    BILL = "monthly_bill"
    SMS = "sms"


@dataclass(frozen=True, slots=True)
class Subscriptions:
    reading_reminders: bool
    monthly_bill: bool
    sms: bool
    has_phone: bool

    def on(self, topic: Topic) -> bool:
        return bool(getattr(self, topic.value))


async def _subscription(session: AsyncSession, login: Login, now: datetime) -> Subscription:
    row = await session.get(Subscription, login.id)
    if row is None:
        row = Subscription(login_id=login.id, updated_at=now)
        session.add(row)
        await session.flush()
    return row


def _subscriptions(row: Subscription, login: Login) -> Subscriptions:
    return Subscriptions(row.reading_reminders, row.monthly_bill, row.sms, bool(login.phone))


async def get_subscriptions(
    session: AsyncSession, login_id: int, *, now: datetime
) -> Subscriptions:
    """The login's subscriptions (the defaults are stored on first look)."""
    login = await _login(session, login_id)
    row = await _subscription(session, login, now)
    result = _subscriptions(row, login)
    await session.commit()
    return result


async def set_subscription(
    session: AsyncSession, login_id: int, topic: Topic, on: bool, *, now: datetime
) -> tuple[Subscriptions, bool]:
    """Switch one subscription to `on` (a repeated press changes nothing); returns the state
    and whether it changed. Raises SmsNeedsPhone."""
    login = await _login(session, login_id)
    row = await _subscription(session, login, now)
    if topic is Topic.SMS and on and not login.phone:
        await session.commit()
        raise SmsNeedsPhone()
    changed = bool(getattr(row, topic.value)) != on
    if changed:
        setattr(row, topic.value, on)
        row.updated_at = now
    result = _subscriptions(row, login)
    await session.commit()
    return result, changed


# --- the password change ---------------------------------------------------------------------


def _old_password_key(login_id: int, telegram_user_id: int) -> str:
    return f"pwchange:login:{login_id}:tg:{telegram_user_id}"


async def password_change_locked_until(
    session: AsyncSession, login_id: int, *, telegram_user_id: int, now: datetime
) -> datetime | None:
    return await attempts.blocked_until(
        session, _old_password_key(login_id, telegram_user_id), now=now
    )


async def check_current_password(
    session: AsyncSession, login_id: int, password: str, *, telegram_user_id: int, now: datetime
) -> None:
    """The first step of «Сменить пароль». Raises WrongPassword, PasswordChangeLocked or
    TooManyPasswordChecks (the hashing limit of `services.auth`)."""
    login = await _login(session, login_id)
    attempt = await attempts.reserve(
        session, _old_password_key(login_id, telegram_user_id), now=now,
        window_start=now - OLD_PASSWORD_WINDOW, limit=OLD_PASSWORD_LIMIT,
    )  # fmt: skip
    if not attempt.allowed:
        raise PasswordChangeLocked(attempt.blocked_until or now + OLD_PASSWORD_LOCK)
    try:
        right = await auth.confirm_new_password(
            session, login.password_hash, password, telegram_user_id=telegram_user_id, now=now
        )
    except auth.TooManyPasswordChecks:
        await attempts.release(session, attempt.key)
        await session.commit()
        raise
    if right:
        await attempts.clear(session, attempt.key)
        await session.commit()
        return
    auth._audit(session, "profile.password_check_failed", now=now, login_id=login_id,
                telegram_user_id=telegram_user_id)  # fmt: skip
    if attempt.count >= OLD_PASSWORD_LIMIT:
        until = now + OLD_PASSWORD_LOCK
        await attempts.lock(session, attempt.key, until)
        await session.commit()
        raise PasswordChangeLocked(until)
    await session.commit()
    raise WrongPassword(attempt.left(OLD_PASSWORD_LIMIT))


async def change_password(
    session: AsyncSession,
    login_id: int,
    password_hash: str,
    *,
    telegram_user_id: int,
    now: datetime,
) -> list[int]:
    """Set the new password (hashed by `auth.take_new_password`), log every other Telegram
    user of the login out and queue each a notice; returns their (private) chats."""
    login = await _login(session, login_id)
    login.password_hash = password_hash
    login.password_changed_at = now
    chats = await auth.log_out_other_sessions(
        session, login.id, except_telegram_user_id=telegram_user_id,
        event=f"password:{login.id}:{int(now.timestamp() * 1000)}",
    )  # fmt: skip
    auth._audit(session, "profile.password_changed", now=now, login_id=login.id,
                telegram_user_id=telegram_user_id, details={"sessions_closed": len(chats)})  # fmt: skip
    await session.commit()
    return chats


# --- erasure (152-ФЗ) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Erased:
    """Who was logged out: Telegram users whose dialog data the caller must forget too."""

    telegram_user_ids: tuple[int, ...]


async def _erase_papers(session: AsyncSession, login_id: int) -> set[str]:
    """Delete the login's contract applications and appeals with their documents and
    attachments; returns the stored files' paths (relative to UPLOAD_DIR) nothing else uses."""
    applications = select(ContractApplication.id).where(ContractApplication.login_id == login_id)
    appeals = select(Appeal.id).where(Appeal.login_id == login_id)
    messages = select(AppealMessage.id).where(AppealMessage.appeal_id.in_(appeals))
    file_ids = set(
        await session.scalars(
            select(ContractDocument.stored_file_id).where(
                ContractDocument.application_id.in_(applications)
            )
        )
    ) | set(
        await session.scalars(
            select(AppealAttachment.stored_file_id).where(AppealAttachment.message_id.in_(messages))
        )
    )
    paths = set(
        await session.scalars(select(StoredFile.storage_path).where(StoredFile.id.in_(file_ids)))
    )
    await session.execute(delete(AppealAttachment).where(AppealAttachment.message_id.in_(messages)))
    await session.execute(delete(AppealMessage).where(AppealMessage.appeal_id.in_(appeals)))
    await session.execute(delete(Appeal).where(Appeal.login_id == login_id))
    await session.execute(
        delete(ContractDocument).where(ContractDocument.application_id.in_(applications))
    )
    await session.execute(
        delete(ContractApplication).where(ContractApplication.login_id == login_id)
    )
    await session.execute(delete(StoredFile).where(StoredFile.id.in_(file_ids)))
    shared = set(
        await session.scalars(
            select(StoredFile.storage_path).where(StoredFile.storage_path.in_(paths))
        )
    )
    return paths - shared


def _remove_files(upload_dir: Path, paths: Iterable[str]) -> None:
    for path in paths:
        (upload_dir / path).unlink(missing_ok=True)


async def erase_personal_data(
    session: AsyncSession,
    login_id: int,
    *,
    telegram_user_id: int,
    now: datetime,
    upload_dir: Path,
) -> Erased:
    """Withdraw the consent and erase the login's personal data: e-mail, phone, names and
    password hash are overwritten, every Telegram user is logged out (the others are told),
    contract applications and appeals go with their files, and so do links to accounts,
    subscriptions, letters' secrets and queued notices. Bills, payments and readings stay with
    the anonymised login: accounting law keeps them (402-ФЗ, 5 years)."""
    login = await _login(session, login_id)
    orphaned = await _erase_papers(session, login.id)
    identities = (
        await session.scalars(select(TelegramIdentity).where(TelegramIdentity.login_id == login.id))
    ).all()
    users = tuple(i.telegram_user_id for i in identities)
    await session.execute(
        delete(Notification).where(
            Notification.login_id == login.id, Notification.status == OutboxStatus.PENDING
        )
    )
    for identity in identities:
        identity.login_id = None
        identity.logged_in_at = None
        if identity.telegram_user_id != telegram_user_id:
            await notifications.enqueue(
                session, kind=ERASED_KIND, chat_id=identity.chat_id,
                dedup_key=f"erased:{login.id}:{identity.chat_id}", now=now,
            )  # fmt: skip
    await session.execute(
        delete(PendingRegistration).where(PendingRegistration.email == login.email)
    )
    await session.execute(delete(EmailToken).where(EmailToken.login_id == login.id))
    await session.execute(delete(AccountLink).where(AccountLink.login_id == login.id))
    await session.execute(delete(Subscription).where(Subscription.login_id == login.id))
    await session.execute(
        update(Login)
        .where(Login.id == login.id)
        .values(
            email=f"erased-{login.id}@{ERASED_DOMAIN}",
            phone="",
            surname="",
            name="",
            patronymic=None,
            password_hash="",
            consent_withdrawn_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    await attempts.clear(
        session, _old_password_key(login.id, telegram_user_id), f"pw:login:{login.id}",
        f"code:login:{login.id}",
    )  # fmt: skip
    auth._audit(session, "profile.erased", now=now, login_id=login.id,
                telegram_user_id=telegram_user_id,
                details={"consent_version": login.consent_version,
                         "sessions_closed": len(users)})  # fmt: skip
    await session.commit()
    await asyncio.to_thread(_remove_files, upload_dir, orphaned)
    return Erased(users)


__all__ = [
    "EmailChangeLetter",
    "EmailChanged",
    "EmailTaken",
    "EmailUnchanged",
    "Erased",
    "Field",
    "PasswordChangeLocked",
    "Profile",
    "SmsNeedsPhone",
    "Subscriptions",
    "Topic",
    "WrongPassword",
    "change_password",
    "check_current_password",
    "confirm_email_change_code",
    "confirm_email_change_link",
    "erase_personal_data",
    "get_profile",
    "get_subscriptions",
    "password_change_locked_until",
    "pending_email_change",
    "request_email_change",
    "save_profile",
    "set_subscription",
]
