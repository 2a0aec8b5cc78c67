"""Registration (CAPTCHA, consent, e-mail activation), login, logout, password reset.

Every message that holds a password is deleted at once, in any state: the dialog steps delete
what they read, and `password_guard` (registered just before the fallback router) deletes a
password-looking message no step took — typed after a lock, after /cancel, anywhere.
Dialog state keeps ids of what was proven (a pending registration, a reset code), never a code.
"""

from __future__ import annotations

import contextlib
import logging
import math
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.settings import Settings
from bot.texts import auth as texts
from bot.texts import common as common_texts
from bot.texts import waiting
from handlers.common import show_home
from keyboards import auth as kb
from keyboards import common as common_kb
from keyboards.auth import AuthAction, AuthCb
from keyboards.common import GuestCb
from models import TokenPurpose
from services import auth
from services.captcha import MAX_MISSES, Captcha, matches
from services.identity import Viewer
from services.mailer import Letter, Mailer, MailNotSent
from services.validation import (
    InvalidEmail,
    InvalidName,
    InvalidPhone,
    NameProblem,
    PhoneProblem,
    WeakPassword,
    format_phone,
    normalize_email,
    normalize_phone,
    parse_full_name,
)

log = logging.getLogger(__name__)
router = Router(name="auth")
router.message.filter(F.chat.type == "private")
router.callback_query.filter(F.message.chat.type == "private")
# /register, /login, /logout and the letters' links (`/start <token>`), included before every
# feature router: a command typed or a link opened in any dialog's step (an amount, a name in
# the profile) is the command, never that step's answer. The payments' and settings' own links
# come just before it (their `links` routers).
entry = Router(name="auth_entry")
entry.message.filter(F.chat.type == "private")
entry.callback_query.filter(F.message.chat.type == "private")
password_guard = Router(name="auth_password_guard")
ANY_STATE = StateFilter("*")


class Registration(StatesGroup):
    name = State()
    email = State()
    phone = State()
    captcha = State()
    password = State()
    password_repeat = State()
    consent = State()
    confirm = State()
    activation = State()  # the letter went out; its code or «Отправить ещё раз» expected


class Login(StatesGroup):
    email = State()
    captcha = State()  # only when the address saw many failures
    password = State()


class PasswordReset(StatesGroup):
    email = State()
    captcha = State()
    code = State()
    password = State()
    password_repeat = State()


STEP_ORDER = [
    Registration.name,
    Registration.email,
    Registration.phone,
    Registration.captcha,
    Registration.password,
    Registration.password_repeat,
    Registration.consent,
    Registration.confirm,
]
NUMBERED_STEPS = [
    Registration.name,
    Registration.email,
    Registration.phone,
    Registration.captcha,
    Registration.password,
    Registration.consent,
]
NAME_PROBLEMS = {
    NameProblem.EMPTY: texts.NAME_EMPTY,
    NameProblem.TOO_FEW_WORDS: texts.NAME_TOO_FEW,
    NameProblem.TOO_MANY_WORDS: texts.NAME_TOO_MANY,
    NameProblem.BAD_CHARACTERS: texts.NAME_BAD_CHARACTERS,
    NameProblem.TOO_LONG: texts.NAME_TOO_LONG,
}
PHONE_PROBLEMS = {
    PhoneProblem.NOT_A_NUMBER: texts.PHONE_NOT_A_NUMBER,
    PhoneProblem.INVALID: texts.PHONE_INVALID,
}
TOKEN_PROBLEMS = {
    (auth.TokenProblem.USED, TokenPurpose.ACTIVATION): texts.ALREADY_ACTIVATED,
    (auth.TokenProblem.EXPIRED, TokenPurpose.ACTIVATION): texts.ACTIVATION_EXPIRED,
    (auth.TokenProblem.USED, TokenPurpose.PASSWORD_RESET): texts.RESET_USED,
    (auth.TokenProblem.EXPIRED, TokenPurpose.PASSWORD_RESET): texts.RESET_EXPIRED,
}
LETTERS = {
    auth.LetterKind.ACTIVATION: texts.activation_letter,
    auth.LetterKind.ALREADY_REGISTERED: texts.already_registered_letter,
    auth.LetterKind.PASSWORD_RESET: texts.reset_letter,
    auth.LetterKind.LOGIN_ALERT: texts.login_alert_letter,
}
MAIL_QUOTAS = {
    auth.MailQuota.USER: texts.MAIL_QUOTA_USER,
    auth.MailQuota.ADDRESS: texts.MAIL_QUOTA_ADDRESS,
}
CAPTCHA_STATES = StateFilter(Registration.captcha, Login.captcha, PasswordReset.captcha)


# --- helpers ---------------------------------------------------------------------------------


def _user_id(event: Message | CallbackQuery) -> int:
    if event.from_user is not None:
        return event.from_user.id
    message = event if isinstance(event, Message) else event.message
    return message.chat.id if message is not None else 0


