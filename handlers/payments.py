"""«💳 Оплата»: the Payment dialog (summary → amount → Telegram invoice or YooKassa link),
Telegram's pre-checkout and successful payment, the return from YooKassa and the history."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.filters import HasAccount
from bot.settings import Settings
from bot.texts import common as common_texts
from bot.texts import payments as texts
from keyboards import appeals as appeal_kb
from keyboards import common as common_kb
from keyboards import payments as kb
from keyboards.payments import PayBillCb, PaymentAction, PaymentCb
from models import AppealTopic, PaymentChannel, PaymentStatus
from services import payments as service
from services.identity import Viewer
from services.yookassa_api import ProviderUnavailable, YooKassaGateway

router = Router(name="payments")
# The return from YooKassa's page (`/start pay_…`), included ahead of every feature's dialog
# steps (see handlers.feature_routers).
links = Router(name="payments_links")
log = logging.getLogger(__name__)

ANY_STATE = StateFilter("*")
MESSAGE_LIMIT = 3800


class Payment(StatesGroup):
    amount = State()  # typing the amount (a partial payment or an advance)
    confirm = State()  # the summary with «Оплатить …»


# --- opening: «💳 Оплата» or a bill's «💳 Оплатить» --------------------------------------------


@router.message(F.text == common_texts.MENU_PAYMENT, ANY_STATE, HasAccount())
async def open_section(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
) -> None:
    await state.clear()
    assert viewer.account is not None
    due = await service.due_for_account(session, viewer.account.id)
    await _begin(message, state, due, settings)


@router.callback_query(PayBillCb.filter(), ANY_STATE, HasAccount())
async def open_for_bill(
    query: CallbackQuery,
    callback_data: PayBillCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    assert viewer.account is not None
    try:
        due = await service.due_for_bill(session, viewer.account.id, callback_data.charge_id)
    except service.BillNotFound:
        callback_answer.text = texts.BILL_GONE
        return
    if due.amount_due <= 0:
        callback_answer.text = texts.bill_paid(due.bill_number)
        return
    await state.clear()
    if isinstance(query.message, Message):
        await _begin(query.message, state, due, settings)


async def _begin(message: Message, state: FSMContext, due: service.Due, settings: Settings) -> None:
    telegram, link = settings.telegram_payments_enabled, settings.yookassa_enabled
    if not (telegram or link):
        await message.answer(
            texts.how_to_pay(
                due.account_number, due.address, due.bill_number, due.period, due.due_date,
                due.amount_due, due.balance,
            ),
            reply_markup=kb.history_only(),
        )  # fmt: skip
        return
    amount = service.suggested_amount(
        due.amount_due, minimum=settings.payment_min_amount, maximum=settings.payment_max_amount
    )
    await state.set_data(
        {
            "account_id": due.account_id,
            "account_number": due.account_number,
            "address": due.address,
            "charge_id": due.charge_id,
            "bill_number": due.bill_number,
            "period": due.period.isoformat() if due.period else None,
            "due_date": due.due_date.isoformat() if due.due_date else None,
            "amount_due": str(due.amount_due),
            "balance": str(due.balance),
            "amount": str(amount) if amount is not None else None,
        }
    )
    if amount is None:  # nothing is owed: an advance, whose amount only the subscriber knows
        await message.answer(
            texts.advance_intro(due.account_number, due.address, due.balance),
            reply_markup=kb.history_only(),
        )
        await _ask_amount(message, state, settings)
        return
    await _show_summary(message, state, settings)


async def _show_summary(message: Message, state: FSMContext, settings: Settings) -> None:
    key = uuid.uuid4().hex  # once per summary: both presses of «Оплатить» share it
    await state.update_data(key=key)
    await state.set_state(Payment.confirm)
    data = await state.get_data()
    await message.answer(
        texts.summary(
            data["account_number"], data["address"], data["bill_number"], _date(data["period"]),
            _date(data["due_date"]), Decimal(data["amount_due"]), Decimal(data["balance"]),
            Decimal(data["amount"]),
            telegram=settings.telegram_payments_enabled, link=settings.yookassa_enabled,
        ),
        reply_markup=kb.summary(
            key, telegram=settings.telegram_payments_enabled, link=settings.yookassa_enabled
        ),
    )  # fmt: skip


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# --- the amount --------------------------------------------------------------------------------


@router.callback_query(PaymentCb.filter(F.action == PaymentAction.AMOUNT), Payment.confirm)
async def change_amount(
    query: CallbackQuery, callback_data: PaymentCb, state: FSMContext, settings: Settings
) -> None:
    data = await state.get_data()
    if data.get("key") != callback_data.key or not isinstance(query.message, Message):
        return
    await query.message.edit_reply_markup(reply_markup=None)
    await _ask_amount(query.message, state, settings)


@router.message(Payment.confirm, F.text == common_texts.BTN_BACK)
async def summary_back(message: Message, state: FSMContext, settings: Settings) -> None:
    await _ask_amount(message, state, settings)


async def _ask_amount(
    message: Message, state: FSMContext, settings: Settings, reason: str | None = None
) -> None:
    data = await state.get_data()
    await state.set_state(Payment.amount)
    if Decimal(data["amount_due"]) <= 0:
        question = texts.ask_advance(settings.payment_min_amount, settings.payment_max_amount)
        keyboard = common_kb.cancel_reply()
    else:
        question = texts.ask_amount(
            Decimal(data["amount_due"]), settings.payment_min_amount, settings.payment_max_amount
        )
        keyboard = common_kb.back_cancel()
    await message.answer(
        "\n\n".join([*([reason] if reason else []), question]), reply_markup=keyboard
    )


@router.message(Payment.amount, F.text == common_texts.BTN_BACK)
async def amount_back(message: Message, state: FSMContext, settings: Settings) -> None:
    """«« Назад» from the amount: the summary again (the amount stays as it was)."""
    data = await state.get_data()
    if data.get("amount") is None:
        await state.clear()
        await message.answer(texts.BACK_TO_MENU, reply_markup=common_kb.main_menu())
        return
    await _show_summary(message, state, settings)


def _amount_reason(error: service.AmountError) -> str:
    if isinstance(error, service.TooManyKopecks):
        return texts.TOO_MANY_KOPECKS
    if isinstance(error, service.AmountTooSmall):
        return texts.too_small(error.minimum)
    if isinstance(error, service.AmountTooLarge):
        return texts.too_large(error.maximum)
    return texts.NOT_AN_AMOUNT


@router.message(Payment.amount, F.text, ~F.text.in_(common_texts.MENU_SECTIONS))
async def take_amount(message: Message, state: FSMContext, settings: Settings) -> None:
    try:
        amount = service.parse_amount(
            message.text or "",
            minimum=settings.payment_min_amount,
            maximum=settings.payment_max_amount,
        )
    except service.AmountError as error:
        await _ask_amount(message, state, settings, _amount_reason(error))
        return
    await state.update_data(amount=str(amount))
    await _show_summary(message, state, settings)


# --- paying ------------------------------------------------------------------------------------


async def _summary_data(state: FSMContext, key: str) -> dict[str, Any] | None:
    """The dialog's data when `key` is the summary on screen; None for an old or used one."""
    data = await state.get_data()
    if await state.get_state() != Payment.confirm.state or data.get("key") != key:
        return None
    return data


