"""Configuration: defaults, normalisation, and one readable line for a bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bot.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_usable_without_any_configuration() -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///data/bot.db"
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.tz == "Europe/Moscow"
    assert settings.reading_window_days == (15, 25)
    assert settings.bot_token is None


def test_plain_database_urls_get_the_async_driver() -> None:
    settings = Settings(_env_file=None, database_url="postgresql://u:p@db/mef")
    assert settings.database_url == "postgresql+asyncpg://u:p@db/mef"


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("tz", "Mars/Base", "TZ"),
        ("web_port", "70000", "WEB_PORT"),
        ("database_url", "mysql://x", "DATABASE_URL"),
        ("reading_window", "25-15", "READING_WINDOW"),
        ("telegram_api_url", "api.telegram.org", "TELEGRAM_API_URL"),
        ("payment_provider_token", "not-a-token", "PAYMENT_PROVIDER_TOKEN"),
        ("yookassa_shop_id", "shop", "YOOKASSA_SHOP_ID"),
        ("payment_max_amount", "0,5", "PAYMENT_MAX_AMOUNT"),
        ("payment_min_amount", "рубль", "PAYMENT_MIN_AMOUNT"),
    ],
)
def test_a_bad_value_names_the_variable(field: str, value: str, variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, **{field: value})
    assert str(error.value).startswith(f"Ошибка конфигурации: {variable} — ")
    assert "\n" not in str(error.value)


def test_payment_settings_read_rubles_and_pair_the_yookassa_credentials() -> None:
    settings = load_settings(
        _env_file=None,
        payment_provider_token="381764678:TEST:100500",
        yookassa_shop_id="506751",
        yookassa_secret_key="test_abc",
        payment_min_amount="10,50",
        payment_max_amount="150 000",
    )
    assert settings.telegram_payments_enabled and settings.yookassa_enabled
    assert (settings.payment_min_amount, settings.payment_max_amount) == (
        Decimal("10.50"),
        Decimal("150000.00"),
    )
    plain = Settings(_env_file=None)
    assert not plain.telegram_payments_enabled and not plain.yookassa_enabled
    for half in ({"yookassa_shop_id": "506751"}, {"yookassa_secret_key": "test_abc"}):
        with pytest.raises(ConfigError, match=r"^Ошибка конфигурации: YOOKASSA_SECRET_KEY — "):
            load_settings(_env_file=None, **half)
    with pytest.raises(ConfigError, match="меньше наименьшей"):
        load_settings(_env_file=None, payment_min_amount="500", payment_max_amount="100")


def _run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_malformed_environment_stops_with_exit_code_2_and_no_traceback() -> None:
    result = _run_cli("run", WEB_PORT="not-a-port")
    assert result.returncode == 2
    assert "WEB_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_without_token_explains_how_to_get_one(tmp_path: Path) -> None:
    result = _run_cli("run", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db", BOT_TOKEN="")
    assert result.returncode == 2
    assert "@BotFather" in result.stderr and "sandbox" in result.stderr


def test_bare_command_lists_subcommands() -> None:
    result = _run_cli()
    assert result.returncode == 0
    for command in ("run", "sandbox", "demo-data", "import-registry", "export-readings"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("smtp_port", "smtp", "ожидается целое число"),
        ("max_upload_mb", "50", "ожидается число не больше 20"),
        ("max_concurrent_updates", "0", "ожидается число не меньше 1"),
        ("smtp_security", "ssl", "допустимые значения: starttls, tls, none"),
        ("captcha_enabled", "maybe", "ожидается true или false"),
        ("log_level", "loud", "допустимые значения: DEBUG, INFO, WARNING, ERROR"),
        ("bot_token", "123", "ожидается токен вида"),
        ("webhook_secret", "a b", "допустимо от 1 до 256 символов"),
    ],
)
def test_pydantic_reasons_are_in_russian(field: str, value: str, reason: str) -> None:
    """Once «Input should be less than or equal to 20» in a Russian line."""
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, **{field: value})
    assert reason in str(error.value)
    assert not any(word in str(error.value) for word in ("Input", "should", "valid"))


def test_case_of_enumerations_does_not_matter() -> None:
    settings = load_settings(_env_file=None, log_level="debug", smtp_security="STARTTLS")
    assert (settings.log_level, settings.smtp_security) == ("DEBUG", "starttls")
