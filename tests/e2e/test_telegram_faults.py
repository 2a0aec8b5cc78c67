"""Telegram misbehaving under a real conversation: a reply whose answer is lost is not sent
twice; a Telegram that keeps failing is given up on with an apology, not a hang."""

from __future__ import annotations

import logging

import pytest

from bot.texts import common as texts
from emulator.server import DISCONNECT
from tests.e2e.conftest import Cabinet


async def test_a_reply_lost_mid_request_is_not_sent_twice(
    cabinet: Cabinet, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram took the message but the connection broke before its answer: the bot cannot
    know it arrived, so it does not resend it (a subscriber would see it twice), and it does
    not apologise for a reply that did arrive."""
    user = cabinet.user(5101)
    cabinet.emu.inject_failure("sendMessage", status=DISCONNECT)
    await user.send("/help")
    await user.expect("Команды:")
    await user.send("/cancel")  # a sentinel: handled after everything /help caused
    await user.expect(texts.NOTHING_TO_CANCEL)
    helps = [m for m in user.bot_messages if "Команды:" in m.content_text]
    assert len(helps) == 1
    assert not [m for m in user.bot_messages if texts.ERROR_APOLOGY in m.content_text]
    assert "may have reached Telegram: not repeated" in caplog.text


async def test_the_retry_middleware_gives_up_and_the_user_gets_the_apology(
    cabinet: Cabinet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    user = cabinet.user(5102)
    cabinet.emu.inject_failure("sendMessage", status=502, times=4)
    await user.send("/help")
    await user.expect(texts.ERROR_APOLOGY, timeout=15)
    failed = [call for call in cabinet.emu.calls_to("sendMessage") if call.error]
    assert len(failed) == 4  # every attempt, then no more
    assert "giving up after 4 attempts" in caplog.text
    assert not [m for m in user.bot_messages if "Команды:" in m.content_text]
