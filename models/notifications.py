"""Subscriptions (Мои подписки) and the outbox of notifications the bot pushes."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, CreatedAtMixin, utcnow


class Subscription(Base):
    __tablename__ = "subscriptions"

    login_id: Mapped[int] = mapped_column(
        ForeignKey("logins.id", ondelete="CASCADE"), primary_key=True
    )
    reading_reminders: Mapped[bool] = mapped_column(default=True)
    monthly_bill: Mapped[bool] = mapped_column(default=True)
    sms: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _values(enum_cls: type[enum.Enum]) -> list[str]:
    return [str(m.value) for m in enum_cls]


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SNOOZED = "snoozed"  # a «Напомнить завтра» reminder, released by the reminders pass of its day


class Channel(enum.StrEnum):
    """How a notification reaches its subscriber."""

    TELEGRAM = "telegram"
    SMS = "sms"


class Notification(CreatedAtMixin, Base):
    """A message to deliver, queued in the same transaction as the event that caused it."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True, comment="0 for an SMS")
    channel: Mapped[Channel] = mapped_column(
        Enum(Channel, native_enum=False, length=10, values_callable=_values),
        default=Channel.TELEGRAM,
        server_default=Channel.TELEGRAM.value,
    )
    login_id: Mapped[int | None] = mapped_column(ForeignKey("logins.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=20, values_callable=_values),
        default=OutboxStatus.PENDING,
        index=True,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class JobRun(Base):
    """A scheduled job's pass that is done: the reminders of one day, the bills of one period.

    Written in the same transaction as the notifications the pass queued, so a pass happens
    once however many bot processes run it and however long the bot was down."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime] = mapped_column(default=utcnow)
