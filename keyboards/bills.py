"""Inline keyboards of «🧾 Счета» and their callback data."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import bills as texts


class BillAction(enum.StrEnum):
    DETAIL = "d"
    PDF = "p"
    LIST = "l"


class BillsCb(CallbackData, prefix="bl"):
    action: BillAction
    charge_id: int = 0


def bills(items: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One row per bill: its detail and its receipt. `items`: (charge id, period title)."""
    builder = InlineKeyboardBuilder()
    for charge_id, title in items:
        builder.button(
            text=texts.BTN_DETAIL.format(period=title),
            callback_data=BillsCb(action=BillAction.DETAIL, charge_id=charge_id),
        )
        builder.button(
            text=texts.BTN_PDF, callback_data=BillsCb(action=BillAction.PDF, charge_id=charge_id)
        )
    builder.adjust(2)
    return builder.as_markup()


def bill(charge_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_PDF, callback_data=BillsCb(action=BillAction.PDF, charge_id=charge_id)
    )
    builder.button(text=texts.BTN_LIST, callback_data=BillsCb(action=BillAction.LIST))
    builder.adjust(1)
    return builder.as_markup()
