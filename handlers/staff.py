"""The staff side: who counts as staff, and the appeals desk in the staff group chat.

Every staff action in any section (contract applications, appeals) asks `StaffDirectory`;
membership comes from Telegram's `getChatMember` and is cached briefly, so a removed member
loses access within a minute and a busy chat does not cost one API call per button press.

Appeals: each appeal gets a card in its staff chat (`STAFF_CHAT_ID`, or
`ANTICORRUPTION_CHAT_ID` for «Противодействие коррупции»), in a forum topic of its own when the
chat has topics. Staff answer by replying to any message of the appeal (or writing in its
topic); the bot relays the answer to the subscriber and keeps the card's status line current.
With privacy mode on, the bot sees exactly such replies and commands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, StateFilter
from aiogram.types import (
    CallbackQuery,
    FSInputFile,
    InputMediaDocument,
    Message,
    ReplyParameters,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.downloads import store_upload
from bot.settings import Settings
from bot.texts import appeals as texts
from keyboards import appeals as kb
from keyboards.appeals import StaffAppealAction, StaffAppealCb
from services import appeals
from services.appeals import AppealView, AttachmentView, FollowUp
from services.errors import NotFound
from services.files import FileTooLarge, UnsupportedFileType
from services.mailer import Letter, Mailer, MailNotSent

log = logging.getLogger(__name__)

STAFF_STATUSES = frozenset(
    {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)
CACHE_SECONDS = 60.0
MEDIA_GROUP_MAX = 10
TOPIC_WAIT_STEPS = 50  # × 0.2 s: how long another process may take to create a topic
router = Router(name="staff")
GROUPS = F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})


class StaffDirectory:
    """Answers «is this Telegram user staff?»; one per running bot (handlers get it as `staff`)."""

    def __init__(self, settings: Settings, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.chat_id = settings.staff_chat_id
        self.appeal_chats = frozenset(
            c for c in (settings.staff_chat_id, settings.anticorruption_chat_id) if c is not None
        )
        self._cache_seconds = cache_seconds
        self._cache: dict[tuple[int, int], tuple[float, bool]] = {}
        self._forums: dict[int, tuple[float, bool]] = {}
        self._topic_locks: dict[int, asyncio.Lock] = {}

    def is_staff_chat(self, chat_id: int) -> bool:
        return self.chat_id is not None and chat_id == self.chat_id

    def is_appeals_chat(self, chat_id: int) -> bool:
        return chat_id in self.appeal_chats

    async def is_staff(self, bot: Bot, user_id: int) -> bool:
        """A failed lookup (Telegram unreachable) is «no» and is not cached."""
        if self.chat_id is None:
            return False
        return await self.is_member(bot, self.chat_id, user_id)

    async def is_member(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        """Staff of that chat (the staff chat or the anti-corruption chat)."""
        now = time.monotonic()
        cached = self._cache.get((chat_id, user_id))
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except TelegramAPIError:
            log.warning("could not check staff membership of user %s", user_id)
            return False
        answer = member.status in STAFF_STATUSES
        self._cache[(chat_id, user_id)] = (now, answer)
        return answer

    async def is_forum(self, bot: Bot, chat_id: int) -> bool:
        """Whether the chat has topics (cached like membership; a failed lookup is «no»)."""
        now = time.monotonic()
        cached = self._forums.get(chat_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        try:
            chat = await bot.get_chat(chat_id)
        except TelegramAPIError:
            log.warning("could not read chat %s", chat_id)
            return False
        answer = bool(chat.is_forum)
        self._forums[chat_id] = (now, answer)
        return answer

    def topic_lock(self, appeal_id: int) -> asyncio.Lock:
        """Within this process, one handler at a time creates an appeal's topic (across
        processes the database claim in `services.appeals.claim_thread` decides)."""
        return self._topic_locks.setdefault(appeal_id, asyncio.Lock())


# --- the appeals desk: posting to the staff chat ----------------------------------------------


async def _ensure_topic(
    bot: Bot, session: AsyncSession, staff: StaffDirectory, clock: Clock, appeal: AppealView
) -> int | None:
    """The appeal's forum topic, created exactly once; None when the chat has no topics."""
    chat_id = appeal.staff_chat_id
    if chat_id is None or not await staff.is_forum(bot, chat_id):
        return None
    async with staff.topic_lock(appeal.id):
        for _ in range(TOPIC_WAIT_STEPS):
            thread_id, _claimed = await appeals.thread_state(session, appeal.id)
            if thread_id is not None:
                return thread_id
            if await appeals.claim_thread(session, appeal.id, now=clock.now()):
                try:
                    topic = await bot.create_forum_topic(chat_id, texts.topic_title(appeal))
                except TelegramAPIError as exc:
                    log.warning("could not create the topic of appeal %s: %s", appeal.id, exc)
                    await appeals.set_thread(session, appeal.id, None)
                    return None
                await appeals.set_thread(session, appeal.id, topic.message_thread_id)
                return topic.message_thread_id
            await asyncio.sleep(0.2)  # another bot process is creating it
    log.warning("gave up waiting for the topic of appeal %s", appeal.id)
    return None


