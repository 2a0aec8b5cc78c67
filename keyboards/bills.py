"""Inline keyboards of «🧾 Счета» and their callback data."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import bills as texts
from keyboards.payments import pay_bill_button


class BillAction(enum.StrEnum):
    DETAIL = "d"
    PDF = "p"
    LIST = "l"


class BillsCb(CallbackData, prefix="bl"):
    action: BillAction
    charge_id: int = 0


def bills(items: list[tuple[int, str, bool]]) -> InlineKeyboardMarkup:
    """Per bill a row with its detail and its receipt, and «💳 Оплатить» under a bill that is
    still to pay. `items`: (charge id, period title, payable)."""
    builder = InlineKeyboardBuilder()
    for charge_id, title, payable in items:
        builder.row(
            InlineKeyboardButton(
                text=texts.BTN_DETAIL.format(period=title),
                callback_data=BillsCb(action=BillAction.DETAIL, charge_id=charge_id).pack(),
            ),
            InlineKeyboardButton(
                text=texts.BTN_PDF,
                callback_data=BillsCb(action=BillAction.PDF, charge_id=charge_id).pack(),
            ),
        )
        if payable:
            builder.row(pay_bill_button(charge_id))
    return builder.as_markup()


def bill(charge_id: int, *, payable: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_PDF, callback_data=BillsCb(action=BillAction.PDF, charge_id=charge_id)
    )
    builder.adjust(1)
    if payable:
        builder.row(pay_bill_button(charge_id))
    builder.row(
        InlineKeyboardButton(
            text=texts.BTN_LIST, callback_data=BillsCb(action=BillAction.LIST).pack()
        )
    )
    return builder.as_markup()
