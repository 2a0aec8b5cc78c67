"""The real program as an operator starts it: `python -m bot run` against the emulator."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from emulator import BotAPIEmulator

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_run_serves_and_stops_gracefully_on_a_signal(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    token = "777000:PROCESS"
    async with BotAPIEmulator(token=token) as emu:
        env = {
            **os.environ,
            "BOT_TOKEN": token,
            "TELEGRAM_API_URL": emu.base_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/bot.db",
            "MAIL_DIR": str(tmp_path / "mail"),
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "REDIS_URL": "",
            "WEBHOOK_URL": "",
            "LOG_LEVEL": "INFO",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run",
            cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await emu.wait_for_call("getUpdates", timeout=60)
            user = emu.user(4242, first_name="Оператор")
            await user.send("/start")
            await user.expect("личный кабинет абонента", timeout=15)
            process.send_signal(stop_signal)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, stderr.decode()
    log = stderr.decode()
    assert "bot stopped" in log
    assert "Traceback" not in log
    assert (tmp_path / "data" / "bot.db").exists()  # the folder was created on first run


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The environment of an operator's shell with a fresh data folder; `values` on top."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "SMTP_"))}
    return {
        **clean,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/bot.db",
        "MAIL_DIR": str(tmp_path / "mail"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "REDIS_URL": "",
        "WEBHOOK_URL": "",
        "LOG_LEVEL": "INFO",
        **values,
    }


async def _run(env: dict[str, str], *args: str, timeout: float = 90) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def _last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


def assert_clean_exit(stderr: str) -> None:
    """No traceback and nothing left open behind a failed start."""
    for leak in ("Traceback", "Unclosed", "SchedulerNotRunningError", "Task was destroyed"):
        assert leak not in stderr, stderr


async def test_a_malformed_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, stderr = await _run(_env(tmp_path, BOT_TOKEN="abc"), "run")
    assert code == 2
    assert stderr.strip().splitlines() == [_last_line(stderr)]
    assert "BOT_TOKEN" in stderr and "@BotFather" in stderr
    assert_clean_exit(stderr)


async def test_a_revoked_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async with BotAPIEmulator(token="777000:VALID") as emu:
        env = _env(tmp_path, BOT_TOKEN="777000:REVOKED", TELEGRAM_API_URL=emu.base_url)
        code, stderr = await _run(env, "run")
    assert code == 2, stderr
    assert "BOT_TOKEN" in _last_line(stderr) and "401" in _last_line(stderr)
    assert_clean_exit(stderr)


async def test_an_api_that_comes_up_late_is_waited_for(tmp_path: Path) -> None:
    """A container may start before its network: the first getMe fails, a later one succeeds."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "777001:LATE"
    env = _env(tmp_path, BOT_TOKEN=token, TELEGRAM_API_URL=f"http://127.0.0.1:{port}")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    seen: list[str] = []
    try:
        assert process.stderr is not None
        while "attempt 1" not in (line := (await process.stderr.readline()).decode()):
            assert line, "".join(seen)
            seen.append(line)
        async with BotAPIEmulator(token=token, port=port) as emu:
            await emu.wait_for_call("getUpdates", timeout=30)
            process.send_signal(signal.SIGTERM)
            _, rest = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert_clean_exit("".join(seen) + rest.decode())


async def test_an_unreachable_api_gives_up_with_one_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _env(tmp_path, BOT_TOKEN="777002:DOWN", TELEGRAM_API_URL=f"http://127.0.0.1:{port}")
    code, stderr = await _run(env, "run")
    assert code == 3
    last = _last_line(stderr)
    assert "TELEGRAM_API_URL" in last and "соединение не установлено" in last
    assert stderr.count("next try in") == 4  # retried with growing pauses before giving up
    assert_clean_exit(stderr)


async def test_sigterm_lets_the_update_in_hand_finish_and_its_reply_arrive(
    tmp_path: Path,
) -> None:
    """A reply is on its way (Telegram is slow to take it) when SIGTERM comes: the bot stops
    taking updates but the reply is delivered, then it exits 0 with nothing cancelled."""
    token = "777003:SLOW"
    async with BotAPIEmulator(token=token) as emu:
        env = _env(tmp_path, BOT_TOKEN=token, TELEGRAM_API_URL=emu.base_url)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run",
            cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await emu.wait_for_call("getUpdates", timeout=60)
            user = emu.user(4343, first_name="Оператор")
            gate = emu.hold("sendMessage")
            await user.send("/help")
            await emu.wait_for_call("sendMessage", timeout=15)  # the reply is in flight
            process.send_signal(signal.SIGTERM)
            assert process.stderr is not None
            while "Polling stopped" not in (line := (await process.stderr.readline()).decode()):
                assert line, "the bot exited before stopping its polling"
            gate.set()
            await user.expect("Команды:", timeout=15)
            _, rest = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0
    log = rest.decode()
    assert "bot stopped" in log
    assert "CancelledError" not in log and "still in flight" not in log
    assert_clean_exit(log)
