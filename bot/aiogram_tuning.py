"""Two costs aiogram adds to every update that the cabinet does not need to pay.

Both were found in a sampling profile of `benchmarks/updates.py` (py-spy, the readings walk):

- **Magic filters ran in a thread.** aiogram calls a filter that is a plain function through
  `asyncio.to_thread`, and every `F.…` magic filter is one (`MagicFilter.resolve`). Each handler
  checked costs a hop to the default executor and back for an expression that takes
  microseconds. `run_sync_filters_inline` makes them awaitable; they are pure, never block.
- **`Response[T]` was rebuilt.** aiogram parses every Bot API answer with `Response[T]`, a
  pydantic generic model made per call; pydantic caches parametrized models in a weak-value
  dictionary, so once the garbage collector frees one, the next call builds its schema again
  (16 % of the event loop's samples in the profile). `KeepResponseTypes` holds the few types
  the bot uses for the life of the process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiogram import Router
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

if TYPE_CHECKING:
    from aiogram import Bot


def _awaitable(function: Callable[..., Any]) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return call


def run_sync_filters_inline(router: Router) -> int:
    """Make every plain-function filter of `router` and its sub-routers run on the event loop;
    returns how many were changed. Idempotent: the routers are module-level singletons and a
    process (the tests) may build several dispatchers from them."""
    changed = 0
    for each in router.chain_tail:
        for observer in each.observers.values():
            filters: list[FilterObject] = list(observer._handler.filters or [])
            for handler in observer.handlers:
                filters.extend(handler.filters or [])
            for event_filter in filters:
                if not event_filter.awaitable:
                    event_filter.callback = _awaitable(event_filter.callback)
                    event_filter.awaitable = True
                    changed += 1
    return changed


class KeepResponseTypes(BaseRequestMiddleware):
    """Hold a strong reference to `Response[T]` of every method the bot calls, so pydantic's
    weak cache keeps the parsed schema."""

    def __init__(self) -> None:
        self._kept: dict[Any, type[Response[Any]]] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._kept:
            self._kept[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)

    def held(self) -> set[type[Response[Any]]]:
        return set(self._kept.values())
