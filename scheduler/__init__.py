"""APScheduler jobs: each is thin and calls one service; the scheduler lives as long as the bot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

if TYPE_CHECKING:
    from bot.app import Runtime


def build_scheduler(runtime: Runtime) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=runtime.settings.zone)
    from scheduler.appeals import register as register_appeals
    from scheduler.billing import register as register_billing
    from scheduler.maintenance import register as register_maintenance
    from scheduler.outbox import register as register_outbox
    from scheduler.payments import register as register_payments
    from scheduler.pushes import register as register_pushes

    register_outbox(scheduler, runtime)
    register_billing(scheduler, runtime)
    register_payments(scheduler, runtime)
    register_maintenance(scheduler, runtime)
    register_appeals(scheduler, runtime)
    register_pushes(scheduler, runtime)
    return scheduler
