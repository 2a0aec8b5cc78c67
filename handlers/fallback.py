"""Last-resort handlers: sections not available yet or not allowed, unknown input, stale buttons."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.filters import JOIN_TRANSITION, LEAVE_TRANSITION, ChatMemberUpdatedFilter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import common as texts
from bot.texts import waiting
from keyboards import common as kb
from services.identity import Viewer, mark_blocked
from services.intents import guess_topic

router = Router(name="fallback")

SECTIONS_WITHOUT_ACCOUNT = {texts.MENU_CONTRACTS, texts.MENU_APPEALS, texts.MENU_SETTINGS}
# What a person can send; service messages (a payment receipt, «write access allowed», …) are
# not answered here: a feature handles them or they need no answer.
PERSON_CONTENT = frozenset(
    {
        ContentType.TEXT, ContentType.PHOTO, ContentType.DOCUMENT, ContentType.VIDEO,
        ContentType.ANIMATION, ContentType.AUDIO, ContentType.VOICE, ContentType.VIDEO_NOTE,
        ContentType.STICKER, ContentType.CONTACT, ContentType.LOCATION, ContentType.VENUE,
        ContentType.POLL, ContentType.DICE, ContentType.STORY, ContentType.GAME,
    }
)  # fmt: skip
PERSONAL = F.chat.type == "private", F.content_type.in_(PERSON_CONTENT)


@router.message(F.text.in_(texts.MENU_SECTIONS), StateFilter("*"))
async def section(message: Message, state: FSMContext, viewer: Viewer | None) -> None:
    """Reached only when no feature router took the section (not logged in, or not built yet)."""
    await state.clear()
    section_name = (message.text or "").split(" ", 1)[-1]
    if viewer is None or not viewer.logged_in:
        await message.answer(texts.LOGIN_REQUIRED, reply_markup=kb.guest_menu())
    elif viewer.account is None and message.text not in SECTIONS_WITHOUT_ACCOUNT:
        await message.answer(texts.ACCOUNT_REQUIRED, reply_markup=kb.main_menu())
    else:
        await message.answer(texts.section_not_ready(section_name), reply_markup=kb.main_menu())


@router.message(*PERSONAL, StateFilter(None), F.text)
async def unknown_input(message: Message, viewer: Viewer | None) -> None:
    """Text outside any dialog: point to the section it names («сколько я должен?» → «Счета»)."""
    logged_in = viewer is not None and viewer.logged_in
    text = texts.unknown_input(guess_topic(message.text or ""), logged_in=logged_in)
    await message.answer(text, reply_markup=kb.main_menu() if logged_in else kb.guest_menu())


@router.message(*PERSONAL, StateFilter(None))
async def unexpected_content(message: Message, viewer: Viewer | None) -> None:
    """A photo, a sticker, a voice message, a location… outside any dialog: say calmly what
    such a message is good for here and where to go next."""
    logged_in = viewer is not None and viewer.logged_in
    text = texts.unexpected_content(message.content_type, logged_in=logged_in)
    await message.answer(text, reply_markup=kb.main_menu() if logged_in else kb.guest_menu())


@router.message(*PERSONAL)
async def unexpected_in_dialog(message: Message, state: FSMContext) -> None:
    """Anything a dialog step did not expect (a sticker instead of a number, a photo instead of
    text): say what the step waits for; the dialog and its data stay as they were."""
    await message.answer(texts.waiting_for(waiting.hint(await state.get_state())))


@router.edited_message(*PERSONAL)
async def edited(message: Message) -> None:
    """An edit of an earlier message is not re-read (its answer was given already); say so,
    so a corrected reading or e-mail is sent again rather than silently lost."""
    await message.answer(texts.EDITED_IGNORED)


@router.callback_query(StateFilter("*"))
async def stale_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    callback_answer.text = texts.STALE_BUTTON


@router.my_chat_member(ChatMemberUpdatedFilter(LEAVE_TRANSITION), F.chat.type == "private")
async def blocked(event: ChatMemberUpdated, session: AsyncSession) -> None:
    await mark_blocked(session, event.from_user.id, blocked=True)


@router.my_chat_member(ChatMemberUpdatedFilter(JOIN_TRANSITION), F.chat.type == "private")
async def unblocked(event: ChatMemberUpdated, session: AsyncSession) -> None:
    await mark_blocked(session, event.from_user.id, blocked=False)
