"""Keyboards of contract applications: the dialog, «Мои заявки» and the staff card."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import common as common_texts
from bot.texts import contracts as texts
from keyboards.common import CancelCb
from models import ApplicationStatus, ObjectType
from services.contracts import ApplicationView


class ContractAction(enum.StrEnum):
    NEW = "n"
    LIST = "l"
    OBJECT = "o"
    SAVE = "s"
    BACK = "b"
    MORE = "m"


class ContractsCb(CallbackData, prefix="ca"):
    action: ContractAction
    value: str = ""
    application_id: int = 0


class StaffAction(enum.StrEnum):
    TAKE = "t"
    REQUEST = "r"
    APPROVE = "a"
    REJECT = "x"


class StaffCb(CallbackData, prefix="cs"):
    action: StaffAction
    application_id: int


def object_types() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for kind in ObjectType:
        builder.button(
            text=texts.OBJECT_TYPE_NAMES[kind],
            callback_data=ContractsCb(action=ContractAction.OBJECT, value=kind.value),
        )
    builder.button(text=common_texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(2, 2, 1, 1)
    return builder.as_markup()


def documents_step(*, optional: bool) -> ReplyKeyboardMarkup:
    first = [KeyboardButton(text=texts.BTN_DONE)]
    if optional:
        first.append(KeyboardButton(text=texts.BTN_SKIP))
    return ReplyKeyboardMarkup(
        keyboard=[
            first,
            [
                KeyboardButton(text=common_texts.BTN_BACK),
                KeyboardButton(text=common_texts.BTN_CANCEL),
            ],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def more_documents() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=texts.BTN_DONE), KeyboardButton(text=common_texts.BTN_CANCEL)]
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def summary() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=common_texts.BTN_SAVE, callback_data=ContractsCb(action=ContractAction.SAVE)
    )
    builder.button(
        text=common_texts.BTN_BACK, callback_data=ContractsCb(action=ContractAction.BACK)
    )
    builder.button(text=common_texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(1, 2)
    return builder.as_markup()


def applications(apps: list[ApplicationView]) -> InlineKeyboardMarkup:
    """«Дослать документы» where staff asked for them, a new application, back to the accounts."""
    from keyboards.accounts import AccountAction, AccountsCb

    builder = InlineKeyboardBuilder()
    for app in apps:
        if app.status is ApplicationStatus.DOCUMENTS_REQUESTED:
            builder.button(
                text=texts.send_more_button(app.number),
                callback_data=ContractsCb(action=ContractAction.MORE, application_id=app.id),
            )
    builder.button(
        text=texts.BTN_NEW_APPLICATION, callback_data=ContractsCb(action=ContractAction.NEW)
    )
    builder.button(text=texts.BTN_TO_ACCOUNTS, callback_data=AccountsCb(action=AccountAction.LIST))
    builder.adjust(1)
    return builder.as_markup()


def staff_card(application_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action, caption in (
        (StaffAction.TAKE, texts.BTN_TAKE),
        (StaffAction.REQUEST, texts.BTN_REQUEST_DOCS),
        (StaffAction.APPROVE, texts.BTN_APPROVE),
        (StaffAction.REJECT, texts.BTN_REJECT),
    ):
        builder.button(
            text=caption, callback_data=StaffCb(action=action, application_id=application_id)
        )
    builder.adjust(2, 2)
    return builder.as_markup()
