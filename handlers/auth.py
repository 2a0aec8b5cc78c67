"""Registration (with CAPTCHA, consent and e-mail activation), login, logout, password reset."""

from __future__ import annotations

import contextlib
import logging
import math
from datetime import datetime

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
ANY_STATE = StateFilter("*")


class Registration(StatesGroup):
    name = State()
    email = State()
    phone = State()
    password = State()
    password_repeat = State()
    captcha = State()
    consent = State()
    confirm = State()
    activation = State()  # the letter went out; a pasted code or «Отправить ещё раз» expected


class Login(StatesGroup):
    email = State()
    password = State()


class PasswordReset(StatesGroup):
    email = State()
    code = State()
    password = State()
    password_repeat = State()


STEP_ORDER = [
    Registration.name,
    Registration.email,
    Registration.phone,
    Registration.password,
    Registration.password_repeat,
    Registration.captcha,
    Registration.consent,
    Registration.confirm,
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
}


# --- helpers ---------------------------------------------------------------------------------


async def forget(message: Message) -> None:
    """Delete a message that holds a password; a failure (too old, already gone) is harmless."""
    try:
        await message.delete()
    except TelegramAPIError:
        log.warning("could not delete a password message in chat %s", message.chat.id)


def token_problem(problem: auth.BadToken) -> str:
    """What a code from a letter that does not work means, with the way on."""
    if problem.purpose is None:
        return texts.TOKEN_UNKNOWN
    return TOKEN_PROBLEMS.get((problem.reason, problem.purpose), texts.TOKEN_UNKNOWN)


async def send_letter(outgoing: auth.Outgoing | None, bot: Bot, mailer: Mailer) -> bool:
    """Mail the letter (None: nothing to send); False when the SMTP server would not take it."""
    if outgoing is None:
        return True
    username = (await bot.me()).username
    link = f"https://t.me/{username}?start={outgoing.token}"
    subject, text, html = LETTERS[outgoing.kind](outgoing.name, link, outgoing.token)
    try:
        await mailer.send(Letter(outgoing.email, subject, text, html))
    except MailNotSent:
        log.error("a %s letter could not be sent", outgoing.kind)
        return False
    return True


def _locked_text(until: datetime, clock: Clock, settings: Settings) -> str:
    minutes = max(1, math.ceil((until - clock.now()).total_seconds() / 60))
    return texts.locked(until.astimezone(settings.zone), minutes)


def _message_of(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


async def _drop_markup(message: Message) -> None:
    with contextlib.suppress(TelegramAPIError):
        await message.edit_reply_markup(reply_markup=None)


# --- registration: entering and moving between steps -----------------------------------------


@router.message(Command("register"), ANY_STATE)
@router.callback_query(GuestCb.filter(F.action == "register"), ANY_STATE)
async def start_registration(
    event: Message | CallbackQuery, state: FSMContext, viewer: Viewer | None
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
        texts.REGISTRATION_START + "\n\n" + texts.ASK_NAME, reply_markup=kb.step_reply(back=False)
    )


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
        reply_markup=kb.captcha(),
    )
    await state.update_data(captcha_message_id=sent.message_id)


async def ask(
    message: Message,
    state: FSMContext,
    step: State,
    *,
    captcha: Captcha,
    bot: Bot,
) -> None:
    """Put the dialog on `step` and ask its question."""
    await state.set_state(step)
    if step == Registration.name:
        editing = bool((await state.get_data()).get("editing"))
        await message.answer(texts.ASK_NAME, reply_markup=kb.step_reply(back=editing))
    elif step == Registration.email:
        await message.answer(texts.ASK_EMAIL, reply_markup=kb.step_reply(back=True))
    elif step == Registration.phone:
        await message.answer(texts.ASK_PHONE, reply_markup=kb.phone_reply())
    elif step == Registration.password:
        await message.answer(texts.ASK_PASSWORD, reply_markup=kb.step_reply(back=True))
    elif step == Registration.password_repeat:
        await message.answer(texts.ASK_PASSWORD_REPEAT, reply_markup=kb.step_reply(back=True))
    elif step == Registration.captcha:
        await _send_captcha(message, state, captcha, bot, texts.ASK_CAPTCHA)
    elif step == Registration.consent:
        await message.answer(texts.CONSENT_TEXT, reply_markup=common_kb.remove())
        await message.answer(texts.ASK_CONSENT, reply_markup=kb.consent())
    else:
        data = await state.get_data()
        await message.answer(
            texts.summary(data["full_name"], data["email"], format_phone(data["phone"])),
            reply_markup=kb.summary(),
        )


