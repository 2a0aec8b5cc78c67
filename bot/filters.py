"""Filters on the viewer that feature routers put on their entry points.

An update a filter refuses falls through to `handlers.fallback`, which explains what is
missing (log in first, link an account first) instead of staying silent.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from services.identity import Viewer


class LoggedIn(Filter):
    async def __call__(self, event: TelegramObject, viewer: Viewer | None = None, **_: Any) -> bool:
        return viewer is not None and viewer.logged_in


class HasAccount(Filter):
    """Logged in and a current personal account is selected."""

    async def __call__(self, event: TelegramObject, viewer: Viewer | None = None, **_: Any) -> bool:
        return viewer is not None and viewer.logged_in and viewer.account is not None


def login_id_of(viewer: Viewer | None) -> int:
    """The login of a viewer that a `LoggedIn()` filter let through."""
    assert viewer is not None and viewer.login_id is not None  # guaranteed by LoggedIn()
    return viewer.login_id
