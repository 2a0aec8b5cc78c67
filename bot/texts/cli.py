"""Texts the command line prints to the operator or tester."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.demo import DemoSummary

ZONE_NAMES = {1: "однотарифный", 2: "двухзонный", 3: "трёхзонный"}


def demo_summary(summary: DemoSummary) -> str:
    head = (
        "Демоданные Металлэнергофинанс созданы."
        if summary.created
        else ("Демоданные уже были в базе, ничего не изменено.")
    )
    lines = [
        head,
        "",
        "Вход в личный кабинет:",
        f"  e-mail: {summary.email}",
        f"  пароль: {summary.password}",
        f"  к нему привязан лицевой счёт № {summary.accounts[0].number}"
        if summary.accounts
        else "",
        "",
        "Лицевые счета для подключения (номер — фамилия владельца — счётчики: заводской номер, тип):",
    ]
    for account in summary.accounts:
        meters = ", ".join(
            f"{serial} ({ZONE_NAMES[zones]})"
            for serial, zones in zip(account.serials, account.zones, strict=True)
        )
        lines.append(f"  {account.number} — {account.holder_surname} — {meters}")
    lines += ["", "Попробовать бота без Telegram: scripts/run.sh sandbox"]
    return "\n".join(lines)


NO_TOKEN = (
    "BOT_TOKEN не задан. Получите токен у @BotFather в Telegram (команда /newbot) и запишите его "
    "в .env как BOT_TOKEN=…\nБез токена и интернета бота можно попробовать в терминале: "
    "scripts/run.sh sandbox"
)
MIGRATED = "Схема базы данных обновлена до последней версии."

TOKEN_REFUSED = (
    "Telegram не принял BOT_TOKEN (401 Unauthorized): токен отозван или набран с ошибкой. "
    "Возьмите действующий токен у @BotFather (/token) и запишите его в .env как BOT_TOKEN=…"
)


def api_not_found(url: str) -> str:
    return (
        f"По адресу TELEGRAM_API_URL={url} отвечает не сервер Bot API. "
        "Проверьте TELEGRAM_API_URL (обычно https://api.telegram.org) или оставьте его пустым."
    )


def api_unreachable(url: str, reason: str) -> str:
    return (
        f"Не удалось связаться с Telegram по адресу TELEGRAM_API_URL={url}: {reason}, "
        "и так при каждой попытке. Проверьте сеть, прокси и TELEGRAM_API_URL и запустите бота снова."
    )


def db_missing(url: str, name: str) -> str:
    return (
        f"В PostgreSQL нет базы данных «{name}» из DATABASE_URL={url}. "
        f"Создайте её (createdb {name}) или исправьте DATABASE_URL."
    )


def db_refused_login(url: str) -> str:
    return (
        f"PostgreSQL не принял пользователя или пароль из DATABASE_URL={url}. "
        "Исправьте их в DATABASE_URL."
    )


def db_unreachable(url: str, reason: str) -> str:
    return (
        f"Сервер базы данных из DATABASE_URL={url} не отвечает ({reason}). "
        "Проверьте, что он запущен и доступен, и повторите команду."
    )


def sqlite_cannot_open(url: str) -> str:
    return (
        f"Не удалось открыть или создать файл базы SQLite из DATABASE_URL={url}. "
        "Проверьте путь и права на папку."
    )


def sqlite_not_a_database(url: str) -> str:
    return f"Файл из DATABASE_URL={url} — не база SQLite. Укажите другой путь в DATABASE_URL."


def sqlite_locked(url: str) -> str:
    return (
        f"База SQLite из DATABASE_URL={url} занята другим процессом. "
        "Дождитесь его окончания и повторите команду."
    )


def unexpected(error: BaseException) -> str:
    return (
        f"Непредвиденная ошибка: {type(error).__name__}. Повторите команду с LOG_LEVEL=DEBUG, "
        "чтобы увидеть подробности, и сообщите о ней разработчикам."
    )


INTERRUPTED = "Прервано."

REASON_SERVER_ERROR = "сервер отвечает ошибкой 5xx"
REASON_NO_SUCH_HOST = "адрес не найден в DNS"
REASON_REFUSED = "соединение не установлено"
REASON_NO_ANSWER = "нет ответа"


# --- files named on the command line ------------------------------------------------------


def file_missing(path: str) -> str:
    return f"Файл «{path}» не найден. Проверьте путь и имя файла."


def file_is_folder(path: str) -> str:
    return f"«{path}» — это папка, а нужен файл. Укажите путь к файлу."


def file_unreadable(path: str) -> str:
    return f"Нет прав на чтение файла «{path}». Дайте права или скопируйте файл в доступную папку."


def out_folder_missing(path: str, folder: str) -> str:
    return f"Папки «{folder}» для --out {path} нет. Создайте её или укажите другой путь в --out."


def out_is_folder(path: str) -> str:
    return f"--out {path} — это папка. Укажите имя файла, например {path.rstrip('/')}/readings.csv."


def out_not_writable(path: str) -> str:
    return f"Нет прав на запись в «{path}». Укажите в --out папку, куда можно писать."


def web_port_unavailable(host: str, port: int) -> str:
    return (
        f"Не удалось открыть веб-сервер на {host}:{port} (вебхук Telegram, уведомления ЮKassa, "
        "/healthz): порт занят другой программой или адреса нет. Укажите свободные WEB_HOST и "
        "WEB_PORT."
    )
