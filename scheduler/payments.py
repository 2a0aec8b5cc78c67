"""Re-reads pending YooKassa link payments, in case a notification was lost."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from services import payments
from services.yookassa_api import ProviderUnavailable

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)


async def poll_pending_payments(runtime: Runtime) -> int:
    """Returns how many pending payments were resolved (credited or cancelled)."""
    gateway = runtime.extras.get("yookassa")
    if gateway is None:
        return 0
    async with runtime.sessions() as session:
        try:
            return await payments.poll_pending(session, gateway, now=runtime.extras["clock"].now())
        except ProviderUnavailable as exc:
            log.warning("YooKassa unavailable while polling pending payments: %s", exc)
            return 0


def register(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    if runtime.extras.get("yookassa") is None:
        return
    scheduler.add_job(
        poll_pending_payments,
        "interval",
        seconds=runtime.settings.yookassa_poll_seconds,
        args=[runtime],
        id="payments-poll",
        max_instances=1,
        coalesce=True,
    )
