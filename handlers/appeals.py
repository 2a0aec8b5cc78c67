"""«✉️ Общение»: the WriteAppeal dialog, «Мои обращения» and follow-ups (AddToAppeal).

The staff chat's side (cards, topics, answers) is in `handlers.staff`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.downloads import store_upload
from bot.filters import LoggedIn, login_id_of
from bot.settings import Settings
from bot.texts import appeals as texts
from bot.texts import common as common_texts
from handlers import staff as staff_side
from handlers.staff import StaffDirectory
from keyboards import appeals as kb
from keyboards import common as common_kb
from keyboards.appeals import AppealAction, AppealsCb
from models import AppealTopic
from services import appeals
from services.appeals import AppealView
from services.errors import NotFound
from services.files import FileTooLarge, UnsupportedFileType
from services.identity import Viewer

router = Router(name="appeals")
log = logging.getLogger(__name__)

ANY_STATE = StateFilter("*")
PAGE_CHARS = 3800
PAGE_APPEALS = 5
FILES_DONE = F.text.in_({texts.BTN_DONE, texts.BTN_NO_FILES})


class WriteAppeal(StatesGroup):
    topic = State()
    text = State()
    attachments = State()
    confirm = State()


class AddToAppeal(StatesGroup):
    text = State()
    attachments = State()


# --- the section -------------------------------------------------------------------------------


@router.message(F.text == common_texts.MENU_APPEALS, ANY_STATE, LoggedIn())
async def section(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(texts.SECTION, reply_markup=kb.section())


# --- WriteAppeal -------------------------------------------------------------------------------


@router.callback_query(AppealsCb.filter(F.action == AppealAction.NEW), ANY_STATE, LoggedIn())
async def start(query: CallbackQuery, callback_data: AppealsCb, state: FSMContext) -> None:
    """From the section, or from another section's «Написать специалистам» with a topic."""
    if not isinstance(query.message, Message):
        return
    await state.clear()
    if callback_data.topic in {t.value for t in AppealTopic}:
        await state.set_state(WriteAppeal.text)
        await state.update_data(topic=callback_data.topic)
        await query.message.answer(
            texts.ask_text(AppealTopic(callback_data.topic)), reply_markup=common_kb.back_cancel()
        )
        return
    await state.set_state(WriteAppeal.topic)
    await query.message.answer(texts.CHOOSE_TOPIC, reply_markup=kb.topics())


