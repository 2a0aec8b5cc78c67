"""CPU per update, reply latency, throughput and memory of the cabinet bot, next to a bare
aiogram echo bot driven the same way in the same run; each bot in its own process.

    python benchmarks/updates.py [--quick] [--rate 50] [--updates 1000] [--users 200]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
        [--redis-url redis://127.0.0.1:6379/15] [--no-postgres]

The cabinet runs as `python -m bot run` and the baseline as `benchmarks/echo_bot.py`, both
polling Bot API emulators served by this process (which also plays the users). Per backend
(SQLite; PostgreSQL + Redis when reachable: a scratch database is created on that server and
dropped after) and scenario (a guest sending /start and /menu; a logged-in subscriber walking
the readings dialog: «Показания», a meter, a value, «Без фото», «Подтвердить»):
- open loop: updates injected at a fixed rate both bots sustain; CPU time of the bot's process
  per update (utime + stime from /proc) and reply latency p50/p99;
- closed loop: every user pressing as fast as replies come; throughput and latency;
- peak RSS of each bot process (VmHWM) after the run.
`BENCH_PROFILE=1` runs the cabinet under cProfile and prints the top of each backend's profile.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.texts import common as common_texts  # noqa: E402
from bot.texts import readings as readings_texts  # noqa: E402
from emulator import BotAPIEmulator  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GUEST_BASE, SUBSCRIBER_BASE, WARM_BASE = 100_000, 200_000, 90_000
PREVIOUS_VALUE, MONTHLY = Decimal(10_000), Decimal(200)
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
REDIS_DEFAULT = "redis://127.0.0.1:6379/15"
REPLY_TIMEOUT = 60


# --- what users do ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Send a text (or press a button with that caption) and wait for a reply containing
    `expected`; texts may depend on the user's number."""

    press: bool
    text: Callable[[int], str]
    expected: Callable[[int], str]


def _send(text: str | Callable[[int], str], expected: str | Callable[[int], str]) -> Step:
    return Step(False, _fn(text), _fn(expected))


def _press(caption: str | Callable[[int], str], expected: str) -> Step:
    return Step(True, _fn(caption), _fn(expected))


def _fn(value: str | Callable[[int], str]) -> Callable[[int], str]:
    return value if callable(value) else (lambda _: value)


def serial(user: int) -> str:
    return f"9{user:09d}"


def typed_value(_: int) -> str:
    return str(PREVIOUS_VALUE + MONTHLY)


GUEST_CABINET = [_send("/start", "личный кабинет абонента"), _send("/menu", "личный кабинет")]
GUEST_BARE = [_send("/start", "/start"), _send("/menu", "/menu")]
WALK_CABINET = [
    _send(common_texts.MENU_READINGS, readings_texts.CHOOSE_METER),
    _press(lambda u: readings_texts.BTN_ENTER.format(serial=serial(u)), "Введите показание"),
    _send(typed_value, readings_texts.ASK_PHOTO),
    _press(readings_texts.BTN_NO_PHOTO, "Проверьте показания"),
    _press(readings_texts.BTN_CONFIRM, "Показания приняты"),
]
WALK_BARE = [
    _send("Показания", "Показания"),
    _press("Нажать", "нажато"),
    _send(typed_value, typed_value),
    _press("Нажать", "нажато"),
    _press("Нажать", "нажато"),
]
SCENARIOS = {
    "guest": (GUEST_BASE, GUEST_CABINET, GUEST_BARE),
    "subscriber": (SUBSCRIBER_BASE, WALK_CABINET, WALK_BARE),
}


# --- the bot processes ---------------------------------------------------------------------------


@dataclass
class BotProcess:
    name: str
    emu: BotAPIEmulator
    process: asyncio.subprocess.Process
    profile: Path | None = None

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 60)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def bot_env(token: str, emu: BotAPIEmulator, folder: Path, **values: str) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "SMTP_", "YOOKASSA_", "DATABASE_", "REDIS_", "WEBHOOK_"))
    }
    return {
        **clean,
        "BOT_TOKEN": token,
        "TELEGRAM_API_URL": emu.base_url,
        "MAIL_DIR": str(folder / "mail"),
        "UPLOAD_DIR": str(folder / "uploads"),
        "REDIS_URL": "",
        "WEBHOOK_URL": "",
        "LOG_LEVEL": "WARNING",
        **values,
    }


