"""Command line: `python -m bot run | sandbox | demo-data | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from bot.logs import setup_logging
from bot.settings import ConfigError, Settings, load_settings

NO_TOKEN = (
    "BOT_TOKEN не задан. Получите токен у @BotFather в Telegram (команда /newbot) и запишите его "
    "в .env как BOT_TOKEN=…\nБез токена и интернета бота можно попробовать в терминале: "
    "python -m bot sandbox"
)

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


async def _run(settings: Settings, _: argparse.Namespace) -> int:
    if settings.bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    from bot.runtime import serve

    await serve(settings)
    return 0


async def _sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from bot.sandbox import run_sandbox

    await run_sandbox(settings)
    return 0


async def _demo_data(settings: Settings, _: argparse.Namespace) -> int:
    from bot.db import apply_migrations, create_engine, create_session_factory
    from bot.texts import cli as cli_texts
    from services.demo import seed_demo_data

    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            summary = await seed_demo_data(session)
    finally:
        await engine.dispose()
    print(cli_texts.demo_summary(summary))
    return 0


async def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    from bot.db import apply_migrations

    await apply_migrations(settings.database_url)
    print("Схема базы данных обновлена до последней версии.")
    return 0


async def _import_registry(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli_registry import run_import

    return await run_import(settings, args.file)


async def _export_readings(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli_readings import run_export

    return await run_export(settings, args.period, args.out)


COMMANDS: dict[str, tuple[str, Command]] = {
    "run": ("запустить бота (long polling, или webhook при заданном WEBHOOK_URL)", _run),
    "sandbox": ("поговорить с ботом в терминале через встроенный эмулятор Telegram", _sandbox),
    "demo-data": ("заполнить базу демонстрационными данными Металлэнергофинанс", _demo_data),
    "migrate": ("применить миграции базы данных", _migrate),
    "import-registry": ("загрузить реестр лицевых счетов и счётчиков из CSV", _import_registry),
    "export-readings": ("выгрузить принятые показания за период в CSV", _export_readings),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Личный кабинет абонента Металлэнергофинанс в Telegram"
    )
    sub = parser.add_subparsers(dest="command", metavar="КОМАНДА")
    parsers = {
        name: sub.add_parser(name, help=help_text, description=help_text)
        for name, (help_text, _) in COMMANDS.items()
    }
    parsers["import-registry"].add_argument("file", help="CSV-файл реестра (UTF-8, разделитель ;)")
    parsers["export-readings"].add_argument("--period", required=True, help="период ГГГГ-ММ")
    parsers["export-readings"].add_argument(
        "--out", default=None, help="файл (по умолчанию stdout)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    _, command = COMMANDS[args.command]
    try:
        return asyncio.run(command(settings, args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
