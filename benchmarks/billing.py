"""Billing benchmark: the monthly run over N accounts on SQLite and PostgreSQL, and PDF receipts
per second next to a bare one-page fpdf2 document with the same font.

Run from the project root:
    .venv/bin/python -m benchmarks.billing [--accounts 100000] [--receipts 2000]
        [--workers N] [--pg-admin-url URL | --no-postgres]

The run is `python -m bot bill --period …` itself, in a child process, so its time and peak
memory (max RSS of the child) are what the operator gets. The data set has a year of meter
history: 7 months of readings per zone, last month's bill for every account, this month's
reading for 85 % of the meters (the rest are billed by the average), some late and corrected
readings. Receipts are rendered from synthetic bills (1–3 lines) on every core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, text

from bot.db import create_engine, upgrade_sync
from models import Account, Charge, ChargeLine, Meter, Reading, Tariff
from services import billing, receipts
from services.periods import shift

WINDOW = (15, 25)
PERIOD = billing.last_closed_period(date.today(), WINDOW)
PRICES = {(1, 1): "5.60", (2, 1): "6.45", (2, 2): "3.51",
          (3, 1): "7.42", (3, 2): "3.51", (3, 3): "5.60"}  # fmt: skip
CHUNK = 20_000
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


# --- data --------------------------------------------------------------------------------------


def _rows(accounts: int, seed: int = 2026) -> dict[str, list[dict[str, object]]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    tables: dict[str, list[dict[str, object]]] = {
        "tariffs": [], "accounts": [], "meters": [], "readings": [], "charges": [],
        "charge_lines": [],
    }  # fmt: skip
    for (scheme, zone), price in PRICES.items():
        tables["tariffs"].append({"zone_scheme": scheme, "zone": zone, "name": f"{scheme}/{zone}",
                                  "price": Decimal(price),
                                  "effective_from": shift(PERIOD, -24)})  # fmt: skip
    meter_id = reading_id = line_id = 0
    previous = shift(PERIOD, -1)
    for account_id in range(1, accounts + 1):
        tables["accounts"].append({
            "id": account_id, "number": f"74{account_id:08d}", "subscriber_type": "individual",
            "holder_surname": "Иванов", "holder_name": "Иван", "holder_patronymic": "Петрович",
            "address": f"г. Магнитогорск, ул. Металлургов, д. {account_id % 300}",
            "balance": Decimal(0), "created_at": now, "updated_at": now,
        })  # fmt: skip
        tables["charges"].append({
            "id": account_id, "account_id": account_id, "period": previous,
            "number": f"74{account_id:08d}-{previous:%Y%m}", "opening_balance": Decimal(0),
            "charged": Decimal(0), "paid": Decimal(0), "total_due": Decimal(0),
            "due_date": billing.due_date(previous, 10), "created_at": now,
        })  # fmt: skip
        for _ in range(1 if rng.random() < 0.7 else 2):
            meter_id += 1
            zones = rng.choice((1, 1, 1, 2, 3))
            tables["meters"].append({
                "id": meter_id, "account_id": account_id, "serial_number": f"S{meter_id:08d}",
                "zones": zones, "digits": 6, "is_active": True, "created_at": now,
            })  # fmt: skip
            for zone in range(1, zones + 1):
                value = Decimal(rng.randint(1000, 90000))
                monthly = Decimal(rng.randint(50, 300))
                for back in range(7, -1, -1):
                    period = shift(PERIOD, -back)
                    if back == 0 and rng.random() < 0.15:
                        break  # no reading this month: billed by the average
                    reading_id += 1
                    tables["readings"].append({
                        "id": reading_id, "meter_id": meter_id, "zone": zone, "period": period,
                        "value": value, "source": "subscriber", "status": "accepted",
                        "taken_on": period.replace(day=20), "submitted_at": now,
                    })  # fmt: skip
                    if back == 1:
                        line_id += 1
                        tables["charge_lines"].append({
                            "id": line_id, "charge_id": account_id, "meter_id": meter_id,
                            "zone": zone, "previous_value": value - monthly,
                            # 3 % of last month's lines billed another value: a correction now
                            "current_value": value + (5 if rng.random() < 0.03 else 0),
                            "consumption": monthly, "price": Decimal("5.60"),
                            "amount": (monthly * Decimal("5.60")).quantize(Decimal("0.01")),
                            "basis": "reading",
                        })  # fmt: skip
                    value += monthly
    return tables


async def fill(url: str, accounts: int) -> dict[str, int]:
    tables = _rows(accounts)
    models = {"tariffs": Tariff, "accounts": Account, "meters": Meter, "readings": Reading,
              "charges": Charge, "charge_lines": ChargeLine}  # fmt: skip
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for name, rows in tables.items():
                for start in range(0, len(rows), CHUNK):
                    await connection.execute(insert(models[name]), rows[start : start + CHUNK])
            if url.startswith("postgresql"):
                for name in ("accounts", "meters", "readings", "charges", "charge_lines"):
                    await connection.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                             f"(SELECT max(id) FROM {name}))")
                    )  # fmt: skip
                await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return {name: len(rows) for name, rows in tables.items()}


# Peak memory is the child's VmHWM: ru_maxrss would include the parent's memory at fork time.
CHILD = (
    "import resource, runpy, sys\n"
    "sys.argv = ['bot', *sys.argv[1:]]\n"
    "code = 0\n"
    "try:\n"
    "    runpy.run_module('bot', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print('CPU', usage.ru_utime + usage.ru_stime, file=sys.stderr)\n"
    "peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM')]\n"
    "print('MAXRSS', peak[0].split()[1], file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def bill(url: str) -> tuple[float, float, float, str]:
    """`python -m bot bill` as a child process: (wall seconds, its CPU seconds, its peak RSS in
    MiB, its summary). CPU time says what the run costs on a machine shared with others."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "bill", "--period", f"{PERIOD:%Y-%m}"],
        env={**os.environ, "DATABASE_URL": url, "READING_WINDOW": "15-25"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"bill failed:\n{result.stderr}")
    rest, _, peak = result.stderr.strip().rpartition("MAXRSS ")
    summary, _, cpu = rest.strip().rpartition("CPU ")
    return seconds, float(cpu), int(peak) / 1024, summary.strip()