@asynccontextmanager
async def bot_process(
    name: str, args: list[str], env: dict[str, str], emu: BotAPIEmulator, log: Path
) -> AsyncIterator[BotProcess]:
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, env=env, stdout=stderr, stderr=stderr
        )
    running = BotProcess(name, emu, process)
    try:
        waiting = asyncio.create_task(emu.wait_for_call("getUpdates", timeout=300))
        exited = asyncio.create_task(process.wait())
        done, _ = await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
        if waiting not in done:
            waiting.cancel()
            raise RuntimeError(f"{name} exited before polling:\n{tail(log)}")
        exited.cancel()
        waiting.result()
        yield running
    finally:
        await running.stop()


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


# --- driving --------------------------------------------------------------------------------------


@dataclass
class Phase:
    updates: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    lost: int = 0  # updates whose reply did not come within REPLY_TIMEOUT

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.updates * 1000


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in this process (the emulators and the users) while a phase is
    measured. A full collection here stopped the emulators for 150–250 ms once or twice per
    run, and whichever bot's phase it fell in got those replies late: ~10 updates at 50/s, the
    whole of a p99 of 1 000. The garbage of a phase is collected after it."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


async def act(emu: BotAPIEmulator, user_id: int, step: Step, phase: Phase) -> bool:
    """Whether the expected reply came (a lost one is counted, and its chat printed once)."""
    user = emu.user(user_id, first_name=f"U{user_id}")
    started = time.perf_counter()
    try:
        if step.press:
            await user.press(step.text(user_id))
        else:
            await user.send(step.text(user_id))
        await user.expect(step.expected(user_id), timeout=REPLY_TIMEOUT)
    except AssertionError as exc:
        phase.lost += 1
        if phase.lost == 1:
            print(f"  a reply did not come: {exc}"[:1500])
        return False
    phase.latencies.append(time.perf_counter() - started)
    return True


async def closed_loop(bot: BotProcess, base: int, steps: list[Step], users: int) -> Phase:
    """Every user walks the steps once, each step as soon as the previous reply came."""
    phase = Phase(updates=users * len(steps))

    async def one(user_id: int) -> None:
        for step in steps:
            if not await act(bot.emu, user_id, step, phase):
                return

    with collector_paused():
        cpu, started = bot.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(one(base + i) for i in range(users)))
        phase.seconds, phase.cpu = time.perf_counter() - started, bot.cpu_seconds() - cpu
    return phase


