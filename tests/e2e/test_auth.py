"""Registration, activation by e-mail, login, lockouts and password reset, as a subscriber sees them.

Letters go by real SMTP to an aiosmtpd server on 127.0.0.1 started for each test.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import func, select

from bot.app import build_storage
from bot.texts import auth as texts
from bot.texts import common as common_texts
from emulator.state import wait_until
from models import (
    AuditEvent,
    EmailToken,
    Login,
    PendingRegistration,
    Subscription,
    TelegramIdentity,
)
from services import auth
from services.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.smtp_server import SmtpSink, body

EMAIL = "Lyudmila.RK@Example.ru"
NORMALISED = "lyudmila.rk@example.ru"
PASSWORD = "Secret2026pass"
LINK = re.compile(r"https://t\.me/mef_cabinet_bot\?start=([A-Za-z0-9_-]{1,64})")
CODE = re.compile(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b")
APOLOGY = "что-то пошло не так"


@pytest.fixture(autouse=True)
async def smtp(request: pytest.FixtureRequest) -> AsyncIterator[SmtpSink]:
    """Start the SMTP server before the bot and point the bot's settings at it."""
    async with SmtpSink() as sink:
        marker = request.node.get_closest_marker("settings")
        overrides: dict[str, Any] = dict(marker.kwargs) if marker else {}
        overrides.update(smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none")
        request.node.add_marker(pytest.mark.settings(**overrides), append=False)
        yield sink


async def captcha_answer(cabinet: Any, user_id: int) -> str:
    """The text on the picture, read from the dialog's stored state (what a human would read)."""
    storage = build_storage(cabinet.settings, cabinet.engine, cabinet.sessions)
    try:
        bot_id = int(cabinet.settings.bot_token.get_secret_value().split(":")[0])
        data = await storage.get_data(StorageKey(bot_id=bot_id, chat_id=user_id, user_id=user_id))
    finally:
        await storage.close()
    return str(data["captcha_text"])


async def fill_in_until_captcha(user: Any, *, email: str = EMAIL) -> None:
    """From the greeting to the CAPTCHA (step 4, before any password is typed)."""
    await user.send("/start")
    await user.expect("Войдите")
    await user.press(common_texts.BTN_REGISTER)
    await user.expect("фамилию, имя и отчество")
    await user.send("римская-корсакова людмила петровна")
    await user.expect("адрес электронной почты")
    await user.send(email)
    await user.expect("номер телефона")
    await user.press("Поделиться номером")


async def type_passwords(user: Any) -> list[int]:
    """The password step, twice; returns the ids of the messages that held the password."""
    await user.expect("Придумайте")
    first = await user.send(PASSWORD)
    await user.expect("Введите этот пароль ещё раз")
    second = await user.send(PASSWORD)
    await user.expect("Пароль принят")
    return [first.message_id, second.message_id]


async def solve_captcha(cabinet: Any, user: Any) -> None:
    await user.expect("текст с картинки")
    await user.send((await captcha_answer(cabinet, user.id)).lower())


async def register_until_summary(cabinet: Any, user: Any, *, email: str = EMAIL) -> list[int]:
    await fill_in_until_captcha(user, email=email)
    await solve_captcha(cabinet, user)
    passwords = await type_passwords(user)
    await user.expect("Прочитайте текст выше")
    await user.press(texts.BTN_CONSENT_YES)
    summary = await user.expect("Проверьте данные")
    assert "Римская-Корсакова Людмила Петровна" in summary.content_text
    assert "+7 999" in summary.content_text
    assert PASSWORD not in summary.content_text
    return passwords


async def register(cabinet: Any, user: Any, *, email: str = EMAIL) -> list[int]:
    passwords = await register_until_summary(cabinet, user, email=email)
    await user.press(texts.BTN_SUBMIT)
    return passwords


async def log_in(user: Any, email: str, password: str) -> Any:
    await user.send("/login")
    await user.expect("Введите e-mail")
    await user.send(email)
    await user.expect("Введите пароль")
    return await user.send(password)


def token_of(letter: Any) -> str:
    match = LINK.search(body(letter))
    assert match, body(letter)
    return match.group(1)


def code_of(letter: Any) -> str:
    match = CODE.search(body(letter))
    assert match, body(letter)
    return match.group(1)


async def count(cabinet: Any, model: Any) -> int:
    async with cabinet.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def send_sticker(user: Any) -> None:
    """A sticker, as a Telegram client sends it (the emulator has no helper for it)."""
    message = user._message()
    message.service = {
        "sticker": {
            "file_id": "CAACAgIAAxk", "file_unique_id": "AgAD", "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False,
        }
    }  # fmt: skip
    user._deliver(message)


# --- registration and activation -------------------------------------------------------------


async def test_registration_link_logs_the_registrant_in(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1001)
    await user.send("/register")
    first = await user.expect("фамилию, имя и отчество")
    assert "Шаг 1 из 6." in first.content_text
    await user.send("римская-корсакова людмила петровна")
    assert "Шаг 2 из 6." in (await user.expect("адрес электронной почты")).content_text
    await user.send(EMAIL)
    assert "Шаг 3 из 6." in (await user.expect("номер телефона")).content_text
    await user.press("Поделиться номером")
    picture = await user.expect("текст с картинки")
    assert "Шаг 4 из 6." in picture.content_text and picture.photo is not None
    await user.send(await captcha_answer(cabinet, user.id))
    assert "Шаг 5 из 6." in (await user.expect("Придумайте")).content_text
    first_password = await user.send(PASSWORD)
    await user.expect("Введите этот пароль ещё раз")
    second_password = await user.send(PASSWORD)
    assert "Шаг 6 из 6." in (await user.expect("Прочитайте текст выше")).content_text
    await user.press(texts.BTN_CONSENT_YES)
    await user.expect("Проверьте данные")
    await user.press(texts.BTN_SUBMIT)
    await user.expect("Мы отправили письмо")
    for message in (first_password, second_password):
        assert message.message_id in user.deleted_message_ids

    letter = await smtp.wait_for_letter(NORMALISED)
    plain, html = body(letter), body(letter, "html")
    token, code = token_of(letter), code_of(letter)
    assert len(token) >= 22 and token in plain and token in html
    assert len(code.replace("-", "")) == 8 and code in plain and code in html
    assert "Активация" in str(letter["Subject"]) and "Людмила" in plain
    async with cabinet.sessions() as session:  # nothing exists under the address yet
        assert await session.scalar(select(func.count()).select_from(Login)) == 0

    await user.send(f"/start {token}")
    greeting = await user.expect("Учётная запись активирована, Людмила! Вы вошли")
    assert greeting.reply_keyboard is not None
    assert any(common_texts.MENU_READINGS in row for row in greeting.reply_keyboard)
    await user.send(f"/start {token}")
    await user.expect("уже использована")

    async with cabinet.sessions() as session:
        login = await session.scalar(select(Login).where(Login.email == NORMALISED))
        assert login is not None and login.activated_at is not None
        assert (login.surname, login.name, login.patronymic) == (
            "Римская-Корсакова",
            "Людмила",
            "Петровна",
        )
        assert login.phone.startswith("+7999") and login.consent_version == texts.CONSENT_VERSION
        assert PASSWORD not in login.password_hash
        assert await session.get(Subscription, login.id) is not None
        identity = await session.get(TelegramIdentity, user.id)
        assert identity is not None and identity.login_id == login.id
        stored = (await session.scalars(select(EmailToken.token_hash))).all()
        assert token not in stored and all(len(h) == 64 for h in stored)
        actions = (await session.scalars(select(AuditEvent.action))).all()
        assert {"auth.register", "auth.activate", "auth.login"} <= set(actions)
        details = " ".join(str(e.details) for e in await session.scalars(select(AuditEvent)))
        assert NORMALISED not in details and "+7999" not in details

    await user.send("/logout")
    await user.expect("Вы вышли")
    await log_in(user, NORMALISED.upper(), PASSWORD)
    await user.expect("Здравствуйте, Людмила")


async def test_typed_code_activates(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1002)
    await register(cabinet, user)
    await user.expect("Мы отправили письмо")
    code = code_of(await smtp.wait_for_letter(NORMALISED))
    typed = await user.send(code.lower().replace("-", " "))  # as typed on a phone
    await user.expect("Учётная запись активирована")
    assert typed.message_id in user.deleted_message_ids


async def test_a_link_opened_by_another_telegram_user_needs_the_password(
    cabinet: Any, smtp: SmtpSink
) -> None:
    registrant, other = cabinet.user(1040), cabinet.user(1041)
    await register(cabinet, registrant)
    await registrant.expect("Мы отправили письмо")
    token = token_of(await smtp.wait_for_letter(NORMALISED))
    await other.send(f"/start {token}")
    await other.expect("Введите пароль, который вы задали при регистрации")
    assert await count(cabinet, Login) == 0  # a click alone creates nothing
    await other.send("Wrong2026pass")
    await other.expect("Неверный e-mail или пароль")
    password = await other.send(PASSWORD)
    await other.expect("Вы вошли в личный кабинет")
    assert password.message_id in other.deleted_message_ids
    async with cabinet.sessions() as session:
        login_id = await session.scalar(select(Login.id).where(Login.email == NORMALISED))
        mine = await session.get(TelegramIdentity, other.id)
        theirs = await session.get(TelegramIdentity, registrant.id)
        assert mine is not None and mine.login_id == login_id
        assert theirs is None or theirs.login_id is None


async def test_wrong_captcha_and_refresh(cabinet: Any) -> None:
    user = cabinet.user(1003)
    await fill_in_until_captcha(user)
    first = await user.expect("текст с картинки")
    assert first.photo is not None
    assert first.reply_keyboard and texts.BTN_REFRESH_CAPTCHA in first.reply_keyboard[0]
    await user.send("неверно")
    await user.expect("осталось 2 попытки")

    await user.press(texts.BTN_REFRESH_CAPTCHA)
    refreshed = await user.expect("Новая картинка")
    assert refreshed.photo is not None and first.message_id in user.deleted_message_ids

    for left in ("осталось 2 попытки", "осталось 1 попытка"):
        await user.send("AAAAA1")
        await user.expect(left)
    await user.send("AAAAA1")
    third = await user.expect("Вот новая картинка")
    assert third.photo is not None and third.message_id != refreshed.message_id

    answer = await captcha_answer(cabinet, user.id)
    await user.send(" ".join(answer.lower()))  # case and spaces do not matter
    await user.expect("Придумайте")


@pytest.mark.settings(captcha_enabled=False)
async def test_captcha_can_be_switched_off(cabinet: Any) -> None:
    user = cabinet.user(1004)
    await fill_in_until_captcha(user)
    asked = await user.expect("Придумайте")
    assert "Шаг 4 из 5." in asked.content_text
    assert not cabinet.emu.calls_to("sendPhoto")


async def test_declining_consent_keeps_the_form(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1005)
    await fill_in_until_captcha(user)
    await solve_captcha(cabinet, user)
    await type_passwords(user)
    consent = await user.expect("Прочитайте текст выше")
    assert consent.inline_buttons == [["✅ Даю согласие", "Не соглашаюсь"]]  # no gendered form
    await user.press(texts.BTN_CONSENT_NO)
    refused = await user.expect("зарегистрироваться нельзя")
    assert refused.inline_buttons == [[texts.BTN_CONSENT_YES, common_texts.BTN_CANCEL]]
    assert await count(cabinet, Login) == 0 and await count(cabinet, PendingRegistration) == 0
    assert not smtp.letters
    await user.press(texts.BTN_CONSENT_YES)  # changed my mind: nothing to type again
    summary = await user.expect("Проверьте данные")
    assert "Римская-Корсакова Людмила Петровна" in summary.content_text


async def test_bad_input_is_explained_and_asked_again(cabinet: Any) -> None:
    user = cabinet.user(1006)
    await user.send("/register")
    await user.expect("фамилию, имя и отчество")
    await user.send("Иванов 1ван")
    await user.expect("только буквы")
    await user.send("Иванов")
    await user.expect("как минимум фамилия и имя")
    await user.send("Семёнов Пётр")  # «ё», no patronymic
    await user.expect("адрес электронной почты")
    await user.send("ivan@@example")
    await user.expect("не похоже на адрес")
    misplaced = await user.send("Secret2026pass")  # a password typed at the e-mail step
    await user.expect("не похоже на адрес")
    assert misplaced.message_id in user.deleted_message_ids
    await user.send("ivan@example.ru")
    await user.expect("номер телефона")
    await user.share_contact("79990001122", own=False)
    await user.expect("чужой контакт")
    await user.send("12345")
    await user.expect("номер")
    await user.send("+7 (999) 123 45 67")
    await solve_captcha(cabinet, user)
    await user.expect("Придумайте")
    weak = await user.send("password")
    reply = await user.expect("Пароль не подходит")
    assert "заглавная" in reply.content_text and "цифра" in reply.content_text
    assert weak.message_id in user.deleted_message_ids
    await user.send(PASSWORD)
    await user.expect("Введите этот пароль ещё раз")
    other = await user.send(PASSWORD + "x")
    await user.expect("Пароли не совпадают")
    assert other.message_id in user.deleted_message_ids


async def test_summary_lets_correct_a_field(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1007)
    await register_until_summary(cabinet, user)
    await user.press(texts.BTN_EDIT_EMAIL)
    asked = await user.expect("адрес электронной почты")
    assert "Шаг" not in asked.content_text  # correcting a field is not a numbered step
    await user.send("new.address@example.ru")
    summary = await user.expect("Проверьте данные")
    assert "new.address@example.ru" in summary.content_text
    await user.press(texts.BTN_EDIT_PHONE)
    await user.expect("номер телефона")
    await user.send("8 912 345-67-89")
    summary = await user.expect("Проверьте данные")
    assert "+7 912 345-67-89" in summary.content_text
    await user.press(texts.BTN_SUBMIT)
    await user.expect("Мы отправили письмо")
    await smtp.wait_for_letter("new.address@example.ru")


async def test_restart_in_the_middle_resumes(cabinet: Any) -> None:
    user = cabinet.user(1008)
    await user.send("/register")
    await user.expect("фамилию, имя и отчество")
    await user.send("Петрова Анна")
    await user.expect("адрес электронной почты")
    await cabinet.restart()
    await user.send("anna@example.ru")
    await user.expect("номер телефона")


async def test_existing_email_gets_the_same_reply(cabinet: Any, smtp: SmtpSink) -> None:
    await cabinet.seed_demo()
    newcomer, intruder = cabinet.user(1010), cabinet.user(1011)
    await register(cabinet, newcomer, email="fresh@example.ru")
    fresh = await newcomer.expect("Мы отправили письмо")
    await register(cabinet, intruder, email=DEMO_EMAIL.upper())
    taken = await intruder.expect("Мы отправили письмо")
    assert fresh.content_text.replace("fresh@example.ru", "X") == taken.content_text.replace(
        DEMO_EMAIL, "X"
    )
    assert fresh.inline_buttons == taken.inline_buttons

    letter = await smtp.wait_for_letter(DEMO_EMAIL)
    assert "пытался зарегистрироваться" in body(letter)
    assert await count(cabinet, Login) == 1  # the demo login only: nothing was created
    assert await count(cabinet, PendingRegistration) == 1  # the newcomer's, until activation

    await intruder.send(f"/start {token_of(letter)}")  # the mailbox owner follows the link
    await intruder.expect("Придумайте новый пароль")


async def test_register_while_logged_in_says_so(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1009)
    await cabinet.login_as(user.id)
    await user.send("/register")
    await user.expect("Вы уже вошли как Абонент")
    await user.send("Петрова Анна")  # not taken as the first answer of a registration
    await user.expect("Не понял")
    stray = await user.send(DEMO_PASSWORD)  # deleted, and not told to log in again
    guarded = await user.expect("удалил его из чата")
    assert stray.message_id in user.deleted_message_ids
    assert "Вы уже вошли" in guarded.text and "нажмите «Войти»" not in guarded.text
    async with cabinet.sessions() as session:
        identity = await session.get(TelegramIdentity, user.id)
        assert identity is not None and identity.login_id is not None  # still logged in


async def test_double_press_registers_once(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1030)
    await register_until_summary(cabinet, user)
    summary = user.bot_messages[-1]
    button = summary.inline_keyboard[0][0]
    assert button["text"] == texts.BTN_SUBMIT
    await user.press_button(summary, button)
    first = user._last_callback_id
    await user.press_button(summary, button)  # the second tap lands before the first is done
    second = user._last_callback_id
    await smtp.wait_for_letter(NORMALISED)
    await user.expect("Мы отправили письмо")
    user.checkpoint()
    for query_id in (first, second):
        assert query_id is not None
        assert await wait_until(user.chat.signal, partial(cabinet.emu.callback_answer, query_id), 5)
    await user.expect_nothing_else("/help", "Команды:")
    sent = [m for m in user.bot_messages if "Мы отправили письмо" in m.content_text]
    assert len(sent) == 1 and len(smtp.letters) == 1
    assert await count(cabinet, PendingRegistration) == 1


async def test_expired_link_leads_to_a_new_letter(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1031)
    await register(cabinet, user)
    await user.expect("Мы отправили письмо")
    token = token_of(await smtp.wait_for_letter(NORMALISED))
    cabinet.clock.advance(timedelta(hours=24, seconds=1))
    link = await user.send(f"/start {token}")
    await user.expect("Ссылка для активации устарела")
    assert link.message_id in user.deleted_message_ids
    await user.press(texts.BTN_LOGIN)
    await user.expect("Введите e-mail")
    await user.send(EMAIL)
    await user.expect("Введите пароль")
    await user.send(PASSWORD)
    await user.expect("ещё не активирована")
    await user.press("Отправить письмо ещё раз")
    await user.expect("Письмо отправлено ещё раз")
    await user.send(f"/start {token_of(await smtp.wait_for_letter(NORMALISED, index=1))}")
    await user.expect("Учётная запись активирована")


async def test_correcting_from_the_summary_can_go_back(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1033)
    await register_until_summary(cabinet, user)
    await user.press(texts.BTN_EDIT_PASSWORD)
    await user.expect("Придумайте")
    await user.send("Other2026pass")
    await user.expect("Введите этот пароль ещё раз")
    await user.press(common_texts.BTN_BACK)  # changed my mind: the old password stays
    await user.expect("Проверьте данные")
    await user.press(texts.BTN_EDIT_NAME)
    await user.expect("фамилию, имя и отчество")
    await user.press(common_texts.BTN_BACK)
    summary = await user.expect("Проверьте данные")
    assert "Римская-Корсакова Людмила Петровна" in summary.content_text
    await user.press(texts.BTN_SUBMIT)
    await user.expect("Мы отправили письмо")
    await user.send(f"/start {token_of(await smtp.wait_for_letter(NORMALISED))}")
    await user.expect("Учётная запись активирована")
    await user.send("/logout")
    await user.expect("Вы вышли")
    await log_in(user, EMAIL, PASSWORD)
    await user.expect("Здравствуйте, Людмила")


async def test_back_from_the_password_skips_the_solved_captcha(cabinet: Any) -> None:
    user = cabinet.user(1034)
    await fill_in_until_captcha(user)
    await solve_captcha(cabinet, user)
    await user.expect("Придумайте")
    await user.press(common_texts.BTN_BACK)
    await user.expect("номер телефона")  # not the picture again
    await user.send("8 912 345-67-89")
    await user.expect("Придумайте")


# --- login -----------------------------------------------------------------------------------


async def test_login_replies_do_not_tell_unknown_email_from_wrong_password(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user, other = cabinet.user(1012), cabinet.user(1112)
    await log_in(user, "nobody@example.ru", DEMO_PASSWORD)
    unknown = await user.expect("Неверный e-mail или пароль")
    await log_in(other, DEMO_EMAIL, "Wrong2026pass")
    wrong = await other.expect("Неверный e-mail или пароль")
    assert unknown.content_text == wrong.content_text
    assert unknown.inline_buttons == wrong.inline_buttons


async def test_a_wrong_password_asks_only_the_password_again(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1032)
    await log_in(user, DEMO_EMAIL, "Wrong2026pass")
    wrong = await user.expect("Введите пароль ещё раз")
    assert wrong.inline_buttons == [[texts.BTN_CHANGE_EMAIL, texts.BTN_FORGOT]]
    await user.send(DEMO_PASSWORD)  # no e-mail typed again
    await user.expect("Вы вошли в личный кабинет")

    await user.send("/logout")
    await user.expect("Вы вышли")
    await log_in(user, "typo@example.ru", DEMO_PASSWORD)
    await user.expect("Неверный e-mail или пароль")
    await user.press(texts.BTN_CHANGE_EMAIL)
    await user.expect("Введите e-mail")
    await user.send(DEMO_EMAIL)
    await user.expect("Введите пароль")
    await user.send(DEMO_PASSWORD)
    await user.expect("Вы вошли в личный кабинет")


async def test_the_lock_is_per_telegram_user_and_offers_a_reset(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1013)
    await log_in(user, DEMO_EMAIL, "Wrong2026pass")
    for _ in range(auth.PAIR_LIMIT - 2):
        await user.expect("Неверный e-mail или пароль")
        await user.send("Wrong2026pass")
    await user.expect("Неверный e-mail или пароль")
    await user.send("Wrong2026pass")
    locked = await user.expect("Вход временно закрыт")
    assert "12:15" in locked.content_text and "15 минут" in locked.content_text
    assert locked.inline_buttons == [[texts.BTN_FORGOT]]

    typed = await user.send(DEMO_PASSWORD)  # a password typed after the lock is still deleted
    await user.expect("Вход временно закрыт")
    assert typed.message_id in user.deleted_message_ids
    await user.send("/cancel")
    await user.expect("Действие отменено")
    stray = await user.send(DEMO_PASSWORD)  # … and outside any dialog too
    await user.expect("удалил его из чата")
    assert stray.message_id in user.deleted_message_ids
    await user.send("/login")
    await user.expect("Введите e-mail")
    await user.send(DEMO_EMAIL)
    await user.expect("Вход временно закрыт")

    owner = cabinet.user(1014)  # the owner on their own phone is not locked out
    await log_in(owner, DEMO_EMAIL, DEMO_PASSWORD)
    await owner.expect("Вы вошли в личный кабинет")

    await user.press(texts.BTN_FORGOT)
    await user.expect("Восстановление пароля")
    cabinet.clock.advance(timedelta(minutes=15, seconds=1))
    await log_in(user, DEMO_EMAIL, DEMO_PASSWORD)
    await user.expect("Вы вошли в личный кабинет")
    async with cabinet.sessions() as session:
        assert "auth.lockout" in (await session.scalars(select(AuditEvent.action))).all()


async def test_a_burst_of_failures_mails_the_owner_and_asks_for_a_captcha(
    cabinet: Any, smtp: SmtpSink
) -> None:
    await cabinet.seed_demo()
    for n in range(auth.LOGIN_SOFT_LIMIT // auth.PAIR_LIMIT):
        attacker = cabinet.user(1050 + n)
        await log_in(attacker, DEMO_EMAIL, "Wrong2026pass")
        for _ in range(auth.PAIR_LIMIT - 1):
            await attacker.expect("Введите пароль ещё раз")
            await attacker.send("Wrong2026pass")
        await attacker.expect("Вход временно закрыт")
    alert = await smtp.wait_for_letter(DEMO_EMAIL)
    assert "Неудачные попытки входа" in str(alert["Subject"])
    assert "не заблокирована" in body(alert) and not LINK.search(body(alert))

    owner = cabinet.user(1059)
    await owner.send("/login")
    await owner.expect("Введите e-mail")
    await owner.send(DEMO_EMAIL)
    picture = await owner.expect("много неудачных попыток входа")
    assert picture.photo is not None
    await owner.send(await captcha_answer(cabinet, owner.id))
    await owner.expect("Введите пароль")
    await owner.send(DEMO_PASSWORD)
    await owner.expect("Вы вошли в личный кабинет")
    assert len([m for m in smtp.letters if DEMO_EMAIL in str(m["To"])]) == 1  # one alert only


async def test_unactivated_login_offers_resend_with_cooldown(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1015)
    await register(cabinet, user)
    await user.expect("Мы отправили письмо")
    await smtp.wait_for_letter(NORMALISED)

    await log_in(user, EMAIL, PASSWORD)
    await user.expect("ещё не активирована")
    await user.press("Отправить письмо ещё раз")
    answer = await user.expect_callback_answer()
    assert answer.text and "через" in answer.text and answer.show_alert

    cabinet.clock.advance(timedelta(seconds=61))
    await user.press("Отправить письмо ещё раз")
    await user.expect("Письмо отправлено ещё раз")
    second = await smtp.wait_for_letter(NORMALISED, index=1)
    await user.send(f"/start {token_of(second)}")
    await user.expect("Учётная запись активирована, Людмила! Вы вошли")


async def test_smtp_refusal_is_retried(cabinet: Any, smtp: SmtpSink) -> None:
    smtp.refuse_next(1)
    user = cabinet.user(1016)
    await register(cabinet, user)
    await user.expect("Мы отправили письмо", timeout=10)
    await smtp.wait_for_letter(NORMALISED)
    assert smtp.refused == 1


async def test_smtp_down_is_told_plainly(cabinet: Any, smtp: SmtpSink) -> None:
    smtp.refuse_next(100)
    user = cabinet.user(1017)
    await register(cabinet, user)
    await user.expect("Не получилось отправить письмо", timeout=10)
    assert not smtp.letters
    smtp.refuse_next(0)
    cabinet.clock.advance(timedelta(minutes=1))
    await user.press("Отправить письмо ещё раз")
    await user.expect("Письмо отправлено ещё раз")
    await smtp.wait_for_letter(NORMALISED)


async def test_the_password_message_that_cannot_be_deleted_is_told(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1018)
    await user.send("/login")
    await user.expect("Введите e-mail")
    await user.send(DEMO_EMAIL)
    await user.expect("Введите пароль")
    cabinet.emu.inject_failure(
        "deleteMessage", status=400, description="Bad Request: message can't be deleted"
    )
    kept = await user.send(DEMO_PASSWORD)
    await user.expect("Удалите его сами")
    await user.expect("Вы вошли в личный кабинет")  # the login itself goes on
    assert kept.message_id not in user.deleted_message_ids


async def test_logout(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1023)
    await cabinet.login_as(user.id)
    await user.send("/logout")
    await user.expect("Вы вышли из личного кабинета")
    await user.send(common_texts.MENU_READINGS)
    await user.expect("доступен после входа")
    await user.send("/logout")
    said = await user.expect("не входили")
    assert "и так" not in said.content_text


# --- password reset --------------------------------------------------------------------------


async def start_reset(cabinet: Any, user: Any, email: str) -> None:
    """«Забыли пароль?» from a failed login, the address, the CAPTCHA."""
    await log_in(user, email, "Forgotten1pass")
    await user.expect("Неверный e-mail или пароль")
    await user.press(texts.BTN_FORGOT)
    asked = await user.expect("Восстановление пароля")
    assert "Шаг 1 из 4." in asked.content_text
    await user.send(email)
    picture = await user.expect("Шаг 2 из 4.")
    assert picture.photo is not None
    await user.send(await captcha_answer(cabinet, user.id))


async def test_password_reset_by_code_logs_out_other_sessions(cabinet: Any, smtp: SmtpSink) -> None:
    await cabinet.seed_demo()
    phone_owner = cabinet.user(1020)
    await cabinet.login_as(phone_owner.id)
    await phone_owner.send("/start")
    await phone_owner.expect("Здравствуйте")
    user = cabinet.user(1021)
    await start_reset(cabinet, user, DEMO_EMAIL)
    sent = await user.expect("Если этот e-mail зарегистрирован")
    assert "Шаг 3 из 4." in sent.content_text
    letter = await smtp.wait_for_letter(DEMO_EMAIL)
    assert "Восстановление пароля" in str(letter["Subject"])
    code = await user.send(code_of(letter))
    await user.expect("Придумайте новый пароль")
    assert code.message_id in user.deleted_message_ids
    first = await user.send("Brand2new")
    await user.expect("Введите новый пароль ещё раз")
    second = await user.send("Brand2new")
    await user.expect("Пароль изменён")
    assert {first.message_id, second.message_id} <= set(user.deleted_message_ids)
    await user.send(f"/start {token_of(letter)}")
    used = await user.expect("пароль по нему уже изменён")
    assert texts.BTN_FORGOT in str(used.inline_buttons)
    await phone_owner.expect("Пароль вашей учётной записи изменён", timeout=10)

    async with cabinet.sessions() as session:
        identity = await session.get(TelegramIdentity, phone_owner.id)
        assert identity is not None and identity.login_id is None
    await user.send("/logout")
    await user.expect("Вы вышли")
    await log_in(user, DEMO_EMAIL, DEMO_PASSWORD)
    await user.expect("Неверный e-mail или пароль")
    await user.send("Brand2new")
    await user.expect("Вы вошли в личный кабинет")


async def test_unknown_email_reset_gets_the_same_reply(cabinet: Any, smtp: SmtpSink) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1022)
    await start_reset(cabinet, user, "nobody@example.ru")
    await user.expect("Если этот e-mail зарегистрирован")
    await user.press(common_texts.BTN_BACK)  # a typo in the address
    await user.expect("Введите e-mail")
    await user.send(DEMO_EMAIL)
    await user.expect("Шаг 2 из 4.")
    await user.send(await captcha_answer(cabinet, user.id))
    await user.expect("Если этот e-mail зарегистрирован")
    letter = await smtp.wait_for_letter()
    assert DEMO_EMAIL in str(letter["To"]) and len(smtp.letters) == 1


async def test_reset_refuses_a_bad_email_and_survives_a_mail_outage(
    cabinet: Any, smtp: SmtpSink
) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1024)
    await log_in(user, DEMO_EMAIL, "Forgotten1pass")
    await user.expect("Неверный e-mail или пароль")
    await user.press(texts.BTN_FORGOT)
    await user.expect("Восстановление пароля")
    await user.send("demo@@example")
    await user.expect("не похоже на адрес")
    smtp.refuse_next(100)
    await user.send(DEMO_EMAIL)
    await user.expect("Шаг 2 из 4.")
    await user.send(await captcha_answer(cabinet, user.id))
    await user.expect("почтовый сервер сейчас не отвечает", timeout=10)
    assert not smtp.letters
    smtp.refuse_next(0)
    cabinet.clock.advance(timedelta(minutes=1))
    await user.send(DEMO_EMAIL)
    await user.expect("Шаг 2 из 4.")
    await user.send(await captcha_answer(cabinet, user.id))
    await user.expect("Если этот e-mail зарегистрирован")
    await smtp.wait_for_letter(DEMO_EMAIL)


async def test_reset_new_password_must_be_strong_and_typed_twice_alike(
    cabinet: Any, smtp: SmtpSink
) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1025)
    await start_reset(cabinet, user, DEMO_EMAIL)
    await user.expect("Если этот e-mail зарегистрирован")
    await user.send(f"/start {token_of(await smtp.wait_for_letter(DEMO_EMAIL))}")
    await user.expect("Придумайте новый пароль")
    weak = await user.send("short")
    await user.expect("Пароль не подходит")
    assert weak.message_id in user.deleted_message_ids
    await user.send("Brand2new")
    await user.expect("Введите новый пароль ещё раз")
    await user.send("Brand2newX")
    await user.expect("Пароли не совпадают")
    await user.send("Brand3new")
    await user.expect("Введите новый пароль ещё раз")
    await user.send("Brand3new")
    await user.expect("Пароль изменён")


