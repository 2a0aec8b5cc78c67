"""What each dialog step waits for, by FSM state, for answers to anything unexpected.

Each feature's texts module may define `WAITING: dict[str, str]`, keyed by the state's name
(`"ReadingEntry:value"`), with a hint such as «показание счётчика числом, например 12345,6».
The fallback router answers a sticker, a photo or any other unexpected message sent at that
step with «Сейчас я жду …» and the hint, so every step of every dialog answers the same way.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import bot.texts


@cache
def hints() -> dict[str, str]:
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(bot.texts.__path__):
        module = importlib.import_module(f"bot.texts.{info.name}")
        found.update(getattr(module, "WAITING", {}))
    return found


def hint(state: str | None) -> str | None:
    """The hint for a dialog step, or None when the step has none (a generic answer is used)."""
    return hints().get(state or "")
