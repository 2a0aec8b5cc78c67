"""Contract applications: the subscriber's dialog and «Мои заявки», and the staff chat's buttons.

In the staff group the bot runs in privacy mode, so staff answer the bot's prompts by replying
to them; the staff member's FSM state (per group and user) remembers which prompt is open.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    FSInputFile,
    InputMediaDocument,
    Message,
    ReplyParameters,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.downloads import download, file_of
from bot.filters import LoggedIn, login_id_of
from bot.settings import Settings
from bot.texts import common as common_texts
from bot.texts import contracts as texts
from handlers.staff import StaffDirectory
from keyboards import common as common_kb
from keyboards import contracts as kb
from keyboards.contracts import ContractAction, ContractsCb, StaffAction, StaffCb
from models import ApplicationStatus, ObjectType
from services import contracts
from services.contracts import ApplicationView, DocumentKind, DocumentView
from services.errors import NotFound
from services.files import FileTooLarge, UnsupportedFileType, UploadQuotaExceeded, store_file
from services.identity import Viewer

router = Router(name="contracts")
log = logging.getLogger(__name__)

MEDIA_GROUP_MAX = 10


class ApplyForContract(StatesGroup):
    object_type = State()
    address = State()
    documents = State()
    confirm = State()


class SendRequestedDocuments(StatesGroup):
    files = State()


class StaffReply(StatesGroup):
    comment = State()
    reason = State()
    account = State()


# --- the application dialog ------------------------------------------------------------------


@router.callback_query(ContractsCb.filter(F.action == ContractAction.NEW), LoggedIn())
async def start(query: CallbackQuery, state: FSMContext) -> None:
    if isinstance(query.message, Message):
        await state.clear()
        await state.set_state(ApplyForContract.object_type)
        await query.message.answer(texts.APPLY_OBJECT, reply_markup=kb.object_types())


@router.callback_query(
    ContractsCb.filter(F.action == ContractAction.OBJECT), ApplyForContract.object_type
)
async def choose_object(
    query: CallbackQuery,
    callback_data: ContractsCb,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    if callback_data.value not in {o.value for o in ObjectType} or not isinstance(
        query.message, Message
    ):
        callback_answer.text = common_texts.STALE_BUTTON
        return
    kind = ObjectType(callback_data.value)
    await state.update_data(object_type=kind.value)
    await query.message.edit_text(
        common_texts.chosen(texts.APPLY_OBJECT, texts.OBJECT_TYPE_NAMES[kind]), reply_markup=None
    )
    await state.set_state(ApplyForContract.address)
    await query.message.answer(texts.APPLY_ADDRESS, reply_markup=common_kb.back_cancel())


@router.message(ApplyForContract.address, F.text == common_texts.BTN_BACK)
async def address_back(message: Message, state: FSMContext) -> None:
    await state.set_state(ApplyForContract.object_type)
    await message.answer(texts.APPLY_OBJECT, reply_markup=kb.object_types())


@router.message(ApplyForContract.address, F.text)
async def enter_address(message: Message, state: FSMContext, settings: Settings) -> None:
    try:
        address = contracts.clean_address(message.text or "")
    except contracts.BadAddress:
        await message.answer(texts.APPLY_ADDRESS_BAD, reply_markup=common_kb.back_cancel())
        return
    data = await state.get_data()
    await state.update_data(address=address, step=0, docs=data.get("docs", {}))
    await _ask_document(message, state, settings)


async def _ask_document(message: Message, state: FSMContext, settings: Settings) -> None:
    data = await state.get_data()
    requirements = contracts.requirements(ObjectType(data["object_type"]))
    step = int(data["step"])
    await state.set_state(ApplyForContract.documents)
    await message.answer(
        texts.document_prompt(
            requirements[step], step + 1, len(requirements), settings.max_upload_mb
        ),
        reply_markup=kb.documents_step(optional=not requirements[step].required),
    )


async def _store_upload(
    message: Message, bot: Bot, session: AsyncSession, settings: Settings, login_id: int
) -> int | None:
    """Download, check, clean and save the file of a message; answers the reason when refused."""
    file_id, unique_id, size, filename = file_of(message)
    try:
        data = await download(bot, file_id, size, settings.max_upload_mb)
        stored = await store_file(
            session,
            settings.upload_dir,
            data,
            filename=filename,
            limit_mb=settings.max_upload_mb,
            telegram_file_id=file_id,
            telegram_file_unique_id=unique_id,
            clean=True,
            login_id=login_id,
            quota=settings.upload_quota,
        )
    except FileTooLarge as exc:
        await message.answer(texts.file_too_big(exc.limit_mb))
        return None
    except UnsupportedFileType:
        await message.answer(texts.UNSUPPORTED_FILE)
        return None
    except UploadQuotaExceeded as exc:
        await message.answer(texts.upload_quota_exceeded(exc.quota.files, exc.quota.megabytes))
        return None
    await session.commit()
    return stored.id


@router.message(ApplyForContract.documents, F.photo | F.document, LoggedIn())
async def upload_document(
    message: Message,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    viewer: Viewer | None,
) -> None:
    data = await state.get_data()
    kind = contracts.requirements(ObjectType(data["object_type"]))[int(data["step"])].kind
    docs: dict[str, list[int]] = data.get("docs", {})
    if len(docs.get(kind.value, [])) >= contracts.MAX_FILES_PER_KIND:
        await message.answer(texts.TOO_MANY_FILES)
        return
    stored_id = await _store_upload(message, bot, session, settings, login_id_of(viewer))
    if stored_id is None:
        return
    docs.setdefault(kind.value, []).append(stored_id)
    await state.update_data(docs=docs)
    await message.answer(texts.file_received(kind, len(docs[kind.value])))


@router.message(ApplyForContract.documents, F.text.in_({texts.BTN_DONE, texts.BTN_SKIP}))
async def document_done(message: Message, state: FSMContext, settings: Settings) -> None:
    data = await state.get_data()
    object_type = ObjectType(data["object_type"])
    requirements = contracts.requirements(object_type)
    step = int(data["step"])
    docs: dict[str, list[int]] = data.get("docs", {})
    if requirements[step].required and not docs.get(requirements[step].kind.value):
        await message.answer(texts.DOCUMENT_REQUIRED)
        return
    if step + 1 < len(requirements):
        await state.update_data(step=step + 1)
        await _ask_document(message, state, settings)
        return
    await state.set_state(ApplyForContract.confirm)
    await message.answer(
        texts.apply_summary(object_type, data["address"], _counts(docs)),
        reply_markup=kb.summary(),
    )


def _counts(docs: dict[str, list[int]]) -> dict[DocumentKind, int]:
    return {DocumentKind(kind): len(ids) for kind, ids in docs.items() if ids}


@router.message(ApplyForContract.documents, F.text == common_texts.BTN_BACK)
async def document_back(message: Message, state: FSMContext, settings: Settings) -> None:
    data = await state.get_data()
    step = int(data["step"])
    if step == 0:
        await state.set_state(ApplyForContract.address)
        await message.answer(texts.APPLY_ADDRESS, reply_markup=common_kb.back_cancel())
        return
    await state.update_data(step=step - 1)
    await _ask_document(message, state, settings)


@router.message(ApplyForContract.documents)
async def document_expected(message: Message) -> None:
    await message.answer(texts.DOCUMENT_EXPECTED)


@router.message(ApplyForContract.confirm, F.text == common_texts.BTN_BACK)
async def summary_back_typed(message: Message, state: FSMContext, settings: Settings) -> None:
    await _ask_document(message, state, settings)


@router.callback_query(
    ContractsCb.filter(F.action == ContractAction.BACK), ApplyForContract.confirm
)
async def summary_back(query: CallbackQuery, state: FSMContext, settings: Settings) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await _ask_document(query.message, state, settings)


@router.callback_query(
    ContractsCb.filter(F.action == ContractAction.SAVE), ApplyForContract.confirm, LoggedIn()
)
async def save(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    bot: Bot,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    if not isinstance(query.message, Message):
        return
    if await state.get_state() != ApplyForContract.confirm.state:  # the first press did it
        callback_answer.text = common_texts.STALE_BUTTON
        return
    callback_answer.disable()
    await query.answer()
    message = query.message
    await message.edit_reply_markup(reply_markup=None)
    data = await state.get_data()
    app = await contracts.submit_application(
        session,
        login_id_of(viewer),
        object_type=ObjectType(data["object_type"]),
        address=data["address"],
        documents=data.get("docs", {}),
        now=clock.now(),
        year=clock.today().year,
        staff_chat_id=settings.staff_chat_id,
    )
    await state.clear()
    await message.answer(
        texts.submitted(app, staff_chat=settings.staff_chat_id is not None),
        reply_markup=common_kb.main_menu(),
    )
    await _post_card_now(bot, settings, session, app.id)


# --- «Мои заявки» and documents sent on request ----------------------------------------------


@router.callback_query(ContractsCb.filter(F.action == ContractAction.LIST), LoggedIn())
async def my_applications(
    query: CallbackQuery, session: AsyncSession, viewer: Viewer | None
) -> None:
    if isinstance(query.message, Message):
        mine = await contracts.list_applications(session, login_id_of(viewer))
        await query.message.answer(
            texts.applications_list(mine), reply_markup=kb.applications(mine)
        )


@router.callback_query(ContractsCb.filter(F.action == ContractAction.PAGE), LoggedIn())
async def applications_page(
    query: CallbackQuery,
    callback_data: ContractsCb,
    session: AsyncSession,
    viewer: Viewer | None,
    callback_answer: CallbackAnswer,
) -> None:
    if not isinstance(query.message, Message) or not callback_data.value.isdigit():
        callback_answer.text = common_texts.STALE_BUTTON
        return
    mine = await contracts.list_applications(
        session, login_id_of(viewer), page=int(callback_data.value)
    )
    try:
        await query.message.edit_text(
            texts.applications_list(mine), reply_markup=kb.applications(mine)
        )
    except TelegramBadRequest:
        callback_answer.text = common_texts.STALE_BUTTON  # unchanged: a double press


@router.callback_query(ContractsCb.filter(F.action == ContractAction.MORE), LoggedIn())
async def start_more(
    query: CallbackQuery,
    callback_data: ContractsCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        app = await contracts.get_application(session, callback_data.application_id)
    except NotFound:
        app = None
    if (
        app is None
        or app.login_id != login_id_of(viewer)
        or app.status is not ApplicationStatus.DOCUMENTS_REQUESTED
        or not isinstance(query.message, Message)
    ):
        callback_answer.text = texts.APPLICATION_GONE
        return
    await state.clear()
    await state.set_state(SendRequestedDocuments.files)
    await state.update_data(application_id=app.id, files=[])
    await query.message.answer(
        texts.send_more_prompt(app, settings.max_upload_mb), reply_markup=kb.more_documents()
    )


@router.message(SendRequestedDocuments.files, F.photo | F.document, LoggedIn())
async def upload_more(
    message: Message,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    viewer: Viewer | None,
) -> None:
    files: list[int] = (await state.get_data()).get("files", [])
    if len(files) >= contracts.MAX_FILES_PER_KIND:
        await message.answer(texts.TOO_MANY_FILES)
        return
    stored_id = await _store_upload(message, bot, session, settings, login_id_of(viewer))
    if stored_id is None:
        return
    files.append(stored_id)
    await state.update_data(files=files)
    await message.answer(texts.file_received(DocumentKind.OTHER, len(files)))


@router.message(SendRequestedDocuments.files, F.text == texts.BTN_DONE, LoggedIn())
async def more_done(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer | None,
    clock: Clock,
    bot: Bot,
    settings: Settings,
) -> None:
    data = await state.get_data()
    files: list[int] = data.get("files", [])
    if not files:
        await message.answer(texts.DOCUMENT_REQUIRED)
        return
    try:
        app = await contracts.add_documents(
            session, login_id_of(viewer), int(data["application_id"]), files, now=clock.now()
        )
    except (NotFound, contracts.AlreadyDecided):
        await state.clear()
        await message.answer(texts.APPLICATION_GONE, reply_markup=common_kb.main_menu())
        return
    await state.clear()
    await message.answer(texts.more_sent(app.number), reply_markup=common_kb.main_menu())
    added = [d for d in app.documents if d.stored_file_id in set(files)]
    await _refresh_card(bot, settings, app)
    if settings.staff_chat_id is not None and app.staff_chat_message_id is not None:
        await _send_documents(
            bot,
            settings,
            app.number,
            added,
            app.staff_chat_message_id,
            texts.more_documents_caption(app.number),
        )


@router.message(SendRequestedDocuments.files)
async def more_expected(message: Message) -> None:
    await message.answer(texts.DOCUMENT_EXPECTED)


# --- the staff chat ----------------------------------------------------------------------------


async def post_card(
    bot: Bot, settings: Settings, session: AsyncSession, application_id: int
) -> None:
    """Post the application's card and its documents to the staff chat, once.

    The outbox sender of CARD_KIND (scheduler/outbox.py) and the save handler call it; a
    Telegram or network error propagates, so the outbox retries.
    """
    app = await contracts.get_application(session, application_id)
    if app.staff_chat_message_id is not None or app.status not in contracts.OPEN_STATUSES:
        return  # posted already (a retry after a lost answer), or decided
    if settings.staff_chat_id is None:
        log.warning("STAFF_CHAT_ID is not set: application %s waits for a staff chat", app.id)
        return  # queued again by the maintenance job once a staff chat is configured
    card = await bot.send_message(
        settings.staff_chat_id, texts.staff_card(app), reply_markup=kb.staff_card(app)
    )
    await contracts.card_posted(session, app.id, card.message_id)
    await _send_documents(
        bot, settings, app.number, app.documents, card.message_id,
        texts.documents_caption(app.number),
    )  # fmt: skip


async def _post_card_now(
    bot: Bot, settings: Settings, session: AsyncSession, application_id: int
) -> None:
    if settings.staff_chat_id is None:
        log.warning("STAFF_CHAT_ID is not set: staff do not see application %s", application_id)
        return
    try:
        await post_card(bot, settings, session, application_id)
    except (TelegramAPIError, OSError) as exc:
        log.warning("could not post application %s to the staff chat: %s", application_id, exc)
        await contracts.card_failed(session, application_id, str(exc))


async def _send_documents(
    bot: Bot,
    settings: Settings,
    number: str,
    documents: Sequence[DocumentView],
    reply_to: int | None,
    caption: str,
) -> None:
    """The files as documents, in albums of up to ten, under the application's card.

    Each is named by the bot (`texts.staff_file_name`), never by the applicant.
    """
    assert settings.staff_chat_id is not None
    reply = (
        ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
    )
    for start in range(0, len(documents), MEDIA_GROUP_MAX):
        chunk = documents[start : start + MEDIA_GROUP_MAX]
        files = [
            FSInputFile(
                settings.upload_dir / d.storage_path, filename=texts.staff_file_name(d, number)
            )
            for d in chunk
        ]
        try:
            if len(files) == 1:
                await bot.send_document(
                    settings.staff_chat_id, files[0], caption=caption, reply_parameters=reply
                )
            else:
                media = [
                    InputMediaDocument(media=f, caption=caption if i == 0 else None)
                    for i, f in enumerate(files)
                ]
                await bot.send_media_group(
                    settings.staff_chat_id, media=list(media), reply_parameters=reply
                )
        except (TelegramAPIError, OSError):
            log.exception("could not send documents to the staff chat")


async def _refresh_card(
    bot: Bot, settings: Settings, app: ApplicationView, decided_by: str | None = None
) -> None:
    if settings.staff_chat_id is None or app.staff_chat_message_id is None:
        return
    markup = kb.staff_card(app)
    try:
        await bot.edit_message_text(
            texts.staff_card(app, decided_by=decided_by),
            chat_id=settings.staff_chat_id,
            message_id=app.staff_chat_message_id,
            reply_markup=markup,
        )
    except TelegramAPIError:
        log.warning("could not update the staff card of application %s", app.id)


PROMPTS = {
    StaffAction.REQUEST: (StaffReply.comment, texts.prompt_comment, texts.PLACEHOLDER_COMMENT),
    StaffAction.REJECT: (StaffReply.reason, texts.prompt_reason, texts.PLACEHOLDER_COMMENT),
    StaffAction.APPROVE: (StaffReply.account, texts.prompt_account, texts.PLACEHOLDER_ACCOUNT),
}
PLACEHOLDERS = {str(state.state): placeholder for state, _, placeholder in PROMPTS.values()}


@router.callback_query(StaffCb.filter())
async def staff_button(
    query: CallbackQuery,
    callback_data: StaffCb,
    state: FSMContext,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
    staff: StaffDirectory,
) -> None:
    message = query.message
    in_staff_chat = isinstance(message, Message) and staff.is_staff_chat(message.chat.id)
    if not in_staff_chat or not await staff.is_staff(bot, query.from_user.id):
        callback_answer.text = texts.STAFF_ONLY
        callback_answer.show_alert = True
        return
    assert isinstance(message, Message)
    try:
        app = await contracts.get_application(session, callback_data.application_id)
    except NotFound:
        callback_answer.text = texts.STAFF_CARD_GONE
        return
    if app.status not in contracts.OPEN_STATUSES:
        callback_answer.text = texts.staff_already_decided(app.status)
        await _refresh_card(bot, settings, app)
        return
    staff_name = query.from_user.full_name
    if callback_data.action in (StaffAction.LINK, StaffAction.KEEP):
        await _decide_link(query, callback_data, session, bot, settings, clock, callback_answer)
        return
    if callback_data.action is StaffAction.TAKE:
        try:
            app = await contracts.take_in_work(
                session, app.id, now=clock.now(), staff_user_id=query.from_user.id
            )
        except contracts.AlreadyDecided as exc:
            callback_answer.text = texts.staff_already_decided(exc.status)
            return
        await _refresh_card(bot, settings, app, decided_by=staff_name)
        callback_answer.text = texts.staff_done(app)
        return
    next_state, prompt, placeholder = PROMPTS[callback_data.action]
    # The state is set before the prompt is visible, so an instant reply finds it.
    await state.set_state(next_state)
    await state.set_data({"application_id": app.id, "prompt_ids": []})
    sent = await message.answer(
        prompt(app.number, query.from_user.id, staff_name),
        reply_markup=ForceReply(selective=True, input_field_placeholder=placeholder),
        reply_parameters=ReplyParameters(message_id=message.message_id),
    )
    await state.update_data(prompt_ids=[sent.message_id])


async def _decide_link(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    """Staff saw the existing account beside the application: link it, or not."""
    message = query.message
    assert isinstance(message, Message)
    staff_name = query.from_user.full_name
    ids = (callback_data.application_id, callback_data.account_id)
    if callback_data.action is StaffAction.KEEP:
        app, account_number = await contracts.decline_existing(
            session, *ids, now=clock.now(), staff_user_id=query.from_user.id
        )
        declined = texts.staff_link_declined(app.number, account_number, staff_name)
        await message.edit_text(message.html_text + "\n\n" + declined, reply_markup=None)
        return
    try:
        app = await contracts.link_existing(
            session, *ids, now=clock.now(), staff_user_id=query.from_user.id
        )
    except contracts.AccountNumberTaken as exc:
        callback_answer.text = texts.staff_link_taken(str(exc))
        callback_answer.show_alert = True
        return
    except contracts.AlreadyDecided as exc:
        callback_answer.text = texts.staff_already_decided(exc.status)
        return
    await message.edit_text(
        message.html_text
        + "\n\n"
        + texts.staff_link_confirmed(app.account_number or "", staff_name),
        reply_markup=None,
    )
    await _refresh_card(bot, settings, app, decided_by=staff_name)
    await message.reply(texts.staff_done(app))


async def _reask(message: Message, state: FSMContext, text: str) -> None:
    """Say what was wrong as a new prompt: the staff member replies to it (or to the first one)."""
    sent = await message.reply(
        text,
        reply_markup=ForceReply(
            selective=True,
            input_field_placeholder=PLACEHOLDERS.get(await state.get_state() or ""),
        ),
    )
    data = await state.get_data()
    await state.update_data(prompt_ids=[*_prompt_ids(data), sent.message_id])


def _prompt_ids(data: dict[str, Any]) -> list[int]:
    """The bot's prompts a staff reply may answer (the first one and every re-ask)."""
    return [int(i) for i in data.get("prompt_ids", [])]


