"""Bot API request middleware: waits out 429 and retries what surely did not take effect.

A message must not arrive twice. A request is resent only when Telegram surely did not act on
it: the connection was never made, Telegram answered 429 (flood control) or a 5xx error (a
proxy's HTML error page included). A timeout or a connection dropped mid-request may have
delivered the message, so such a send is not repeated; only reads and idempotent settings
(`getMe`, `getFile`, `setMyCommands`, …) are retried after those too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiohttp import ClientConnectorError, ConnectionTimeoutError

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

# Methods whose repetition changes nothing: safe to resend even when the first try may have
# reached Telegram.
IDEMPOTENT = frozenset({"setMyCommands", "setWebhook", "deleteWebhook", "deleteMyCommands"})

# Set by a caller that handles 429, 5xx and network errors itself (the outbox sender pauses
# all its sends on a 429, which a per-request wait here would not do).
_caller_retries: ContextVar[bool] = ContextVar("caller_retries", default=False)


@contextmanager
def caller_handles_errors() -> Iterator[None]:
    """Requests made inside are not retried by the middleware: errors reach the caller at once."""
    token = _caller_retries.set(True)
    try:
        yield
    finally:
        _caller_retries.reset(token)


def never_reached_telegram(exc: TelegramNetworkError) -> bool:
    """True when the request surely was not sent: no connection (refused, DNS, TLS handshake,
    connect timeout). A read timeout or a dropped connection may have delivered it."""
    cause = exc.__cause__
    return isinstance(cause, ClientConnectorError | ConnectionTimeoutError)


def idempotent(method: TelegramMethod[TelegramType]) -> bool:
    name = method.__api_method__
    return name.startswith("get") or name in IDEMPOTENT


class RetryMiddleware(BaseRequestMiddleware):
    """Resend the same request after `retry_after`, or with backoff after a failure that surely
    had no effect; give up after `attempts` and raise the last error to the caller."""

    def __init__(
        self, attempts: int = 4, base_delay: float = 0.5, max_retry_after: float = 60
    ) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_retry_after = max_retry_after

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == "getUpdates" or _caller_retries.get():
            # The polling loop and the outbox sender have their own backoff.
            return await make_request(bot, method)
        name = method.__api_method__
        delay = self.base_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or exc.retry_after > self.max_retry_after:
                    log.error("%s: 429 persists, giving up after %s attempts", name, attempt)
                    raise
                log.warning("429 on %s, waiting %s s", name, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
                ambiguous = isinstance(exc, TelegramNetworkError) and not never_reached_telegram(
                    exc
                )
                if ambiguous and not idempotent(method):
                    log.warning(
                        "%s on %s may have reached Telegram: not repeated", type(exc).__name__, name
                    )
                    raise
                if attempt == self.attempts:
                    log.error("%s: %s persists, giving up after %s attempts",
                              name, type(exc).__name__, attempt)  # fmt: skip
                    raise
                log.warning("transient %s on %s, retry in %.1f s", type(exc).__name__, name, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover
