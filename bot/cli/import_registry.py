"""`python -m bot import-registry FILE`: validate and import a registry file in one transaction."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Self

from bot.cli.progress import Progress
from bot.clock import Clock
from bot.db import apply_migrations, create_engine, create_session_factory
from bot.settings import OperatorError, Settings
from bot.texts import accounts as texts
from bot.texts import cli as cli_texts
from services import registry

NAME = "import-registry"
HELP = "загрузить реестр лицевых счетов и счётчиков из CSV"
LARGE_FILE_BYTES = 1_000_000  # show a progress bar above ~10 000 rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="ФАЙЛ", help="CSV-файл реестра (UTF-8, разделитель ;)")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    return await run_import(settings, args.file)


def _lines(stream: BinaryIO, bar: Progress) -> Iterator[bytes]:
    read = 0
    for line in stream:
        read += len(line)
        bar.update(read)
        yield line


class _StepsBar:
    """The import's bar, shown once the file has been read (that bar is closed then)."""

    def __init__(self, read_bar: Progress, *, enabled: bool) -> None:
        self._read_bar = read_bar
        self._enabled = enabled
        self._bar: Progress | None = None

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            self._read_bar.close()
            self._bar = Progress(texts.REGISTRY_IMPORTING, total, enabled=self._enabled)
        self._bar.update(done, total)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def readable_file(path: str) -> Path:
    """The file named on the command line, or an OperatorError (exit 2) saying what is wrong."""
    file = Path(path)
    if file.is_dir():
        raise OperatorError(cli_texts.file_is_folder(path), exit_code=2)
    if not file.exists():
        raise OperatorError(cli_texts.file_missing(path), exit_code=2)
    if not os.access(file, os.R_OK):
        raise OperatorError(cli_texts.file_unreadable(path), exit_code=2)
    return file


async def run_import(settings: Settings, path: str) -> int:
    """Exit code 0 on success; 1 when the file has bad lines (nothing changed); 2 when the
    file cannot be read (OperatorError). The file is read once, streaming, whatever its size."""
    file = readable_file(path)
    started = time.perf_counter()
    size = file.stat().st_size
    large = size >= LARGE_FILE_BYTES
    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            with (
                file.open("rb") as binary,
                Progress(texts.REGISTRY_PARSING, size, enabled=large) as read_bar,
                _StepsBar(read_bar, enabled=large) as steps,
            ):
                result = await registry.import_registry(
                    session,
                    _lines(binary, read_bar),
                    now=Clock(settings.zone).now(),
                    progress=steps.update,
                )
    finally:
        await engine.dispose()
    if result.summary is None:
        _print_errors(result.errors)
        return 1
    print(texts.registry_summary(result.summary, time.perf_counter() - started))
    return 0


def _print_errors(errors: registry.ErrorLog) -> None:
    header = ";".join(registry.HEADER)
    for error in errors.shown():
        print(texts.registry_problem(error, header), file=sys.stderr)
    more = errors.more_lines()
    if more:
        print(texts.registry_more_errors(more), file=sys.stderr)
    print(texts.registry_rejected(len(errors)), file=sys.stderr)
