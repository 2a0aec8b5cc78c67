"""Inline keyboards of the «Оплата» section and their callback data."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import common as common_texts
from bot.texts import payments as texts
from keyboards.common import CancelCb


class PaymentAction(enum.StrEnum):
    TELEGRAM = "t"  # issue a Telegram invoice for the summary `key`
    LINK = "l"  # create a YooKassa payment link for the summary `key`
    AMOUNT = "a"  # type another amount
    HISTORY = "h"
    CHECK = "c"  # ask YooKassa about the link payment `key`


class PaymentCb(CallbackData, prefix="pay"):
    """`key` is the summary's idempotency key, later the payment's payload."""

    action: PaymentAction
    key: str = ""


class PayBillCb(CallbackData, prefix="payb"):
    """«💳 Оплатить» under a bill in «🧾 Счета»: opens the Payment dialog for that bill."""

    charge_id: int


def pay_bill_button(charge_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=texts.BTN_PAY_BILL, callback_data=PayBillCb(charge_id=charge_id).pack()
    )


def summary(key: str, *, telegram: bool, link: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if telegram:
        builder.button(
            text=texts.BTN_PAY_TELEGRAM,
            callback_data=PaymentCb(action=PaymentAction.TELEGRAM, key=key),
        )
    if link:
        builder.button(
            text=texts.BTN_PAY_LINK, callback_data=PaymentCb(action=PaymentAction.LINK, key=key)
        )
    builder.button(
        text=texts.BTN_CHANGE_AMOUNT, callback_data=PaymentCb(action=PaymentAction.AMOUNT, key=key)
    )
    builder.button(text=texts.BTN_HISTORY, callback_data=PaymentCb(action=PaymentAction.HISTORY))
    builder.button(text=common_texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(*([1] * (int(telegram) + int(link))), 1, 2)
    return builder.as_markup()


def link(url: str, key: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_OPEN_LINK, url=url)
    builder.button(
        text=texts.BTN_CHECK, callback_data=PaymentCb(action=PaymentAction.CHECK, key=key)
    )
    builder.adjust(1)
    return builder.as_markup()


def history_only() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_HISTORY, callback_data=PaymentCb(action=PaymentAction.HISTORY))
    return builder.as_markup()
