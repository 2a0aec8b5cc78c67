"""Runtime configuration, read once from the environment and `.env` (never at import time)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OFFICIAL_API_URL = "https://api.telegram.org"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/bot.db"


class Settings(BaseSettings):
    """Every knob the operator can turn; `.env.example` documents each of them."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = OFFICIAL_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    staff_chat_id: int | None = None
    tz: str = "Europe/Moscow"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_concurrent_updates: int = Field(default=32, ge=1, le=1000)

    # Registration and e-mail (issue «Registration»).
    captcha_enabled: bool = True
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Металлэнергофинанс <no-reply@mef.example>"
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    mail_dir: Path = Path("data/mail")
    mail_per_user_per_day: int = 5
    mail_per_address_per_day: int = 5

    # Dialogs: how long an abandoned dialog (and what was typed in it) is kept.
    dialog_ttl_hours: int = 24

    # Meter readings.
    reading_window: str = "15-25"

    # Uploads (documents, attachments, meter photos).
    upload_dir: Path = Path("data/uploads")
    max_upload_mb: int = Field(default=20, ge=1, le=20)

    @field_validator("telegram_api_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("ожидается адрес вида https://host[:port]")
        return value.rstrip("/")

    @field_validator("tz")
    @classmethod
    def _known_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("ожидается часовой пояс IANA, например Europe/Moscow") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.split(":///", 1)[1]
        if not (
            value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")
        ):
            raise ValueError("ожидается sqlite+aiosqlite:///путь или postgresql+asyncpg://…")
        return value

    @field_validator("mail_per_user_per_day", "mail_per_address_per_day", mode="before")
    @classmethod
    def _letters_a_day(cls, value: object) -> int:
        return _int_between(value, 1, 100)

    @field_validator("dialog_ttl_hours", mode="before")
    @classmethod
    def _dialog_hours(cls, value: object) -> int:
        return _int_between(value, 1, 720)

    @field_validator("reading_window")
    @classmethod
    def _window(cls, value: str) -> str:
        match = re.fullmatch(r"\s*(\d{1,2})\s*-\s*(\d{1,2})\s*", value)
        if not match or not 1 <= int(match[1]) <= int(match[2]) <= 31:
            raise ValueError("ожидается диапазон дней месяца, например 15-25")
        return f"{int(match[1])}-{int(match[2])}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def reading_window_days(self) -> tuple[int, int]:
        first, last = self.reading_window.split("-")
        return int(first), int(last)

    @property
    def dialog_ttl(self) -> timedelta:
        return timedelta(hours=self.dialog_ttl_hours)

    @property
    def webhook_path(self) -> str:
        return "/telegram/webhook"


def _int_between(value: object, low: int, high: int) -> int:
    """A whole number in [low, high], with the reason in Russian otherwise."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"ожидается целое число от {low} до {high}") from None
    if not low <= number <= high:
        raise ValueError(f"ожидается целое число от {low} до {high}")
    return number


class ConfigError(Exception):
    """Configuration is unusable; the message is one line naming the variable."""


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one operator-readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "?"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"Ошибка конфигурации: {name} — {message}") from None
