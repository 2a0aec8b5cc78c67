"""One aiogram Router per feature; `feature_routers()` gives them in dispatch order."""

from __future__ import annotations

from aiogram import Router


def feature_routers() -> list[Router]:
    """Order matters: the global commands first, feature dialogs, then the menu fallbacks."""
    from handlers import auth, common, fallback, staff

    # The staff chat's /help and /open come before the subscribers' global commands; /register,
    # /login and /logout (auth.entry) before every feature's dialog steps. The password guard
    # deletes a password-looking message no feature step took, before the fallback answers it.
    return [
        staff.router, common.router, auth.entry, *_features(), auth.password_guard,
        fallback.router,
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

    # payments first: its `/start pay_…` (the return from YooKassa's page) must be seen before
    # auth's catch-all deep link handler.
    return [
        payments.router,
        settings.router,  # before auth: its `/start em_…` (an e-mail change) is not auth's
        auth.router,
        accounts.router,
        contracts.router,
        readings.router,
        bills.router,
        appeals.router,
        notifications.router,
    ]
