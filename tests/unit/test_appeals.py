"""Appeals: text and attachment limits, numbering, routing, statuses, reopening, the staff
chat's claims (one forum topic, one «Взять в работу») and the once-a-day SLA reminder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.texts import appeals as texts
from models import (
    AppealStatus,
    AppealTopic,
    AuditEvent,
    Login,
    Notification,
    TelegramIdentity,
)
from services import appeals
from services.errors import NotFound
from services.files import safe_display_name, store_file

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
STAFF, SECURITY = -1001234567890, -1009876543210


async def _login(session: AsyncSession) -> int:
    login = Login(
        email="a@example.com", phone="+79990000000", surname="Петров", name="Пётр",
        patronymic=None, password_hash="x", consent_version="1", consent_at=NOW,
    )  # fmt: skip
    session.add(login)
    await session.flush()
    session.add(TelegramIdentity(telegram_user_id=501, chat_id=501, login_id=login.id))
    await session.commit()
    return login.id


async def _appeal(
    session: AsyncSession, login_id: int, file_ids: list[int] | None = None
) -> appeals.AppealView:
    return await appeals.create_appeal(
        session, login_id, account_id=None, topic=AppealTopic.METERS, text="  Счётчик  ",
        file_ids=file_ids or [], staff_chat_id=STAFF, now=NOW, year=2026,
    )  # fmt: skip


def test_topics_follow_the_manual_and_text_rules() -> None:
    assert [texts.TOPIC_NAMES[t] for t in appeals.TOPICS] == [
        "Внесение изменений в лицевой счет", "Другие тематики", "Качество услуги", "Обращение",
        "Общие вопросы", "Платные услуги", "Предложения", "Приборы учета",
        "Противодействие коррупции", "Расчеты и задолженность",
    ]  # fmt: skip
    assert appeals.clean_text("  текст \n") == "текст"
    assert appeals.clean_text("я" * appeals.MAX_TEXT) == "я" * appeals.MAX_TEXT
    with pytest.raises(appeals.TextTooLong):
        appeals.clean_text("я" * (appeals.MAX_TEXT + 1))
    with pytest.raises(appeals.EmptyText):
        appeals.clean_text(" \n ")
    assert appeals.appeal_number(42, 2026) == "О-2026-000042"
    assert appeals.staff_chat_for(AppealTopic.ANTI_CORRUPTION, STAFF, SECURITY) == SECURITY
    assert appeals.staff_chat_for(AppealTopic.ANTI_CORRUPTION, STAFF, None) == STAFF
    assert appeals.staff_chat_for(AppealTopic.METERS, STAFF, SECURITY) == STAFF
    assert safe_display_name("scan.pdf\u202egpj.exe\u200b\x07") == "scan.pdfgpj.exe"


async def test_appeal_attachments_are_named_by_the_bot(
    session: AsyncSession, tmp_path: Path
) -> None:
    login_id = await _login(session)
    pdf = await store_file(session, tmp_path, PDF, filename="a\u202efdp.exe", limit_mb=20)
    jpeg = await store_file(session, tmp_path, JPEG, filename=None, limit_mb=20)
    await session.commit()
    appeal = await _appeal(session, login_id, [pdf.id, jpeg.id])
    assert appeal.number == f"О-2026-{appeal.id:06d}" and appeal.status is AppealStatus.OPEN
    first = appeal.first_message
    assert first is not None and first.body == "Счётчик"
    assert [a.staff_filename for a in first.attachments] == [
        f"appeal-{appeal.number}-1.pdf",
        f"appeal-{appeal.number}-2.jpg",
    ]
    assert first.attachments[0].filename == "afdp.exe"
    with pytest.raises(appeals.TooManyAttachments):
        await _appeal(session, login_id, [pdf.id] * (appeals.MAX_ATTACHMENTS + 1))


async def test_statuses_follow_ups_and_reopening(session: AsyncSession) -> None:
    login_id = await _login(session)
    appeal = await _appeal(session, login_id)
    await appeals.remember_staff_messages(session, appeal.id, STAFF, [10], card=True)
    assert await appeals.find_appeal(session, STAFF, reply_to_message_id=10, thread_id=None) == (
        appeal.id
    )
    assert await appeals.find_appeal(session, STAFF, reply_to_message_id=11, thread_id=None) is None
    # Not remembered (yet): the number in the bot's message replied to tells the appeal.
    quoted = f"✉️ Абонент дополнил обращение № {appeal.number}:"
    assert (
        await appeals.find_appeal(
            session, STAFF, reply_to_message_id=11, thread_id=None, replied_text=quoted
        )
        == appeal.id
    )
    assert (
        await appeals.find_appeal(
            session, STAFF + 1, reply_to_message_id=11, thread_id=None, replied_text=quoted
        )
        is None
    )

    answered = await appeals.record_staff_answer(
        session, appeal.id, staff_user_id=7, staff_name="Ольга", body="Ответ", file_ids=[],
        chat_id=STAFF, message_id=12, now=NOW + timedelta(hours=1),
    )  # fmt: skip
    assert answered.status is AppealStatus.ANSWERED and answered.awaiting_since is None
    # A reply to the staff answer belongs to the appeal too.
    assert await appeals.find_appeal(session, STAFF, reply_to_message_id=12, thread_id=None)

    follow = await appeals.add_subscriber_message(
        session, login_id, appeal.id, text="Ещё", file_ids=[], now=NOW + timedelta(hours=2)
    )
    assert follow.appeal.status is AppealStatus.OPEN and not follow.reopened
    taken, moved = await appeals.take(
        session, appeal.id, staff_user_id=7, staff_name="Ольга", now=NOW
    )
    assert moved and taken.status is AppealStatus.IN_PROGRESS and taken.taken_by_name == "Ольга"
    again, moved = await appeals.take(
        session, appeal.id, staff_user_id=8, staff_name="Пётр", now=NOW
    )
    assert not moved and again.taken_by_name == "Ольга"  # the first press wins

    closed_at = NOW + timedelta(days=1)
    closed, moved = await appeals.close(session, appeal.id, staff_user_id=7, now=closed_at)
    assert moved and closed.status is AppealStatus.CLOSED
    assert not (await appeals.close(session, appeal.id, staff_user_id=7, now=closed_at))[1]
    with pytest.raises(appeals.AlreadyClosed):
        await appeals.record_staff_answer(
            session, appeal.id, staff_user_id=7, staff_name="Ольга", body="x", file_ids=[],
            chat_id=STAFF, message_id=13, now=closed_at,
        )  # fmt: skip

    within = closed_at + timedelta(days=appeals.REOPEN_DAYS)
    assert appeals.can_reopen(closed, within)
    assert not appeals.accepts_messages(closed, within + timedelta(seconds=1))
    with pytest.raises(appeals.AppealClosed):
        await appeals.add_subscriber_message(
            session,
            login_id,
            appeal.id,
            text="Поздно",
            file_ids=[],
            now=within + timedelta(hours=1),
        )
    reopened = await appeals.add_subscriber_message(
        session, login_id, appeal.id, text="Снова", file_ids=[], now=within
    )
    assert reopened.reopened and reopened.appeal.status is AppealStatus.IN_PROGRESS
    assert reopened.message.body == "Снова"

    statuses = (await session.scalars(select(Notification.payload).order_by(Notification.id))).all()
    assert [p["status"] for p in statuses] == ["in_progress", "closed"]  # the subscriber is told
    actions = (await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all()
    assert actions == [
        "appeal_created", "appeal_answered", "appeal_taken", "appeal_closed", "appeal_reopened"
    ]  # fmt: skip
    with pytest.raises(NotFound):
        await appeals.add_subscriber_message(
            session, login_id + 1, appeal.id, text="чужое", file_ids=[], now=within
        )


async def test_one_process_claims_the_forum_topic(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        appeal = await _appeal(session, await _login(session))
    async with sessions() as first, sessions() as second:
        assert await appeals.claim_thread(first, appeal.id, now=NOW)
        assert not await appeals.claim_thread(second, appeal.id, now=NOW)
        assert await appeals.thread_state(second, appeal.id) == (None, True)
        # A claim whose holder died runs out.
        later = NOW + appeals.THREAD_CLAIM_TTL + timedelta(seconds=1)
        assert await appeals.claim_thread(second, appeal.id, now=later)
        await appeals.set_thread(second, appeal.id, 77)
        assert await appeals.thread_state(first, appeal.id) == (77, False)
        assert not await appeals.claim_thread(first, appeal.id, now=later + timedelta(hours=1))
        assert await appeals.find_appeal(first, STAFF, reply_to_message_id=None, thread_id=77) == (
            appeal.id
        )


async def test_sla_reminder_once_a_day_per_chat(session: AsyncSession) -> None:
    login_id = await _login(session)
    late = await _appeal(session, login_id)
    answered = await _appeal(session, login_id)
    await appeals.record_staff_answer(
        session, answered.id, staff_user_id=7, staff_name="Ольга", body="Ответ", file_ids=[],
        chat_id=STAFF, message_id=5, now=NOW,
    )  # fmt: skip
    await appeals.remember_staff_messages(session, late.id, STAFF, [3], card=True)

    early = NOW + timedelta(hours=23)
    assert (
        await appeals.queue_sla_reminders(session, now=early, today=early.date(), sla_hours=24) == 0
    )
    day = NOW + timedelta(hours=25)
    for _ in range(3):
        assert (
            await appeals.queue_sla_reminders(session, now=day, today=day.date(), sla_hours=24) == 1
        )
    rows = (
        await session.scalars(select(Notification).where(Notification.kind == "appeal_sla"))
    ).all()
    assert len(rows) == 1 and rows[0].chat_id == STAFF
    text = texts.render_sla(rows[0].payload)
    assert late.number in text and answered.number not in text
    assert '<a href="https://t.me/c/1234567890/3">' in text  # a link to the card
    next_day = day + timedelta(days=1)
    await appeals.queue_sla_reminders(session, now=next_day, today=next_day.date(), sla_hours=24)
    count = await session.scalar(
        select(func.count()).select_from(Notification).where(Notification.kind == "appeal_sla")
    )
    assert count == 2
