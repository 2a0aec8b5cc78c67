"""«💳 Оплата» as a subscriber meets it: Telegram Payments end to end, a YooKassa link against a
fake YooKassa API, and every way a payment could be credited twice or wrongly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, update

from bot.texts import cli as cli_texts
from bot.texts import common as common_texts
from bot.texts import fmt
from bot.texts import payments as texts
from emulator import BotAPIEmulator
from keyboards.payments import PayBillCb
from models import (
    Account,
    AccountLink,
    AuditEvent,
    Charge,
    Login,
    Payment,
    PaymentChannel,
    PaymentStatus,
)
from services.demo import DEMO_EMAIL
from tests.e2e.conftest import BOT_USERNAME, Cabinet
from tests.fake_yookassa import FakeYooKassa

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_TOKEN = "381764678:TEST:100500"
TELEGRAM = pytest.mark.settings(payment_provider_token=PROVIDER_TOKEN)


# --- arrangement -------------------------------------------------------------------------------


def use_settings(request: pytest.FixtureRequest, **values: Any) -> None:
    """Add settings for this test's cabinet; the test's own `settings` marker wins."""
    marker = request.node.get_closest_marker("settings")
    merged = {**values, **(marker.kwargs if marker else {})}
    request.node.add_marker(pytest.mark.settings(**merged), append=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class YooKassa:
    fake: FakeYooKassa
    port: int

    @property
    def notify_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/yookassa/notify"

    async def notify(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.notify_url, json=body, headers=headers) as response,
        ):
            return response.status, (await response.json())["status"]


@pytest.fixture
async def yookassa(request: pytest.FixtureRequest) -> AsyncIterator[YooKassa]:
    """A fake YooKassa API, and the cabinet (polling mode) configured for it; request it before
    `cabinet`. Polling of pending payments is off unless the test sets its interval."""
    async with FakeYooKassa() as fake:
        port = _free_port()
        use_settings(
            request,
            yookassa_shop_id=fake.shop_id,
            yookassa_secret_key=fake.secret_key,
            yookassa_api_url=fake.base_url,
            yookassa_check_source_ip=False,
            yookassa_poll_seconds=3600,
            web_host="127.0.0.1",
            web_port=port,
        )
        yield YooKassa(fake, port)


async def subscriber(cabinet: Cabinet, user_id: int = 1001, *, balance: str | None = None) -> Any:
    """A logged-in demo subscriber; `balance` overrides the current account's debt."""
    await cabinet.seed_demo()
    await cabinet.login_as(user_id)
    if balance is not None:
        account = await current_account(cabinet)
        await set_balance(cabinet, account.id, Decimal(balance))
    return cabinet.user(user_id)


async def current_account(cabinet: Cabinet) -> Account:
    async with cabinet.sessions() as session:
        account = await session.scalar(
            select(Account)
            .join(AccountLink, AccountLink.account_id == Account.id)
            .join(Login, Login.id == AccountLink.login_id)
            .where(Login.email == DEMO_EMAIL, AccountLink.is_current.is_(True))
        )
        assert account is not None
        return account


async def latest_bill(cabinet: Cabinet, account_id: int) -> Charge:
    async with cabinet.sessions() as session:
        bill = await session.scalar(
            select(Charge).where(Charge.account_id == account_id).order_by(Charge.period.desc())
        )
        assert bill is not None
        return bill


async def set_balance(cabinet: Cabinet, account_id: int, balance: Decimal) -> None:
    """The account owes `balance`, and its latest bill agrees (as a billing run leaves them):
    what is left of that bill after the payments made since it was issued is the debt."""
    async with cabinet.sessions() as session:
        await session.execute(
            update(Account).where(Account.id == account_id).values(balance=balance)
        )
        latest = await session.scalar(
            select(Charge).where(Charge.account_id == account_id).order_by(Charge.period.desc())
        )
        if latest is not None:
            paid_since = await session.scalar(
                select(func.coalesce(func.sum(Payment.amount), 0)).where(
                    Payment.account_id == account_id,
                    Payment.status == PaymentStatus.SUCCEEDED,
                    Payment.paid_at > latest.created_at,
                )
            )
            latest.total_due = max(balance, Decimal(0)) + Decimal(paid_since or 0)
            latest.charged = latest.total_due - latest.opening_balance
        await session.commit()


