"""Registration, activation by e-mail, login, lockout and password reset, as a subscriber sees them.

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
from models import AuditEvent, EmailToken, Login, Subscription, TelegramIdentity
from services.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.smtp_server import SmtpSink, body

EMAIL = "Lyudmila.RK@Example.ru"
NORMALISED = "lyudmila.rk@example.ru"
PASSWORD = "Secret2026pass"
LINK = re.compile(r"https://t\.me/mef_cabinet_bot\?start=([A-Za-z0-9_-]{1,64})")


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


async def fill_in_until_captcha(user: Any, *, email: str = EMAIL) -> list[int]:
    """From the greeting to the CAPTCHA; returns the ids of the messages that held passwords."""
    await user.send("/start")
    await user.expect("Войдите")
    await user.press(common_texts.BTN_REGISTER)
    await user.expect("фамилию, имя и отчество")
    await user.send("римская-корсакова людмила петровна")
    await user.expect("адрес электронной почты")
    await user.send(email)
    await user.expect("номер телефона")
    await user.press("Поделиться номером")
    await user.expect("Придумайте")
    first = await user.send(PASSWORD)
    await user.expect("Повторите пароль")
    second = await user.send(PASSWORD)
    await user.expect("Пароль принят")
    return [first.message_id, second.message_id]


async def register(cabinet: Any, user: Any, *, email: str = EMAIL) -> list[int]:
    passwords = await fill_in_until_captcha(user, email=email)
    await user.expect("текст с картинки")
    await user.send((await captcha_answer(cabinet, user.id)).lower())
    await user.expect("Прочитайте текст выше")
    await user.press(texts.BTN_CONSENT_YES)
    summary = await user.expect("Проверьте данные")
    assert "Римская-Корсакова Людмила Петровна" in summary.content_text
    assert "+7 999" in summary.content_text
    assert PASSWORD not in summary.content_text
    await user.press(texts.BTN_SUBMIT)
    return passwords


async def log_in(user: Any, email: str, password: str) -> Any:
    await user.send("/login")
    await user.expect("Введите e-mail")
    await user.send(email)
    await user.expect("Введите пароль")
    sent = await user.send(password)
    return sent


def token_of(letter: Any) -> str:
    match = LINK.search(body(letter))
    assert match, body(letter)
    return match.group(1)


async def test_registration_letter_activation_login_menu(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1001)
    passwords = await register(cabinet, user)
    await user.expect("Мы отправили письмо")

    letter = await smtp.wait_for_letter(NORMALISED)
    plain, html = body(letter), body(letter, "html")
    token = token_of(letter)
    assert len(token) >= 22 and token in plain and token in html  # link and pasteable code
    assert "Активация" in str(letter["Subject"]) and "Людмила" in plain
    for message_id in passwords:
        assert message_id in user.deleted_message_ids
    assert cabinet.emu.calls_to("sendPhoto"), "the CAPTCHA is an image"

    await user.send(f"/start {token}")
    await user.expect("Учётная запись активирована")
    await user.press(texts.BTN_LOGIN)
    await user.expect("Введите e-mail")
    await user.send(NORMALISED.upper())
    await user.expect("Введите пароль")
    password_message = await user.send(PASSWORD)
    greeting = await user.expect("Здравствуйте, Людмила")
    assert greeting.reply_keyboard is not None
    assert any(common_texts.MENU_READINGS in row for row in greeting.reply_keyboard)
    assert password_message.message_id in user.deleted_message_ids

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
        stored = (await session.scalars(select(EmailToken.token_hash))).all()
        assert token not in stored and all(len(h) == 64 for h in stored)
        actions = (await session.scalars(select(AuditEvent.action))).all()
        assert {"auth.register", "auth.activate", "auth.login"} <= set(actions)
        details = " ".join(str(e.details) for e in await session.scalars(select(AuditEvent)))
        assert NORMALISED not in details and "+7999" not in details


async def test_pasted_code_activates(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1002)
    await register(cabinet, user)
    await user.expect("Мы отправили письмо")
    token = token_of(await smtp.wait_for_letter(NORMALISED))
    pasted = await user.send(token)
    await user.expect("Учётная запись активирована")
    assert pasted.message_id in user.deleted_message_ids


async def test_wrong_captcha_and_refresh(cabinet: Any) -> None:
    user = cabinet.user(1003)
    await fill_in_until_captcha(user)
    first = await user.expect("текст с картинки")
    assert first.photo is not None
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
    await user.expect("Прочитайте текст выше")


@pytest.mark.settings(captcha_enabled=False)
async def test_captcha_can_be_switched_off(cabinet: Any) -> None:
    user = cabinet.user(1004)
    await fill_in_until_captcha(user)
    await user.expect("Прочитайте текст выше")
    assert not cabinet.emu.calls_to("sendPhoto")


async def test_refused_consent_stores_nothing(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1005)
    await fill_in_until_captcha(user)
    await user.expect("текст с картинки")
    await user.send(await captcha_answer(cabinet, user.id))
    await user.expect("Прочитайте текст выше")
    await user.press(texts.BTN_CONSENT_NO)
    await user.expect("регистрация невозможна")
    async with cabinet.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Login)) == 0
    assert not smtp.letters


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
    await user.send("ivan@example.ru")
    await user.expect("номер телефона")
    await user.share_contact("79990001122", own=False)
    await user.expect("чужой контакт")
    await user.send("12345")
    await user.expect("номер")
    await user.send("+7 (999) 123 45 67")
    await user.expect("Придумайте")
    weak = await user.send("password")
    reply = await user.expect("Пароль не подходит")
    assert "заглавная" in reply.content_text and "цифра" in reply.content_text
    assert weak.message_id in user.deleted_message_ids
    await user.send(PASSWORD)
    await user.expect("Повторите пароль")
    other = await user.send(PASSWORD + "x")
    await user.expect("Пароли не совпадают")
    assert other.message_id in user.deleted_message_ids


async def test_summary_lets_correct_a_field(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1007)
    await register_until_summary(cabinet, user)
    await user.press(texts.BTN_EDIT_EMAIL)
    await user.expect("адрес электронной почты")
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


async def register_until_summary(cabinet: Any, user: Any) -> None:
    await fill_in_until_captcha(user)
    await user.expect("текст с картинки")
    await user.send(await captcha_answer(cabinet, user.id))
    await user.expect("Прочитайте текст выше")
    await user.press(texts.BTN_CONSENT_YES)
    await user.expect("Проверьте данные")


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
    reset_token = token_of(letter)
    async with cabinet.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Login)) == 2

    await intruder.send(f"/start {reset_token}")  # the mailbox owner follows the link
    await intruder.expect("Придумайте новый пароль")


async def test_login_replies_do_not_tell_unknown_email_from_wrong_password(
    cabinet: Any,
) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1012)
    await log_in(user, "nobody@example.ru", DEMO_PASSWORD)
    unknown = await user.expect("Неверный e-mail или пароль")
    await log_in(user, DEMO_EMAIL, "Wrong2026pass")
    wrong = await user.expect("Неверный e-mail или пароль")
    assert unknown.content_text == wrong.content_text
    assert unknown.inline_buttons == wrong.inline_buttons


async def test_lockout_and_unlock(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1013)
    for _ in range(4):
        await log_in(user, DEMO_EMAIL, "Wrong2026pass")
        await user.expect("Неверный e-mail или пароль")
    await log_in(user, DEMO_EMAIL, "Wrong2026pass")
    locked = await user.expect("Вход временно заблокирован")
    assert "12:15" in locked.content_text and "15 минут" in locked.content_text

    await user.send("/login")
    await user.expect("Вход временно заблокирован")
    other = cabinet.user(1014)  # another Telegram user: the login itself is locked too
    await log_in(other, DEMO_EMAIL, DEMO_PASSWORD)
    await other.expect("Вход временно заблокирован")

    cabinet.clock.advance(timedelta(minutes=15, seconds=1))
    await log_in(user, DEMO_EMAIL, DEMO_PASSWORD)
    await user.expect("Вы вошли в личный кабинет")
    async with cabinet.sessions() as session:
        assert "auth.lockout" in (await session.scalars(select(AuditEvent.action))).all()


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
    await user.expect("Учётная запись активирована")
    await log_in(user, EMAIL, PASSWORD)
    await user.expect("Здравствуйте, Людмила")


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


async def test_password_reset_logs_out_other_sessions(cabinet: Any, smtp: SmtpSink) -> None:
    await cabinet.seed_demo()
    phone_owner = cabinet.user(1020)
    await cabinet.login_as(phone_owner.id)
    await phone_owner.send("/start")
    await phone_owner.expect("Здравствуйте")
    user = cabinet.user(1021)
    await log_in(user, DEMO_EMAIL, "Forgotten1pass")
    await user.expect("Неверный e-mail или пароль")
    await user.press(texts.BTN_FORGOT)
    await user.expect("Восстановление пароля")
    await user.send(DEMO_EMAIL)
    await user.expect("Если этот e-mail зарегистрирован")
    letter = await smtp.wait_for_letter(DEMO_EMAIL)
    assert "Восстановление пароля" in str(letter["Subject"])
    await user.send(token_of(letter))
    await user.expect("Придумайте новый пароль")
    first = await user.send("Brand2new")
    await user.expect("Повторите новый пароль")
    second = await user.send("Brand2new")
    await user.expect("Пароль изменён")
    assert {first.message_id, second.message_id} <= set(user.deleted_message_ids)
    await user.send(f"/start {token_of(letter)}")
    used = await user.expect("пароль по ней уже изменён")
    assert texts.BTN_FORGOT in str(used.inline_buttons)
    await phone_owner.expect("Пароль вашей учётной записи изменён", timeout=10)

    async with cabinet.sessions() as session:
        identity = await session.get(TelegramIdentity, phone_owner.id)
        assert identity is not None and identity.login_id is None
    await user.send("/logout")
    await user.expect("Вы вышли")
    await log_in(user, DEMO_EMAIL, DEMO_PASSWORD)
    await user.expect("Неверный e-mail или пароль")
    await log_in(user, DEMO_EMAIL, "Brand2new")
    await user.expect("Вы вошли в личный кабинет")


async def test_unknown_email_reset_gets_the_same_reply(cabinet: Any, smtp: SmtpSink) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1022)
    await log_in(user, "nobody@example.ru", "Whatever1")
    await user.expect("Неверный e-mail или пароль")
    await user.press(texts.BTN_FORGOT)
    await user.expect("Восстановление пароля")
    await user.send("nobody@example.ru")
    await user.expect("Если этот e-mail зарегистрирован")
    await user.press(common_texts.BTN_BACK)  # a typo in the address
    await user.expect("Введите e-mail")
    await user.send(DEMO_EMAIL)
    await user.expect("Если этот e-mail зарегистрирован")
    letter = await smtp.wait_for_letter()
    assert DEMO_EMAIL in str(letter["To"]) and len(smtp.letters) == 1


async def test_logout(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1023)
    await cabinet.login_as(user.id)
    await user.send("/logout")
    await user.expect("Вы вышли из личного кабинета")
    await user.send(common_texts.MENU_READINGS)
    await user.expect("доступен после входа")
    await user.send("/logout")
    await user.expect("не вошли")


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
    async with cabinet.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Login)) == 1


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


async def test_back_after_a_wrong_password_asks_the_email(cabinet: Any) -> None:
    await cabinet.seed_demo()
    user = cabinet.user(1032)
    await log_in(user, DEMO_EMAIL, "Wrong2026pass")
    await user.expect("Неверный e-mail или пароль")
    await user.press(common_texts.BTN_BACK)
    await user.expect("Введите e-mail")
    await user.send(DEMO_EMAIL)
    await user.expect("Введите пароль")
    await user.send(DEMO_PASSWORD)
    await user.expect("Вы вошли в личный кабинет")


async def test_correcting_from_the_summary_can_go_back(cabinet: Any, smtp: SmtpSink) -> None:
    user = cabinet.user(1033)
    await register_until_summary(cabinet, user)
    await user.press(texts.BTN_EDIT_PASSWORD)
    await user.expect("Придумайте")
    await user.send("Other2026pass")
    await user.expect("Повторите пароль")
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
    await log_in(user, EMAIL, PASSWORD)
    await user.expect("Здравствуйте, Людмила")
