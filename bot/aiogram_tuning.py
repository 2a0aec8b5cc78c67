"""Costs aiogram adds to every update that the cabinet does not need to pay.

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
- **Every callback handler was asked.** A button press goes through the routers in order, and
  each handler's `Cb.filter()` unpacks the callback data again, until one matches. A router
  whose callback handlers all take one kind of callback data (`CallbackData` prefixes) now
  turns the others away with one check: `route_callbacks_by_prefix`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiogram import Router
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import CallbackQuery

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


class CallbackPrefixes(Filter):
    """A router's root filter: the callback data is of one of its handlers' CallbackData
    classes («prefix» alone for one without fields, «prefix:…» for the others)."""

    def __init__(self, prefixes: frozenset[tuple[str, str]]) -> None:
        self.prefixes = prefixes  # (prefix, separator)

    async def __call__(self, query: CallbackQuery) -> bool:
        data = query.data or ""
        return any(
            data == prefix or data.startswith(prefix + separator)
            for prefix, separator in self.prefixes
        )


def _callback_prefix(handler: HandlerObject) -> tuple[str, str] | None:
    """(prefix, separator) of the CallbackData the handler requires, or None when it may take
    any callback."""
    for each in handler.filters or []:
        if isinstance(each.callback, CallbackQueryFilter):
            data = each.callback.callback_data
            return data.__prefix__, data.__separator__
    return None


def route_callbacks_by_prefix(router: Router) -> int:
    """Give each router whose callback handlers all require a CallbackData a root filter on
    their prefixes; returns how many routers got one. A router with sub-routers is left alone
    (a root filter that fails skips them too), and so is one with a handler that may take any
    callback. Idempotent, like run_sync_filters_inline."""
    changed = 0
    for each in router.chain_tail:
        observer = each.callback_query
        if each.sub_routers or not observer.handlers:
            continue
        root = observer._handler.filters or []
        if any(isinstance(f.callback, CallbackPrefixes) for f in root):
            continue
        prefixes = [_callback_prefix(handler) for handler in observer.handlers]
        if None in prefixes:
            continue
        observer.filter(CallbackPrefixes(frozenset(p for p in prefixes if p is not None)))
        changed += 1
    return changed
