"""Appeals (обращения) to the supplier's staff and the messages of each conversation."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, CreatedAtMixin


def _values(enum_cls: type[enum.Enum]) -> list[str]:
    return [str(m.value) for m in enum_cls]


class AppealTopic(enum.StrEnum):
    """The ten topics of the web cabinet's «Тема» list, in the manual's order."""

    ACCOUNT_CHANGES = "account_changes"
    OTHER = "other"
    SERVICE_QUALITY = "service_quality"
    APPEAL = "appeal"
    GENERAL = "general"
    PAID_SERVICES = "paid_services"
    SUGGESTIONS = "suggestions"
    METERS = "meters"
    ANTI_CORRUPTION = "anti_corruption"
    BILLING_DEBT = "billing_debt"


class AppealStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    CLOSED = "closed"


class Appeal(CreatedAtMixin, Base):
    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    login_id: Mapped[int] = mapped_column(ForeignKey("logins.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    topic: Mapped[AppealTopic] = mapped_column(
        Enum(AppealTopic, native_enum=False, length=30, values_callable=_values)
    )
    status: Mapped[AppealStatus] = mapped_column(
        Enum(AppealStatus, native_enum=False, length=20, values_callable=_values),
        default=AppealStatus.OPEN,
    )
    staff_thread_id: Mapped[int | None] = mapped_column(BigInteger, comment="forum topic, if any")
    closed_at: Mapped[datetime | None]
    number: Mapped[str | None] = mapped_column(String(20), unique=True, comment="О-2026-000042")
    staff_chat_id: Mapped[int | None] = mapped_column(
        BigInteger, comment="the staff chat the appeal is handled in"
    )
    staff_card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    thread_claimed_at: Mapped[datetime | None] = mapped_column(
        comment="a bot process is creating the forum topic (one topic per appeal)"
    )
    taken_by_id: Mapped[int | None] = mapped_column(BigInteger)
    taken_by_name: Mapped[str | None] = mapped_column(String(200))
    awaiting_since: Mapped[datetime | None] = mapped_column(
        index=True, comment="the subscriber's oldest unanswered message"
    )

    messages: Mapped[list[AppealMessage]] = relationship(order_by="AppealMessage.id")


class MessageDirection(enum.StrEnum):
    FROM_SUBSCRIBER = "from_subscriber"
    FROM_STAFF = "from_staff"


class AppealMessage(CreatedAtMixin, Base):
    __tablename__ = "appeal_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"), index=True)
    direction: Mapped[MessageDirection] = mapped_column(
        Enum(MessageDirection, native_enum=False, length=20, values_callable=_values)
    )
    author_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    author_name: Mapped[str | None] = mapped_column(
        String(200), comment="staff member shown to subscriber"
    )
    body: Mapped[str] = mapped_column(Text)
    staff_chat_message_id: Mapped[int | None] = mapped_column(
        BigInteger, index=True, comment="the card in the staff chat staff reply to"
    )
    read_at: Mapped[datetime | None]

    attachments: Mapped[list[AppealAttachment]] = relationship()


class AppealAttachment(Base):
    __tablename__ = "appeal_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("appeal_messages.id", ondelete="CASCADE"), index=True
    )
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="RESTRICT"))


class AppealStaffMessage(Base):
    """A message of an appeal in a staff chat (card, follow-up, attachment): a staff reply to
    any of them is an answer to that appeal."""

    __tablename__ = "appeal_staff_messages"
    __table_args__ = (UniqueConstraint("chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
