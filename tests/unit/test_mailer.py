"""The mailer: real SMTP with retries, or .eml files when SMTP_HOST is not set."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from services.mailer import Letter, Mailer, MailNotSent
from tests.conftest import make_settings
from tests.smtp_server import SmtpSink, body

LETTER = Letter("ivan@example.ru", "Активация", "Здравствуйте, Иван!", "<p>Здравствуйте, Иван!</p>")


def settings(tmp_path: Path, **values: Any) -> Settings:
    return make_settings(tmp_path, "sqlite+aiosqlite:///:memory:", **values)


async def test_without_smtp_host_letters_are_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await Mailer(settings(tmp_path)).send(LETTER)
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    letter = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert letter["Subject"] == "Активация" and letter["To"] == "ivan@example.ru"
    assert body(letter).strip() == "Здравствуйте, Иван!"
    assert "<p>" in body(letter, "html")
    assert "SMTP_HOST is not set" in caplog.text and "ivan@example.ru" not in caplog.text


async def test_smtp_delivery_after_a_refusal(tmp_path: Path) -> None:
    async with SmtpSink() as sink:
        sink.refuse_next(2)
        mailer = Mailer(
            settings(tmp_path, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none"),
            first_pause=0.01,
        )
        await mailer.send(LETTER)
        letter = await sink.wait_for_letter("ivan@example.ru")
    assert sink.refused == 2
    assert "Металлэнергофинанс" in str(letter["From"]) and letter["Message-ID"]
    assert body(letter).strip() == "Здравствуйте, Иван!"


async def test_unreachable_server_raises_after_all_attempts(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailer = Mailer(
        settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none"),
        attempts=3,
        first_pause=0.01,
    )
    with pytest.raises(MailNotSent):
        await mailer.send(LETTER)
