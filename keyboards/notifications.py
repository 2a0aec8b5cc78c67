"""Buttons of pushed notifications, by outbox `kind`.

Each feature's keyboards module may define `NOTIFICATION_KEYBOARDS: dict[str, Builder]`; they
are collected here (as bot/texts/notifications.py collects the texts), so the outbox job adds
a notice's buttons without knowing the features.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from typing import Any

from aiogram.types import InlineKeyboardMarkup

import keyboards

Builder = Callable[[dict[str, Any]], InlineKeyboardMarkup | None]


@cache
def builders() -> dict[str, Builder]:
    found: dict[str, Builder] = {}
    for info in pkgutil.iter_modules(keyboards.__path__):
        module = importlib.import_module(f"keyboards.{info.name}")
        found.update(getattr(module, "NOTIFICATION_KEYBOARDS", {}))
    return found


def keyboard(kind: str, payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """The notice's buttons, or None when its kind has none."""
    builder = builders().get(kind)
    return builder(payload) if builder is not None else None