def _skipped(step: State, data: dict[str, object], settings: Settings) -> bool:
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
        await ask(message, state, Registration.confirm, captcha=captcha, bot=bot)
        return
    index = STEP_ORDER.index(current) + 1
    while _skipped(STEP_ORDER[index], data, settings):
        index += 1
    await ask(message, state, STEP_ORDER[index], captcha=captcha, bot=bot)


@router.message(
    F.text == common_texts.BTN_BACK,
    StateFilter(
        Registration.name,
        Registration.email,
        Registration.phone,
        Registration.password,
        Registration.password_repeat,
        Registration.captcha,
        Registration.confirm,
    ),
)
async def registration_back(
    message: Message, state: FSMContext, settings: Settings, captcha: Captcha, bot: Bot
) -> None:
    data = await state.get_data()
    current = await state.get_state()
    if data.get("editing") or current == Registration.confirm.state:
        await ask(message, state, Registration.confirm, captcha=captcha, bot=bot)
        return
    if current == Registration.name.state:
        await ask(message, state, Registration.name, captcha=captcha, bot=bot)
        return
    index = next(i for i, s in enumerate(STEP_ORDER) if s.state == current) - 1
    if STEP_ORDER[index] == Registration.password_repeat:
        index -= 1  # back from the CAPTCHA: type the password (twice) again
    await ask(message, state, STEP_ORDER[index], captcha=captcha, bot=bot)


# --- registration: each step -----------------------------------------------------------------


@router.message(Registration.name, F.text)
async def got_name(
    message: Message, state: FSMContext, settings: Settings, captcha: Captcha, bot: Bot
) -> None:
    try:
        name = parse_full_name(message.text or "")
    except InvalidName as exc:
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
        await message.answer(texts.EMAIL_INVALID)
        return
    await state.update_data(email=email)
    await advance(message, state, Registration.email, settings=settings, captcha=captcha, bot=bot)


@router.message(Registration.phone, F.contact)
@router.message(Registration.phone, F.text)
async def got_phone(
    message: Message, state: FSMContext, settings: Settings, captcha: Captcha, bot: Bot
) -> None:
    contact = message.contact
    try:
        if contact is not None:
            if message.from_user is None or contact.user_id != message.from_user.id:
                await message.answer(texts.CONTACT_NOT_OWN, reply_markup=kb.phone_reply())
                return
            phone = normalize_phone(contact.phone_number, from_contact=True)
        else:
            phone = normalize_phone(message.text or "")
    except InvalidPhone as exc:
        await message.answer(PHONE_PROBLEMS[exc.reason], reply_markup=kb.phone_reply())
        return
    await state.update_data(phone=phone)
    await advance(message, state, Registration.phone, settings=settings, captcha=captcha, bot=bot)


async def _take_new_password(message: Message) -> str | None:
    """Delete the message holding a new password and hash it; None (with the reasons told to the
    user) when it breaks the password policy."""
    password = message.text or ""
    await forget(message)
    try:
        return await auth.hash_new_password(password)
    except WeakPassword as exc:
        await message.answer(texts.password_weak([str(p) for p in exc.problems]))
        return None


@router.message(Registration.password, F.text)
async def got_password(message: Message, state: FSMContext) -> None:
    password_hash = await _take_new_password(message)
    if password_hash is None:
        return
    await state.update_data(password_candidate=password_hash)
    await state.set_state(Registration.password_repeat)
    await message.answer(texts.ASK_PASSWORD_REPEAT, reply_markup=kb.step_reply(back=True))


