"""In-memory state of the emulated Telegram: chats, their messages, stored files, recorded calls.

Bot messages are live objects: a test keeps a `BotMessage` and sees later edits and deletion on it.
Every change bumps a global sequence number and wakes the chat's waiters, so scripted users wait
for events instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")


class Signal:
    """Broadcast wake-up: `notify()` releases all current waiters and is callable from sync code."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        """The event to wait on; take it *before* checking the condition to avoid lost wake-ups."""
        return self._event


async def wait_until(signal: Signal, check: Callable[[], T | None], within: float) -> T | None:
    """Re-check `check` on every notify until it returns non-None or `within` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        event = signal.current()
        result = check()
        if result is not None:
            return result
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        try:
            async with asyncio.timeout(remaining):
                await event.wait()
        except TimeoutError:
            return check()


@dataclass
class ApiCall:
    """One Bot API request as the emulator understood it (nested JSON decoded, files described)."""

    method: str
    params: dict[str, Any]
    chat_id: int | None
    at: float
    error: str | None = None


@dataclass
class StoredFile:
    """Bytes uploaded by the bot or a user, addressable by file_id and by download path."""

    file_id: str
    file_unique_id: str
    data: bytes
    filename: str | None
    mime_type: str | None
    file_path: str
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def describe(self) -> dict[str, Any]:
        return {"filename": self.filename, "size": self.size, "mime_type": self.mime_type}

    def as_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.filename:
            doc["file_name"] = self.filename
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        return doc

    def as_photo(self) -> list[dict[str, Any]]:
        width, height = self.width or 800, self.height or 600
        scale = min(1.0, 90 / max(width, height))
        base = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        thumb = {
            "file_id": f"{self.file_id}_s",
            "file_unique_id": f"{self.file_unique_id}s",
            "width": max(1, int(width * scale)),
            "height": max(1, int(height * scale)),
            "file_size": self.size,
        }
        return [thumb, {**base, "width": width, "height": height, "file_size": self.size}]


@dataclass
class CallbackAnswer:
    """What the bot said in answerCallbackQuery."""

    text: str | None
    show_alert: bool
    url: str | None


@dataclass
class ChatEvent:
    """A change a watcher (the sandbox) shows: a bot message appeared, changed or vanished."""

    kind: Literal["new", "edited", "deleted", "callback_answer"]
    chat: ChatState
    message: ChatMessage | None = None
    answer: CallbackAnswer | None = None


