"""`python -m bot sandbox`: chat with the bot in the terminal through the built-in emulator."""

from __future__ import annotations

import argparse

from bot.settings import Settings

NAME = "sandbox"
HELP = "поговорить с ботом в терминале через встроенный эмулятор Telegram"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments: the sandbox uses the configured database."""


async def run(settings: Settings, _: argparse.Namespace) -> int:
    """The bot's log (INFO lines, tracebacks) goes to data/sandbox.log, not into the chat."""
    from bot.logs import setup_logging
    from bot.sandbox import LOG_FILE, MESSAGE_IDS_FILE, run_sandbox

    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOG_FILE.open("a", encoding="utf-8") as log:
        setup_logging(settings.log_level, log)
        try:
            await run_sandbox(settings, log_file=LOG_FILE, message_ids=MESSAGE_IDS_FILE)
        finally:
            setup_logging(settings.log_level)
    return 0
