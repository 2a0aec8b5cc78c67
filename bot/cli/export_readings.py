"""`python -m bot export-readings --period YYYY-MM [--out FILE]`: accepted readings for billing."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from datetime import date
from pathlib import Path

from bot.db import apply_migrations, create_engine, create_session_factory
from bot.settings import OperatorError, Settings
from bot.texts import cli as cli_texts
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


def writable_target(out: str) -> Path:
    """Where `--out` points, checked before any work; an OperatorError (exit 2) otherwise."""
    target = Path(out)
    folder = target.parent
    if target.is_dir():
        raise OperatorError(cli_texts.out_is_folder(out), exit_code=2)
    if not folder.is_dir():
        raise OperatorError(cli_texts.out_folder_missing(out, str(folder)), exit_code=2)
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise OperatorError(cli_texts.out_not_writable(out), exit_code=2)
    return target


def _write_atomically(target: Path, content: str) -> None:
    """A reader of `target` sees the old file or the whole new one, never half of it."""
    partial = target.with_name(target.name + ".part")
    partial.write_text(content, encoding="utf-8", newline="")
    partial.replace(target)


async def run_export(settings: Settings, period: str, out: str | None) -> int:
    """Write the CSV to `out` (UTF-8) or to stdout; the summary goes to stderr. Returns the exit code."""
    parsed = parse_period(period)
    if parsed is None:
        print(texts.EXPORT_BAD_PERIOD, file=sys.stderr)
        return 2
    target = writable_target(out) if out is not None else None
    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            rows = await export_rows(session, parsed)
    finally:
        await engine.dispose()
    content = export_csv(rows, settings.zone)
    if target is None:
        sys.stdout.write(content)
        sys.stdout.flush()
    else:
        await asyncio.to_thread(_write_atomically, target, content)
    print(texts.export_done(len(rows), parsed, out or "stdout"), file=sys.stderr)
    return 0
