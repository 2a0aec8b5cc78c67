"""Bot API request middleware: waits out 429 and retries 5xx / proxy HTML pages / network errors."""

from __future__ import annotations

import asyncio
import logging
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

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class RetryMiddleware(BaseRequestMiddleware):
    """Resend the same request after `retry_after`, or with backoff after a transient failure."""

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
        if method.__api_method__ == "getUpdates":  # the polling loop has its own backoff
            return await make_request(bot, method)
        delay = self.base_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or exc.retry_after > self.max_retry_after:
                    raise
                log.warning("429 on %s, waiting %s s", type(method).__name__, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
                if attempt == self.attempts:
                    raise
                log.warning(
                    "transient %s on %s, retry in %.1f s",
                    type(exc).__name__,
                    type(method).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover
