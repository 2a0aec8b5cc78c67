"""Buttons of pushed notifications, by outbox `kind`, and the buttons under the pushes of this
feature (reading reminders, the monthly bill) with their callback data.

Each feature's keyboards module may define `NOTIFICATION_KEYBOARDS: dict[str, Builder]`; they
are collected here (as bot/texts/notifications.py collects the texts), so the outbox job adds
a notice's buttons without knowing the features.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

import keyboards
from bot.texts import notifications as texts

Builder = Callable[[dict[str, Any]], InlineKeyboardMarkup | None]


@cache
def builders() -> dict[str, Builder]:
    found: dict[str, Builder] = {}
    for info in pkgutil.iter_modules(keyboards.__path__):
        module = importlib.import_module(f"keyboards.{info.name}")
        found.update(getattr(module, "NOTIFICATION_KEYBOARDS", {}))
    return found


def keyboard(kind: str, payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """The notice's buttons, or None when its kind has none."""
    builder = builders().get(kind)
    return builder(payload) if builder is not None else None


# --- reading reminders and the monthly bill ----------------------------------------------------


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


def _reminder_buttons(payload: dict[str, Any]) -> InlineKeyboardMarkup:
    """«Напомнить завтра» only while there is a tomorrow in the window."""
    account_id = int(payload["account_id"])
    if not payload.get("final"):
        return reminder(account_id)
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_SEND_READINGS,
        callback_data=PushCb(action=PushAction.READINGS, account_id=account_id),
    )
    return builder.as_markup()


def _bill_buttons(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """«Оплатить» when there is something to pay."""
    if Decimal(str(payload["amount"])) <= 0:
        return None
    return bill(int(payload["account_id"]), int(payload["charge_id"]))


NOTIFICATION_KEYBOARDS: dict[str, Builder] = {
    "reading_reminder": _reminder_buttons,
    "bill_ready": _bill_buttons,
}
