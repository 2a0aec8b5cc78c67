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
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

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
from aiogram.types import BufferedInputFile, InputFile
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.telegram_retry import caller_handles_errors, never_reached_telegram
from bot.texts import bills as bill_texts
from bot.texts import notifications as notification_texts
from keyboards.notifications import for_notification
from models import Channel, utcnow
from services import notifications, receipts
from services.sms import SmsError, SmsGateway

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 2
SAFETY = 0.97  # pace at 97 % of the limit: network jitter must not push a second over it
PER_CHAT_SECONDS = 1.05
MAX_IN_FLIGHT = 16
BACKOFF_START, BACKOFF_MAX = 1.0, 60.0


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
    ) -> None:
        self.bot, self.sessions, self.sms, self.supplier = bot, sessions, sms, supplier
        self.interval = 1 / (rate * SAFETY)
        self.batch = max(1, int(rate))
        self.lease = lease
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._backoff = BACKOFF_START
        self._chat_ready: dict[int, float] = {}
        self._in_flight: set[int] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._running = asyncio.Lock()
        self._file_ids: dict[int, str] = {}  # charge id → Telegram file id of its receipt
        self._sent = 0

    @property
    def busy(self) -> bool:
        return self._running.locked()

    async def drain(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Send what is due, paced; returns how many were sent. `stop()` true: finish the sends
        in flight, hand the rest of the claimed batch back at once, and return."""
        tasks: set[asyncio.Task[bool]] = set()
        async with self._running:
            self._sent = 0
            try:
                while not stop():
                    async with self.sessions() as session:
                        batch = await notifications.claim_due(
                            session, limit=self.batch, lease=self.lease
                        )
                    batch = [m for m in batch if m.id not in self._in_flight]
                    if not batch:
                        break
                    for position, item in enumerate(batch):
                        if stop():
                            await self._hand_back(batch[position:])
                            break
                        if item.channel == Channel.TELEGRAM and not await self._chat_turn(item):
                            continue
                        await self._turn()
                        await self._slots.acquire()
                        self._in_flight.add(item.id)
                        task = asyncio.create_task(self._deliver(item))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
            except asyncio.CancelledError:
                # Cancelled (the process is going down hard): so are the sends in flight; their
                # messages stay leased and go out after the lease, from whichever process.
                for task in tasks:
                    task.cancel()
                raise
            finally:
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
            return self._sent

    async def _turn(self) -> None:
        """Wait for the next send slot: even spacing under the rate, and no send while paused."""
        while True:
            now = time.monotonic()
            start = max(now, self._next_slot, self._paused_until)
            if start <= now:
                self._next_slot = now + self.interval
                return
            await asyncio.sleep(start - now)

    async def _chat_turn(self, item: notifications.OutgoingMessage) -> bool:
        """At most one message a second to a chat: a later one is put back until its turn."""
        now = time.monotonic()
        ready = self._chat_ready.get(item.chat_id, 0.0)
        if ready > now:
            async with self.sessions() as session:
                await notifications.postpone(
                    session, item.id, utcnow() + timedelta(seconds=ready - now)
                )
            return False
        self._chat_ready[item.chat_id] = now + PER_CHAT_SECONDS
        if len(self._chat_ready) > 50_000:
            self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}
        return True

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
            if not await notifications.still_wanted(session, item.kind, item.payload):
                await notifications.mark_failed(
                    session, item.id, "not needed any more", permanent=True
                )
                return False
            try:
                if item.channel == Channel.SMS:
                    return await self._send_sms(session, item)
                text = notification_texts.render(item.kind, item.payload)
            except KeyError as exc:
                log.error("no text for notification kind %s", exc)
                await notifications.mark_failed(session, item.id, "unknown kind", permanent=True)
                return False
            document = await self._document(session, item)
        markup = for_notification(item.kind, item.payload)
        try:
            with caller_handles_errors():
                if document is not None:
                    message = await self.bot.send_document(
                        item.chat_id, document, caption=text, reply_markup=markup
                    )
                    if message.document is not None and "charge_id" in item.payload:
                        self._file_ids[int(item.payload["charge_id"])] = message.document.file_id
                else:
                    await self.bot.send_message(item.chat_id, text, reply_markup=markup)
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
        async with self.sessions() as session:
            await notifications.mark_sent(session, item.id)
        self._backoff = BACKOFF_START
        return True

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


def build_sender(runtime: Runtime) -> OutboxSender:
    settings = runtime.settings
    return OutboxSender(
        runtime.bot,
        runtime.sessions,
        rate=settings.outbox_rate,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        sms=runtime.extras.get("sms"),
        supplier=settings.supplier(),
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
