"""A local Telegram Bot API server the project owns: for e2e tests, the sandbox and benchmarks.

The bot under test keeps its real Dispatcher and AiohttpSession and only points them at
`emu.base_url`; everything on the wire (forms, multipart, JSON, error bodies) is what the real
server speaks, so bugs in escaping, keyboards, files, payments and retries show up here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import mimetypes
import secrets
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
from aiohttp import web

from emulator.errors import QUERY_TOO_OLD, ApiError, bad_request, forbidden
from emulator.formatting import parse_html, utf16_len
from emulator.params import Params, Upload, decode_value
from emulator.state import (
    ApiCall,
    BotMessage,
    CallbackAnswer,
    ChatEvent,
    ChatMessage,
    ChatState,
    Signal,
    StoredFile,
    wait_until,
)
from emulator.users import GroupChat, ScriptedUser

log = logging.getLogger(__name__)

Handler = Callable[[Params], Awaitable[Any]]
Listener = Callable[[ChatEvent], None]

DEFAULT_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
CONFLICT_POLLERS = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
DISCONNECT = 0  # inject_failure status: perform the call, then drop the connection
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_UPLOAD = 50 * 1024 * 1024
_PROXY_HTML = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_CURRENCIES = frozenset({"RUB", "USD", "EUR", "KZT", "BYN", "UAH", "XTR"})


@dataclass
class _Failure:
    status: int
    retry_after: int
    remaining: int
    description: str | None


@dataclass
class _Pending:
    update: dict[str, Any]
    kind: str
    chat_key: int | None
    redelivery: bool = False
    sent: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class WebhookConfig:
    """What setWebhook configured, plus the delivery statistics getWebhookInfo reports."""

    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class WebhookAttempt:
    """One POST of an update to the bot's webhook."""

    update_id: int
    status: int | None
    error: str | None = None


@dataclass
class _CallbackQuery:
    id: str
    chat: ChatState
    answer: CallbackAnswer | None = None


@dataclass
class _PreCheckout:
    id: str
    chat: ChatState
    answered: bool = False
    ok: bool = False
    error_message: str | None = None


@dataclass
class _Outcome:
    status: int
    body: dict[str, Any] | None = None
    html: str | None = None
    disconnect: bool = False  # the call was performed, then the connection dropped unanswered


@dataclass
class _Commands:
    by_scope: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)


