"""Scripted people for end-to-end tests: a private-chat user and members of a staff group.

They act like a Telegram client (send text, press buttons, share a contact, upload files, pay)
and wait for what the bot shows, failing with a readable chat transcript instead of a timeout.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from emulator.formatting import command_entities
from emulator.state import (
    BotMessage,
    CallbackAnswer,
    ChatMessage,
    ChatState,
    UserMessage,
    wait_until,
)

if TYPE_CHECKING:
    from emulator.server import BotAPIEmulator

# How long a scripted person waits for the bot. Generous: a test that passes waits only as long
# as the reply takes, and a busy machine (parallel test workers) must not fail a correct bot.
REPLY_TIMEOUT = 15.0


class Participant:
    """Someone who writes in one chat; shared by private users and group members."""

    def __init__(self, emu: BotAPIEmulator, chat: ChatState, info: dict[str, Any]) -> None:
        self.emu = emu
        self.chat = chat
        self.info = info
        self.last_action_seq = 0
        self.phone = f"7999{self.id % 10_000_000:07d}"
        self.last_update: dict[str, Any] | None = None
        self._last_callback_id: str | None = None

    @property
    def id(self) -> int:
        return int(self.info["id"])

    @property
    def messages(self) -> list[ChatMessage]:
        """The chat as the person sees it now: edits applied, deleted messages gone."""
        return [m for m in self.chat.messages.values() if not m.deleted and not m.service]

    @property
    def bot_messages(self) -> list[BotMessage]:
        return [m for m in self.messages if isinstance(m, BotMessage)]

    def transcript(self, last: int = 15) -> str:
        return self.chat.transcript(last)

    def checkpoint(self) -> None:
        """Treat «now» as the last action, so `expect` ignores what the bot sent before."""
        self.last_action_seq = self.emu.seq

    # ------------------------------------------------------------ acting

    def _message(self, *, thread_id: int | None = None) -> UserMessage:
        message = UserMessage(self.chat, self.chat.allocate_id(), self.info)
        if thread_id is not None:
            message.message_thread_id = thread_id
        return message

    def _deliver(self, message: UserMessage, extra: dict[str, Any] | None = None) -> None:
        self.chat.bot_allowed = True
        self.emu.add_message(self.chat, message)
        payload = message.to_api()
        if extra:
            payload.update(extra)
        self._push("message", payload)

    def _push(self, kind: str, payload: dict[str, Any]) -> None:
        self.last_update = self.emu.push_update(kind, payload, self.chat.id)
        self.last_action_seq = self.emu.seq

    async def send(
        self,
        text: str,
        *,
        reply_to: ChatMessage | None = None,
        thread_id: int | None = None,
    ) -> UserMessage:
        """Type and send a text message (commands get bot_command entities, as in real clients)."""
        message = self._message(thread_id=thread_id)
        message.text = text
        message.html = text
        message.entities = command_entities(text)
        self._in_reply(message, reply_to)
        self._deliver(message)
        return message

    async def reply(self, to: ChatMessage, text: str) -> UserMessage:
        """Reply to a message (the update carries the full reply_to_message)."""
        return await self.send(text, reply_to=to)

    async def share_contact(
        self, phone: str, *, own: bool = True, first_name: str | None = None
    ) -> UserMessage:
        """Share a contact; `own=False` shares someone else's (contact.user_id differs)."""
        message = self._message()
        message.contact = {
            "phone_number": phone,
            "first_name": first_name or (self.info["first_name"] if own else "Другой"),
            "user_id": self.id if own else self.id + 7_000_000,
        }
        if own and self.info.get("last_name"):
            message.contact["last_name"] = self.info["last_name"]
        self._deliver(message)
        return message

    def _in_reply(self, message: UserMessage, reply_to: ChatMessage | None) -> None:
        if reply_to is not None:
            message.reply_to = reply_to
            if reply_to.message_thread_id is not None and message.message_thread_id is None:
                message.message_thread_id = reply_to.message_thread_id

    async def send_document(
        self,
        data: bytes,
        *,
        filename: str,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        reply_to: ChatMessage | None = None,
        thread_id: int | None = None,
    ) -> UserMessage:
        message = self._message(thread_id=thread_id)
        message.document = self.emu.store_file(
            data, filename=filename, mime_type=mime_type, kind="documents"
        )
        message.caption = caption
        self._in_reply(message, reply_to)
        self._deliver(message)
        return message

    async def send_photo(
        self,
        data: bytes,
        *,
        caption: str | None = None,
        reply_to: ChatMessage | None = None,
        thread_id: int | None = None,
    ) -> UserMessage:
        message = self._message(thread_id=thread_id)
        message.photo = self.emu.store_file(
            data, filename=None, mime_type="image/jpeg", kind="photos"
        )
        message.caption = caption
        self._in_reply(message, reply_to)
        self._deliver(message)
        return message

    async def send_content(self, kind: str, payload: dict[str, Any]) -> UserMessage:
        """Send a message of another kind, `kind` being its Bot API field («sticker»,
        «location», «poll», …) and `payload` that object."""
        message = self._message()
        message.content = {kind: payload}
        self._deliver(message)
        return message

    def _media(self, kind: str, stored_type: str, **fields: Any) -> dict[str, Any]:
        stored = self.emu.store_file(b"\0" * 64, filename=None, mime_type=stored_type, kind=kind)
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": stored.size, **fields}  # fmt: skip

    async def send_sticker(self, emoji: str = "👍") -> UserMessage:
        sticker = self._media("stickers", "image/webp", type="regular", width=512, height=512,
                              is_animated=False, is_video=False, emoji=emoji)  # fmt: skip
        return await self.send_content("sticker", sticker)

    async def send_voice(self, seconds: int = 3) -> UserMessage:
        return await self.send_content(
            "voice", self._media("voice", "audio/ogg", duration=seconds, mime_type="audio/ogg")
        )

    async def send_video(self, seconds: int = 5) -> UserMessage:
        video = self._media("videos", "video/mp4", width=640, height=360, duration=seconds)
        return await self.send_content("video", video)

    async def send_video_note(self, seconds: int = 5) -> UserMessage:
        note = self._media("video_notes", "video/mp4", length=240, duration=seconds)
        return await self.send_content("video_note", note)

    async def send_location(self, latitude: float = 53.41, longitude: float = 58.98) -> UserMessage:
        return await self.send_content("location", {"latitude": latitude, "longitude": longitude})

    async def send_poll(self, question: str, options: list[str]) -> UserMessage:
        poll = {
            "id": self.emu.new_id("poll"),
            "question": question,
            "options": [
                {"persistent_id": str(n), "text": option, "voter_count": 0}
                for n, option in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
        return await self.send_content("poll", poll)

    async def edit(self, message: UserMessage, text: str) -> None:
        """Edit a text message sent earlier; the bot gets an `edited_message` update."""
        message.text = message.html = text
        message.entities = command_entities(text)
        message.edit_date = int(time.time())
        message.edited_count += 1
        self._push("edited_message", message.to_api())

    async def deliver_again(self) -> None:
        """Deliver the last update once more with the same update_id (a lost webhook reply)."""
        if self.last_update is None:
            raise AssertionError("nothing was delivered yet")
        self.emu.enqueue(self.last_update, self.chat.id, redelivery=True)
        self.last_action_seq = self.emu.seq

    # ------------------------------------------------------------ buttons

    def _find_inline(
        self, caption: str, message: ChatMessage | None
    ) -> tuple[ChatMessage, dict[str, Any]] | None:
        if message is not None:
            if message.deleted:
                raise AssertionError(
                    f"message #{message.message_id} was deleted; cannot press {caption!r}\n"
                    + self.transcript()
                )
            candidates: list[ChatMessage] = [message]
        else:
            candidates = [
                m
                for m in reversed(self.chat.messages.values())
                if m.from_bot and not m.deleted and m.inline_keyboard
            ]
        for candidate in candidates:
            for row in candidate.inline_keyboard:
                for button in row:
                    if button.get("text") == caption:
                        return candidate, button
        for candidate in candidates:
            found = [
                b
                for row in candidate.inline_keyboard
                for b in row
                if caption in str(b.get("text", ""))
            ]
            if len(found) > 1:
                names = ", ".join(repr(b.get("text")) for b in found)
                raise AssertionError(
                    f"{caption!r} matches several buttons of message #{candidate.message_id}: "
                    f"{names}\n" + self.transcript()
                )
            if found:
                return candidate, found[0]
        return None

    def _find_reply_button(self, caption: str) -> dict[str, Any] | None:
        keyboard = self.chat.reply_keyboard
        if not keyboard:
            return None
        buttons = [
            {"text": b} if isinstance(b, str) else b
            for row in keyboard.get("keyboard", [])
            for b in row
        ]
        for button in buttons:
            if button.get("text") == caption:
                return button
        found = [b for b in buttons if caption in str(b.get("text", ""))]
        if len(found) > 1:
            raise AssertionError(
                f"{caption!r} matches several reply keyboard buttons\n" + self.transcript()
            )
        return found[0] if found else None

    async def press(self, caption: str, *, message: ChatMessage | None = None) -> None:
        """Press an inline button (newest message first) or a button of the reply keyboard."""
        found = self._find_inline(caption, message)
        if found is not None:
            await self.press_button(found[0], found[1])
            return
        if message is None:
            button = self._find_reply_button(caption)
            if button is not None:
                await self._press_reply(button)
                return
        where = f"message #{message.message_id}" if message else "the chat"
        raise AssertionError(f"no button {caption!r} in {where}\n" + self.transcript())

    async def press_at(self, message: ChatMessage, row: int, column: int) -> None:
        """Press the inline button at (row, column), both counted from 0."""
        await self.press_button(message, message.inline_keyboard[row][column])

    async def press_button(self, message: ChatMessage, button: dict[str, Any]) -> None:
        if "callback_data" in button:
            query_id = self.emu.register_callback(self.chat)
            self._last_callback_id = query_id
            self._push(
                "callback_query",
                {
                    "id": query_id,
                    "from": self.info,
                    "message": message.to_api(),
                    "chat_instance": str(abs(hash(("chat", self.chat.id)))),
                    "data": button["callback_data"],
                },
            )
            return
        if button.get("pay") and message.invoice is not None:
            await self.pay(message)
            return
        kind = next((k for k in button if k != "text"), "none")
        raise AssertionError(
            f"button {button.get('text')!r} is a {kind} button, not a callback one\n"
            + self.transcript()
        )

    async def _press_reply(self, button: dict[str, Any]) -> None:
        keyboard = self.chat.reply_keyboard
        if keyboard and keyboard.get("one_time_keyboard"):
            self.chat.reply_keyboard = None
        if button.get("request_contact"):
            await self.share_contact(self.phone, own=True)
            return
        await self.send(str(button["text"]))

    # ------------------------------------------------------------ waiting

    async def expect(self, fragment: str, timeout: float = REPLY_TIMEOUT) -> BotMessage:
        """Wait for a bot message (new or edited after my last action) containing `fragment`."""
        since = self.last_action_seq
        events = self.chat.events

        def find() -> BotMessage | None:
            for seq, message in reversed(events):
                if seq <= since:
                    return None
                if (
                    isinstance(message, BotMessage)
                    and not message.deleted
                    and fragment in message.content_text
                ):
                    return message
            return None

        found = await wait_until(self.chat.signal, find, timeout)
        if found is None:
            raise AssertionError(
                f"no bot message containing {fragment!r} within {timeout} s after the last "
                f"action of {self.info.get('first_name')} (id {self.id})\n" + self.transcript()
            )
        return found

    async def expect_nothing_else(
        self, probe: str, answer: str, timeout: float = REPLY_TIMEOUT
    ) -> BotMessage:
        """Assert the bot sends or edits nothing more in this chat after my last action.

        No fixed wait: send `probe` (a command the bot answers with one message containing
        `answer`, a text nothing under test would send) and wait for that reply. A bot that handles one chat's updates in order (ours
        does: events isolation) has sent by then all that my earlier actions would produce, so
        any other message or edit since my last action fails. Returns the probe's reply."""
        since = self.last_action_seq
        await self.send(probe)
        reply = await self.expect(answer, timeout)
        extra = [m for seq, m in self.chat.events if seq > since and m is not reply]
        if extra:
            listed = "; ".join(f"#{m.message_id}: {m.content_text!r}" for m in extra)
            raise AssertionError(
                f"expected nothing before the reply to {probe!r}, got {listed}\n"
                + self.transcript()
            )
        return reply

    async def expect_callback_answer(self, timeout: float = REPLY_TIMEOUT) -> CallbackAnswer:
        """What answerCallbackQuery said for my last press; fails if the button keeps spinning."""
        query_id = self._last_callback_id
        if query_id is None:
            raise AssertionError("no button was pressed")
        answer = await wait_until(
            self.chat.signal, lambda: self.emu.callback_answer(query_id), timeout
        )
        if answer is None:
            raise AssertionError(
                f"the bot did not answer the callback query within {timeout} s "
                "(the button keeps spinning)\n" + self.transcript()
            )
        return answer

    # ------------------------------------------------------------ payments

    async def pay(
        self,
        invoice: ChatMessage,
        *,
        ok_expected: bool | None = True,
        timeout: float = 10.0,
        provider_payment_charge_id: str | None = None,
        deliver: bool = True,
    ) -> dict[str, Any]:
        """Go through checkout: pre_checkout_query → answer → successful_payment message.

        Returns the SuccessfulPayment dict, or `{"ok": False, "error_message": ...}` when the
        bot declined (then `ok_expected` must be False or None). `provider_payment_charge_id`
        sets the provider's id (a fake YooKassa's payment); `deliver=False` stops after the
        checkout so a test can deliver the message later (or twice) with `send_successful_payment`.
        """
        if invoice.invoice is None:
            raise AssertionError(f"message #{invoice.message_id} is not an invoice")
        record = self.emu.register_pre_checkout(self.chat)
        payload = invoice.invoice_details["payload"]
        self._push(
            "pre_checkout_query",
            {
                "id": record.id,
                "from": self.info,
                "currency": invoice.invoice["currency"],
                "total_amount": invoice.invoice["total_amount"],
                "invoice_payload": payload,
            },
        )
        answered = await wait_until(
            self.chat.signal, lambda: True if record.answered else None, timeout
        )
        if answered is None:
            raise AssertionError(
                f"the bot did not answer pre_checkout_query within {timeout} s\n"
                + self.transcript()
            )
        if not record.ok:
            if ok_expected:
                raise AssertionError(
                    f"the bot declined the payment: {record.error_message!r}\n" + self.transcript()
                )
            self.last_action_seq = self.emu.seq
            return {"ok": False, "error_message": record.error_message}
        if ok_expected is False:
            raise AssertionError("the bot accepted a payment expected to be declined")
        charge = self.emu.new_id("tg_charge_")
        payment = {
            "currency": invoice.invoice["currency"],
            "total_amount": invoice.invoice["total_amount"],
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": provider_payment_charge_id
            or f"yk-{int(time.time())}-{charge[-8:]}",
        }
        if deliver:
            await self.send_successful_payment(payment)
        return payment

    async def send_successful_payment(self, payment: dict[str, Any]) -> UserMessage:
        """The service message Telegram sends after a payment, as a new message (a new update);
        delivering the same payment twice plays a duplicate confirmation."""
        message = self._message()
        message.successful_payment = dict(payment)
        self._deliver(message)
        return message


class ScriptedUser(Participant):
    """A person in a private chat with the bot (chat id = user id)."""

    def __init__(self, emu: BotAPIEmulator, chat: ChatState, info: dict[str, Any]) -> None:
        super().__init__(emu, chat, info)
        self.deleted_message_ids: list[int] = []

    def _chat_member_update(self, old: str, new: str) -> None:
        bot = self.emu.bot_user
        new_member: dict[str, Any] = {"status": new, "user": bot}
        if new == "kicked":
            new_member["until_date"] = 0
        old_member: dict[str, Any] = {"status": old, "user": bot}
        if old == "kicked":
            old_member["until_date"] = 0
        self._push(
            "my_chat_member",
            {
                "chat": self.chat.to_api(),
                "from": self.info,
                "date": int(time.time()),
                "old_chat_member": old_member,
                "new_chat_member": new_member,
            },
        )

    def block_bot(self) -> None:
        """Block the bot: sends fail with 403 and the bot gets my_chat_member (kicked)."""
        if self.chat.blocked:
            return
        self.chat.blocked = True
        self._chat_member_update("member", "kicked")

    def unblock_bot(self) -> None:
        if not self.chat.blocked:
            return
        self.chat.blocked = False
        self._chat_member_update("kicked", "member")


class GroupMember(Participant):
    """A person in a group chat, registered with a chat member status."""


class GroupChat:
    """A supergroup (optionally a forum) with a registry of members for getChatMember."""

    def __init__(self, emu: BotAPIEmulator, chat: ChatState) -> None:
        self.emu = emu
        self.chat = chat
        self.deleted_message_ids: list[int] = []
        self._members: dict[int, GroupMember] = {}

    @property
    def id(self) -> int:
        return self.chat.id

    def member(
        self,
        user_id: int,
        *,
        first_name: str = "Сотрудник",
        last_name: str | None = None,
        username: str | None = None,
        status: str = "member",
    ) -> GroupMember:
        """Add (or update the status of) a member and return their scripted handle."""
        if status not in ("creator", "administrator", "member", "restricted", "left", "kicked"):
            raise ValueError(f"unknown chat member status {status!r}")
        existing = self._members.get(user_id)
        if existing is not None:
            self.chat.members[user_id] = (existing.info, status)
            return existing
        info: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            info["last_name"] = last_name
        if username:
            info["username"] = username
        self.chat.members[user_id] = (info, status)
        handle = GroupMember(self.emu, self.chat, info)
        self._members[user_id] = handle
        return handle

    def set_status(self, user_id: int, status: str) -> None:
        info, _ = self.chat.members[user_id]
        self.chat.members[user_id] = (info, status)

    @property
    def messages(self) -> list[ChatMessage]:
        return [m for m in self.chat.messages.values() if not m.deleted and not m.service]

    @property
    def bot_messages(self) -> list[BotMessage]:
        return [m for m in self.messages if isinstance(m, BotMessage)]

    @property
    def topics(self) -> dict[str, int]:
        """Forum topics the bot created: name → message_thread_id."""
        return {str(t["name"]): int(t["message_thread_id"]) for t in self.chat.topics.values()}

    def transcript(self, last: int = 15) -> str:
        return self.chat.transcript(last)

    async def wait_for_message(self, fragment: str, timeout: float = REPLY_TIMEOUT) -> BotMessage:
        """Wait for any bot message in the group containing `fragment` (no member needed)."""
        events = self.chat.events

        def find() -> BotMessage | None:
            for _, message in reversed(events):
                if (
                    isinstance(message, BotMessage)
                    and not message.deleted
                    and (fragment in message.content_text)
                ):
                    return message
            return None

        found = await wait_until(self.chat.signal, find, timeout)
        if found is None:
            raise AssertionError(
                f"no bot message containing {fragment!r} in the group\n" + self.transcript()
            )
        return found


__all__ = ["GroupChat", "GroupMember", "Participant", "ScriptedUser"]
