"""The outbox sender: delivers queued notifications within Telegram's limits.

- at most OUTBOX_RATE messages per second overall (paced evenly, a little under the limit) and
  at most one per second per chat (a second message to a chat waits its turn);
- a 429 pauses the whole sender for `retry_after`, and the message is sent again after it;
- a 5xx answer, a proxy's HTML page or a connection that was never made: the message is tried
  again later with growing pauses, and the sender slows down meanwhile;
- a send whose answer was lost (a timeout, a connection dropped mid-request) may have arrived:
  it is recorded as sent, not repeated;
- 403 (the user blocked the bot): the message is closed and the user marked; their further
  messages are skipped until they write to the bot again;
- the monthly bill goes as a document: the PDF receipt with the text as its caption.

Delivery is at least once: each message is marked sent right after Telegram's answer, one
commit per message; a crash in between (milliseconds) re-sends that message when its lease runs
out (OUTBOX_LEASE_SECONDS), and nothing claimed is lost — unsent messages wait out the lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, InputFile
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.telegram_retry import caller_handles_errors, never_reached_telegram
from bot.texts import bills as bill_texts
from bot.texts import notifications as notification_texts
from handlers.contracts import post_card
from keyboards import notifications as notification_keyboards
from models import Channel, utcnow
from services import notifications, receipts
from services.contracts import CARD_KIND
from services.sms import SmsError, SmsGateway

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 2
SAFETY = 0.97  # pace at 97 % of the limit: network jitter must not push a second over it
PER_CHAT_SECONDS = 1.05
WINDOW = 1.03
MAX_IN_FLIGHT = 16
BACKOFF_START, BACKOFF_MAX = 1.0, 60.0


OwnSender = Callable[[notifications.OutgoingMessage], Awaitable[None]]


class OutboxSender:
    """One per bot process; `drain()` sends until nothing is due (one drain at a time)."""

    def __init__(
        self,
        bot: Bot,
        sessions: async_sessionmaker[AsyncSession],
        *,
        rate: float,
        lease: timedelta,
        sms: SmsGateway | None = None,
        supplier: receipts.Supplier | None = None,
        senders: dict[str, OwnSender] | None = None,
    ) -> None:
        self.bot, self.sessions, self.sms, self.supplier = bot, sessions, sms, supplier
        self.senders = senders or {}
        self.interval = 1 / (rate * SAFETY)
        self.batch = max(1, int(rate))
        self.lease = lease
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._backoff = BACKOFF_START
        self._chat_ready: dict[int, float] = {}
        self._in_flight: set[int] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._gate = asyncio.Lock()
        self._running = asyncio.Lock()
        self._file_ids: dict[int, str] = {}  # charge id → Telegram file id of its receipt
        self._sent = 0
        self._recent: deque[float] = deque(maxlen=self.batch)
        self._marks: list[int] = []
        self._marks_ready = asyncio.Event()
        self._closing = False

    @property
    def busy(self) -> bool:
        return self._running.locked()

    async def drain(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Send what is due, paced; returns how many were sent. `stop()` true: finish the sends
        in flight, hand the rest of the claimed batch back at once, and return."""
        tasks: set[asyncio.Task[bool]] = set()
        upcoming: asyncio.Task[list[notifications.OutgoingMessage]] | None = None
        async with self._running:
            self._sent = 0
            flusher = asyncio.create_task(self._flush_marks())
            try:
                batch = await self._claim()
                while batch:
                    # The next batch is claimed while this one goes out: no pause between them.
                    upcoming = asyncio.create_task(self._claim())
                    for position, item in enumerate(batch):
                        if stop():
                            await self._hand_back(batch[position:])
                            break
                        if item.channel == Channel.TELEGRAM and not self._chat_turn(item, tasks):
                            continue
                        await self._slots.acquire()
                        self._in_flight.add(item.id)
                        self._track(tasks, self._deliver(item))
                    batch, upcoming = await upcoming, None
                    if stop():
                        await self._hand_back(batch)
                        break
            except asyncio.CancelledError:
                # Cancelled (the process is going down hard): so are the sends in flight; their
                # messages stay leased and go out after the lease, from whichever process.
                for task in [*tasks, *([upcoming] if upcoming else []), flusher]:
                    task.cancel()
                raise
            finally:
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
                if not flusher.done():
                    self._marks_ready.set()
                    self._closing = True
                    await flusher
            return self._sent

    async def _flush_marks(self) -> None:
        """Commit «sent» for what Telegram confirmed, as soon as it did: one commit for all the
        confirmations that arrived during the previous commit (at 30 messages a second, one or
        two). Until its commit a message could be sent again after a crash."""
        self._closing = False
        while True:
            await self._marks_ready.wait()
            self._marks_ready.clear()
            ids, self._marks = self._marks, []
            if ids:
                async with self.sessions() as session:
                    await notifications.mark_sent_many(session, ids)
            if self._closing and not self._marks:
                return

    async def _claim(self) -> list[notifications.OutgoingMessage]:
        async with self.sessions() as session:
            batch = await notifications.claim_due(session, limit=self.batch, lease=self.lease)
        return [m for m in batch if m.id not in self._in_flight]

    @staticmethod
    def _track(tasks: set[asyncio.Task[bool]], work: Coroutine[Any, Any, bool]) -> None:
        task = asyncio.create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _turn(self) -> None:
        """Wait for the next send slot: even spacing under the rate, never more than `rate`
        sends within WINDOW seconds (a margin over Telegram's second for network jitter), and
        no send while paused."""
        while True:
            now = time.monotonic()
            start = max(now, self._next_slot, self._paused_until)
            if len(self._recent) == self._recent.maxlen:
                start = max(start, self._recent[0] + WINDOW)
            if start <= now:
                self._recent.append(now)
                # Slots keep their even grid when the loop wakes a little late (the next gap is
                # shorter by as much); a sender late by more than half a slot starts a new grid.
                late = now - self._next_slot
                base = self._next_slot if late < self.interval / 2 else now
                self._next_slot = base + self.interval
                return
            await asyncio.sleep(start - now)

    def _chat_turn(
        self, item: notifications.OutgoingMessage, tasks: set[asyncio.Task[bool]]
    ) -> bool:
        """At most one message a second to a chat: a later one is put back until its turn."""
        now = time.monotonic()
        ready = self._chat_ready.get(item.chat_id, 0.0)
        if ready > now:
            self._track(tasks, self._postpone(item.id, ready - now))
            return False
        self._chat_ready[item.chat_id] = now + PER_CHAT_SECONDS
        if len(self._chat_ready) > 50_000:
            self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}
        return True

    async def _postpone(self, notification_id: int, seconds: float) -> bool:
        async with self.sessions() as session:
            await notifications.postpone(
                session, notification_id, utcnow() + timedelta(seconds=seconds)
            )
        return False

    async def _hand_back(self, items: list[notifications.OutgoingMessage]) -> None:
        async with self.sessions() as session:
            for item in items:
                await notifications.postpone(session, item.id, utcnow())

    def _pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def _deliver(self, item: notifications.OutgoingMessage) -> bool:
        try:
            sent = await self._send(item)
            self._sent += sent
            return sent
        except Exception:
            log.exception("notification %s (%s) failed unexpectedly", item.id, item.kind)
            async with self.sessions() as session:
                await notifications.mark_failed(session, item.id, "unexpected error")
            return False
        finally:
            self._in_flight.discard(item.id)
            self._slots.release()

    async def _send(self, item: notifications.OutgoingMessage) -> bool:
        async with self.sessions() as session:
            if not await notifications.still_wanted(session, item):
                await notifications.mark_failed(
                    session, item.id, "not needed any more", permanent=True
                )
                return False
            own_sender = self.senders.get(item.kind)
            text, document = "", None
            try:
                if item.channel == Channel.SMS:
                    return await self._send_sms(session, item)
                if own_sender is None:
                    text = notification_texts.render(item.kind, item.payload)
            except KeyError as exc:
                log.error("no text for notification kind %s", exc)
                await notifications.mark_failed(session, item.id, "unknown kind", permanent=True)
                return False
            if own_sender is None:
                document = await self._document(session, item)
        markup = notification_keyboards.keyboard(item.kind, item.payload)
        async with self._gate:  # the rate is kept here, right before the request goes out
            await self._turn()
        try:
            if own_sender is not None:
                # A feature's own message (a card with buttons and files): its several requests
                # keep the retry middleware.
                await own_sender(item)
            else:
                with caller_handles_errors():
                    await self._send_telegram(item, text, document, markup)
        except TelegramRetryAfter as exc:
            log.warning("429 from Telegram: the outbox pauses for %s s", exc.retry_after)
            self._pause(exc.retry_after)
            async with self.sessions() as session:
                await notifications.postpone(
                    session, item.id, utcnow() + timedelta(seconds=exc.retry_after)
                )
            return False
        except TelegramForbiddenError as exc:
            async with self.sessions() as session:
                await notifications.mark_chat_blocked(session, item.chat_id, item.id)
            log.info("chat %s: %s; skipped until the user writes again", item.chat_id, exc)
            return False
        except TelegramBadRequest as exc:
            async with self.sessions() as session:
                await notifications.mark_failed(session, item.id, str(exc), permanent=True)
            return False
        except TelegramNetworkError as exc:
            if never_reached_telegram(exc):
                return await self._retry_later(item, exc)
            # Telegram may have delivered it: not repeated (a subscriber never gets it twice).
            log.warning("notification %s: %s; may have arrived, not repeated", item.id, exc)
            async with self.sessions() as session:
                await notifications.mark_sent(session, item.id, note=f"unconfirmed: {exc}"[:500])
            return True
        except (TelegramServerError, ClientDecodeError, TelegramAPIError) as exc:
            return await self._retry_later(item, exc)
        self._marks.append(item.id)
        self._marks_ready.set()
        self._backoff = BACKOFF_START
        return True

    async def _send_telegram(
        self,
        item: notifications.OutgoingMessage,
        text: str,
        document: InputFile | str | None,
        markup: InlineKeyboardMarkup | None,
    ) -> None:
        if document is None:
            await self.bot.send_message(item.chat_id, text, reply_markup=markup)
            return
        message = await self.bot.send_document(
            item.chat_id, document, caption=text, reply_markup=markup
        )
        if message.document is not None and "charge_id" in item.payload:
            self._file_ids[int(item.payload["charge_id"])] = message.document.file_id

    async def _retry_later(self, item: notifications.OutgoingMessage, exc: Exception) -> bool:
        """5xx, a proxy's error page, no connection: slow the whole sender down and try this
        message again after a growing pause."""
        delay = self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)
        self._pause(delay)
        log.warning("notification %s: %s; retry in %.0f s", item.id, type(exc).__name__, delay)
        async with self.sessions() as session:
            await notifications.mark_failed(
                session,
                item.id,
                f"{type(exc).__name__}: {exc}",
                retry_in=timedelta(seconds=delay * 2 ** min(item.attempts, 10)),
            )
        return False

    async def _send_sms(self, session: AsyncSession, item: notifications.OutgoingMessage) -> bool:
        text = notification_texts.sms(item.kind, item.payload)
        if self.sms is None:
            await notifications.mark_failed(session, item.id, "no SMS gateway", permanent=True)
            return False
        try:
            await self.sms.send(str(item.payload["phone"]), text, message_id=f"mef-{item.id}")
        except SmsError as exc:
            await notifications.mark_failed(
                session, item.id, str(exc), permanent=exc.permanent,
                retry_in=timedelta(seconds=30 * 2 ** min(item.attempts, 8)),
            )  # fmt: skip
            return False
        await notifications.mark_sent(session, item.id)
        return True

    async def _document(
        self, session: AsyncSession, item: notifications.OutgoingMessage
    ) -> InputFile | str | None:
        """The PDF receipt of a monthly bill (its Telegram file id once uploaded); None for
        other kinds, or when the supplier's requisites are not configured."""
        if item.kind != notifications.BILL_KIND or self.supplier is None:
            return None
        charge_id = int(item.payload["charge_id"])
        if charge_id in self._file_ids:
            return self._file_ids[charge_id]
        receipt = await receipts.receipt_for_bill(
            session,
            int(item.payload["account_id"]),
            charge_id,
            self.supplier,
            bill_texts.receipt_text,
        )
        return BufferedInputFile(receipt.data, filename=receipt.filename)


