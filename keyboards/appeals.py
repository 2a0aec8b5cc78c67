"""Keyboards of «✉️ Общение»: the section, topics, attachments, «Мои обращения», the staff card.

`new_appeal` / `with_new_appeal` are the one way other sections offer «write to us» with a
topic chosen already (no meters → «Приборы учета», a linking lockout → «Внесение изменений в
лицевой счет», …).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import appeals as texts
from bot.texts import common as common_texts
from keyboards.common import CancelCb
from models import AppealStatus, AppealTopic
from services.appeals import AppealView, can_reopen


class AppealAction(enum.StrEnum):
    NEW = "n"  # start the dialog; with `topic` the topic is chosen already
    LIST = "l"
    TOPIC = "t"
    SEND = "s"
    BACK = "b"
    WRITE = "w"  # a follow-up to (or reopening of) `appeal_id`
    PAGE = "p"


class AppealsCb(CallbackData, prefix="ap"):
    action: AppealAction
    topic: str = ""
    appeal_id: int = 0
    page: int = 0


class StaffAppealAction(enum.StrEnum):
    TAKE = "t"
    CLOSE = "c"


class StaffAppealCb(CallbackData, prefix="as"):
    action: StaffAppealAction
    appeal_id: int


def section() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_NEW, callback_data=AppealsCb(action=AppealAction.NEW))
    builder.button(text=texts.BTN_LIST, callback_data=AppealsCb(action=AppealAction.LIST))
    builder.adjust(1)
    return builder.as_markup()


def new_appeal_button(topic: AppealTopic) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=texts.BTN_WRITE_TO_US,
        callback_data=AppealsCb(action=AppealAction.NEW, topic=topic.value).pack(),
    )


def new_appeal(topic: AppealTopic) -> InlineKeyboardMarkup:
    """«✉️ Написать специалистам» opening the new-appeal dialog with `topic` chosen."""
    return InlineKeyboardMarkup(inline_keyboard=[[new_appeal_button(topic)]])


def with_new_appeal(markup: InlineKeyboardMarkup, topic: AppealTopic) -> InlineKeyboardMarkup:
    """Another section's keyboard with «✉️ Написать специалистам» added as the last row."""
    return InlineKeyboardMarkup(
        inline_keyboard=[*markup.inline_keyboard, [new_appeal_button(topic)]]
    )


def topics() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for topic in AppealTopic:
        builder.button(
            text=texts.TOPIC_NAMES[topic],
            callback_data=AppealsCb(action=AppealAction.TOPIC, topic=topic.value),
        )
    builder.button(text=common_texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(1)
    return builder.as_markup()


def attachments(count: int) -> ReplyKeyboardMarkup:
    first = texts.BTN_DONE if count else texts.BTN_NO_FILES
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=first)],
            [
                KeyboardButton(text=common_texts.BTN_BACK),
                KeyboardButton(text=common_texts.BTN_CANCEL),
            ],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def summary() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_SEND, callback_data=AppealsCb(action=AppealAction.SEND))
    builder.button(text=common_texts.BTN_BACK, callback_data=AppealsCb(action=AppealAction.BACK))
    builder.button(text=common_texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(1, 2)
    return builder.as_markup()


def my_appeals(
    appeals: Sequence[AppealView], now: datetime, page: int, pages: int
) -> InlineKeyboardMarkup:
    """Per appeal on the page: «Дополнить» while open, «Возобновить» within 7 days of closing."""
    builder = InlineKeyboardBuilder()
    sizes: list[int] = []
    for appeal in appeals:
        if appeal.status is not AppealStatus.CLOSED:
            caption = texts.btn_write(appeal.number)
        elif can_reopen(appeal, now):
            caption = texts.btn_reopen(appeal.number)
        else:
            continue
        builder.button(
            text=caption, callback_data=AppealsCb(action=AppealAction.WRITE, appeal_id=appeal.id)
        )
        sizes.append(1)
    nav = []
    if page > 0:
        nav.append((texts.BTN_PREV, page - 1))
    if page + 1 < pages:
        nav.append((texts.BTN_NEXT, page + 1))
    for caption, target in nav:
        builder.button(text=caption, callback_data=AppealsCb(action=AppealAction.PAGE, page=target))
    if nav:
        sizes.append(len(nav))
    builder.button(text=texts.BTN_NEW, callback_data=AppealsCb(action=AppealAction.NEW))
    sizes.append(1)
    builder.adjust(*sizes)
    return builder.as_markup()


def staff_card(appeal: AppealView) -> InlineKeyboardMarkup | None:
    """Only the buttons that still apply: none once the appeal is closed."""
    if appeal.status is AppealStatus.CLOSED:
        return None
    builder = InlineKeyboardBuilder()
    if appeal.taken_by_id is None:
        builder.button(
            text=texts.BTN_TAKE,
            callback_data=StaffAppealCb(action=StaffAppealAction.TAKE, appeal_id=appeal.id),
        )
    builder.button(
        text=texts.BTN_CLOSE,
        callback_data=StaffAppealCb(action=StaffAppealAction.CLOSE, appeal_id=appeal.id),
    )
    builder.adjust(2)
    return builder.as_markup()
