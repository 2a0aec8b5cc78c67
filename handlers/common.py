"""Global commands that work from any dialog state: /start, /menu, /help, /cancel, «Отмена»."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.texts import common as texts
from keyboards import common as kb
from services.identity import Viewer

router = Router(name="common")
ANY_STATE = StateFilter("*")


async def show_home(message: Message, viewer: Viewer | None, text: str | None = None) -> None:
    """The main menu for a logged-in subscriber, the greeting with «Войти» for a guest."""
    if viewer is not None and viewer.logged_in:
        await message.answer(text or texts.MAIN_MENU, reply_markup=kb.main_menu())
    else:
        if text:
            await message.answer(text, reply_markup=kb.remove())
        await message.answer(texts.WELCOME_GUEST, reply_markup=kb.guest_menu())


@router.message(CommandStart(), ANY_STATE)
async def start(
    message: Message, command: CommandObject, state: FSMContext, viewer: Viewer | None
) -> None:
    if command.args:  # a deep link (activation, reset) belongs to the feature that issued it
        raise SkipHandler
    await state.clear()
    if viewer is not None and viewer.logged_in:
        await show_home(message, viewer, texts.welcome_back(viewer.first_name or ""))
    else:
        await show_home(message, viewer)


@router.message(Command("menu"), ANY_STATE)
async def menu(message: Message, state: FSMContext, viewer: Viewer | None) -> None:
    await state.clear()
    await show_home(message, viewer)


@router.message(Command("help"), ANY_STATE)
async def help_(message: Message) -> None:
    await message.answer(texts.HELP)


@router.message(Command("cancel"), ANY_STATE)
@router.message(F.text.casefold() == texts.BTN_CANCEL.casefold(), ANY_STATE)
async def cancel(message: Message, state: FSMContext, viewer: Viewer | None) -> None:
    if await state.get_state() is None:
        await show_home(message, viewer, texts.NOTHING_TO_CANCEL)
        return
    await state.clear()
    await show_home(message, viewer, texts.CANCELLED)


@router.callback_query(kb.CancelCb.filter(), ANY_STATE)
async def cancel_button(query: CallbackQuery, state: FSMContext, viewer: Viewer | None) -> None:
    had_state = await state.get_state() is not None
    await state.clear()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await show_home(query.message, viewer, texts.CANCELLED if had_state else None)