@router.callback_query(AppealsCb.filter(F.action == AppealAction.TOPIC), WriteAppeal.topic)
async def choose_topic(
    query: CallbackQuery,
    callback_data: AppealsCb,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    if callback_data.topic not in {t.value for t in AppealTopic} or not isinstance(
        query.message, Message
    ):
        callback_answer.text = common_texts.STALE_BUTTON
        return
    topic = AppealTopic(callback_data.topic)
    await state.update_data(topic=topic.value)
    await state.set_state(WriteAppeal.text)
    await query.message.edit_text(texts.topic_chosen(topic), reply_markup=None)
    await query.message.answer(texts.ask_text(topic), reply_markup=common_kb.back_cancel())


@router.message(WriteAppeal.text, F.text == common_texts.BTN_BACK)
async def text_back(message: Message, state: FSMContext) -> None:
    await state.set_state(WriteAppeal.topic)
    await message.answer(texts.CHOOSE_TOPIC, reply_markup=kb.topics())


@router.message(StateFilter(WriteAppeal.text, AddToAppeal.text), F.text)
async def enter_text(message: Message, state: FSMContext, settings: Settings) -> None:
    try:
        text = appeals.clean_text(message.text or "")
    except appeals.TextTooLong as exc:
        await message.answer(texts.text_too_long(exc.length))
        return
    except appeals.EmptyText:
        await message.answer(texts.TEXT_EMPTY)
        return
    follow_up = await state.get_state() == AddToAppeal.text.state
    await state.update_data(text=text, files=[])
    await state.set_state(AddToAppeal.attachments if follow_up else WriteAppeal.attachments)
    await message.answer(
        texts.ask_attachments(settings.max_upload_mb), reply_markup=kb.attachments(0)
    )


@router.message(StateFilter(WriteAppeal.attachments, AddToAppeal.attachments), F.photo | F.document)
async def attach(
    message: Message, state: FSMContext, bot: Bot, session: AsyncSession, settings: Settings
) -> None:
    files: list[dict[str, Any]] = (await state.get_data()).get("files", [])
    if len(files) >= appeals.MAX_ATTACHMENTS:
        await message.answer(texts.TOO_MANY_ATTACHMENTS, reply_markup=kb.attachments(len(files)))
        return
    try:
        stored = await store_upload(bot, message, session, settings)
    except FileTooLarge as exc:
        await message.answer(texts.file_too_big(exc.limit_mb))
        return
    except UnsupportedFileType:
        await message.answer(texts.UNSUPPORTED_FILE)
        return
    await session.commit()
    files.append({"id": stored.id, "name": stored.filename})
    await state.update_data(files=files)
    await message.answer(
        texts.attachment_received(len(files)), reply_markup=kb.attachments(len(files))
    )


@router.message(WriteAppeal.attachments, F.text == common_texts.BTN_BACK)
@router.message(AddToAppeal.attachments, F.text == common_texts.BTN_BACK)
async def attachments_back(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    follow_up = await state.get_state() == AddToAppeal.attachments.state
    await state.set_state(AddToAppeal.text if follow_up else WriteAppeal.text)
    if follow_up:
        await message.answer(
            texts.ask_follow_up(str(data.get("number", "")), bool(data.get("reopen"))),
            reply_markup=common_kb.back_cancel(),
        )
    else:
        await message.answer(
            texts.ask_text(AppealTopic(data["topic"])), reply_markup=common_kb.back_cancel()
        )


@router.message(WriteAppeal.attachments, FILES_DONE)
async def attachments_done(message: Message, state: FSMContext, viewer: Viewer | None) -> None:
    data = await state.get_data()
    await state.set_state(WriteAppeal.confirm)
    account = viewer.account.number if viewer is not None and viewer.account else None
    await message.answer(
        texts.summary(
            AppealTopic(data["topic"]), data["text"], [f["name"] for f in data["files"]], account
        ),
        reply_markup=kb.summary(),
    )


@router.message(WriteAppeal.confirm, F.text == common_texts.BTN_BACK)
async def summary_back_typed(message: Message, state: FSMContext, settings: Settings) -> None:
    await _back_to_attachments(message, state, settings)


@router.callback_query(AppealsCb.filter(F.action == AppealAction.BACK), WriteAppeal.confirm)
async def summary_back(query: CallbackQuery, state: FSMContext, settings: Settings) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await _back_to_attachments(query.message, state, settings)


async def _back_to_attachments(message: Message, state: FSMContext, settings: Settings) -> None:
    files = (await state.get_data()).get("files", [])
    await state.set_state(WriteAppeal.attachments)
    await message.answer(
        texts.ask_attachments(settings.max_upload_mb), reply_markup=kb.attachments(len(files))
    )


@router.callback_query(AppealsCb.filter(F.action == AppealAction.SEND), ANY_STATE, LoggedIn())
async def send(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    bot: Bot,
    settings: Settings,
    staff: StaffDirectory,
    callback_answer: CallbackAnswer,
) -> None:
    message = query.message
    if not isinstance(message, Message) or await state.get_state() != WriteAppeal.confirm.state:
        callback_answer.text = common_texts.STALE_BUTTON  # the first press sent it already
        return
    callback_answer.disable()
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    data = await state.get_data()
    topic = AppealTopic(data["topic"])
    assert viewer is not None
    appeal = await appeals.create_appeal(
        session,
        login_id_of(viewer),
        account_id=viewer.account.id if viewer.account else None,
        topic=topic,
        text=data["text"],
        file_ids=[int(f["id"]) for f in data.get("files", [])],
        staff_chat_id=appeals.staff_chat_for(
            topic, settings.staff_chat_id, settings.anticorruption_chat_id
        ),
        now=clock.now(),
        year=clock.today().year,
    )
    await state.clear()
    await message.answer(texts.submitted(appeal), reply_markup=common_kb.main_menu())
    await staff_side.post_appeal(bot, settings, session, staff, clock, appeal)


# --- «Мои обращения» ---------------------------------------------------------------------------


def _pages(appeals_: list[AppealView], now: datetime, clock: Clock) -> list[list[AppealView]]:
    """Appeals packed into messages under Telegram's 4096 characters, newest first."""
    pages: list[list[AppealView]] = [[]]
    size = len(texts.MY_TITLE) + 40
    for appeal in appeals_:
        block = len(texts.appeal_block(appeal, now, clock.zone)) + 2
        page = pages[-1]
        if page and (size + block > PAGE_CHARS or len(page) >= PAGE_APPEALS):
            pages.append([])
            size = len(texts.MY_TITLE) + 40
        pages[-1].append(appeal)
        size += block
    return pages


@router.callback_query(AppealsCb.filter(F.action == AppealAction.LIST), ANY_STATE, LoggedIn())
@router.callback_query(AppealsCb.filter(F.action == AppealAction.PAGE), ANY_STATE, LoggedIn())
async def my_appeals(
    query: CallbackQuery,
    callback_data: AppealsCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
) -> None:
    if not isinstance(query.message, Message):
        return
    await state.clear()
    mine = await appeals.list_appeals(session, login_id_of(viewer))
    if not mine:
        await query.message.answer(texts.NO_APPEALS, reply_markup=kb.section())
        return
    now = clock.now()
    pages = _pages(mine, now, clock)
    page = min(max(callback_data.page, 0), len(pages) - 1)
    text = texts.my_appeals_page(
        [texts.appeal_block(a, now, clock.zone) for a in pages[page]], page, len(pages)
    )
    markup = kb.my_appeals(pages[page], now, page, len(pages))
    if callback_data.action is AppealAction.PAGE:
        await query.message.edit_text(text, reply_markup=markup)
    else:
        await query.message.answer(text, reply_markup=markup)


@router.callback_query(AppealsCb.filter(F.action == AppealAction.WRITE), ANY_STATE, LoggedIn())
async def start_follow_up(
    query: CallbackQuery,
    callback_data: AppealsCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        appeal = await appeals.get_appeal(session, callback_data.appeal_id)
    except NotFound:
        appeal = None
    if (
        appeal is None
        or appeal.login_id != login_id_of(viewer)
        or not isinstance(query.message, Message)
    ):
        callback_answer.text = texts.APPEAL_GONE
        return
    if not appeals.accepts_messages(appeal, clock.now()):
        await query.message.answer(texts.closed_long_ago(appeal.number), reply_markup=kb.section())
        return
    reopen = appeals.can_reopen(appeal, clock.now())
    await state.clear()
    await state.set_state(AddToAppeal.text)
    await state.update_data(appeal_id=appeal.id, number=appeal.number, reopen=reopen)
    await query.message.answer(
        texts.ask_follow_up(appeal.number, reopen), reply_markup=common_kb.cancel_reply()
    )


@router.message(AddToAppeal.attachments, FILES_DONE, LoggedIn())
async def follow_up_done(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    bot: Bot,
    settings: Settings,
    staff: StaffDirectory,
) -> None:
    data = await state.get_data()
    number = str(data.get("number", ""))
    try:
        follow_up = await appeals.add_subscriber_message(
            session,
            login_id_of(viewer),
            int(data["appeal_id"]),
            text=data["text"],
            file_ids=[int(f["id"]) for f in data.get("files", [])],
            now=clock.now(),
        )
    except appeals.AppealClosed:
        await state.clear()
        await message.answer(texts.closed_long_ago(number), reply_markup=common_kb.main_menu())
        return
    except NotFound:
        await state.clear()
        await message.answer(texts.APPEAL_GONE, reply_markup=common_kb.main_menu())
        return
    await state.clear()
    await message.answer(
        texts.follow_up_sent(follow_up.appeal.number, follow_up.reopened),
        reply_markup=common_kb.main_menu(),
    )
    await staff_side.post_follow_up(bot, settings, session, staff, clock, follow_up)
