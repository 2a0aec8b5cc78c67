"""SMS for subscribers who chose them (reading reminders, the monthly bill).

`SmsGateway` is what the outbox sender needs; `HttpSmsGateway` talks to an HTTP provider
configured by SMS_API_URL / SMS_API_KEY / SMS_SENDER; without SMS_API_URL `LoggingSmsGateway`
only writes a masked line to the log (development, the sandbox).

The provider's API: `POST {SMS_API_URL}` with JSON `{"to": "+7…", "text": "…", "sender": "MEF",
"id": "<our id>"}` and `Authorization: Bearer {SMS_API_KEY}`; 2xx = accepted, 429 and 5xx =
try again later, any other 4xx = the message can never go (bad number, no money on the
account). `id` lets the provider drop a repeated request.
"""

from __future__ import annotations

import logging
from typing import Protocol

import aiohttp

log = logging.getLogger(__name__)


class SmsError(Exception):
    """The SMS was not accepted; `permanent` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsGateway(Protocol):
    async def send(self, phone: str, text: str, *, message_id: str) -> None:
        """Hand one SMS to the provider; raises SmsError."""

    async def close(self) -> None: ...


def mask(phone: str) -> str:
    return phone[:2] + "…" + phone[-2:] if len(phone) > 4 else "…"


class LoggingSmsGateway:
    """No provider configured: the SMS is written to the log (the number masked)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, phone: str, text: str, *, message_id: str) -> None:
        log.info("SMS %s to %s (not sent: SMS_API_URL is not set): %s", message_id, mask(phone),
                 text)  # fmt: skip
        self.sent.append((phone, text))

    async def close(self) -> None:
        return None


class HttpSmsGateway:
    def __init__(self, url: str, api_key: str | None, sender: str, timeout: float = 10) -> None:
        self.url, self.api_key, self.sender = url, api_key, sender
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, phone: str, text: str, *, message_id: str) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"to": phone, "text": text, "sender": self.sender, "id": message_id}
        try:
            async with self._session.post(self.url, json=body, headers=headers) as response:
                if response.status < 300:
                    return
                detail = (await response.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmsError(f"SMS provider unreachable: {exc!r}") from exc
        permanent = 400 <= response.status < 500 and response.status != 429
        raise SmsError(f"SMS provider answered {response.status}: {detail}", permanent=permanent)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def build_sms_gateway(
    url: str | None, api_key: str | None, sender: str, timeout: float
) -> SmsGateway:
    if url is None:
        return LoggingSmsGateway()
    return HttpSmsGateway(url, api_key, sender, timeout)
