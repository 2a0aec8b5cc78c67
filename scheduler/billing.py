"""The monthly billing run, every night at 01:30 in the supplier's time zone: it bills the last
period whose reading window has closed (nothing to do when it is billed already, so a missed
night is caught up the next one), then queues the monthly bill push (once per period)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock
from services import billing, notifications

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
HOUR, MINUTE = 1, 30


async def bill_closed_period(runtime: Runtime) -> billing.RunSummary:
    settings = runtime.settings
    clock: Clock = runtime.extras["clock"]
    today = clock.today()
    period = billing.last_closed_period(today, settings.reading_window_days)
    async with runtime.sessions() as session:
        summary = await billing.run_billing(
            session,
            period,
            today=today,
            now=clock.now(),
            window=settings.reading_window_days,
            due_day=settings.bill_due_day,
        )
        await notifications.billing_finished(session, period, now=clock.now())
        bills = await notifications.queue_bills(session, period, now=clock.now())
    if bills:
        log.info("billing %s: %s bill notifications queued", period, bills)
    if summary.billed or summary.skipped:
        log.info(
            "billing %s: %s billed (%s by average), %s skipped, %s charged",
            period, summary.billed, summary.by_average, len(summary.skipped),
            summary.total_charged,
        )  # fmt: skip
    return summary


def register(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    scheduler.add_job(
        bill_closed_period,
        "cron",
        hour=HOUR,
        minute=MINUTE,
        args=[runtime],
        id="billing",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=6 * 3600,
    )
