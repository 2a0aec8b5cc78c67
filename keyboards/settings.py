"""Keyboards of «⚙️ Настройки»: the section, the profile, subscriptions, erasure."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import common as common_texts
from bot.texts import settings as texts
from keyboards.common import CancelCb
from services.profile import Field, Subscriptions, Topic


class SettingsAction(enum.StrEnum):
    MENU = "m"
    PROFILE = "p"
    SUBSCRIPTIONS = "s"
    PASSWORD = "w"
    LOGOUT = "o"
    ERASE = "e"
    ERASE_YES = "y"
    EDIT_EMAIL = "em"
    SAVE = "ok"


class SettingsCb(CallbackData, prefix="stg"):
    action: SettingsAction


class EditCb(CallbackData, prefix="stf"):
    """Edit one profile field."""

    field: Field


class SubscriptionCb(CallbackData, prefix="sts"):
    """Switch a subscription to `on`: the target state rides in the button, so a double press
    or an old keyboard cannot flip it back."""

    topic: Topic
    on: bool


def section() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for text, action in (
        (texts.BTN_PROFILE, SettingsAction.PROFILE),
        (texts.BTN_SUBSCRIPTIONS, SettingsAction.SUBSCRIPTIONS),
        (texts.BTN_PASSWORD, SettingsAction.PASSWORD),
        (texts.BTN_LOGOUT, SettingsAction.LOGOUT),
        (texts.BTN_ERASE, SettingsAction.ERASE),
    ):
        builder.button(text=text, callback_data=SettingsCb(action=action))
    builder.adjust(2, 2, 1)
    return builder.as_markup()


def _field_buttons(builder: InlineKeyboardBuilder) -> None:
    for field in Field:
        builder.button(text=texts.BTN_EDIT[field.value], callback_data=EditCb(field=field))


def profile() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    _field_buttons(builder)
    builder.button(
        text=texts.BTN_EDIT_EMAIL, callback_data=SettingsCb(action=SettingsAction.EDIT_EMAIL)
    )
    builder.button(text=texts.BTN_TO_SETTINGS, callback_data=SettingsCb(action=SettingsAction.MENU))
    builder.adjust(2, 2, 1, 1)
    return builder.as_markup()


def summary() -> InlineKeyboardMarkup:
    """Under the edited profile: «Сохранить», another field, «Отмена»."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=f"✅ {common_texts.BTN_SAVE}", callback_data=SettingsCb(action=SettingsAction.SAVE)
    )
    _field_buttons(builder)
    builder.button(text=common_texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(1, 2, 2, 1)
    return builder.as_markup()


def patronymic_reply() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=texts.BTN_NO_PATRONYMIC)],
            [
                KeyboardButton(text=common_texts.BTN_BACK),
                KeyboardButton(text=common_texts.BTN_CANCEL),
            ],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def subscriptions(state: Subscriptions) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for topic in Topic:
        on = state.on(topic)
        builder.button(
            text=texts.topic_button(topic.value, on),
            callback_data=SubscriptionCb(topic=topic, on=not on),
        )
    builder.button(text=texts.BTN_TO_SETTINGS, callback_data=SettingsCb(action=SettingsAction.MENU))
    builder.adjust(1)
    return builder.as_markup()


def erase_confirm() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_ERASE_YES, callback_data=SettingsCb(action=SettingsAction.ERASE_YES)
    )
    builder.button(text=common_texts.BTN_CANCEL, callback_data=CancelCb())
    builder.adjust(1)
    return builder.as_markup()