async def _start(
    data: dict[str, Any],
    channel: PaymentChannel,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> service.StartedPayment | None:
    assert viewer.login_id is not None
    try:
        return await service.start_payment(
            session,
            payload=data["key"],
            login_id=viewer.login_id,
            telegram_user_id=viewer.telegram_user_id,
            account_id=data["account_id"],
            charge_id=data["charge_id"],
            amount=Decimal(data["amount"]),
            channel=channel,
            minimum=settings.payment_min_amount,
            maximum=settings.payment_max_amount,
            now=clock.now(),
        )
    except service.PaymentAlreadyStarted:
        callback_answer.text = texts.ALREADY_STARTED
    except service.AccountNotLinked:
        callback_answer.text, callback_answer.show_alert = texts.ACCOUNT_GONE, True
    except service.BillNotFound:
        callback_answer.text, callback_answer.show_alert = texts.BILL_GONE, True
    except service.AmountError:  # the limits changed since the summary (new settings)
        callback_answer.text, callback_answer.show_alert = texts.DIALOG_EXPIRED, True
    return None


@router.callback_query(
    PaymentCb.filter(F.action == PaymentAction.TELEGRAM), ANY_STATE, HasAccount()
)
async def pay_in_telegram(
    query: CallbackQuery,
    callback_data: PaymentCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    data = await _summary_data(state, callback_data.key)
    if data is None or settings.payment_provider_token is None:
        existing = await service.find_payment(session, callback_data.key)
        callback_answer.text = texts.ALREADY_STARTED if existing else texts.DIALOG_EXPIRED
        return
    started = await _start(
        data, PaymentChannel.TELEGRAM, session, viewer, settings, clock, callback_answer
    )
    if started is None or not isinstance(query.message, Message):
        return
    await state.clear()
    await query.message.edit_reply_markup(reply_markup=None)
    receipt = service.receipt(
        email=started.email,
        description=texts.receipt_line(started.account_number, started.period),
        amount=started.amount,
        vat_code=settings.payment_vat_code,
        advance=started.advance,
    )
    try:
        await bot.send_invoice(
            query.message.chat.id,
            title=texts.invoice_title(started.account_number),
            description=texts.payment_description(
                started.account_number, started.bill_number, started.period
            ),
            payload=started.payload,
            currency=service.CURRENCY,
            prices=[
                LabeledPrice(
                    label=texts.price_label(started.period), amount=service.kopecks(started.amount)
                )
            ],
            provider_token=settings.payment_provider_token.get_secret_value(),
            provider_data=json.dumps({"receipt": receipt}, ensure_ascii=False),
            need_email=started.email is None,
            send_email_to_provider=started.email is None,
        )
    except TelegramBadRequest as error:
        log.warning("sendInvoice refused for payment %s: %s", started.id, error.message)
        await service.abandon(session, started.id, now=clock.now(), reason=error.message)
        refused = "AMOUNT" in error.message.upper()
        await query.message.answer(
            texts.INVOICE_AMOUNT_REFUSED if refused else texts.INVOICE_FAILED,
            reply_markup=common_kb.main_menu(),
        )
        return
    await query.message.answer(texts.INVOICE_SENT, reply_markup=common_kb.main_menu())


@router.callback_query(PaymentCb.filter(F.action == PaymentAction.LINK), ANY_STATE, HasAccount())
async def pay_by_link(
    query: CallbackQuery,
    callback_data: PaymentCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
    bot: Bot,
    callback_answer: CallbackAnswer,
    yookassa: YooKassaGateway | None = None,
) -> None:
    data = await _summary_data(state, callback_data.key)
    if data is None or yookassa is None:
        existing = await service.find_payment(session, callback_data.key)
        if (
            existing is not None
            and existing.status == PaymentStatus.PENDING
            and existing.confirmation_url
            and isinstance(query.message, Message)
        ):
            await query.message.answer(
                texts.link_ready(existing.amount),
                reply_markup=kb.link(existing.confirmation_url, existing.payload),
            )
            return
        callback_answer.text = texts.ALREADY_STARTED if existing else texts.DIALOG_EXPIRED
        return
    started = await _start(
        data, PaymentChannel.YOOKASSA_LINK, session, viewer, settings, clock, callback_answer
    )
    if started is None or not isinstance(query.message, Message):
        return
    await state.clear()
    await query.message.edit_reply_markup(reply_markup=None)
    await query.message.answer(texts.LINK_CREATING, reply_markup=common_kb.main_menu())
    me = await bot.me()
    try:
        opened = await service.open_link(
            session,
            yookassa,
            started,
            description=texts.payment_description(
                started.account_number, started.bill_number, started.period
            ),
            receipt_data=service.receipt(
                email=started.email,
                description=texts.receipt_line(started.account_number, started.period),
                amount=started.amount,
                vat_code=settings.payment_vat_code,
                advance=started.advance,
            ),
            return_to=service.return_url(
                settings.yookassa_return_url, me.username or "", started.payload
            ),
            now=clock.now(),
        )
    except ProviderUnavailable as error:
        log.warning("YooKassa refused payment %s: %s", started.id, error)
        await query.message.answer(texts.LINK_FAILED)
        return
    assert opened.confirmation_url is not None
    await query.message.answer(
        texts.link_ready(opened.amount),
        reply_markup=kb.link(opened.confirmation_url, opened.payload),
    )


# --- back from YooKassa's page -----------------------------------------------------------------


@router.callback_query(PaymentCb.filter(F.action == PaymentAction.CHECK), ANY_STATE)
async def check_link(
    query: CallbackQuery,
    callback_data: PaymentCb,
    session: AsyncSession,
    clock: Clock,
    callback_answer: CallbackAnswer,
    yookassa: YooKassaGateway | None = None,
) -> None:
    try:
        outcome = await service.refresh_link(
            session, yookassa, payload=callback_data.key,
            telegram_user_id=query.from_user.id, now=clock.now(),
        )  # fmt: skip
    except service.PaymentNotFound:
        callback_answer.text = texts.PAYMENT_UNKNOWN
        return
    except ProviderUnavailable:
        callback_answer.text, callback_answer.show_alert = texts.CHECK_UNAVAILABLE, True
        return
    if outcome.state == service.LinkState.PENDING:
        callback_answer.text = texts.link_pending_short(outcome.payment.amount)
        callback_answer.show_alert = True
        return
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(_outcome_text(outcome))


@links.message(
    CommandStart(deep_link=True, magic=F.args.startswith(service.RETURN_PREFIX)), ANY_STATE
)
async def returned_from_yookassa(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    yookassa: YooKassaGateway | None = None,
) -> None:
    """YooKassa's «Вернуться в магазин» opens `t.me/<bot>?start=pay_<payload>`."""
    assert message.from_user is not None
    payload = (command.args or "").removeprefix(service.RETURN_PREFIX)
    try:
        outcome = await service.refresh_link(
            session, yookassa, payload=payload,
            telegram_user_id=message.from_user.id, now=clock.now(),
        )  # fmt: skip
    except service.PaymentNotFound:
        await message.answer(texts.PAYMENT_UNKNOWN)
        return
    except ProviderUnavailable:
        await message.answer(texts.CHECK_UNAVAILABLE)
        return
    if outcome.state == service.LinkState.PENDING and outcome.payment.confirmation_url:
        await message.answer(
            texts.link_pending(outcome.payment.amount),
            reply_markup=kb.link(outcome.payment.confirmation_url, outcome.payment.payload),
        )
        return
    await message.answer(_outcome_text(outcome))


def _outcome_text(outcome: service.LinkOutcome) -> str:
    if outcome.credit is not None:
        credit = outcome.credit
        return texts.credited(credit.amount, credit.account_number, credit.balance)
    if outcome.state == service.LinkState.CANCELED:
        return texts.LINK_CANCELED
    return texts.link_pending(outcome.payment.amount)


# --- Telegram Payments -------------------------------------------------------------------------


def _refusal(error: service.CheckoutRefused) -> str:
    if isinstance(error, service.DueChanged):
        return texts.checkout_due_changed(error.due)
    if isinstance(error, service.AccountUnlinked):
        return texts.checkout_unlinked(error.number)
    if isinstance(error, service.AlreadyPaid):
        return texts.CHECKOUT_ALREADY_PAID
    if isinstance(error, service.NotThePayer):
        return texts.CHECKOUT_NOT_PAYER
    if isinstance(error, service.AmountMismatch):
        return texts.CHECKOUT_AMOUNT
    return texts.CHECKOUT_UNKNOWN


@router.pre_checkout_query()
async def pre_checkout(
    query: PreCheckoutQuery, session: AsyncSession, viewer: Viewer | None
) -> None:
    """Answered within Telegram's 10 seconds: a few indexed reads, no outside calls."""
    try:
        await service.check_checkout(
            session,
            payload=query.invoice_payload,
            telegram_user_id=query.from_user.id,
            login_id=viewer.login_id if viewer else None,
            total_amount=query.total_amount,
            currency=query.currency,
        )
    except service.CheckoutRefused as refusal:
        await query.answer(ok=False, error_message=_refusal(refusal))
        return
    except Exception:
        await query.answer(ok=False, error_message=texts.CHECKOUT_FAILED)
        raise
    await query.answer(ok=True)


@router.message(F.successful_payment, ANY_STATE)
async def successful_payment(message: Message, session: AsyncSession, clock: Clock) -> None:
    """The money is taken: credit it (once per charge id) and confirm; the dialog the
    subscriber may be in stays as it was."""
    paid = message.successful_payment
    assert paid is not None and message.from_user is not None
    try:
        credit = await service.credit_telegram(
            session,
            payload=paid.invoice_payload,
            total_amount=paid.total_amount,
            currency=paid.currency,
            telegram_payment_charge_id=paid.telegram_payment_charge_id,
            provider_payment_charge_id=paid.provider_payment_charge_id,
            telegram_user_id=message.from_user.id,
            now=clock.now(),
        )
    except service.PaymentNotFound:
        log.error("successful payment with an unknown payload")
        await message.answer(
            texts.UNMATCHED, reply_markup=appeal_kb.new_appeal(AppealTopic.BILLING_DEBT)
        )
        return
    await message.answer(texts.credited(credit.amount, credit.account_number, credit.balance))


# --- history -----------------------------------------------------------------------------------


@router.callback_query(PaymentCb.filter(F.action == PaymentAction.HISTORY), ANY_STATE, HasAccount())
async def show_history(
    query: CallbackQuery,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
) -> None:
    assert viewer.login_id is not None
    if not isinstance(query.message, Message):
        return
    entries = await service.history(session, viewer.login_id, now=clock.now())
    lines = [texts.HISTORY_TITLE, ""]
    if not entries:
        lines.append(texts.HISTORY_EMPTY)
    for entry in entries:
        lines.append(
            texts.history_line(
                entry.at.astimezone(settings.zone), entry.amount, entry.account_number,
                entry.period, entry.channel, entry.method, entry.status,
            )
        )  # fmt: skip
    for chunk in _chunks(lines):
        await query.message.answer(chunk)


def _chunks(lines: list[str]) -> list[str]:
    """Join lines into messages under Telegram's 4096-character limit."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > MESSAGE_LIMIT:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks
