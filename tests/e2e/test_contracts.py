"""Contract applications end to end: the subscriber applies with documents, staff decide in
the group by buttons and replies, the subscriber is notified and gets the new account."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from models import (
    Account,
    AccountLink,
    ApplicationStatus,
    AuditEvent,
    ContractApplication,
    Login,
    Notification,
    ObjectType,
    OutboxStatus,
)
from services.demo import DEMO_EMAIL
from tests.e2e.conftest import Cabinet
from tests.helpers import eventually, real_jpeg, real_pdf

USER = 1001
JPEG = real_jpeg()
PDF = real_pdf()
NOTIFY_TIMEOUT = 10.0  # the outbox is delivered every few seconds


async def _start_flat(cabinet: Cabinet, address: str = "г. Магнитогорск, ул. Новая, д. 1") -> Any:
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await user.press("📝 Заявка на договор")
    await user.expect("тип объекта")
    await user.press("Квартира")
    await user.expect("адрес объекта")
    await user.send(address)
    await user.expect("Паспорт")
    return user


async def _apply(cabinet: Cabinet) -> Any:
    """A subscriber files an application for a flat with a passport photo and a title PDF."""
    user = await _start_flat(cabinet, "г. Магнитогорск, ул. Новая, д. 1, кв. 2")
    await user.press("Готово")
    await user.expect("обязателен")
    await user.send_document(b"just text, not a scan", filename="passport.pdf")
    await user.expect("не подходит")
    await user.send_photo(JPEG)
    await user.expect("Принято: Паспорт — 1 файл")
    await user.press("Готово")
    await user.expect("праве собственности")
    await user.send_document(PDF, filename="egrn.pdf", mime_type="application/pdf")
    await user.expect("Принято: Право собственности — 1 файл")
    await user.press("Готово")
    await user.expect("технологическом присоединении")
    await user.press("Пропустить")
    summary = await user.expect("Проверьте заявку")
    assert "Паспорт: 1 файл" in summary.content_text
    await user.press("Сохранить")
    saved = await user.expect("сохранена")
    assert "№ З-2026-000001" in saved.content_text
    return user


async def test_application_approved_from_the_staff_group(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    login_id = await cabinet.login_as(USER)
    group = cabinet.staff_group()
    staff = group.member(5001, first_name="Ольга", last_name="Специалистова")
    user = await _apply(cabinet)

    card = await group.wait_for_message("Заявка на договор № З-2026-000001")
    assert "ул. Новая" in card.content_text and "Право собственности: 1 файл" in card.content_text
    documents = await group.wait_for_message("Документы к заявке № З-2026-000001")
    assert documents.document is not None
    assert sum(1 for m in group.bot_messages if m.document is not None) == 2

    await staff.press("Взять в работу", message=card)
    await user.expect("взята в работу", timeout=NOTIFY_TIMEOUT)

    await staff.press("Одобрить", message=card)
    prompt = await staff.expect("номером нового лицевого счёта")
    await staff.reply(prompt, "74-0000-0999 x")
    reask = await staff.expect("от 4 до 20 цифр")
    await staff.reply(reask, "7400000999")  # answering the re-ask works too
    await staff.expect("одобрена")
    approved = await user.expect("одобрена", timeout=NOTIFY_TIMEOUT)
    assert "№ 7400000999" in approved.content_text
    assert not card.inline_keyboard  # decided: the buttons are gone

    async with cabinet.sessions() as session:
        account = await session.scalar(select(Account).where(Account.number == "7400000999"))
        assert account is not None
        assert account.address == "г. Магнитогорск, ул. Новая, д. 1, кв. 2"
        assert account.holder_surname == "Демонстрационный"
        link = await session.scalar(
            select(AccountLink).where(
                AccountLink.login_id == login_id, AccountLink.account_id == account.id
            )
        )
        assert link is not None and not link.is_current  # the demo account stays current

    await user.send("📄 Договоры")
    await user.expect("7400000999")
    await user.press("📋 Мои заявки")
    mine = await user.expect("Мои заявки")
    assert "«одобрена», лицевой счёт № 7400000999" in mine.content_text


async def test_documents_requested_then_rejected(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    staff = group.member(5001, first_name="Ольга", status="administrator")
    user = await _apply(cabinet)
    card = await group.wait_for_message("Заявка на договор № З-2026-000001")

    await staff.press("Запросить документы", message=card)
    prompt = await staff.expect("какие документы нужны")
    await staff.reply(prompt, "Нужна выписка ЕГРН не старше месяца")
    await user.expect("нужны документы", timeout=NOTIFY_TIMEOUT)

    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await user.press("📋 Мои заявки")
    await user.expect("выписка ЕГРН")
    await user.press("📎 Дослать документы к № З-2026-000001")
    await user.expect("Дослать документы")
    await user.send_document(PDF, filename="egrn-new.pdf", mime_type="application/pdf")
    await user.expect("Принято")
    await user.press("Готово")
    await user.expect("отправлены специалистам")
    await group.wait_for_message("Заявитель дослал документы")

    await staff.press("Отклонить", message=card)
    prompt = await staff.expect("причина отказа")
    await staff.reply(prompt, "Объект вне зоны обслуживания")
    await staff.expect("заявитель уведомлён")
    rejected = await user.expect("отклонена", timeout=NOTIFY_TIMEOUT)
    assert "вне зоны обслуживания" in rejected.content_text
    async with cabinet.sessions() as session:
        status = await session.scalar(select(ContractApplication.status))
        assert status is ApplicationStatus.REJECTED


async def test_non_member_pressing_staff_buttons_is_refused(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    outsider = group.member(6001, first_name="Бывший", status="left")
    await _apply(cabinet)
    card = await group.wait_for_message("Заявка на договор № З-2026-000001")

    await outsider.press("Одобрить", message=card)
    answer = await outsider.expect_callback_answer()
    assert answer.text is not None and "для сотрудников" in answer.text
    await outsider.press("Взять в работу", message=card)
    await outsider.expect_callback_answer()
    async with cabinet.sessions() as session:
        status = await session.scalar(select(ContractApplication.status))
        assert status is ApplicationStatus.SUBMITTED
    assert not any("ответьте на это сообщение" in m.content_text for m in group.bot_messages)


async def test_staff_check_that_fails_refuses_the_press_and_is_not_remembered(
    cabinet: Cabinet,
) -> None:
    """getChatMember failing: the press is refused (never allowed on a failed check), and the
    failure is not cached — the next press, with Telegram answering again, goes through."""
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    staff = group.member(5001, first_name="Ольга")
    await _apply(cabinet)
    card = await group.wait_for_message("Заявка на договор № З-2026-000001")

    cabinet.emu.inject_failure(
        "getChatMember", status=400, description="Bad Request: chat not found"
    )
    await staff.press("Взять в работу", message=card)
    answer = await staff.expect_callback_answer()
    assert answer.text is not None and "для сотрудников" in answer.text
    async with cabinet.sessions() as session:
        assert await session.scalar(select(ContractApplication.status)) is (
            ApplicationStatus.SUBMITTED
        )

    await staff.press("Взять в работу", message=card)
    await staff.expect_callback_answer()
    async with cabinet.sessions() as session:
        assert await session.scalar(select(ContractApplication.status)) is (
            ApplicationStatus.IN_PROGRESS
        )


async def _to_summary(cabinet: Cabinet, address: str) -> Any:
    user = await _start_flat(cabinet, address)
    await user.send_photo(JPEG)
    await user.expect("Принято: Паспорт")
    await user.press("Готово")
    await user.expect("праве собственности")
    await user.send_document(PDF, filename="egrn.pdf", mime_type="application/pdf")
    await user.expect("Принято: Право собственности")
    await user.press("Готово")
    await user.expect("технологическом присоединении")
    await user.press("Пропустить")
    await user.expect("Проверьте заявку")
    return user


async def test_double_press_of_save_files_one_application(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    group.member(5001)
    user = await _to_summary(cabinet, "<b>ул. Новая</b> & д. 1")
    summary = next(m for m in reversed(user.bot_messages) if "Проверьте заявку" in m.content_text)
    assert "<b>ул. Новая</b> & д. 1" in summary.content_text  # typed HTML is shown as typed
    save = summary.inline_keyboard[0][0]
    await user.press_button(summary, save)
    await user.press_button(summary, save)
    await user.expect("З-2026-000001")
    answer = await user.expect_callback_answer()
    assert answer.text is not None and "устарела" in answer.text
    card = await group.wait_for_message("Заявка на договор № З-2026-000001")
    assert "<b>ул. Новая</b> & д. 1" in card.content_text
    async with cabinet.sessions() as session:
        assert len((await session.scalars(select(ContractApplication))).all()) == 1
    assert sum(1 for m in group.bot_messages if "Заявка на договор №" in m.content_text) == 1


async def test_two_staff_approving_at_once_create_one_account(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    olga = group.member(5001, first_name="Ольга")
    ivan = group.member(5002, first_name="Иван")
    user = await _to_summary(cabinet, "г. Магнитогорск, ул. Новая, д. 1")
    await user.press("Сохранить")
    card = await group.wait_for_message("Заявка на договор № З-2026-000001")
    reject = next(b for row in card.inline_keyboard for b in row if b["text"] == "Отклонить")

    await olga.press("Одобрить", message=card)
    olga_prompt = await olga.expect("Ольга, ответьте")
    await ivan.press("Одобрить", message=card)
    ivan_prompt = await ivan.expect("Иван, ответьте")
    await olga.reply(olga_prompt, "7400000991")
    await ivan.reply(ivan_prompt, "7400000992")
    await group.wait_for_message("уже принято решение")
    await group.wait_for_message("подключён заявителю")
    await user.expect("одобрена", timeout=NOTIFY_TIMEOUT)
    async with cabinet.sessions() as session:
        numbers = set(await session.scalars(select(Account.number)))
        assert len({"7400000991", "7400000992"} & numbers) == 1
    await ivan.press_button(card, reject)  # pressed on a card not yet refreshed on his screen
    answer = await ivan.expect_callback_answer()
    assert answer.text is not None and "уже принято решение" in answer.text


@pytest.mark.settings(max_upload_mb=1, upload_files_per_day=2)
async def test_oversized_file_is_refused_and_the_step_stays(cabinet: Cabinet) -> None:
    """Too big a file is refused before it is stored; a login's daily quota of files holds
    (#9.13) and its refusal keeps the step."""
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await user.press("📝 Заявка на договор")
    await user.expect("тип объекта")
    await user.press("Гараж")
    await user.expect("адрес объекта")
    await user.send("г. Магнитогорск, ГСК «Энергетик», бокс 12")
    prompt = await user.expect("Паспорт")
    assert "до 1 МБ" in prompt.content_text
    big = PDF + b"0" * (1024 * 1024 + 10)
    await user.send_document(big, filename="scan.pdf", mime_type="application/pdf")
    await user.expect("слишком большой: максимум 1 МБ")
    await user.send_document(PDF, filename="scan.pdf", mime_type="application/pdf")
    await user.expect("Принято: Паспорт — 1 файл")
    await user.send_photo(JPEG)
    await user.expect("Принято: Паспорт — 2 файла")
    await user.send_photo(real_jpeg(colour=(1, 2, 3)))
    await user.expect("не больше 2 файлов и 200 МБ — лимит исчерпан")
    await user.press("Готово")
    await user.expect("праве собственности")


def _buttons(message: Any) -> list[str]:
    return [b["text"] for row in message.inline_keyboard for b in row]


async def test_staff_receive_only_real_files_named_by_the_bot(cabinet: Cabinet) -> None:
    """#9.2: a `%PDF` prefix, an .html, an .svg are refused; what staff receive is re-checked
    (PDF) or re-encoded (picture) content under the bot's own name, never the applicant's."""
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    group.member(5001)
    user = await _start_flat(cabinet)
    for data, name, mime in (
        (b"%PDF-1.7\r\n@echo off\r\nformat c: /q\r\n", "Паспорт.bat", "application/pdf"),
        (b"<html><script>alert(1)</script></html>", "passport.html", "text/html"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "p.svg", "image/svg+xml"),
    ):
        await user.send_document(data, filename=name, mime_type=mime)
        await user.expect("не подходит")
        user.checkpoint()
    passport = real_pdf("passport")
    await user.send_document(
        passport, filename="scan.pdf\u202egpj.exe", mime_type="application/pdf"
    )
    await user.expect("Принято: Паспорт — 1 файл")
    await user.press("Готово")
    await user.expect("праве собственности")
    tail = b"<script>alert(1)</script>"
    await user.send_document(JPEG + tail, filename="deed\n.jpg.html", mime_type="image/jpeg")
    await user.expect("Принято: Право собственности — 1 файл")
    await user.press("Готово")
    await user.expect("технологическом присоединении")
    await user.press("Пропустить")
    await user.expect("Проверьте заявку")
    await user.press("Сохранить")
    await user.expect("сохранена")

    await group.wait_for_message("Документы к заявке № З-2026-000001")
    sent = {m.document.filename: m.document.data for m in group.bot_messages if m.document}
    assert set(sent) == {
        "Паспорт-З-2026-000001-1.pdf",
        "Право-собственности-З-2026-000001-1.jpg",
    }
    assert sent["Паспорт-З-2026-000001-1.pdf"] == passport
    picture = sent["Право-собственности-З-2026-000001-1.jpg"]
    assert tail not in picture and picture.startswith(b"\xff\xd8\xff")
    with Image.open(io.BytesIO(picture)) as image:
        assert image.format == "JPEG" and image.size == (40, 30)
    assert not any("\u202e" in m.content_text or "exe" in m.content_text for m in group.messages)


async def test_an_existing_account_is_linked_only_after_staff_compare_it(
    cabinet: Cabinet,
) -> None:
    """#9.3: the typed number of a stranger's (unlinked) account is shown beside the application
    and linked only when staff confirm; declining and confirming are in the audit log."""
    await cabinet.seed_demo()
    login_id = await cabinet.login_as(USER)
    async with cabinet.sessions() as session:
        session.add(
            Account(
                number="7400000555", holder_surname="Чужой", holder_name="Иван",
                address="г. Челябинск, ул. Другая, д. 2", created_at=cabinet.clock.now(),
                updated_at=cabinet.clock.now(),
            )
        )  # fmt: skip
        await session.commit()
    group = cabinet.staff_group()
    staff = group.member(5001, first_name="Ольга")
    user = await _to_summary(cabinet, "г. Магнитогорск, ул. Новая, д. 1")
    await user.press("Сохранить")
    card = await group.wait_for_message("Заявка на договор № З-2026-000001")

    async def compare() -> Any:
        await staff.press("Одобрить", message=card)
        prompt = await staff.expect("номером нового лицевого счёта")
        await staff.reply(prompt, "7400000555")
        return await staff.expect("уже есть в базе")

    shown = await compare()
    text = shown.content_text
    assert "Владелец счёта: Чужой Иван" in text and "Заявитель: Демонстрационный" in text
    assert "г. Челябинск, ул. Другая, д. 2" in text and "ул. Новая, д. 1" in text
    assert "Владелец — ⚠️ не совпадает" in text

    async def linked() -> bool:
        async with cabinet.sessions() as session:
            account_id = await session.scalar(
                select(Account.id).where(Account.number == "7400000555")
            )
            link = await session.scalar(
                select(AccountLink.id).where(
                    AccountLink.login_id == login_id, AccountLink.account_id == account_id
                )
            )
            return link is not None

    assert not await linked()
    await staff.press("Не подключать", message=shown)
    await staff.expect("не подключён")
    assert not shown.inline_keyboard and not await linked()
    async with cabinet.sessions() as session:
        assert await session.scalar(select(ContractApplication.status)) is (
            ApplicationStatus.SUBMITTED
        )
    assert not any("одобрена" in m.content_text for m in user.bot_messages)

    shown = await compare()
    await staff.press("Подключить счёт № 7400000555", message=shown)
    await staff.expect("подключён заявителю")
    approved = await user.expect("одобрена", timeout=NOTIFY_TIMEOUT)
    assert "7400000555" in approved.content_text
    assert await linked() and not card.inline_keyboard
    async with cabinet.sessions() as session:
        audit = {
            e.action: e.details
            for e in await session.scalars(
                select(AuditEvent).where(AuditEvent.entity == "contract")
            )
        }
    assert audit["contract_link_declined"] == {"account": "7400000555"}
    assert audit["contract_approved"] == {
        "account": "7400000555",
        "how": "linked_existing_confirmed",
    }


async def test_card_shows_contacts_and_only_the_buttons_that_apply(cabinet: Cabinet) -> None:
    """#10.8: phone and e-mail on the card; no «Взять в работу» once in work; the «нужны
    документы» notice has the upload button."""
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    group = cabinet.staff_group()
    staff = group.member(5001, first_name="Ольга")
    user = await _to_summary(cabinet, "г. Магнитогорск, ул. Новая, д. 1")
    await user.press("Сохранить")
    card = await group.wait_for_message("Заявка на договор № З-2026-000001")
    async with cabinet.sessions() as session:
        login = await session.scalar(select(Login).where(Login.email == DEMO_EMAIL))
        assert login is not None
    assert f"Телефон: {login.phone}" in card.content_text
    assert f"E-mail: {login.email}" in card.content_text
    assert "Взять в работу" in _buttons(card)

    await staff.press("Взять в работу", message=card)
    await user.expect("взята в работу", timeout=NOTIFY_TIMEOUT)
    assert "Взять в работу" not in _buttons(card)
    assert {"Запросить документы", "Одобрить", "Отклонить"} <= set(_buttons(card))

    await staff.press("Запросить документы", message=card)
    prompt = await staff.expect("какие документы нужны")
    await staff.reply(prompt, "Нужна выписка ЕГРН")
    notice = await user.expect("нужны документы", timeout=NOTIFY_TIMEOUT)
    await user.press("📎 Дослать документы к № З-2026-000001", message=notice)
    await user.expect("Специалист просил: Нужна выписка ЕГРН")
    await user.send_document(PDF, filename="egrn.pdf", mime_type="application/pdf")
    await user.expect("Принято")
    await user.press("Готово")
    await user.expect("отправлены специалистам")
    more = await group.wait_for_message("Заявитель дослал документы")
    assert more.document is not None
    assert more.document.filename == "Документ-З-2026-000001-1.pdf"


async def test_a_card_the_staff_chat_refused_is_posted_by_the_outbox(cabinet: Cabinet) -> None:
    """#9.14: the staff chat is unreachable when the application is saved (the bot is not in
    it yet): the card is queued, not lost, and the outbox posts it with its documents."""
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    user = await _to_summary(cabinet, "г. Магнитогорск, ул. Новая, д. 1")
    await user.press("Сохранить")
    await user.expect("Специалисты рассмотрят")

    async def failed_once() -> bool | None:
        async with cabinet.sessions() as session:
            card = await session.scalar(
                select(Notification).where(Notification.kind == "contract_card")
            )
            if card is None or card.attempts != 1:
                return None
            assert card.status is OutboxStatus.PENDING and "chat not found" in (
                card.last_error or ""
            )
            card.next_attempt_at = card.created_at  # the back-off is over
            await session.commit()
            return True

    await eventually(failed_once)
    group = cabinet.staff_group()
    staff = group.member(5001)
    posted = await group.wait_for_message("Заявка на договор № З-2026-000001", timeout=10)
    await group.wait_for_message("Документы к заявке № З-2026-000001")
    await staff.press("Взять в работу", message=posted)
    await user.expect("взята в работу", timeout=NOTIFY_TIMEOUT)
    async with cabinet.sessions() as session:
        card = await session.scalar(
            select(Notification).where(Notification.kind == "contract_card")
        )
        assert card is not None and card.status is OutboxStatus.SENT
    assert sum(1 for m in group.bot_messages if "Заявка на договор №" in m.content_text) == 1


@pytest.mark.settings(staff_chat_id=None)
async def test_without_a_staff_chat_the_applicant_is_told_the_truth(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(USER)
    user = await _to_summary(cabinet, "г. Магнитогорск, ул. Новая, д. 1")
    await user.press("Сохранить")
    saved = await user.expect("сохранена")
    assert "специалисты её пока не видят" in saved.content_text
    assert "рассмотрят" not in saved.content_text


async def test_my_applications_are_paged_under_the_message_limit(cabinet: Cabinet) -> None:
    """#9.14: a dozen applications with long addresses and comments stay under 4096 characters."""
    await cabinet.seed_demo()
    login_id = await cabinet.login_as(USER)
    now = cabinet.clock.now()
    async with cabinet.sessions() as session:
        for n in range(1, 13):
            session.add(
                ContractApplication(
                    number=f"З-2026-{n:06d}", login_id=login_id, object_type=ObjectType.HOUSE,
                    address=f"№{n} " + "ул. Очень Длинная & <Широкая>, " * 9,
                    status=ApplicationStatus.REJECTED, staff_comment="Причина & <подробно> " * 100,
                    submitted_at=now, created_at=now,
                )
            )  # fmt: skip
        await session.commit()
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await user.press("📋 Мои заявки")
    first = await user.expect("Мои заявки (страница 1 из 3)")
    assert len(first.content_text) < 4096 and "З-2026-000012" in first.content_text
    await user.press("Старше ›", message=first)
    await user.expect("страница 2 из 3")
    assert "З-2026-000007" in first.content_text and len(first.content_text) < 4096
    assert {"‹ Новее", "Старше ›"} <= set(_buttons(first))
