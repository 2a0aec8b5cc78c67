"""aiogram's Redis FSM storage with the database storage's per-update memo (bot.fsm_storage).

aiogram reads the state, and handlers read the data again at each helper (`get_data`,
`update_data`), each a Redis round trip; a step then writes the state and the data in two or
three more. Here the first read of a dialog in an update fetches state and data together
(MGET) and later reads are answered from the memo; writes to the update's own dialog are sent
once, both keys in one MULTI, before the update sends anything to Telegram and before it lets
go of its per-user lock (bot.middlewares.FsmFlushMiddleware). Another user's dialog is read and
written directly, as aiogram does. Keys, values and TTLs are aiogram's own, so a process
running plain RedisStorage reads the same dialogs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage

from bot.fsm_storage import Record, current_memo


class BufferedRedisStorage(RedisStorage):
    def _memo_key(self, key: StorageKey) -> str:
        return self.key_builder.build(key)

    async def _load(self, key: StorageKey) -> Record:
        memo = current_memo()
        memo_key = self._memo_key(key)
        if memo is not None and memo_key in memo.rows:
            return memo.rows[memo_key] or (None, {})
        state, data = await self.redis.mget(
            self.key_builder.build(key, "state"), self.key_builder.build(key, "data")
        )
        if isinstance(state, bytes):
            state = state.decode("utf-8")
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        record: Record = (state, cast(dict[str, Any], self.json_loads(data)) if data else {})
        if memo is not None:
            memo.rows[memo_key] = record
        return record

    def _buffer(self, key: StorageKey, values: dict[str, Any]) -> bool:
        """Keep a write to the update's own dialog for `flush`; False for any other dialog."""
        memo = current_memo()
        memo_key = self._memo_key(key)
        if memo is None or memo_key not in memo.rows:
            return False
        if memo.keep(memo_key, values):
            return True
        memo.remember(memo_key, values)  # written at once by the caller; the memo follows
        return False

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._load(key))[0]

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return dict((await self._load(key))[1])

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        if not self._buffer(key, {"state": value}):
            await super().set_state(key, value)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            msg = f"Data must be a dict or dict-like object, got {type(data).__name__}"
            raise DataNotDictLikeError(msg)
        if not self._buffer(key, {"data": dict(data)}):
            await super().set_data(key, data)

    def hold(self, key: StorageKey) -> None:
        memo = current_memo()
        if memo is not None:
            memo.own, memo.own_key, memo.storage = self._memo_key(key), key, self

    async def flush(self) -> None:
        memo = current_memo()
        if memo is None or not memo.dirty or memo.own is None or memo.own_key is None:
            return
        memo.dirty = False  # a failed write is not tried again by the apology's request
        state, data = memo.rows[memo.own] or (None, {})
        state_key = self.key_builder.build(memo.own_key, "state")
        data_key = self.key_builder.build(memo.own_key, "data")
        async with self.redis.pipeline(transaction=True) as pipe:
            if state is None:
                pipe.delete(state_key)
            else:
                pipe.set(state_key, state, ex=self.state_ttl)
            if data:
                pipe.set(data_key, self.json_dumps(data), ex=self.data_ttl)
            else:
                pipe.delete(data_key)
            await pipe.execute()
