"""`python -m bot demo-data`: a demo login, accounts, meters, readings and bills."""

from __future__ import annotations

import argparse

from bot.settings import Settings
from bot.texts import cli as texts

NAME = "demo-data"
HELP = "заполнить базу демонстрационными данными Металлэнергофинанс"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments: demo data is fixed (and written once)."""


async def run(settings: Settings, _: argparse.Namespace) -> int:
    from bot.db import apply_migrations, create_engine, create_session_factory
    from services.demo import seed_demo_data

    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            summary = await seed_demo_data(session)
    finally:
        await engine.dispose()
    print(texts.demo_summary(summary))
    return 0