class ChatMessage:
    """A message in a chat, sent either by the bot or by a scripted participant."""

    from_bot: bool = False

    def __init__(self, chat: ChatState, message_id: int, sender: dict[str, Any]) -> None:
        self.chat = chat
        self.message_id = message_id
        self.sender = sender
        self.date = int(time.time())
        self.text: str | None = None
        self.html: str | None = None
        self.entities: list[dict[str, Any]] = []
        self.caption: str | None = None
        self.caption_html: str | None = None
        self.caption_entities: list[dict[str, Any]] = []
        self.document: StoredFile | None = None
        self.photo: StoredFile | None = None
        self.contact: dict[str, Any] | None = None
        self.invoice: dict[str, Any] | None = None
        self.invoice_details: dict[str, Any] = {}
        self.successful_payment: dict[str, Any] | None = None
        self.reply_markup: dict[str, Any] | None = None
        self.reply_to: ChatMessage | None = None
        self.message_thread_id: int | None = None
        self.forward_origin: dict[str, Any] | None = None
        self.media_group_id: str | None = None
        self.service: dict[str, Any] = {}
        self.content: dict[str, Any] = {}  # other kinds: sticker, voice, location, poll, …
        self.deleted = False
        self.edited_count = 0
        self.edit_date: int | None = None
        self.seq = 0

    @property
    def content_text(self) -> str:
        """Text a person would read: text, caption, or an invoice's title and description."""
        if self.text is not None:
            return self.text
        if self.caption is not None:
            return self.caption
        if self.invoice is not None:
            return f"{self.invoice['title']}\n{self.invoice['description']}"
        return ""

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            rows: list[list[dict[str, Any]]] = self.reply_markup["inline_keyboard"]
            return rows
        return []

    @property
    def inline_buttons(self) -> list[list[str]]:
        """Captions of the inline keyboard, row by row."""
        return [[str(button.get("text", "")) for button in row] for row in self.inline_keyboard]

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        """Captions of the reply keyboard this message brought, or None."""
        if self.reply_markup and "keyboard" in self.reply_markup:
            return [
                [b if isinstance(b, str) else str(b.get("text", "")) for b in row]
                for row in self.reply_markup["keyboard"]
            ]
        return None

    async def download(self) -> bytes:
        """Bytes of the document or photo in this message."""
        stored = self.document or self.photo
        if stored is None:
            raise AssertionError(f"message #{self.message_id} has no file:\n{self.describe()}")
        return stored.data

    def to_api(self, *, with_reply: bool = True) -> dict[str, Any]:
        """The Message object exactly as the Bot API would return/deliver it."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "date": self.date,
            "chat": self.chat.to_api(),
            "from": self.sender,
        }
        if self.message_thread_id is not None:
            data["message_thread_id"] = self.message_thread_id
            data["is_topic_message"] = True
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        if self.document is not None:
            data["document"] = self.document.as_document()
        if self.photo is not None:
            data["photo"] = self.photo.as_photo()
        if self.contact is not None:
            data["contact"] = self.contact
        if self.invoice is not None:
            data["invoice"] = self.invoice
        if self.successful_payment is not None:
            data["successful_payment"] = self.successful_payment
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            data["reply_markup"] = self.reply_markup
        if self.forward_origin is not None:
            data["forward_origin"] = self.forward_origin
        if self.media_group_id is not None:
            data["media_group_id"] = self.media_group_id
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None and not self.reply_to.deleted:
            data["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        data.update(self.content)
        data.update(self.service)
        return data

    def describe(self) -> str:
        """One transcript entry: who, when, what, and the buttons under it."""
        who = "bot " if self.from_bot else "user"
        if not self.from_bot:
            who = str(self.sender.get("first_name", "user"))[:12]
        flags = []
        if self.edited_count:
            flags.append(f"edited x{self.edited_count}")
        if self.deleted:
            flags.append("deleted")
        stamp = time.strftime("%H:%M:%S", time.localtime(self.date))
        head = f"#{self.message_id:<4} {who:<12} {stamp}"
        if flags:
            head += f" ({', '.join(flags)})"
        body = self.content_text
        if self.document is not None:
            body = f"[document {self.document.filename} {self.document.size} B] {body}"
        if self.photo is not None:
            body = f"[photo {self.photo.size} B] {body}"
        if self.contact is not None:
            body = f"[contact {self.contact.get('phone_number')}] {body}"
        if self.content:
            body = f"[{', '.join(self.content)}] {body}"
        if self.invoice is not None:
            body = f"[invoice {self.invoice['total_amount']} {self.invoice['currency']}] {body}"
        if self.successful_payment is not None:
            body = f"[successful_payment {self.successful_payment['total_amount']}] {body}"
        lines = [head]
        lines.extend("      " + line for line in (body or "<no text>").splitlines())
        for row in self.inline_buttons:
            lines.append("      " + "  ".join(f"[{caption}]" for caption in row))
        keyboard = self.reply_keyboard
        if keyboard:
            lines.append("      reply keyboard: " + " | ".join("  ".join(r) for r in keyboard))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.message_id} {self.content_text[:40]!r}>"


class BotMessage(ChatMessage):
    """A message the bot sent; live, so edits and deletion show up on the object a test holds."""

    from_bot = True


class UserMessage(ChatMessage):
    """A message a scripted user or group member sent."""


@dataclass
class ChatState:
    """One chat as the emulated server sees it."""

    id: int
    type: Literal["private", "group", "supergroup", "channel"]
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False
    bot_allowed: bool = False  # private: the user has written to the bot
    blocked: bool = False
    messages: dict[int, ChatMessage] = field(default_factory=dict)
    events: list[tuple[int, ChatMessage]] = field(default_factory=list)
    members: dict[int, tuple[dict[str, Any], str]] = field(default_factory=dict)
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)
    reply_keyboard: dict[str, Any] | None = None
    signal: Signal = field(default_factory=Signal)
    next_message_id: int = 1

    def allocate_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.is_forum:
            data["is_forum"] = True
        return data

    def transcript(self, last: int = 15) -> str:
        """The last messages of the chat, for assertion errors that explain themselves."""
        shown = list(self.messages.values())
        skipped = max(0, len(shown) - last)
        name = self.title or " ".join(filter(None, [self.first_name, self.last_name]))
        header = f"--- chat {self.id} ({name}): last {min(last, len(shown))} of {len(shown)} ---"
        lines = [header]
        lines.extend(m.describe() for m in shown[skipped:])
        if self.reply_keyboard:
            rows = [
                "  ".join(f"[{b if isinstance(b, str) else b.get('text')}]" for b in row)
                for row in self.reply_keyboard.get("keyboard", [])
            ]
            lines.append("shown reply keyboard: " + " | ".join(rows))
        if len(shown) == 0:
            lines.append("(no messages)")
        return "\n".join(lines)
