"""The operator's command line: `python -m bot КОМАНДА`, one module per command.

Each command module defines `NAME`, `HELP`, `add_arguments(parser)` and
`async run(settings, args) -> int` (the exit code); `COMMANDS` lists them in the order `--help`
shows them. Settings are loaded once, here, after the arguments parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from types import ModuleType

from bot.cli import (
    bill,
    broadcast,
    demo_data,
    export_readings,
    import_registry,
    migrate,
    notify,
    receipts,
    run,
    sandbox,
    tariffs,
)
from bot.cli.arguments import RussianArgumentParser
from bot.db import explain_error
from bot.logs import setup_logging
from bot.settings import ConfigError, OperatorError, load_settings
from bot.texts import cli as texts

log = logging.getLogger("bot.cli")

COMMANDS: tuple[ModuleType, ...] = (
    run,
    sandbox,
    demo_data,
    migrate,
    import_registry,
    export_readings,
    tariffs,
    bill,
    receipts,
    broadcast,
    notify,
)


def build_parser() -> argparse.ArgumentParser:
    parser = RussianArgumentParser(
        prog="scripts/run.sh", description="Личный кабинет абонента Металлэнергофинанс в Telegram"
    )
    sub = parser.add_subparsers(dest="command", metavar="КОМАНДА", title="команды")
    for command in COMMANDS:
        command.add_arguments(
            sub.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, load settings, run the command; every failure is one Russian line on stderr and
    an exit code from the README: 1 bad data, 2 configuration or arguments, 3 a service is
    down, 130 interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    setup_logging(settings.log_level)
    command = next(c for c in COMMANDS if args.command == c.NAME)
    try:
        exit_code: int = asyncio.run(command.run(settings, args))
    except KeyboardInterrupt:
        print(texts.INTERRUPTED, file=sys.stderr)
        return 130
    except OperatorError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        explained = explain_error(exc, settings.database_url)
        if explained is not None:
            print(explained[0], file=sys.stderr)
            return explained[1]
        log.debug("%s failed", args.command, exc_info=True)
        print(texts.unexpected(exc), file=sys.stderr)
        return 1
    return exit_code
