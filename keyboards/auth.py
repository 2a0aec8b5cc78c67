"""Keyboards of registration, login and password reset."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import auth as texts
from bot.texts import common as common_texts
from keyboards.common import CancelCb, back_cancel, cancel_reply


class AuthAction(enum.StrEnum):
    REFRESH_CAPTCHA = "rc"  # no longer sent (the refresh is a reply button); old ones are stale
    CONSENT_YES = "cy"
    CONSENT_NO = "cn"
    SUBMIT = "ok"
    EDIT_NAME = "en"
    EDIT_EMAIL = "ee"
    EDIT_PHONE = "ep"
    EDIT_PASSWORD = "ew"
    RESEND = "rs"
    FORGOT = "fp"
    LOGIN = "li"
    CHANGE_EMAIL = "ce"


class AuthCb(CallbackData, prefix="au"):
    action: AuthAction


def _cancel_row(builder: InlineKeyboardBuilder) -> None:
    builder.button(text=common_texts.BTN_CANCEL, callback_data=CancelCb())


def step_reply(*, back: bool) -> ReplyKeyboardMarkup:
    """Typed-input steps: «« Назад» (when there is a step before) and «Отмена»."""
    return back_cancel() if back else cancel_reply()


def phone_reply() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=texts.BTN_SHARE_PHONE, request_contact=True)],
            [
                KeyboardButton(text=common_texts.BTN_BACK),
                KeyboardButton(text=common_texts.BTN_CANCEL),
            ],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def captcha_reply(*, back: bool) -> ReplyKeyboardMarkup:
    """Under the CAPTCHA picture: a new picture, «« Назад» (when there is a step before),
    «Отмена»."""
    bottom = [KeyboardButton(text=common_texts.BTN_CANCEL)]
    if back:
        bottom.insert(0, KeyboardButton(text=common_texts.BTN_BACK))
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=texts.BTN_REFRESH_CAPTCHA)], bottom],
        resize_keyboard=True,
        is_persistent=True,
    )


def consent() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_CONSENT_YES, callback_data=AuthCb(action=AuthAction.CONSENT_YES))
    builder.button(text=texts.BTN_CONSENT_NO, callback_data=AuthCb(action=AuthAction.CONSENT_NO))
    builder.adjust(2)
    return builder.as_markup()


def consent_again() -> InlineKeyboardMarkup:
    """After «Не соглашаюсь»: agree after all, or leave the registration."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_CONSENT_YES, callback_data=AuthCb(action=AuthAction.CONSENT_YES))
    _cancel_row(builder)
    builder.adjust(2)
    return builder.as_markup()


def summary() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_SUBMIT, callback_data=AuthCb(action=AuthAction.SUBMIT))
    builder.button(text=texts.BTN_EDIT_NAME, callback_data=AuthCb(action=AuthAction.EDIT_NAME))
    builder.button(text=texts.BTN_EDIT_EMAIL, callback_data=AuthCb(action=AuthAction.EDIT_EMAIL))
    builder.button(text=texts.BTN_EDIT_PHONE, callback_data=AuthCb(action=AuthAction.EDIT_PHONE))
    builder.button(
        text=texts.BTN_EDIT_PASSWORD, callback_data=AuthCb(action=AuthAction.EDIT_PASSWORD)
    )
    _cancel_row(builder)
    builder.adjust(1, 2, 2, 1)
    return builder.as_markup()


def letter_sent() -> InlineKeyboardMarkup:
    """After a letter went out: send it again, or go to the login."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_RESEND, callback_data=AuthCb(action=AuthAction.RESEND))
    builder.button(text=texts.BTN_LOGIN, callback_data=AuthCb(action=AuthAction.LOGIN))
    builder.adjust(1)
    return builder.as_markup()


def login_failed() -> InlineKeyboardMarkup:
    """After a wrong password (asked again): change the e-mail, or reset the password."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_CHANGE_EMAIL, callback_data=AuthCb(action=AuthAction.CHANGE_EMAIL)
    )
    builder.button(text=texts.BTN_FORGOT, callback_data=AuthCb(action=AuthAction.FORGOT))
    builder.adjust(2)
    return builder.as_markup()


def forgot() -> InlineKeyboardMarkup:
    """The way out of a lock: a new password by e-mail."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_FORGOT, callback_data=AuthCb(action=AuthAction.FORGOT))
    return builder.as_markup()


def not_activated() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_RESEND, callback_data=AuthCb(action=AuthAction.RESEND))
    _cancel_row(builder)
    builder.adjust(1)
    return builder.as_markup()


def go_login() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_LOGIN, callback_data=AuthCb(action=AuthAction.LOGIN))
    builder.button(text=texts.BTN_FORGOT, callback_data=AuthCb(action=AuthAction.FORGOT))
    builder.adjust(2)
    return builder.as_markup()
