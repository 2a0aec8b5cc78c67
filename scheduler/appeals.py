"""Once a day, staff are reminded of appeals left without an answer for APPEAL_SLA_HOURS;
the reminder goes through the outbox (one per staff chat and day, whatever the job's reruns)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock
from services import appeals

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
HOUR, MINUTE = 10, 0


async def remind_overdue_appeals(runtime: Runtime) -> int:
    """Returns how many appeals are overdue."""
    clock: Clock = runtime.extras["clock"]
    async with runtime.sessions() as session:
        late = await appeals.queue_sla_reminders(
            session,
            now=clock.now(),
            today=clock.today(),
            sla_hours=runtime.settings.appeal_sla_hours,
        )
    if late:
        log.info("%s appeals without an answer are reminded to staff", late)
    return late


def register(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    scheduler.add_job(
        remind_overdue_appeals,
        "cron",
        hour=HOUR,
        minute=MINUTE,
        args=[runtime],
        id="appeals-sla",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=6 * 3600,
    )