def _message_of(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


async def _drop_markup(message: Message) -> None:
    with contextlib.suppress(TelegramAPIError):
        await message.edit_reply_markup(reply_markup=None)


async def forget(message: Message) -> None:
    """Delete a message that holds a password or a code; when Telegram refuses (too old, no
    rights), ask the person to delete it themselves rather than leave it silently."""
    try:
        await message.delete()
    except TelegramAPIError:
        log.warning("could not delete a secret message in chat %s", message.chat.id)
        await message.answer(texts.PASSWORD_NOT_DELETED)


def _caps(settings: Settings) -> auth.MailCaps:
    return auth.MailCaps(settings.mail_per_user_per_day, settings.mail_per_address_per_day)


def _minutes(until: datetime, clock: Clock) -> int:
    return max(1, math.ceil((until - clock.now()).total_seconds() / 60))


def _seconds(until: datetime, clock: Clock) -> int:
    return max(1, math.ceil((until - clock.now()).total_seconds()))


def _locked_text(until: datetime, clock: Clock, settings: Settings) -> str:
    return texts.locked(until.astimezone(settings.zone), _minutes(until, clock))


def _codes_locked_text(until: datetime, clock: Clock, settings: Settings) -> str:
    return texts.too_many_codes(until.astimezone(settings.zone), _minutes(until, clock))


def token_problem(problem: auth.BadToken) -> str:
    """What a code from a letter that does not work means, with the way on."""
    if problem.purpose is None:
        return texts.TOKEN_UNKNOWN
    return TOKEN_PROBLEMS.get((problem.reason, problem.purpose), texts.TOKEN_UNKNOWN)


async def send_letter(outgoing: auth.Outgoing | None, bot: Bot, mailer: Mailer) -> bool:
    """Mail the letter (None: nothing to send); False when the SMTP server would not take it."""
    if outgoing is None:
        return True
    link = ""
    if outgoing.token:
        link = f"https://t.me/{(await bot.me()).username}?start={outgoing.token}"
    subject, text, html = LETTERS[outgoing.kind](outgoing.name, link, outgoing.code)
    try:
        await mailer.send(Letter(outgoing.email, subject, text, html))
    except MailNotSent:
        log.error("a %s letter could not be sent", outgoing.kind)
        return False
    return True


async def _send_captcha(
    message: Message, state: FSMContext, captcha: Captcha, bot: Bot, caption: str
) -> None:
    challenge = await captcha.new_challenge()
    data = await state.update_data(captcha_text=challenge.text, captcha_misses=0)
    old = data.get("captcha_message_id")
    if old:
        with contextlib.suppress(TelegramAPIError):
            await bot.delete_message(message.chat.id, int(old))
    sent = await message.answer_photo(
        BufferedInputFile(challenge.png, filename="captcha.png"),
        caption=caption,
        reply_markup=kb.captcha_reply(back=True),
    )
    await state.update_data(captcha_message_id=sent.message_id)


async def _forget_if_password(message: Message) -> None:
    """A step refused the answer: if it looks like a password (typed in the wrong place),
    delete it all the same."""
    if auth.looks_like_password(message.text):
        await forget(message)


# --- entering: /register, /login, /logout (router `entry`: before every feature's steps)


@entry.message(Command("register"), ANY_STATE)
@entry.callback_query(GuestCb.filter(F.action == "register"), ANY_STATE)
async def start_registration(
    event: Message | CallbackQuery, state: FSMContext, viewer: Viewer | None, settings: Settings
) -> None:
    message = event if isinstance(event, Message) else _message_of(event)
    if message is None:
        return
    if viewer is not None and viewer.logged_in:
        await message.answer(texts.already_logged_in(viewer.first_name or ""))
        return
    await state.clear()
    await state.set_state(Registration.name)
    await message.answer(
        texts.REGISTRATION_START + "\n\n" + _question(Registration.name, texts.ASK_NAME, settings),
        reply_markup=kb.step_reply(back=False),
    )


@entry.message(Command("login"), ANY_STATE)
@entry.callback_query(GuestCb.filter(F.action == "login"), ANY_STATE)
@entry.callback_query(AuthCb.filter(F.action == AuthAction.LOGIN), ANY_STATE)
async def start_login(
    event: Message | CallbackQuery, state: FSMContext, viewer: Viewer | None
) -> None:
    message = event if isinstance(event, Message) else _message_of(event)
    if message is None:
        return
    if viewer is not None and viewer.logged_in:
        await message.answer(texts.already_logged_in(viewer.first_name or ""))
        return
    await state.clear()
    await state.set_state(Login.email)
    await message.answer(texts.LOGIN_START, reply_markup=kb.step_reply(back=False))


@entry.message(Command("logout"), ANY_STATE)
async def logout(
    message: Message, state: FSMContext, viewer: Viewer | None, session: AsyncSession, clock: Clock
) -> None:
    await state.clear()
    if viewer is None or viewer.login_id is None:
        await message.answer(texts.NOT_LOGGED_IN, reply_markup=common_kb.guest_menu())
        return
    await auth.log_out(
        session, telegram_user_id=viewer.telegram_user_id, chat_id=message.chat.id,
        login_id=viewer.login_id, now=clock.now(),
    )  # fmt: skip
    await show_home(message, None, texts.LOGGED_OUT)


@entry.message(CommandStart(deep_link=True), ANY_STATE)
async def deep_link(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    viewer: Viewer | None,
) -> None:
    await forget(message)
    try:
        use = await auth.use_link(
            session, command.args or "", telegram_user_id=_user_id(message),
            chat_id=message.chat.id, now=clock.now(),
        )  # fmt: skip
    except (auth.BadToken, auth.TooManyCodes) as exc:
        await _code_refused(
            message, state, exc, viewer=viewer, clock=clock, settings=settings, retry=False
        )
        return
    await _after_code(message, state, use, viewer)


def _question(step: State, question: str, settings: Settings, *, editing: bool = False) -> str:
    """The question of a registration step with its number (none while correcting a field)."""
    if editing:
        return question
    steps = [s for s in NUMBERED_STEPS if settings.captcha_enabled or s != Registration.captcha]
    return texts.numbered(steps.index(step) + 1, len(steps), question)


async def ask(
    message: Message,
    state: FSMContext,
    step: State,
    *,
    settings: Settings,
    captcha: Captcha,
    bot: Bot,
) -> None:
    """Put the dialog on `step` and ask its question."""
    await state.set_state(step)
    editing = bool((await state.get_data()).get("editing"))
    if step == Registration.name:
        await message.answer(
            _question(step, texts.ASK_NAME, settings, editing=editing),
            reply_markup=kb.step_reply(back=editing),
        )
    elif step == Registration.email:
        await message.answer(
            _question(step, texts.ASK_EMAIL, settings, editing=editing),
            reply_markup=kb.step_reply(back=True),
        )
    elif step == Registration.phone:
        await message.answer(
            _question(step, texts.ASK_PHONE, settings, editing=editing),
            reply_markup=kb.phone_reply(),
        )
    elif step == Registration.captcha:
        # The reply keyboard («« Назад», «Отмена») stays from the step before.
        await _send_captcha(
            message, state, captcha, bot, _question(step, texts.ASK_CAPTCHA, settings)
        )
    elif step == Registration.password:
        await message.answer(
            _question(step, texts.ASK_PASSWORD, settings, editing=editing),
            reply_markup=kb.step_reply(back=True),
        )
    elif step == Registration.password_repeat:
        await message.answer(texts.ASK_PASSWORD_REPEAT, reply_markup=kb.step_reply(back=True))
    elif step == Registration.consent:
        await message.answer(texts.CONSENT_TEXT, reply_markup=common_kb.remove())
        await message.answer(
            _question(step, texts.ASK_CONSENT, settings), reply_markup=kb.consent()
        )
    else:
        data = await state.get_data()
        await message.answer(
            texts.summary(data["full_name"], data["email"], format_phone(data["phone"])),
            reply_markup=kb.summary(),
        )


def _skipped(step: State, data: dict[str, Any], settings: Settings) -> bool:
    """Steps already passed for good: the CAPTCHA (once solved) and the consent (once given)."""
    if step == Registration.captcha:
        return not settings.captcha_enabled or bool(data.get("captcha_ok"))
    if step == Registration.consent:
        return bool(data.get("consent_at"))
    return False


async def advance(
    message: Message,
    state: FSMContext,
    current: State,
    *,
    settings: Settings,
    captcha: Captcha,
    bot: Bot,
) -> None:
    """After an accepted answer: the next unanswered step, or the summary when correcting."""
    data = await state.get_data()
    if data.get("editing") and current != Registration.password:
        await ask(message, state, Registration.confirm, settings=settings, captcha=captcha, bot=bot)
        return
    index = STEP_ORDER.index(current) + 1
    while _skipped(STEP_ORDER[index], data, settings):
        index += 1
    await ask(message, state, STEP_ORDER[index], settings=settings, captcha=captcha, bot=bot)


@router.message(
    F.text == common_texts.BTN_BACK,
    StateFilter(
        Registration.name,
        Registration.email,
        Registration.phone,
        Registration.captcha,
        Registration.password,
        Registration.password_repeat,
        Registration.confirm,
    ),
)
async def registration_back(
    message: Message, state: FSMContext, settings: Settings, captcha: Captcha, bot: Bot
) -> None:
    data = await state.get_data()
    current = await state.get_state()
    if data.get("editing") or current == Registration.confirm.state:
        await state.update_data(editing=False)
        await ask(message, state, Registration.confirm, settings=settings, captcha=captcha, bot=bot)
        return
    if current == Registration.name.state:
        await ask(message, state, Registration.name, settings=settings, captcha=captcha, bot=bot)
        return
    index = next(i for i, s in enumerate(STEP_ORDER) if s.state == current) - 1
    while index > 0 and _skipped(STEP_ORDER[index], data, settings):
        index -= 1
    await ask(message, state, STEP_ORDER[index], settings=settings, captcha=captcha, bot=bot)


# --- registration: each step -----------------------------------------------------------------


@router.message(Registration.name, F.text)
async def got_name(
    message: Message, state: FSMContext, settings: Settings, captcha: Captcha, bot: Bot
) -> None:
    try:
        name = parse_full_name(message.text or "")
    except InvalidName as exc:
        await _forget_if_password(message)
        await message.answer(NAME_PROBLEMS[exc.reason])
        return
    await state.update_data(
        surname=name.surname, name=name.name, patronymic=name.patronymic, full_name=name.full
    )
    await advance(message, state, Registration.name, settings=settings, captcha=captcha, bot=bot)


@router.message(Registration.email, F.text)
async def got_email(
    message: Message, state: FSMContext, settings: Settings, captcha: Captcha, bot: Bot
) -> None:
    try:
        email = normalize_email(message.text or "")
    except InvalidEmail:
        await _forget_if_password(message)
        await message.answer(texts.EMAIL_INVALID)
        return
    await state.update_data(email=email)
    await advance(message, state, Registration.email, settings=settings, captcha=captcha, bot=bot)


@router.message(Registration.phone, F.contact)
@router.message(Registration.phone, F.text)
async def got_phone(
    message: Message, state: FSMContext, settings: Settings, captcha: Captcha, bot: Bot
) -> None:
    phone = await phone_from(message)
    if phone is None:
        return
    await state.update_data(phone=phone)
    await advance(message, state, Registration.phone, settings=settings, captcha=captcha, bot=bot)


async def phone_from(message: Message) -> str | None:
    """The answer of a phone step (here and in «Мой профиль»): the sender's own shared contact
    or a typed number, in E.164; None when refused, the reason told and the button shown again."""
    contact = message.contact
    try:
        if contact is not None:
            if message.from_user is None or contact.user_id != message.from_user.id:
                await message.answer(texts.CONTACT_NOT_OWN, reply_markup=kb.phone_reply())
                return None
            return normalize_phone(contact.phone_number, from_contact=True)
        return normalize_phone(message.text or "")
    except InvalidPhone as exc:
        await _forget_if_password(message)
        await message.answer(PHONE_PROBLEMS[exc.reason], reply_markup=kb.phone_reply())
        return None


async def _take_new_password(message: Message, session: AsyncSession, clock: Clock) -> str | None:
    """Delete the message holding a new password and hash it; None (with the reason told to
    the user) when it breaks the password policy or the user hashed too many lately."""
    password = message.text or ""
    await forget(message)
    try:
        return await auth.take_new_password(
            session, password, telegram_user_id=_user_id(message), now=clock.now()
        )
    except WeakPassword as exc:
        await message.answer(texts.password_weak([str(p) for p in exc.problems]))
    except auth.TooManyPasswordChecks:
        await message.answer(texts.too_many_password_checks(_hash_window_minutes()))
    return None


def _hash_window_minutes() -> int:
    return int(auth.HASH_WINDOW.total_seconds() // 60)


async def _repeat_matches(
    message: Message, session: AsyncSession, clock: Clock, password_hash: object
) -> bool | None:
    """Delete the repeated password and compare; None when the check itself was refused."""
    repeat = message.text or ""
    await forget(message)
    if not password_hash:
        return False
    try:
        return await auth.confirm_new_password(
            session, str(password_hash), repeat, telegram_user_id=_user_id(message),
            now=clock.now(),
        )  # fmt: skip
    except auth.TooManyPasswordChecks:
        await message.answer(texts.too_many_password_checks(_hash_window_minutes()))
        return None


@router.message(Registration.password, F.text)
async def got_password(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock
) -> None:
    password_hash = await _take_new_password(message, session, clock)
    if password_hash is None:
        return
    await state.update_data(password_candidate=password_hash)
    await state.set_state(Registration.password_repeat)
    await message.answer(texts.ASK_PASSWORD_REPEAT, reply_markup=kb.step_reply(back=True))


@router.message(Registration.password_repeat, F.text)
async def got_password_repeat(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    captcha: Captcha,
    bot: Bot,
) -> None:
    data = await state.get_data()
    candidate = data.get("password_candidate")
    same = await _repeat_matches(message, session, clock, candidate)
    if same is None:
        return
    if not same:
        await state.update_data(password_candidate=None)
        await state.set_state(Registration.password)
        await message.answer(texts.PASSWORDS_DIFFER, reply_markup=kb.step_reply(back=True))
        return
    await state.update_data(password_hash=candidate, password_candidate=None)
    await message.answer(texts.PASSWORD_ACCEPTED)
    await advance(
        message, state, Registration.password_repeat, settings=settings, captcha=captcha, bot=bot
    )


@router.message(CAPTCHA_STATES, F.text == texts.BTN_REFRESH_CAPTCHA)
async def refresh_captcha(message: Message, state: FSMContext, captcha: Captcha, bot: Bot) -> None:
    await _send_captcha(message, state, captcha, bot, texts.CAPTCHA_NEW)


@router.message(CAPTCHA_STATES, F.text, F.text != common_texts.BTN_BACK)
async def got_captcha(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    captcha: Captcha,
    bot: Bot,
    clock: Clock,
    mailer: Mailer,
) -> None:
    data = await state.get_data()
    current = await state.get_state()
    if not matches(str(data.get("captcha_text") or ""), message.text or ""):
        await _forget_if_password(message)
        misses = int(data.get("captcha_misses") or 0) + 1
        if misses >= MAX_MISSES:
            await _send_captcha(message, state, captcha, bot, texts.CAPTCHA_WRONG_NEW)
            return
        await state.update_data(captcha_misses=misses)
        await message.answer(texts.captcha_wrong(MAX_MISSES - misses))
        return
    await state.update_data(captcha_text=None, captcha_message_id=None)
    if current == Login.captcha.state:
        await state.update_data(captcha_ok=True)
        await state.set_state(Login.password)
        await message.answer(texts.ASK_LOGIN_PASSWORD, reply_markup=kb.step_reply(back=True))
    elif current == PasswordReset.captcha.state:
        await _send_reset(message, state, session, clock, settings, bot, mailer)
    else:
        await state.update_data(captcha_ok=True)
        await advance(
            message, state, Registration.captcha, settings=settings, captcha=captcha, bot=bot
        )


@router.callback_query(Registration.consent, AuthCb.filter(F.action == AuthAction.CONSENT_YES))
async def consent_given(
    query: CallbackQuery,
    state: FSMContext,
    settings: Settings,
    captcha: Captcha,
    bot: Bot,
    clock: Clock,
) -> None:
    message = _message_of(query)
    if message is None:
        return
    await _drop_markup(message)
    await state.update_data(
        consent_at=clock.now().isoformat(), consent_version=texts.CONSENT_VERSION
    )
    await advance(message, state, Registration.consent, settings=settings, captcha=captcha, bot=bot)


@router.callback_query(Registration.consent, AuthCb.filter(F.action == AuthAction.CONSENT_NO))
async def consent_refused(query: CallbackQuery) -> None:
    """The form is kept: the person may still agree, or leave with «Отмена»."""
    message = _message_of(query)
    if message is not None:
        await _drop_markup(message)
        await message.answer(texts.CONSENT_REFUSED, reply_markup=kb.consent_again())


EDITS = {
    AuthAction.EDIT_NAME: Registration.name,
    AuthAction.EDIT_EMAIL: Registration.email,
    AuthAction.EDIT_PHONE: Registration.phone,
    AuthAction.EDIT_PASSWORD: Registration.password,
}


@router.callback_query(Registration.confirm, AuthCb.filter(F.action.in_(set(EDITS))))
async def edit_field(
    query: CallbackQuery,
    callback_data: AuthCb,
    state: FSMContext,
    settings: Settings,
    captcha: Captcha,
    bot: Bot,
) -> None:
    message = _message_of(query)
    if message is None:
        return
    await _drop_markup(message)
    await state.update_data(editing=True)
    await ask(
        message, state, EDITS[callback_data.action], settings=settings, captcha=captcha, bot=bot
    )


@router.callback_query(Registration.confirm, AuthCb.filter(F.action == AuthAction.SUBMIT))
async def submit(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    bot: Bot,
    mailer: Mailer,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    """A double press is safe: one user's updates are handled one at a time (events isolation),
    so the second press finds the dialog past this step and gets «кнопка устарела»."""
    message = _message_of(query)
    if message is None:
        return
    callback_answer.disable()
    await query.answer()
    await _drop_markup(message)
    data = await state.get_data()
    registration = auth.NewRegistration(
        surname=data["surname"],
        name=data["name"],
        patronymic=data.get("patronymic"),
        email=data["email"],
        phone=data["phone"],
        password_hash=data["password_hash"],
        consent_version=data["consent_version"],
        consent_at=datetime.fromisoformat(data["consent_at"]),
    )
    try:
        registered = await auth.register(
            session, registration, telegram_user_id=query.from_user.id, now=clock.now(),
            caps=_caps(settings),
        )  # fmt: skip
    except auth.MailTooSoon as exc:
        await message.answer(
            texts.registration_mail_problem(texts.mail_too_soon(exc.seconds_left)),
            reply_markup=kb.summary(),
        )
        return
    except auth.MailQuotaExceeded as exc:
        await message.answer(
            texts.registration_mail_problem(MAIL_QUOTAS[exc.per]), reply_markup=kb.summary()
        )
        return
    await state.set_data({"mail_to": registration.email, "pending_id": registered.pending_id})
    await state.set_state(Registration.activation)
    if await send_letter(registered.letter, bot, mailer):
        await message.answer(texts.letter_sent(registration.email), reply_markup=kb.letter_sent())
    else:
        await message.answer(texts.MAIL_FAILED, reply_markup=kb.letter_sent())


@router.callback_query(AuthCb.filter(F.action == AuthAction.RESEND), ANY_STATE)
async def resend(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    bot: Bot,
    mailer: Mailer,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    message = _message_of(query)
    data = await state.get_data()
    email = data.get("mail_to")
    if message is None or not email:
        callback_answer.text = common_texts.STALE_BUTTON
        return
    try:
        outgoing = await auth.resend_letter(
            session, str(email), pending_id=data.get("pending_id"),
            telegram_user_id=query.from_user.id, now=clock.now(), caps=_caps(settings),
        )  # fmt: skip
    except auth.MailTooSoon as exc:
        callback_answer.text = texts.mail_too_soon(exc.seconds_left)
        callback_answer.show_alert = True
        return
    except auth.MailQuotaExceeded as exc:
        callback_answer.text = MAIL_QUOTAS[exc.per]
        callback_answer.show_alert = True
        return
    except auth.RegistrationGone:
        await state.clear()
        await message.answer(texts.REGISTRATION_GONE, reply_markup=common_kb.guest_menu())
        return
    callback_answer.disable()
    await query.answer()
    if await send_letter(outgoing, bot, mailer):
        await message.answer(texts.letter_sent_again(str(email)), reply_markup=kb.letter_sent())
    else:
        await message.answer(texts.MAIL_FAILED, reply_markup=kb.letter_sent())


# --- codes from letters: deep links and typed codes ------------------------------------------


async def _after_code(
    message: Message, state: FSMContext, use: auth.CodeUse, viewer: Viewer | None
) -> None:
    """Where a working link or code leads: logged in, the password, or a new password."""
    if use.outcome is auth.CodeOutcome.ACTIVATED and use.signed_in is not None:
        await state.clear()
        await message.answer(
            texts.activated(use.signed_in.name), reply_markup=common_kb.main_menu()
        )
    elif use.outcome is auth.CodeOutcome.NEEDS_PASSWORD:
        if viewer is not None and viewer.logged_in:
            await state.clear()
            await message.answer(texts.already_logged_in(viewer.first_name or ""))
            return
        await state.set_data({"email": use.email, "pending_id": use.pending_id})
        await state.set_state(Login.password)
        await message.answer(
            texts.ACTIVATION_NEEDS_PASSWORD, reply_markup=kb.step_reply(back=False)
        )
    else:
        await state.set_data({"reset_token_id": use.token_id})
        await state.set_state(PasswordReset.password)
        await message.answer(
            texts.CODE_ACCEPTED + "\n\n" + texts.ASK_NEW_PASSWORD,
            reply_markup=kb.step_reply(back=False),
        )


async def _code_refused(
    message: Message,
    state: FSMContext,
    exc: auth.BadToken | auth.TooManyCodes,
    *,
    viewer: Viewer | None,
    clock: Clock,
    settings: Settings,
    retry: bool,
) -> None:
    """A link or code that does not work: retry in place (a typo), or the way on."""
    if isinstance(exc, auth.TooManyCodes):
        await state.clear()
        await message.answer(_codes_locked_text(exc.until, clock, settings))
        return
    signed_in = viewer is not None and viewer.logged_in
    if retry and exc.reason is auth.TokenProblem.UNKNOWN:
        await message.answer(texts.TOKEN_UNKNOWN_RETRY)
    elif signed_in and exc.purpose is TokenPurpose.ACTIVATION:
        await state.clear()
        await message.answer(texts.ALREADY_ACTIVATED_SIGNED_IN)
    else:
        await state.clear()
        await message.answer(token_problem(exc), reply_markup=kb.go_login())


def _pasted_token(message: Message) -> bool:
    return auth.looks_like_token(message.text)


def _typed_code(message: Message) -> bool:
    return auth.looks_like_code(message.text)


@router.message(StateFilter(None, Registration.activation, PasswordReset.code), _pasted_token)
async def pasted_token(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    viewer: Viewer | None,
) -> None:
    """The link's token pasted as text: the same as opening the link."""
    await forget(message)
    retry = await state.get_state() is not None
    try:
        use = await auth.use_link(
            session, message.text or "", telegram_user_id=_user_id(message),
            chat_id=message.chat.id, now=clock.now(),
        )  # fmt: skip
    except (auth.BadToken, auth.TooManyCodes) as exc:
        await _code_refused(
            message, state, exc, viewer=viewer, clock=clock, settings=settings, retry=retry
        )
        return
    await _after_code(message, state, use, viewer)


@router.message(StateFilter(Registration.activation, PasswordReset.code), _typed_code)
async def typed_code(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    viewer: Viewer | None,
) -> None:
    """The short code, checked with the address this dialog sent it to."""
    await forget(message)
    data = await state.get_data()
    email = str(data.get("mail_to") or data.get("email") or "")
    try:
        use = await auth.use_code(
            session, email, message.text or "", telegram_user_id=_user_id(message),
            chat_id=message.chat.id, now=clock.now(), pending_id=data.get("pending_id"),
        )  # fmt: skip
    except (auth.BadToken, auth.TooManyCodes) as exc:
        await _code_refused(
            message, state, exc, viewer=viewer, clock=clock, settings=settings, retry=True
        )
        return
    await _after_code(message, state, use, viewer)


@router.message(
    StateFilter(PasswordReset.captcha, PasswordReset.code), F.text == common_texts.BTN_BACK
)
async def reset_back(message: Message, state: FSMContext, settings: Settings) -> None:
    await state.set_state(PasswordReset.email)
    await message.answer(
        texts.numbered(1, _reset_steps(settings), texts.RESET_ASK_EMAIL),
        reply_markup=kb.step_reply(back=False),
    )


@router.message(PasswordReset.code, F.text)
async def not_a_code(message: Message) -> None:
    await _forget_if_password(message)
    await message.answer(texts.CODE_LOOKS_WRONG)


# --- login and logout ------------------------------------------------------------------------


@router.message(StateFilter(Login.captcha, Login.password), F.text == common_texts.BTN_BACK)
@router.callback_query(
    StateFilter(Login.password), AuthCb.filter(F.action == AuthAction.CHANGE_EMAIL)
)
async def login_change_email(event: Message | CallbackQuery, state: FSMContext) -> None:
    message = event if isinstance(event, Message) else _message_of(event)
    if message is None:
        return
    await state.set_data({})
    await state.set_state(Login.email)
    await message.answer(texts.LOGIN_START, reply_markup=kb.step_reply(back=False))


@router.message(Login.email, F.text)
async def got_login_email(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    captcha: Captcha,
    bot: Bot,
) -> None:
    try:
        email = normalize_email(message.text or "")
    except InvalidEmail:
        await _forget_if_password(message)
        await message.answer(texts.EMAIL_INVALID)
        return
    gate = await auth.login_gate(
        session, email, telegram_user_id=_user_id(message), now=clock.now()
    )
    await state.set_data({"email": email})
    if gate.locked_until is not None:
        await state.set_state(Login.password)  # a password typed now is deleted, the lock told
        await message.answer(
            _locked_text(gate.locked_until, clock, settings), reply_markup=kb.forgot()
        )
        return
    if gate.captcha and settings.captcha_enabled:
        await state.set_state(Login.captcha)
        await _send_captcha(message, state, captcha, bot, texts.LOGIN_CAPTCHA)
        return
    await state.set_state(Login.password)
    await message.answer(texts.ASK_LOGIN_PASSWORD, reply_markup=kb.step_reply(back=True))


@router.message(Login.password, F.text)
async def got_login_password(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    captcha: Captcha,
    bot: Bot,
    mailer: Mailer,
) -> None:
    password = message.text or ""
    await forget(message)
    data = await state.get_data()
    email = str(data.get("email") or "")
    solved = bool(data.get("captcha_ok")) or not settings.captcha_enabled
    await state.update_data(captcha_ok=False)  # one solved picture, one try
    try:
        signed_in = await auth.log_in(
            session, email, password, telegram_user_id=_user_id(message),
            chat_id=message.chat.id, now=clock.now(), captcha_solved=solved,
            pending_id=data.get("pending_id"),
        )  # fmt: skip
    except auth.WrongCredentials as exc:
        await message.answer(texts.WRONG_CREDENTIALS, reply_markup=kb.login_failed())
        await send_letter(exc.alert, bot, mailer)
        return
    except auth.LoginLocked as exc:
        await message.answer(_locked_text(exc.until, clock, settings), reply_markup=kb.forgot())
        await send_letter(exc.alert, bot, mailer)
        return
    except auth.LoginPaused as exc:
        await message.answer(texts.login_paused(_seconds(exc.until, clock)))
        return
    except auth.CaptchaRequired:
        await state.set_state(Login.captcha)
        await _send_captcha(message, state, captcha, bot, texts.LOGIN_CAPTCHA)
        return
    except auth.TooManyPasswordChecks:
        await message.answer(texts.too_many_password_checks(_hash_window_minutes()))
        return
    except auth.NotActivated as exc:
        await state.set_data({"mail_to": email, "pending_id": exc.pending_id})
        await state.set_state(Registration.activation)
        await message.answer(texts.NOT_ACTIVATED, reply_markup=kb.not_activated())
        return
    await state.clear()
    await message.answer(texts.logged_in(signed_in.name), reply_markup=common_kb.main_menu())


# --- password reset --------------------------------------------------------------------------


def _reset_steps(settings: Settings) -> int:
    """E-mail, (CAPTCHA,) code, new password."""
    return 4 if settings.captcha_enabled else 3


@router.callback_query(AuthCb.filter(F.action == AuthAction.FORGOT), ANY_STATE)
async def start_reset(query: CallbackQuery, state: FSMContext, settings: Settings) -> None:
    message = _message_of(query)
    if message is None:
        return
    await _drop_markup(message)
    await state.clear()
    await state.set_state(PasswordReset.email)
    total = _reset_steps(settings)
    await message.answer(
        texts.RESET_TITLE + "\n\n" + texts.numbered(1, total, texts.RESET_ASK_EMAIL),
        reply_markup=kb.step_reply(back=False),
    )


@router.message(PasswordReset.email, F.text)
async def got_reset_email(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    captcha: Captcha,
    bot: Bot,
    mailer: Mailer,
) -> None:
    try:
        email = normalize_email(message.text or "")
    except InvalidEmail:
        await _forget_if_password(message)
        await message.answer(texts.EMAIL_INVALID)
        return
    await state.update_data(email=email)
    if settings.captcha_enabled:
        await state.set_state(PasswordReset.captcha)
        question = texts.numbered(2, _reset_steps(settings), texts.RESET_ASK_CAPTCHA)
        await _send_captcha(message, state, captcha, bot, question)
        return
    await _send_reset(message, state, session, clock, settings, bot, mailer)


async def _send_reset(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    bot: Bot,
    mailer: Mailer,
) -> None:
    """The reset letter (when the address has a login), then the code step."""
    data = await state.get_data()
    email = str(data.get("email") or "")
    total = _reset_steps(settings)
    ask_code = texts.numbered(total - 1, total, texts.RESET_ASK_CODE)
    try:
        outgoing = await auth.request_password_reset(
            session, email, telegram_user_id=_user_id(message), now=clock.now(),
            caps=_caps(settings),
        )  # fmt: skip
    except auth.MailTooSoon as exc:
        await state.set_state(PasswordReset.code)
        await message.answer(
            texts.reset_too_soon(exc.seconds_left) + "\n\n" + ask_code,
            reply_markup=kb.step_reply(back=True),
        )
        return
    except auth.MailQuotaExceeded as exc:
        await state.set_state(PasswordReset.code)
        await message.answer(
            MAIL_QUOTAS[exc.per] + "\n\n" + ask_code, reply_markup=kb.step_reply(back=True)
        )
        return
    # Reply before mailing: a known e-mail must not answer slower than an unknown one.
    await state.set_state(PasswordReset.code)
    await message.answer(
        texts.RESET_SENT + "\n\n" + ask_code, reply_markup=kb.step_reply(back=True)
    )
    if not await send_letter(outgoing, bot, mailer):
        await state.set_state(PasswordReset.email)
        await message.answer(texts.RESET_MAIL_FAILED, reply_markup=kb.step_reply(back=False))


async def _reset_code_still_valid(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock, token_id: object
) -> bool:
    """The code accepted a step before may have expired or been used since (another device)."""
    try:
        await auth.check_reset_token(session, int(str(token_id or 0)), now=clock.now())
    except auth.BadToken as exc:
        await state.clear()
        await message.answer(token_problem(exc), reply_markup=kb.go_login())
        return False
    return True


@router.message(PasswordReset.password, F.text)
async def got_new_password(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock
) -> None:
    token_id = (await state.get_data()).get("reset_token_id")
    if not await _reset_code_still_valid(message, state, session, clock, token_id):
        await forget(message)
        return
    password_hash = await _take_new_password(message, session, clock)
    if password_hash is None:
        return
    await state.update_data(password_hash=password_hash)
    await state.set_state(PasswordReset.password_repeat)
    await message.answer(texts.ASK_NEW_PASSWORD_REPEAT)


@router.message(PasswordReset.password_repeat, F.text)
async def got_new_password_repeat(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock
) -> None:
    data = await state.get_data()
    password_hash = data.get("password_hash")
    same = await _repeat_matches(message, session, clock, password_hash)
    if same is None:
        return
    if not same:
        await state.update_data(password_hash=None)
        await state.set_state(PasswordReset.password)
        await message.answer(texts.PASSWORDS_DIFFER)
        return
    try:
        signed_in = await auth.reset_password(
            session, int(str(data.get("reset_token_id") or 0)), str(password_hash),
            telegram_user_id=_user_id(message), chat_id=message.chat.id, now=clock.now(),
        )  # fmt: skip
    except auth.BadToken as exc:
        await state.clear()
        await message.answer(token_problem(exc), reply_markup=kb.go_login())
        return
    await state.clear()
    await message.answer(
        texts.password_reset_done(signed_in.name), reply_markup=common_kb.main_menu()
    )


# --- a password typed where none was expected ------------------------------------------------


def _password_like(message: Message) -> bool:
    return auth.looks_like_password(message.text)


@password_guard.message(F.chat.type == "private", _password_like, ANY_STATE)
async def delete_stray_password(message: Message, state: FSMContext, viewer: Viewer | None) -> None:
    """Reached only when no dialog step took the message; the dialog stays where it was."""
    try:
        await message.delete()
    except TelegramAPIError:
        log.warning("could not delete a stray password in chat %s", message.chat.id)
        await message.answer(texts.PASSWORD_NOT_DELETED)
        return
    current = await state.get_state()
    in_dialog = common_texts.waiting_for(waiting.hint(current)) if current else None
    logged_in = viewer is not None and viewer.logged_in
    if in_dialog is None and logged_in:
        await message.answer(
            texts.password_guard(None, logged_in=True), reply_markup=common_kb.main_menu()
        )
        return
    await message.answer(texts.password_guard(in_dialog))