@router.message(Registration.password_repeat, F.text)
async def got_password_repeat(
    message: Message, state: FSMContext, settings: Settings, captcha: Captcha, bot: Bot
) -> None:
    repeat = message.text or ""
    await forget(message)
    data = await state.get_data()
    candidate = data.get("password_candidate")
    if not candidate or not await auth.password_matches(str(candidate), repeat):
        await state.update_data(password_candidate=None)
        await state.set_state(Registration.password)
        await message.answer(texts.PASSWORDS_DIFFER, reply_markup=kb.step_reply(back=True))
        return
    await state.update_data(password_hash=candidate, password_candidate=None)
    await message.answer(texts.PASSWORD_ACCEPTED)
    await advance(
        message, state, Registration.password_repeat, settings=settings, captcha=captcha, bot=bot
    )


@router.message(Registration.captcha, F.text)
async def got_captcha(
    message: Message, state: FSMContext, settings: Settings, captcha: Captcha, bot: Bot
) -> None:
    data = await state.get_data()
    if matches(str(data.get("captcha_text") or ""), message.text or ""):
        old = data.get("captcha_message_id")
        await state.update_data(captcha_ok=True, captcha_text=None, captcha_message_id=None)
        if old:
            with contextlib.suppress(TelegramAPIError):
                await bot.edit_message_reply_markup(
                    chat_id=message.chat.id, message_id=int(old), reply_markup=None
                )
        await advance(
            message, state, Registration.captcha, settings=settings, captcha=captcha, bot=bot
        )
        return
    misses = int(data.get("captcha_misses") or 0) + 1
    if misses >= MAX_MISSES:
        await _send_captcha(message, state, captcha, bot, texts.CAPTCHA_WRONG_NEW)
        return
    await state.update_data(captcha_misses=misses)
    await message.answer(texts.captcha_wrong(MAX_MISSES - misses))


