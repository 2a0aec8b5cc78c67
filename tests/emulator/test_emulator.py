"""Tests of the Bot API emulator itself, driven by a real aiogram Bot over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    KeyboardButton,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    ReplyKeyboardMarkup,
)
from aiohttp import web
from pydantic import BaseModel, SecretStr

from bot.sandbox import run_sandbox
from emulator import BotAPIEmulator
from emulator.server import DISCONNECT

TOKEN = "42:TEST"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x03\x08\x02\x00\x00\x00"
    + b"\x00" * 32
)


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator(token=TOKEN, bot_username="mef_cabinet_bot") as emulator:
        yield emulator
        assert not emulator.unexpected_calls, emulator.unexpected_calls


@pytest.fixture
async def bot(emu: BotAPIEmulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    client = Bot(token=TOKEN, session=session)
    yield client
    await session.close()


def keyboard(*captions: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in captions]
    )


@contextlib.asynccontextmanager
async def polling(dp: Dispatcher, bot: Bot, emu: BotAPIEmulator) -> AsyncIterator[None]:
    """Run the real Dispatcher against the emulator for the duration of the block."""
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    await emu.wait_for_call("getUpdates")
    try:
        yield
    finally:
        await dp.stop_polling()
        await task


async def test_get_me_and_wrong_token(emu: BotAPIEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "mef_cabinet_bot"
    assert me.is_bot
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await Bot("42:WRONG", session=session).get_me()
    finally:
        await session.close()


async def test_long_polling_returns_on_update_and_offset_confirms(
    emu: BotAPIEmulator, bot: Bot
) -> None:
    user = emu.user(1001, first_name="Иван", username="ivan")
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await emu.wait_for_call("getUpdates")
    await user.send("/start ref_42")
    updates = await asyncio.wait_for(poll, 3)
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "/start ref_42"
    assert message.entities is not None
    assert message.entities[0].type == "bot_command"
    assert message.entities[0].length == len("/start")
    assert message.from_user is not None and message.from_user.username == "ivan"
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    confirmed = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert confirmed == []


async def test_second_poller_terminates_first(emu: BotAPIEmulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await emu.wait_for_call("getUpdates")
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 3)
    assert await second == []


async def test_allowed_updates_are_remembered(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.user(1001)
    await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    await user.send("ignored")
    assert await bot.get_updates(timeout=0) == []


async def test_webhook_push_with_secret_retry_and_reply_method(
    emu: BotAPIEmulator, bot: Bot
) -> None:
    seen: list[tuple[str | None, int]] = []

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        seen.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), update["update_id"]))
        if len(seen) == 1:
            return web.Response(status=500)
        reply = {
            "method": "sendMessage",
            "chat_id": update["message"]["chat"]["id"],
            "text": "Получено",
        }
        return web.json_response(reply)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cr3t")
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates(timeout=0)
        user = emu.user(1001)
        await user.send("привет")
        reply = await user.expect("Получено")
        assert reply.text == "Получено"
        assert [secret for secret, _ in seen] == ["s3cr3t", "s3cr3t"]
        assert seen[0][1] == seen[1][1]
        assert [attempt.status for attempt in emu.webhook_log] == [500, 200]
        assert await bot.delete_webhook()
        await user.send("снова")
        updates = await bot.get_updates(timeout=0)
        assert updates[-1].message is not None and updates[-1].message.text == "снова"
    finally:
        await runner.cleanup()


async def test_send_edit_delete(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.user(1001, first_name="Иван")
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(1001, "Здравствуйте")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(555, "Кто здесь?")
    await user.send("/start")
    sent = await bot.send_message(
        1001, "<b>Главное</b> меню", parse_mode="HTML", reply_markup=keyboard(("Договоры", "c"))
    )
    assert sent.entities is not None and sent.entities[0].type == "bold"
    shown = await user.expect("Главное меню")
    assert shown.html == "<b>Главное</b> меню"
    assert shown.inline_buttons == [["Договоры"]]
    edited = await bot.edit_message_text("Договоры:", chat_id=1001, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None
    assert shown.text == "Договоры:" and shown.inline_buttons == [] and shown.edited_count == 1
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Договоры:", chat_id=1001, message_id=sent.message_id)
    await bot.edit_message_reply_markup(
        chat_id=1001, message_id=sent.message_id, reply_markup=keyboard(("Назад", "back"))
    )
    assert shown.inline_buttons == [["Назад"]]
    await bot.delete_message(1001, sent.message_id)
    assert shown.deleted
    assert sent.message_id in user.deleted_message_ids
    assert shown not in user.messages
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(1001, sent.message_id)
    calls = emu.calls_to("sendMessage")
    assert calls[-1].chat_id == 1001
    assert calls[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "c"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a < b", "can't parse entities"),
        ("Tom & Jerry", "can't parse entities"),
        ("<br>строка", "Unsupported start tag"),
        ("<b>жирный", "Can't find end tag"),
        ("<b>x</i>", "Unmatched end tag"),
        ("x" * 4097, "message is too long"),
        ("   ", "message text is empty"),
    ],
)
async def test_html_and_length_validation(
    emu: BotAPIEmulator, bot: Bot, text: str, error: str
) -> None:
    await emu.user(1001).send("/start")
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.send_message(1001, text, parse_mode="HTML")


async def test_html_entities_and_utf16_offsets(emu: BotAPIEmulator, bot: Bot) -> None:
    await emu.user(1001).send("/start")
    sent = await bot.send_message(
        1001,
        '⚡ <a href="https://mef.ru">сайт</a> &lt;3 &amp; <tg-spoiler>тайна</tg-spoiler>',
        parse_mode="HTML",
    )
    assert sent.text == "⚡ сайт <3 & тайна"
    assert sent.entities is not None
    link, spoiler = sent.entities
    assert (link.type, link.offset, link.length, link.url) == ("text_link", 2, 4, "https://mef.ru")
    assert spoiler.type == "spoiler"


async def test_callback_data_too_long(emu: BotAPIEmulator, bot: Bot) -> None:
    await emu.user(1001).send("/start")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(1001, "x", reply_markup=keyboard(("Кнопка", "x" * 65)))


async def test_callback_press_answer_and_second_answer_fails(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.user(1001)
    await user.send("/start")
    await bot.send_message(1001, "Меню", reply_markup=keyboard(("Счета", "bills")))
    await user.press("Сче")
    updates = await bot.get_updates(timeout=0)
    query = updates[-1].callback_query
    assert query is not None and query.data == "bills"
    assert isinstance(query.message, Message) and query.message.text == "Меню"
    assert await bot.answer_callback_query(query.id, text="Загружаю…")
    answer = await user.expect_callback_answer()
    assert answer.text == "Загружаю…" and not answer.show_alert
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)


async def test_dispatcher_flow_with_reply_keyboard_and_contact(
    emu: BotAPIEmulator, bot: Bot
) -> None:
    router = Router()

    @router.message(F.text == "/start")
    async def start(message: Message) -> None:
        await message.answer(
            "Главное меню",
            reply_markup=ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text="📱 Телефон", request_contact=True)]],
                resize_keyboard=True,
            ),
        )

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None and message.from_user is not None
        own = message.contact.user_id == message.from_user.id
        await message.answer(
            f"Телефон {message.contact.phone_number} {'ваш' if own else 'чужой'}",
            reply_markup=keyboard(("Ок", "ok")),
        )

    @router.callback_query(F.data == "ok")
    async def ok(query: CallbackQuery) -> None:
        await query.answer("Готово", show_alert=True)
        assert isinstance(query.message, Message)
        await query.message.edit_text("Подтверждено")

    dp = Dispatcher()
    dp.include_router(router)
    user = emu.user(1001, first_name="Иван")
    async with polling(dp, bot, emu):
        await user.send("/start")
        menu = await user.expect("Главное меню")
        assert menu.reply_keyboard == [["📱 Телефон"]]
        await user.press("Телефон")
        phone = await user.expect("Телефон")
        assert "ваш" in (phone.text or "")
        await user.press("Ок")
        assert (await user.expect_callback_answer()).show_alert
        await user.expect("Подтверждено")
        await user.send("просто текст")
        await user.expect_nothing_else("/start", "Главное меню")


async def test_expect_nothing_else_catches_a_late_message_without_a_fixed_wait(
    emu: BotAPIEmulator, bot: Bot
) -> None:
    router = Router()

    @router.message(F.text == "/help")
    async def help_(message: Message) -> None:
        await message.answer("Справка")

    @router.message(F.text == "шум")
    async def noise(message: Message) -> None:
        await message.answer("Принято")
        await message.answer("Лишнее")  # the second message that must not go unnoticed

    dp = Dispatcher(events_isolation=SimpleEventIsolation())  # one chat's updates in order
    dp.include_router(router)
    user = emu.user(1001, first_name="Иван")
    async with polling(dp, bot, emu):
        await user.send("шум")
        await user.expect("Принято")
        with pytest.raises(AssertionError, match="Лишнее"):
            await user.expect_nothing_else("/help", "Справка")
        user.checkpoint()  # all of that seen: now the chat is quiet
        reply = await user.expect_nothing_else("/help", "Справка")
        assert reply.text == "Справка"


async def test_expect_timeout_shows_transcript(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.user(1001, first_name="Иван")
    await user.send("/start")
    await bot.send_message(1001, "Добро пожаловать", reply_markup=keyboard(("Договоры", "c")))
    with pytest.raises(AssertionError) as caught:
        await user.expect("Главное меню", timeout=0.1)
    text = str(caught.value)
    assert "'Главное меню'" in text
    assert "Добро пожаловать" in text and "[Договоры]" in text and "/start" in text
    with pytest.raises(AssertionError, match="no button 'Счета'"):
        await user.press("Счета")


async def test_upload_get_file_and_download(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.user(1001)
    await user.send_document(
        b"%PDF-1.4 passport",
        filename="passport.pdf",
        mime_type="application/pdf",
        caption="Паспорт",
    )
    await user.send_photo(PNG, caption="Счётчик")
    updates = await bot.get_updates(timeout=0)
    doc_message, photo_message = (u.message for u in updates)
    assert doc_message is not None and doc_message.document is not None
    assert doc_message.document.file_name == "passport.pdf"
    downloaded = await bot.download(doc_message.document.file_id)
    assert downloaded is not None and downloaded.read() == b"%PDF-1.4 passport"
    assert photo_message is not None and photo_message.photo is not None
    assert (photo_message.photo[-1].width, photo_message.photo[-1].height) == (2, 3)

    sent = await bot.send_document(
        1001, BufferedInputFile(b"receipt-bytes", filename="Квитанция.pdf"), caption="Счёт"
    )
    assert sent.document is not None
    shown = await user.expect("Счёт")
    assert shown.document is not None and shown.document.filename == "Квитанция.pdf"
    assert await shown.download() == b"receipt-bytes"
    call = emu.calls_to("sendDocument")[-1]
    assert call.params["document"] == {
        "filename": "Квитанция.pdf",
        "size": 13,
        "mime_type": "application/pdf",
    }
    again = await bot.send_document(1001, sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id
    photo = await bot.send_photo(1001, BufferedInputFile(PNG, filename="chart.png"))
    assert photo.photo is not None and photo.photo[-1].width == 2
    file = await bot.get_file(sent.document.file_id)
    assert file.file_path is not None
    data = await bot.download_file(file.file_path)
    assert data is not None and data.read() == b"receipt-bytes"

    await user.send_document(b"0" * (20 * 1024 * 1024 + 1), filename="big.bin")
    big = (await bot.get_updates(timeout=0))[-1].message
    assert big is not None and big.document is not None
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(big.document.file_id)


async def test_media_group_with_attach(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.user(1001)
    await user.send("/start")
    messages = await bot.send_media_group(
        1001,
        [
            InputMediaPhoto(media=BufferedInputFile(PNG, filename="a.png"), caption="Фото"),
            InputMediaDocument(media=BufferedInputFile(b"doc", filename="b.txt")),
        ],
    )
    assert len(messages) == 2 and messages[0].media_group_id == messages[1].media_group_id
    assert (await user.expect("Фото")).photo is not None


async def test_invoice_and_payment_flow(emu: BotAPIEmulator, bot: Bot) -> None:
    router = Router()

    @router.message(F.text == "/pay")
    async def send_invoice(message: Message) -> None:
        await message.answer_invoice(
            title="Счёт за май",
            description="Электроэнергия, лицевой счёт 123",
            payload="bill:77",
            currency="RUB",
            prices=[LabeledPrice(label="Электроэнергия", amount=123456)],
            provider_token="381764678:TEST:1",
            provider_data=json.dumps({"receipt": {"items": []}}),
        )

    @router.pre_checkout_query()
    async def checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=query.invoice_payload == "bill:77", error_message="Счёт не найден")

    @router.message(F.successful_payment)
    async def paid(message: Message) -> None:
        assert message.successful_payment is not None
        await message.answer(f"Оплата {message.successful_payment.total_amount} получена")

    dp = Dispatcher()
    dp.include_router(router)
    user = emu.user(1001)
    async with polling(dp, bot, emu):
        await user.send("/pay")
        invoice = await user.expect("Счёт за май")
        assert invoice.invoice == {
            "title": "Счёт за май",
            "description": "Электроэнергия, лицевой счёт 123",
            "start_parameter": "",
            "currency": "RUB",
            "total_amount": 123456,
        }
        payment = await user.pay(invoice)
        assert payment["invoice_payload"] == "bill:77"
        await user.expect("Оплата 123456 получена")
        second = await user.pay(invoice)
        assert second["telegram_payment_charge_id"] != payment["telegram_payment_charge_id"]
    with pytest.raises(TelegramBadRequest, match="INVOICE_PAYLOAD_INVALID"):
        await bot.send_invoice(
            1001,
            "t",
            "d",
            "x" * 129,
            "RUB",
            [LabeledPrice(label="a", amount=1)],
            provider_token="p",
        )


async def test_a_payment_can_be_held_back_and_delivered_twice(
    emu: BotAPIEmulator, bot: Bot
) -> None:
    router = Router()
    seen: list[tuple[int, str, str]] = []

    @router.message(F.text == "/pay")
    async def send_invoice(message: Message) -> None:
        await message.answer_invoice(
            title="Аванс",
            description="Лицевой счёт 123",
            payload="advance:1",
            currency="RUB",
            prices=[LabeledPrice(label="Аванс", amount=50000)],
            provider_token="381764678:TEST:1",
        )

    @router.pre_checkout_query()
    async def checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @router.message(F.successful_payment)
    async def paid(message: Message) -> None:
        payment = message.successful_payment
        assert payment is not None
        seen.append(
            (
                message.message_id,
                payment.telegram_payment_charge_id,
                payment.provider_payment_charge_id,
            )
        )
        await message.answer(f"Получено {len(seen)}")

    dp = Dispatcher()
    dp.include_router(router)
    user = emu.user(1001)
    async with polling(dp, bot, emu):
        await user.send("/pay")
        invoice = await user.expect("Аванс")
        payment = await user.pay(invoice, provider_payment_charge_id="yk-42", deliver=False)
        assert payment["provider_payment_charge_id"] == "yk-42"
        assert not any(m.successful_payment for m in user.messages)
        await user.send_successful_payment(payment)
        await user.expect("Получено 1")
        await user.send_successful_payment(payment)
        await user.expect("Получено 2")
    assert seen[0][1:] == seen[1][1:] == (payment["telegram_payment_charge_id"], "yk-42")
    assert seen[0][0] != seen[1][0]  # two messages, two updates, the same charge


async def test_group_members_topics_and_replies(emu: BotAPIEmulator, bot: Bot) -> None:
    staff = emu.group(-1001234567890, title="Металлэнергофинанс — обращения", forum=True)
    lead = staff.member(2001, first_name="Ольга", status="administrator")
    staff.member(2002, first_name="Пётр", status="restricted")
    member = await bot.get_chat_member(staff.id, 2001)
    assert member.status == "administrator"
    assert (await bot.get_chat_member(staff.id, 2002)).status == "restricted"
    assert (await bot.get_chat_member(staff.id, 9999)).status == "left"
    topic = await bot.create_forum_topic(staff.id, "Обращение №5")
    card = await bot.send_message(
        staff.id,
        "Новое обращение №5",
        message_thread_id=topic.message_thread_id,
        reply_markup=keyboard(("Взять в работу", "take:5")),
    )
    assert card.is_topic_message and card.message_thread_id == topic.message_thread_id
    shown = await lead.expect("Новое обращение")
    await lead.reply(shown, "Здравствуйте! Проверим.")
    await lead.press("Взять в работу", message=shown)
    updates = await bot.get_updates(timeout=0)
    reply = updates[-2].message
    assert reply is not None and reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == card.message_id
    assert reply.message_thread_id == topic.message_thread_id
    assert updates[-1].callback_query is not None
    assert updates[-1].callback_query.data == "take:5"
    assert staff.topics == {"Обращение №5": topic.message_thread_id}
    chat = await bot.get_chat(staff.id)
    assert chat.title == "Металлэнергофинанс — обращения"


async def test_blocked_user(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.user(1001)
    await user.send("/start")
    user.block_bot()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(1001, "Напоминание")
    updates = await bot.get_updates(timeout=0)
    assert updates[-1].my_chat_member is not None
    assert updates[-1].my_chat_member.new_chat_member.status == "kicked"
    user.unblock_bot()
    assert (await bot.send_message(1001, "С возвращением")).text == "С возвращением"


async def test_unknown_method_is_recorded(emu: BotAPIEmulator) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{emu.base_url}/bot{TOKEN}/sendTelepathy"
        async with http.post(url, data={"chat_id": "1"}) as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
    assert [call.method for call in emu.unexpected_calls] == ["sendTelepathy"]
    emu.unexpected_calls.clear()


async def test_injected_failures(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.inject_failure("getMe", status=429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.get_me()
    assert caught.value.retry_after == 3
    emu.inject_failure("getme", status=502, times=2)
    for _ in range(2):
        with pytest.raises(ClientDecodeError):
            await bot.get_me()
    emu.inject_failure("getMe", status=500)
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    assert (await bot.get_me()).username == "mef_cabinet_bot"


async def test_disconnect_after_the_call_and_a_held_call(emu: BotAPIEmulator, bot: Bot) -> None:
    """DISCONNECT: the message is delivered but the client sees a dropped connection; `hold`
    keeps a call waiting until released."""
    user = emu.user(1001, first_name="Иван")
    await user.send("/start")
    emu.inject_failure("sendMessage", status=DISCONNECT)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(1001, "дошло")
    await user.expect("дошло")
    gate = emu.hold("sendMessage")
    sending = asyncio.create_task(bot.send_message(1001, "после паузы"))
    await emu.wait_for_call("sendMessage")
    assert not sending.done() and not any(m.text == "после паузы" for m in user.bot_messages)
    gate.set()
    assert (await asyncio.wait_for(sending, 5)).text == "после паузы"


async def test_other_kinds_of_messages_and_edits(emu: BotAPIEmulator, bot: Bot) -> None:
    """Stickers, voice, video notes, locations, polls and edits arrive as aiogram parses them."""
    user = emu.user(1001, first_name="Иван")
    sent = await user.send("12345")
    await user.send_sticker()
    await user.send_voice()
    await user.send_video()
    await user.send_video_note()
    await user.send_location()
    await user.send_poll("Вопрос?", ["Да", "Нет"])
    await user.edit(sent, "12346")
    updates = await bot.get_updates(timeout=1)
    kinds = [u.message.content_type if u.message else "edited" for u in updates]
    assert kinds == ["text", "sticker", "voice", "video", "video_note", "location", "poll",
                     "edited"]  # fmt: skip
    edited = updates[-1].edited_message
    assert edited is not None and edited.text == "12346" and edited.edit_date is not None


async def test_duplicate_delivery_keeps_update_id(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.user(1001)
    await user.send("показания 12345")
    first = await bot.get_updates(timeout=0)
    await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    await user.deliver_again()
    again = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert [u.update_id for u in again] == [first[-1].update_id]


async def test_commands_and_menu_button(emu: BotAPIEmulator, bot: Bot) -> None:
    from aiogram.types import BotCommand, MenuButtonCommands

    await bot.set_my_commands([BotCommand(command="start", description="Начать")])
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == []
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())


# ------------------------------------------------------------------ the terminal sandbox


class TinySettings(BaseModel):
    telegram_api_url: str = "https://api.telegram.org"
    bot_token: SecretStr | None = None
    staff_chat_id: int | None = -100500


async def tiny_serve(settings: TinySettings, stop_event: asyncio.Event) -> None:
    """An echo bot with one inline button, started and stopped like `bot.runtime.serve`."""
    router = Router()

    @router.message(F.text == "/start")
    async def start(message: Message) -> None:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Нажми", callback_data="hit")]]
        )
        await message.answer("Привет! Выберите:", reply_markup=markup)

    @router.callback_query(F.data == "hit")
    async def hit(query: CallbackQuery) -> None:
        await query.answer("Нажато")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Кнопка нажата")
        await query.bot.send_message(-100500, "Новое обращение: кнопка")  # type: ignore[union-attr]

    @router.message(F.text == "/menu")
    async def menu(message: Message) -> None:
        keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Отмена")]])
        await message.answer("Меню внизу", reply_markup=keyboard)

    @router.message(F.document)
    async def document(message: Message) -> None:
        await message.answer_document(BufferedInputFile(b"echo", filename="echo.txt"))

    @router.message(F.chat.id == -100500)
    async def staff(message: Message) -> None:
        await message.answer(f"Сотрудник ответил: {message.text}")

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(f"Эхо: {message.text}")

    await poll(router, settings, stop_event)


async def poll(router: Router, settings: TinySettings, stop_event: asyncio.Event) -> None:
    """Serve `router` against the sandbox's emulator until `stop_event`, as `serve` would."""
    dp = Dispatcher()
    dp.include_router(router)
    assert settings.bot_token is not None
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(settings.bot_token.get_secret_value(), session=session)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    stopper = asyncio.create_task(stop_event.wait())
    await asyncio.wait({polling, stopper}, return_when=asyncio.FIRST_COMPLETED)
    with contextlib.suppress(RuntimeError):
        await dp.stop_polling()
    await polling


