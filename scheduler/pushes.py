"""Scheduled pushes, every few minutes and once at start (a bot that was down catches up):
reading reminders in the reading window, meter verification notices, and the monthly bill if
the billing job finished but its push did not go out. Each is a pass that happens once
(services.notifications), whichever process and tick gets to it first."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock
from services import billing, notifications

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
INTERVAL_MINUTES = 5


@dataclass(frozen=True, slots=True)
class PushSummary:
    reminders: int
    verification: int
    bills: int


async def queue_pushes(runtime: Runtime) -> PushSummary:
    settings = runtime.settings
    clock: Clock = runtime.extras["clock"]
    now, today, zone = clock.now(), clock.today(), settings.zone
    window, at = settings.reading_window_days, settings.reminder_time
    async with runtime.sessions() as session:
        reminders = await notifications.queue_reminders(
            session, now=now, zone=zone, window=window, at=at
        )
    verification = 0
    if clock.local_now().time() >= at:
        async with runtime.sessions() as session:
            verification = await notifications.queue_verification(session, today, now=now)
    period = billing.last_closed_period(today, window)
    async with runtime.sessions() as session:
        bills = await notifications.queue_bills(session, period, now=now)
    summary = PushSummary(reminders, verification, bills)
    if reminders or verification or bills:
        log.info("queued %s reminders, %s verification notices, %s bills",
                 reminders, verification, bills)  # fmt: skip
    return summary


def register(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    scheduler.add_job(
        queue_pushes,
        "interval",
        minutes=INTERVAL_MINUTES,
        args=[runtime],
        id="pushes",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),  # at start: catch up on what was missed while down
    )
