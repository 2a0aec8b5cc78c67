"""Appeals («✉️ Общение») end to end: the subscriber writes with attachments, staff answer in
the staff group by replying, follow-ups are threaded, statuses reach «Мои обращения»."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.texts import appeals as texts
from bot.texts.common import STALE_BUTTON
from models import AppealMessage, AppealStatus, AppealTopic, MessageDirection, Meter
from services import appeals
from tests.e2e.conftest import STAFF_CHAT_ID, Cabinet
from tests.helpers import eventually

USER = 1001
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
NOTIFY_TIMEOUT = 10.0  # the outbox is delivered every few seconds
NUMBER = "О-2026-000001"
ANTICORRUPTION_CHAT_ID = -1009876543210


async def _write(
    cabinet: Cabinet, topic: str, text: str, *, user_id: int = USER, files: bool = False
) -> Any:
    """A subscriber sends a new appeal (optionally with a PDF and a photo)."""
    user = cabinet.user(user_id)
    await user.send("✉️ Общение")
    await user.expect("Что вы хотите сделать?")
    await user.press(texts.BTN_NEW)
    await user.expect(texts.CHOOSE_TOPIC)
    await user.press(topic)
    await user.expect("Напишите текст обращения")
    await user.send(text)
    await user.expect("приложите до 5 файлов")
    if files:
        await user.send_document(PDF, filename="акт\u202efdp.exe", mime_type="application/pdf")
        await user.expect("Файл принят (1 из 5)")
        await user.send_photo(JPEG)
        await user.expect("Файл принят (2 из 5)")
        await user.press(texts.BTN_DONE)
    else:
        await user.press(texts.BTN_NO_FILES)
    await user.expect("Проверьте обращение")
    await user.press(texts.BTN_SEND)
    await user.expect("отправлено специалистам")
    return user


async def _follow_up(user: Any, button: str, text: str) -> None:
    await user.send("✉️ Общение")
    await user.expect("Что вы хотите сделать?")
    await user.press(texts.BTN_LIST)
    await user.expect("Мои обращения")
    await user.press(button)
    await user.expect("Напишите сообщение специалистам")
    await user.send(text)
    await user.expect("приложите до 5 файлов")


async def test_appeal_answered_taken_closed_and_reopened(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    olga = group.member(5001, first_name="Ольга", last_name="Специалистова")
    user = cabinet.user(USER)

    # The dialog: the manual's ten topics in order, the text limit, files checked by content.
    await user.send("✉️ Общение")
    await user.expect("Что вы хотите сделать?")
    await user.press(texts.BTN_NEW)
    topics = await user.expect(texts.CHOOSE_TOPIC)
    assert [row[0] for row in topics.inline_buttons][:10] == list(texts.TOPIC_NAMES.values())
    await user.press("Приборы учета")
    await user.expect("до 3 000 символов")
    await user.send("я" * 3001)
    await user.expect("Текст слишком длинный: 3 001 символов")
    await user.send_sticker()
    await user.expect("Сейчас я жду текст обращения")
    await user.send("Счётчик <b>искрит</b> & гудит")
    await user.expect("приложите до 5 файлов")
    await user.send_document(b"MZ not a scan", filename="scan.pdf")
    await user.expect("не подходит")
    await user.send_document(PDF, filename="акт\u202efdp.exe", mime_type="application/pdf")
    await user.expect("Файл принят (1 из 5)")
    await user.send_photo(JPEG)
    await user.expect("Файл принят (2 из 5)")
    await user.press(texts.BTN_DONE)
    summary = await user.expect("Проверьте обращение")
    assert "Приборы учета" in summary.content_text
    assert "Счётчик <b>искрит</b> & гудит" in summary.content_text  # shown as typed
    assert "1. актfdp.exe" in summary.content_text  # the bidi override is gone
    await user.press(texts.BTN_SEND)
    sent = await user.expect("отправлено специалистам")
    assert f"№ {NUMBER}" in sent.content_text

    # The card: everything staff need, and the files under bot-chosen names.
    card = await group.wait_for_message(f"Обращение № {NUMBER}")
    for fragment in (
        "Тема: Приборы учета",
        "Абонент: Демонстрационный Абонент",
        "Телефон: +79991234567",
        "E-mail: demo@mef.example",
        "Счётчик <b>искрит</b> & гудит",
        "Статус: Новое",
    ):
        assert fragment in card.content_text, card.content_text
    assert "Лицевой счёт: № " in card.content_text
    await group.wait_for_message(texts.staff_attachments_caption(NUMBER))
    documents = [m for m in group.bot_messages if m.document is not None]
    assert sorted(str(m.document.filename) for m in documents if m.document) == [
        f"appeal-{NUMBER}-1.pdf",
        f"appeal-{NUMBER}-2.jpg",
    ]
    assert [await m.download() for m in documents] == [PDF, JPEG]

    # A staff reply to the card reaches the subscriber; the card says «Ответ дан».
    await olga.reply(card, "Здравствуйте! Мастер придёт <завтра>.")
    answer = await user.expect(f"Ответ по обращению № {NUMBER}", timeout=NOTIFY_TIMEOUT)
    assert "Ольга Специалистова" in answer.content_text
    assert "Мастер придёт <завтра>." in answer.content_text
    await olga.expect(texts.STAFF_ANSWER_SENT)
    assert "Статус: Ответ дан" in card.content_text
    # A photo in reply to an attachment message is an answer too.
    await olga.send_photo(JPEG, caption="Схема подключения", reply_to=documents[0])
    photo = await user.expect("Схема подключения")
    assert photo.photo is not None

    # The subscriber adds a message: it lands under the card, nobody has taken it yet.
    await _follow_up(user, texts.btn_write(NUMBER), "А во сколько?")
    await user.press(texts.BTN_NO_FILES)
    await user.expect(f"Сообщение к обращению № {NUMBER} отправлено")
    follow_up = await group.wait_for_message("Абонент дополнил обращение")
    assert follow_up.reply_to is card and "никто не взял" in follow_up.content_text
    assert "Статус: Новое" in card.content_text  # waiting for an answer again

    await olga.press(texts.BTN_TAKE, message=card)
    taken = await olga.expect_callback_answer()
    assert taken.text == texts.staff_taken("Ольга Специалистова")
    assert "в работе у Ольга Специалистова" in card.content_text
    assert card.inline_buttons == [[texts.BTN_CLOSE]]  # «Взять в работу» no longer applies
    await user.expect("взято в работу", timeout=NOTIFY_TIMEOUT)

    await _follow_up(user, texts.btn_write(NUMBER), "Жду мастера с 9 до 18.")
    await user.press(texts.BTN_NO_FILES)
    await user.expect("отправлено")
    mention = await group.wait_for_message("Жду мастера")
    assert "Ольга Специалистова, это ваше обращение" in mention.content_text
    # Replying to the follow-up answers the same appeal.
    await olga.reply(mention, "Хорошо, записали.")
    await user.expect("Хорошо, записали.", timeout=NOTIFY_TIMEOUT)

    await olga.press(texts.BTN_CLOSE, message=card)
    closed = await olga.expect_callback_answer()
    assert closed.text == texts.STAFF_CLOSED
    assert "Статус: Закрыто" in card.content_text and not card.inline_keyboard
    await user.expect("закрыто", timeout=NOTIFY_TIMEOUT)

    # «Мои обращения»: both directions with dates and the status; reopening within 7 days.
    await user.send("✉️ Общение")
    await user.expect("Что вы хотите сделать?")
    await user.press(texts.BTN_LIST)
    mine = await user.expect("Мои обращения")
    text = mine.content_text
    assert f"№ {NUMBER} · Приборы учета" in text and "Статус: Закрыто" in text
    assert "вы:\nСчётчик <b>искрит</b> & гудит" in text
    assert "специалист Ольга Специалистова:\nЗдравствуйте! Мастер придёт <завтра>." in text
    assert len(text) < 4096
    await user.press(texts.btn_reopen(NUMBER))
    await user.expect("Возобновляем обращение")
    await user.send("Мастер так и не пришёл.")
    await user.expect("приложите")
    await user.send_photo(JPEG)
    await user.expect("Файл принят (1 из 5)")
    await user.press(texts.BTN_DONE)
    await user.expect(f"Обращение № {NUMBER} возобновлено")
    await group.wait_for_message("Абонент возобновил обращение")
    assert (await group.wait_for_message("Вложения к обращению")).document is not None
    assert "Статус: В работе" in card.content_text
    assert card.inline_buttons == [[texts.BTN_CLOSE]]

    async with cabinet.sessions() as session:
        directions = (
            await session.scalars(select(AppealMessage.direction).order_by(AppealMessage.id))
        ).all()
    assert directions.count(MessageDirection.FROM_STAFF) == 3
    assert directions.count(MessageDirection.FROM_SUBSCRIBER) == 4


async def test_forum_gets_one_topic_even_for_simultaneous_messages(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    login_id = await cabinet.login_as(USER)
    await cabinet.login_as(USER + 1)  # the same subscriber on a second phone
    group = cabinet.emu.group(STAFF_CHAT_ID, title="Обращения", forum=True)
    olga = group.member(5001, first_name="Ольга")
    # Topics cannot be created at first (a missing admin right): the card goes to «General».
    cabinet.emu.inject_failure(
        "createForumTopic", status=400, description="Bad Request: not enough rights"
    )
    phone = await _write(cabinet, "Расчеты и задолженность", "Почему такой счёт?")
    card = await group.wait_for_message(f"Обращение № {NUMBER}")
    assert card.message_thread_id is None and group.topics == {}

    tablet = cabinet.user(USER + 1)
    await _follow_up(phone, texts.btn_write(NUMBER), "Дополнение с телефона")
    await _follow_up(tablet, texts.btn_write(NUMBER), "Дополнение с планшета")
    # Both devices send at the same moment; each message needs the topic.
    await asyncio.gather(phone.press(texts.BTN_NO_FILES), tablet.press(texts.BTN_NO_FILES))
    await phone.expect("отправлено")
    await tablet.expect("отправлено")
    first = await group.wait_for_message("Дополнение с телефона")
    second = await group.wait_for_message("Дополнение с планшета")
    assert group.topics == {f"{NUMBER} · Расчеты и задолженность": first.message_thread_id}
    assert first.message_thread_id is not None
    assert second.message_thread_id == first.message_thread_id

    # Writing in the topic (no reply needed) answers the appeal, on both devices.
    await olga.send("Проверим и ответим.", thread_id=first.message_thread_id)
    await phone.expect("Проверим и ответим.")
    await tablet.expect("Проверим и ответим.")
    await olga.expect(texts.STAFF_ANSWER_SENT)
    await olga.send_document(
        PDF, filename="расчёт.pdf", mime_type="application/pdf", caption="Расчёт",
        thread_id=first.message_thread_id,
    )  # fmt: skip
    document = await phone.expect("Расчёт")
    assert document.document is not None and await document.download() == PDF

    # The staff chat's commands.
    await olga.send("/help")
    await olga.expect("ответьте (reply)")
    await olga.send("/open")
    listed = await olga.expect("Открытые обращения (1)")
    assert NUMBER in listed.content_text and "Ответ дан" in listed.content_text
    async with cabinet.sessions() as session:
        appeal = await appeals.get_appeal(session, 1)
    assert appeal.login_id == login_id and appeal.staff_thread_id == first.message_thread_id


async def test_non_member_is_ignored_and_logged(
    cabinet: Cabinet, caplog: pytest.LogCaptureFixture
) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    outsider = group.member(6001, first_name="Бывший", status="left")
    user = await _write(cabinet, "Качество услуги", "Напряжение скачет")
    card = await group.wait_for_message(f"Обращение № {NUMBER}")
    user.checkpoint()

    with caplog.at_level(logging.WARNING, logger="handlers.staff"):
        await outsider.press(texts.BTN_TAKE, message=card)
        answer = await outsider.expect_callback_answer()
        assert answer.text == texts.STAFF_ONLY
        await outsider.press(texts.BTN_CLOSE, message=card)
        await outsider.expect_callback_answer()
        await outsider.reply(card, "Я всё починю, переведите деньги")
        await outsider.send("/open")

        async def logged() -> bool:
            return "ignored a command of non-member 6001" in caplog.text

        await eventually(logged)
        # The subscriber got nothing; the card did not change.
        await user.expect_nothing_else("/help", "Команды: /menu")
    assert "ignored a press of non-member 6001" in caplog.text
    assert "ignored a reply of non-member 6001" in caplog.text
    assert "Статус: Новое" in card.content_text and texts.BTN_TAKE in card.inline_buttons[0]
    async with cabinet.sessions() as session:
        staff_messages = await session.scalar(
            select(func.count()).where(AppealMessage.direction == MessageDirection.FROM_STAFF)
        )
        appeal = await appeals.get_appeal(session, 1)
    assert staff_messages == 0 and appeal.status is AppealStatus.OPEN


async def test_blocked_subscriber_gets_the_answer_by_mail_and_staff_carry_on(
    cabinet: Cabinet,
) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    olga = group.member(5001, first_name="Ольга")
    user = await _write(cabinet, "Общие вопросы", "Как сменить тариф?")
    card = await group.wait_for_message(f"Обращение № {NUMBER}")
    user.block_bot()

    await olga.reply(card, "Тариф меняется по заявлению.")
    warning = await olga.expect("не доставлен")
    assert "отправлен абоненту письмом" in warning.content_text
    letters = list(cabinet.settings.mail_dir.glob("*.eml"))
    assert len(letters) == 1
    letter = message_from_bytes(letters[0].read_bytes(), policy=policy.default)
    assert letter["To"] == "demo@mef.example" and NUMBER in str(letter["Subject"])
    assert "Тариф меняется по заявлению." in letter.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Статус: Ответ дан" in card.content_text

    await olga.press(texts.BTN_CLOSE, message=card)
    assert (await olga.expect_callback_answer()).text == texts.STAFF_CLOSED
    assert "Статус: Закрыто" in card.content_text and not card.inline_keyboard
    async with cabinet.sessions() as session:
        appeal = await appeals.get_appeal(session, 1)
    assert appeal.status is AppealStatus.CLOSED
    assert [m.body for m in appeal.messages][-1] == "Тариф меняется по заявлению."  # kept

    # Back a week and a day later: the answer is in «Мои обращения», reopening is over.
    user.unblock_bot()
    cabinet.clock.advance(timedelta(days=8))
    await user.send("✉️ Общение")
    await user.expect("Что вы хотите сделать?")
    await user.press(texts.BTN_LIST)
    mine = await user.expect("Мои обращения")
    assert "Тариф меняется по заявлению." in mine.content_text
    assert "Возобновить уже нельзя" in mine.content_text
    assert mine.inline_buttons == [[texts.BTN_NEW]]


@pytest.mark.settings(anticorruption_chat_id=ANTICORRUPTION_CHAT_ID, appeal_sla_hours=24)
async def test_anticorruption_route_and_the_daily_sla_reminder(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    staff_group = cabinet.staff_group()
    staff_group.member(5001, first_name="Ольга")
    security = cabinet.emu.group(ANTICORRUPTION_CHAT_ID, title="Служба безопасности")
    officer = security.member(7001, first_name="Пётр")
    user = await _write(cabinet, "Противодействие коррупции", "Контролёр просил денег")
    card = await security.wait_for_message(f"Обращение № {NUMBER}")
    assert "Противодействие коррупции" in card.content_text
    assert not any(NUMBER in m.content_text for m in staff_group.bot_messages)

    # A day without an answer: one reminder in that chat, however often the job runs.
    cabinet.clock.advance(timedelta(hours=25))
    for _ in range(2):
        async with cabinet.sessions() as session:
            await appeals.queue_sla_reminders(
                session, now=cabinet.clock.now(), today=cabinet.clock.today(), sla_hours=24
            )
    reminder = await security.wait_for_message("без ответа дольше 24 часов", timeout=NOTIFY_TIMEOUT)
    assert NUMBER in reminder.content_text and "никто не взял" in reminder.content_text
    await officer.reply(card, "Спасибо, проверим.")
    await user.expect("Спасибо, проверим.")
    await officer.send("/open")
    await officer.expect("Открытые обращения (1)")
    assert sum(1 for m in security.bot_messages if "без ответа" in m.content_text) == 1


async def test_other_sections_open_the_dialog_with_the_topic_chosen(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    login_id = await cabinet.login_as(USER)
    group = cabinet.staff_group()
    user = cabinet.user(USER)
    async with cabinet.sessions() as session:
        await session.execute(update(Meter).values(verified_until=date(2020, 1, 1)))
        await session.commit()

    # An expired verification: the act goes to staff, topic «Приборы учета» already chosen.
    await user.send("🔢 Показания")
    overview = await user.expect("Срок поверки счётчика истёк")
    assert overview.inline_buttons[-1] == [texts.BTN_WRITE_TO_US]
    await user.press(texts.BTN_WRITE_TO_US, message=overview)
    await user.expect("Тема: «Приборы учета»")
    await user.send("Прикладываю акт поверки")
    await user.expect("приложите")
    await user.send_document(PDF, filename="акт.pdf", mime_type="application/pdf")
    await user.expect("Файл принят (1 из 5)")
    await user.press(texts.BTN_DONE)
    summary = await user.expect("Проверьте обращение")
    assert "Тема: Приборы учета" in summary.content_text and "1. акт.pdf" in summary.content_text
    send = summary.inline_keyboard[0][0]
    await user.press_button(summary, send)
    await user.press_button(summary, send)  # a double press sends one appeal
    await user.expect(NUMBER)
    assert (await user.expect_callback_answer()).text == STALE_BUTTON
    await group.wait_for_message("Прикладываю акт поверки")

    # No meters at all: the same way to write about it.
    async with cabinet.sessions() as session:
        await session.execute(update(Meter).values(is_active=False))
        await session.commit()
    await user.send("🔢 Показания")
    empty = await user.expect("нет приборов учёта")
    assert empty.inline_buttons == [[texts.BTN_WRITE_TO_US]]
    await user.press(texts.BTN_WRITE_TO_US)
    await user.expect("Тема: «Приборы учета»")
    await user.send("/cancel")
    await user.expect("Действие отменено")
    async with cabinet.sessions() as session:
        assert len(await appeals.list_appeals(session, login_id)) == 1
    assert sum(1 for m in group.bot_messages if "Обращение №" in m.content_text) == 1


async def test_my_appeals_are_paged_under_telegram_limit(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    login_id = await cabinet.login_as(USER)
    cabinet.staff_group()
    now = cabinet.clock.now()
    async with cabinet.sessions() as session:
        chatty = await appeals.create_appeal(
            session, login_id, account_id=None, topic=AppealTopic.GENERAL, text="Начало",
            file_ids=[], staff_chat_id=None, now=now, year=2026,
        )  # fmt: skip
        for n in range(12):
            await appeals.add_subscriber_message(
                session, login_id, chatty.id, text=f"Сообщение {n} " + "ж" * 900, file_ids=[],
                now=now,
            )  # fmt: skip
        for topic in (AppealTopic.METERS, AppealTopic.OTHER, AppealTopic.SUGGESTIONS):
            await appeals.create_appeal(
                session, login_id, account_id=None, topic=topic, text="д" * 2900, file_ids=[],
                staff_chat_id=None, now=now, year=2026,
            )  # fmt: skip
    user = cabinet.user(USER)
    await user.send("✉️ Общение")
    await user.expect("Что вы хотите сделать?")
    await user.press(texts.BTN_LIST)
    page = await user.expect("Мои обращения — страница 1 из 2")
    first = page.content_text
    assert "О-2026-000004" in first and "О-2026-000001" not in first  # newest first
    await user.press(texts.BTN_NEXT, message=page)
    await user.expect("страница 2 из 2")  # the same message, edited
    second = page.content_text
    assert len(first) < 4096 and len(second) < 4096
    assert "ранние сообщения (" in second and "не поместились" in second
    assert "Сообщение 11 " in second and "Сообщение 0 " not in second
    assert texts.BTN_NEXT not in str(page.inline_buttons)
    await user.press(texts.BTN_PREV, message=page)
    await user.expect("страница 1 из 2")