@router.message(
    StateFilter(StaffReply.comment, StaffReply.reason, StaffReply.account),
    F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}),
    F.reply_to_message,
)
async def staff_reply(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    clock: Clock,
    staff: StaffDirectory,
) -> None:
    data = await state.get_data()
    reply_to = message.reply_to_message
    prompt_ids = _prompt_ids(data)
    if (
        message.chat.id != settings.staff_chat_id
        or reply_to is None
        or reply_to.from_user is None
        or reply_to.from_user.id != bot.id
        or (prompt_ids and reply_to.message_id not in prompt_ids)
        or message.from_user is None
    ):
        return  # a reply to something else: not for this prompt
    if not await staff.is_staff(bot, message.from_user.id):
        await state.clear()
        await message.reply(texts.STAFF_ONLY)
        return
    text = (message.text or "").strip()
    if not text:
        await _reask(message, state, texts.STAFF_TEXT_EXPECTED)
        return
    current = await state.get_state()
    application_id = int(data["application_id"])
    staff_id = message.from_user.id
    now = clock.now()
    try:
        if current == StaffReply.account.state:
            app = await contracts.approve(
                session, application_id, text, now=now, staff_user_id=staff_id
            )
        elif current == StaffReply.reason.state:
            app = await contracts.reject(
                session, application_id, text, now=now, staff_user_id=staff_id
            )
        else:
            app = await contracts.request_documents(
                session, application_id, text, now=now, staff_user_id=staff_id
            )
    except contracts.AccountNumberInvalid:
        await _reask(message, state, texts.STAFF_ACCOUNT_BAD)
        return
    except contracts.AccountNumberTaken as exc:
        await _reask(message, state, texts.staff_account_taken(str(exc)))
        return
    except contracts.AccountNeedsConfirmation as exc:
        await state.clear()
        number = (await contracts.get_application(session, application_id)).number
        await message.reply(
            texts.staff_account_compare(number, exc.match),
            reply_markup=kb.confirm_link(application_id, exc.match),
        )
        return
    except contracts.AlreadyDecided as exc:
        await state.clear()
        await message.reply(texts.staff_already_decided(exc.status))
        return
    except NotFound:
        await state.clear()
        await message.reply(texts.STAFF_CARD_GONE)
        return
    await state.clear()
    await _refresh_card(bot, settings, app, decided_by=message.from_user.full_name)
    await message.reply(texts.staff_done(app))
