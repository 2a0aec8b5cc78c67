"""Two `python -m bot run` processes sharing PostgreSQL and Redis behind one webhook address,
as a supplier scales out: whatever one process changes (a login, an account switch, a password
change, a logout, a dialog's step) is what the other one sees at the very next update.

The processes run in webhook mode, each on its own port; a small load balancer in the test is
the address Telegram posts to, and the test says which process gets each update.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.db import create_engine, create_session_factory
from bot.texts import accounts as account_texts
from bot.texts import common as common_texts
from bot.texts import settings as settings_texts
from emulator import BotAPIEmulator
from models import Account, AccountLink, Login
from services.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo_data
from tests.conftest import REDIS_AVAILABLE, REDIS_URL, fresh_pg_database
from tests.e2e.conftest import _drop_redis_keys

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "770077:TWO-PROCESSES"
SECRET = "two-processes-secret"
PATH = "/telegram/webhook"

pytestmark = pytest.mark.skipif(not REDIS_AVAILABLE, reason="Redis is not reachable")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Balancer:
    """The webhook address: forwards each update to the process named by `target`, as it is."""

    ports: dict[str, int]
    target: str = "A"
    served: dict[str, int] = field(default_factory=lambda: {"A": 0, "B": 0})

    async def forward(self, request: web.Request) -> web.Response:
        name = self.target
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        url = f"http://127.0.0.1:{self.ports[name]}{PATH}"
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=await request.read(), headers=headers) as reply,
        ):
            self.served[name] += 1
            return web.Response(
                status=reply.status, body=await reply.read(), content_type=reply.content_type
            )


@asynccontextmanager
async def balancer(ports: dict[str, int]) -> AsyncIterator[tuple[Balancer, str]]:
    front = Balancer(ports)
    app = web.Application()
    app.router.add_post(PATH, front.forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield front, f"http://127.0.0.1:{port}{PATH}"
    finally:
        await runner.cleanup()


def _tail(log: Path, size: int = 3000) -> str:
    return log.read_text(errors="replace")[-size:]


@asynccontextmanager
async def bot_process(env: dict[str, str], port: int, log: Path) -> AsyncIterator[None]:
    """`python -m bot run` on `port`; returns once its /healthz answers."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run",
            cwd=ROOT, env={**env, "WEB_PORT": str(port)}, stdout=out, stderr=out,
        )  # fmt: skip
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(600):
                    if process.returncode is not None:
                        raise AssertionError(f"the bot exited:\n{_tail(log)}")
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError(f"the bot did not start:\n{_tail(log)}")
            yield
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
    assert "Traceback" not in _tail(log, 10**9), _tail(log)


async def _second_account(database_url: str) -> str:
    """Link the demo login to a second demo account (not current); its number."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            await seed_demo_data(session)
            login_id = await session.scalar(select(Login.id).where(Login.email == DEMO_EMAIL))
            linked = select(AccountLink.account_id)
            account = (
                await session.scalars(
                    select(Account).where(Account.id.not_in(linked)).order_by(Account.id)
                )
            ).first()
            assert login_id is not None and account is not None
            session.add(AccountLink(login_id=login_id, account_id=account.id, is_current=False))
            number = account.number
            await session.commit()
            return number
    finally:
        await engine.dispose()


async def test_what_one_process_changes_the_other_sees_at_the_next_update(
    tmp_path: Path, pg_template: str
) -> None:
    ports = {"A": _free_port(), "B": _free_port()}
    async with AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(fresh_pg_database(pg_template))
        second = await _second_account(database_url)
        emu = await stack.enter_async_context(BotAPIEmulator(token=TOKEN))
        front, address = await stack.enter_async_context(balancer(ports))
        stack.push_async_callback(_drop_redis_keys, REDIS_URL, int(TOKEN.split(":")[0]))
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "SMTP_"))}
        env = {
            **clean,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emu.base_url,
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "WEBHOOK_URL": address,
            "WEBHOOK_SECRET": SECRET,
            "WEB_HOST": "127.0.0.1",
            "MAIL_DIR": str(tmp_path / "mail"),
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "LOG_LEVEL": "INFO",
        }
        for name, port in ports.items():
            await stack.enter_async_context(bot_process(env, port, tmp_path / f"{name}.log"))
        user, phone = emu.user(5001, first_name="Иван"), emu.user(5002, first_name="Иван")

        async def talk(who: Any, *steps: tuple[str, str, str]) -> Any:
            """Each step: the process that gets the update, what is sent, what must come; the
            last reply."""
            for name, text, expected in steps:
                front.target = name
                await who.send(text)
                reply = await who.expect(expected)
            return reply

        async def press(name: str, caption: str, expected: str) -> None:
            front.target = name
            await user.press(caption)
            await user.expect(expected)

        def log_in(a: str, b: str, c: str, password: str, then: str) -> list[tuple[str, str, str]]:
            return [
                (a, "/login", "Введите e-mail"),
                (b, DEMO_EMAIL, "Введите пароль"),
                (c, password, then),
            ]

        # A dialog begun in one process goes on in the other: the login's steps alternate.
        await talk(
            user, ("A", "/start", "Войдите"), *log_in("B", "A", "B", DEMO_PASSWORD, "Здравствуйте")
        )

        # The login made in B is A's viewer at the next update; so is the account it chose.
        section = await talk(user, ("A", common_texts.MENU_CONTRACTS, account_texts.ACCOUNTS_TITLE))
        assert [f"№ {second}"] in section.inline_buttons
        await press("A", f"№ {second}", "Владелец")
        await press("A", account_texts.BTN_MAKE_CURRENT, f"Текущий лицевой счёт — № {second}")
        section = await talk(user, ("B", common_texts.MENU_CONTRACTS, account_texts.ACCOUNTS_TITLE))
        assert [f"✅ № {second}"] in section.inline_buttons

        # The second phone logs in through A; the password is changed through B; A has logged
        # the second phone out by its next update, and the old password no longer opens.
        await talk(phone, *log_in("A", "A", "A", DEMO_PASSWORD, "Здравствуйте"))
        await talk(user, ("B", common_texts.MENU_SETTINGS, "Что хотите настроить?"))
        await press("B", settings_texts.BTN_PASSWORD, "Введите текущий пароль")
        await talk(
            user,
            ("B", DEMO_PASSWORD, "Придумайте новый пароль"),
            ("B", "Brand2new", "Введите новый пароль ещё раз"),
            ("B", "Brand2new", "Пароль изменён"),
        )
        await phone.expect("Пароль вашей учётной записи изменён", timeout=10)
        await talk(
            phone,
            ("A", common_texts.MENU_SETTINGS, "доступен после входа"),
            *log_in("A", "A", "A", DEMO_PASSWORD, "Неверный e-mail или пароль"),
            ("B", "Brand2new", "Здравствуйте"),
        )

        # A logout in A; B greets a guest at the next update.
        await talk(
            user,
            ("A", "/logout", "Вы вышли из личного кабинета"),
            ("B", common_texts.MENU_READINGS, "доступен после входа"),
        )
        assert front.served["A"] >= 10 and front.served["B"] >= 8, front.served
