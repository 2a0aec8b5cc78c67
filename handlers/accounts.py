"""«📄 Договоры»: linked accounts (list, current, unlink) and the LinkAccount dialog."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.filters import LoggedIn, login_id_of
from bot.texts import accounts as texts
from bot.texts import common as common_texts
from keyboards import accounts as kb
from keyboards import appeals as appeal_kb
from keyboards import common as common_kb
from keyboards.accounts import AccountAction, AccountsCb, LinkAction, LinkCb
from models import AppealTopic, SubscriberType
from services import accounts
from services.errors import NotFound
from services.identity import Viewer

router = Router(name="accounts")


class LinkAccount(StatesGroup):
    number = State()
    surname = State()
    meter = State()
    confirm = State()  # the summary: «Подключить» links at once


async def _edit(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


# --- the section ---------------------------------------------------------------------------


@router.message(F.text == common_texts.MENU_CONTRACTS, StateFilter("*"), LoggedIn())
async def section(
    message: Message, state: FSMContext, session: AsyncSession, viewer: Viewer | None
) -> None:
    await state.clear()
    cards = await accounts.list_accounts(session, login_id_of(viewer))
    await message.answer(texts.accounts_list(cards), reply_markup=kb.section(cards))


@router.callback_query(AccountsCb.filter(F.action == AccountAction.LIST), LoggedIn())
async def show_list(query: CallbackQuery, session: AsyncSession, viewer: Viewer | None) -> None:
    cards = await accounts.list_accounts(session, login_id_of(viewer))
    await _edit(query, texts.accounts_list(cards), kb.section(cards))


@router.callback_query(
    AccountsCb.filter(F.action.in_({AccountAction.OPEN, AccountAction.UNLINK})), LoggedIn()
)
async def open_account(
    query: CallbackQuery,
    callback_data: AccountsCb,
    session: AsyncSession,
    viewer: Viewer | None,
    callback_answer: CallbackAnswer,
) -> None:
    """The account's card, or the question whether to unlink it."""
    try:
        card = await accounts.get_account(session, login_id_of(viewer), callback_data.account_id)
    except NotFound:
        callback_answer.text = texts.ACCOUNT_GONE
        return
    if callback_data.action == AccountAction.UNLINK:
        await _edit(query, texts.unlink_question(card), kb.unlink_confirm(card))
    else:
        await _edit(query, texts.account_details(card), kb.account(card))


@router.callback_query(AccountsCb.filter(F.action == AccountAction.CURRENT), LoggedIn())
async def make_current(
    query: CallbackQuery,
    callback_data: AccountsCb,
    session: AsyncSession,
    viewer: Viewer | None,
    callback_answer: CallbackAnswer,
) -> None:
    login_id = login_id_of(viewer)
    try:
        card = await accounts.make_current(session, login_id, callback_data.account_id)
    except NotFound:
        callback_answer.text = texts.ACCOUNT_GONE
        return
    cards = await accounts.list_accounts(session, login_id)
    await _edit(
        query, texts.made_current(card) + "\n\n" + texts.accounts_list(cards), kb.section(cards)
    )