async def _pg(sql: str, admin: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin.replace("+asyncpg", ""))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def run_backend(name: str, url: str, accounts: int) -> None:
    upgrade_sync(url)
    started = time.perf_counter()
    counts = await fill(url, accounts)
    print(f"{name}: data ready in {time.perf_counter() - started:.0f} s: {counts}", flush=True)
    seconds, cpu, peak, summary = bill(url)
    print(f"{name}: billing run {seconds:.1f} s wall, {cpu:.1f} s CPU of the bot's process "
          f"(process start and migration check included), peak RSS {peak:.0f} MiB; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    print("  " + summary.replace("\n", "\n  "), flush=True)


# --- receipts ----------------------------------------------------------------------------------


def _sample(index: int) -> receipts.ReceiptData:
    from models import LineBasis

    rng = random.Random(index)
    zones = rng.choice((1, 1, 2, 3))
    lines = []
    for zone in range(1, zones + 1):
        start = Decimal(rng.randint(1000, 90000))
        used = Decimal(rng.randint(50, 400))
        lines.append(billing.BillLine(f"S{index:08d}", zones, zone, start, start + used, used,
                                      Decimal("5.60"), used * Decimal("5.60"), LineBasis.READING,
                                      None))  # fmt: skip
    charged = sum((ln.amount for ln in lines), Decimal(0))
    return receipts.ReceiptData(
        supplier=receipts.Supplier("ООО «Металлэнергофинанс»", "7445000128", "744501001",
                                   "40702810672000012345",
                                   "Челябинское отделение № 8597 ПАО Сбербанк", "047501602",
                                   "30101810700000000602"),
        charge_id=index, account_number=f"74{index:08d}",
        payer="Римская-Корсакова Людмила Петровна",
        address=f"г. Магнитогорск, пр. Победы, д. {index % 200}, кв. {index % 90}",
        period=PERIOD, number=f"74{index:08d}-{PERIOD:%Y%m}", issued_on=date.today(),
        due_date=billing.due_date(PERIOD, 10), lines=tuple(lines), opening_balance=Decimal(0),
        paid_in_period=Decimal(0), charged=charged, total_due=charged, paid_since=Decimal(0),
        to_pay=charged,
    )  # fmt: skip


def _time_receipt(text: receipts.ReceiptText) -> tuple[float, float]:
    """(wall, CPU) seconds of one receipt in a worker."""
    started, cpu = time.perf_counter(), time.process_time()
    receipts.render(text)
    return time.perf_counter() - started, time.process_time() - cpu


def _time_bare(line: str) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    receipts.bare_document(line)
    return time.perf_counter() - started, time.process_time() - cpu


def _measure(fn, items: list, workers: int) -> tuple[float, list[tuple[float, float]]]:  # type: ignore[no-untyped-def,type-arg]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fn, items[:workers]))  # warm every worker: imports, font
        started = time.perf_counter()
        durations = list(pool.map(fn, items, chunksize=8))
        return time.perf_counter() - started, durations


def bench_receipts(count: int, workers: int) -> None:
    from bot.texts.bills import receipt_text

    texts = [receipt_text(_sample(i)) for i in range(count)]
    lines = [f"Квитанция № 74{i:08d} — проверка шрифта" for i in range(count)]
    rows = []
    for name, fn, items in (("bare one-page fpdf2, same font", _time_bare, lines),
                            ("receipt with QR", _time_receipt, texts)):  # fmt: skip
        wall, durations = _measure(fn, items, workers)
        walls = sorted(d[0] * 1000 for d in durations)
        cpus = sorted(d[1] * 1000 for d in durations)
        last = int(len(walls) * 0.99) - 1
        rows.append((name, count / wall, statistics.median(walls), walls[last],
                     statistics.median(cpus), cpus[last]))  # fmt: skip
    print(f"receipts: {count} each, {workers} worker processes, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for name, rate, median, p99, cpu_median, cpu_p99 in rows:
        print(f"  {name:<32} {rate:7.1f}/s   wall median {median:6.1f} ms, p99 {p99:6.1f} ms"
              f"   CPU median {cpu_median:6.1f} ms, p99 {cpu_p99:6.1f} ms")  # fmt: skip
    ratio = rows[1][2] / rows[0][2]
    cpu_ratio = rows[1][4] / rows[0][4]
    print(f"  ratio receipt/bare (median): {ratio:.2f}× wall, {cpu_ratio:.2f}× CPU")
    print(f"  100 000 receipts: ≈ {100_000 / rows[1][1] / 60:.0f} min at this rate; ≈ "
          f"{100_000 * rows[1][4] / 1000 / workers / 60:.0f} min on {workers} free cores "
          "(CPU median)")  # fmt: skip


SUPPLIER_ENV = {"SUPPLIER_NAME": "ООО «Металлэнергофинанс»", "SUPPLIER_INN": "7445000128",
                "SUPPLIER_KPP": "744501001", "SUPPLIER_ACCOUNT": "40702810672000012345",
                "SUPPLIER_BANK": "Челябинское отделение № 8597 ПАО Сбербанк",
                "SUPPLIER_BIC": "047501602",
                "SUPPLIER_CORR_ACCOUNT": "30101810700000000602"}  # fmt: skip


def _receipts_command(url: str, out: Path, workers: int) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the command and its workers, PDFs written)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "receipts", "--period", f"{PERIOD:%Y-%m}",
         "--out", str(out), "--workers", str(workers)],
        env={**os.environ, "DATABASE_URL": url, "READING_WINDOW": "15-25", **SUPPLIER_ENV},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"receipts failed:\n{result.stderr}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return seconds, cpu, len(list(out.glob("*.pdf")))


async def cli_receipts(accounts: int, workers: int) -> None:
    """`python -m bot receipts` end to end on SQLite: reading the bills, the texts, the worker
    processes and the files; CPU of the command and its workers together (RUSAGE_CHILDREN)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        upgrade_sync(url)
        await fill(url, accounts)
        bill(url)
        seconds, cpu, written = _receipts_command(url, Path(folder) / "out", workers)
    print(f"receipts command: {written} PDFs in {seconds:.1f} s wall ({written / seconds:.1f}/s) "
          f"with {workers} workers; CPU of the command and its workers {cpu:.1f} s = "
          f"{cpu / written * 1000:.1f} ms per receipt → 100 000 on {workers} free cores ≈ "
          f"{100_000 * cpu / written / workers / 60:.0f} min; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip


# --- main --------------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--receipts", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pg-admin-url", default=os.environ.get("TEST_DATABASE_URL", PG_ADMIN))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--only", choices=("billing", "receipts"), default=None)
    parser.add_argument(
        "--command-receipts",
        type=int,
        default=2000,
        metavar="N",
        help="accounts for the end-to-end `python -m bot receipts` (0: skip)",
    )
    args = parser.parse_args()
    print(f"period {PERIOD:%Y-%m}, {args.accounts} accounts; Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores")  # fmt: skip
    if args.only != "receipts":
        with tempfile.TemporaryDirectory() as folder:
            await run_backend("SQLite", f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}",
                              args.accounts)  # fmt: skip
        if not args.no_postgres:
            name = f"mef_bench_{uuid.uuid4().hex[:8]}"
            await _pg(f'CREATE DATABASE "{name}"', args.pg_admin_url)
            try:
                url = f"{args.pg_admin_url.rsplit('/', 1)[0]}/{name}"
                await run_backend("PostgreSQL", url, args.accounts)
            finally:
                await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', args.pg_admin_url)
    if args.only != "billing":
        bench_receipts(args.receipts, args.workers)
        if args.command_receipts:
            await cli_receipts(args.command_receipts, args.workers)


if __name__ == "__main__":
    asyncio.run(main())
