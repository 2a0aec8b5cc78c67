"""Runtime configuration, read once from the environment and `.env` (never at import time)."""

from __future__ import annotations

import re
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from services.files import UploadQuota
    from services.receipts import Supplier

OFFICIAL_API_URL = "https://api.telegram.org"
YOOKASSA_API_URL = "https://api.yookassa.ru/v3"
CENT = Decimal("0.01")
MAX_PAYMENT_CAP = Decimal(1_000_000)
TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,100}")
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
SECRET_FIELDS = frozenset(
    {
        "bot_token",
        "webhook_secret",
        "smtp_password",
        "payment_provider_token",
        "yookassa_secret_key",
        "sms_api_key",
    }
)
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
    # Appeals: «Противодействие коррупции» go to their own chat when it is set; staff are
    # reminded of appeals left without an answer this long.
    anticorruption_chat_id: int | None = None
    appeal_sla_hours: int = Field(default=24, ge=1, le=720)
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
    upload_files_per_day: int = Field(default=40, ge=1, le=10_000)
    upload_mb_per_day: int = Field(default=200, ge=1, le=100_000)

    # Bills and receipts: the day of the next month a bill is due, the supplier's requisites
    # printed on receipts and in their payment QR code (all of them, or none: no receipts).
    bill_due_day: int = Field(default=10, ge=1, le=28)
    supplier_name: str | None = Field(default=None, max_length=160)
    supplier_inn: str | None = None
    supplier_kpp: str | None = None
    supplier_account: str | None = None
    supplier_bank: str | None = Field(default=None, max_length=45)
    supplier_bic: str | None = None
    supplier_corr_account: str | None = None

    # Online payment: Telegram Payments (provider token) and/or a YooKassa payment link.
    payment_provider_token: SecretStr | None = None
    yookassa_shop_id: str | None = None
    yookassa_secret_key: SecretStr | None = Field(default=None, validate_default=True)
    yookassa_api_url: str = YOOKASSA_API_URL
    yookassa_return_url: str | None = None
    yookassa_check_source_ip: bool = True
    yookassa_poll_seconds: int = Field(default=60, ge=1, le=3600)
    payment_min_amount: Decimal = Decimal("1.00")
    payment_max_amount: Decimal = Decimal("100000.00")
    payment_vat_code: int = Field(default=1, ge=1, le=12)

    # Pushed notifications: when reading reminders go out, how fast the outbox sends.
    reading_reminder_time: str = "10:00"
    outbox_rate: int = Field(default=30, ge=1, le=30)
    outbox_lease_seconds: int = Field(default=120, ge=1, le=3600)

    # SMS (reminders and bills for subscribers who chose SMS); without SMS_API_URL only logged.
    sms_api_url: str | None = None
    sms_api_key: SecretStr | None = None
    sms_sender: str = Field(default="MEF", max_length=11)
    sms_timeout_seconds: int = Field(default=10, ge=1, le=60)

    @field_validator(
        "telegram_api_url", "webhook_url", "yookassa_api_url", "yookassa_return_url", "sms_api_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("ожидается адрес вида https://host[:port]")
        return value.rstrip("/")

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError(
                "ожидается токен вида 123456789:AAE…, как его выдаёт @BotFather (без пробелов и кавычек)"
            )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("допустимо от 1 до 256 символов A–Z, a–z, 0–9, «_» и «-»")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("smtp_security", mode="before")
    @classmethod
    def _lower_security(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

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

    @field_validator("reading_reminder_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        match = re.fullmatch(r"\s*(\d{1,2})[:.](\d{2})\s*", value)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError("ожидается время ЧЧ:ММ, например 10:00")
        return f"{int(match[1]):02d}:{match[2]}"

    @field_validator("reading_window")
    @classmethod
    def _window(cls, value: str) -> str:
        match = re.fullmatch(r"\s*(\d{1,2})\s*-\s*(\d{1,2})\s*", value)
        if not match or not 1 <= int(match[1]) <= int(match[2]) <= 31:
            raise ValueError("ожидается диапазон дней месяца, например 15-25")
        return f"{int(match[1])}-{int(match[2])}"

    @field_validator("supplier_inn")
    @classmethod
    def _inn(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{10}|\d{12}", value.strip()):
            raise ValueError("ИНН — 10 цифр (организация) или 12 цифр (ИП)")
        return value.strip() if value else value

    @field_validator("supplier_kpp")
    @classmethod
    def _kpp(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}[\dA-Z]{2}\d{3}", value.strip()):
            raise ValueError("КПП — 9 знаков, например 744401001")
        return value.strip() if value else value

    @field_validator("supplier_bic")
    @classmethod
    def _bic(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{9}", value.strip()):
            raise ValueError("БИК — 9 цифр, например 047501602")
        return value.strip() if value else value

    @field_validator("supplier_account", "supplier_corr_account")
    @classmethod
    def _bank_account(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{20}", value.strip()):
            raise ValueError("номер счёта — 20 цифр")
        return value.strip() if value else value

    @model_validator(mode="after")
    def _supplier_complete(self) -> Self:
        fields = {
            "supplier_name": self.supplier_name,
            "supplier_inn": self.supplier_inn,
            "supplier_kpp": self.supplier_kpp,
            "supplier_account": self.supplier_account,
            "supplier_bank": self.supplier_bank,
            "supplier_bic": self.supplier_bic,
            "supplier_corr_account": self.supplier_corr_account,
        }
        missing = [name.upper() for name, value in fields.items() if not value]
        if 0 < len(missing) < len(fields):
            raise ValueError(
                f"реквизиты поставщика задаются все вместе, не хватает: {', '.join(missing)}"
            )
        if self.supplier_bic and self.supplier_account and self.supplier_corr_account:
            if not _account_key_ok(self.supplier_bic[-3:], self.supplier_account):
                raise ValueError(
                    "SUPPLIER_ACCOUNT не сходится с SUPPLIER_BIC (контрольный разряд): "
                    "проверьте номер расчётного счёта и БИК"
                )
            if not _account_key_ok("0" + self.supplier_bic[4:6], self.supplier_corr_account):
                raise ValueError(
                    "SUPPLIER_CORR_ACCOUNT не сходится с SUPPLIER_BIC (контрольный разряд): "
                    "проверьте корреспондентский счёт и БИК"
                )
        return self

    def supplier(self) -> Supplier | None:
        """The requisites printed on receipts, or None when the operator has not set them."""
        from services.receipts import Supplier

        if not (
            self.supplier_name
            and self.supplier_inn
            and self.supplier_kpp
            and self.supplier_account
            and self.supplier_bank
            and self.supplier_bic
            and self.supplier_corr_account
        ):
            return None
        return Supplier(
            name=self.supplier_name,
            inn=self.supplier_inn,
            kpp=self.supplier_kpp,
            account=self.supplier_account,
            bank=self.supplier_bank,
            bic=self.supplier_bic,
            corr_account=self.supplier_corr_account,
        )

    @field_validator("payment_provider_token")
    @classmethod
    def _provider_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"\d+:(TEST|LIVE):\S+", value.get_secret_value()):
            raise ValueError(
                "ожидается платёжный токен из @BotFather (Payments → ЮKassa), "
                "например 381764678:TEST:12345"
            )
        return value

    @field_validator("yookassa_shop_id")
    @classmethod
    def _shop_id(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().isdigit():
            raise ValueError("ожидается числовой shopId магазина ЮKassa, например 123456")
        return value.strip() if value is not None else None

    @field_validator("yookassa_secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        shop_id = info.data.get("yookassa_shop_id")
        if value is None and shop_id:
            raise ValueError("задан YOOKASSA_SHOP_ID, но не задан секретный ключ магазина")
        if value is not None and not shop_id:
            raise ValueError("секретный ключ задан, но не задан YOOKASSA_SHOP_ID")
        if value is not None and not re.fullmatch(r"(test|live)_\S+", value.get_secret_value()):
            raise ValueError("ожидается секретный ключ ЮKassa вида test_… или live_…")
        return value

    @field_validator("payment_min_amount", "payment_max_amount", mode="before")
    @classmethod
    def _rubles(cls, value: object) -> Decimal:
        try:
            amount = Decimal(str(value).replace(",", ".").replace(" ", ""))
        except InvalidOperation:
            raise ValueError("ожидается сумма в рублях, например 100000 или 1,50") from None
        if not amount.is_finite() or amount != amount.quantize(CENT) or amount < 1:
            raise ValueError("ожидается сумма не меньше 1 рубля, не больше двух знаков копеек")
        return amount.quantize(CENT)

    @field_validator("payment_max_amount")
    @classmethod
    def _max_above_min(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        minimum = info.data.get("payment_min_amount")
        if minimum is not None and value < minimum:
            raise ValueError("наибольшая сумма платежа меньше наименьшей (PAYMENT_MIN_AMOUNT)")
        if value > MAX_PAYMENT_CAP:
            raise ValueError(f"не больше {MAX_PAYMENT_CAP} рублей за один платёж")
        return value

    @property
    def telegram_payments_enabled(self) -> bool:
        return self.payment_provider_token is not None

    @property
    def yookassa_enabled(self) -> bool:
        return self.yookassa_shop_id is not None and self.yookassa_secret_key is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def reading_window_days(self) -> tuple[int, int]:
        first, last = self.reading_window.split("-")
        return int(first), int(last)

    @property
    def reminder_time(self) -> time:
        hours, minutes = self.reading_reminder_time.split(":")
        return time(int(hours), int(minutes))

    @property
    def dialog_ttl(self) -> timedelta:
        return timedelta(hours=self.dialog_ttl_hours)

    @property
    def upload_quota(self) -> UploadQuota:
        from services.files import UploadQuota

        return UploadQuota(self.upload_files_per_day, self.upload_mb_per_day)

    @property
    def webhook_path(self) -> str:
        return "/telegram/webhook"


def _account_key_ok(bic_part: str, account: str) -> bool:
    """The Bank of Russia's control digit of a 20-digit account number, keyed by the BIC."""
    weights = (7, 1, 3) * 8
    digits = bic_part + account
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 10 == 0


def _int_between(value: object, low: int, high: int) -> int:
    """A whole number in [low, high], with the reason in Russian otherwise."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"ожидается целое число от {low} до {high}") from None
    if not low <= number <= high:
        raise ValueError(f"ожидается целое число от {low} до {high}")
    return number


class OperatorError(Exception):
    """A failure the operator can act on: the message is one Russian line saying what to fix,
    `exit_code` is the documented exit code of `python -m bot` (README, «Коды выхода»)."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(OperatorError):
    """Configuration is unusable; the message is one line naming the variable."""

    exit_code = 2


def _reason(error: ErrorDetails) -> str:
    """pydantic's English reason, in Russian (the common types; a validator's own text as is)."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "ожидается целое число"
    if kind in ("bool_parsing", "bool_type"):
        return "ожидается true или false"
    if kind in ("greater_than_equal", "greater_than"):
        return f"ожидается число не меньше {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"ожидается число не больше {ctx.get('le', ctx.get('lt'))}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"допустимые значения: {expected}"
    if kind in ("string_too_long", "string_too_short"):
        return "недопустимая длина"
    return "недопустимое значение"


def _describe(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else "supplier_*"  # the requisites together
    text = f"{field.upper()} — {_reason(error)}"
    value = error.get("input")
    if field not in SECRET_FIELDS and isinstance(value, str) and len(value) <= 80:
        text += f" (сейчас «{value}»)"
    return text


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one operator-readable Russian line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"Ошибка конфигурации: {problems}") from None