async def read_until(output: asyncio.Queue[str], fragment: str) -> str:
    async with asyncio.timeout(5):
        while True:
            line = await output.get()
            if fragment in line:
                return line


async def test_sandbox_chat(tmp_path: Path) -> None:
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    output: asyncio.Queue[str] = asyncio.Queue()
    upload = tmp_path / "заявление.txt"
    upload.write_bytes(b"hello")
    downloads = tmp_path / "downloads"
    sandbox = asyncio.create_task(
        run_sandbox(
            TinySettings(),
            input_stream=lines,
            output_stream=output,
            serve=tiny_serve,
            download_dir=downloads,
        )
    )
    await read_until(output, "/quit")
    lines.put_nowait("/start")
    shown = await read_until(output, "Привет! Выберите:")
    assert "[1] Нажми" in shown
    lines.put_nowait("1")
    assert "Нажато" in await read_until(output, "🔔")
    assert "Кнопка нажата" in await read_until(output, "(изменено)")
    assert "[чат сотрудников]" in await read_until(output, "Новое обращение")
    lines.put_nowait("/staff Принято")
    assert "[чат сотрудников]" in await read_until(output, "Сотрудник ответил: Принято")
    lines.put_nowait("как дела?")
    await read_until(output, "Эхо: как дела?")
    lines.put_nowait(f"/upload {upload}")
    saved = await read_until(output, "сохранён")
    assert (downloads / "echo.txt").read_bytes() == b"echo"
    assert str(downloads / "echo.txt") in saved
    lines.put_nowait("7")
    await read_until(output, "Эхо: 7")
    lines.put_nowait("/press 7")
    await read_until(output, "Нет кнопки 7")
    lines.put_nowait("/quit")
    await read_until(output, "Песочница закрыта.")
    await asyncio.wait_for(sandbox, 5)


