"""Writers of one process on one SQLite file, as the bot has them: how long a write waits for
the write lock, with the driver's write queue (bot/sqlite_driver.py) and without it (SQLite's
busy handler), in the same run.

    python benchmarks/sqlite_writers.py [--writers 60] [--seconds 10] [--busy-tasks 20]

Two engines on one file (the updates' and the dialog storage's, as bot/app.py builds them).
Each writer task loops: a dialog-like write (one upsert, committed with it) or, one time in
five, a submission-like transaction (an insert, a read, an update, then the commit, each its own
trip). `--busy-tasks` tasks keep the event loop busy with 1 ms slices of CPU between awaits, as
the updates being handled do. Printed per variant: writes per second, the write's latency
p50/p99/max (from the first statement to the commit's return) and CPU time per write.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.sqlite_driver
from bot.db import COMMIT_AT_ONCE, create_engine

UPSERT = text(
    "INSERT INTO dialog (k, v) VALUES (:k, :v) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
).execution_options(**{COMMIT_AT_ONCE: True})


async def writer(
    engines: tuple[AsyncEngine, AsyncEngine], n: int, stop: float, latencies: list[float]
) -> None:
    step = 0
    while time.perf_counter() < stop:
        step += 1
        started = time.perf_counter()
        if step % 5:
            async with engines[0].connect() as connection:
                await connection.execute(UPSERT, {"k": f"user{n}", "v": f"step {step}"})
                await connection.commit()
        else:
            async with engines[1].connect() as connection:
                inserted = await connection.execute(
                    text("INSERT INTO submission (user, step) VALUES (:u, :s)"), {"u": n, "s": step}
                )
                await connection.execute(text("SELECT count(*) FROM submission WHERE user = :u"),
                                         {"u": n})  # fmt: skip
                await connection.execute(
                    text("UPDATE submission SET ref = 'R' || id WHERE id = :i"),
                    {"i": inserted.lastrowid},
                )
                await connection.commit()
        latencies.append(time.perf_counter() - started)


async def busy(stop: float) -> None:
    while time.perf_counter() < stop:
        until = time.perf_counter() + 0.001
        while time.perf_counter() < until:
            pass
        await asyncio.sleep(0)


async def variant(folder: Path, queued: bool, args: argparse.Namespace) -> None:
    original = bot.sqlite_driver.write_queue
    if not queued:
        bot.sqlite_driver.write_queue = lambda _database: None  # type: ignore[assignment]
    url = f"sqlite+aiosqlite:///{folder}/{'queued' if queued else 'busy'}.db"
    engines = (create_engine(url), create_engine(url))
    try:
        async with engines[0].begin() as connection:
            await connection.execute(text("CREATE TABLE dialog (k TEXT PRIMARY KEY, v TEXT)"))
            await connection.execute(
                text(
                    "CREATE TABLE submission (id INTEGER PRIMARY KEY, user INT, step INT, ref TEXT)"
                )
            )
        latencies: list[float] = []
        cpu, started = time.process_time(), time.perf_counter()
        stop = started + args.seconds
        await asyncio.gather(
            *(writer(engines, n, stop, latencies) for n in range(args.writers)),
            *(busy(stop) for _ in range(args.busy_tasks)),
        )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        for engine in engines:
            await engine.dispose()
        bot.sqlite_driver.write_queue = original
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    label = "write queue" if queued else "busy handler"
    print(f"| {label:<12} | {len(ordered) / wall:>8.0f} | {pct(0.5):>7.1f} | {pct(0.99):>7.1f} | "
          f"{ordered[-1] * 1000:>8.1f} | {cpu / len(ordered) * 1000:>7.2f} |")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--busy-tasks", type=int, default=20)
    args = parser.parse_args()
    print(f"{args.writers} writers, {args.busy_tasks} busy tasks, {args.seconds:g} s each")
    print("| variant      | writes/s | p50 ms  | p99 ms  | max ms   | CPU ms/write |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as name:
        for queued in (False, True):
            await variant(Path(name), queued, args)


if __name__ == "__main__":
    asyncio.run(main())
