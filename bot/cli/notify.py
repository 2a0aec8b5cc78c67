"""`python -m bot notify [--dry-run]`: the scheduled pushes due now — reading reminders, meter
verification notices, the last billed period's bills — queued at once (the bot's pushes job
does the same every few minutes), or with --dry-run only listed."""

from __future__ import annotations

import argparse

from bot.clock import Clock
from bot.db import apply_migrations, create_engine, create_session_factory
from bot.settings import Settings
from bot.texts import notifications as texts
from services import billing, notifications

NAME = "notify"
HELP = "напоминания о показаниях, о поверке и счета, которые должны уйти сейчас"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="только показать, кому и что уйдёт, не отправляя"
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    clock = Clock(settings.zone)
    now, today = clock.now(), clock.today()
    window, at = settings.reading_window_days, settings.reminder_time
    period = billing.last_closed_period(today, window)
    time_reached = clock.local_now().time() >= at
    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        sessions = create_session_factory(engine)
        async with sessions() as session:
            if args.dry_run:
                planned = await notifications.plan_reminders(
                    session, now=now, zone=settings.zone, window=window, at=at
                )
                if time_reached:
                    planned += await notifications.plan_verification(session, today)
                if await notifications.pass_done(session, "billing", period.isoformat()):
                    planned += await notifications.plan_bills(session, period, now=now)
                print(texts.notify_plan(planned, now.astimezone(settings.zone)))
                return 0
            reminders = await notifications.queue_reminders(
                session, now=now, zone=settings.zone, window=window, at=at
            )
        verification = 0
        if time_reached:
            async with sessions() as session:
                verification = await notifications.queue_verification(session, today, now=now)
        async with sessions() as session:
            bills = await notifications.queue_bills(session, period, now=now)
    finally:
        await engine.dispose()
    print(texts.notify_queued(reminders, verification, bills))
    return 0
