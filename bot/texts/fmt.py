"""Formatting of amounts, plurals, dates and user-supplied text for HTML messages."""

from __future__ import annotations

import html
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

MONTHS_NOMINATIVE = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip
MONTHS_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip

NBSP = "\u00a0"


def esc(value: object) -> str:
    """Escape anything a user typed before it goes into an HTML message."""
    return html.escape(str(value), quote=False)


def _grouped(digits: str) -> str:
    """«1234567» → «1 234 567» with non-breaking spaces."""
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return NBSP.join(parts)


def money(amount: Decimal | int | str, *, sign: bool = False) -> str:
    """`1234.5` → «1 234,50 ₽» with non-breaking spaces, as Russian bills print it."""
    value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    prefix = "−" if value < 0 else ("+" if sign and value > 0 else "")
    integer, fraction = f"{abs(value):.2f}".split(".")
    return f"{prefix}{_grouped(integer)},{fraction}{NBSP}₽"


def number(value: Decimal | int, places: int = 2) -> str:
    """A decimal with a comma and grouped thousands: `12345.6` → «12 345,60»."""
    quantum = Decimal(1).scaleb(-places)
    text = f"{abs(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP)):.{places}f}"
    integer, _, fraction = text.partition(".")
    result = _grouped(integer) + ("," + fraction if fraction else "")
    return ("−" if Decimal(value) < 0 else "") + result


def tariff(price: Decimal) -> str:
    """A price per kWh with as many decimals as it has (at least two): «5,60 ₽/кВт·ч»."""
    places = max(2, -Decimal(price).normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{number(price, places)}{NBSP}₽/кВт·ч"


def numbered(number: int, total: int, question: str) -> str:
    """A dialog step, numbered the same way in every dialog: «Шаг 2 из 6. …»."""
    return f"Шаг {number} из {total}. {question}"


def seconds(value: float) -> str:
    """How long an operator's command took: «0,1 с» (a decimal comma, as Russian writes it)."""
    return f"{value:.1f} с".replace(".", ",")


def plural(n: int, one: str, few: str, many: str) -> str:
    """Russian plural: plural(1, "счёт", "счёта", "счетов") → «1 счёт»."""
    n_abs = abs(n) % 100
    if 11 <= n_abs <= 14:
        word = many
    elif n_abs % 10 == 1:
        word = one
    elif 2 <= n_abs % 10 <= 4:
        word = few
    else:
        word = many
    return f"{n} {word}"


def period(value: date) -> str:
    """The billing month: «ноябрь 2026»."""
    return f"{MONTHS_NOMINATIVE[value.month - 1]} {value.year}"


def day(value: date | datetime) -> str:
    """«25.11.2026»."""
    return value.strftime("%d.%m.%Y")


def day_long(value: date) -> str:
    """«25 ноября 2026»."""
    return f"{value.day} {MONTHS_GENITIVE[value.month - 1]} {value.year}"