@router.callback_query(Registration.captcha, AuthCb.filter(F.action == AuthAction.REFRESH_CAPTCHA))
async def refresh_captcha(
    query: CallbackQuery, state: FSMContext, captcha: Captcha, bot: Bot
) -> None:
    message = _message_of(query)
    if message is not None:
        await _send_captcha(message, state, captcha, bot, texts.CAPTCHA_NEW)


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
async def consent_refused(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    message = _message_of(query)
    if message is not None:
        await _drop_markup(message)
        await message.answer(texts.CONSENT_REFUSED, reply_markup=common_kb.guest_menu())


EDITS = {
    AuthAction.EDIT_NAME: Registration.name,
    AuthAction.EDIT_EMAIL: Registration.email,
    AuthAction.EDIT_PHONE: Registration.phone,
    AuthAction.EDIT_PASSWORD: Registration.password,
}


@router.callback_query(Registration.confirm, AuthCb.filter(F.action.in_(set(EDITS))))
async def edit_field(
    query: CallbackQuery, callback_data: AuthCb, state: FSMContext, captcha: Captcha, bot: Bot
) -> None:
    message = _message_of(query)
    if message is None:
        return
    await _drop_markup(message)
    await state.update_data(editing=True)
    await ask(message, state, EDITS[callback_data.action], captcha=captcha, bot=bot)


@router.callback_query(Registration.confirm, AuthCb.filter(F.action == AuthAction.SUBMIT))
async def submit(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    bot: Bot,
    mailer: Mailer,
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
    outgoing = await auth.register(
        session, registration, telegram_user_id=query.from_user.id, now=clock.now()
    )
    await state.set_data({"mail_to": registration.email})
    await state.set_state(Registration.activation)
    if await send_letter(outgoing, bot, mailer):
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
    callback_answer: CallbackAnswer,
) -> None:
    message = _message_of(query)
    email = (await state.get_data()).get("mail_to")
    if message is None or not email:
        callback_answer.text = texts.NOTHING_TO_RESEND
        return
    try:
        outgoing = await auth.resend_letter(session, str(email), now=clock.now())
    except auth.ResendTooSoon as exc:
        callback_answer.text = texts.resend_too_soon(exc.seconds_left)
        callback_answer.show_alert = True
        return
    callback_answer.disable()
    await query.answer()
    if await send_letter(outgoing, bot, mailer):
        await message.answer(texts.letter_sent_again(str(email)), reply_markup=kb.letter_sent())
    else:
        await message.answer(texts.MAIL_FAILED, reply_markup=kb.letter_sent())


# --- codes from letters: deep links and pasted codes -----------------------------------------


async def use_code(
    message: Message,
    code: str,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    viewer: Viewer | None,
) -> None:
    """An activation code activates at once; a reset code leads to the new password.

    The message with the code is deleted: a reset code stays a key to the login for a day."""
    await forget(message)
    user_id = message.from_user.id if message.from_user else message.chat.id
    signed_in = viewer is not None and viewer.logged_in
    try:
        purpose = await auth.token_purpose(session, code, now=clock.now())
        if purpose is TokenPurpose.ACTIVATION:
            await auth.activate(session, code, telegram_user_id=user_id, now=clock.now())
            await state.clear()
            await message.answer(texts.ACTIVATED, reply_markup=kb.go_login())
            return
    except auth.BadToken as exc:
        if exc.purpose is None and await state.get_state() == PasswordReset.code.state:
            await message.answer(texts.TOKEN_UNKNOWN_RETRY)
        elif signed_in and exc.purpose is TokenPurpose.ACTIVATION:
            await message.answer(texts.ALREADY_ACTIVATED_SIGNED_IN)
        else:
            await state.clear()
            await message.answer(token_problem(exc), reply_markup=kb.go_login())
        return
    await state.set_data({"reset_code": code.strip()})
    await state.set_state(PasswordReset.password)
    await message.answer(texts.ASK_NEW_PASSWORD, reply_markup=kb.step_reply(back=False))


@router.message(CommandStart(deep_link=True), ANY_STATE)
async def deep_link(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    viewer: Viewer | None,
) -> None:
    await use_code(message, command.args or "", state, session, clock, viewer)


@router.message(PasswordReset.code, F.text == common_texts.BTN_BACK)
async def reset_back(message: Message, state: FSMContext) -> None:
    await state.set_state(PasswordReset.email)
    await message.answer(texts.RESET_ASK_EMAIL_AGAIN, reply_markup=kb.step_reply(back=False))


@router.message(
    StateFilter(None, Registration.activation), F.text, F.text.func(auth.looks_like_token)
)
@router.message(PasswordReset.code, F.text)
async def pasted_code(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    viewer: Viewer | None,
) -> None:
    await use_code(message, message.text or "", state, session, clock, viewer)


# --- login and logout ------------------------------------------------------------------------


@router.message(Command("login"), ANY_STATE)
@router.callback_query(GuestCb.filter(F.action == "login"), ANY_STATE)
@router.callback_query(AuthCb.filter(F.action == AuthAction.LOGIN), ANY_STATE)
async def start_login(
    event: Message | CallbackQuery,
    state: FSMContext,
    viewer: Viewer | None,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
) -> None:
    message = event if isinstance(event, Message) else _message_of(event)
    if message is None:
        return
    if viewer is not None and viewer.logged_in:
        await message.answer(texts.already_logged_in(viewer.first_name or ""))
        return
    await state.clear()
    user_id = event.from_user.id if event.from_user else message.chat.id
    try:
        await auth.check_not_locked(session, telegram_user_id=user_id, now=clock.now())
    except auth.LoginLocked as exc:
        await message.answer(_locked_text(exc.until, clock, settings))
        return
    await state.set_state(Login.email)
    await message.answer(texts.LOGIN_START, reply_markup=kb.step_reply(back=False))


@router.message(StateFilter(Login.email, Login.password), F.text == common_texts.BTN_BACK)
async def login_back(message: Message, state: FSMContext) -> None:
    await state.set_state(Login.email)
    await message.answer(texts.LOGIN_START, reply_markup=kb.step_reply(back=False))


@router.message(Login.email, F.text)
async def got_login_email(message: Message, state: FSMContext) -> None:
    await state.update_data(email=(message.text or "").strip())
    await state.set_state(Login.password)
    await message.answer(texts.ASK_LOGIN_PASSWORD, reply_markup=kb.step_reply(back=True))


@router.message(Login.password, F.text)
async def got_login_password(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
) -> None:
    password = message.text or ""
    await forget(message)
    email = str((await state.get_data()).get("email") or "")
    user_id = message.from_user.id if message.from_user else message.chat.id
    try:
        signed_in = await auth.log_in(
            session, email, password, telegram_user_id=user_id, chat_id=message.chat.id,
            now=clock.now(),
        )  # fmt: skip
    except auth.WrongCredentials:
        await state.set_state(Login.email)
        await message.answer(texts.WRONG_CREDENTIALS, reply_markup=kb.login_failed())
        return
    except auth.LoginLocked as exc:
        await state.clear()
        await message.answer(
            _locked_text(exc.until, clock, settings), reply_markup=common_kb.remove()
        )
        return
    except auth.NotActivated:
        await state.set_data({"mail_to": email})
        await state.set_state(Registration.activation)
        await message.answer(texts.NOT_ACTIVATED, reply_markup=kb.not_activated())
        return
    await state.clear()
    await message.answer(texts.logged_in(signed_in.name), reply_markup=common_kb.main_menu())


@router.message(Command("logout"), ANY_STATE)
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


# --- password reset --------------------------------------------------------------------------


@router.callback_query(AuthCb.filter(F.action == AuthAction.FORGOT), ANY_STATE)
async def start_reset(query: CallbackQuery, state: FSMContext) -> None:
    message = _message_of(query)
    if message is None:
        return
    await state.clear()
    await state.set_state(PasswordReset.email)
    await message.answer(texts.RESET_START, reply_markup=kb.step_reply(back=False))


@router.message(PasswordReset.email, F.text)
async def got_reset_email(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    bot: Bot,
    mailer: Mailer,
) -> None:
    try:
        email = normalize_email(message.text or "")
    except InvalidEmail:
        await message.answer(texts.EMAIL_INVALID)
        return
    user_id = message.from_user.id if message.from_user else message.chat.id
    outgoing = await auth.request_password_reset(
        session, email, telegram_user_id=user_id, now=clock.now()
    )
    # Reply before mailing: a known e-mail must not answer slower than an unknown one.
    await state.set_state(PasswordReset.code)
    await message.answer(texts.RESET_SENT, reply_markup=kb.step_reply(back=True))
    if not await send_letter(outgoing, bot, mailer):
        await state.set_state(PasswordReset.email)
        await message.answer(texts.RESET_MAIL_FAILED, reply_markup=kb.step_reply(back=False))


@router.message(PasswordReset.password, F.text)
async def got_new_password(message: Message, state: FSMContext) -> None:
    password_hash = await _take_new_password(message)
    if password_hash is None:
        return
    await state.update_data(password_hash=password_hash)
    await state.set_state(PasswordReset.password_repeat)
    await message.answer(texts.ASK_NEW_PASSWORD_REPEAT)


@router.message(PasswordReset.password_repeat, F.text)
async def got_new_password_repeat(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock
) -> None:
    repeat = message.text or ""
    await forget(message)
    data = await state.get_data()
    password_hash = data.get("password_hash")
    if not password_hash or not await auth.password_matches(str(password_hash), repeat):
        await state.update_data(password_hash=None)
        await state.set_state(PasswordReset.password)
        await message.answer(texts.PASSWORDS_DIFFER)
        return
    user_id = message.from_user.id if message.from_user else message.chat.id
    try:
        signed_in = await auth.reset_password(
            session, str(data.get("reset_code") or ""), str(password_hash),
            telegram_user_id=user_id, chat_id=message.chat.id, now=clock.now(),
        )  # fmt: skip
    except auth.BadToken as exc:
        await state.clear()
        await message.answer(token_problem(exc), reply_markup=kb.go_login())
        return
    await state.clear()
    await message.answer(
        texts.password_reset_done(signed_in.name), reply_markup=common_kb.main_menu()
    )
