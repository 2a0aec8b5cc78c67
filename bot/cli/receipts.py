"""`python -m bot receipts --period YYYY-MM --out DIR`: one PDF per bill of the period, for print
mailing, rendered by worker processes; a file whose bill has not changed is kept as it is."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.export_readings import parse_period
from bot.cli.progress import Progress
from bot.db import apply_migrations, create_engine, create_session_factory
from bot.settings import Settings
from bot.texts import bills as texts
from models import Charge
from services import receipts

NAME = "receipts"
HELP = "квитанции PDF за период в папку, для печати и рассылки"
MANIFEST = ".versions.json"  # file name → version of the bill it was rendered from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--period", required=True, metavar="ГГГГ-ММ", help="расчётный период")
    parser.add_argument("--out", required=True, metavar="ПАПКА", help="куда записать PDF")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, metavar="N",
        help="сколько процессов рисуют квитанции (по умолчанию — по числу ядер)",
    )  # fmt: skip


async def run(settings: Settings, args: argparse.Namespace) -> int:
    period = parse_period(args.period)
    if period is None:
        print(texts.BAD_PERIOD, file=sys.stderr)
        return 2
    supplier = settings.supplier()
    if supplier is None:
        print(texts.NO_SUPPLIER, file=sys.stderr)
        return 2
    out = Path(args.out)
    started = time.perf_counter()
    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            total = await session.scalar(select(func.count()).where(Charge.period == period)) or 0
            if total == 0:
                print(texts.no_bills_for_period(period), file=sys.stderr)
                return 2
            written, kept = await write_receipts(
                session, period, supplier, out, max(1, args.workers), total
            )
    finally:
        await engine.dispose()
    print(texts.receipts_summary(written, kept, str(out), time.perf_counter() - started),
          file=sys.stderr)  # fmt: skip
    return 0


def _existing(out: Path) -> tuple[dict[str, str], set[str]]:
    """Create the folder; the versions of the receipts in it and the files present."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        manifest: dict[str, str] = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        manifest = {}
    return manifest, set(os.listdir(out))


def _save(out: Path, manifest: dict[str, str]) -> None:
    temporary = out / f"{MANIFEST}.part"
    temporary.write_text(json.dumps(manifest, ensure_ascii=False, indent=0), encoding="utf-8")
    temporary.replace(out / MANIFEST)


async def write_receipts(
    session: AsyncSession,
    period: date,
    supplier: receipts.Supplier,
    out: Path,
    workers: int,
    total: int,
) -> tuple[int, int]:
    """Render what changed in `workers` processes, at most a few receipts queued per worker."""
    manifest, present = await asyncio.to_thread(_existing, out)
    loop = asyncio.get_running_loop()
    written = kept = done = 0
    pending: set[asyncio.Future[str]] = set()
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
        Progress(texts.RECEIPTS_TITLE, total, enabled=sys.stderr.isatty()) as bar,
    ):
        async for batch in receipts.period_receipts(session, period, supplier):
            for data in batch:
                text = texts.receipt_text(data)
                version = receipts.version_of(text)
                target = out / text.filename
                if manifest.get(text.filename) == version and text.filename in present:
                    kept += 1
                    done += 1
                    continue
                manifest[text.filename] = version
                pending.add(loop.run_in_executor(pool, receipts.render_to_file, text, str(target)))
                written += 1
                if len(pending) >= workers * 4:
                    finished, pending = await asyncio.wait(
                        pending, return_when=asyncio.FIRST_COMPLETED
                    )
                    for future in finished:
                        future.result()
                    done += len(finished)
                bar.update(done)
        for future in asyncio.as_completed(pending):
            await future
            done += 1
            bar.update(done)
    await asyncio.to_thread(_save, out, manifest)
    return written, kept
