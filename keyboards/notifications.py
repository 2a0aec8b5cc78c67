"""Buttons under pushed notifications and their callback data."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import notifications as texts


class PushAction(enum.StrEnum):
    READINGS = "r"  # open «Показания» of `account_id`
    SNOOZE = "s"  # «Напомнить завтра» for `account_id`
    PAY = "p"  # pay bill `charge_id` of `account_id`


class PushCb(CallbackData, prefix="nt"):
    action: PushAction
    account_id: int
    charge_id: int = 0


def reminder(account_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_SEND_READINGS,
        callback_data=PushCb(action=PushAction.READINGS, account_id=account_id),
    )
    builder.button(
        text=texts.BTN_REMIND_TOMORROW,
        callback_data=PushCb(action=PushAction.SNOOZE, account_id=account_id),
    )
    builder.adjust(1)
    return builder.as_markup()


def bill(account_id: int, charge_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_PAY,
        callback_data=PushCb(action=PushAction.PAY, account_id=account_id, charge_id=charge_id),
    )
    return builder.as_markup()


def for_notification(kind: str, payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """The buttons of an outbox message, by its kind (None: a plain message)."""
    if kind == "reading_reminder" and not payload.get("final"):
        return reminder(int(payload["account_id"]))
    if kind == "reading_reminder":
        builder = InlineKeyboardBuilder()
        builder.button(
            text=texts.BTN_SEND_READINGS,
            callback_data=PushCb(action=PushAction.READINGS, account_id=int(payload["account_id"])),
        )
        return builder.as_markup()
    if kind == "bill_ready" and Decimal(str(payload["amount"])) > 0:
        return bill(int(payload["account_id"]), int(payload["charge_id"]))
    return None
