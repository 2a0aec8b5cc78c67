"""argparse in Russian: its own messages («usage», «options», «the following arguments are
required») are looked up through the module-level `_`, which is swapped for a Russian table."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

RUSSIAN = {
    "usage: ": "использование: ",
    "options": "параметры",
    "positional arguments": "аргументы",
    "show this help message and exit": "показать эту справку и выйти",
    "the following arguments are required: %s": "не хватает обязательных аргументов: %s",
    "unrecognized arguments: %s": "неизвестные аргументы: %s",
    "expected one argument": "нужно значение",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "неизвестный вариант %(value)r (допустимо: %(choices)s)"
    ),
    "invalid %(type)s value: %(value)r": "неверное значение %(value)r",
    "ambiguous option: %(option)s could match %(matches)s": (
        "неоднозначный параметр %(option)s: подходит %(matches)s"
    ),
    "%(prog)s: error: %(message)s\n": "%(prog)s: ошибка: %(message)s\n",
}


def _translate(message: str) -> str:
    return RUSSIAN.get(message, message)


argparse._ = _translate  # type: ignore[attr-defined]


class RussianArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors end with a Russian hint to `--help`, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: ошибка: {message}\nСправка: {self.prog} --help\n")
