"""Webhook mode: Telegram pushes updates with the secret header; anything else is refused."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.conftest import Cabinet

SECRET = "s3cret-Token_1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def webhook_port(request: pytest.FixtureRequest) -> int:
    """Switch the `cabinet` of this test to webhook mode on a free local port (with the secret
    SECRET unless the test's own `settings` marker says otherwise)."""
    port = _free_port()
    own = request.node.get_closest_marker("settings")
    values = {
        "webhook_url": f"http://127.0.0.1:{port}/telegram/webhook",
        "webhook_secret": SECRET,
        "web_host": "127.0.0.1",
        "web_port": port,
        **(own.kwargs if own else {}),
    }
    request.node.add_marker(pytest.mark.settings(**values), append=False)
    return port


def forged_update(user_id: int, text: str) -> dict[str, object]:
    return {"update_id": 999999, "message": {"message_id": 1, "date": 0,
            "chat": {"id": user_id, "type": "private"}, "text": text,
            "from": {"id": user_id, "is_bot": False, "first_name": "Чужой"}}}  # fmt: skip


async def test_webhook_serves_updates_and_checks_the_secret(
    webhook_port: int, cabinet: Cabinet
) -> None:
    webhook = cabinet.emu.webhook
    assert webhook is not None and webhook.secret_token == SECRET
    user = cabinet.user(2001)
    await user.send("/start")
    await user.expect("личный кабинет абонента")
    user.checkpoint()

    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{webhook_port}"
        update = forged_update(2001, "/help")
        async with http.post(f"{base}/telegram/webhook", json=update) as response:
            assert response.status == 401
        headers = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        async with http.post(f"{base}/telegram/webhook", json=update, headers=headers) as response:
            assert response.status == 401
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "ok"
    await user.expect_nothing_else("/help", "Команды:")  # the refused updates did nothing


@pytest.mark.parametrize("backend", ["postgres+redis"], indirect=True)
async def test_healthz_reports_a_lost_database(webhook_port: int, cabinet: Cabinet) -> None:
    from tests.conftest import _pg_execute

    database = cabinet.settings.database_url.rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{webhook_port}/healthz"
        async with http.get(url) as response:
            assert response.status == 200
        await cabinet.engine.dispose()
        await _pg_execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        async with http.get(url) as response:
            assert response.status == 503


@pytest.mark.settings(webhook_secret=None)
async def test_without_webhook_secret_a_random_one_guards_the_webhook(
    webhook_port: int, cabinet: Cabinet
) -> None:
    """WEBHOOK_SECRET empty: the bot makes up a secret, gives it to setWebhook, and a forged
    update without it (a «/logout» in someone else's name) is refused."""
    webhook = cabinet.emu.webhook
    assert webhook is not None and webhook.secret_token
    assert len(webhook.secret_token) >= 32
    user = cabinet.user(2002)
    await user.send("/start")  # Telegram's own delivery carries the secret and is served
    await user.expect("личный кабинет абонента")
    user.checkpoint()
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{webhook_port}/telegram/webhook"
        async with http.post(url, json=forged_update(2002, "/help")) as response:
            assert response.status == 401
        headers = {"X-Telegram-Bot-Api-Secret-Token": ""}
        async with http.post(url, json=forged_update(2002, "/help"), headers=headers) as response:
            assert response.status == 401
    await user.send("/menu")  # a sentinel: the real message is answered, the forged never was
    await user.expect("личный кабинет абонента")
    assert not any("Команды:" in m.content_text for m in user.bot_messages)


@pytest.mark.settings(max_concurrent_updates=3)
async def test_webhook_limits_updates_handled_at_once(webhook_port: int, cabinet: Cabinet) -> None:
    """MAX_CONCURRENT_UPDATES bounds webhook mode as it bounds polling: setWebhook asks
    Telegram for that many connections at most."""
    webhook = cabinet.emu.webhook
    assert webhook is not None and webhook.max_connections == 3


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_healthz_on_sqlite_reports_a_locked_or_deleted_file(
    webhook_port: int, cabinet: Cabinet
) -> None:
    database = Path(cabinet.settings.database_url.split(":///", 1)[1])
    url = f"http://127.0.0.1:{webhook_port}/healthz"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200

        # Another process holds the write lock (a stuck script, a manual sqlite3 session).
        # The bot's own jobs may be writing this moment: wait for them as a real locker would.
        locker = sqlite3.connect(database, isolation_level=None, timeout=60)
        try:
            locker.execute("BEGIN IMMEDIATE")
            async with http.get(url) as response:
                assert response.status == 503
                assert (await response.json())["status"] == "database unavailable"
        finally:
            if locker.in_transaction:
                locker.execute("ROLLBACK")
            locker.close()
        async with http.get(url) as response:
            assert response.status == 200

        await cabinet.engine.dispose()
        for path in database.parent.glob(database.name + "*"):
            path.unlink()  # the file is gone (a wrong volume, a cleanup script)
        async with http.get(url) as response:
            assert response.status == 503
