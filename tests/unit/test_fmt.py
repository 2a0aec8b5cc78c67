"""Amounts, plurals and escaping as a Russian subscriber reads them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bot.texts import fmt


def test_money_groups_thousands_with_a_comma_and_rouble_sign() -> None:
    assert fmt.money(Decimal("1234.5")) == "1\u00a0234,50\u00a0₽"
    assert fmt.money(0) == "0,00\u00a0₽"
    assert fmt.money(Decimal("-1234567.891")) == "−1\u00a0234\u00a0567,89\u00a0₽"
    assert fmt.money(Decimal("0.005")) == "0,01\u00a0₽"


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_money_round_trips(value: Decimal) -> None:
    text = fmt.money(value)
    digits = text.replace("\u00a0₽", "").replace("\u00a0", "").replace(",", ".").replace("−", "-")
    assert Decimal(digits) == value


def test_plural_forms() -> None:
    forms = ("счёт", "счёта", "счетов")
    assert [fmt.plural(n, *forms) for n in (1, 2, 5, 11, 12, 21, 22, 25, 111, 101)] == [
        "1 счёт", "2 счёта", "5 счетов", "11 счетов", "12 счетов", "21 счёт",
        "22 счёта", "25 счетов", "111 счетов", "101 счёт",
    ]  # fmt: skip


def test_periods_and_dates() -> None:
    assert fmt.period(date(2026, 11, 1)) == "ноябрь 2026"
    assert fmt.day(date(2026, 3, 5)) == "05.03.2026"
    assert fmt.day_long(date(2026, 3, 5)) == "5 марта 2026"


@given(st.text())
def test_escaped_user_text_has_no_markup(value: str) -> None:
    escaped = fmt.esc(value)
    assert "<" not in escaped and ">" not in escaped
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == value
