"""The runtime as a subscriber meets it: greeting, menu, hints, stale buttons, Telegram faults."""

from __future__ import annotations

import pytest

from bot.texts import common as texts
from tests.e2e.conftest import Cabinet
from tests.helpers import eventually


async def test_guest_start_offers_login_and_registration(cabinet: Cabinet) -> None:
    user = cabinet.user(1001)
    await user.send("/start")
    greeting = await user.expect("личный кабинет абонента")
    assert "Металлэнергофинанс" in greeting.text
    assert greeting.inline_buttons == [[texts.BTN_LOGIN, texts.BTN_REGISTER]]


async def test_commands_are_published(cabinet: Cabinet) -> None:
    call = cabinet.emu.calls_to("setMyCommands")[-1]
    names = [command["command"] for command in call.params["commands"]]
    assert names == ["start", "menu", "help", "cancel", "login", "register", "logout"]


async def test_logged_in_subscriber_sees_main_menu(cabinet: Cabinet) -> None:
    await cabinet.seed_demo()
    await cabinet.login_as(1001)
    user = cabinet.user(1001)
    await user.send("/start")
    menu = await user.expect("Здравствуйте, Абонент")
    assert menu.reply_keyboard == [
        [texts.MENU_CONTRACTS, texts.MENU_BILLS],
        [texts.MENU_READINGS, texts.MENU_PAYMENT],
        [texts.MENU_APPEALS, texts.MENU_SETTINGS],
    ]
    await user.send("/menu")
    await user.expect(texts.MAIN_MENU)


async def test_guest_pressing_a_section_is_asked_to_log_in(cabinet: Cabinet) -> None:
    user = cabinet.user(1002)
    await user.send(texts.MENU_READINGS)
    reply = await user.expect("доступен после входа")
    assert reply.inline_buttons == [[texts.BTN_LOGIN, texts.BTN_REGISTER]]


async def test_help_and_unknown_text(cabinet: Cabinet) -> None:
    user = cabinet.user(1003)
    await user.send("/help")
    await user.expect("/cancel — прервать действие")
    await user.send("какой-то текст <b>")
    await user.expect("Не понял сообщение")
    await user.send("/cancel")
    await user.expect(texts.NOTHING_TO_CANCEL)


async def test_stale_button_gets_a_polite_answer(cabinet: Cabinet) -> None:
    user = cabinet.user(1004)
    await user.send("/start")
    greeting = await user.expect("личный кабинет абонента")
    # A button the bot no longer knows (an old keyboard from a previous version).
    greeting.reply_markup = {"inline_keyboard": [[{"text": "Старое", "callback_data": "old:1"}]]}
    await user.press("Старое", message=greeting)
    answer = await user.expect_callback_answer()
    assert answer.text == texts.STALE_BUTTON


async def test_rate_limit_and_proxy_errors_are_retried(cabinet: Cabinet) -> None:
    user = cabinet.user(1005)
    cabinet.emu.inject_failure("sendMessage", status=429, retry_after=1)
    await user.send("/help")
    await user.expect("Команды:", timeout=10)
    cabinet.emu.inject_failure("sendMessage", status=502)
    await user.send("/help")
    await user.expect("Команды:", timeout=10)
    statuses = [call.error for call in cabinet.emu.calls_to("sendMessage") if call.error]
    assert len(statuses) == 2


async def test_a_failing_handler_apologises_without_internals(cabinet: Cabinet) -> None:
    user = cabinet.user(1006)
    cabinet.emu.inject_failure("sendMessage", status=400)
    await user.send("/help")
    apology = await user.expect("что-то пошло не так")
    assert "Traceback" not in apology.text and "Bad Request" not in apology.text