async def _send_files(
    bot: Bot,
    settings: Settings,
    chat_id: int,
    files: Sequence[AttachmentView],
    *,
    caption: str,
    thread_id: int | None,
    reply_to: int | None,
) -> list[int]:
    """Attachments as documents named by the bot (`appeal-<number>-<n>.<ext>`), never by the
    sender; returns the ids of the messages sent."""
    reply = (
        ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
    )
    sent: list[int] = []
    for start in range(0, len(files), MEDIA_GROUP_MAX):
        chunk = files[start : start + MEDIA_GROUP_MAX]
        inputs = [
            FSInputFile(settings.upload_dir / f.storage_path, filename=f.staff_filename)
            for f in chunk
        ]
        try:
            if len(inputs) == 1:
                message = await bot.send_document(
                    chat_id, inputs[0], caption=caption, message_thread_id=thread_id,
                    reply_parameters=reply,
                )  # fmt: skip
                sent.append(message.message_id)
            else:
                media = [
                    InputMediaDocument(media=f, caption=caption if i == 0 else None)
                    for i, f in enumerate(inputs)
                ]
                messages = await bot.send_media_group(
                    chat_id, media=list(media), message_thread_id=thread_id, reply_parameters=reply
                )
                sent += [m.message_id for m in messages]
        except (TelegramAPIError, OSError):
            log.exception("could not send the attachments of an appeal to the staff chat")
    return sent


async def post_appeal(
    bot: Bot,
    settings: Settings,
    session: AsyncSession,
    staff: StaffDirectory,
    clock: Clock,
    appeal: AppealView,
) -> None:
    """The card (with its buttons) and the attachments, in the appeal's topic in a forum."""
    chat_id = appeal.staff_chat_id
    if chat_id is None:
        log.warning("STAFF_CHAT_ID is not set: appeal %s is not shown to staff", appeal.id)
        return
    thread_id = await _ensure_topic(bot, session, staff, clock, appeal)
    try:
        card = await bot.send_message(
            chat_id,
            texts.staff_card(appeal, clock.zone),
            reply_markup=kb.staff_card(appeal),
            message_thread_id=thread_id,
        )
    except TelegramAPIError:
        log.exception("could not post appeal %s to the staff chat", appeal.id)
        return
    await appeals.remember_staff_messages(session, appeal.id, chat_id, [card.message_id], card=True)
    first = appeal.first_message
    if first is not None and first.attachments:
        ids = await _send_files(
            bot, settings, chat_id, first.attachments,
            caption=texts.staff_attachments_caption(appeal.number), thread_id=thread_id,
            reply_to=card.message_id,
        )  # fmt: skip
        await appeals.remember_staff_messages(session, appeal.id, chat_id, ids)


async def post_follow_up(
    bot: Bot,
    settings: Settings,
    session: AsyncSession,
    staff: StaffDirectory,
    clock: Clock,
    follow_up: FollowUp,
) -> None:
    """The subscriber's new message under the same card (or in the same topic)."""
    appeal, last = follow_up.appeal, follow_up.message
    chat_id = appeal.staff_chat_id
    if chat_id is None:
        return
    thread_id = await _ensure_topic(bot, session, staff, clock, appeal)
    card = appeal.staff_card_message_id
    reply = (
        ReplyParameters(message_id=card, allow_sending_without_reply=True)
        if card and thread_id is None
        else None
    )
    await refresh_card(bot, appeal, clock)
    try:
        sent = await bot.send_message(
            chat_id,
            texts.staff_follow_up(appeal, last.body, reopened=follow_up.reopened),
            message_thread_id=thread_id,
            reply_parameters=reply,
        )
    except TelegramAPIError:
        log.exception("could not post a follow-up of appeal %s", appeal.id)
        return
    ids = [sent.message_id]
    if last.attachments:
        ids += await _send_files(
            bot, settings, chat_id, last.attachments,
            caption=texts.staff_attachments_caption(appeal.number), thread_id=thread_id,
            reply_to=sent.message_id,
        )  # fmt: skip
    await appeals.remember_staff_messages(session, appeal.id, chat_id, ids)


