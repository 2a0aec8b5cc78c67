"""Outgoing e-mail: real SMTP (aiosmtplib) per SMTP_* settings, or `.eml` files in MAIL_DIR.

With no SMTP_HOST (a demo, a developer's laptop) letters are written to MAIL_DIR and the log
says where, so activation still works by opening the file. A send is retried a few times with
a growing pause; when every attempt fails `MailNotSent` tells the caller to apologise.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from bot.settings import Settings

log = logging.getLogger(__name__)

ATTEMPTS = 3
FIRST_PAUSE = 0.5  # seconds before the second attempt; doubled each time
SMTP_TIMEOUT = 20.0


class MailNotSent(Exception):
    """Every attempt to hand the letter to the SMTP server failed."""


@dataclass(frozen=True, slots=True)
class Letter:
    to: str
    subject: str
    text: str
    html: str


def _envelope_address(address: str) -> str:
    """The ASCII (IDNA) form of the recipient when there is one: «ivan@xn--e1afmkfd.xn--p1ai»."""
    try:
        ascii_form = validate_email(address, check_deliverability=False).ascii_email
    except EmailNotValidError:
        return address
    return ascii_form or address


class Mailer:
    """Built once from Settings and shared through the Dispatcher (handlers get `mailer`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        attempts: int = ATTEMPTS,
        first_pause: float = FIRST_PAUSE,
    ) -> None:
        self._settings = settings
        self._attempts = max(1, attempts)
        self._first_pause = first_pause

    @property
    def uses_smtp(self) -> bool:
        return bool(self._settings.smtp_host)

    def compose(self, letter: Letter, *, now: datetime | None = None) -> EmailMessage:
        """A multipart/alternative message: plain text first, then HTML."""
        message = EmailMessage()
        sender = self._settings.smtp_from
        message["From"] = sender
        message["To"] = _envelope_address(letter.to)
        message["Subject"] = letter.subject
        message["Date"] = format_datetime(now or datetime.now(UTC))
        domain = getaddresses([sender])[0][1].rpartition("@")[2] or "localhost"
        message["Message-ID"] = make_msgid(domain=domain)
        message.set_content(letter.text)
        message.add_alternative(letter.html, subtype="html")
        return message

    async def send(self, letter: Letter) -> None:
        """Deliver by SMTP with retries, or write an .eml file; raises MailNotSent."""
        message = self.compose(letter)
        if not self.uses_smtp:
            path = await asyncio.to_thread(self._write_file, message)
            log.info("SMTP_HOST is not set: the letter was written to %s", path)
            return
        pause = self._first_pause
        for attempt in range(1, self._attempts + 1):
            try:
                await aiosmtplib.send(message, **self._smtp_options())
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                log.warning(
                    "SMTP attempt %s of %s failed: %s", attempt, self._attempts, type(exc).__name__
                )
                if attempt == self._attempts:
                    raise MailNotSent(type(exc).__name__) from exc
                await asyncio.sleep(pause)
                pause *= 2
            else:
                log.info("letter %s handed to the SMTP server", message["Message-ID"])
                return

    def _smtp_options(self) -> dict[str, Any]:
        settings = self._settings
        security = settings.smtp_security
        options: dict[str, Any] = {
            "hostname": settings.smtp_host,
            "port": settings.smtp_port,
            "timeout": SMTP_TIMEOUT,
            "use_tls": security == "tls",
            "start_tls": security == "starttls",
        }
        if settings.smtp_user:
            options["username"] = settings.smtp_user
            options["password"] = (
                settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            )
        return options

    def _write_file(self, message: EmailMessage) -> Path:
        directory = self._settings.mail_dir
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        temporary = path.with_suffix(".part")
        temporary.write_bytes(message.as_bytes())
        temporary.replace(path)
        return path


__all__ = ["Letter", "MailNotSent", "Mailer"]
