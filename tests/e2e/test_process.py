"""The real program as an operator starts it: `python -m bot run` against the emulator."""

from __future__ import annotations

import asyncio
import os
import signal
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
