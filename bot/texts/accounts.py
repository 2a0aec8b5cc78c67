"""Texts of «📄 Договоры»: linked accounts, the linking dialog, and the registry import (CLI)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from bot.texts.fmt import day, esc, money, numbered, plural
from bot.texts.fmt import seconds as seconds_text
from models import SubscriberType
from services.accounts import AccountCard
from services.registry import ImportSummary, Problem, RowError

SECTION_TITLE = "<b>📄 Договоры</b>"
NO_ACCOUNTS = (
    "К вашей учётной записи пока не подключён ни один лицевой счёт.\n"
    "Нажмите «Подключить бытового абонента» — понадобятся номер лицевого счёта, фамилия "
    "владельца и заводской номер одного из счётчиков."
)
ACCOUNTS_TITLE = "Ваши лицевые счета (✅ — текущий, с ним работают все разделы):"
BTN_LINK = "➕ Подключить бытового абонента"
BTN_APPLY = "📝 Заявка на договор"
BTN_MY_APPLICATIONS = "📋 Мои заявки"
BTN_MAKE_CURRENT = "Сделать текущим"
BTN_UNLINK = "Отвязать"
BTN_UNLINK_YES = "Да, отвязать"
BTN_UNLINK_NO = "Нет, оставить"
BTN_TO_LIST = "« К списку счетов"
BACK_TO_ACCOUNTS = "Вернулись к списку лицевых счетов."
CURRENT_MARK = "✅"

SUBSCRIBER_TYPE_NAMES = {SubscriberType.INDIVIDUAL: "Физ.лицо"}


def account_button(card: AccountCard) -> str:
    return f"{CURRENT_MARK + ' ' if card.is_current else ''}№ {card.number}"


def balance_line(balance: Decimal) -> str:
    if balance > 0:
        return f"Задолженность: <b>{money(balance)}</b>"
    if balance < 0:
        return f"Переплата: {money(-balance)}"
    return "Задолженности нет"


def account_details(card: AccountCard) -> str:
    head = f"<b>№ {esc(card.number)}</b>" + (" — текущий ✅" if card.is_current else "")
    return (
        f"{head}\nАдрес: {esc(card.address)}\nВладелец: {esc(card.holder)}\n"
        f"{balance_line(card.balance)}"
    )


def accounts_list(cards: list[AccountCard]) -> str:
    if not cards:
        return f"{SECTION_TITLE}\n\n{NO_ACCOUNTS}"
    body = "\n\n".join(account_details(card) for card in cards)
    return f"{SECTION_TITLE}\n\n{ACCOUNTS_TITLE}\n\n{body}"


def made_current(card: AccountCard) -> str:
    return (
        f"Текущий лицевой счёт — <b>№ {esc(card.number)}</b>, {esc(card.address)}.\n"
        "Счета, показания и оплата теперь открываются по нему."
    )


def unlink_question(card: AccountCard) -> str:
    return (
        f"Отвязать лицевой счёт <b>№ {esc(card.number)}</b> ({esc(card.address)}) от вашей "
        "учётной записи?\nСам счёт и его история останутся у поставщика; подключить его снова "
        "можно в любой момент."
    )


def unlinked(number: str, new_current: AccountCard | None, *, was_current: bool = True) -> str:
    """After unlinking: a new current account is named only when the unlinked one was current."""
    text = f"Лицевой счёт № {esc(number)} отвязан."
    if new_current is None:
        text += (
            "\nДругих подключённых счетов нет: подключите лицевой счёт, чтобы снова видеть счета "
            "и показания."
        )
    elif was_current:
        text += f"\nТекущим теперь стал лицевой счёт № {esc(new_current.number)}."
    return text


ACCOUNT_GONE = (
    "Этот лицевой счёт уже не подключён к вашей учётной записи. Откройте «📄 Договоры» заново."
)

# --- the LinkAccount dialog ---------------------------------------------------------------

LINK_STEPS = 3
LINK_TITLE = (
    "<b>Подключение лицевого счёта</b>\n"
    "Тип абонента — <b>Физ.лицо</b> (бытовой абонент): в личном кабинете подключаются лицевые "
    "счета физических лиц."
)
LINK_NUMBER = numbered(
    1,
    LINK_STEPS,
    "Введите <b>номер лицевого счёта</b> — он напечатан в квитанции (только цифры, например "
    "7412345678).",
)
LINK_NUMBER_BAD = (
    "Номер лицевого счёта — это от 4 до 20 цифр, без букв. Проверьте квитанцию и введите ещё раз."
)
LINK_SURNAME = numbered(
    2, LINK_STEPS, "Введите <b>фамилию владельца</b> лицевого счёта, как в квитанции."
)
LINK_SURNAME_BAD = "Фамилия — от 2 до 100 букв. Введите фамилию владельца ещё раз."
LINK_METER = numbered(
    3,
    LINK_STEPS,
    "Заводской номер указан на корпусе счётчика и в квитанции, в строке «Прибор учёта № …»: "
    "по нему мы убеждаемся, что счёт подключает его владелец.\n"
    "Введите <b>заводской номер</b> любого из счётчиков этого лицевого счёта.",
)
LINK_METER_BAD = "Заводской номер — от 1 до 40 символов без пробелов. Введите его ещё раз."
BTN_LINK_CONFIRM = "✅ Подключить"


def link_summary(subscriber_type: SubscriberType, number: str, surname: str, meter: str) -> str:
    return (
        "<b>Проверьте данные</b>\n\n"
        f"Тип абонента: {SUBSCRIBER_TYPE_NAMES[subscriber_type]}\n"
        f"Лицевой счёт: {esc(number)}\n"
        f"Фамилия владельца: {esc(surname)}\n"
        f"Заводской номер счётчика: {esc(meter)}\n\n"
        f"Если всё верно, нажмите «{BTN_LINK_CONFIRM}»."
    )


def linked(card: AccountCard) -> str:
    tail = (
        "\n\nЭто ваш текущий лицевой счёт: разделы «Счета», «Показания» и «Оплата» работают с ним."
        if card.is_current
        else ""
    )
    return f"Лицевой счёт подключён.\n\n{account_details(card)}{tail}"


def offer_current(card: AccountCard) -> str:
    """After linking a second account: the sections still show the current one; switch?"""
    return (
        "Разделы «Счета», «Показания» и «Оплата» пока работают с прежним текущим счётом.\n"
        f"Сделать текущим лицевой счёт № {esc(card.number)}?"
    )


WAITING: dict[str, str] = {
    "LinkAccount:number": "номер лицевого счёта цифрами, например 7412345678",
    "LinkAccount:surname": "фамилию владельца лицевого счёта текстом",
    "LinkAccount:meter": "заводской номер счётчика текстом",
    "LinkAccount:confirm": f"нажатия «{BTN_LINK_CONFIRM}» под данными",
}


def link_mismatch(attempts_left: int) -> str:
    return (
        "Не удалось подключить лицевой счёт: введённые данные не совпадают с данными поставщика.\n"
        "Проверьте по квитанции номер лицевого счёта, фамилию владельца и заводской номер "
        f"счётчика. Осталось {plural(attempts_left, 'попытка', 'попытки', 'попыток')} на сегодня.\n\n"
        "Введите номер лицевого счёта ещё раз."
    )


def link_locked(until: datetime) -> str:
    return (
        "Подключение лицевого счёта временно недоступно: сегодня было слишком много неудачных "
        f"попыток. Попробуйте снова с {until:%H:%M} {day(until)}. Если не получается — "
        "напишите нам в разделе «✉️ Общение»."
    )


def already_linked(number: str) -> str:
    return f"Лицевой счёт № {esc(number)} уже подключён к вашей учётной записи."


# --- registry import (python -m bot import-registry) ------------------------------------

REGISTRY_NO_FILE = "Файл не найден: {path}"
REGISTRY_PARSING = "Проверка файла"
REGISTRY_IMPORTING = "Загрузка в базу"

_PROBLEMS = {
    Problem.EMPTY_FILE: "файл пустой",
    Problem.BAD_HEADER: "неверный заголовок; ожидается {expected}",
    Problem.BAD_ENCODING: "строка не в кодировке UTF-8",
    Problem.BAD_CSV: "строка не разбирается: лишняя кавычка или перевод строки внутри поля",
    Problem.FIELD_COUNT: "ожидается 13 полей через «;», найдено {value}",
    Problem.REQUIRED: "не заполнено поле {column}",
    Problem.TOO_LONG: "слишком длинное значение в поле {column}",
    Problem.BAD_ACCOUNT: "номер лицевого счёта «{value}»: нужны 4–20 цифр",
    Problem.BAD_METER: "заводской номер «{value}»: допустимы буквы, цифры, «-», «/», «.»",
    Problem.BAD_ZONES: "zones «{value}»: допустимо 1, 2 или 3",
    Problem.BAD_DIGITS: "digits «{value}»: разрядность от 4 до 9",
    Problem.BAD_DATE: "поле {column}: «{value}» — не дата ДД.ММ.ГГГГ",
    Problem.BAD_NUMBER: "поле {column}: «{value}» — не число",
    Problem.VALUE_TOO_BIG: "поле {column}: «{value}» не помещается в счётчик (разрядность, 2 знака после запятой)",
    Problem.UNUSED_ZONE: "поле {column} должно быть пустым: у счётчика меньше зон",
    Problem.NO_READING_DATE: "есть показания, но не заполнено поле reading_date",
    Problem.DUPLICATE_METER: "счётчик {value} этого лицевого счёта уже был в строке {other_line}",
    Problem.ACCOUNT_MISMATCH: "данные лицевого счёта {value} (ФИО, адрес) расходятся со строкой {other_line}",
}


def registry_problem(error: RowError, expected_header: str) -> str:
    reason = _PROBLEMS[error.problem].format(
        column=error.column or "",
        value=error.value or "",
        other_line=error.other_line or "",
        expected=expected_header,
    )
    return f"строка {error.line}: {reason}"


def _line_ranges(lines: list[int]) -> str:
    """[5, 6, 7, 9] → «5–7, 9»: consecutive bad lines (a whole broken block) read as one range."""
    parts: list[str] = []
    start = previous = lines[0]
    for line in [*lines[1:], None]:
        if line is not None and line == previous + 1:
            previous = line
            continue
        parts.append(str(start) if start == previous else f"{start}–{previous}")
        if line is not None:
            start = previous = line
    return ", ".join(parts)


def registry_more_errors(lines: list[int]) -> str:
    """After the errors printed in full: the line numbers of all the others."""
    return f"…и ещё {plural(len(lines), 'ошибочная строка', 'ошибочные строки', 'ошибочных строк')}: {_line_ranges(lines)}"


def registry_rejected(count: int) -> str:
    return (
        f"Реестр не загружен: {plural(count, 'ошибка', 'ошибки', 'ошибок')}. "
        "В базе ничего не изменено; исправьте файл и запустите загрузку снова."
    )


def registry_summary(summary: ImportSummary, seconds: float) -> str:
    def line(title: str, created: int, updated: int, unchanged: int) -> str:
        return f"  {title}: создано {created}, обновлено {updated}, без изменений {unchanged}"

    a, m, r = summary.accounts, summary.meters, summary.readings
    return "\n".join(
        [
            f"Реестр загружен: {plural(summary.rows, 'строка', 'строки', 'строк')} за {seconds_text(seconds)}.",
            line("лицевые счета", a.created, a.updated, a.unchanged),
            line("счётчики", m.created, m.updated, m.unchanged),
            line("показания", r.created, r.updated, r.unchanged),
        ]
    )


def registry_date(value: date) -> str:
    return day(value)
