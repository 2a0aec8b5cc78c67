"""`python -m bot run`: the bot itself (long polling, or webhook when WEBHOOK_URL is set)."""

from __future__ import annotations

import argparse
import sys

from bot.settings import Settings
from bot.texts import cli as texts

NAME = "run"
HELP = "запустить бота (long polling, или webhook при заданном WEBHOOK_URL)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments: everything comes from the environment and .env."""


async def run(settings: Settings, _: argparse.Namespace) -> int:
    if settings.bot_token is None:
        print(texts.NO_TOKEN, file=sys.stderr)
        return 2
    from bot.runtime import WebPortUnavailable, serve

    try:
        await serve(settings, freeze=True)
    except WebPortUnavailable as exc:
        print(texts.web_port_unavailable(exc.host, exc.port), file=sys.stderr)
        return 2
    return 0
