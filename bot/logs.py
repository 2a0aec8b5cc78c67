"""Logging set-up. A filter masks e-mails, phone numbers and password hashes in every record,
the exception text included, so logs carry no personal data (152-ФЗ) whatever a library
puts into a message; database engines also hide statement parameters (`bot.db`)."""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

# Anything an address may have before the @ (RFC 5322 atext and more), then a domain.
_EMAIL = re.compile(r"[^\s@<>()\[\]\\,;:\"]+@[\w-]+(?:\.[\w-]+)+")
# Russian numbers as people type them (+7 or 8 and ten digits), and any number in international
# form: registration accepts the neighbours' numbers too (+375…, +998…).
_PHONE = re.compile(
    r"(?<!\d)(?:\+?[78][\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}"
    r"|\+\d(?:[\s().-]{0,2}\d){6,14})(?!\d)"
)
_HASH = re.compile(r"\$(?:argon2(?:id|i|d)|2[aby]?|scrypt|pbkdf2[\w-]*)\$[^\s'\",)\]]+")


def redact(text: str) -> str:
    """The text with every e-mail, phone number and password hash replaced by a placeholder."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", _HASH.sub("<hash>", text)))


class RedactingFilter(logging.Filter):
    """Rewrites the message and pre-renders the exception text (traceback) redacted, so any
    formatter that prints the record prints the clean version."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def setup_logging(level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """One handler on the root logger (stderr unless `stream` is given); returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiogram.event", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
