"""«⚙️ Настройки» as a subscriber sees it: the profile edited field by field, the e-mail change
confirmed by a letter (the file mailer in MAIL_DIR), subscriptions, the password change that
logs the other Telegram sessions out, «Выйти», and the erasure of personal data."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import func, select

from bot.app import build_storage
from bot.texts import auth as auth_texts
from bot.texts import common as common_texts
from bot.texts import settings as texts
from models import (
    Account,
    AccountLink,
    Charge,
    Login,
    Payment,
    Subscription,
    TelegramIdentity,
)
from services.demo import DEMO_EMAIL, DEMO_PASSWORD
from services.passwords import verify_password
from tests.helpers import eventually
from tests.smtp_server import body

LINK = re.compile(r"https://t\.me/mef_cabinet_bot\?start=(em_[A-Za-z0-9_-]{32})")
CODE = re.compile(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b")


async def open_settings(user: Any, button: str) -> Any:
    await user.send(common_texts.MENU_SETTINGS)
    await user.expect("Что хотите настроить?")
    await user.press(button)


async def demo_login(cabinet: Any) -> Login:
    """The demo login (the only one; its e-mail changes in these tests)."""
    async with cabinet.sessions() as session:
        login: Login | None = await session.scalar(select(Login).order_by(Login.id).limit(1))
        assert login is not None
        return login


async def letters_to(mail_dir: Path, address: str, count: int = 1) -> list[EmailMessage]:
    """The letters the file mailer wrote to `address`, once there are `count` of them (in no
    particular order: the files are named by the second they were written in)."""

    async def written() -> list[EmailMessage] | None:
        found = [m for m in _read_letters(mail_dir) if address in str(m["To"])]
        return found if len(found) >= count else None

    return await eventually(written)


def _read_letters(mail_dir: Path) -> list[EmailMessage]:
    found = []
    for path in mail_dir.glob("*.eml") if mail_dir.exists() else []:
        letter = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(letter, EmailMessage)
        found.append(letter)
    return found


async def dialog_state(cabinet: Any, user_id: int) -> str | None:
    storage = build_storage(cabinet.settings, cabinet.engine, cabinet.sessions)
    try:
        bot_id = int(cabinet.settings.bot_token.get_secret_value().split(":")[0])
        return await storage.get_state(StorageKey(bot_id=bot_id, chat_id=user_id, user_id=user_id))
    finally:
        await storage.close()


async def test_profile_is_edited_one_field_at_a_time_and_saved(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1101)
    await cabinet.login_as(user.id)
    await open_settings(user, texts.BTN_PROFILE)
    card = await user.expect("Мой профиль")
    assert DEMO_EMAIL in card.content_text and "Демонстрационный" in card.content_text
    assert "+7 999 123-45-67" in card.content_text

    # An edit left with /cancel changes nothing.
    await user.press(texts.BTN_EDIT["phone"])
    await user.expect("Укажите новый номер телефона")
    await user.send("нет номера")
    await user.expect(auth_texts.PHONE_NOT_A_NUMBER)
    await user.press("Поделиться номером")
    await user.expect("Проверьте профиль")
    await user.send("/cancel")
    await user.expect(common_texts.CANCELLED)
    assert (await demo_login(cabinet)).phone == "+79991234567"

    # Phone, surname and patronymic, one at a time, then «Сохранить».
    await open_settings(user, texts.BTN_PROFILE)
    await user.expect("Мой профиль")
    await user.press(texts.BTN_EDIT["phone"])
    await user.expect("номер телефона")
    await user.share_contact("79501234567", own=False)
    await user.expect(auth_texts.CONTACT_NOT_OWN)
    await user.send("8 (950) 765-43-21")
    await user.expect("Телефон: +7 950 765-43-21 — принято.")
    summary = await user.expect("Проверьте профиль")
    assert "Телефон: +7 950 765-43-21 ✏️" in summary.content_text
    await user.press(texts.BTN_EDIT["surname"])
    await user.expect("Введите фамилию")
    await user.send("иванова2")
    await user.expect(texts.NAME_PART_BAD)
    await user.send("сидорова-петрова")
    await user.expect("Фамилия: Сидорова-Петрова — принято.")
    await user.press(texts.BTN_EDIT["name"])
    await user.expect("Введите имя")
    await user.press(common_texts.BTN_BACK)
    await user.expect(texts.FIELD_KEPT)
    await user.press(texts.BTN_EDIT["patronymic"])
    await user.expect("Введите отчество")
    await user.send_sticker()
    await user.expect("Сейчас я жду новое значение поля")
    await user.send("петровна")
    summary = await user.expect("Проверьте профиль")
    assert "Отчество: Петровна ✏️" in summary.content_text
    assert "Имя: Абонент\n" in summary.content_text  # untouched, not marked
    save_button = summary.inline_keyboard[0][0]
    await user.press(common_texts.BTN_SAVE)
    saved = await user.expect("Профиль сохранён")
    assert "телефон, фамилия, отчество" in saved.content_text
    await user.expect("Фамилия: Сидорова-Петрова\n")
    login = await demo_login(cabinet)
    assert (login.phone, login.surname, login.name, login.patronymic) == (
        "+79507654321", "Сидорова-Петрова", "Абонент", "Петровна",
    )  # fmt: skip

    await user.press_button(summary, save_button)  # a second press
    assert (await user.expect_callback_answer()).text == common_texts.STALE_BUTTON

    # «Без отчества» clears it.
    await user.press(texts.BTN_EDIT["patronymic"])
    await user.expect("Введите отчество")
    await user.press(texts.BTN_NO_PATRONYMIC)
    await user.expect("Отчество: не указано — принято.")
    await user.press(common_texts.BTN_SAVE)
    await user.expect("изменено — отчество")
    assert (await demo_login(cabinet)).patronymic is None


async def test_subscriptions_are_toggled_and_saved_at_once(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1102)
    login_id = await cabinet.login_as(user.id)
    await open_settings(user, texts.BTN_SUBSCRIPTIONS)
    screen = await user.expect("Мои подписки")
    assert screen.inline_buttons[:3] == [
        ["✅ Напоминания о показаниях"], ["✅ Ежемесячный счёт"], ["⬜ SMS"],
    ]  # fmt: skip
    old_button = screen.inline_keyboard[1][0]
    await user.press("Ежемесячный счёт")
    answer = await user.expect_callback_answer()
    assert answer.text == texts.subscription_saved("monthly_bill", False)
    screen = await user.expect("Мои подписки")
    assert screen.inline_buttons[1] == ["⬜ Ежемесячный счёт"]
    await user.press_button(screen, old_button)  # a double press: the old button again
    answer = await user.expect_callback_answer()
    assert answer.text == texts.subscription_same("monthly_bill", False)
    await user.press("SMS")
    assert (await user.expect_callback_answer()).text == texts.subscription_saved("sms", True)
    async with cabinet.sessions() as session:
        row = await session.get(Subscription, login_id)
        assert row is not None
        assert (row.reading_reminders, row.monthly_bill, row.sms) == (True, False, True)
        login = await session.get(Login, login_id)
        assert login is not None
        login.phone = ""
        row.sms = False
        await session.commit()
    await user.press(texts.BTN_TO_SETTINGS)
    await user.expect("Что хотите настроить?")
    await user.press(texts.BTN_SUBSCRIPTIONS)
    screen = await user.expect("нужен номер телефона")
    await user.press("SMS")
    answer = await user.expect_callback_answer()
    assert answer.text == texts.SMS_NEEDS_PHONE and answer.show_alert


async def test_email_changes_after_the_letter_and_the_old_address_is_told(cabinet: Any) -> None:
    await cabinet.seed_demo()
    mail_dir = cabinet.settings.mail_dir
    user = cabinet.user(1103)
    await cabinet.login_as(user.id)
    await open_settings(user, texts.BTN_PROFILE)
    await user.expect("Мой профиль")
    await user.press(texts.BTN_EDIT_EMAIL)
    await user.expect("новый адрес электронной почты")
    await user.send("не адрес")
    await user.expect("не похоже на адрес")
    await user.send(DEMO_EMAIL.upper())
    await user.expect(texts.EMAIL_UNCHANGED)
    await user.send("New.Demo@Example.ru")
    await user.expect("Письмо отправлено на new.demo@example.ru")
    [letter] = await letters_to(mail_dir, "new.demo@example.ru")
    assert "нового адреса" in str(letter["Subject"])
    code = CODE.search(body(letter))
    assert code is not None and LINK.search(body(letter)) is not None
    assert (await demo_login(cabinet)).email == DEMO_EMAIL  # not before the letter comes back

    wrong = await user.send("ACEF-HJ47")
    await user.expect("Код не подошёл")
    typed = await user.send(code.group(1))
    changed = await user.expect("Теперь ваш логин — new.demo@example.ru")
    assert changed.reply_keyboard is not None
    assert [common_texts.MENU_APPEALS, common_texts.MENU_SETTINGS] in changed.reply_keyboard
    assert {wrong.message_id, typed.message_id} <= set(user.deleted_message_ids)
    assert (await demo_login(cabinet)).email == "new.demo@example.ru"
    [notice] = await letters_to(mail_dir, DEMO_EMAIL)
    assert "Адрес входа изменён" in str(notice["Subject"])
    assert "new.demo@example.ru" in body(notice)

    # The link works in any chat, even a guest's; a second time it says it was used.
    await open_settings(user, texts.BTN_PROFILE)
    await user.expect("Мой профиль")
    await user.press(texts.BTN_EDIT_EMAIL)
    await user.expect("новый адрес электронной почты")
    await user.send("third@example.ru")
    await user.expect("Письмо отправлено")
    link = LINK.search(body((await letters_to(mail_dir, "third@example.ru"))[0]))
    assert link is not None
    await user.send("/menu")
    await user.expect(common_texts.MAIN_MENU)
    await open_settings(user, texts.BTN_PROFILE)
    card = await user.expect("Мой профиль")
    assert "ждёт подтверждения: third@example.ru" in card.content_text
    guest = cabinet.user(1104)
    opened = await guest.send(f"/start {link.group(1)}")
    await guest.expect("Теперь ваш логин — third@example.ru")
    assert opened.message_id in guest.deleted_message_ids
    await guest.send(f"/start {link.group(1)}")
    await guest.expect(texts.EMAIL_LINK_USED)
    assert (await demo_login(cabinet)).email == "third@example.ru"


async def test_password_change_logs_out_the_other_telegram_user(cabinet: Any) -> None:
    await cabinet.seed_demo()
    other = cabinet.user(1106)
    await cabinet.login_as(other.id)
    await other.send("/start")
    await other.expect("Здравствуйте")
    await open_settings(other, texts.BTN_PROFILE)
    await other.expect("Мой профиль")
    await other.press(texts.BTN_EDIT["name"])
    await other.expect("Введите имя")  # a dialog in flight on the other phone
    user = cabinet.user(1105)
    await cabinet.login_as(user.id)
    await user.send(common_texts.MENU_SETTINGS)
    section = await user.expect("Что хотите настроить?")
    [button] = [
        b for row in section.inline_keyboard for b in row if b["text"] == texts.BTN_PASSWORD
    ]
    await user.press(texts.BTN_PASSWORD)
    await user.expect("Введите текущий пароль")
    await user.press_button(section, button)  # a double press asks nothing twice
    await user.expect_nothing_else("/help", "Команды:")
    typed = [await user.send("Wrong2026pass")]
    await user.expect("осталось 4 попытки")
    typed.append(await user.send(DEMO_PASSWORD))
    await user.expect("Придумайте новый пароль")
    typed.append(await user.send("weakpass1"))
    await user.expect("Пароль не подходит")
    typed.append(await user.send("Brand2new"))
    await user.expect("Введите новый пароль ещё раз")
    typed.append(await user.send("Brand3new"))
    await user.expect(texts.PASSWORDS_DIFFER)
    typed.append(await user.send("Brand2new"))
    await user.expect("Введите новый пароль ещё раз")
    typed.append(await user.send("Brand2new"))
    done = await user.expect("Пароль изменён")
    assert "выполнен выход (1 сеанс)" in done.content_text
    assert {m.message_id for m in typed} <= set(user.deleted_message_ids)
    await other.expect("Пароль вашей учётной записи изменён", timeout=10)
    assert await dialog_state(cabinet, other.id) is None
    await other.send(common_texts.MENU_SETTINGS)
    await other.expect("доступен после входа")
    login = await demo_login(cabinet)
    assert await verify_password(login.password_hash, "Brand2new")
    async with cabinet.sessions() as session:
        mine = await session.get(TelegramIdentity, user.id)
        assert mine is not None and mine.login_id == login.id

    await open_settings(user, texts.BTN_LOGOUT)
    await user.expect("Вы вышли из личного кабинета")
    await user.send(common_texts.MENU_SETTINGS)
    await user.expect("доступен после входа")


async def test_erasure_keeps_billing_and_logs_everyone_out(cabinet: Any) -> None:
    await cabinet.seed_demo()
    login_id = await cabinet.login_as(1108)
    other = cabinet.user(1108)
    await other.send("/start")
    await other.expect("Здравствуйте")
    await open_settings(other, texts.BTN_PASSWORD)
    await other.expect("Введите текущий пароль")  # a dialog in flight on the other phone
    async with cabinet.sessions() as session:
        [account_id] = (
            await session.scalars(
                select(AccountLink.account_id).where(AccountLink.login_id == login_id)
            )
        ).all()
        charges = await session.scalar(
            select(func.count()).select_from(Charge).where(Charge.account_id == account_id)
        )
        payments = await session.scalar(
            select(func.count()).select_from(Payment).where(Payment.account_id == account_id)
        )
    assert charges and payments

    user = cabinet.user(1107)
    await cabinet.login_as(user.id)
    await open_settings(user, texts.BTN_ERASE)
    question = await user.expect("Удалить данные?")
    assert "402-ФЗ" in question.content_text
    await user.send_sticker()
    await user.expect("Сейчас я жду ответ кнопкой")
    erase_button = question.inline_keyboard[0][0]
    await user.press(texts.BTN_ERASE_YES)
    erased = await user.expect("согласие на обработку персональных данных отозвано")
    assert "402-ФЗ" in erased.content_text
    await user.press_button(question, erase_button)  # a second press
    assert (await user.expect_callback_answer()).text == common_texts.STALE_BUTTON
    await other.expect(texts.ERASED_ELSEWHERE, timeout=10)
    assert await dialog_state(cabinet, other.id) is None

    async with cabinet.sessions() as session:
        login = await session.get(Login, login_id)
        assert login is not None and login.consent_withdrawn_at is not None
        assert (login.email, login.phone, login.surname, login.name, login.password_hash) == (
            f"erased-{login_id}@erased.invalid", "", "", "", "",
        )  # fmt: skip
        assert login.consent_version == auth_texts.CONSENT_VERSION
        for user_id in (user.id, other.id):
            identity = await session.get(TelegramIdentity, user_id)
            assert identity is not None and identity.login_id is None
        assert await session.get(Subscription, login_id) is None
        links = select(func.count()).select_from(AccountLink)
        assert await session.scalar(links.where(AccountLink.login_id == login_id)) == 0
        assert await session.get(Account, account_id) is not None
        assert charges == await session.scalar(
            select(func.count()).select_from(Charge).where(Charge.account_id == account_id)
        )
        assert payments == await session.scalar(
            select(func.count()).select_from(Payment).where(Payment.account_id == account_id)
        )
    await user.send(common_texts.MENU_SETTINGS)
    await user.expect("доступен после входа")
    await user.send("/login")
    await user.expect("Введите e-mail")
    await user.send(DEMO_EMAIL)
    await user.expect("Введите пароль")
    await user.send(DEMO_PASSWORD)
    await user.expect("Неверный e-mail или пароль")


@pytest.mark.settings(mail_per_user_per_day=2)
async def test_email_letters_are_limited_and_the_last_code_still_works(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1109)
    await cabinet.login_as(user.id)
    await open_settings(user, texts.BTN_PROFILE)
    await user.expect("Мой профиль")
    await user.press(texts.BTN_EDIT_EMAIL)
    await user.expect("новый адрес электронной почты")
    await user.send("first@example.ru")
    await user.expect("Письмо отправлено на first@example.ru")
    [letter] = await letters_to(cabinet.settings.mail_dir, "first@example.ru")
    await user.send("/cancel")
    await user.expect(common_texts.CANCELLED)
    await open_settings(user, texts.BTN_PROFILE)
    await user.expect("Мой профиль")
    await user.press(texts.BTN_EDIT_EMAIL)
    await user.expect("новый адрес электронной почты")
    await user.send("first@example.ru")
    await user.expect("только что отправлено")  # one letter a minute to an address
    await user.send("second@example.ru")
    await user.expect("Письмо отправлено на second@example.ru")
    await user.send("third@example.ru")  # typed instead of the code: another address
    await user.expect(auth_texts.MAIL_QUOTA_USER)
    old_code = CODE.search(body(letter))
    assert old_code is not None
    await user.send(old_code.group(1))
    await user.expect("Код не подошёл")  # only the newest letter works
    [newest] = await letters_to(cabinet.settings.mail_dir, "second@example.ru")
    code = CODE.search(body(newest))
    assert code is not None
    await user.send(code.group(1))
    await user.expect("Теперь ваш логин — second@example.ru")
