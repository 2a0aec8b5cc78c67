"""Registry import benchmark: 100 000 rows into a fresh SQLite database; prints time and memory.

Run from the project root: `.venv/bin/python -m benchmarks.import_registry [ROWS] [--tracemalloc]`.
Peak memory is the process's max RSS (getrusage); `--tracemalloc` also traces Python
allocations, which is exact but makes the run several times slower.
"""

from __future__ import annotations

import asyncio
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from bot.db import create_engine, create_session_factory, upgrade_sync
from services import registry

DEFAULT_ROWS = 100_000


def write_file(path: Path, rows: int, seed: int = 2026) -> None:
    """About 1.3 meters per account; zone schemes and readings vary like a real registry."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write(";".join(registry.HEADER) + "\n")
        account = 0
        written = 0
        while written < rows:
            account += 1
            meters = 1 if rng.random() < 0.7 else 2
            for m in range(meters):
                if written >= rows:
                    break
                zones = rng.choice((1, 1, 2, 3))
                values = [Decimal(rng.randint(0, 99_999_99)) / 100 for _ in range(zones)]
                row = registry.RegistryRow(
                    line=0,
                    account=f"74{account:08d}",
                    surname="Иванов",
                    first_name="Иван",
                    patronymic="Петрович" if account % 5 else None,
                    address=f"г. Магнитогорск, ул. Металлургов, д. {account % 300}, кв. {account % 97}",
                    meter=f"{account:08d}-{m}",
                    zones=zones,
                    digits=6,
                    verified_until=date(2030, 1 + account % 12, 1),
                    reading_date=date(2026, 11, 1 + account % 25),
                    values=tuple(values),
                )
                out.write(registry.format_row(row))
                written += 1


async def run(rows: int, trace: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "registry.csv"
        db_url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        write_file(csv_path, rows)
        upgrade_sync(db_url)
        engine = create_engine(db_url)
        try:
            if trace:
                tracemalloc.start()
            started = time.perf_counter()
            with csv_path.open("rb") as stream:
                parsed, errors = registry.parse_rows(stream)
            parse_seconds = time.perf_counter() - started
            assert not errors, errors[:5]
            async with create_session_factory(engine)() as session:
                summary = await registry.import_rows(session, parsed, now=datetime.now(UTC))
            total = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
            tracemalloc.stop()
            again = time.perf_counter()
            async with create_session_factory(engine)() as session:
                second = await registry.import_rows(session, parsed, now=datetime.now(UTC))
            reimport = time.perf_counter() - again
        finally:
            await engine.dispose()
    max_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"rows: {rows}, file: {csv_path.name}")
    print(f"parse + validate: {parse_seconds:.1f} s")
    print(f"first import (parse + write): {total:.1f} s")
    print(
        f"  accounts {summary.accounts.created}, meters {summary.meters.created}, "
        f"readings {summary.readings.created}"
    )
    print(
        f"re-import of the same file: {reimport:.1f} s (unchanged readings: {second.readings.unchanged})"
    )
    if trace:
        print(f"peak Python memory (tracemalloc): {peak / 2**20:.0f} MiB")
    print(f"max RSS of the process (getrusage): {max_rss_kb / 1024:.0f} MiB")


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    asyncio.run(run(int(numbers[0]) if numbers else DEFAULT_ROWS, "--tracemalloc" in sys.argv))
