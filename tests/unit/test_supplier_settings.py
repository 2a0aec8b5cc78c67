"""Supplier requisites for receipts: all or none, and bank account numbers that match the BIC."""

from __future__ import annotations

from typing import Any

import pytest

from bot.settings import ConfigError, Settings, load_settings
from tests.unit.test_receipts import SUPPLIER

VALID: dict[str, Any] = {
    "supplier_name": SUPPLIER.name,
    "supplier_inn": SUPPLIER.inn,
    "supplier_kpp": SUPPLIER.kpp,
    "supplier_account": SUPPLIER.account,
    "supplier_bank": SUPPLIER.bank,
    "supplier_bic": SUPPLIER.bic,
    "supplier_corr_account": SUPPLIER.corr_account,
}


def test_without_requisites_there_is_no_supplier() -> None:
    settings = Settings(_env_file=None)
    assert settings.supplier() is None and settings.bill_due_day == 10


def test_complete_requisites_make_the_supplier() -> None:
    assert Settings(_env_file=None, **VALID).supplier() == SUPPLIER


def test_the_demo_values_of_env_example_are_valid() -> None:
    settings = Settings(_env_file=".env.example")
    assert settings.supplier() is not None


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"supplier_bic": None}, "не хватает: SUPPLIER_BIC"),
        ({"supplier_inn": "12345"}, "SUPPLIER_INN — ИНН"),
        ({"supplier_bic": "04750160"}, "SUPPLIER_BIC — БИК"),
        (
            {"supplier_account": "40702810672000012346"},
            "SUPPLIER_ACCOUNT не сходится с SUPPLIER_BIC",
        ),
        ({"supplier_corr_account": "30101810700000000601"}, "SUPPLIER_CORR_ACCOUNT не сходится"),
        ({"bill_due_day": 31}, "BILL_DUE_DAY"),
    ],
)
def test_a_wrong_requisite_is_one_russian_line(overrides: dict[str, object], fragment: str) -> None:
    values = {**VALID, **overrides}
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, **{k: v for k, v in values.items() if v is not None})
    assert fragment in str(error.value) and "\n" not in str(error.value)
