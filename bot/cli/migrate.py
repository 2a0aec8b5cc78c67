"""`python -m bot migrate`: bring the database schema to the latest revision."""

from __future__ import annotations

import argparse

from bot.settings import Settings
from bot.texts import cli as texts

NAME = "migrate"
HELP = "применить миграции базы данных"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments."""


async def run(settings: Settings, _: argparse.Namespace) -> int:
    from bot.db import apply_migrations

    await apply_migrations(settings.database_url)
    print(texts.MIGRATED)
    return 0
