"""Hourly housekeeping: forget abandoned dialogs and expired registration data.

Abandoned dialogs in the database storage (Redis expires its keys by itself), pending
registrations long expired, old letter secrets and attempt counters: personal data is kept no
longer than it serves its purpose (152-ФЗ).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock
from bot.fsm_storage import SqlAlchemyStorage
from services import auth

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
INTERVAL_MINUTES = 60


async def purge_expired(runtime: Runtime) -> None:
    clock: Clock = runtime.extras["clock"]
    now = clock.now()
    dialogs = 0
    if isinstance(runtime.storage, SqlAlchemyStorage):
        dialogs = await runtime.storage.purge(before=now - runtime.settings.dialog_ttl)
    async with runtime.sessions() as session:
        purged = await auth.purge_expired(session, now=now)
    log.info(
        "purged %s dialogs, %s pending registrations, %s letter secrets, %s counters",
        dialogs, purged.pending, purged.tokens, purged.counters,
    )  # fmt: skip


def register(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    scheduler.add_job(
        purge_expired,
        "interval",
        minutes=INTERVAL_MINUTES,
        args=[runtime],
        id="maintenance",
        max_instances=1,
        coalesce=True,
    )