async def refresh_card(bot: Bot, appeal: AppealView, clock: Clock) -> None:
    """Keep the card's status line and buttons current (a card that did not change is fine)."""
    if appeal.staff_chat_id is None or appeal.staff_card_message_id is None:
        return
    try:
        await bot.edit_message_text(
            texts.staff_card(appeal, clock.zone),
            chat_id=appeal.staff_chat_id,
            message_id=appeal.staff_card_message_id,
            reply_markup=kb.staff_card(appeal),
        )
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            log.warning("could not update the card of appeal %s: %s", appeal.id, exc)
    except TelegramAPIError:
        log.warning("could not update the card of appeal %s", appeal.id)


# --- the appeals desk: staff actions -----------------------------------------------------------


@router.message(Command("help"), GROUPS)
async def staff_help(message: Message, bot: Bot, staff: StaffDirectory) -> None:
    if not await _member_in_appeals_chat(message, bot, staff):
        return
    await message.reply(texts.STAFF_HELP)


@router.message(Command("open"), GROUPS)
async def staff_open(
    message: Message, bot: Bot, session: AsyncSession, staff: StaffDirectory, clock: Clock
) -> None:
    if not await _member_in_appeals_chat(message, bot, staff):
        return
    waiting = await appeals.open_appeals(session, [message.chat.id])
    await message.reply(texts.open_list(waiting, clock.now()))


async def _member_in_appeals_chat(message: Message, bot: Bot, staff: StaffDirectory) -> bool:
    if not staff.is_appeals_chat(message.chat.id) or message.from_user is None:
        raise SkipHandler
    if not await staff.is_member(bot, message.chat.id, message.from_user.id):
        log.warning("ignored a command of non-member %s in the staff chat", message.from_user.id)
        return False
    return True


@router.callback_query(StaffAppealCb.filter())
async def staff_button(
    query: CallbackQuery,
    callback_data: StaffAppealCb,
    session: AsyncSession,
    bot: Bot,
    clock: Clock,
    staff: StaffDirectory,
    callback_answer: CallbackAnswer,
) -> None:
    message = query.message
    chat_id = message.chat.id if isinstance(message, Message) else 0
    if not staff.is_appeals_chat(chat_id) or not await staff.is_member(
        bot, chat_id, query.from_user.id
    ):
        log.warning("ignored a press of non-member %s on an appeal card", query.from_user.id)
        callback_answer.text = texts.STAFF_ONLY
        callback_answer.show_alert = True
        return
    name = query.from_user.full_name
    try:
        if callback_data.action is StaffAppealAction.TAKE:
            appeal, moved = await appeals.take(
                session, callback_data.appeal_id, staff_user_id=query.from_user.id,
                staff_name=name, now=clock.now(),
            )  # fmt: skip
            taken_by = appeal.taken_by_name or ""
            callback_answer.text = (
                texts.staff_taken(name) if moved else texts.staff_already_taken(taken_by)
            )
        else:
            appeal, moved = await appeals.close(
                session, callback_data.appeal_id, staff_user_id=query.from_user.id, now=clock.now()
            )
            callback_answer.text = texts.STAFF_CLOSED if moved else texts.STAFF_CLOSED_ALREADY
    except appeals.AlreadyClosed:
        callback_answer.text = texts.STAFF_CLOSED_ALREADY
        appeal = await appeals.get_appeal(session, callback_data.appeal_id)
    except NotFound:
        callback_answer.text = texts.STAFF_APPEAL_GONE
        return
    await refresh_card(bot, appeal, clock)