async def open_loop(
    bot: BotProcess, base: int, steps: list[Step], users: int, rate: float, updates: int
) -> Phase:
    """One update every 1/rate s, each from the next user whose last reply has come (the
    users cycle through the steps); the phase ends when the last reply came."""
    phase = Phase(updates=updates)
    ready: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for i in range(users):
        ready.put_nowait((base + i, 0))
    tasks: set[asyncio.Task[None]] = set()
    late = 0

    async def one(user_id: int, index: int) -> None:
        replied = await act(bot.emu, user_id, steps[index], phase)
        ready.put_nowait((user_id, (index + 1) % len(steps) if replied else 0))

    loop = asyncio.get_running_loop()
    with collector_paused():
        cpu, started = bot.cpu_seconds(), loop.time()
        for n in range(updates):
            await asyncio.sleep(max(0.0, started + n / rate - loop.time()))
            if ready.empty():
                late += 1
            user_id, index = await ready.get()
            task = asyncio.create_task(one(user_id, index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*tasks)
        phase.seconds, phase.cpu = loop.time() - started, bot.cpu_seconds() - cpu
    if late:
        print(f"  ({bot.name}: no user ready for {late} ticks — the rate is too high)")
    return phase


# --- data ---------------------------------------------------------------------------------------


async def prepare_database(database_url: str, env: dict[str, str], users: int) -> None:
    """Migrations and demo data as an operator makes them, then `users` subscribers, each with
    an account and a single-zone meter with a year of readings, logged in directly."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo-data", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await process.communicate()
    if process.returncode:
        raise RuntimeError(stderr.decode())

    from bot.db import create_engine, create_session_factory
    from models import (
        Account,
        AccountLink,
        Login,
        Meter,
        Reading,
        ReadingSource,
        ReadingStatus,
        utcnow,
    )
    from services.identity import bind_login
    from services.periods import last_periods

    engine = create_engine(database_url)
    periods = sorted(last_periods(date.today(), 12))
    try:
        async with create_session_factory(engine)() as session:
            for i in range(users):
                user_id = SUBSCRIBER_BASE + i
                account = Account(
                    number=f"75{user_id:08d}", holder_surname="Тестов", holder_name="Тест",
                    holder_patronymic=None, address=f"г. Магнитогорск, ул. Тестовая, д. {i + 1}",
                )  # fmt: skip
                login = Login(
                    email=f"bench{user_id}@mef.example", phone="+79990000000",
                    surname="Тестов", name="Тест", patronymic=None, password_hash="-",
                    activated_at=utcnow(), consent_version="2026-01", consent_at=utcnow(),
                )  # fmt: skip
                meter = Meter(
                    account=account, serial_number=serial(user_id), zones=1, digits=6,
                    verified_until=date.today() + timedelta(days=3650),
                )  # fmt: skip
                session.add_all([account, login, meter])
                await session.flush()
                for k, period in enumerate(periods):
                    session.add(
                        Reading(
                            meter_id=meter.id, zone=1, period=period,
                            value=PREVIOUS_VALUE - MONTHLY * (len(periods) - 1 - k),
                            source=ReadingSource.BILLING, status=ReadingStatus.ACCEPTED,
                            taken_on=period.replace(day=20),
                        )
                    )  # fmt: skip
                session.add(AccountLink(login_id=login.id, account_id=account.id, is_current=True))
                await bind_login(session, user_id, user_id, login.id)
            await session.commit()
    finally:
        await engine.dispose()


@asynccontextmanager
async def scratch_pg_database(admin_url: str) -> AsyncIterator[str]:
    import asyncpg

    name = f"mef_bench_{uuid.uuid4().hex[:10]}"
    dsn = admin_url.replace("+asyncpg", "")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def drop_redis_keys(url: str, bot_id: int) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(f"fsm:{bot_id}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def reachable(url: str, port: int) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or port), 1):
            return True
    except OSError:
        return False


# --- one backend ------------------------------------------------------------------------------------


@dataclass
class Figures:
    open: dict[str, Phase] = field(default_factory=dict)
    closed: dict[str, Phase] = field(default_factory=dict)
    rss: float = 0.0


async def run_backend(
    label: str, database_url: str, redis_url: str | None, args: argparse.Namespace, folder: Path
) -> tuple[Figures, Figures]:
    bot_id = int(time.time()) % 10**8 + 10**8
    tokens = {"cabinet": f"{bot_id}:BENCH-CABINET", "bare": f"{bot_id + 1}:BENCH-BARE"}
    async with AsyncExitStack() as stack:
        emus = {
            name: await stack.enter_async_context(BotAPIEmulator(token=token))
            for name, token in tokens.items()
        }
        cabinet_env = bot_env(
            tokens["cabinet"], emus["cabinet"], folder,
            DATABASE_URL=database_url, REDIS_URL=redis_url or "",
        )  # fmt: skip
        await prepare_database(database_url, cabinet_env, args.users)
        cabinet_args = ["-m", "bot", "run"]
        profile = None
        if os.environ.get("BENCH_PROFILE"):
            profile = Path(tempfile.gettempdir()) / f"mef-bench-{label.split()[0].lower()}.pstats"
            cabinet_args = ["-m", "cProfile", "-o", str(profile), *cabinet_args]
        bots = {
            "cabinet": await stack.enter_async_context(
                bot_process("cabinet", cabinet_args, cabinet_env, emus["cabinet"],
                            folder / "cabinet.log")
            ),
            "bare": await stack.enter_async_context(
                bot_process("bare", [str(ROOT / "benchmarks" / "echo_bot.py")],
                            bot_env(tokens["bare"], emus["bare"], folder), emus["bare"],
                            folder / "bare.log")
            ),
        }  # fmt: skip
        bots["cabinet"].profile = profile
        if redis_url:
            stack.push_async_callback(drop_redis_keys, redis_url, bot_id)
        figures = {name: Figures() for name in bots}
        try:
            for scenario in args.scenario:
                base, cabinet_steps, bare_steps = SCENARIOS[scenario]
                for name, steps in (("cabinet", cabinet_steps), ("bare", bare_steps)):
                    bot = bots[name]
                    warm = WARM_BASE if scenario == "guest" else base
                    await closed_loop(bot, warm, steps, min(10, args.users))
                    figures[name].open[scenario] = await open_loop(
                        bot, base, steps, args.users, args.rate, args.updates
                    )
                    figures[name].closed[scenario] = await closed_loop(bot, base, steps, args.users)
        except Exception:
            print("  the cabinet's log ends with:\n" + tail(folder / "cabinet.log"))
            raise
        for name, bot in bots.items():
            figures[name].rss = bot.peak_rss_mb()
        await bots["cabinet"].stop()
        errors = [line for line in tail(folder / "cabinet.log").splitlines() if "Error" in line]
        if errors:
            print("  the cabinet logged:\n  " + "\n  ".join(errors[-10:]))
        if profile is not None:
            print_profile(profile)
    return figures["cabinet"], figures["bare"]


def print_profile(path: Path) -> None:
    import pstats

    print(f"\nprofile of the cabinet process: {path}")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def report(label: str, cabinet: Figures, bare: Figures, args: argparse.Namespace) -> None:
    rows: list[tuple[str, float, float, str]] = []
    for scenario in args.scenario:
        o_c, o_b = cabinet.open[scenario], bare.open[scenario]
        c_c, c_b = cabinet.closed[scenario], bare.closed[scenario]
        rows += [
            (f"{scenario}: CPU per update, open loop (ms)", o_c.cpu_ms, o_b.cpu_ms, ".2f"),
            (f"{scenario}: p50 latency, open loop (ms)", o_c.pct(0.5), o_b.pct(0.5), ".1f"),
            (f"{scenario}: p99 latency, open loop (ms)", o_c.pct(0.99), o_b.pct(0.99), ".1f"),
            (f"{scenario}: throughput, closed loop (updates/s)", c_c.rate, c_b.rate, ".0f"),
            (f"{scenario}: CPU per update, closed loop (ms)", c_c.cpu_ms, c_b.cpu_ms, ".2f"),
            (f"{scenario}: p50 latency, closed loop (ms)", c_c.pct(0.5), c_b.pct(0.5), ".0f"),
            (f"{scenario}: p99 latency, closed loop (ms)", c_c.pct(0.99), c_b.pct(0.99), ".0f"),
        ]
        lost = sum(p.lost for p in (o_c, c_c, o_b, c_b))
        if lost:
            rows.append((f"{scenario}: replies lost (cabinet + bare)", lost, 1, ".0f"))
    rows.append(("peak RSS (MiB)", cabinet.rss, bare.rss, ".0f"))
    print(f"\n{label}: open loop {args.updates} updates at {args.rate:g}/s over {args.users} "
          f"users; closed loop {args.users} users × the scenario's steps")  # fmt: skip
    print(f"| {'figure':<50} | {'cabinet':>9} | {'bare':>9} | {'ratio':>6} |")
    print(f"|{'-' * 52}|{'-' * 10}:|{'-' * 10}:|{'-' * 7}:|")
    for name, ours, theirs, spec in rows:
        ratio = ours / theirs if theirs else float("nan")
        print(f"| {name:<50} | {ours:>9{spec}} | {theirs:>9{spec}} | {ratio:>5.2f}× |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer users and updates")
    parser.add_argument("--users", type=int, default=None, help="default 200 (50 with --quick)")
    parser.add_argument("--updates", type=int, default=None, help="open-loop updates per phase")
    parser.add_argument("--rate", type=float, default=50.0, help="open-loop updates per second")
    parser.add_argument("--database-url", default=PG_DEFAULT, help="PostgreSQL server to use")
    parser.add_argument("--redis-url", default=REDIS_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL + Redis only")
    parser.add_argument(
        "--scenario", action="append", choices=list(SCENARIOS), help="default: all of them"
    )
    args = parser.parse_args()
    args.users = args.users or (50 if args.quick else 200)
    args.updates = args.updates or (300 if args.quick else 1000)
    args.scenario = args.scenario or list(SCENARIOS)

    import aiogram
    import sqlalchemy

    load = os.getloadavg()
    print(f"{date.today()} · {platform.machine()} · {os.cpu_count()} cores · load "
          f"{load[0]:.1f} · Python {platform.python_version()} · aiogram {aiogram.__version__} · "
          f"SQLAlchemy {sqlalchemy.__version__}")  # fmt: skip
    backends: list[tuple[str, Any]] = []
    if not args.no_sqlite:
        backends.append(("SQLite (FSM in the database)", None))
    if not args.no_postgres:
        if reachable(args.database_url, 5432) and reachable(args.redis_url, 6379):
            backends.append(("PostgreSQL + Redis", args.database_url))
        else:
            print("PostgreSQL or Redis is not reachable: SQLite only")
    for label, admin_url in backends:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            async with AsyncExitStack() as stack:
                if admin_url is None:
                    database_url, redis_url = f"sqlite+aiosqlite:///{folder}/bench.db", None
                else:
                    database_url = await stack.enter_async_context(scratch_pg_database(admin_url))
                    redis_url = args.redis_url
                cabinet, bare = await run_backend(label, database_url, redis_url, args, folder)
            report(label, cabinet, bare, args)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


def run() -> None:
    asyncio.run(main())


if __name__ == "__main__":
    run()