async def deliver_outbox(runtime: Runtime) -> int:
    """Send what is due; returns how many were sent (0 at once when a drain is running)."""
    sender: OutboxSender = runtime.extras["outbox_sender"]
    if sender.busy:
        return 0
    scheduler: AsyncIOScheduler | None = runtime.extras.get("scheduler")
    return await sender.drain(
        stop=lambda: scheduler is not None and scheduler.state != STATE_RUNNING
    )


async def _send_card(runtime: Runtime, item: notifications.OutgoingMessage) -> None:
    async with runtime.sessions() as session:
        await post_card(runtime.bot, runtime.settings, session, int(item.payload["application_id"]))


def build_sender(runtime: Runtime) -> OutboxSender:
    settings = runtime.settings
    # Kinds a feature delivers itself (a card with buttons and files), not as one message.
    senders: dict[str, OwnSender] = {CARD_KIND: partial(_send_card, runtime)}
    return OutboxSender(
        runtime.bot,
        runtime.sessions,
        rate=settings.outbox_rate,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        sms=runtime.extras.get("sms"),
        supplier=settings.supplier(),
        senders=senders,
    )


def register(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    runtime.extras.setdefault("outbox_sender", build_sender(runtime))
    runtime.extras["scheduler"] = scheduler
    scheduler.add_job(
        deliver_outbox,
        "interval",
        seconds=INTERVAL_SECONDS,
        args=[runtime],
        id="outbox",
        max_instances=2,  # a tick during a long drain returns at once instead of being logged
        coalesce=True,
    )
