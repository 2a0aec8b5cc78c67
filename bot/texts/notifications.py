"""Texts of pushed notifications, by outbox `kind`.

Each feature's texts module may define `NOTIFICATIONS: dict[str, Renderer]`; they are
collected here so the outbox job renders any kind without knowing the features.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from typing import Any

import bot.texts

Renderer = Callable[[dict[str, Any]], str]


@cache
def renderers() -> dict[str, Renderer]:
    found: dict[str, Renderer] = {}
    for info in pkgutil.iter_modules(bot.texts.__path__):
        module = importlib.import_module(f"bot.texts.{info.name}")
        found.update(getattr(module, "NOTIFICATIONS", {}))
    return found


def render(kind: str, payload: dict[str, Any]) -> str:
    """Raises KeyError for an unknown kind (a programming error, logged by the outbox job)."""
    return renderers()[kind](payload)
