"""«⚙️ Настройки»: profile (one field at a time, then «Сохранить»), the e-mail change confirmed
by a letter, subscriptions, the password change, logout and the erasure of personal data.

Every message holding a password or a code is deleted as it is read (as in `handlers.auth`,
whose helpers the password steps share).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.filters import LoggedIn, login_id_of
from bot.settings import Settings
from bot.texts import auth as auth_texts
from bot.texts import common as common_texts
from bot.texts import settings as texts
from handlers.auth import (
    MAIL_QUOTAS,
    _caps,
    _forget_if_password,
    _message_of,
    _minutes,
    _repeat_matches,
    _take_new_password,
    forget,
    phone_from,
)
from handlers.common import show_home
from keyboards import auth as auth_kb
from keyboards import common as common_kb
from keyboards import settings as kb
from keyboards.settings import EditCb, SettingsAction, SettingsCb, SubscriptionCb
from services import auth, profile
from services.identity import Viewer
from services.mailer import Letter, Mailer, MailNotSent
from services.profile import Field
from services.validation import (
    InvalidEmail,
    InvalidName,
    NameProblem,
    format_phone,
    normalize_name_part,
)

log = logging.getLogger(__name__)
router = Router(name="settings")
router.message.filter(F.chat.type == "private")
router.callback_query.filter(F.message.chat.type == "private")
# The e-mail change link (`/start em_…`), included ahead of every feature's dialog steps.
links = Router(name="settings_links")
links.message.filter(F.chat.type == "private")
ANY_STATE = StateFilter("*")
EMAIL_LINK_PREFIX = "em_"


class ProfileEdit(StatesGroup):
    value = State()  # the new value of `field`
    summary = State()  # the edited profile, «Сохранить» or another field


class EmailChange(StatesGroup):
    email = State()
    code = State()  # the letter went out: its code (or its link, opened anywhere)


class ChangePassword(StatesGroup):
    old = State()
    new = State()
    repeat = State()


class EraseData(StatesGroup):
    confirm = State()


NAME_PROBLEMS = {
    NameProblem.EMPTY: texts.NAME_PART_EMPTY,
    NameProblem.BAD_CHARACTERS: texts.NAME_PART_BAD,
    NameProblem.TOO_LONG: texts.NAME_PART_TOO_LONG,
}
LINK_PROBLEMS = {
    auth.TokenProblem.USED: texts.EMAIL_LINK_USED,
    auth.TokenProblem.EXPIRED: texts.EMAIL_LINK_EXPIRED,
    auth.TokenProblem.UNKNOWN: texts.EMAIL_LINK_UNKNOWN,
}


# --- helpers ---------------------------------------------------------------------------------


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    message = _message_of(query)
    if message is not None:
        with contextlib.suppress(TelegramAPIError):  # «message is not modified»
            await message.edit_text(text, reply_markup=markup)


async def _drop_markup(query: CallbackQuery) -> None:
    message = _message_of(query)
    if message is not None:
        with contextlib.suppress(TelegramAPIError):
            await message.edit_reply_markup(reply_markup=None)


async def _asked_already(state: FSMContext, step: State) -> bool:
    """A double press of the button that opened `step`: its question is in the chat already."""
    return await state.get_state() == step.state


async def _forget_dialogs(bot: Bot, storage: BaseStorage, users: Iterable[int]) -> None:
    """End the dialogs of Telegram users just logged out (private chats: chat = user)."""
    for user_id in users:
        key = StorageKey(bot_id=bot.id, chat_id=user_id, user_id=user_id)
        await storage.set_state(key, None)
        await storage.set_data(key, {})


def _shown(values: dict[str, str | None]) -> dict[str, str | None]:
    """Profile values as a person reads them (the phone formatted)."""
    phone = values.get(Field.PHONE.value)
    return {**values, Field.PHONE.value: format_phone(phone) if phone else phone}


async def _profile_card(session: AsyncSession, login_id: int, clock: Clock) -> str:
    card = await profile.get_profile(session, login_id, now=clock.now())
    values = {f.value: card.value(f) for f in Field}
    return texts.profile_card(card.email, _shown(values), card.pending_email)


# --- the section -----------------------------------------------------------------------------


@router.message(F.text == common_texts.MENU_SETTINGS, ANY_STATE, LoggedIn())
async def section(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(texts.SECTION, reply_markup=kb.section())


@router.callback_query(SettingsCb.filter(F.action == SettingsAction.MENU), ANY_STATE, LoggedIn())
async def back_to_section(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await _edit(query, texts.SECTION, kb.section())


# --- the profile -----------------------------------------------------------------------------


@router.callback_query(SettingsCb.filter(F.action == SettingsAction.PROFILE), ANY_STATE, LoggedIn())
async def show_profile(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
) -> None:
    await state.clear()
    await _edit(query, await _profile_card(session, login_id_of(viewer), clock), kb.profile())


def _field_reply(field: Field) -> ReplyKeyboardMarkup:
    if field is Field.PHONE:
        return auth_kb.phone_reply()
    if field is Field.PATRONYMIC:
        return kb.patronymic_reply()
    return common_kb.back_cancel()


@router.callback_query(EditCb.filter(), ANY_STATE, LoggedIn())
async def edit_field(
    query: CallbackQuery,
    callback_data: EditCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
) -> None:
    """From the profile card (a new draft) or the summary (the draft goes on)."""
    message = _message_of(query)
    if message is None:
        return
    current = await state.get_state()
    if (
        current == ProfileEdit.value.state
        and (await state.get_data()).get("field") == callback_data.field.value
    ):
        return  # a double press: the question is there already
    if current not in (ProfileEdit.value.state, ProfileEdit.summary.state):
        card = await profile.get_profile(session, login_id_of(viewer))
        values = {f.value: card.value(f) for f in Field}
        await state.set_data({"draft": values, "saved": values})
    await _drop_markup(query)
    await state.update_data(field=callback_data.field.value)
    await state.set_state(ProfileEdit.value)
    await message.answer(
        texts.ASK[callback_data.field.value], reply_markup=_field_reply(callback_data.field)
    )


async def _show_summary(message: Message, state: FSMContext, ack: str | None = None) -> None:
    data = await state.get_data()
    draft: dict[str, str | None] = data["draft"]
    saved: dict[str, str | None] = data["saved"]
    changed = {f for f, v in draft.items() if saved.get(f) != v}
    await state.set_state(ProfileEdit.summary)
    if ack is not None:
        await message.answer(ack, reply_markup=common_kb.cancel_reply())
    await message.answer(texts.profile_summary(_shown(draft), changed), reply_markup=kb.summary())


async def _take_value(message: Message, state: FSMContext, value: str | None) -> None:
    data = await state.get_data()
    field = str(data["field"])
    draft = dict(data["draft"])
    draft[field] = value
    await state.update_data(draft=draft)
    await _show_summary(message, state, texts.field_noted(field, _shown({field: value})[field]))


@router.message(ProfileEdit.value, F.text == common_texts.BTN_BACK, LoggedIn())
async def value_back(message: Message, state: FSMContext) -> None:
    await _show_summary(message, state, texts.FIELD_KEPT)


def _editing(field: Field) -> Callable[[Message, FSMContext], Awaitable[bool]]:
    async def check(message: Message, state: FSMContext) -> bool:
        return (await state.get_data()).get("field") == field.value

    return check


@router.message(ProfileEdit.value, F.contact, _editing(Field.PHONE), LoggedIn())
@router.message(ProfileEdit.value, F.text, _editing(Field.PHONE), LoggedIn())
async def got_phone(message: Message, state: FSMContext) -> None:
    phone = await phone_from(message)
    if phone is not None:
        await _take_value(message, state, phone)


@router.message(
    ProfileEdit.value, F.text == texts.BTN_NO_PATRONYMIC, _editing(Field.PATRONYMIC), LoggedIn()
)
async def no_patronymic(message: Message, state: FSMContext) -> None:
    await _take_value(message, state, None)


@router.message(ProfileEdit.value, F.text, LoggedIn())
async def got_name_part(message: Message, state: FSMContext) -> None:
    try:
        value = normalize_name_part(message.text or "")
    except InvalidName as exc:
        await _forget_if_password(message)
        await message.answer(NAME_PROBLEMS.get(exc.reason, texts.NAME_PART_BAD))
        return
    await _take_value(message, state, value)


@router.callback_query(
    SettingsCb.filter(F.action == SettingsAction.SAVE), ProfileEdit.summary, LoggedIn()
)
async def save(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
) -> None:
    message = _message_of(query)
    if message is None:
        return
    draft: dict[str, str | None] = (await state.get_data())["draft"]
    await state.clear()  # a second press finds no dialog: «кнопка устарела»
    await _drop_markup(query)
    login_id = login_id_of(viewer)
    _, changed = await profile.save_profile(
        session, login_id, {Field(f): v for f, v in draft.items()},
        telegram_user_id=query.from_user.id, now=clock.now(),
    )  # fmt: skip
    done = texts.profile_saved([f.value for f in changed]) if changed else texts.NOTHING_CHANGED
    await message.answer(done, reply_markup=common_kb.main_menu())
    await message.answer(await _profile_card(session, login_id, clock), reply_markup=kb.profile())


# --- the e-mail change -----------------------------------------------------------------------


@router.callback_query(
    SettingsCb.filter(F.action == SettingsAction.EDIT_EMAIL), ANY_STATE, LoggedIn()
)
async def start_email_change(query: CallbackQuery, state: FSMContext) -> None:
    message = _message_of(query)
    if message is None or await _asked_already(state, EmailChange.email):
        return
    await _drop_markup(query)
    await state.clear()
    await state.set_state(EmailChange.email)
    await message.answer(texts.ASK_NEW_EMAIL, reply_markup=common_kb.cancel_reply())


async def _mail(mailer: Mailer, to: str, letter: tuple[str, str, str]) -> bool:
    subject, text, html = letter
    try:
        await mailer.send(Letter(to, subject, text, html))
    except MailNotSent:
        log.error("a settings letter could not be sent")
        return False
    return True


@router.message(EmailChange.email, F.text, LoggedIn())
@router.message(EmailChange.code, F.text.contains("@"), LoggedIn())  # another address instead
async def got_new_email(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    settings: Settings,
    bot: Bot,
    mailer: Mailer,
) -> None:
    try:
        letter = await profile.request_email_change(
            session, login_id_of(viewer), message.text or "", telegram_user_id=message.chat.id,
            now=clock.now(),
            caps=_caps(settings),
        )  # fmt: skip
    except InvalidEmail:
        await _forget_if_password(message)
        await message.answer(auth_texts.EMAIL_INVALID)
        return
    except profile.EmailUnchanged:
        await message.answer(texts.EMAIL_UNCHANGED)
        return
    except profile.EmailTaken:
        await message.answer(texts.EMAIL_TAKEN)
        return
    except auth.MailTooSoon as exc:
        await message.answer(auth_texts.mail_too_soon(exc.seconds_left))
        return
    except auth.MailQuotaExceeded as exc:
        await state.set_state(EmailChange.code)  # a code from an earlier letter still works
        await message.answer(MAIL_QUOTAS[exc.per])
        return
    await state.set_state(EmailChange.code)
    await message.answer(texts.email_letter_sent(letter.email))
    link = f"https://t.me/{(await bot.me()).username}?start={EMAIL_LINK_PREFIX}{letter.token}"
    sent = await _mail(
        mailer,
        letter.email,
        texts.email_change_letter(letter.name, link, letter.code, letter.email),
    )
    if not sent:
        await state.set_state(EmailChange.email)
        await message.answer(texts.EMAIL_MAIL_FAILED)


async def _email_changed(
    message: Message, state: FSMContext, changed: profile.EmailChanged, mailer: Mailer
) -> None:
    if await state.get_state() in (EmailChange.email.state, EmailChange.code.state):
        await state.clear()  # a link opened in the middle of another dialog leaves it be
        await message.answer(
            texts.email_changed(changed.new_email), reply_markup=common_kb.main_menu()
        )
    else:
        await message.answer(texts.email_changed(changed.new_email))
    await _mail(
        mailer,
        changed.old_email,
        texts.email_changed_letter(changed.name, changed.old_email, changed.new_email),
    )


async def _email_refused(
    message: Message,
    state: FSMContext,
    exc: auth.BadToken | auth.TooManyCodes | profile.EmailTaken,
    *,
    clock: Clock,
    settings: Settings,
    retry: bool,
) -> None:
    if isinstance(exc, auth.TooManyCodes):
        await state.clear()
        until = exc.until.astimezone(settings.zone)
        await message.answer(texts.too_many_codes(until, _minutes(exc.until, clock)))
    elif isinstance(exc, profile.EmailTaken):
        await state.set_state(EmailChange.email)
        await message.answer(texts.EMAIL_TAKEN)
    elif retry and exc.reason is auth.TokenProblem.UNKNOWN:
        await message.answer(texts.EMAIL_CODE_WRONG)
    else:
        if await state.get_state() == EmailChange.code.state:
            await state.clear()
        await message.answer(LINK_PROBLEMS[exc.reason])


@links.message(CommandStart(deep_link=True, magic=F.args.startswith(EMAIL_LINK_PREFIX)), ANY_STATE)
async def email_link(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    mailer: Mailer,
) -> None:
    """The link from the letter, opened in any chat: it proves the new mailbox."""
    await forget(message)
    raw = (command.args or "")[len(EMAIL_LINK_PREFIX) :]
    try:
        changed = await profile.confirm_email_change_link(
            session, raw, telegram_user_id=message.chat.id, now=clock.now()
        )
    except (auth.BadToken, auth.TooManyCodes, profile.EmailTaken) as exc:
        await _email_refused(message, state, exc, clock=clock, settings=settings, retry=False)
        return
    await _email_changed(message, state, changed, mailer)


@router.message(EmailChange.code, F.text, LoggedIn())
async def got_email_code(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    settings: Settings,
    mailer: Mailer,
) -> None:
    text = message.text or ""
    if not (auth.looks_like_code(text) or auth.looks_like_token(text)):
        await _forget_if_password(message)
        await message.answer(texts.EMAIL_CODE_WRONG)
        return
    await forget(message)
    try:
        if auth.looks_like_token(text):
            changed = await profile.confirm_email_change_link(
                session, text.strip(), telegram_user_id=message.chat.id, now=clock.now()
            )
        else:
            changed = await profile.confirm_email_change_code(
                session,
                login_id_of(viewer),
                text,
                telegram_user_id=message.chat.id,
                now=clock.now(),
            )
    except (auth.BadToken, auth.TooManyCodes, profile.EmailTaken) as exc:
        await _email_refused(message, state, exc, clock=clock, settings=settings, retry=True)
        return
    await _email_changed(message, state, changed, mailer)


# --- subscriptions ---------------------------------------------------------------------------


@router.callback_query(
    SettingsCb.filter(F.action == SettingsAction.SUBSCRIPTIONS), ANY_STATE, LoggedIn()
)
async def show_subscriptions(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
) -> None:
    await state.clear()
    current = await profile.get_subscriptions(session, login_id_of(viewer), now=clock.now())
    await _edit(query, texts.subscriptions(current.has_phone), kb.subscriptions(current))


@router.callback_query(SubscriptionCb.filter(), ANY_STATE, LoggedIn())
async def toggle(
    query: CallbackQuery,
    callback_data: SubscriptionCb,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    topic, on = callback_data.topic, callback_data.on
    try:
        current, changed = await profile.set_subscription(
            session, login_id_of(viewer), topic, on, now=clock.now()
        )
    except profile.SmsNeedsPhone:
        callback_answer.text, callback_answer.show_alert = texts.SMS_NEEDS_PHONE, True
        return
    callback_answer.text = (
        texts.subscription_saved(topic.value, on)
        if changed
        else texts.subscription_same(topic.value, on)
    )
    await _edit(query, texts.subscriptions(current.has_phone), kb.subscriptions(current))


# --- the password change ---------------------------------------------------------------------


@router.callback_query(
    SettingsCb.filter(F.action == SettingsAction.PASSWORD), ANY_STATE, LoggedIn()
)
async def start_password_change(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    settings: Settings,
) -> None:
    message = _message_of(query)
    if message is None or await _asked_already(state, ChangePassword.old):
        return
    await _drop_markup(query)
    await state.clear()
    until = await profile.password_change_locked_until(
        session, login_id_of(viewer), telegram_user_id=query.from_user.id, now=clock.now()
    )
    if until is not None:
        await message.answer(
            texts.password_change_locked(until.astimezone(settings.zone), _minutes(until, clock))
        )
        return
    await state.set_state(ChangePassword.old)
    await message.answer(
        texts.PASSWORD_TITLE + "\n\n" + texts.ASK_OLD_PASSWORD,
        reply_markup=common_kb.cancel_reply(),
    )


@router.message(ChangePassword.old, F.text, LoggedIn())
async def got_old_password(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    settings: Settings,
) -> None:
    password = message.text or ""
    await forget(message)
    try:
        await profile.check_current_password(
            session,
            login_id_of(viewer),
            password,
            telegram_user_id=message.chat.id,
            now=clock.now(),
        )
    except profile.WrongPassword as exc:
        await message.answer(texts.wrong_old_password(exc.left))
        return
    except profile.PasswordChangeLocked as exc:
        await state.clear()
        until = exc.until.astimezone(settings.zone)
        await message.answer(
            texts.password_change_locked(until, _minutes(exc.until, clock)),
            reply_markup=common_kb.main_menu(),
        )
        return
    except auth.TooManyPasswordChecks:
        minutes = int(auth.HASH_WINDOW.total_seconds() // 60)
        await message.answer(auth_texts.too_many_password_checks(minutes))
        return
    await state.set_state(ChangePassword.new)
    await message.answer(texts.ASK_NEW_PASSWORD)


@router.message(ChangePassword.new, F.text, LoggedIn())
async def got_new_password(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock
) -> None:
    password_hash = await _take_new_password(message, session, clock)
    if password_hash is None:
        return
    await state.update_data(password_hash=password_hash)
    await state.set_state(ChangePassword.repeat)
    await message.answer(texts.ASK_NEW_PASSWORD_REPEAT)


@router.message(ChangePassword.repeat, F.text, LoggedIn())
async def got_new_password_repeat(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    bot: Bot,
    fsm_storage: BaseStorage,
) -> None:
    password_hash = (await state.get_data()).get("password_hash")
    same = await _repeat_matches(message, session, clock, password_hash)
    if same is None:
        return
    if not same:
        await state.update_data(password_hash=None)
        await state.set_state(ChangePassword.new)
        await message.answer(texts.PASSWORDS_DIFFER)
        return
    await state.clear()
    others = await profile.change_password(
        session, login_id_of(viewer), str(password_hash), telegram_user_id=message.chat.id,
        now=clock.now(),
    )  # fmt: skip
    await _forget_dialogs(bot, fsm_storage, others)
    await message.answer(texts.password_changed(len(others)), reply_markup=common_kb.main_menu())


# --- logout and erasure ----------------------------------------------------------------------


@router.callback_query(SettingsCb.filter(F.action == SettingsAction.LOGOUT), ANY_STATE, LoggedIn())
async def logout(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
) -> None:
    message = _message_of(query)
    if message is None:
        return
    await state.clear()
    await _drop_markup(query)
    await auth.log_out(
        session, telegram_user_id=query.from_user.id, chat_id=message.chat.id,
        login_id=login_id_of(viewer), now=clock.now(),
    )  # fmt: skip
    await show_home(message, None, auth_texts.LOGGED_OUT)


@router.callback_query(SettingsCb.filter(F.action == SettingsAction.ERASE), ANY_STATE, LoggedIn())
async def ask_erase(query: CallbackQuery, state: FSMContext) -> None:
    message = _message_of(query)
    if message is None or await _asked_already(state, EraseData.confirm):
        return
    await _drop_markup(query)
    await state.clear()
    await state.set_state(EraseData.confirm)
    await message.answer(texts.ERASE_QUESTION, reply_markup=kb.erase_confirm())


@router.callback_query(
    SettingsCb.filter(F.action == SettingsAction.ERASE_YES), EraseData.confirm, LoggedIn()
)
async def erase(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    settings: Settings,
    bot: Bot,
    fsm_storage: BaseStorage,
) -> None:
    message = _message_of(query)
    if message is None:
        return
    await state.clear()
    await _drop_markup(query)
    erased = await profile.erase_personal_data(
        session, login_id_of(viewer), telegram_user_id=query.from_user.id, now=clock.now(),
        upload_dir=settings.upload_dir,
    )  # fmt: skip
    await _forget_dialogs(bot, fsm_storage, erased.telegram_user_ids)
    await show_home(message, None, texts.ERASED)
