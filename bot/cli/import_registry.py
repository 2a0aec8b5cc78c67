"""`python -m bot import-registry FILE`: validate the whole file, then import it in one go."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

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


def _parse_file(
    file: Path, stream: TextIO
) -> tuple[bool, list[registry.RegistryRow], list[registry.RowError]]:
    """Read and validate the whole file (blocking; run in a thread). Returns (large, rows, errors)."""
    size = file.stat().st_size
    large = size >= LARGE_FILE_BYTES
    with (
        file.open("rb") as binary,
        Progress(texts.REGISTRY_PARSING, size, enabled=large, stream=stream) as bar,
    ):
        rows, errors = registry.parse_rows(_lines(binary, bar))
        bar.update(size)
    return large, rows, errors


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
    file cannot be read (OperatorError)."""
    file = readable_file(path)
    started = time.perf_counter()
    large, rows, errors = await asyncio.to_thread(_parse_file, file, sys.stderr)
    if errors:
        header = ";".join(registry.HEADER)
        for error in errors:
            print(texts.registry_problem(error, header), file=sys.stderr)
        print(texts.registry_rejected(len(errors)), file=sys.stderr)
        return 1
    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            with Progress(texts.REGISTRY_IMPORTING, len(rows), enabled=large) as import_bar:
                summary = await registry.import_rows(
                    session, rows, now=Clock(settings.zone).now(), progress=import_bar.update
                )
    finally:
        await engine.dispose()
    print(texts.registry_summary(summary, time.perf_counter() - started))
    return 0
