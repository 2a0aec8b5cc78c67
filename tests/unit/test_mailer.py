"""The mailer: real SMTP with retries, or .eml files when SMTP_HOST is not set."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import ssl
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme

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


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A throwaway CA the mailer trusts (through SSL_CERT_FILE, as an operator would add a
    corporate CA) and a server certificate for 127.0.0.1 signed by it."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_smtp_over_tls_with_a_login(
    tmp_path: Path, certificate: ssl.SSLContext, security: Literal["starttls", "tls"]
) -> None:
    """SMTP_SECURITY=starttls and =tls with SMTP_USER/SMTP_PASSWORD: the letter goes over an
    encrypted, authenticated session (the server refuses MAIL before STARTTLS and AUTH)."""
    async with SmtpSink(
        security=security, tls_context=certificate, credentials=("robot@mef.example", "pa55")
    ) as sink:
        mailer = Mailer(
            settings(tmp_path, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security=security,
                     smtp_user="robot@mef.example", smtp_password="pa55"),
            attempts=1,
        )  # fmt: skip
        await mailer.send(LETTER)
        letter = await sink.wait_for_letter("ivan@example.ru")
    assert sink.logins == ["robot@mef.example"]
    assert body(letter).strip() == "Здравствуйте, Иван!"


async def test_a_wrong_smtp_password_is_mail_not_sent(
    tmp_path: Path, certificate: ssl.SSLContext
) -> None:
    async with SmtpSink(
        security="starttls", tls_context=certificate, credentials=("robot@mef.example", "pa55")
    ) as sink:
        mailer = Mailer(
            settings(tmp_path, smtp_host="127.0.0.1", smtp_port=sink.port,
                     smtp_security="starttls", smtp_user="robot@mef.example",
                     smtp_password="wrong"),
            attempts=2, first_pause=0.01,
        )  # fmt: skip
        with pytest.raises(MailNotSent):
            await mailer.send(LETTER)
    assert sink.letters == [] and sink.logins == []
