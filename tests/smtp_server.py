"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: it collects what the bot sends.

It runs in the test's own event loop on a random port, so a test can wait for a letter
without threads: `async with SmtpSink() as smtp: ...; letter = await smtp.wait_for_letter()`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import warnings
from email.message import EmailMessage
from typing import Any, Literal, Self

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession


class SmtpSink:
    """`security` as SMTP_SECURITY: «tls» serves TLS from the first byte, «starttls» requires
    STARTTLS before MAIL; both with `tls_context` (a throwaway certificate). With `credentials`
    (login, password) a letter is accepted only after AUTH with them."""

    def __init__(
        self,
        *,
        security: Literal["none", "starttls", "tls"] = "none",
        tls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.security = security
        self.tls_context = tls_context
        self.credentials = credentials
        self.logins: list[str] = []
        self.letters: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.refused = 0
        self._refuse_next = 0
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Event()
        self.port = 0

    # aiosmtpd handler hook
    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        if self._refuse_next > 0:
            self._refuse_next -= 1
            self.refused += 1
            return "451 4.3.0 Temporary failure, try again later"
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        letter = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(letter, EmailMessage)
        self.letters.append(letter)
        self.envelopes.append(envelope)
        self._arrived.set()
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.credentials == (
            data.login.decode(),
            data.password.decode(),
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> SMTP:
        with warnings.catch_warnings():  # «AUTH without requiring TLS»: TLS is implicit here
            warnings.simplefilter("ignore", UserWarning)
            return self._smtp(loop)

    def _smtp(self, loop: asyncio.AbstractEventLoop) -> SMTP:
        return SMTP(
            self,
            hostname="mail.test",
            loop=loop,
            tls_context=self.tls_context if self.security == "starttls" else None,
            require_starttls=self.security == "starttls",
            authenticator=self._authenticate if self.credentials else None,
            auth_required=self.credentials is not None,
            auth_require_tls=self.security == "starttls",  # «tls» is encrypted from the start
        )

    def refuse_next(self, count: int) -> None:
        """Answer the next `count` letters with a temporary failure (451)."""
        self._refuse_next = count

    async def start(self) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._protocol(loop),
            "127.0.0.1",
            0,
            ssl=self.tls_context if self.security == "tls" else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def wait_for_letter(
        self, to: str | None = None, *, index: int = 0, timeout: float = 10.0
    ) -> EmailMessage:
        """The `index`-th letter (0 = first) to `to` (any when None), waiting for it."""

        def found() -> EmailMessage | None:
            matching = [m for m in self.letters if to is None or to.lower() in str(m["To"]).lower()]
            return matching[index] if len(matching) > index else None

        async with asyncio.timeout(timeout):
            while (letter := found()) is None:
                self._arrived.clear()
                await self._arrived.wait()
        return letter

    def letters_to(self, to: str) -> list[EmailMessage]:
        return [m for m in self.letters if to.lower() in str(m["To"]).lower()]


def body(letter: EmailMessage, subtype: str = "plain") -> str:
    part = letter.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content
