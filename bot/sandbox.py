"""`python -m bot sandbox`: talk to the real bot in the terminal through the built-in emulator.

The bot runs unchanged (real Dispatcher, real HTTP session) against a local `BotAPIEmulator`;
the terminal plays one subscriber and, with `/staff`, an operator in the staff group. Nothing
reaches Telegram, so a developer or the customer can try every dialog without a bot token.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from emulator import BotAPIEmulator, BotMessage, ChatEvent, ChatMessage, GroupMember
from emulator.state import ChatState, wait_until
from emulator.users import Participant

ServeFn = Callable[[Any, asyncio.Event], Coroutine[Any, Any, None]]
Output = list[str] | asyncio.Queue[str] | TextIO

SANDBOX_TOKEN = "42:SANDBOX"
SANDBOX_STAFF_CHAT_ID = -1009990001  # used when STAFF_CHAT_ID is not set
SANDBOX_PROVIDER_TOKEN = "381764678:TEST:sandbox"
STAFF_MEMBER_ID = 2001
LOG_FILE = Path("data/sandbox.log")
# Where the next run's message ids start (see `first_message_id`).
MESSAGE_IDS_FILE = Path("data/sandbox-message-ids")
_IDS_SINCE = 1_767_225_600  # 2026-01-01 00:00 UTC
KEYBOARD_MARK = "к"  # reply-keyboard buttons are «к1», «к2»…; inline ones plain numbers
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
STAFF_PREFIX = "[чат сотрудников] "

HELP = """\
Песочница: вы — абонент в чате с ботом, Telegram эмулируется локально.
  любой текст        — отправить сообщение боту
  N                  — нажать кнопку [N] под последним сообщением бота
  к1, к2, …          — нажать кнопку [к1], [к2] клавиатуры внизу (меню, «Отмена»)
  /text ТЕКСТ        — отправить текст как есть (например, число, совпавшее с номером кнопки)
  /contact           — поделиться своим номером телефона
  /upload ПУТЬ       — отправить файл (картинку — как фото)
  /pay               — оплатить последний счёт
Вы же — сотрудник в чате сотрудников (его сообщения помечены «[чат сотрудников]»): туда
приходят карточки заявок и обращений.
  /staffpress N      — сотрудник нажимает кнопку [N] под последней карточкой
  /staff ТЕКСТ       — сотрудник отвечает на последнее сообщение бота (обращение, заявка)
  /?                 — эта подсказка
  /quit              — выйти"""


class _Terminal:
    """Prints what the bot shows and turns typed lines into the scripted user's actions."""

    def __init__(
        self,
        emu: BotAPIEmulator,
        user: Participant,
        staff: GroupMember | None,
        write: Callable[[str], None],
        download_dir: Path,
        phone: str,
    ) -> None:
        self.emu = emu
        self.user = user
        self.staff = staff
        self.write = write
        self.download_dir = download_dir
        self.phone = phone

    # ------------------------------------------------------------ showing

    def _number(self, message: ChatMessage) -> int:
        """The message's number in this run, as the person reads it (#1, #2…)."""
        return message.message_id - self.emu.first_message_id + 1

    def on_event(self, event: ChatEvent) -> None:
        chats = {self.user.chat.id: ""}
        if self.staff is not None:
            chats[self.staff.chat.id] = STAFF_PREFIX
        if event.chat.id not in chats:
            return
        prefix = chats[event.chat.id]
        if event.kind == "callback_answer" and event.answer is not None:
            if event.answer.text:
                kind = "Окно" if event.answer.show_alert else "Уведомление"
                self.write(f"{prefix}🔔 {kind}: {event.answer.text}")
            return
        message = event.message
        if message is None:
            return
        if event.kind == "deleted":
            self.write(f"{prefix}🗑 Бот удалил сообщение #{self._number(message)}")
            return
        if not message.from_bot:
            return
        self._show(prefix, message, edited=event.kind == "edited")

    def _show(self, prefix: str, message: ChatMessage, *, edited: bool) -> None:
        mark = " (изменено)" if edited else ""
        lines = [f"{prefix}🤖 Бот{mark} #{self._number(message)}:"]
        if message.invoice is not None:
            invoice = message.invoice
            amount = invoice["total_amount"] / 100
            lines.append(
                f"💳 Счёт «{invoice['title']}»: {amount:,.2f} {invoice['currency']}".replace(
                    ",", " "
                )
            )
            lines.append(invoice["description"])
            lines.append("(чтобы оплатить, введите /pay)")
        text = message.text if message.text is not None else message.caption
        if text:
            lines.extend(text.splitlines())
        if message.document is not None or message.photo is not None:
            lines.append(self._save(message))
        inline, _ = self._buttons(message.chat)
        for row in message.inline_keyboard:
            cells = []
            for button in row:
                caption = str(button.get("text", ""))
                number = next(
                    (i for i, (m, b) in enumerate(inline, 1) if m is message and b is button),
                    None,
                )
                cells.append(f"[{number}] {caption}" if number else f"[·] {caption}")
            lines.append("   " + "  ".join(cells))
        if message.reply_keyboard is not None:
            _, keyboard = self._buttons(message.chat)
            cells = [f"[{KEYBOARD_MARK}{i}] {b.get('text')}" for i, b in enumerate(keyboard, 1)]
            lines.append("   Клавиатура: " + "  ".join(cells))
        self.write("\n".join(lines))

    def _buttons(
        self, chat: Any
    ) -> tuple[list[tuple[ChatMessage, dict[str, Any]]], list[dict[str, Any]]]:
        """What can be pressed: the inline buttons of the newest bot message only (an older
        keyboard is shown with [·] and cannot be pressed by number), and, apart, the buttons
        of the reply keyboard below the input field."""
        inline: list[tuple[ChatMessage, dict[str, Any]]] = []
        newest = next(
            (m for m in reversed(chat.messages.values()) if m.from_bot and not m.deleted), None
        )
        if newest is not None:
            inline = [(newest, b) for row in newest.inline_keyboard for b in row]
        keyboard: list[dict[str, Any]] = []
        if chat.reply_keyboard:
            for row in chat.reply_keyboard.get("keyboard", []):
                keyboard += [{"text": b} if isinstance(b, str) else b for b in row]
        return inline, keyboard

    def _save(self, message: ChatMessage) -> str:
        stored = message.document or message.photo
        assert stored is not None
        name = stored.filename or f"photo_{message.message_id}.jpg"
        self.download_dir.mkdir(parents=True, exist_ok=True)
        target = self.download_dir / Path(name).name
        counter = 1
        while target.exists():
            target = self.download_dir / f"{Path(name).stem}_{counter}{Path(name).suffix}"
            counter += 1
        target.write_bytes(stored.data)
        saved = "Документ сохранён" if message.document is not None else "Фото сохранено"
        return f"📎 {saved}: {target}"

    # ------------------------------------------------------------ acting

    async def handle(self, line: str) -> bool:
        """Run one typed line; False means «quit»."""
        line = line.strip()
        if not line:
            return True
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        try:
            if command in ("/quit", "/exit", "/выход"):
                return False
            if command == "/?":
                self.write(HELP)
            elif command == "/press":
                await self._press(self.user, rest)
            elif command == "/text":
                await self.user.send(rest)
            elif self._pressable(line):
                await self._press(self.user, line)
            elif command == "/contact":
                await self.user.share_contact(self.phone, own=True)
            elif command == "/upload":
                await self._upload(rest)
            elif command == "/pay":
                await self._pay()
            elif command == "/staff":
                await self._staff_reply(rest)
            elif command == "/staffpress":
                if self.staff is None:
                    self.write("Чат сотрудников не настроен (STAFF_CHAT_ID).")
                else:
                    await self._press(self.staff, rest)
            else:
                await self.user.send(line)
        except AssertionError as exc:
            self.write(f"⚠ {str(exc).splitlines()[0]}")
        return True

    def _pressable(self, line: str) -> bool:
        """A typed «2» or «к2» that names a button shown now (else it is sent as text)."""
        inline, keyboard = self._buttons(self.user.chat)
        key = line.lower().removeprefix("k").removeprefix(KEYBOARD_MARK)
        if not key.isdigit():
            return False
        count = len(keyboard) if key != line else len(inline)
        return 1 <= int(key) <= count

    async def _press(self, who: Participant, number: str) -> None:
        inline, keyboard = self._buttons(who.chat)
        key = number.lower().removeprefix("k").removeprefix(KEYBOARD_MARK)
        on_keyboard = key != number.lower()
        count = len(keyboard) if on_keyboard else len(inline)
        if not key.isdigit() or not 1 <= int(key) <= count:
            where = "на клавиатуре" if on_keyboard else "под последним сообщением"
            self.write(f"Нет кнопки {number or '?'}; {where} кнопок: {count}.")
            return
        if on_keyboard:
            await who.press(str(keyboard[int(key) - 1].get("text")))
        else:
            message, button = inline[int(key) - 1]
            await who.press_button(message, button)

    async def _upload(self, raw_path: str) -> None:
        path = Path(raw_path)
        try:
            data = await asyncio.to_thread(_read_file, raw_path)
        except OSError as exc:
            self.write(f"Не удалось прочитать файл {path}: {exc.strerror}")
            return
        if path.suffix.lower() in IMAGE_SUFFIXES:
            await self.user.send_photo(data)
        else:
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            await self.user.send_document(data, filename=path.name, mime_type=mime)
        self.write(f"Файл {path.name} отправлен ({len(data)} байт).")

    async def _pay(self) -> None:
        invoice = next(
            (
                m
                for m in reversed(self.user.chat.messages.values())
                if isinstance(m, BotMessage) and m.invoice is not None and not m.deleted
            ),
            None,
        )
        if invoice is None:
            self.write("Бот ещё не присылал счёт.")
            return
        result = await self.user.pay(invoice, ok_expected=None)
        if result.get("ok") is False:
            self.write(f"❌ Бот отклонил оплату: {result.get('error_message')}")
        else:
            self.write(f"✅ Оплата прошла, платёж {result['telegram_payment_charge_id']}")

    async def _staff_reply(self, text: str) -> None:
        if self.staff is None:
            self.write("Чат сотрудников не настроен (STAFF_CHAT_ID).")
            return
        if not text:
            self.write("Напишите текст ответа: /staff ТЕКСТ")
            return
        card = next(
            (
                m
                for m in reversed(self.staff.chat.messages.values())
                if isinstance(m, BotMessage) and not m.deleted and not m.service
            ),
            None,
        )
        if card is None:
            self.write("В чате сотрудников пока нет карточек.")
            return
        await self.staff.reply(card, text)


def _read_file(raw_path: str) -> bytes:
    return Path(raw_path).expanduser().read_bytes()


def _writer(output_stream: Output | None) -> Callable[[str], None]:
    if output_stream is None:
        output_stream = sys.stdout
    if isinstance(output_stream, list):
        return output_stream.append
    if isinstance(output_stream, asyncio.Queue):
        return output_stream.put_nowait
    stream = output_stream

    def write(text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    return write


def _stdin_lines() -> asyncio.Queue[str | None]:
    """Feed stdin lines into a queue from a daemon thread, so input never blocks the loop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="sandbox-stdin", daemon=True).start()
    return queue


def first_message_id(record: Path, now: float) -> int:
    """Where a run's message ids start. The database outlives the emulator, and what it keeps
    (a staff card's message, the message a dialog's buttons are under) must not be taken for a
    message of a later run: Telegram never reuses an id in a chat. After the last run's ids (kept
    in `record`) and never below ten ids a second since 2026 (a run that could not write
    `record` on its way out)."""
    by_clock = 1 + max(0, int(now) - _IDS_SINCE) * 10
    try:
        kept = int(record.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        kept = 0
    return max(by_clock, kept)


def _keep_next_message_id(record: Path, chats: list[ChatState]) -> None:
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(str(max(chat.next_message_id for chat in chats)), encoding="utf-8")
    except OSError:
        pass  # the clock's base is the fallback


async def _default_serve(settings: Any, stop_event: asyncio.Event) -> None:
    from bot.runtime import serve

    await serve(settings, stop_event)


async def run_sandbox(
    settings: Any,
    *,
    user_id: int = 1001,
    first_name: str = "Тестировщик",
    input_stream: asyncio.Queue[str | None] | None = None,
    output_stream: Output | None = None,
    serve: ServeFn | None = None,
    download_dir: Path = Path("data/sandbox-downloads"),
    staff_chat_id: int | None = None,
    phone: str = "79991234567",
    log_file: Path | None = None,
    message_ids: Path | None = None,
) -> None:
    """Run the bot against a local emulator and chat with it from the terminal until /quit.

    There is always a staff chat (STAFF_CHAT_ID, or a made-up one), so the staff side can be
    tried too. `log_file` is only announced: `bot.cli.sandbox` points logging there.

    `input_stream` (a queue of lines, None = end of input) and `output_stream` (a list, a queue
    or a text stream) make it scriptable; `serve(settings, stop_event)` defaults to the real bot.
    `message_ids` keeps where the next run's message ids start (`first_message_id`); without
    it every run starts at 1.
    """
    write = _writer(output_stream)
    serve = serve or _default_serve
    staff_id = staff_chat_id or getattr(settings, "staff_chat_id", None) or SANDBOX_STAFF_CHAT_ID
    first_id = first_message_id(message_ids, time.time()) if message_ids is not None else 1
    async with BotAPIEmulator(token=SANDBOX_TOKEN, first_message_id=first_id) as emu:
        user = emu.user(user_id, first_name=first_name)
        staff: GroupMember | None = None
        if staff_id is not None:
            group = emu.group(int(staff_id), title="Металлэнергофинанс — обращения")
            staff = group.member(STAFF_MEMBER_ID, first_name="Сотрудник", status="administrator")
        terminal = _Terminal(emu, user, staff, write, download_dir, phone)
        emu.subscribe(terminal.on_event)
        update: dict[str, Any] = {
            "telegram_api_url": emu.base_url,
            "bot_token": SecretStr(SANDBOX_TOKEN),
            "staff_chat_id": staff_id,
        }
        if hasattr(settings, "webhook_url"):
            update["webhook_url"] = None
        if getattr(settings, "payment_provider_token", "") is None:
            # The emulator plays Telegram's checkout (/pay): «Оплата» can be tried without a shop.
            update["payment_provider_token"] = SecretStr(SANDBOX_PROVIDER_TOKEN)
        bot_settings = settings.model_copy(update=update)
        stop_event = asyncio.Event()
        bot_task = asyncio.create_task(serve(bot_settings, stop_event))
        lines = input_stream if input_stream is not None else _stdin_lines()
        scripted = input_stream is not None or not sys.stdin.isatty()
        write(HELP)
        write(f"Файлы от бота сохраняются в {download_dir}.")
        if log_file is not None:
            write(f"Журнал бота (ход работы и ошибки) пишется в {log_file}.")
        write("Запускаю бота…")
        try:
            ready = asyncio.ensure_future(emu.wait_for_call("getUpdates", timeout=120))
            await asyncio.wait({ready, bot_task}, return_when=asyncio.FIRST_COMPLETED)
            if ready.done() and not ready.exception():
                write("Бот готов — пишите.")
                await _chat_loop(terminal, lines, bot_task, emu if scripted else None)
            else:
                ready.cancel()
        finally:
            stop_event.set()
            try:
                await asyncio.wait_for(bot_task, 30)
            except Exception as exc:  # the bot's own failure, shown to the person
                write(f"Бот остановился с ошибкой: {type(exc).__name__}: {exc}")
            if message_ids is not None:
                chats = [user.chat] + ([staff.chat] if staff is not None else [])
                _keep_next_message_id(message_ids, chats)
        write("Песочница закрыта.")


async def _settle(emu: BotAPIEmulator, first_reply: float = 10.0, quiet: float = 0.4) -> None:
    """For piped input: let the bot answer a line before the next one is sent, as a person would
    wait; returns after `quiet` seconds without new API calls (or `first_reply` with none).
    The polling loop's own getUpdates calls are not an answer: on a busy machine the bot asks
    for updates again well before it replies."""

    def answers() -> int:
        return sum(1 for call in emu.calls if call.method.lower() != "getupdates")

    def more_than(count: int) -> Callable[[], bool | None]:
        return lambda: True if answers() > count else None

    if await wait_until(emu.call_signal, more_than(answers()), first_reply) is None:
        return
    while await wait_until(emu.call_signal, more_than(answers()), quiet):
        pass


async def _chat_loop(
    terminal: _Terminal,
    lines: asyncio.Queue[str | None],
    bot_task: asyncio.Task[None],
    settle_on: BotAPIEmulator | None = None,
) -> None:
    while True:
        reader = asyncio.ensure_future(lines.get())
        done, _ = await asyncio.wait({reader, bot_task}, return_when=asyncio.FIRST_COMPLETED)
        if reader not in done:
            reader.cancel()
            return
        line = reader.result()
        pushed = len(terminal.emu.updates)
        if line is None or not await terminal.handle(line):
            return
        if settle_on is not None and len(terminal.emu.updates) > pushed:  # the bot got something
            await _settle(settle_on)
