"""Texts of pushed notifications, by outbox `kind`.

Each feature's texts module may define `NOTIFICATIONS: dict[str, Renderer]`; they are
collected here so the outbox job renders any kind without knowing the features.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import bot.texts
from bot.texts import fmt

Renderer = Callable[[dict[str, Any]], str]


@cache
def renderers() -> dict[str, Renderer]:
    found: dict[str, Renderer] = {}
    for info in pkgutil.iter_modules(bot.texts.__path__):
        module = importlib.import_module(f"bot.texts.{info.name}")
        found.update(getattr(module, "NOTIFICATIONS", {}))
    return found


def render(kind: str, payload: dict[str, Any]) -> str:
    """Raises KeyError for an unknown kind (a programming error, logged by the outbox job)."""
    return renderers()[kind](payload)


# --- pushed reminders, bills and notices --------------------------------------------------------

BTN_SEND_READINGS = "🔢 Передать показания"
BTN_REMIND_TOMORROW = "⏰ Напомнить завтра"
BTN_PAY = "💳 Оплатить"


def _date(value: Any) -> date:
    return date.fromisoformat(str(value))


def reading_reminder(payload: dict[str, Any]) -> str:
    period = _date(payload["period"])
    last_day = date(period.year, period.month, int(payload["last_day"]))
    head = (
        "⏰ Сегодня последний день приёма показаний"
        if payload.get("final")
        else "⏰ Пора передать показания счётчиков"
    )
    return (
        f"{head} по лицевому счёту № {fmt.esc(payload['number'])} "
        f"({fmt.esc(payload['address'])}).\n"
        f"Показания за {fmt.period(period)} принимаются до {fmt.day(last_day)} включительно; "
        "без них начисление будет по среднему.\n\n"
        "Передадите сейчас?"
    )


def bill_ready(payload: dict[str, Any]) -> str:
    """A caption under the PDF receipt: at most 1024 characters."""
    amount = Decimal(str(payload["amount"]))
    lines = [
        f"🧾 Счёт № {fmt.esc(payload['bill_number'])} за {fmt.period(_date(payload['period']))} "
        f"по лицевому счёту № {fmt.esc(payload['number'])} выставлен.",
    ]
    if amount > 0:
        lines.append(
            f"К оплате: <b>{fmt.money(amount)}</b> до {fmt.day(_date(payload['due_date']))}."
        )
    elif amount < 0:
        lines.append(f"Переплата: {fmt.money(-amount)} — платить не нужно.")
    else:
        lines.append("К оплате: 0 ₽ — платить не нужно.")
    lines.append("Квитанция с QR-кодом для оплаты в приложении банка — в файле.")
    return "\n".join(lines)


def meter_verification(payload: dict[str, Any]) -> str:
    until = _date(payload["verified_until"])
    serial, number = fmt.esc(payload["serial"]), fmt.esc(payload["number"])
    head = (
        f"⚠️ Срок поверки счётчика № {serial} (лицевой счёт № {number}) истёк {fmt.day(until)}."
        if payload.get("expired")
        else f"⚠️ Срок поверки счётчика № {serial} (лицевой счёт № {number}) истекает "
        f"{fmt.day(until)}."
    )
    return (
        f"{head}\n"
        "Что сделать: закажите поверку в аккредитованной организации или замените счётчик, "
        "затем передайте нам свидетельство о поверке или акт замены через «✉️ Общение». "
        "После окончания срока показания счётчика не принимаются и начисление идёт по среднему."
    )


def announcement(payload: dict[str, Any]) -> str:
    return f"📢 {fmt.esc(payload['text'])}"


NOTIFICATIONS: dict[str, Renderer] = {
    "reading_reminder": reading_reminder,
    "bill_ready": bill_ready,
    "meter_verification": meter_verification,
    "announcement": announcement,
}


# The same in SMS: plain text, short (one or two SMS segments).
def _sms_reminder(payload: dict[str, Any]) -> str:
    period = _date(payload["period"])
    return (
        f"Металлэнергофинанс: передайте показания по л/с {payload['number']} "
        f"до {int(payload['last_day'])}.{period.month:02d} в боте или личном кабинете."
    )


def _sms_bill(payload: dict[str, Any]) -> str:
    return (
        f"Металлэнергофинанс: счёт за {fmt.period(_date(payload['period']))} по л/с "
        f"{payload['number']}, к оплате {fmt.money(Decimal(str(payload['amount'])))} "
        f"до {fmt.day(_date(payload['due_date']))}."
    ).replace(fmt.NBSP, " ")


SMS: dict[str, Renderer] = {"reading_reminder": _sms_reminder, "bill_ready": _sms_bill}


def sms(kind: str, payload: dict[str, Any]) -> str:
    """Raises KeyError for a kind that has no SMS form."""
    return SMS[kind](payload)


# --- answers to the buttons under the pushes ----------------------------------------------------


def snoozed(day: date) -> str:
    return f"Хорошо, напомню завтра, {fmt.day(day)}."


SNOOZE_LAST_DAY = "Завтра приём показаний уже закончится — лучше передать их сегодня."
READINGS_ALREADY_IN = "Показания по этому лицевому счёту уже переданы — спасибо!"
# A second press of «Передать показания» under the same reminder, moments after the first.
READINGS_ALREADY_OPENED = "Список счётчиков уже открыт — он в сообщении ниже."
ACCOUNT_GONE = "Этот лицевой счёт больше не подключён к вашему кабинету."
LOGIN_FIRST = "Войдите в личный кабинет, чтобы продолжить: /login"


# --- the operator's commands (broadcast, notify) -----------------------------------------------


def broadcast_not_utf8(path: str) -> str:
    return f"Файл {path} не в кодировке UTF-8: сохраните его как UTF-8 и повторите."


def broadcast_empty(path: str) -> str:
    return f"В файле {path} нет текста объявления."


def broadcast_too_long(path: str, length: int, limit: int) -> str:
    return (
        f"Объявление в файле {path} длиннее, чем помещается в одно сообщение Telegram: "
        f"{length} символов, можно не больше {limit}. Сократите текст."
    )


def _subscribers(n: int) -> str:
    return fmt.plural(n, "абонент", "абонента", "абонентов")


def broadcast_dry_run(chats: int, fragment: str | None) -> str:
    where = f" с адресом, содержащим «{fragment}»" if fragment else ""
    return f"Объявление получат {_subscribers(chats)}{where} (ничего не отправлено: --dry-run)."


def broadcast_queued(queued: int, chats: int, rate: int) -> str:
    if queued == 0 and chats:
        return f"Это объявление уже в очереди для всех {_subscribers(chats)} — повторно не ставлю."
    if queued == 0:
        return "Нет ни одного вошедшего абонента, которому можно отправить объявление."
    minutes = max(1, round(queued / rate / 60))
    return (
        f"Объявление поставлено в очередь: {fmt.plural(queued, 'сообщение', 'сообщения', 'сообщений')}. "
        f"Бот отправит их за ≈ {minutes} мин (не быстрее {rate} в секунду)."
    )


KIND_TITLES = {
    "reading_reminder": "напоминание о показаниях",
    "meter_verification": "срок поверки",
    "bill_ready": "счёт",
}


def notify_plan(planned: list[Any], now: datetime) -> str:
    """`notify --dry-run`: one line per push that would go now."""
    if not planned:
        return f"Сейчас ({now:%d.%m.%Y %H:%M}) отправлять нечего."
    lines = [f"Сейчас ({now:%d.%m.%Y %H:%M}) ушло бы {len(planned)}:"]
    for push in planned:
        channels = (
            [fmt.plural(push.telegram_chats, "чат", "чата", "чатов")] if push.telegram_chats else []
        )
        if push.sms:
            channels.append("SMS")
        lines.append(
            f"  {KIND_TITLES.get(push.kind, push.kind)} — л/с {push.account_number}, "
            f"учётная запись #{push.login_id}: {', '.join(channels)}"
        )
    return "\n".join(lines)


def notify_queued(reminders: int, verification: int, bills: int) -> str:
    return (
        f"Поставлено в очередь: напоминаний о показаниях — {reminders}, о поверке — "
        f"{verification}, счетов — {bills}."
    )
