"""Inline keyboards of the «Показания» section and their callback data (the ones without
parameters are built once, as in keyboards.common)."""

from __future__ import annotations

import enum
from functools import cache

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import readings as texts
from keyboards.common import CancelCb


class ReadingAction(enum.StrEnum):
    ENTER = "e"  # start ReadingEntry for `meter_id`
    HISTORY = "h"
    YES = "y"  # the value is right despite the warning
    NO = "n"  # type the value again
    NO_PHOTO = "p"
    RETYPE = "r"  # start the values over from the summary
    SPLIT_YES = "sy"  # several zones typed in one message were read right
    SPLIT_NO = "sn"  # they were not: type the zone again


class ReadingsCb(CallbackData, prefix="rd"):
    action: ReadingAction
    meter_id: int = 0


class ConfirmReadingsCb(CallbackData, prefix="rdc"):
    """«Подтвердить» carries the idempotency key, so a second press finds the first result."""

    key: str


def meters(meter_buttons: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for meter_id, serial in meter_buttons:
        builder.button(
            text=texts.BTN_ENTER.format(serial=serial),
            callback_data=ReadingsCb(action=ReadingAction.ENTER, meter_id=meter_id),
        )
    builder.button(text=texts.BTN_HISTORY, callback_data=ReadingsCb(action=ReadingAction.HISTORY))
    builder.adjust(1)
    return builder.as_markup()


@cache
def confirm_warning() -> InlineKeyboardMarkup:
    return _right_or_retype(ReadingAction.YES, ReadingAction.NO)


@cache
def confirm_split() -> InlineKeyboardMarkup:
    return _right_or_retype(ReadingAction.SPLIT_YES, ReadingAction.SPLIT_NO)


def _right_or_retype(yes: ReadingAction, no: ReadingAction) -> InlineKeyboardMarkup:
    """«Да, всё верно» / «Нет, ввести заново» / «Отмена» under a question about typed values."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_YES_RIGHT, callback_data=ReadingsCb(action=yes))
    builder.button(text=texts.BTN_NO_RETYPE, callback_data=ReadingsCb(action=no))
    builder.button(text=texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(2, 1)
    return builder.as_markup()


@cache
def photo() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_NO_PHOTO, callback_data=ReadingsCb(action=ReadingAction.NO_PHOTO))
    builder.button(text=texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(2)
    return builder.as_markup()


def summary(key: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_CONFIRM, callback_data=ConfirmReadingsCb(key=key))
    builder.button(text=texts.BTN_EDIT, callback_data=ReadingsCb(action=ReadingAction.RETYPE))
    builder.button(text=texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(1, 2)
    return builder.as_markup()
