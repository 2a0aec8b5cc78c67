"""Webhook mode: Telegram pushes updates with the secret header; anything else is refused."""

from __future__ import annotations

import socket

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
    """Switch the `cabinet` of this test to webhook mode on a free local port."""
    port = _free_port()
    request.node.add_marker(
        pytest.mark.settings(
            webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
            webhook_secret=SECRET,
            web_host="127.0.0.1",
            web_port=port,
        )
    )
    return port


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
        update = {"update_id": 999999, "message": {"message_id": 1, "date": 0,
                  "chat": {"id": 2001, "type": "private"}, "text": "/help",
                  "from": {"id": 2001, "is_bot": False, "first_name": "Чужой"}}}  # fmt: skip
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