@router.callback_query(AccountsCb.filter(F.action == AccountAction.UNLINK_YES), LoggedIn())
async def unlink(
    query: CallbackQuery,
    callback_data: AccountsCb,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    login_id = login_id_of(viewer)
    try:
        card = await accounts.get_account(session, login_id, callback_data.account_id)
        new_current = await accounts.unlink(session, login_id, card.id, now=clock.now())
    except NotFound:
        callback_answer.text = texts.ACCOUNT_GONE
        return
    cards = await accounts.list_accounts(session, login_id)
    done = texts.unlinked(card.number, new_current, was_current=card.is_current)
    await _edit(query, done + "\n\n" + texts.accounts_list(cards), kb.section(cards))


# --- LinkAccount -----------------------------------------------------------------------------


@router.callback_query(AccountsCb.filter(F.action == AccountAction.LINK), LoggedIn())
async def start_link(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
) -> None:
    if not isinstance(query.message, Message):
        return
    until = await accounts.link_locked_until(session, login_id_of(viewer), now=clock.now())
    if until is not None:
        await query.message.answer(
            texts.link_locked(until.astimezone(clock.zone)),
            reply_markup=appeal_kb.new_appeal(AppealTopic.ACCOUNT_CHANGES),
        )
        return
    await state.clear()
    # The web cabinet offers one subscriber type, «Физ.лицо»: it is chosen, and said so.
    await state.set_data({"subscriber_type": SubscriberType.INDIVIDUAL.value})
    await _ask_number(query.message, state, intro=texts.LINK_TITLE)


async def _ask_number(message: Message, state: FSMContext, intro: str | None = None) -> None:
    await state.set_state(LinkAccount.number)
    text = f"{intro}\n\n{texts.LINK_NUMBER}" if intro else texts.LINK_NUMBER
    await message.answer(text, reply_markup=common_kb.back_cancel())


async def _ask_surname(message: Message, state: FSMContext) -> None:
    await state.set_state(LinkAccount.surname)
    await message.answer(texts.LINK_SURNAME, reply_markup=common_kb.back_cancel())


async def _ask_meter(message: Message, state: FSMContext) -> None:
    await state.set_state(LinkAccount.meter)
    await message.answer(texts.LINK_METER, reply_markup=common_kb.back_cancel())


@router.message(LinkAccount.number, F.text == common_texts.BTN_BACK, LoggedIn())
async def number_back(
    message: Message, state: FSMContext, session: AsyncSession, viewer: Viewer | None
) -> None:
    """«« Назад» from the first step: back to the list of accounts."""
    await state.clear()
    await message.answer(texts.BACK_TO_ACCOUNTS, reply_markup=common_kb.main_menu())
    cards = await accounts.list_accounts(session, login_id_of(viewer))
    await message.answer(texts.accounts_list(cards), reply_markup=kb.section(cards))


@router.message(LinkAccount.number, F.text, LoggedIn())
async def enter_number(
    message: Message, state: FSMContext, session: AsyncSession, viewer: Viewer | None
) -> None:
    try:
        number = accounts.normalise_account_number(message.text or "")
    except accounts.BadAccountNumber:
        await message.answer(texts.LINK_NUMBER_BAD, reply_markup=common_kb.back_cancel())
        return
    if await accounts.is_linked(session, login_id_of(viewer), number):
        await state.clear()
        await message.answer(texts.already_linked(number), reply_markup=common_kb.main_menu())
        return
    await state.update_data(number=number)
    await _ask_surname(message, state)


@router.message(LinkAccount.surname, F.text == common_texts.BTN_BACK)
async def surname_back(message: Message, state: FSMContext) -> None:
    await _ask_number(message, state)


@router.message(LinkAccount.surname, F.text)
async def enter_surname(message: Message, state: FSMContext) -> None:
    try:
        surname = accounts.normalise_surname(message.text or "")
    except accounts.BadSurname:
        await message.answer(texts.LINK_SURNAME_BAD, reply_markup=common_kb.back_cancel())
        return
    await state.update_data(surname=surname)
    await _ask_meter(message, state)


@router.message(LinkAccount.meter, F.text == common_texts.BTN_BACK)
async def meter_back(message: Message, state: FSMContext) -> None:
    await _ask_surname(message, state)


@router.message(LinkAccount.meter, F.text)
async def enter_meter(message: Message, state: FSMContext) -> None:
    try:
        serial = accounts.normalise_serial(message.text or "")
    except accounts.BadSerial:
        await message.answer(texts.LINK_METER_BAD, reply_markup=common_kb.back_cancel())
        return
    data = await state.update_data(meter=serial)
    await state.set_state(LinkAccount.confirm)
    await message.answer(
        texts.link_summary(
            SubscriberType(data["subscriber_type"]), data["number"], data["surname"], serial
        ),
        reply_markup=kb.link_confirm(),
    )


@router.message(LinkAccount.confirm, F.text == common_texts.BTN_BACK)
async def confirm_back_typed(message: Message, state: FSMContext) -> None:
    await _ask_meter(message, state)


@router.callback_query(LinkCb.filter(F.action == LinkAction.BACK), LinkAccount.confirm)
async def confirm_back(query: CallbackQuery, state: FSMContext) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await _ask_meter(query.message, state)


@router.callback_query(
    LinkCb.filter(F.action == LinkAction.CONFIRM), LinkAccount.confirm, LoggedIn()
)
async def confirm(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
) -> None:
    """The one confirmation: «Подключить» under the summary links the account. A second press
    finds the dialog finished and gets the stale-button answer."""
    if isinstance(query.message, Message):
        await _save(query.message, state, session, login_id_of(viewer), clock)


async def _save(
    message: Message, state: FSMContext, session: AsyncSession, login_id: int, clock: Clock
) -> None:
    await message.edit_reply_markup(reply_markup=None)
    data = await state.get_data()
    try:
        card = await accounts.link_account(
            session,
            login_id,
            subscriber_type=SubscriberType(data["subscriber_type"]),
            number=data["number"],
            surname=data["surname"],
            meter_serial=data["meter"],
            now=clock.now(),
            zone=clock.zone,
        )
    except accounts.LinkDataMismatch as exc:
        await state.set_data({"subscriber_type": data["subscriber_type"]})
        await state.set_state(LinkAccount.number)
        await message.answer(
            texts.link_mismatch(exc.attempts_left), reply_markup=common_kb.back_cancel()
        )
        return
    except accounts.LinkLocked as exc:
        await state.clear()
        await message.answer(
            texts.link_locked(exc.until.astimezone(clock.zone)),
            reply_markup=common_kb.main_menu(),
        )
        return
    except accounts.AlreadyLinked:
        await state.clear()
        await message.answer(
            texts.already_linked(data["number"]), reply_markup=common_kb.main_menu()
        )
        return
    await state.clear()
    await message.answer(texts.linked(card), reply_markup=common_kb.main_menu())
    if not card.is_current:
        await message.answer(texts.offer_current(card), reply_markup=kb.make_current(card))
