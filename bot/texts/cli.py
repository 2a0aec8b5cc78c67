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


def web_port_unavailable(host: str, port: int) -> str:
    return (
        f"Не удалось открыть веб-сервер на {host}:{port} (вебхук Telegram, уведомления ЮKassa, "
        "/healthz): порт занят другой программой или адреса нет. Укажите свободные WEB_HOST и "
        "WEB_PORT."
    )
