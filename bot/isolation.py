"""One user's updates handled one at a time and in arrival order, across bot processes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisEventIsolation


class OrderedRedisEventIsolation(RedisEventIsolation):
    """Redis's lock holds one user's updates apart across bot processes, but it is not fair: of
    two updates waiting for it, the later may win (a double press answered in the wrong order,
    two quick messages handled swapped). A process-local FIFO lock taken first keeps each
    process's updates of one user in the order they arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = SimpleEventIsolation()

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        async with self._local.lock(key), super().lock(key):
            yield
