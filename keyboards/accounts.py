"""Keyboards of «📄 Договоры»: the accounts list, one account, the LinkAccount dialog."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import accounts as texts
from bot.texts import common as common_texts
from keyboards.common import CancelCb
from services.accounts import AccountCard


class AccountAction(enum.StrEnum):
    LIST = "l"
    OPEN = "o"
    CURRENT = "c"
    UNLINK = "u"
    UNLINK_YES = "y"
    LINK = "n"


class AccountsCb(CallbackData, prefix="ac"):
    action: AccountAction
    account_id: int = 0


class LinkAction(enum.StrEnum):
    CONFIRM = "c"  # «Подключить» under the summary
    BACK = "b"


class LinkCb(CallbackData, prefix="al"):
    action: LinkAction
    value: str = ""


def section(cards: list[AccountCard]) -> InlineKeyboardMarkup:
    """Each account opens its card; then linking and contract applications."""
    from keyboards.contracts import ContractAction, ContractsCb

    builder = InlineKeyboardBuilder()
    for card in cards:
        builder.button(
            text=texts.account_button(card),
            callback_data=AccountsCb(action=AccountAction.OPEN, account_id=card.id),
        )
    builder.button(text=texts.BTN_LINK, callback_data=AccountsCb(action=AccountAction.LINK))
    builder.button(text=texts.BTN_APPLY, callback_data=ContractsCb(action=ContractAction.NEW))
    builder.button(
        text=texts.BTN_MY_APPLICATIONS, callback_data=ContractsCb(action=ContractAction.LIST)
    )
    builder.adjust(*([1] * len(cards)), 1, 2)
    return builder.as_markup()


def account(card: AccountCard) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if not card.is_current:
        builder.button(
            text=texts.BTN_MAKE_CURRENT,
            callback_data=AccountsCb(action=AccountAction.CURRENT, account_id=card.id),
        )
    builder.button(
        text=texts.BTN_UNLINK,
        callback_data=AccountsCb(action=AccountAction.UNLINK, account_id=card.id),
    )
    builder.button(text=texts.BTN_TO_LIST, callback_data=AccountsCb(action=AccountAction.LIST))
    builder.adjust(1)
    return builder.as_markup()


def unlink_confirm(card: AccountCard) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_UNLINK_YES,
        callback_data=AccountsCb(action=AccountAction.UNLINK_YES, account_id=card.id),
    )
    builder.button(
        text=texts.BTN_UNLINK_NO,
        callback_data=AccountsCb(action=AccountAction.OPEN, account_id=card.id),
    )
    builder.adjust(2)
    return builder.as_markup()


def link_confirm() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_LINK_CONFIRM, callback_data=LinkCb(action=LinkAction.CONFIRM))
    builder.button(text=common_texts.BTN_BACK, callback_data=LinkCb(action=LinkAction.BACK))
    builder.button(text=common_texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(1, 2)
    return builder.as_markup()


def make_current(card: AccountCard) -> InlineKeyboardMarkup:
    """Under the offer after linking: make the new account the current one."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_MAKE_CURRENT,
        callback_data=AccountsCb(action=AccountAction.CURRENT, account_id=card.id),
    )
    return builder.as_markup()