async def test_a_reset_code_that_expired_between_steps(cabinet: Any, smtp: SmtpSink) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1026)
    await start_reset(cabinet, user, DEMO_EMAIL)
    await user.expect("Если этот e-mail зарегистрирован")
    await user.send(code_of(await smtp.wait_for_letter(DEMO_EMAIL)))
    await user.expect("Придумайте новый пароль")
    await user.send("Brand2new")
    await user.expect("Введите новый пароль ещё раз")
    cabinet.clock.advance(timedelta(hours=24, seconds=1))
    await user.send("Brand2new")
    expired = await user.expect("устарел")
    assert texts.BTN_FORGOT in str(expired.inline_buttons)
    await log_in(user, DEMO_EMAIL, DEMO_PASSWORD)  # the old password still works
    await user.expect("Вы вошли в личный кабинет")


async def test_a_wrong_reset_code_is_asked_again(cabinet: Any, smtp: SmtpSink) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1027)
    await start_reset(cabinet, user, DEMO_EMAIL)
    await user.expect("Если этот e-mail зарегистрирован")
    await smtp.wait_for_letter(DEMO_EMAIL)
    await user.send("hello")
    await user.expect("не похоже на код")
    await user.send("ACEF-HJ47")
    await user.expect("Код не подошёл")


