"""Appeals («Общение»): the subscriber writes on one of the manual's ten topics, staff answer.

An appeal moves OPEN → IN_PROGRESS («Взять в работу») → ANSWERED (a staff reply) → CLOSED;
a subscriber's follow-up puts an answered appeal back to work, and a closed one can be reopened
within `REOPEN_DAYS`. Every message of an appeal posted to a staff chat is remembered, so a
staff reply to any of them (or a message in the appeal's forum topic) answers that appeal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Account,
    Appeal,
    AppealAttachment,
    AppealMessage,
    AppealStaffMessage,
    AppealStatus,
    AppealTopic,
    AuditEvent,
    Login,
    MessageDirection,
    StoredFile,
    TelegramIdentity,
)
from services.errors import DomainError, NotFound
from services.files import safe_display_name
from services.notifications import enqueue

MAX_TEXT = 3000
MAX_ATTACHMENTS = 5
REOPEN_DAYS = 7
THREAD_CLAIM_TTL = timedelta(seconds=30)
SLA_KIND = "appeal_sla"
STATUS_KIND = "appeal_status"
NUMBER_IN_TEXT = re.compile(r"О-\d{4}-\d{6}")
# The «Тема» list of the web cabinet, in the manual's order.
TOPICS: tuple[AppealTopic, ...] = tuple(AppealTopic)


class EmptyText(DomainError):
    pass


class TextTooLong(DomainError):
    def __init__(self, length: int) -> None:
        super().__init__(f"{length} characters, at most {MAX_TEXT}")
        self.length = length


class TooManyAttachments(DomainError):
    pass


class AppealClosed(DomainError):
    """Closed more than REOPEN_DAYS ago: the subscriber is offered a new appeal instead."""


class AlreadyClosed(DomainError):
    """Staff acted on an appeal that is closed."""


@dataclass(frozen=True, slots=True)
class AttachmentView:
    stored_file_id: int
    filename: str
    staff_filename: str
    mime_type: str
    storage_path: str
    telegram_file_id: str | None


@dataclass(frozen=True, slots=True)
class MessageView:
    id: int
    direction: MessageDirection
    body: str
    author_name: str | None
    created_at: datetime
    attachments: tuple[AttachmentView, ...]


@dataclass(frozen=True, slots=True)
class AppealView:
    id: int
    number: str
    topic: AppealTopic
    status: AppealStatus
    login_id: int
    account_number: str | None
    subscriber_name: str
    phone: str
    email: str
    created_at: datetime
    closed_at: datetime | None
    awaiting_since: datetime | None
    staff_chat_id: int | None
    staff_card_message_id: int | None
    staff_thread_id: int | None
    taken_by_id: int | None
    taken_by_name: str | None
    messages: tuple[MessageView, ...]

    @property
    def first_message(self) -> MessageView | None:
        return self.messages[0] if self.messages else None


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A subscriber's message added to an appeal (possibly reopening it)."""

    appeal: AppealView
    message: MessageView
    reopened: bool


