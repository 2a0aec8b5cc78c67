"""Logs carry no e-mail or phone number."""

from __future__ import annotations

import logging

import pytest

from bot.logs import RedactingFilter, redact


@pytest.mark.parametrize(
    "text",
    [
        "user Ivan.Petrov+bot@mail.example.ru logged in",
        "phone +7 (999) 123-45-67 saved",
        "phone 89991234567 saved",
        "phone 79991234567 saved",
    ],
)
def test_personal_data_is_masked(text: str) -> None:
    clean = redact(text)
    assert "@mail" not in clean and "123" not in clean


def test_filter_rewrites_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("login %s from %s", "a.b@c.ru", "+79991234567")
    assert caplog.records[0].getMessage() == "login <email> from <phone>"
    assert redact("update 12345 failed") == "update 12345 failed"
