"""A login of the web cabinet (e-mail + password) and the Telegram identities bound to it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, CreatedAtMixin


class Login(CreatedAtMixin, Base):
    __tablename__ = "logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, comment="normalised, lower case")
    phone: Mapped[str] = mapped_column(String(20), comment="E.164")
    surname: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    patronymic: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    activated_at: Mapped[datetime | None]
    consent_version: Mapped[str] = mapped_column(String(32))
    consent_at: Mapped[datetime]
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column(
        comment="152-ФЗ: consent withdrawn, personal data erased (billing history kept)"
    )
    password_changed_at: Mapped[datetime | None]

    identities: Mapped[list[TelegramIdentity]] = relationship(back_populates="login")

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.surname, self.name, self.patronymic) if p)


class TelegramIdentity(CreatedAtMixin, Base):
    """A Telegram user; bound to at most one login at a time (None = logged out)."""

    __tablename__ = "telegram_identities"

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    login_id: Mapped[int | None] = mapped_column(
        ForeignKey("logins.id", ondelete="SET NULL"), index=True
    )
    logged_in_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    blocked_bot_at: Mapped[datetime | None] = mapped_column(
        comment="set when the user blocked the bot"
    )

    login: Mapped[Login | None] = relationship(back_populates="identities")


class TokenPurpose(enum.StrEnum):
    ACTIVATION = "activation"
    PASSWORD_RESET = "password_reset"
    EMAIL_CHANGE = "email_change"


class EmailToken(CreatedAtMixin, Base):
    """Single-use secret sent by e-mail; only its hash is stored."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    login_id: Mapped[int] = mapped_column(ForeignKey("logins.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(
        Enum(
            TokenPurpose,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str | None] = mapped_column(
        String(64), comment="of the short code typed by hand; checked with the e-mail"
    )
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    new_email: Mapped[str | None] = mapped_column(
        String(254), comment="an e-mail change: the new address this secret confirms"
    )


class PendingRegistration(CreatedAtMixin, Base):
    """A registration waiting for its e-mail to be confirmed; it becomes a Login only then.

    Until activation nothing exists under the address: registering an address someone else owns
    creates no login, and several pending registrations of one address may wait side by side."""

    __tablename__ = "pending_registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, comment="of the link token")
    code_hash: Mapped[str] = mapped_column(String(64), comment="of the short code")
    email: Mapped[str] = mapped_column(String(254), index=True, comment="normalised, lower case")
    phone: Mapped[str] = mapped_column(String(20), comment="E.164")
    surname: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    patronymic: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    consent_version: Mapped[str] = mapped_column(String(32))
    consent_at: Mapped[datetime]
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, comment="who registered")
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AttemptCounter(Base):
    """Failed attempts of something rate-limited (login, account linking), keyed by subject."""

    __tablename__ = "attempt_counters"

    key: Mapped[str] = mapped_column(
        String(100), primary_key=True, comment="e.g. login:42, tg:1001"
    )
    failures: Mapped[int] = mapped_column(Integer, default=0)  # attempts reserved, not handed back
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