class BotAPIEmulator:
    """The emulated Bot API server with scripted users and groups; see module docstring."""

    def __init__(
        self,
        token: str = "42:TEST",
        *,
        bot_username: str = "mef_cabinet_bot",
        bot_first_name: str = "Металлэнергофинанс",
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_attempts: int = 5,
        webhook_backoff: float = 0.05,
        webhook_timeout: float = 30.0,
        first_message_id: int = 1,
    ) -> None:
        """`first_message_id`: where each chat's message ids start. Telegram never reuses an id
        in a chat; a program that keeps a database across emulator runs (the sandbox) passes a
        base that grows from run to run, so its stored ids keep meaning one message."""
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.host = host
        self.port = port
        self.webhook_attempts = webhook_attempts
        self.webhook_backoff = webhook_backoff
        self.webhook_timeout = webhook_timeout
        self.first_message_id = first_message_id

        self.calls: list[ApiCall] = []
        self.unexpected_calls: list[ApiCall] = []
        self.updates: list[dict[str, Any]] = []
        self.webhook_log: list[WebhookAttempt] = []
        self.webhook_reply_errors: list[str] = []
        self.commands = _Commands()
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.bot_texts: dict[str, str] = {}

        self._chats: dict[int, ChatState] = {}
        self._users: dict[int, ScriptedUser] = {}
        self._groups: dict[int, GroupChat] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._pre_checkouts: dict[str, _PreCheckout] = {}
        self._pending: deque[_Pending] = deque()
        self._update_signal = Signal()
        self._call_signal = Signal()
        self._next_update_id = 1
        self._seq = 0
        self._ids = itertools.count(1)
        self._poller_gen = 0
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATES
        self._webhook: WebhookConfig | None = None
        self._webhook_queues: dict[int | None, deque[dict[str, Any]]] = {}
        self._webhook_tasks: dict[int | None, asyncio.Task[None]] = {}
        self._webhook_sem: asyncio.Semaphore | None = None
        self._failures: dict[str, deque[_Failure]] = {}
        self._holds: dict[str, deque[asyncio.Event]] = {}
        self._listeners: list[Listener] = []
        self._handlers: dict[str, Handler] = {
            name.removeprefix("api_"): getattr(self, name)
            for name in dir(self)
            if name.startswith("api_")
        }
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._closing = False

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> Self:
        """Bind to a free port and start serving; `base_url` is valid afterwards."""
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])
        self._client = aiohttp.ClientSession()
        self._webhook_sem = asyncio.Semaphore(40)
        self._closing = False
        return self

    async def stop(self) -> None:
        """Release long polls, stop webhook deliveries, close the HTTP client and the server."""
        self._closing = True
        self._update_signal.notify()
        tasks = list(self._webhook_tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._webhook_tasks.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What to pass to `TelegramAPIServer.from_base`."""
        return f"http://{self.host}:{self.port}"

    # ---------------------------------------------------------------- public test API

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Тест",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        phone: str | None = None,
    ) -> ScriptedUser:
        """A scripted person with a private chat (id = user id); the same object on repeat calls."""
        if user_id in self._users:
            return self._users[user_id]
        info: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            info["last_name"] = last_name
        if username:
            info["username"] = username
        if language_code:
            info["language_code"] = language_code
        chat = ChatState(
            id=user_id,
            type="private",
            username=username,
            first_name=first_name,
            last_name=last_name,
            next_message_id=self.first_message_id,
        )
        self._chats[user_id] = chat
        scripted = ScriptedUser(self, chat, info)
        scripted.phone = phone or f"7999{user_id % 10_000_000:07d}"
        self._users[user_id] = scripted
        return scripted

    def group(
        self,
        chat_id: int,
        *,
        title: str = "Группа",
        forum: bool = False,
        username: str | None = None,
    ) -> GroupChat:
        """A supergroup the bot is an administrator of; the same object on repeat calls."""
        if chat_id in self._groups:
            return self._groups[chat_id]
        chat = ChatState(
            id=chat_id,
            type="supergroup",
            title=title,
            is_forum=forum,
            username=username,
            next_message_id=self.first_message_id,
        )
        chat.bot_allowed = True
        self._chats[chat_id] = chat
        group = GroupChat(self, chat)
        self._groups[chat_id] = group
        return group

    def inject_failure(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Fail the next `times` calls of `method`: 429 JSON, 502/504 proxy HTML, others JSON;
        `status=DISCONNECT` performs the call and then drops the connection without an answer
        (the message is delivered, the client sees a network error)."""
        self._failures.setdefault(method.lower(), deque()).append(
            _Failure(status, retry_after, times, description)
        )

    def hold(self, method: str) -> asyncio.Event:
        """Keep the next call of `method` waiting (recorded, not yet performed or answered)
        until the returned event is set: a slow Telegram, for tests of what happens meanwhile."""
        gate = asyncio.Event()
        self._holds.setdefault(method.lower(), deque()).append(gate)
        return gate

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` synchronously on every bot message change and callback answer."""
        self._listeners.append(listener)

    def calls_to(self, method: str) -> list[ApiCall]:
        """Recorded calls of one method (case-insensitive)."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    async def wait_for_call(self, method: str, *, timeout: float = 5.0) -> ApiCall:
        """Wait until the bot calls `method` (counting calls made from now on)."""
        start = len(self.calls)
        wanted = method.lower()

        def find() -> ApiCall | None:
            for call in self.calls[start:]:
                if call.method.lower() == wanted:
                    return call
            return None

        found = await wait_until(self._call_signal, find, timeout)
        if found is None:
            raise AssertionError(f"the bot did not call {method} within {timeout} s")
        return found

    def flood_violations(
        self,
        *,
        per_second: int = 30,
        per_chat_seconds: float = 1.0,
        methods: tuple[str, ...] = ("sendMessage", "sendDocument", "sendPhoto"),
    ) -> tuple[int, int]:
        """Sends over Telegram's published limits, judged by when the calls arrived: (sends that
        made more than `per_second` within one second overall, sends to a private chat less
        than `per_chat_seconds` after the previous one to that chat)."""
        wanted = {m.lower() for m in methods}
        times = sorted(c.at for c in self.calls if c.method.lower() in wanted)
        overall = sum(
            1 for i in range(per_second, len(times)) if times[i] - times[i - per_second] < 1.0
        )
        last: dict[int, float] = {}
        per_chat = 0
        for call in self.calls:
            if call.method.lower() not in wanted or call.chat_id is None or call.chat_id < 0:
                continue
            previous = last.get(call.chat_id)
            if previous is not None and call.at - previous < per_chat_seconds:
                per_chat += 1
            last[call.chat_id] = call.at
        return overall, per_chat

    @property
    def call_signal(self) -> Signal:
        """Notified on every API call the bot makes (for waiting on «the bot went quiet»)."""
        return self._call_signal

    @property
    def webhook(self) -> WebhookConfig | None:
        return self._webhook

    @property
    def pending_update_count(self) -> int:
        return len(self._pending) + sum(len(q) for q in self._webhook_queues.values())

    def chat(self, chat_id: int) -> ChatState:
        """Internal state of a chat (for assertions the scripted API does not cover)."""
        return self._chats[chat_id]

    def file(self, file_id: str) -> StoredFile:
        return self._files[file_id]

    # ---------------------------------------------------------------- internals used by users.py

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def seq(self) -> int:
        return self._seq

    def new_id(self, prefix: str = "") -> str:
        return f"{prefix}{next(self._ids)}{secrets.randbelow(10**6):06d}"

    def push_update(
        self, kind: str, payload: dict[str, Any], chat_key: int | None
    ) -> dict[str, Any]:
        """Queue an update for getUpdates or the webhook; update ids grow globally."""
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self.updates.append(update)
        self.enqueue(update, chat_key, redelivery=False)
        return update

    def enqueue(self, update: dict[str, Any], chat_key: int | None, *, redelivery: bool) -> None:
        kind = next(k for k in update if k != "update_id")
        if self._webhook is not None:
            self._webhook_submit(update, chat_key)
            return
        self._pending.append(_Pending(update, kind, chat_key, redelivery=redelivery))
        self._update_signal.notify()

    def register_callback(self, chat: ChatState) -> str:
        query_id = self.new_id("cq")
        self._callbacks[query_id] = _CallbackQuery(query_id, chat)
        return query_id

    def callback_answer(self, query_id: str) -> CallbackAnswer | None:
        return self._callbacks[query_id].answer

    def register_pre_checkout(self, chat: ChatState) -> _PreCheckout:
        record = _PreCheckout(self.new_id("pcq"), chat)
        self._pre_checkouts[record.id] = record
        return record

    def store_file(
        self, data: bytes, *, filename: str | None, mime_type: str | None, kind: str
    ) -> StoredFile:
        """Keep uploaded bytes and give them Telegram-like identifiers and a download path."""
        number = next(self._ids)
        ext = ""
        if filename and "." in filename:
            ext = "." + filename.rsplit(".", 1)[1]
        elif mime_type:
            ext = mimetypes.guess_extension(mime_type) or ""
        prefix = "AgAC" if kind == "photos" else "BQAC"
        stored = StoredFile(
            file_id=f"{prefix}{number:06d}{secrets.token_urlsafe(12)}",
            file_unique_id=f"AQAD{number:06d}",
            data=data,
            filename=filename,
            mime_type=mime_type,
            file_path=f"{kind}/file_{number}{ext}",
        )
        if kind == "photos":
            stored.width, stored.height = _image_size(data)
        self._files[stored.file_id] = stored
        self._files[f"{stored.file_id}_s"] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def add_message(self, chat: ChatState, message: ChatMessage) -> None:
        chat.messages[message.message_id] = message
        if message.from_bot:
            self._touch(chat, message, "new")
        else:
            message.seq = self.next_seq()
            chat.signal.notify()

    def _touch(
        self, chat: ChatState, message: ChatMessage, kind: Literal["new", "edited", "deleted"]
    ) -> None:
        message.seq = self.next_seq()
        if kind in ("new", "edited"):
            chat.events.append((message.seq, message))
        chat.signal.notify()
        self._emit(ChatEvent(kind, chat, message))

    def _emit(self, event: ChatEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("emulator listener failed")

    # ---------------------------------------------------------------- HTTP layer

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        try:
            data, files = await _read_request(request)
        except ApiError as exc:
            return web.json_response(exc.to_json(), status=exc.status)
        outcome = await self.call(request.match_info["method"], data, files)
        if outcome.disconnect and request.transport is not None:
            request.transport.abort()  # the bot sees «server disconnected»
        if outcome.html is not None:
            return web.Response(status=outcome.status, text=outcome.html, content_type="text/html")
        return web.json_response(outcome.body, status=outcome.status, dumps=_dumps)

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    async def call(
        self, method: str, raw: dict[str, Any], files: dict[str, Upload] | None = None
    ) -> _Outcome:
        """Run one Bot API method as if it came over HTTP (also used for webhook replies)."""
        files = files or {}
        try:
            data = {key: decode_value(key, value) for key, value in raw.items()}
        except ApiError as exc:
            data = dict(raw)
            params = Params(data, files)
            self._record(method, params, exc.description)
            return _Outcome(exc.status, exc.to_json())
        params = Params(data, files)
        lowered = method.lower()
        failure = self._take_failure(lowered)
        if failure is not None and failure.status != DISCONNECT:
            self._record(method, params, f"injected {failure.status}")
            return _failure_outcome(failure)
        handler = self._handlers.get(lowered)
        if handler is None:
            call = self._record(method, params, "Not Found: method not found")
            self.unexpected_calls.append(call)
            log.error("unexpected Bot API method %s", method)
            return _Outcome(
                404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
            )
        call = self._record(method, params, None)
        holds = self._holds.get(lowered)
        if holds:
            await holds.popleft().wait()
        try:
            result = await handler(params)
        except ApiError as exc:
            call.error = exc.description
            return _Outcome(exc.status, exc.to_json())
        if failure is not None:  # DISCONNECT: done, but the answer is lost
            call.error = "injected disconnect after the call"
            return _Outcome(200, {"ok": True, "result": result}, disconnect=True)
        return _Outcome(200, {"ok": True, "result": result})

    def _record(self, method: str, params: Params, error: str | None) -> ApiCall:
        chat_id = params.data.get("chat_id")
        call = ApiCall(
            method=method,
            params=params.recorded(),
            chat_id=chat_id if isinstance(chat_id, int) else None,
            at=time.monotonic(),
            error=error,
        )
        self.calls.append(call)
        self._call_signal.notify()
        return call

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        return failure

    # ---------------------------------------------------------------- updates: polling

    def _confirm(self, offset: int) -> None:
        self._pending = deque(
            item
            for item in self._pending
            if not (item.update_id < offset and (item.sent or not item.redelivery))
        )

    def _take(self, limit: int) -> list[dict[str, Any]] | None:
        batch: list[dict[str, Any]] = []
        kept: deque[_Pending] = deque()
        for item in self._pending:
            if item.kind not in self._allowed_updates:
                continue
            kept.append(item)
            if len(batch) < limit:
                item.sent = True
                batch.append(item.update)
        self._pending = kept
        return batch or None

    async def api_getupdates(self, p: Params) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset = p.get_int("offset")
        limit = min(max(p.get_int("limit") or 100, 1), 100)
        timeout = max(p.get_int("timeout") or 0, 0)
        if "allowed_updates" in p.data:
            allowed = p.obj("allowed_updates")
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATES
        self._poller_gen += 1
        generation = self._poller_gen
        self._update_signal.notify()
        if offset is not None:
            self._confirm(offset)

        def ready() -> list[dict[str, Any]] | None:
            if self._closing:
                return []
            if generation != self._poller_gen:
                raise ApiError(409, CONFLICT_POLLERS)
            if self._webhook is not None:
                raise ApiError(409, CONFLICT_WEBHOOK)
            return self._take(limit)

        return await wait_until(self._update_signal, ready, float(timeout)) or []

    # ---------------------------------------------------------------- updates: webhook

    async def api_setwebhook(self, p: Params) -> bool:
        url = p.get_str("url") or ""
        if not url:
            return await self.api_deletewebhook(p)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get_str("secret_token")
        if secret is not None and (
            not 1 <= len(secret) <= 256
            or any(not (c.isascii() and (c.isalnum() or c in "_-")) for c in secret)
        ):
            raise bad_request("secret token contains unallowed characters")
        allowed = p.obj("allowed_updates")
        if allowed:
            self._allowed_updates = frozenset(allowed)
        self._webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=p.get_int("max_connections") or 40,
            allowed_updates=allowed or None,
        )
        self._webhook_sem = asyncio.Semaphore(self._webhook.max_connections)
        self._poller_gen += 1
        self._update_signal.notify()
        pending, self._pending = self._pending, deque()
        if not p.get_bool("drop_pending_updates"):
            for item in pending:
                self._webhook_submit(item.update, item.chat_key)
        return True

    async def api_deletewebhook(self, p: Params) -> bool:
        self._webhook = None
        if p.get_bool("drop_pending_updates"):
            self._pending.clear()
            for queue in self._webhook_queues.values():
                queue.clear()
        return True

    async def api_getwebhookinfo(self, p: Params) -> dict[str, Any]:
        hook = self._webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": self.pending_update_count,
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.allowed_updates:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    def _webhook_submit(self, update: dict[str, Any], chat_key: int | None) -> None:
        kind = next(k for k in update if k != "update_id")
        if kind not in self._allowed_updates:
            return
        self._webhook_queues.setdefault(chat_key, deque()).append(update)
        if chat_key not in self._webhook_tasks:
            task = asyncio.get_running_loop().create_task(self._webhook_worker(chat_key))
            self._webhook_tasks[chat_key] = task

    async def _webhook_worker(self, chat_key: int | None) -> None:
        """Deliver one chat's updates in order, like Telegram does for a single chat."""
        queue = self._webhook_queues[chat_key]
        try:
            while queue and not self._closing:
                if self._webhook is None:
                    for update in queue:
                        self.enqueue(update, chat_key, redelivery=True)
                    queue.clear()
                    break
                await self._deliver(queue[0])
                if queue:
                    queue.popleft()
        finally:
            self._webhook_tasks.pop(chat_key, None)

    async def _deliver(self, update: dict[str, Any]) -> None:
        assert self._webhook_sem is not None and self._client is not None
        async with self._webhook_sem:
            for attempt in range(self.webhook_attempts):
                hook = self._webhook
                if hook is None:
                    return
                headers = {"Content-Type": "application/json"}
                if hook.secret_token:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
                status: int | None = None
                try:
                    async with self._client.post(
                        hook.url,
                        data=_dumps(update),
                        headers=headers,
                        timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                    ) as resp:
                        status = resp.status
                        if 200 <= status < 300:
                            self.webhook_log.append(WebhookAttempt(update["update_id"], status))
                            await self._run_webhook_reply(resp)
                            return
                        error = f"Wrong response from the webhook: {status} {resp.reason}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = f"Connection failed: {type(exc).__name__}: {exc}"
                self.webhook_log.append(WebhookAttempt(update["update_id"], status, error))
                hook.last_error_date = int(time.time())
                hook.last_error_message = error
                if attempt + 1 < self.webhook_attempts:
                    await asyncio.sleep(self.webhook_backoff * 2**attempt)
            log.warning("webhook gave up on update %s", update["update_id"])

    async def _run_webhook_reply(self, resp: aiohttp.ClientResponse) -> None:
        """Execute the one method call the bot may put into its webhook HTTP answer."""
        data: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        if resp.content_type.startswith("multipart/"):
            reader = aiohttp.MultipartReader(resp.headers, resp.content)
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                    continue
                raw = await part.read()
                if part.filename:
                    files[part.name] = Upload(
                        part.filename, bytes(raw), part.headers.get("Content-Type")
                    )
                else:
                    data[part.name] = bytes(raw).decode()
        else:
            body = await resp.read()
            if body.strip():
                try:
                    parsed = json.loads(body)
                except ValueError:
                    return
                if isinstance(parsed, dict):
                    data = parsed
        method = data.pop("method", None)
        if not method:
            return
        outcome = await self.call(str(method), data, files)
        if outcome.status != 200 and outcome.body is not None:
            self.webhook_reply_errors.append(str(outcome.body.get("description")))

    # ---------------------------------------------------------------- chats and messages

    def _resolve_chat(self, value: Any) -> ChatState:
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str):
            if value.startswith("@"):
                for candidate in self._chats.values():
                    if candidate.username and f"@{candidate.username}".lower() == value.lower():
                        return candidate
                raise bad_request("chat not found")
            try:
                value = int(value)
            except ValueError as exc:
                raise bad_request("chat not found") from exc
        found = self._chats.get(int(value))
        if found is None:
            raise bad_request("chat not found")
        return found

    def _writable_chat(self, p: Params, key: str = "chat_id") -> ChatState:
        chat = self._resolve_chat(p.data.get(key))
        if chat.type == "private":
            if chat.blocked:
                raise forbidden("bot was blocked by the user")
            if not chat.bot_allowed:
                raise forbidden("bot can't initiate conversation with a user")
        return chat

    def _bot_message(self, chat: ChatState, p: Params) -> BotMessage:
        message = BotMessage(chat, chat.allocate_id(), self.bot_user)
        thread_id = p.get_int("message_thread_id")
        if thread_id is not None and chat.is_forum:
            if thread_id not in chat.topics:
                raise bad_request("message thread not found")
            message.message_thread_id = thread_id
        reply = p.obj("reply_parameters") or {}
        reply_id = reply.get("message_id") or p.get_int("reply_to_message_id")
        if reply_id:
            target = chat.messages.get(int(reply_id))
            if target is None or target.deleted:
                if not (
                    reply.get("allow_sending_without_reply")
                    or p.get_bool("allow_sending_without_reply")
                ):
                    raise bad_request("message to be replied not found")
            else:
                message.reply_to = target
                if target.message_thread_id is not None and message.message_thread_id is None:
                    message.message_thread_id = target.message_thread_id
        return message

    def _publish(self, chat: ChatState, message: BotMessage, p: Params | None) -> None:
        markup = _check_markup(p.obj("reply_markup")) if p is not None else None
        if markup is not None:
            if "keyboard" in markup:
                chat.reply_keyboard = markup
                message.reply_markup = markup
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
            elif "inline_keyboard" in markup:
                message.reply_markup = markup
        self.add_message(chat, message)

    def _message_for_edit(self, p: Params) -> BotMessage:
        if "inline_message_id" in p:
            raise bad_request("inline messages are not supported by the emulator")
        chat = self._resolve_chat(p.data.get("chat_id"))
        message_id = p.req_int("message_id")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not isinstance(message, BotMessage):
            raise bad_request("message can't be edited")
        return message

    async def api_getme(self, p: Params) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def api_logout(self, p: Params) -> bool:
        return True

    async def api_close(self, p: Params) -> bool:
        return True

    async def api_sendmessage(self, p: Params) -> dict[str, Any]:
        chat = self._writable_chat(p)
        message = self._bot_message(chat, p)
        text, html, entities = _format(
            p.get_str("text") or "",
            p.get_str("parse_mode"),
            p.obj("entities"),
            limit=4096,
            too_long="message is too long",
            empty="message text is empty",
        )
        message.text, message.html, message.entities = text, html, entities
        self._publish(chat, message, p)
        return message.to_api()

    async def api_editmessagetext(self, p: Params) -> dict[str, Any]:
        message = self._message_for_edit(p)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        text, html, entities = _format(
            p.get_str("text") or "",
            p.get_str("parse_mode"),
            p.obj("entities"),
            limit=4096,
            too_long="MESSAGE_TOO_LONG",
            empty="message text is empty",
        )
        markup = _check_markup(p.obj("reply_markup"))
        inline = markup if markup and "inline_keyboard" in markup else None
        if text == message.text and entities == message.entities and inline == _inline(message):
            raise bad_request(NOT_MODIFIED)
        message.text, message.html, message.entities = text, html, entities
        message.reply_markup = inline
        return self._edited(message)

    async def api_editmessagecaption(self, p: Params) -> dict[str, Any]:
        message = self._message_for_edit(p)
        if message.document is None and message.photo is None:
            raise bad_request("there is no caption in the message to edit")
        caption, html, entities = _format(
            p.get_str("caption") or "",
            p.get_str("parse_mode"),
            p.obj("caption_entities"),
            limit=1024,
            too_long="message caption is too long",
            empty=None,
        )
        markup = _check_markup(p.obj("reply_markup"))
        inline = markup if markup and "inline_keyboard" in markup else None
        new_caption = caption or None
        if (
            new_caption == message.caption
            and entities == message.caption_entities
            and inline == _inline(message)
        ):
            raise bad_request(NOT_MODIFIED)
        message.caption, message.caption_html = new_caption, html or None
        message.caption_entities = entities
        message.reply_markup = inline
        return self._edited(message)

    async def api_editmessagereplymarkup(self, p: Params) -> dict[str, Any]:
        message = self._message_for_edit(p)
        markup = _check_markup(p.obj("reply_markup"))
        inline = markup if markup and "inline_keyboard" in markup else None
        if inline == _inline(message):
            raise bad_request(NOT_MODIFIED)
        message.reply_markup = inline
        return self._edited(message)

    def _edited(self, message: ChatMessage) -> dict[str, Any]:
        message.edited_count += 1
        message.edit_date = int(time.time())
        self._touch(message.chat, message, "edited")
        return message.to_api()

    async def api_deletemessage(self, p: Params) -> bool:
        chat = self._resolve_chat(p.data.get("chat_id"))
        self._delete(chat, p.req_int("message_id"))
        return True

    async def api_deletemessages(self, p: Params) -> bool:
        chat = self._resolve_chat(p.data.get("chat_id"))
        ids = p.obj("message_ids") or []
        if not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must contain 1-100 identifiers")
        for message_id in ids:
            message = chat.messages.get(int(message_id))
            if message is not None and not message.deleted:
                self._delete(chat, int(message_id))
        return True

    def _delete(self, chat: ChatState, message_id: int) -> None:
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        message.deleted = True
        scripted = self._users.get(chat.id)
        if scripted is not None:
            scripted.deleted_message_ids.append(message_id)
        group = self._groups.get(chat.id)
        if group is not None:
            group.deleted_message_ids.append(message_id)
        self._touch(chat, message, "deleted")

    async def api_answercallbackquery(self, p: Params) -> bool:
        query = self._callbacks.get(p.req_str("callback_query_id"))
        if query is None or query.answer is not None:
            raise bad_request(QUERY_TOO_OLD)
        text = p.get_str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answer = CallbackAnswer(
            text=text, show_alert=p.get_bool("show_alert"), url=p.get_str("url")
        )
        query.chat.signal.notify()
        self._emit(ChatEvent("callback_answer", query.chat, answer=query.answer))
        return True

    async def api_sendchataction(self, p: Params) -> bool:
        self._writable_chat(p)
        if not p.get_str("action"):
            raise bad_request("action is empty")
        return True

    def _file_from(self, source: Upload | str | None, *, kind: str) -> StoredFile:
        if source is None:
            raise bad_request("there is no file in the request")
        if isinstance(source, Upload):
            if len(source.data) > MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            mime = source.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(source.filename or "")[0] or mime
            return self.store_file(source.data, filename=source.filename, mime_type=mime, kind=kind)
        if source.startswith(("http://", "https://")):
            name = source.rsplit("/", 1)[-1] or "file"
            return self.store_file(
                b"", filename=name, mime_type=mimetypes.guess_type(name)[0], kind=kind
            )
        stored = self._files.get(source)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return stored

    def _media_message(self, chat: ChatState, p: Params, kind: str, source: Any) -> BotMessage:
        message = self._bot_message(chat, p)
        stored = self._file_from(source, kind="photos" if kind == "photo" else "documents")
        if kind == "photo":
            message.photo = stored
        else:
            message.document = stored
        caption = p.get_str("caption")
        if caption:
            text, html, entities = _format(
                caption,
                p.get_str("parse_mode"),
                p.obj("caption_entities"),
                limit=1024,
                too_long="message caption is too long",
                empty=None,
            )
            message.caption, message.caption_html, message.caption_entities = text, html, entities
        return message

    async def api_sendphoto(self, p: Params) -> dict[str, Any]:
        chat = self._writable_chat(p)
        message = self._media_message(chat, p, "photo", p.file("photo"))
        self._publish(chat, message, p)
        return message.to_api()

    async def api_senddocument(self, p: Params) -> dict[str, Any]:
        chat = self._writable_chat(p)
        message = self._media_message(chat, p, "document", p.file("document"))
        self._publish(chat, message, p)
        return message.to_api()

    async def api_sendmediagroup(self, p: Params) -> list[dict[str, Any]]:
        chat = self._writable_chat(p)
        media = p.obj("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad_request("wrong number of messages in the media group")
        group_id = self.new_id("mg")
        built: list[BotMessage] = []
        for item in media:
            kind = item.get("type")
            if kind not in ("photo", "document", "video", "audio"):
                raise bad_request(f"unsupported media type {kind!r}")
            sub = Params(
                {
                    "caption": item.get("caption"),
                    "parse_mode": item.get("parse_mode"),
                    "caption_entities": item.get("caption_entities"),
                    "message_thread_id": p.data.get("message_thread_id"),
                    "reply_parameters": p.data.get("reply_parameters"),
                },
                p.files,
            )
            source = p.resolve_media(item.get("media"))
            message = self._media_message(
                chat, sub, "photo" if kind == "photo" else "document", source
            )
            message.media_group_id = group_id
            built.append(message)
        for message in built:
            self._publish(chat, message, None)
        return [message.to_api() for message in built]

    def _source_message(self, p: Params, what: str) -> ChatMessage:
        source_chat = self._resolve_chat(p.data.get("from_chat_id"))
        message = source_chat.messages.get(p.req_int("message_id"))
        if message is None or message.deleted:
            raise bad_request(f"message to {what} not found")
        return message

    def _clone(self, target: BotMessage, source: ChatMessage) -> None:
        target.text, target.html, target.entities = source.text, source.html, source.entities
        target.caption, target.caption_html = source.caption, source.caption_html
        target.caption_entities = source.caption_entities
        target.document, target.photo = source.document, source.photo
        target.contact = source.contact

    async def api_copymessage(self, p: Params) -> dict[str, Any]:
        source = self._source_message(p, "copy")
        if source.invoice is not None or source.successful_payment is not None:
            raise bad_request("message can't be copied")
        chat = self._writable_chat(p)
        message = self._bot_message(chat, p)
        self._clone(message, source)
        if "caption" in p and (source.document or source.photo):
            caption, html, entities = _format(
                p.get_str("caption") or "",
                p.get_str("parse_mode"),
                p.obj("caption_entities"),
                limit=1024,
                too_long="message caption is too long",
                empty=None,
            )
            message.caption, message.caption_html = caption or None, html or None
            message.caption_entities = entities
        self._publish(chat, message, p)
        return {"message_id": message.message_id}

    async def api_forwardmessage(self, p: Params) -> dict[str, Any]:
        source = self._source_message(p, "forward")
        chat = self._writable_chat(p)
        message = self._bot_message(chat, p)
        self._clone(message, source)
        message.forward_origin = {"type": "user", "date": source.date, "sender_user": source.sender}
        self._publish(chat, message, None)
        return message.to_api()

    async def api_getfile(self, p: Params) -> dict[str, Any]:
        file_id = p.req_str("file_id")
        stored = self._files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    # ---------------------------------------------------------------- payments

    def _invoice(self, p: Params) -> dict[str, Any]:
        title = p.get_str("title") or ""
        description = p.get_str("description") or ""
        payload = p.get_str("payload") or ""
        currency = (p.get_str("currency") or "").upper()
        if not 1 <= len(title) <= 32:
            raise bad_request("INVOICE_TITLE_INVALID" if title else "title is empty")
        if not 1 <= len(description) <= 255:
            raise bad_request("INVOICE_DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        if currency not in _CURRENCIES:
            raise bad_request("CURRENCY_INVALID")
        prices = p.obj("prices")
        if not isinstance(prices, list) or not prices:
            raise bad_request("prices must be non-empty")
        total = 0
        for price in prices:
            amount = price.get("amount")
            if not isinstance(amount, int) or not price.get("label"):
                raise bad_request("can't parse prices JSON object")
            total += amount
        if total <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        if currency != "XTR" and not p.get_str("provider_token"):
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        provider_data = p.get_str("provider_data")
        if provider_data is not None:
            try:
                json.loads(provider_data)
            except ValueError as exc:
                raise bad_request("DATA_JSON_INVALID") from exc
        return {
            "invoice": {
                "title": title,
                "description": description,
                "start_parameter": p.get_str("start_parameter") or "",
                "currency": currency,
                "total_amount": total,
            },
            "details": {
                "payload": payload,
                "prices": prices,
                "provider_token": p.get_str("provider_token"),
                "provider_data": provider_data,
                "need_phone_number": p.get_bool("need_phone_number"),
                "need_email": p.get_bool("need_email"),
            },
        }

    async def api_sendinvoice(self, p: Params) -> dict[str, Any]:
        chat = self._writable_chat(p)
        built = self._invoice(p)
        message = self._bot_message(chat, p)
        message.invoice = built["invoice"]
        message.invoice_details = built["details"]
        self._publish(chat, message, p)
        return message.to_api()

    async def api_createinvoicelink(self, p: Params) -> str:
        self._invoice(p)
        return f"https://t.me/$inv{secrets.token_urlsafe(16)}"

    async def api_answerprecheckoutquery(self, p: Params) -> bool:
        record = self._pre_checkouts.get(p.req_str("pre_checkout_query_id"))
        if record is None or record.answered:
            raise bad_request(QUERY_TOO_OLD)
        ok = p.get_bool("ok")
        if not ok and not p.get_str("error_message"):
            raise bad_request("error_message is required when ok is false")
        record.answered, record.ok, record.error_message = True, ok, p.get_str("error_message")
        record.chat.signal.notify()
        return True

    # ---------------------------------------------------------------- commands, menu, chats

    @staticmethod
    def _scope_key(p: Params) -> tuple[str, str]:
        scope = p.obj("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), p.get_str("language_code") or ""

    async def api_setmycommands(self, p: Params) -> bool:
        commands = p.obj("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            name = str(command.get("command", ""))
            if not (1 <= len(name) <= 32 and name.replace("_", "").isalnum() and name.islower()):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands.by_scope[self._scope_key(p)] = commands
        return True

    async def api_getmycommands(self, p: Params) -> list[dict[str, Any]]:
        return self.commands.by_scope.get(self._scope_key(p), [])

    async def api_deletemycommands(self, p: Params) -> bool:
        self.commands.by_scope.pop(self._scope_key(p), None)
        return True

    async def api_setchatmenubutton(self, p: Params) -> bool:
        chat_id = p.get_int("chat_id")
        if chat_id is not None:
            self._resolve_chat(chat_id)
        self.menu_buttons[chat_id] = p.obj("menu_button") or {"type": "default"}
        return True

    async def api_getchatmenubutton(self, p: Params) -> dict[str, Any]:
        chat_id = p.get_int("chat_id")
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "commands"}

    async def api_setmydescription(self, p: Params) -> bool:
        self.bot_texts["description"] = p.get_str("description") or ""
        return True

    async def api_setmyshortdescription(self, p: Params) -> bool:
        self.bot_texts["short_description"] = p.get_str("short_description") or ""
        return True

    async def api_setmyname(self, p: Params) -> bool:
        self.bot_texts["name"] = p.get_str("name") or ""
        return True

    async def api_getchat(self, p: Params) -> dict[str, Any]:
        chat = self._resolve_chat(p.data.get("chat_id"))
        return {
            **chat.to_api(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def api_getchatmember(self, p: Params) -> dict[str, Any]:
        chat = self._resolve_chat(p.data.get("chat_id"))
        user_id = p.req_int("user_id")
        if user_id == self.bot_id:
            return _member(self.bot_user, "administrator" if chat.type != "private" else "member")
        if chat.type == "private":
            if user_id != chat.id:
                raise bad_request("user not found")
            return _member(self._users[chat.id].info, "member")
        if user_id in chat.members:
            info, status = chat.members[user_id]
            return _member(info, status)
        known = self._users.get(user_id)
        info = known.info if known else {"id": user_id, "is_bot": False, "first_name": "User"}
        return _member(info, "left")

    async def api_createforumtopic(self, p: Params) -> dict[str, Any]:
        chat = self._resolve_chat(p.data.get("chat_id"))
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        name = p.get_str("name") or ""
        if not 1 <= len(name) <= 128:
            raise bad_request("TOPIC_TITLE_EMPTY" if not name else "TOPIC_TITLE_INVALID")
        service = BotMessage(chat, chat.allocate_id(), self.bot_user)
        topic = {
            "message_thread_id": service.message_id,
            "name": name,
            "icon_color": p.get_int("icon_color") or 7322096,
        }
        service.message_thread_id = service.message_id
        service.service = {"forum_topic_created": {"name": name, "icon_color": topic["icon_color"]}}
        chat.topics[service.message_id] = topic
        chat.messages[service.message_id] = service
        return topic

    async def api_pinchatmessage(self, p: Params) -> bool:
        chat = self._resolve_chat(p.data.get("chat_id"))
        if p.req_int("message_id") not in chat.messages:
            raise bad_request("message to pin not found")
        return True

    async def api_unpinchatmessage(self, p: Params) -> bool:
        self._resolve_chat(p.data.get("chat_id"))
        return True


# -------------------------------------------------------------------- helpers


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Collect parameters from the query string and a form, multipart or JSON body."""
    data: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.method != "POST" or not request.can_read_body:
        return data, files
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise bad_request("can't parse JSON request body") from exc
        if isinstance(body, dict):
            data.update(body)
        return data, files
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, "Request Entity Too Large") from exc
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = Upload(value.filename, value.file.read(), value.content_type)
        else:
            data[key] = value
    return data, files


def _failure_outcome(failure: _Failure) -> _Outcome:
    if failure.status in (502, 504):
        reason = "Bad Gateway" if failure.status == 502 else "Gateway Time-out"
        return _Outcome(
            failure.status, html=_PROXY_HTML.format(status=failure.status, reason=reason)
        )
    if failure.status == 429:
        error = ApiError(
            429,
            failure.description or f"Too Many Requests: retry after {failure.retry_after}",
            retry_after=failure.retry_after,
        )
    else:
        defaults = {
            400: "Bad Request: injected failure",
            403: "Forbidden: bot was blocked by the user",
            500: "Internal Server Error",
        }
        error = ApiError(
            failure.status,
            failure.description or defaults.get(failure.status, f"Error {failure.status}"),
        )
    return _Outcome(failure.status, error.to_json())


def _format(
    text: str,
    parse_mode: str | None,
    entities: Any,
    *,
    limit: int,
    too_long: str,
    empty: str | None,
) -> tuple[str, str, list[dict[str, Any]]]:
    """(plain text, text as sent, entities) after Telegram's parse-mode and length checks."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, parsed = parse_html(text)
    else:
        plain = text
        parsed = list(entities) if isinstance(entities, list) else []
    if empty is not None and not plain.strip():
        raise bad_request(empty)
    if utf16_len(plain) > limit:
        raise bad_request(too_long)
    return plain, text, parsed


def _inline(message: ChatMessage) -> dict[str, Any] | None:
    if message.reply_markup and "inline_keyboard" in message.reply_markup:
        return message.reply_markup
    return None


def _check_markup(markup: Any) -> dict[str, Any] | None:
    """Validate reply_markup the way Telegram does for the parts the bot is likely to get wrong."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or any(not isinstance(row, list) for row in rows):
            raise bad_request(
                "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                    raise bad_request("can't parse inline keyboard button: Text must be non-empty")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
                    raise bad_request(f"inline keyboard button URL '{url}' is invalid")
                actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
                if not actions:
                    raise bad_request("text buttons are unallowed in the inline keyboard")
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or any(not isinstance(row, list) for row in rows):
            raise bad_request("can't parse reply keyboard markup JSON object")
        for row in rows:
            for button in row:
                text = button if isinstance(button, str) else button.get("text")
                if not text:
                    raise bad_request("keyboard button text must be non-empty")
    return markup


def _member(user: dict[str, Any], status: str) -> dict[str, Any]:
    """A ChatMember object of the given status with every field aiogram requires."""
    data: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(
            {
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_send_welcome_messages": False,
                "can_pin_messages": True,
                "can_manage_topics": True,
            }
        )
    elif status == "restricted":
        data.update(
            {
                "is_member": True,
                "until_date": 0,
                **dict.fromkeys(
                    (
                        "can_send_messages",
                        "can_send_audios",
                        "can_send_documents",
                        "can_send_photos",
                        "can_send_videos",
                        "can_send_video_notes",
                        "can_send_voice_notes",
                        "can_send_polls",
                        "can_send_other_messages",
                        "can_add_web_page_previews",
                        "can_react_to_messages",
                        "can_edit_tag",
                        "can_change_info",
                        "can_invite_users",
                        "can_pin_messages",
                        "can_manage_topics",
                    ),
                    False,
                ),
            }
        )
    elif status == "kicked":
        data["until_date"] = 0
    return data


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height of a PNG or JPEG, read from its header (enough for PhotoSize)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 9 < len(data):
            if data[pos] != 0xFF:
                break
            marker = data[pos + 1]
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return int(width), int(height)
            pos += 2 + length
    return None, None
