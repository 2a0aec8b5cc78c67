"""Rules every text module keeps: Russian zone names with a Cyrillic «Т», one step-numbering
style, decimal commas."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from bot.texts import accounts, bills, fmt
from bot.texts import readings as texts
from services.accounts import AccountCard

TEXTS = Path(__file__).resolve().parents[2] / "bot" / "texts"
CYRILLIC_TE = "\u0422"


@pytest.mark.parametrize(
    ("scheme", "names"),
    [
        (1, ["Показание"]),
        (2, ["Т1 день", "Т2 ночь"]),
        (3, ["Т1 пик", "Т2 ночь", "Т3 полупик"]),
    ],
)
def test_zone_names_as_russian_tariffs_call_them(scheme: int, names: list[str]) -> None:
    assert [texts.zone_name(scheme, zone) for zone in range(1, scheme + 1)] == names
    for zone in range(1, scheme + 1):
        label = texts.zone_name(scheme, zone)
        assert scheme == 1 or label.startswith(CYRILLIC_TE), label
        assert scheme == 1 or bills.tariff_default_name(scheme, zone).endswith(label)
    if scheme == 3:
        assert texts.zone_accusative(3, 1) == " по зоне Т1 (пик)"


def test_no_text_module_writes_a_zone_with_a_latin_t() -> None:
    for module in TEXTS.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        assert not re.search(r"(?<![A-Za-z_])T(?:[1-3]\b|\{)", source), module.name


def test_every_dialog_numbers_its_steps_the_same_way() -> None:
    for module in TEXTS.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        assert not re.findall(r"Шаг \d+(?! из \d)", source), module.name
    assert accounts.LINK_NUMBER.startswith("Шаг 1 из 3. ")
    assert accounts.LINK_METER.startswith("Шаг 3 из 3. ")


def test_durations_have_a_decimal_comma() -> None:
    assert fmt.seconds(0.14) == "0,1 с"
    assert fmt.seconds(12.25) == "12,2 с"
    for module in TEXTS.glob("*.py"):
        if module.name != "fmt.py":  # fmt.seconds is the one place that formats them
            assert ":.1f} с" not in module.read_text(encoding="utf-8"), module.name


def test_after_unlinking_a_new_current_account_is_named_only_if_it_changed() -> None:
    current = AccountCard(1, "7400000001", "Иванов И. И.", "ул. Мира, 1", Decimal(0), True)
    assert "Текущим теперь" not in accounts.unlinked("7400000002", current, was_current=False)
    assert "Текущим теперь стал лицевой счёт № 7400000001" in accounts.unlinked(
        "7400000002", current, was_current=True
    )
