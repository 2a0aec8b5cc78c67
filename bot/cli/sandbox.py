"""`python -m bot sandbox`: chat with the bot in the terminal through the built-in emulator."""

from __future__ import annotations

import argparse

from bot.settings import Settings

NAME = "sandbox"
HELP = "поговорить с ботом в терминале через встроенный эмулятор Telegram"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments: the sandbox uses the configured database."""


async def run(settings: Settings, _: argparse.Namespace) -> int:
    from bot.sandbox import run_sandbox

    await run_sandbox(settings)
    return 0