@router.message(GROUPS, StateFilter(None), F.text | F.photo | F.document | F.sticker | F.voice)
async def staff_answer(
    message: Message,
    session: AsyncSession,
    bot: Bot,
    settings: Settings,
    clock: Clock,
    staff: StaffDirectory,
    mailer: Mailer,
) -> None:
    """A reply to a message of an appeal (or a message in its topic) is the answer to it."""
    chat_id = message.chat.id
    author = message.from_user
    if not staff.is_appeals_chat(chat_id) or author is None or author.is_bot:
        raise SkipHandler
    reply_to = message.reply_to_message
    appeal_id = await appeals.find_appeal(
        session,
        chat_id,
        reply_to_message_id=reply_to.message_id if reply_to is not None else None,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        replied_text=_bot_text(reply_to, bot.id),
    )
    if appeal_id is None:
        raise SkipHandler  # ordinary talk in the staff chat
    if not await staff.is_member(bot, chat_id, author.id):
        log.warning("ignored a reply of non-member %s to appeal %s", author.id, appeal_id)
        return
    if message.text is None and not message.photo and message.document is None:
        await message.reply(texts.STAFF_UNSUPPORTED_ANSWER)
        return
    body = message.text or message.caption or ""
    file_ids = await _keep_staff_file(message, bot, session, settings)
    try:
        appeal = await appeals.record_staff_answer(
            session, appeal_id, staff_user_id=author.id, staff_name=author.full_name,
            body=body, file_ids=file_ids, chat_id=chat_id, message_id=message.message_id,
            now=clock.now(),
        )  # fmt: skip
    except appeals.AlreadyClosed:
        await message.reply(texts.STAFF_ALREADY_CLOSED)
        return
    delivered = await _relay(message, bot, session, appeal, author.full_name, body)
    await refresh_card(bot, appeal, clock)
    if delivered:
        await message.reply(texts.STAFF_ANSWER_SENT)
    else:
        mailed = await _mail_answer(mailer, appeal, author.full_name, body)
        await message.reply(texts.staff_undelivered(mailed))


def _bot_text(message: Message | None, bot_id: int) -> str | None:
    if message is None or message.from_user is None or message.from_user.id != bot_id:
        return None
    return message.text or message.caption


async def _keep_staff_file(
    message: Message, bot: Bot, session: AsyncSession, settings: Settings
) -> list[int]:
    """A staff photo or PDF is stored with the answer; another file is relayed but not kept."""
    if not message.photo and message.document is None:
        return []
    try:
        stored = await store_upload(bot, message, session, settings)
    except (FileTooLarge, UnsupportedFileType, TelegramAPIError):
        return []
    return [stored.id]


async def _relay(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    appeal: AppealView,
    staff_name: str,
    body: str,
) -> bool:
    """Send the answer to every chat of the subscriber; True if at least one got it."""
    delivered = False
    for chat in await appeals.subscriber_chats(session, appeal.login_id):
        try:
            if message.photo:
                await bot.send_photo(
                    chat, message.photo[-1].file_id,
                    caption=texts.answer_caption(appeal.number, staff_name, body),
                )  # fmt: skip
            elif message.document is not None:
                await bot.send_document(
                    chat, message.document.file_id,
                    caption=texts.answer_caption(appeal.number, staff_name, body),
                )  # fmt: skip
            else:
                await bot.send_message(
                    chat, texts.answer_to_subscriber(appeal.number, staff_name, body)
                )
        except TelegramForbiddenError:
            log.info("appeal %s: the subscriber's chat %s blocked the bot", appeal.id, chat)
        except TelegramAPIError:
            log.warning("could not relay an answer to appeal %s", appeal.id)
        else:
            delivered = True
    return delivered


async def _mail_answer(mailer: Mailer, appeal: AppealView, staff_name: str, body: str) -> bool:
    """The fallback for a subscriber the bot cannot reach: the answer by e-mail to the login."""
    if not appeal.email:
        return False
    letter = Letter(
        to=appeal.email,
        subject=texts.answer_letter_subject(appeal.number),
        text=texts.answer_letter_text(appeal.number, staff_name, body),
        html=texts.answer_letter_html(appeal.number, staff_name, body),
    )
    try:
        await mailer.send(letter)
    except MailNotSent:
        log.warning("could not e-mail the answer to appeal %s", appeal.id)
        return False
    return True
