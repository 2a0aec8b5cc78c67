"""The Bot API retry middleware: what is resent, what is not, and giving up."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetMe, SendMessage
from aiohttp import ClientConnectorError, ServerDisconnectedError

from bot.telegram_retry import RetryMiddleware

SEND = SendMessage(chat_id=1, text="Показания приняты")
GET_ME = GetMe()


def network_error(method: Any, cause: BaseException) -> TelegramNetworkError:
    error = TelegramNetworkError(method=method, message=type(cause).__name__)
    error.__cause__ = cause
    return error


def refused() -> ClientConnectorError:
    return ClientConnectorError(None, ConnectionRefusedError(111, "Connection refused"))  # type: ignore[arg-type]


class Script:
    """A fake transport: raises the queued errors in turn, then answers «ok»."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, bot: Any, method: Any) -> Any:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.fixture
def retry() -> RetryMiddleware:
    return RetryMiddleware(attempts=3, base_delay=0.001)


async def call(retry: RetryMiddleware, script: Script, method: Any) -> Any:
    return await retry(script, None, method)  # type: ignore[arg-type]


async def test_a_send_is_resent_when_the_connection_was_never_made(retry: RetryMiddleware) -> None:
    script = Script(network_error(SEND, refused()))
    assert await call(retry, script, SEND) == "ok"
    assert script.calls == 2


@pytest.mark.parametrize(
    "cause",
    [ServerDisconnectedError(), TimeoutError()],
    ids=["disconnected mid-request", "timeout"],
)
async def test_a_send_that_may_have_arrived_is_not_repeated(
    retry: RetryMiddleware, cause: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script(network_error(SEND, cause))
    with pytest.raises(TelegramNetworkError):
        await call(retry, script, SEND)
    assert script.calls == 1
    assert "not repeated" in caplog.text


async def test_a_read_is_repeated_after_a_timeout(retry: RetryMiddleware) -> None:
    script = Script(network_error(GET_ME, TimeoutError()))
    assert await call(retry, script, GET_ME) == "ok"
    assert script.calls == 2


async def test_server_errors_and_flood_control_are_retried(retry: RetryMiddleware) -> None:
    script = Script(
        TelegramServerError(method=SEND, message="Bad Gateway"),
        TelegramRetryAfter(method=SEND, message="Too Many Requests", retry_after=0),
    )
    assert await call(retry, script, SEND) == "ok"
    assert script.calls == 3


async def test_the_middleware_gives_up_after_its_attempts(
    retry: RetryMiddleware, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    script = Script(*(TelegramServerError(method=SEND, message="Bad Gateway") for _ in range(5)))
    with pytest.raises(TelegramServerError):
        await call(retry, script, SEND)
    assert script.calls == 3
    assert "giving up after 3 attempts" in caplog.text


async def test_a_long_flood_wait_is_not_waited_out(retry: RetryMiddleware) -> None:
    script = Script(TelegramRetryAfter(method=SEND, message="Too Many Requests", retry_after=3600))
    with pytest.raises(TelegramRetryAfter):
        await call(retry, script, SEND)
    assert script.calls == 1
