"""Registry import benchmark: `python -m bot import-registry` on a generated file of N rows, on
SQLite and PostgreSQL, next to a bare baseline in the same run; prints rows/s, wall and CPU
time and peak memory.

Run from the project root:
    .venv/bin/python -m benchmarks.import_registry [--rows 100000]
        [--database-url URL | --backend sqlite|postgres|both] [--pg-admin-url URL] [--bad-line]

The import runs as a child process (`python -m bot import-registry FILE`), so its time and peak
memory (VmHWM of that process) are what the operator gets. Each backend gets a fresh database
(unless `--database-url` or DATABASE_URL names one): a first import, then a re-import of the same
file (nothing changes), and with `--bad-line` a third file whose last line is bad (nothing is
written, the line is reported). The baselines do the least the same job needs, in a child process
measured the same way: the csv module reading the file alone, and the file's fields loaded as
text into a plain table of the same database (sqlite3 executemany; asyncpg COPY).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from services import registry

DEFAULT_ROWS = 100_000
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def write_file(path: Path, rows: int, seed: int = 2026) -> None:
    """About 1.3 meters per account; zone schemes and readings vary like a real registry. The
    lines are what `registry.format_row` writes (no field here needs quoting), only faster."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write(";".join(registry.HEADER) + "\n")
        account = 0
        written = 0
        while written < rows:
            account += 1
            holder = "Иванов;Иван;" + ("Петрович" if account % 5 else "")
            address = f"г. Магнитогорск, ул. Металлургов, д. {account % 300}, кв. {account % 97}"
            verified = f"01.{1 + account % 12:02d}.2030"
            taken = f"{1 + account % 25:02d}.11.2026"
            for m in range(1 if rng.random() < 0.7 else 2):
                if written >= rows:
                    break
                zones = rng.choice((1, 1, 2, 3))
                cents = [rng.randint(0, 99_999_99) for _ in range(zones)]
                values = [f"{c // 100},{c % 100:02d}" for c in cents] + [""] * (3 - zones)
                out.write(
                    f"74{account:08d};{holder};{address};{account:08d}-{m};{zones};6;"
                    f"{verified};{taken};{';'.join(values)}\n"
                )
                written += 1


def with_bad_last_line(good: Path, bad: Path) -> None:
    """The same file with its last line made bad (digits out of range)."""
    data = good.read_bytes()
    head, _, last = data.rstrip(b"\n").rpartition(b"\n")
    bad.write_bytes(head + b"\n" + last.replace(b";6;", b";66;", 1) + b"\n")


@dataclass
class Run:
    seconds: float
    cpu: float
    peak_mib: float
    code: int
    out: str
    err: str
    server_cpu: float | None = None  # PostgreSQL: CPU of the server processes of its connections


def _server_cpu(database: str, seen: dict[int, float]) -> None:
    """Adds to `seen` the CPU time so far (user + system) of each PostgreSQL backend connected to
    `database` (its process title names the database); they exit with their connections, so the
    caller samples while the child runs and keeps the last value of each."""
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes()
            if not title.startswith(b"postgres: ") or f" {database} ".encode() not in title:
                continue
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seen[int(proc.name)] = (int(fields[11]) + int(fields[12])) / tick


MEASURE = (
    "import resource\n"
    "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print('CPU', usage.ru_utime + usage.ru_stime, file=sys.stderr)\n"
    "peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM')]\n"
    "print('MAXRSS', peak[0].split()[1], file=sys.stderr)\n"
)
# `python -m bot ARGS` in this child, then its CPU time and peak RSS (VmHWM: ru_maxrss of a child
# started from a big parent would report the parent's memory at fork time).
CHILD = (
    "import runpy, sys\n"
    "sys.argv = ['bot', *sys.argv[1:]]\n"
    "code = 0\n"
    "try:\n"
    "    runpy.run_module('bot', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n" + MEASURE + "sys.exit(code)\n"
)


def child(args: list[str], env: dict[str, str], database: str | None = None) -> Run:
    """`python -c CHILD ARGS` (CHILD runs `python -m bot ARGS` and prints its CPU time and
    VmHWM), or a baseline script when ARGS start with `-c`. With `database` (PostgreSQL on this
    machine), also the CPU time of the server processes serving that database meanwhile."""
    started = time.perf_counter()
    command = [sys.executable, "-c", CHILD, *args]
    if args[0] == "-c":
        command = [sys.executable, "-c", args[1] + "\n" + MEASURE, *args[2:]]
    seen: dict[int, float] = {}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err_file:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=err_file)
        while process.poll() is None:
            if database is not None:
                _server_cpu(database, seen)
            time.sleep(0.2)
        out.seek(0)
        err_file.seek(0)
        stdout, stderr = out.read(), err_file.read()
    seconds = time.perf_counter() - started
    rest, _, peak = stderr.strip().rpartition("MAXRSS ")
    err, _, cpu = rest.strip().rpartition("CPU ")
    if not peak:
        raise SystemExit(f"{args} failed:\n{stderr}")
    server = sum(seen.values()) if database is not None and seen else None
    return Run(
        seconds, float(cpu), int(peak) / 1024, process.returncode, stdout, err.strip(), server
    )


CSV_ONLY = (
    "import csv, sys\n"
    "with open(sys.argv[1], encoding='utf-8-sig', newline='') as f:\n"
    "    n = sum(1 for _ in csv.reader(f, delimiter=';'))\n"
    "print(n - 1)\n"
)
SQLITE_LOAD = (
    "import csv, sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[2])\n"
    "db.execute('CREATE TABLE bare (' + ', '.join(f'c{i} TEXT' for i in range(13)) + ')')\n"
    "with open(sys.argv[1], encoding='utf-8-sig', newline='') as f:\n"
    "    rows = csv.reader(f, delimiter=';')\n"
    "    next(rows)\n"
    "    db.executemany('INSERT INTO bare VALUES (' + ', '.join('?' * 13) + ')', rows)\n"
    "db.commit()\n"
    "print(db.execute('SELECT count(*) FROM bare').fetchone()[0])\n"
)
PG_LOAD = (
    "import asyncio, csv, itertools, sys\n"
    "import asyncpg\n"
    "async def main():\n"
    "    db = await asyncpg.connect(sys.argv[2])\n"
    "    await db.execute('CREATE TABLE bare (' + ', '.join(f'c{i} text' for i in range(13)) + ')')\n"
    "    with open(sys.argv[1], encoding='utf-8-sig', newline='') as f:\n"
    "        rows = csv.reader(f, delimiter=';')\n"
    "        next(rows)\n"
    "        while batch := list(itertools.islice(rows, 5000)):\n"
    "            await db.copy_records_to_table('bare', records=batch)\n"
    "    print(await db.fetchval('SELECT count(*) FROM bare'))\n"
    "    await db.close()\n"
    "asyncio.run(main())\n"
)


def line(title: str, run: Run, rows: int) -> str:
    server = f"  server CPU {run.server_cpu:6.1f} s" if run.server_cpu is not None else ""
    return (
        f"  {title:<34} {run.seconds:6.1f} s wall {run.cpu:6.1f} s CPU "
        f"{rows / run.seconds:9.0f} rows/s  peak RSS {run.peak_mib:5.0f} MiB{server}"
    )


def bench(name: str, url: str, files: dict[str, Path], rows: int, folder: Path) -> None:
    env = {"DATABASE_URL": url, "REDIS_URL": "", "LOG_LEVEL": "WARNING"}
    database = None if url.startswith("sqlite") else url.rsplit("/", 1)[1]
    print(f"{name}: {rows} rows; load average {os.getloadavg()[0]:.1f}", flush=True)
    if url.startswith("sqlite"):
        bare = child(["-c", SQLITE_LOAD, str(files["good"]), str(folder / "bare.db")], {})
        (folder / "bare.db").unlink()
        print(line("bare: csv + sqlite3 executemany", bare, rows), flush=True)
    else:
        dsn = url.replace("+asyncpg", "")
        bare = child(["-c", PG_LOAD, str(files["good"]), dsn], {}, database)
        asyncio.run(_pg("DROP TABLE bare", dsn))
        print(line("bare: csv + asyncpg COPY (text)", bare, rows), flush=True)
    first = child(["import-registry", str(files["good"])], env, database)
    if first.code != 0:
        raise SystemExit(f"import failed ({first.code}):\n{first.err[-3000:]}")
    print(line("import-registry, first import", first, rows), flush=True)
    print("    " + first.out.strip().replace("\n", "\n    "), flush=True)
    print(f"    ratio to bare: {first.seconds / bare.seconds:.1f}× wall, "
          f"{first.peak_mib / bare.peak_mib:.1f}× memory", flush=True)  # fmt: skip
    again = child(["import-registry", str(files["good"])], env, database)
    print(line("import-registry, same file again", again, rows), flush=True)
    if "bad" in files:
        bad = child(["import-registry", str(files["bad"])], env, database)
        assert bad.code == 1, bad.err[-2000:]
        reported = [e for e in bad.err.splitlines() if e.startswith("строка ")]
        print(line("import-registry, last line bad", bad, rows), flush=True)
        print(f"    exit {bad.code}; reported: {reported}", flush=True)


async def _pg(sql: str, dsn: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn.replace("+asyncpg", ""))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg-admin-url", default=os.environ.get("TEST_DATABASE_URL", PG_ADMIN))
    parser.add_argument(
        "--bad-line", action="store_true", help="also import a file whose last line is bad"
    )
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        files = {"good": folder / "registry.csv"}
        started = time.perf_counter()
        write_file(files["good"], args.rows)
        if args.bad_line:
            files["bad"] = folder / "registry-bad.csv"
            with_bad_last_line(files["good"], files["bad"])
        size = files["good"].stat().st_size / 2**20
        print(
            f"files written in {time.perf_counter() - started:.0f} s ({size:.0f} MiB)", flush=True
        )
        reading = child(["-c", CSV_ONLY, str(files["good"])], {})
        print(line("bare: csv module reads the file", reading, args.rows), flush=True)
        if args.database_url:
            bench("given database", args.database_url, files, args.rows, folder)
            return
        if args.backend in ("sqlite", "both"):
            bench("SQLite", f"sqlite+aiosqlite:///{folder / 'bench.db'}", files, args.rows, folder)
        if args.backend in ("postgres", "both"):
            database = f"mef_bench_{uuid.uuid4().hex[:8]}"
            admin = args.pg_admin_url
            asyncio.run(_pg(f'CREATE DATABASE "{database}"', admin))
            try:
                url = f"{admin.rsplit('/', 1)[0]}/{database}"
                bench("PostgreSQL", url, files, args.rows, folder)
            finally:
                asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', admin))


if __name__ == "__main__":
    main()
