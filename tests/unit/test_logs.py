"""Logs carry no e-mail, phone number or password hash — not even inside a traceback."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.logs import RedactingFilter, redact, setup_logging
from models import Login

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize(
    "text",
    [
        "user Ivan.Petrov+bot@mail.example.ru logged in",
        "phone +7 (999) 123-45-67 saved",
        "phone 89991234567 saved",
        "phone 79991234567 saved",
        "phone +375291234567 saved",
        f"hash {HASH} stored",
    ],
)
def test_personal_data_is_masked(text: str) -> None:
    clean = redact(text)
    assert "@mail" not in clean and "123" not in clean and "argon2" not in clean


def test_ordinary_numbers_stay() -> None:
    assert redact("update 12345 failed") == "update 12345 failed"
    assert redact("account 7400000101, 2 meters") == "account 7400000101, 2 meters"


@given(
    st.emails(),
    st.from_regex(r"\+7 ?\(?9[0-9]{2}\)? ?[0-9]{3}-?[0-9]{2}-?[0-9]{2}", fullmatch=True),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30),
)
def test_no_email_or_phone_survives_in_any_surroundings(email: str, phone: str, noise: str) -> None:
    clean = redact(f"{noise} {email} {noise} {phone} {noise}")
    assert email not in clean and phone not in clean


def test_filter_rewrites_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("login %s from %s", "a.b@c.ru", "+79991234567")
    assert caplog.records[0].getMessage() == "login <email> from <phone>"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the bot's own log handler prints, set up as `python -m bot` sets it up."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    setup_logging("INFO", stream)
    yield stream
    root.handlers[:], root.level = saved, level


def _login(email: str) -> Login:
    now = datetime.now(UTC)
    return Login(email=email, phone="+79991234567", surname="Иванов", name="Иван",
                 patronymic=None, password_hash=HASH, consent_version="1", consent_at=now)  # fmt: skip


async def test_a_database_error_during_registration_leaks_nothing(
    session: AsyncSession, log_output: io.StringIO
) -> None:
    """A second registration of one e-mail fails on the unique index; its traceback is logged
    as the error handler logs it, and the log has neither the e-mail, the phone nor the hash."""
    session.add(_login("ivan.petrov@example.ru"))
    await session.commit()
    session.add(_login("ivan.petrov@example.ru"))
    with pytest.raises(IntegrityError) as error:
        await session.commit()
    logging.getLogger("bot.app").error("update 1 failed", exc_info=error.value)
    text = log_output.getvalue()
    assert "IntegrityError" in text and "Traceback" in text  # the record itself is kept
    assert "ivan.petrov" not in text and "example.ru" not in text
    assert "9991234567" not in text and "123-45-67" not in text
    assert "argon2" not in text and "c2FsdHNhbHRz" not in text
    assert "Иванов" not in text