async def test_dialog_state_survives_a_restart(cabinet: Cabinet) -> None:
    from aiogram.fsm.storage.base import StorageKey

    from bot.app import build_storage

    user = cabinet.user(1007)
    await user.send("/start")
    await user.expect("личный кабинет")
    bot_id = int(cabinet.settings.bot_token.get_secret_value().split(":")[0])  # type: ignore[union-attr]
    storage = build_storage(cabinet.settings, cabinet.engine, cabinet.sessions)
    key = StorageKey(bot_id=bot_id, chat_id=1007, user_id=1007)
    await storage.set_state(key, "Probe:waiting")
    await storage.set_data(key, {"typed": "Иванов"})
    await storage.close()
    await cabinet.restart()
    await user.send("что-то")
    await user.expect(texts.UNKNOWN_INPUT_IN_DIALOG)
    await user.send("/cancel")
    await user.expect(texts.CANCELLED)


async def test_user_who_blocked_the_bot_is_remembered(cabinet: Cabinet) -> None:
    from models import TelegramIdentity

    user = cabinet.user(1008)
    await user.send("/start")
    await user.expect("личный кабинет")
    user.block_bot()

    async def blocked_at() -> object:
        async with cabinet.sessions() as session:
            identity = await session.get(TelegramIdentity, 1008)
            return identity.blocked_bot_at if identity else None

    assert await eventually(blocked_at)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_unknown_methods_would_fail_the_test(cabinet: Cabinet) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        token = cabinet.settings.bot_token.get_secret_value()  # type: ignore[union-attr]
        async with http.post(f"{cabinet.emu.base_url}/bot{token}/sendTelepathy") as response:
            assert response.status == 404
    assert cabinet.emu.unexpected_calls
    cabinet.emu.unexpected_calls.clear()


async def test_a_failing_button_answers_with_an_apology(cabinet: Cabinet) -> None:
    user = cabinet.user(1009)
    await user.send("/start")
    await user.expect("личный кабинет абонента")
    cabinet.emu.inject_failure("sendMessage", status=400)
    await user.press(texts.BTN_LOGIN)
    answer = await user.expect_callback_answer()
    assert answer.text == texts.ERROR_APOLOGY and answer.show_alert


async def test_text_that_names_a_section_is_pointed_to_it(cabinet: Cabinet) -> None:
    """Typing instead of pressing: «сколько я должен?» gets the section that answers it, with the
    menu below; a guest is asked to log in first; thanks and greetings get a word back."""
    guest = cabinet.user(1011)
    await guest.send("хочу передать показания")
    said = await guest.expect("Чтобы передать показания счётчиков, сначала войдите")
    assert said.inline_buttons == [[texts.BTN_LOGIN, texts.BTN_REGISTER]]
    await cabinet.seed_demo()
    user = cabinet.user(1012)
    await cabinet.login_as(user.id)
    for typed, button in (
        ("Сколько я должен?", texts.MENU_BILLS),
        ("как оплатить картой", texts.MENU_PAYMENT),
        ("показания счётчика", texts.MENU_READINGS),
        ("у меня вопрос по начислениям", texts.MENU_BILLS),
        ("соедините с оператором", texts.MENU_APPEALS),
        ("12 345", texts.MENU_READINGS),  # a reading typed in the main menu
    ):
        await user.send(typed)
        said = await user.expect(f"нажмите «{button}» в меню ниже")
        assert said.reply_keyboard is not None
        assert button in [caption for row in said.reply_keyboard for caption in row]
    await user.send("Спасибо!")
    await user.expect("Пожалуйста!")
    await user.send("абракадабра")
    await user.expect(texts.UNKNOWN_INPUT)


async def test_cancel_leaves_a_real_dialog_by_command_or_button(cabinet: Cabinet) -> None:
    user = cabinet.user(1010)
    for leave in ("/cancel", texts.BTN_CANCEL):
        await user.send("/login")
        await user.expect("e-mail")
        await user.send(leave)
        await user.expect(texts.CANCELLED)
        await user.send("ivan@example.ru")
        await user.expect("Не понял сообщение")


async def test_a_redelivered_update_is_handled_once(cabinet: Cabinet) -> None:
    user = cabinet.user(1011)
    await user.send("/menu")
    await user.expect("личный кабинет абонента")
    await user.deliver_again()
    await user.expect_nothing_else("/help", "Команды:")
    assert len([m for m in user.bot_messages if "личный кабинет абонента" in m.text]) == 1
