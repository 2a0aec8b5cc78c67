"""Main menu, cancel and back buttons shared by every dialog.

The keyboards without parameters are built once (`@cache`): one object is sent again and again,
so it is never changed in place (keyboards.appeals.with_new_appeal makes a new one).
"""

from __future__ import annotations

from functools import cache

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import common as texts


class CancelCb(CallbackData, prefix="x"):
    """The inline «Отмена» of any dialog."""


class GuestCb(CallbackData, prefix="g"):
    """Buttons of the greeting for a guest: `action` is «login» or «register»."""

    action: str


@cache
def main_menu() -> ReplyKeyboardMarkup:
    sections = texts.MENU_SECTIONS
    rows = [
        [KeyboardButton(text=sections[i]), KeyboardButton(text=sections[i + 1])]
        for i in range(0, len(sections), 2)
    ]
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


@cache
def guest_menu() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_LOGIN, callback_data=GuestCb(action="login"))
    builder.button(text=texts.BTN_REGISTER, callback_data=GuestCb(action="register"))
    builder.adjust(2)
    return builder.as_markup()


@cache
def cancel_reply() -> ReplyKeyboardMarkup:
    """Shown while a dialog waits for typed input: the only way out is «Отмена»."""
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=texts.BTN_CANCEL)]], resize_keyboard=True, is_persistent=True
    )


@cache
def back_cancel() -> ReplyKeyboardMarkup:
    """While a typed answer is awaited and there is a step before: «« Назад» or «Отмена»."""
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=texts.BTN_BACK), KeyboardButton(text=texts.BTN_CANCEL)]],
        resize_keyboard=True,
        is_persistent=True,
    )


@cache
def cancel_inline() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=texts.BTN_CANCEL, callback_data=CancelCb().pack())]
        ]
    )


@cache
def remove() -> ReplyKeyboardRemove:
    return ReplyKeyboardRemove()
