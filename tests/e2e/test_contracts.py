"""Contract applications end to end: the subscriber applies with documents, staff decide in
the group by buttons and replies, the subscriber is notified and gets the new account."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from models import Account, AccountLink, ApplicationStatus, ContractApplication
from tests.e2e.conftest import Cabinet
from tests.helpers import real_jpeg, real_pdf

USER = 1001
JPEG = real_jpeg()
PDF = real_pdf()
NOTIFY_TIMEOUT = 10.0  # the outbox is delivered every few seconds


async def _apply(cabinet: Cabinet) -> Any:
    """A subscriber files an application for a flat with a passport photo and a title PDF."""
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await user.press("📝 Заявка на договор")
    await user.expect("тип объекта")
    await user.press("Квартира")
    await user.expect("адрес объекта")
    await user.send("г. Магнитогорск, ул. Новая, д. 1, кв. 2")
    await user.expect("Паспорт")
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


async def _to_summary(cabinet: Cabinet, address: str) -> Any:
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await user.press("📝 Заявка на договор")
    await user.expect("тип объекта")
    await user.press("Квартира")
    await user.expect("адрес объекта")
    await user.send(address)
    await user.expect("Паспорт")
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


@pytest.mark.settings(max_upload_mb=1)
async def test_oversized_file_is_refused_and_the_step_stays(cabinet: Cabinet) -> None:
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
