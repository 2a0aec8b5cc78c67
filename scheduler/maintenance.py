"""Hourly housekeeping: forget abandoned dialogs and expired registration data, delete uploads
no record refers to, and queue again the staff cards of applications staff have not seen.

Abandoned dialogs in the database storage (Redis expires its keys by itself), pending
registrations long expired, old letter secrets and attempt counters: personal data is kept no
longer than it serves its purpose (152-ФЗ).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock
from bot.fsm_storage import SqlAlchemyStorage
from models import utcnow
from services import auth, contracts, files

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
INTERVAL_MINUTES = 60
CARD_GRACE = timedelta(minutes=10)  # a card posted at submission has had its chance by then


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
    await purge_uploads(runtime)
    await queue_missing_cards(runtime)


async def purge_uploads(runtime: Runtime) -> None:
    # Stored files carry real (not clock) creation times; a dialog's files are referred to only
    # by its state until it ends, so they are safe after the dialog lifetime.
    settings = runtime.settings
    async with runtime.sessions() as session:
        purged = await files.purge_unreferenced(
            session, settings.upload_dir, before=utcnow() - settings.dialog_ttl
        )
    log.info("deleted %s unreferenced uploads, %s files on disk", purged.rows, purged.files)


async def queue_missing_cards(runtime: Runtime) -> None:
    staff_chat_id = runtime.settings.staff_chat_id
    if staff_chat_id is None:
        return
    clock: Clock = runtime.extras["clock"]
    async with runtime.sessions() as session:
        queued = await contracts.queue_missing_cards(
            session, staff_chat_id, now=clock.now(), grace=CARD_GRACE
        )
    if queued:
        log.warning("queued %s application cards the staff chat had not received", queued)


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