async def balance(cabinet: Cabinet) -> Decimal:
    return Decimal((await current_account(cabinet)).balance)


async def payments_in_db(cabinet: Cabinet) -> list[Payment]:
    """Payments made in the test (the demo's year of paid bills, services.demo, left out)."""
    async with cabinet.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(Payment).where(Payment.payload.not_like("demo-%")).order_by(Payment.id)
                )
            ).all()
        )


async def credits_in_audit(cabinet: Cabinet) -> int:
    async with cabinet.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "payment_credited")
        )
        return int(count or 0)


async def open_payment(user: Any) -> Any:
    await user.send(common_texts.MENU_PAYMENT)
    return await user.expect("Сумма платежа")


async def invoice_for(user: Any, summary: Any = None) -> Any:
    await user.press(texts.BTN_PAY_TELEGRAM, message=summary)
    invoice = await user.expect("Л/с ")
    await user.expect(texts.INVOICE_SENT)
    return invoice


def money(value: Decimal | int | str) -> str:
    return fmt.money(Decimal(value))


# --- no provider -------------------------------------------------------------------------------


async def test_without_a_provider_the_section_says_how_to_pay(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    account = await current_account(cabinet)
    await user.send(common_texts.MENU_PAYMENT)
    shown = await user.expect("Онлайн-оплата в боте пока не подключена")
    assert f"№ {account.number}" in shown.text and "QR-код на квитанции" in shown.text
    assert f"К оплате: {money(account.balance)}" in shown.text
    assert shown.inline_buttons == [[texts.BTN_HISTORY]]  # no dead «Оплатить»
    await user.press(texts.BTN_HISTORY)
    await user.expect("История платежей за последние 12 месяцев")  # the demo's paid bills


# --- Telegram Payments -------------------------------------------------------------------------


@TELEGRAM
async def test_payment_in_telegram_end_to_end(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    account = await current_account(cabinet)
    due = Decimal(account.balance)
    summary = await open_payment(user)
    assert f"Лицевой счёт <b>№ {account.number}</b>" in summary.html
    bill = await latest_bill(cabinet, account.id)
    assert (
        f"Счёт № {bill.number} за {fmt.period(bill.period)}, оплатить до {fmt.day(bill.due_date)}"
        in summary.text
    )
    assert f"К оплате: {money(due)}" in summary.text
    assert f"Сумма платежа: {money(due)}" in summary.text
    assert "не проходят через чат" in summary.text
    assert summary.inline_buttons == [
        [texts.BTN_PAY_TELEGRAM], [texts.BTN_CHANGE_AMOUNT],
        [texts.BTN_HISTORY, common_texts.BTN_CANCEL],
    ]  # fmt: skip

    invoice = await invoice_for(user)
    assert invoice.invoice["currency"] == "RUB"
    assert invoice.invoice["total_amount"] == int(due * 100)
    assert invoice.invoice["title"] == f"Л/с {account.number}: электроэнергия"
    assert f"лицевой счёт № {account.number}" in invoice.invoice["description"]
    assert f"счёт № {bill.number} за {fmt.period(bill.period)}" in invoice.invoice["description"]
    details = invoice.invoice_details
    assert details["provider_token"] == PROVIDER_TOKEN
    assert details["prices"] == [
        {"label": f"Электроэнергия за {fmt.period(bill.period)}", "amount": int(due * 100)}
    ]
    payload = details["payload"]
    assert re.fullmatch(r"[0-9a-f]{32}", payload)  # identifies the record, tells nothing else
    receipt = json.loads(details["provider_data"])["receipt"]
    assert receipt["customer"] == {"email": DEMO_EMAIL}
    assert receipt["items"] == [
        {
            "description": f"Электроснабжение за {fmt.period(bill.period)}, л/с {account.number}",
            "quantity": "1.00",
            "amount": {"value": f"{due:.2f}", "currency": "RUB"},
            "vat_code": 1,
            "payment_mode": "full_payment",
            "payment_subject": "service",
        }
    ]
    assert not details["need_email"]

    paid = await user.pay(invoice)
    confirmation = await user.expect("зачислен")
    assert f"Платёж {money(due)} зачислен на лицевой счёт № {account.number}" in confirmation.text
    assert "Задолженности нет." in confirmation.text
    assert await balance(cabinet) == 0
    [payment] = await payments_in_db(cabinet)
    assert payment.status == PaymentStatus.SUCCEEDED and payment.payload == payload
    assert payment.telegram_payment_charge_id == paid["telegram_payment_charge_id"]
    assert payment.provider_payment_charge_id == paid["provider_payment_charge_id"]
    assert payment.paid_at == cabinet.clock.now() and payment.amount == due
    assert await credits_in_audit(cabinet) == 1

    await user.send(common_texts.MENU_PAYMENT)
    await user.expect("Введите сумму аванса")  # nothing is owed any more
    await user.press(texts.BTN_HISTORY)
    history = await user.expect("История платежей")
    assert (
        f"20.11.2026 — {money(due)} — л/с № {account.number}, {fmt.period(bill.period)}"
        in history.text
    )
    assert "в Telegram, ✅ зачислен" in history.text


@TELEGRAM
async def test_a_partial_amount_is_typed_with_clear_reasons(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="1500.00")
    await open_payment(user)
    await user.press(texts.BTN_CHANGE_AMOUNT)
    await user.expect("Введите сумму платежа")
    for typed, reason in [
        ("пятьсот", texts.NOT_AN_AMOUNT),
        ("500,555", texts.TOO_MANY_KOPECKS),
        ("0,50", texts.too_small(Decimal(1))),
        ("100 000,01", texts.too_large(Decimal(100000))),
    ]:
        await user.send(typed)
        answer = await user.expect("Введите сумму платежа")
        assert answer.html.startswith(reason)
    await user.send("500,5")
    summary = await user.expect("Сумма платежа")
    assert f"Сумма платежа: {money('500.50')}" in summary.text
    assert f"останется {money('999.50')}" in summary.text
    await user.pay(await invoice_for(user))
    done = await user.expect("зачислен")
    assert f"Осталось оплатить: {money('999.50')}" in done.text
    assert await balance(cabinet) == Decimal("999.50")


@TELEGRAM
async def test_a_command_in_the_amount_step_is_the_command(cabinet: Cabinet) -> None:
    """/register, /login, /logout and the deep links (YooKassa's return, a letter's link) sent
    where an amount or a name is asked are those commands, not the step's answer."""
    user = await subscriber(cabinet, balance="1500.00")
    await open_payment(user)
    await user.press(texts.BTN_CHANGE_AMOUNT)
    await user.expect("Введите сумму платежа")
    await user.send("/start pay_unknown")  # the return from YooKassa's page: not an amount
    await user.expect(texts.PAYMENT_UNKNOWN)
    await user.send("/login")
    await user.expect("Вы уже вошли как Абонент")
    await user.send("/logout")
    await user.expect("Вы вышли из личного кабинета")
    await user.send("500")  # the dialog ended with the login: not an amount any more
    await user.expect("Чтобы передать показания")
    await cabinet.login_as(user.id)
    await user.send(common_texts.MENU_SETTINGS)
    await user.expect("Что хотите настроить?")
    await user.press("👤 Мой профиль")
    await user.expect("Мой профиль")
    await user.press("Имя")
    await user.expect("Введите имя")
    await user.send("/start not-a-token")  # a letter's link: not a name
    await user.expect("скопировали ссылку из письма целиком")
    await user.send("/logout")
    await user.expect("Вы вышли из личного кабинета")


@TELEGRAM
async def test_an_advance_when_nothing_is_owed(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="0")
    await user.send(common_texts.MENU_PAYMENT)
    await user.expect("Введите сумму аванса")
    intro = next(m for m in user.bot_messages if "Можно внести аванс" in m.text)
    assert "Задолженности нет." in intro.text and intro.inline_buttons == [[texts.BTN_HISTORY]]
    await user.send("1 500")
    summary = await user.expect("Сумма платежа")
    assert f"Аванс {money(1500)} будет учтён" in summary.text
    invoice = await invoice_for(user)
    assert invoice.invoice_details["prices"][0]["label"] == "Аванс за электроэнергию"
    receipt = json.loads(invoice.invoice_details["provider_data"])["receipt"]
    assert receipt["items"][0]["payment_mode"] == "advance"
    await user.pay(invoice)
    done = await user.expect("зачислен")
    assert f"переплата {money(1500)}" in done.text
    assert await balance(cabinet) == Decimal("-1500")
    [payment] = await payments_in_db(cabinet)
    assert payment.charge_id is None


@TELEGRAM
async def test_a_duplicate_successful_payment_is_credited_once(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="1000.00")
    await open_payment(user)
    paid = await user.pay(await invoice_for(user), deliver=False)
    await user.send_successful_payment(paid)
    await user.expect("зачислен")
    await user.send_successful_payment(paid)  # the same charge in a new update
    await user.expect("зачислен")
    await cabinet.restart()  # the in-memory filter of update ids is gone
    await user.deliver_again()  # the same update once more
    await user.expect("зачислен")
    assert await balance(cabinet) == 0
    assert await credits_in_audit(cabinet) == 1
    assert sum("Задолженности нет." in m.content_text for m in user.bot_messages) == 3


@TELEGRAM
async def test_an_invoice_survives_a_restart(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="750.00")
    await open_payment(user)
    invoice = await invoice_for(user)
    await cabinet.restart()
    await user.pay(invoice)
    await user.expect("зачислен")
    assert await balance(cabinet) == 0


@TELEGRAM
async def test_the_same_bill_from_two_devices_is_paid_once(cabinet: Cabinet) -> None:
    first = await subscriber(cabinet, 1001, balance="1200.00")
    await cabinet.login_as(1002)
    second = cabinet.user(1002, first_name="Анна")
    await open_payment(first)
    await open_payment(second)
    first_invoice = await invoice_for(first)
    second_invoice = await invoice_for(second)
    await first.pay(first_invoice)
    await first.expect("зачислен")
    refused = await second.pay(second_invoice, ok_expected=False)
    assert refused["error_message"] == texts.checkout_due_changed(Decimal(0))
    assert await balance(cabinet) == 0
    assert [p.status for p in await payments_in_db(cabinet)] == [
        PaymentStatus.SUCCEEDED, PaymentStatus.PENDING,
    ]  # fmt: skip


@TELEGRAM
async def test_an_invoice_paid_after_the_amount_changed_is_refused(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="800.00")
    await open_payment(user)
    invoice = await invoice_for(user)
    account = await current_account(cabinet)
    await set_balance(cabinet, account.id, Decimal("1300.00"))  # a new bill came in meanwhile
    refused = await user.pay(invoice, ok_expected=False)
    assert refused["error_message"] == texts.checkout_due_changed(Decimal("1300.00"))
    assert "1\u00a0300,00" in refused["error_message"]
    assert await balance(cabinet) == Decimal("1300.00")
    # And the same invoice paid twice: the second checkout is refused as paid.
    await open_payment(user)
    invoice = await invoice_for(user)
    await user.pay(invoice)
    await user.expect("зачислен")
    again = await user.pay(invoice, ok_expected=False)
    assert again["error_message"] == texts.CHECKOUT_ALREADY_PAID


@TELEGRAM
async def test_a_double_press_sends_one_invoice(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="300.00")
    summary = await open_payment(user)
    button = next(
        b for row in summary.inline_keyboard for b in row if b["text"] == texts.BTN_PAY_TELEGRAM
    )
    await user.press_button(summary, button)
    await user.press_button(summary, button)
    await user.expect(texts.INVOICE_SENT)
    late = await user.expect_callback_answer()
    assert late.text == texts.ALREADY_STARTED
    await user.press_button(summary, button)
    answer = await user.expect_callback_answer()
    assert answer.text == texts.ALREADY_STARTED
    assert len(cabinet.emu.calls_to("sendInvoice")) == 1
    assert len(await payments_in_db(cabinet)) == 1


@TELEGRAM
async def test_the_dialog_answers_what_a_person_might_do(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="300.00")
    await open_payment(user)
    await user.press(texts.BTN_CHANGE_AMOUNT)
    await user.expect("Введите сумму платежа")
    await user.send_photo(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    await user.expect(f"Сейчас я жду {texts.WAITING['Payment:amount']}")
    await user.send(common_texts.BTN_BACK)
    summary = await user.expect("Сумма платежа")  # the summary again, the amount kept
    assert f"Сумма платежа: {money(300)}" in summary.text
    await user.send("/cancel")
    await user.expect(common_texts.CANCELLED)
    await user.press(texts.BTN_PAY_TELEGRAM, message=summary)
    stale = await user.expect_callback_answer()
    assert stale.text == texts.DIALOG_EXPIRED
    assert cabinet.emu.calls_to("sendInvoice") == []


@TELEGRAM
async def test_a_bills_pay_button_opens_the_dialog_for_that_bill(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="2500.00")
    account = await current_account(cabinet)
    bill = await latest_bill(cabinet, account.id)
    async with cabinet.sessions() as session:
        foreign = await session.scalar(
            select(Charge.id).where(Charge.account_id != account.id).limit(1)
        )
    assert foreign is not None
    await user.send("/menu")
    menu = await user.expect("Главное меню")
    menu.reply_markup = {
        "inline_keyboard": [
            [{"text": "Оплатить этот", "callback_data": PayBillCb(charge_id=bill.id).pack()}],
            [{"text": "Оплатить чужой", "callback_data": PayBillCb(charge_id=foreign).pack()}],
        ]
    }  # what «🧾 Счета» shows under each bill (keyboards.payments.pay_bill_button)
    await user.press("Оплатить чужой", message=menu)
    assert (await user.expect_callback_answer()).text == texts.BILL_GONE
    await user.press("Оплатить этот", message=menu)
    summary = await user.expect("Сумма платежа")
    assert f"Счёт № {bill.number} за {fmt.period(bill.period)}" in summary.text
    assert f"К оплате: {money(2500)}" in summary.text
    await user.pay(await invoice_for(user))
    await user.expect("зачислен")
    [payment] = await payments_in_db(cabinet)
    assert payment.charge_id == bill.id
    await user.press("Оплатить этот", message=menu)
    assert (await user.expect_callback_answer()).text == texts.bill_paid(bill.number)


@TELEGRAM
async def test_when_a_provider_refuses_nothing_is_charged(
    yookassa: YooKassa, cabinet: Cabinet
) -> None:
    user = await subscriber(cabinet, balance="1.50")
    await open_payment(user)
    cabinet.emu.inject_failure(
        "sendInvoice", status=400, description="Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID"
    )
    await user.press(texts.BTN_PAY_TELEGRAM)
    await user.expect(texts.INVOICE_AMOUNT_REFUSED)
    await open_payment(user)
    yookassa.fake.failures = 1
    await user.press(texts.BTN_PAY_LINK)
    await user.expect(texts.LINK_FAILED)
    assert [p.status for p in await payments_in_db(cabinet)] == [PaymentStatus.CANCELED] * 2
    assert await balance(cabinet) == Decimal("1.50")
    await open_payment(user)  # and a new attempt works
    await user.press(texts.BTN_PAY_LINK)
    await user.expect("Ссылка на оплату")


# --- YooKassa link -----------------------------------------------------------------------------


async def open_link(user: Any) -> tuple[Any, str]:
    """From «Оплата» to the link message; returns it and the payment's payload."""
    await open_payment(user)
    await user.press(texts.BTN_PAY_LINK)
    message = await user.expect("Ссылка на оплату")
    [[url_button], [check_button]] = message.inline_keyboard
    assert url_button["text"] == texts.BTN_OPEN_LINK
    assert url_button["url"].startswith("https://yoomoney.ru/checkout/")
    assert check_button["text"] == texts.BTN_CHECK
    payload = check_button["callback_data"].rsplit(":", 1)[1]
    return message, payload


async def provider_id(cabinet: Cabinet) -> str:
    [payment] = await payments_in_db(cabinet)
    assert payment.provider_payment_charge_id is not None
    return payment.provider_payment_charge_id


async def test_link_paid_is_credited_once_however_often_yookassa_notifies(
    yookassa: YooKassa, cabinet: Cabinet
) -> None:
    user = await subscriber(cabinet, balance="2100.00")
    summary_text = (await open_payment(user)).text
    assert texts.BTN_PAY_TELEGRAM not in summary_text  # only the link is configured
    await user.press(texts.BTN_PAY_LINK)
    await user.expect("Ссылка на оплату")
    [payment] = await payments_in_db(cabinet)
    [created] = yookassa.fake.created()
    assert created.headers["Idempotence-Key"] == payment.payload
    assert created.body is not None
    assert created.body["confirmation"]["return_url"] == (
        f"https://t.me/{BOT_USERNAME}?start=pay_{payment.payload}"
    )
    assert created.body["receipt"]["customer"] == {"email": DEMO_EMAIL}
    assert created.body["amount"] == {"value": "2100.00", "currency": "RUB"}

    paid_id = await provider_id(cabinet)
    yookassa.fake.succeed(paid_id, method="sbp")
    body = yookassa.fake.notification(paid_id)
    assert await yookassa.notify(body) == (200, "credited")
    assert await yookassa.notify(body) == (200, "unchanged")
    pushed = await user.expect("зачислен", timeout=15)
    assert f"Платёж {money(2100)} зачислен" in pushed.text
    assert await balance(cabinet) == 0 and await credits_in_audit(cabinet) == 1

    await user.send(f"/start pay_{payment.payload}")  # back from YooKassa's page, later
    back = await user.expect("зачислен")
    assert back.message_id != pushed.message_id
    assert await balance(cabinet) == 0 and await credits_in_audit(cabinet) == 1
    assert sum("зачислен" in m.content_text for m in user.bot_messages) == 2


async def test_link_cancelled_changes_nothing(yookassa: YooKassa, cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="900.00")
    await open_link(user)
    cancelled = await provider_id(cabinet)
    yookassa.fake.cancel(cancelled)
    assert await yookassa.notify(yookassa.fake.notification(cancelled)) == (200, "unchanged")
    await user.press(texts.BTN_CHECK)
    await user.expect(texts.LINK_CANCELED)
    assert await balance(cabinet) == Decimal("900.00")
    [payment] = await payments_in_db(cabinet)
    assert payment.status == PaymentStatus.CANCELED


async def test_forged_notifications_change_nothing(yookassa: YooKassa, cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="900.00")
    await open_link(user)
    pending = await provider_id(cabinet)
    forged = yookassa.fake.notification(pending, status="succeeded", paid=True)
    assert await yookassa.notify(forged) == (200, "unchanged")
    invented = yookassa.fake.notification("2f1e0c4b-000f-5000-9000-1b2c3d4e5f60")
    assert await yookassa.notify(invented) == (200, "unknown")
    assert await balance(cabinet) == Decimal("900.00")
    await user.press(texts.BTN_CHECK)
    answer = await user.expect_callback_answer()
    assert answer.text == texts.link_pending_short(Decimal("900.00"))


@pytest.mark.settings(yookassa_check_source_ip=True)
async def test_notifications_only_from_yookassa_addresses(
    yookassa: YooKassa, cabinet: Cabinet
) -> None:
    user = await subscriber(cabinet, balance="900.00")
    await open_link(user)
    paid_id = await provider_id(cabinet)
    yookassa.fake.succeed(paid_id)
    body = yookassa.fake.notification(paid_id)
    assert await yookassa.notify(body) == (403, "forbidden")
    spoofed = {"X-Forwarded-For": "185.71.76.1, 10.0.0.7"}  # the proxy appended 10.0.0.7
    assert await yookassa.notify(body, spoofed) == (403, "forbidden")
    assert await balance(cabinet) == Decimal("900.00")
    via_proxy = {"X-Forwarded-For": "203.0.113.9, 185.71.76.1"}
    assert await yookassa.notify(body, via_proxy) == (200, "credited")
    assert await balance(cabinet) == 0


@pytest.mark.settings(yookassa_poll_seconds=1)
async def test_a_pending_link_is_resolved_by_polling(yookassa: YooKassa, cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, balance="640.00")
    await open_link(user)
    yookassa.fake.succeed(await provider_id(cabinet))  # and the notification never comes
    done = await user.expect("зачислен", timeout=20)
    assert f"Платёж {money(640)} зачислен" in done.text
    assert await balance(cabinet) == 0 and await credits_in_audit(cabinet) == 1


async def test_back_from_yookassa_before_its_notification(
    yookassa: YooKassa, cabinet: Cabinet
) -> None:
    user = await subscriber(cabinet, balance="450.00")
    _, payload = await open_link(user)
    await user.send(f"/start pay_{payload}")
    waiting = await user.expect("ещё не подтверждена банком")
    assert waiting.inline_buttons == [[texts.BTN_OPEN_LINK], [texts.BTN_CHECK]]
    paid_id = await provider_id(cabinet)
    yookassa.fake.succeed(paid_id)
    await user.send(f"/start pay_{payload}")
    await user.expect("зачислен")
    assert await yookassa.notify(yookassa.fake.notification(paid_id)) == (200, "unchanged")
    assert await balance(cabinet) == 0 and await credits_in_audit(cabinet) == 1
    stranger = cabinet.user(3003)
    await stranger.send(f"/start pay_{payload}")
    await stranger.expect(texts.PAYMENT_UNKNOWN)


@TELEGRAM
async def test_yookassa_notifies_a_telegram_payment_before_the_chat_message(
    yookassa: YooKassa, cabinet: Cabinet
) -> None:
    user = await subscriber(cabinet, balance="1000.00")
    summary = await open_payment(user)
    assert summary.inline_buttons[:2] == [[texts.BTN_PAY_TELEGRAM], [texts.BTN_PAY_LINK]]
    invoice = await invoice_for(user, summary)
    charge = yookassa.fake.add_payment("1000.00")  # Telegram's checkout created it at YooKassa
    paid = await user.pay(invoice, provider_payment_charge_id=charge, deliver=False)
    assert await yookassa.notify(yookassa.fake.notification(charge)) == (200, "unknown")
    assert await balance(cabinet) == Decimal("1000.00")
    await user.send_successful_payment(paid)
    await user.expect("зачислен")
    assert await yookassa.notify(yookassa.fake.notification(charge)) == (200, "unchanged")
    assert await balance(cabinet) == 0 and await credits_in_audit(cabinet) == 1
    [payment] = await payments_in_db(cabinet)
    assert payment.channel == PaymentChannel.TELEGRAM
    assert payment.provider_payment_charge_id == charge


@pytest.fixture
def webhook_mode(request: pytest.FixtureRequest, yookassa: YooKassa) -> None:
    """The cabinet of this test takes updates by webhook, on the same server as YooKassa's."""
    use_settings(
        request,
        webhook_url=f"http://127.0.0.1:{yookassa.port}/telegram/webhook",
        webhook_secret="s3cret-Token_1",
    )


async def test_notifications_share_the_webhook_server(
    yookassa: YooKassa, webhook_mode: None, cabinet: Cabinet
) -> None:
    user = await subscriber(cabinet, balance="300.00")
    assert cabinet.emu.webhook is not None
    await open_link(user)
    paid_id = await provider_id(cabinet)
    yookassa.fake.succeed(paid_id)
    assert await yookassa.notify(yookassa.fake.notification(paid_id)) == (200, "credited")
    await user.expect("зачислен", timeout=15)
    assert await balance(cabinet) == 0


async def test_a_taken_web_port_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    """With YooKassa configured the polling bot listens on WEB_PORT too; a taken port is said so."""
    token = "777001:PROCESS"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with BotAPIEmulator(token=token) as emu:
            env = {
                **os.environ,
                "BOT_TOKEN": token,
                "TELEGRAM_API_URL": emu.base_url,
                "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
                "MAIL_DIR": str(tmp_path / "mail"),
                "UPLOAD_DIR": str(tmp_path / "uploads"),
                "REDIS_URL": "",
                "WEBHOOK_URL": "",
                "YOOKASSA_SHOP_ID": "506751",
                "YOOKASSA_SECRET_KEY": "test_secret",
                "WEB_HOST": "127.0.0.1",
                "WEB_PORT": str(port),
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                _, stderr = await asyncio.wait_for(process.communicate(), 60)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    assert process.returncode == 2
    log = stderr.decode()
    assert cli_texts.web_port_unavailable("127.0.0.1", port) in log
    assert "Traceback" not in log
