"""One aiogram Router per feature; `feature_routers()` gives them in dispatch order."""

from __future__ import annotations

from aiogram import Router


def feature_routers() -> list[Router]:
    """Order matters: the global commands first, feature dialogs, then the menu fallbacks."""
    from handlers import auth, common, fallback, payments, settings, staff

    # The staff chat's /help and /open come before the subscribers' global commands; /register,
    # /login, /logout and the deep links (`/start pay_…`, `/start em_…`, then auth's catch-all)
    # before every feature's dialog steps. The password guard deletes a password-looking message
    # no feature step took, before the fallback answers it.
    return [
        staff.router, common.router, payments.links, settings.links, auth.entry, *_features(),
        auth.password_guard, fallback.router,
    ]  # fmt: skip


def _features() -> list[Router]:
    from handlers import (
        accounts,
        appeals,
        auth,
        bills,
        contracts,
        notifications,
        payments,
        readings,
        settings,
    )

    return [
        payments.router,
        settings.router,
        auth.router,
        accounts.router,
        contracts.router,
        readings.router,
        bills.router,
        appeals.router,
        notifications.router,
    ]
