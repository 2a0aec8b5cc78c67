"""Logging set-up; a filter masks e-mails and phone numbers so logs carry no personal data."""

from __future__ import annotations

import logging
import re

# The local part takes every character an address may have unquoted (RFC 5322 atext).
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(\.[\w-]+)+")
# Russian numbers as people type them (+7 or 8 and ten digits), and any number in international
# form: registration accepts the neighbours' numbers too (+375…, +998…).
_PHONE = re.compile(
    r"(?<!\d)(?:\+?[78][\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}"
    r"|\+\d(?:[\s().-]{0,2}\d){6,14})(?!\d)"
)


def redact(text: str) -> str:
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiogram.event", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