async def test_sandbox_numbers_only_the_newest_buttons_and_the_keyboard_apart(
    tmp_path: Path,
) -> None:
    """«1» presses a button of the newest message only; the reply keyboard is «к1», «к2»…;
    the person sees «Запускаю бота…» until the bot is ready, and where its log goes."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    output: asyncio.Queue[str] = asyncio.Queue()
    sandbox = asyncio.create_task(
        run_sandbox(
            TinySettings(staff_chat_id=None),
            input_stream=lines,
            output_stream=output,
            serve=tiny_serve,
            download_dir=tmp_path,
            log_file=tmp_path / "sandbox.log",
        )
    )
    assert "/staffpress N" in await read_until(output, "/staffpress")  # staff side explained
    assert str(tmp_path / "sandbox.log") in await read_until(output, "Журнал бота")
    await read_until(output, "Запускаю бота")
    await read_until(output, "Бот готов")
    lines.put_nowait("/start")
    await read_until(output, "[1] Нажми")
    lines.put_nowait("/menu")
    assert "[к1] Отмена" in await read_until(output, "Клавиатура:")
    lines.put_nowait("1")  # the inline button is on an older message now: sent as text
    await read_until(output, "Эхо: 1")
    lines.put_nowait("к1")
    await read_until(output, "Эхо: Отмена")
    lines.put_nowait("/quit")
    await read_until(output, "Песочница закрыта.")
    await asyncio.wait_for(sandbox, 5)


async def test_sandbox_runs_never_reuse_a_message_id(tmp_path: Path) -> None:
    """The database outlives the sandbox's emulator: a later run's messages get new ids (what a
    staff card or a dialog's buttons were stored under keeps meaning that one message), while
    the person still reads #1, #2… in each run."""
    seen: list[int] = []

    async def recording_serve(settings: TinySettings, stop_event: asyncio.Event) -> None:
        router = Router()

        @router.message()
        async def echo(message: Message) -> None:
            seen.append(message.message_id)
            await message.answer(f"Эхо: {message.text}")

        await poll(router, settings, stop_event)

    record = tmp_path / "data" / "ids"
    for _ in range(2):
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        output: asyncio.Queue[str] = asyncio.Queue()
        sandbox = asyncio.create_task(
            run_sandbox(
                TinySettings(),
                input_stream=lines,
                output_stream=output,
                serve=recording_serve,
                download_dir=tmp_path,
                message_ids=record,
            )
        )
        await read_until(output, "Бот готов")
        lines.put_nowait("привет")
        assert "🤖 Бот #2:" in await read_until(output, "Эхо: привет")
        lines.put_nowait("/quit")
        await read_until(output, "Песочница закрыта.")
        await asyncio.wait_for(sandbox, 5)
    first, second = seen
    assert second >= first + 2 and int(record.read_text()) > second
