"""Keyboards of contract applications: the dialog, «Мои заявки» and the staff card."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import common as common_texts
from bot.texts import contracts as texts
from keyboards.common import CancelCb
from models import ApplicationStatus, ObjectType
from services.contracts import NOTIFY_KIND, AccountMatch, ApplicationsPage, ApplicationView


class ContractAction(enum.StrEnum):
    NEW = "n"
    LIST = "l"
    OBJECT = "o"
    SAVE = "s"
    BACK = "b"
    MORE = "m"
    PAGE = "p"


class ContractsCb(CallbackData, prefix="ca"):
    action: ContractAction
    value: str = ""
    application_id: int = 0


class StaffAction(enum.StrEnum):
    TAKE = "t"
    REQUEST = "r"
    APPROVE = "a"
    REJECT = "x"
    LINK = "l"  # link the existing account staff compared with the application
    KEEP = "k"  # do not link it


class StaffCb(CallbackData, prefix="cs"):
    action: StaffAction
    application_id: int
    account_id: int = 0


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


def applications(mine: ApplicationsPage) -> InlineKeyboardMarkup:
    """«Дослать документы» where staff asked for them, pages, a new application, the accounts."""
    from keyboards.accounts import AccountAction, AccountsCb

    builder = InlineKeyboardBuilder()
    rows: list[int] = []
    for app in mine.items:
        if app.status is ApplicationStatus.DOCUMENTS_REQUESTED:
            builder.button(
                text=texts.send_more_button(app.number),
                callback_data=ContractsCb(action=ContractAction.MORE, application_id=app.id),
            )
            rows.append(1)
    pages = [
        (texts.BTN_PREVIOUS, mine.page - 1),
        (texts.BTN_NEXT, mine.page + 1),
    ]
    shown = [(caption, page) for caption, page in pages if 0 <= page < mine.pages]
    for caption, page in shown:
        builder.button(
            text=caption, callback_data=ContractsCb(action=ContractAction.PAGE, value=str(page))
        )
    if shown:
        rows.append(len(shown))
    builder.button(
        text=texts.BTN_NEW_APPLICATION, callback_data=ContractsCb(action=ContractAction.NEW)
    )
    builder.button(text=texts.BTN_TO_ACCOUNTS, callback_data=AccountsCb(action=AccountAction.LIST))
    builder.adjust(*rows, 1, 1)
    return builder.as_markup()


def send_more(application_id: int, number: str) -> InlineKeyboardMarkup:
    """Under the «нужны документы» notice: straight to sending the documents."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.send_more_button(number),
        callback_data=ContractsCb(action=ContractAction.MORE, application_id=application_id),
    )
    return builder.as_markup()


def status_notice(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """The buttons of an applicant's status notice (outbox kind NOTIFY_KIND)."""
    if payload.get("status") == ApplicationStatus.DOCUMENTS_REQUESTED.value and payload.get(
        "application_id"
    ):
        return send_more(int(payload["application_id"]), str(payload.get("number", "")))
    return None


NOTIFICATION_KEYBOARDS: dict[str, Callable[[dict[str, Any]], InlineKeyboardMarkup | None]] = {
    NOTIFY_KIND: status_notice
}


def confirm_link(application_id: int, match: AccountMatch) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action, caption in (
        (StaffAction.LINK, texts.link_button(match.number)),
        (StaffAction.KEEP, texts.BTN_DO_NOT_LINK),
    ):
        builder.button(
            text=caption,
            callback_data=StaffCb(
                action=action, application_id=application_id, account_id=match.account_id
            ),
        )
    builder.adjust(1)
    return builder.as_markup()


# The staff card's buttons per status: only what still applies («Взять в работу» disappears
# once the application is in work; a decided application has none).
STAFF_BUTTONS: dict[ApplicationStatus, tuple[StaffAction, ...]] = {
    ApplicationStatus.SUBMITTED: (
        StaffAction.TAKE, StaffAction.REQUEST, StaffAction.APPROVE, StaffAction.REJECT,
    ),
    ApplicationStatus.IN_PROGRESS: (StaffAction.REQUEST, StaffAction.APPROVE, StaffAction.REJECT),
    ApplicationStatus.DOCUMENTS_REQUESTED: (
        StaffAction.TAKE, StaffAction.APPROVE, StaffAction.REJECT,
    ),
}  # fmt: skip
STAFF_CAPTIONS = {
    StaffAction.TAKE: texts.BTN_TAKE,
    StaffAction.REQUEST: texts.BTN_REQUEST_DOCS,
    StaffAction.APPROVE: texts.BTN_APPROVE,
    StaffAction.REJECT: texts.BTN_REJECT,
}


def staff_card(app: ApplicationView) -> InlineKeyboardMarkup | None:
    actions = STAFF_BUTTONS.get(app.status, ())
    if not actions:
        return None
    builder = InlineKeyboardBuilder()
    for action in actions:
        builder.button(
            text=STAFF_CAPTIONS[action],
            callback_data=StaffCb(action=action, application_id=app.id),
        )
    builder.adjust(2, 2)
    return builder.as_markup()
