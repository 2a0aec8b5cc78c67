"""One user's updates keep their arrival order under the Redis lock (it alone is not fair)."""

from __future__ import annotations

import asyncio

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from redis.asyncio import Redis

from bot.isolation import OrderedRedisEventIsolation
from tests.conftest import REDIS_AVAILABLE, REDIS_URL

pytestmark = pytest.mark.skipif(not REDIS_AVAILABLE, reason="Redis is not reachable")


async def test_waiting_updates_of_one_user_run_in_arrival_order() -> None:
    redis = Redis.from_url(REDIS_URL)
    isolation = OrderedRedisEventIsolation(
        redis=redis, key_builder=DefaultKeyBuilder(with_bot_id=True)
    )
    key = StorageKey(bot_id=424242, chat_id=7, user_id=7)
    order: list[int] = []

    async def update(number: int) -> None:
        async with isolation.lock(key):
            order.append(number)
            await asyncio.sleep(0.01)

    try:
        await asyncio.gather(*(update(n) for n in range(12)))
    finally:
        await redis.aclose()
    assert order == list(range(12))
