"""`python -m bot bill --period YYYY-MM`: the monthly billing run for one period."""

from __future__ import annotations

import argparse
import sys
import time

from bot.cli.export_readings import parse_period
from bot.cli.progress import Progress
from bot.clock import Clock
from bot.db import apply_migrations, create_engine, create_session_factory
from bot.settings import Settings
from bot.texts import bills as texts
from services import billing

NAME = "bill"
HELP = "выставить счета за период: по показаниям, без показаний — по среднему"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--period", required=True, metavar="ГГГГ-ММ", help="расчётный период")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Exit code 0 when the run finished (skipped accounts are listed); 2 for a wrong period."""
    period = parse_period(args.period)
    if period is None:
        print(texts.BAD_PERIOD, file=sys.stderr)
        return 2
    clock = Clock(settings.zone)
    started = time.perf_counter()
    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            with Progress(texts.BILLING_TITLE, 0, enabled=sys.stderr.isatty()) as bar:
                summary = await billing.run_billing(
                    session,
                    period,
                    today=clock.today(),
                    now=clock.now(),
                    window=settings.reading_window_days,
                    due_day=settings.bill_due_day,
                    progress=bar.update,
                )
    except billing.PeriodNotClosed as exc:
        print(texts.period_not_closed(exc.period, exc.opens_on), file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    if summary.skipped:
        print(texts.skipped_header(len(summary.skipped)), file=sys.stderr)
        for skipped in summary.skipped:
            print(f"  {texts.skip_reason(skipped)}", file=sys.stderr)
    print(texts.billing_summary(summary, time.perf_counter() - started), file=sys.stderr)
    return 0
