"""Billing periods: a period is the first day of its month."""

from __future__ import annotations

from datetime import date


def period_of(day: date) -> date:
    return day.replace(day=1)


def shift(period: date, months: int) -> date:
    index = period.year * 12 + period.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def last_periods(current: date, count: int) -> list[date]:
    """The `count` periods before `current`'s period, newest first."""
    start = period_of(current)
    return [shift(start, -i) for i in range(1, count + 1)]
