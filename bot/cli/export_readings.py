"""`python -m bot export-readings --period YYYY-MM [--out FILE]`: accepted readings for billing."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import date
from pathlib import Path

from bot.db import apply_migrations, create_engine, create_session_factory
from bot.settings import Settings
from bot.texts import readings as texts
from services.readings import export_csv, export_rows

NAME = "export-readings"
HELP = "выгрузить принятые показания за период в CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--period", required=True, metavar="ГГГГ-ММ", help="расчётный период")
    parser.add_argument(
        "--out", default=None, metavar="ФАЙЛ", help="куда записать CSV (по умолчанию stdout)"
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    return await run_export(settings, args.period, args.out)


def parse_period(text: str) -> date | None:
    match = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", text)
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) == 0:  # no year 0
        return None
    return date(int(match[1]), int(match[2]), 1)


async def run_export(settings: Settings, period: str, out: str | None) -> int:
    """Write the CSV to `out` (UTF-8) or to stdout; the summary goes to stderr. Returns the exit code."""
    parsed = parse_period(period)
    if parsed is None:
        print(texts.EXPORT_BAD_PERIOD, file=sys.stderr)
        return 2
    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            rows = await export_rows(session, parsed)
    finally:
        await engine.dispose()
    content = export_csv(rows, settings.zone)
    if out is None:
        sys.stdout.write(content)
        sys.stdout.flush()
        target = "stdout"
    else:
        await asyncio.to_thread(Path(out).write_text, content, encoding="utf-8", newline="")
        target = out
    print(texts.export_done(len(rows), parsed, target), file=sys.stderr)
    return 0
