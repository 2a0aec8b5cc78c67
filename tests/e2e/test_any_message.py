"""Every kind of message, anywhere: outside a dialog and at one step of each dialog, a photo,
a sticker, a voice message, a location, a poll or an edit gets a calm, specific answer —
never the apology, never an error in the log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.texts import common as texts
from bot.texts import readings as reading_texts
from emulator import UserMessage
from tests.e2e.conftest import Cabinet

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)

Send = Callable[[Any], Awaitable[Any]]


async def _edit_last_text(user: Any) -> None:
    sent = [m for m in user.messages if isinstance(m, UserMessage) and m.text]
    await user.edit(sent[-1], f"{sent[-1].text} (исправлено)")


KINDS: dict[str, Send] = {
    "photo": lambda user: user.send_photo(PNG),
    "document": lambda user: user.send_document(b"%PDF-1.4\n", filename="скан.pdf",
                                                mime_type="application/pdf"),
    "sticker": lambda user: user.send_sticker(),
    "voice": lambda user: user.send_voice(),
    "video": lambda user: user.send_video(),
    "video_note": lambda user: user.send_video_note(),
    "location": lambda user: user.send_location(),
    "contact": lambda user: user.share_contact("+79990001122", own=False),
    "poll": lambda user: user.send_poll("Как дела?", ["Хорошо", "Отлично"]),
    "edited": _edit_last_text,
}  # fmt: skip


async def _answered(user: Any, kind: str) -> str:
    """Send one message of `kind` and return the text of the bot's answer to it."""
    await KINDS[kind](user)
    reply = await user.expect("", timeout=10)
    return str(reply.content_text)


def _assert_calm(user: Any, caplog: pytest.LogCaptureFixture) -> None:
    apologies = [m for m in user.bot_messages if texts.ERROR_APOLOGY in m.content_text]
    assert not apologies, user.transcript(40)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_every_kind_of_message_outside_a_dialog(
    cabinet: Cabinet, caplog: pytest.LogCaptureFixture
) -> None:
    await cabinet.seed_demo()
    guest = cabinet.user(3101)
    await guest.send("/start")
    await guest.expect("личный кабинет абонента")
    member = cabinet.user(3102)
    await cabinet.login_as(member.id)
    await member.send("/start")
    await member.expect("Здравствуйте")
    for user, logged_in in ((guest, False), (member, True)):
        await user.send("просто текст")
        await user.expect("Не понял сообщение")
        for kind in KINDS:
            answer = await _answered(user, kind)
            if kind == "edited":
                assert answer == texts.EDITED_IGNORED
                continue
            expected = texts.unexpected_content(kind, logged_in=logged_in)
            assert answer == expected, (kind, user.transcript())
    _assert_calm(guest, caplog)
    _assert_calm(member, caplog)


async def _registration(cabinet: Cabinet, user: Any) -> None:
    await user.send("/register")
    await user.expect("фамилию, имя и отчество")


async def _login(cabinet: Cabinet, user: Any) -> None:
    await user.send("/login")
    await user.expect("Введите e-mail")


async def _linking(cabinet: Cabinet, user: Any) -> None:
    await cabinet.login_as(user.id)
    await user.send(texts.MENU_CONTRACTS)
    await user.expect("")
    await user.press("➕ Подключить бытового абонента")
    await user.expect("номер лицевого счёта")


async def _application(cabinet: Cabinet, user: Any) -> None:
    await cabinet.login_as(user.id)
    await user.send(texts.MENU_CONTRACTS)
    await user.expect("")
    await user.press("📝 Заявка на договор")
    await user.expect("тип объекта")
    await user.press("Квартира")
    await user.expect("адрес объекта")


async def _readings(cabinet: Cabinet, user: Any) -> None:
    await cabinet.login_as(user.id)
    demo = await cabinet.seed_demo()  # already there: returns the same summary
    await user.send(texts.MENU_READINGS)
    await user.expect(reading_texts.CHOOSE_METER)
    await user.press(reading_texts.BTN_ENTER.format(serial=demo.accounts[0].serials[0]))
    await user.expect("Введите показание")


DIALOGS = {
    "registration": _registration,
    "login": _login,
    "linking": _linking,
    "contract application": _application,
    "readings": _readings,
}


@pytest.mark.parametrize("dialog", list(DIALOGS))
async def test_every_kind_of_message_at_a_dialog_step(
    cabinet: Cabinet, caplog: pytest.LogCaptureFixture, dialog: str
) -> None:
    """Each kind at the first typed step of each dialog: an answer saying what the step waits
    for, and the dialog goes on (/cancel still finds it)."""
    await cabinet.seed_demo()
    user = cabinet.user(3200 + list(DIALOGS).index(dialog))
    await user.send("/start")
    await user.expect("")
    await DIALOGS[dialog](cabinet, user)
    for kind in KINDS:
        answer = await _answered(user, kind)
        if kind == "edited":
            assert answer == texts.EDITED_IGNORED
        else:
            assert texts.ERROR_APOLOGY not in answer, (kind, user.transcript())
    await user.send("/cancel")
    await user.expect(texts.CANCELLED)
    _assert_calm(user, caplog)
