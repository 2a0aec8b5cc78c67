"""The webhook's request handler: the secret is checked, and at most N updates run at once."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.runtime import BoundedWebhookHandler
from bot.settings import ConfigError, load_settings
from tests.helpers import eventually

SECRET = "s3cret_Token-1"


async def _true(condition: bool) -> bool:
    return condition


class SlowDispatcher:
    """Stands in for aiogram's Dispatcher: each update waits for `release`; records the peak."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.handled: list[int] = []
        self.release = asyncio.Event()

    async def feed_raw_update(self, bot: Any, update: dict[str, Any], **_: Any) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await self.release.wait()
        self.running -= 1
        self.handled.append(update["update_id"])


class FakeBot:
    class session:
        json_loads = staticmethod(__import__("json").loads)
        json_dumps = staticmethod(__import__("json").dumps)


async def test_no_more_than_the_limit_of_updates_run_at_once() -> None:
    dispatcher = SlowDispatcher()
    handler = BoundedWebhookHandler(
        dispatcher,  # type: ignore[arg-type]
        FakeBot(),  # type: ignore[arg-type]
        secret_token=SECRET,
        limit=2,
    )
    app = web.Application()
    handler.register(app, path="/hook")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with TestClient(TestServer(app)) as client:
        posts = [
            asyncio.create_task(client.post("/hook", json={"update_id": n}, headers=headers))
            for n in range(5)
        ]
        await eventually(lambda: _true(dispatcher.running == 2))
        done = [p for p in posts if p.done()]
        assert len(done) <= 2  # the rest wait for a free slot before Telegram gets its answer
        dispatcher.release.set()
        responses = await asyncio.gather(*posts)
        assert [r.status for r in responses] == [200] * 5
        await eventually(lambda: _true(len(dispatcher.handled) == 5))
    assert dispatcher.peak == 2


async def test_an_update_without_the_secret_is_refused() -> None:
    dispatcher = SlowDispatcher()
    handler = BoundedWebhookHandler(
        dispatcher,  # type: ignore[arg-type]
        FakeBot(),  # type: ignore[arg-type]
        secret_token=SECRET,
        limit=2,
    )
    app = web.Application()
    handler.register(app, path="/hook")
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/hook", json={"update_id": 1})
        assert response.status == 401
    assert dispatcher.running == 0 and not dispatcher.handled


def test_a_secret_telegram_would_refuse_is_a_configuration_error() -> None:
    for bad in ("with space", "кириллица", "x" * 257, "semi;colon"):
        try:
            load_settings(_env_file=None, webhook_secret=bad)
        except ConfigError as error:
            assert "WEBHOOK_SECRET" in str(error)
            assert bad not in str(error)  # a secret is never echoed
        else:
            raise AssertionError(f"{bad!r} was accepted")
    assert load_settings(_env_file=None, webhook_secret="A-z_09").webhook_secret is not None