def clean_text(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise EmptyText("empty")
    if len(cleaned) > MAX_TEXT:
        raise TextTooLong(len(cleaned))
    return cleaned


def appeal_number(appeal_id: int, year: int) -> str:
    """«О-2026-000042»: the year of submission and the row id."""
    return f"О-{year}-{appeal_id:06d}"


def staff_chat_for(
    topic: AppealTopic, staff_chat_id: int | None, anticorruption_chat_id: int | None
) -> int | None:
    """«Противодействие коррупции» goes to its own chat when one is configured."""
    if topic is AppealTopic.ANTI_CORRUPTION and anticorruption_chat_id is not None:
        return anticorruption_chat_id
    return staff_chat_id


def can_reopen(appeal: AppealView, now: datetime) -> bool:
    return (
        appeal.status is AppealStatus.CLOSED
        and appeal.closed_at is not None
        and now - appeal.closed_at <= timedelta(days=REOPEN_DAYS)
    )


def accepts_messages(appeal: AppealView, now: datetime) -> bool:
    return appeal.status is not AppealStatus.CLOSED or can_reopen(appeal, now)


# --- reading ---------------------------------------------------------------------------------


async def _load(session: AsyncSession, appeal_id: int) -> Appeal:
    appeal = await session.get(Appeal, appeal_id)
    if appeal is None:
        raise NotFound(f"appeal {appeal_id}")
    return appeal


async def _view(session: AsyncSession, appeal: Appeal) -> AppealView:
    login = await session.get(Login, appeal.login_id)
    account_number = None
    if appeal.account_id is not None:
        account_number = await session.scalar(
            select(Account.number).where(Account.id == appeal.account_id)
        )
    messages = (
        await session.scalars(
            select(AppealMessage)
            .where(AppealMessage.appeal_id == appeal.id)
            .order_by(AppealMessage.id)
        )
    ).all()
    files = await session.execute(
        select(AppealAttachment.message_id, StoredFile)
        .join(StoredFile, StoredFile.id == AppealAttachment.stored_file_id)
        .join(AppealMessage, AppealMessage.id == AppealAttachment.message_id)
        .where(AppealMessage.appeal_id == appeal.id)
        .order_by(AppealAttachment.id)
    )
    by_message: dict[int, list[AttachmentView]] = {}
    number = appeal.number or ""
    for n, (message_id, stored) in enumerate(files.tuples(), start=1):
        by_message.setdefault(message_id, []).append(
            AttachmentView(
                stored_file_id=stored.id,
                filename=safe_display_name(stored.filename),
                staff_filename=f"appeal-{number}-{n}{Path(stored.storage_path).suffix}",
                mime_type=stored.mime_type,
                storage_path=stored.storage_path,
                telegram_file_id=stored.telegram_file_id,
            )
        )
    return AppealView(
        id=appeal.id,
        number=number,
        topic=appeal.topic,
        status=appeal.status,
        login_id=appeal.login_id,
        account_number=account_number,
        subscriber_name=login.full_name if login else "",
        phone=login.phone if login else "",
        email=login.email if login else "",
        created_at=appeal.created_at,
        closed_at=appeal.closed_at,
        awaiting_since=appeal.awaiting_since,
        staff_chat_id=appeal.staff_chat_id,
        staff_card_message_id=appeal.staff_card_message_id,
        staff_thread_id=appeal.staff_thread_id,
        taken_by_id=appeal.taken_by_id,
        taken_by_name=appeal.taken_by_name,
        messages=tuple(
            MessageView(
                id=m.id,
                direction=m.direction,
                body=m.body,
                author_name=m.author_name,
                created_at=m.created_at,
                attachments=tuple(by_message.get(m.id, ())),
            )
            for m in messages
        ),
    )


async def get_appeal(session: AsyncSession, appeal_id: int) -> AppealView:
    return await _view(session, await _load(session, appeal_id))


async def list_appeals(session: AsyncSession, login_id: int) -> list[AppealView]:
    """«Мои обращения»: newest first, with every message sent and received."""
    appeals = await session.scalars(
        select(Appeal).where(Appeal.login_id == login_id).order_by(Appeal.id.desc())
    )
    return [await _view(session, a) for a in appeals.all()]


async def open_appeals(session: AsyncSession, chat_ids: Sequence[int]) -> list[AppealView]:
    """The staff chat's `/open`: appeals not closed yet, oldest first."""
    appeals = await session.scalars(
        select(Appeal)
        .where(Appeal.staff_chat_id.in_(chat_ids), Appeal.status != AppealStatus.CLOSED)
        .order_by(Appeal.id)
    )
    return [await _view(session, a) for a in appeals.all()]


async def subscriber_chats(session: AsyncSession, login_id: int) -> list[int]:
    """Private chats of the Telegram users logged in to this login (who did not block the bot)."""
    chats = await session.scalars(
        select(TelegramIdentity.chat_id).where(
            TelegramIdentity.login_id == login_id, TelegramIdentity.blocked_bot_at.is_(None)
        )
    )
    return sorted(set(chats))


# --- the subscriber --------------------------------------------------------------------------


async def _attach(
    session: AsyncSession, message: AppealMessage, file_ids: Sequence[int], *, limit: int
) -> None:
    if len(file_ids) > limit:
        raise TooManyAttachments(str(len(file_ids)))
    if not file_ids:
        return
    existing = set(await session.scalars(select(StoredFile.id).where(StoredFile.id.in_(file_ids))))
    for file_id in file_ids:
        if file_id in existing:
            session.add(AppealAttachment(message_id=message.id, stored_file_id=file_id))


async def create_appeal(
    session: AsyncSession,
    login_id: int,
    *,
    account_id: int | None,
    topic: AppealTopic,
    text: str,
    file_ids: Sequence[int],
    staff_chat_id: int | None,
    now: datetime,
    year: int,
) -> AppealView:
    body = clean_text(text)
    if len(file_ids) > MAX_ATTACHMENTS:
        raise TooManyAttachments(str(len(file_ids)))
    appeal = Appeal(
        login_id=login_id,
        account_id=account_id,
        topic=topic,
        status=AppealStatus.OPEN,
        staff_chat_id=staff_chat_id,
        awaiting_since=now,
        created_at=now,
    )
    session.add(appeal)
    await session.flush()
    appeal.number = appeal_number(appeal.id, year)
    message = AppealMessage(
        appeal_id=appeal.id,
        direction=MessageDirection.FROM_SUBSCRIBER,
        body=body,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    await _attach(session, message, file_ids, limit=MAX_ATTACHMENTS)
    _audit(session, "appeal_created", appeal, now=now)
    await session.commit()
    return await _view(session, appeal)


async def add_subscriber_message(
    session: AsyncSession,
    login_id: int,
    appeal_id: int,
    *,
    text: str,
    file_ids: Sequence[int],
    now: datetime,
) -> FollowUp:
    """A follow-up; reopens a recently closed appeal."""
    body = clean_text(text)
    appeal = await _load(session, appeal_id)
    if appeal.login_id != login_id:
        raise NotFound(f"appeal {appeal_id}")
    reopened = False
    if appeal.status is AppealStatus.CLOSED:
        if appeal.closed_at is None or now - appeal.closed_at > timedelta(days=REOPEN_DAYS):
            raise AppealClosed(appeal.number or "")
        reopened = True
        appeal.closed_at = None
    if appeal.status in (AppealStatus.CLOSED, AppealStatus.ANSWERED):
        appeal.status = AppealStatus.IN_PROGRESS if appeal.taken_by_id else AppealStatus.OPEN
    if appeal.awaiting_since is None:
        appeal.awaiting_since = now
    message = AppealMessage(
        appeal_id=appeal.id,
        direction=MessageDirection.FROM_SUBSCRIBER,
        body=body,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    await _attach(session, message, file_ids, limit=MAX_ATTACHMENTS)
    if reopened:
        _audit(session, "appeal_reopened", appeal, now=now)
    await session.commit()
    view = await _view(session, appeal)
    added = next(m for m in view.messages if m.id == message.id)
    return FollowUp(view, added, reopened)


# --- the staff chat --------------------------------------------------------------------------


async def remember_staff_messages(
    session: AsyncSession,
    appeal_id: int,
    chat_id: int,
    message_ids: Sequence[int],
    *,
    card: bool = False,
) -> None:
    """Messages of this appeal in a staff chat: a reply to any of them answers the appeal."""
    appeal = await _load(session, appeal_id)
    if card and message_ids:
        appeal.staff_card_message_id = message_ids[0]
        appeal.staff_chat_id = chat_id
    for message_id in message_ids:
        session.add(AppealStaffMessage(appeal_id=appeal_id, chat_id=chat_id, message_id=message_id))
    try:
        await session.commit()
    except IntegrityError:  # remembered already (a redelivered update)
        await session.rollback()


async def find_appeal(
    session: AsyncSession,
    chat_id: int,
    *,
    reply_to_message_id: int | None,
    thread_id: int | None,
    replied_text: str | None = None,
) -> int | None:
    """The appeal a staff message belongs to: by the message it replies to, else by its topic,
    else by the appeal number in the bot's message replied to (a reply that came before the
    bot had remembered its message)."""
    if reply_to_message_id is not None:
        found = await session.scalar(
            select(AppealStaffMessage.appeal_id).where(
                AppealStaffMessage.chat_id == chat_id,
                AppealStaffMessage.message_id == reply_to_message_id,
            )
        )
        if found is not None:
            return found
    if thread_id is not None:
        by_topic: int | None = await session.scalar(
            select(Appeal.id).where(
                Appeal.staff_chat_id == chat_id, Appeal.staff_thread_id == thread_id
            )
        )
        if by_topic is not None:
            return by_topic
    numbers = set(NUMBER_IN_TEXT.findall(replied_text or ""))
    if len(numbers) == 1:  # not a list of appeals (/open, a reminder of several)
        by_number: int | None = await session.scalar(
            select(Appeal.id).where(Appeal.staff_chat_id == chat_id, Appeal.number == numbers.pop())
        )
        return by_number
    return None


async def claim_thread(session: AsyncSession, appeal_id: int, *, now: datetime) -> bool:
    """Become the one process that creates the appeal's forum topic, in one conditional UPDATE:
    two messages of the same appeal handled at once (two devices, two bot instances) both get
    here and exactly one wins; a claim whose holder died runs out after THREAD_CLAIM_TTL."""
    result = await session.execute(
        update(Appeal)
        .where(
            Appeal.id == appeal_id,
            Appeal.staff_thread_id.is_(None),
            (Appeal.thread_claimed_at.is_(None))
            | (Appeal.thread_claimed_at < now - THREAD_CLAIM_TTL),
        )
        .values(thread_claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return cast("CursorResult[Any]", result).rowcount == 1


async def set_thread(session: AsyncSession, appeal_id: int, thread_id: int | None) -> None:
    """Store the created topic, or release the claim when creating it failed."""
    await session.execute(
        update(Appeal)
        .where(Appeal.id == appeal_id)
        .values(staff_thread_id=thread_id, thread_claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def thread_state(session: AsyncSession, appeal_id: int) -> tuple[int | None, bool]:
    """(topic id, whether someone is creating it) as committed now, for a waiting loser."""
    row = (
        await session.execute(
            select(Appeal.staff_thread_id, Appeal.thread_claimed_at).where(Appeal.id == appeal_id)
        )
    ).one()
    await session.commit()  # end the read: the next poll sees newer commits (SQLite snapshot)
    return row[0], row[1] is not None


async def record_staff_answer(
    session: AsyncSession,
    appeal_id: int,
    *,
    staff_user_id: int,
    staff_name: str,
    body: str,
    file_ids: Sequence[int],
    chat_id: int,
    message_id: int,
    now: datetime,
) -> AppealView:
    """A staff reply relayed to the subscriber: recorded, and the appeal is «Ответ дан»."""
    appeal = await _load(session, appeal_id)
    if appeal.status is AppealStatus.CLOSED:
        raise AlreadyClosed(appeal.number or "")
    message = AppealMessage(
        appeal_id=appeal.id,
        direction=MessageDirection.FROM_STAFF,
        author_telegram_id=staff_user_id,
        author_name=staff_name[:200],
        body=body.strip()[:4000],
        staff_chat_message_id=message_id,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    await _attach(session, message, file_ids, limit=10)
    appeal.status = AppealStatus.ANSWERED
    appeal.awaiting_since = None
    session.add(AppealStaffMessage(appeal_id=appeal.id, chat_id=chat_id, message_id=message_id))
    _audit(session, "appeal_answered", appeal, now=now, staff_user_id=staff_user_id)
    await session.commit()
    return await _view(session, appeal)


async def take(
    session: AsyncSession, appeal_id: int, *, staff_user_id: int, staff_name: str, now: datetime
) -> tuple[AppealView, bool]:
    """«Взять в работу»: the first press wins (one conditional UPDATE); returns «moved»."""
    result = await session.execute(
        update(Appeal)
        .where(
            Appeal.id == appeal_id,
            Appeal.status != AppealStatus.CLOSED,
            Appeal.taken_by_id.is_(None),
        )
        .values(taken_by_id=staff_user_id, taken_by_name=staff_name[:200])
        .execution_options(synchronize_session=False)
    )
    moved = cast("CursorResult[Any]", result).rowcount == 1
    appeal = await _load(session, appeal_id)
    await session.refresh(appeal)
    if not moved:
        await session.rollback()
        await session.refresh(appeal)
        if appeal.status is AppealStatus.CLOSED:
            raise AlreadyClosed(appeal.number or "")
        return await _view(session, appeal), False
    if appeal.status is AppealStatus.OPEN:
        appeal.status = AppealStatus.IN_PROGRESS
    _audit(session, "appeal_taken", appeal, now=now, staff_user_id=staff_user_id)
    await _notify(session, appeal, AppealStatus.IN_PROGRESS, now=now)
    await session.commit()
    return await _view(session, appeal), True


async def close(
    session: AsyncSession, appeal_id: int, *, staff_user_id: int, now: datetime
) -> tuple[AppealView, bool]:
    """«Закрыть»: idempotent, the first press wins."""
    result = await session.execute(
        update(Appeal)
        .where(Appeal.id == appeal_id, Appeal.status != AppealStatus.CLOSED)
        .values(status=AppealStatus.CLOSED, closed_at=now, awaiting_since=None)
        .execution_options(synchronize_session=False)
    )
    moved = cast("CursorResult[Any]", result).rowcount == 1
    appeal = await _load(session, appeal_id)
    if moved:
        _audit(session, "appeal_closed", appeal, now=now, staff_user_id=staff_user_id)
        await _notify(session, appeal, AppealStatus.CLOSED, now=now)
        await session.commit()
    else:
        await session.rollback()
    await session.refresh(appeal)
    return await _view(session, appeal), moved


# --- the SLA reminder ------------------------------------------------------------------------


async def overdue(session: AsyncSession, *, now: datetime, sla_hours: int) -> list[AppealView]:
    """Appeals whose subscriber has waited for an answer longer than the SLA, oldest first."""
    appeals = await session.scalars(
        select(Appeal)
        .where(
            Appeal.status != AppealStatus.CLOSED,
            Appeal.awaiting_since.is_not(None),
            Appeal.awaiting_since <= now - timedelta(hours=sla_hours),
            Appeal.staff_chat_id.is_not(None),
        )
        .order_by(Appeal.awaiting_since)
    )
    return [await _view(session, a) for a in appeals.all()]


async def queue_sla_reminders(
    session: AsyncSession, *, now: datetime, today: date, sla_hours: int
) -> int:
    """One reminder per staff chat and day (the outbox's dedup key makes it once a day,
    however often this runs); returns how many appeals were overdue."""
    late = await overdue(session, now=now, sla_hours=sla_hours)
    by_chat: dict[int, list[dict[str, Any]]] = {}
    for appeal in late:
        assert appeal.staff_chat_id is not None and appeal.awaiting_since is not None
        by_chat.setdefault(appeal.staff_chat_id, []).append(
            {
                "number": appeal.number,
                "topic": appeal.topic.value,
                "hours": int((now - appeal.awaiting_since).total_seconds() // 3600),
                "chat_id": appeal.staff_chat_id,
                "message_id": appeal.staff_card_message_id,
                "taken_by": appeal.taken_by_name,
            }
        )
    for chat_id, items in by_chat.items():
        await enqueue(
            session,
            kind=SLA_KIND,
            chat_id=chat_id,
            dedup_key=f"{SLA_KIND}:{chat_id}:{today.isoformat()}",
            payload={"sla_hours": sla_hours, "appeals": items},
            now=now,
        )
    await session.commit()
    return len(late)


async def _notify(
    session: AsyncSession, appeal: Appeal, status: AppealStatus, *, now: datetime
) -> None:
    """Tell the subscriber (through the outbox) that the appeal was taken or closed."""
    stamp = int(now.timestamp() * 1000)
    for chat_id in await subscriber_chats(session, appeal.login_id):
        await enqueue(
            session,
            kind=STATUS_KIND,
            chat_id=chat_id,
            login_id=appeal.login_id,
            dedup_key=f"appeal:{appeal.id}:{status.value}:{stamp}:{chat_id}",
            payload={"number": appeal.number, "status": status.value},
            now=now,
        )


def _audit(
    session: AsyncSession,
    action: str,
    appeal: Appeal,
    *,
    now: datetime,
    staff_user_id: int | None = None,
) -> None:
    session.add(
        AuditEvent(
            at=now, action=action, login_id=appeal.login_id, telegram_user_id=staff_user_id,
            entity="appeal", entity_id=str(appeal.id),
        )
    )  # fmt: skip