# --- stray messages --------------------------------------------------------------------------


async def test_other_kinds_of_messages_get_a_calm_answer_in_every_auth_step(
    cabinet: Any, smtp: SmtpSink
) -> None:
    """A photo, a sticker, a contact or a file — outside a dialog and at each auth step — gets
    what the step waits for, never the apology (#10 item 1)."""
    await cabinet.seed_demo()
    user = cabinet.user(1060)
    for send in (
        partial(user.send_photo, b"\xff\xd8\xff\xe0photo"),
        partial(send_sticker, user),
        partial(user.share_contact, "79990001122", own=False),
        partial(user.send_document, b"%PDF-1.4", filename="scan.pdf"),
    ):
        await send()
        await user.expect(common_texts.NEXT_STEP_GUEST)  # no dialog: what a guest can do

    steps = [
        ("/register", "фамилию, имя и отчество", None),
        ("Петрова Анна", "адрес электронной почты", "адрес электронной почты текстом"),
        ("anna@example.ru", "номер телефона", "номер телефона"),
    ]
    await user.send(steps[0][0])
    await user.expect(steps[0][1])
    await send_sticker(user)
    await user.expect("Сейчас я жду фамилию, имя и отчество")
    for text, question, hint in steps[1:]:
        await user.send(text)
        await user.expect(question)
        await user.send_photo(b"\xff\xd8\xff\xe0photo")
        await user.expect(f"Сейчас я жду {hint}")
    await user.press("Поделиться номером")
    await user.expect("текст с картинки")
    await send_sticker(user)
    await user.expect("Сейчас я жду текст с картинки")
    await user.send("/login")
    await user.send(DEMO_EMAIL)
    await user.expect("Введите пароль")
    await user.send_document(b"%PDF-1.4", filename="scan.pdf")
    await user.expect("Сейчас я жду пароль текстом")
    assert not [m for m in user.bot_messages if APOLOGY in m.content_text]
