"""Texts of the «Показания» section: meters, the ReadingEntry dialog, history, chart, export."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.texts import common, fmt
from models import ReadingSource, ReadingStatus

BTN_ENTER = "Передать показания № {serial}"
BTN_HISTORY = "История показаний"
BTN_YES_RIGHT = "Да, всё верно"
BTN_NO_RETYPE = "Нет, ввести заново"
BTN_NO_PHOTO = "Без фото"
BTN_CONFIRM = "Подтвердить"
BTN_EDIT = "Ввести заново"
BTN_CANCEL = "Отмена"
RETYPE_START = "Хорошо, введём показания заново."
BACK_TO_METERS = "Вернулись к списку счётчиков."

KWH = "кВт·ч"

SCHEMES = {1: "однотарифный", 2: "двухзонный (день/ночь)", 3: "трёхзонный (пик/ночь/полупик)"}
# The zones as Russian tariffs name them (Cyrillic «Т»): two-zone Т1 день, Т2 ночь; three-zone
# Т1 пик, Т2 ночь, Т3 полупик. Every zone label of the bot (readings, bills, receipts, the CLI)
# comes from here.
ZONE_WORDS = {
    2: {1: "день", 2: "ночь"},
    3: {1: "пик", 2: "ночь", 3: "полупик"},
}


def zone_code(zone: int) -> str:
    """«Т1»: the zone's short label, with a Cyrillic «Т»."""
    return f"Т{zone}"


def zone_name(scheme: int, zone: int) -> str:
    """«Т1 пик» for a three-zone meter, «Т1 день» for a two-zone one, «Показание» for one zone."""
    if scheme == 1:
        return "Показание"
    word = ZONE_WORDS.get(scheme, {}).get(zone)
    return f"{zone_code(zone)} {word}" if word else zone_code(zone)


def zone_accusative(scheme: int, zone: int) -> str:
    """« по зоне Т1 (пик)» after «Введите показание»; nothing for a single-zone meter."""
    if scheme == 1:
        return ""
    word = ZONE_WORDS.get(scheme, {}).get(zone)
    return f" по зоне {zone_code(zone)}" + (f" ({word})" if word else "")


STATUS = {
    ReadingStatus.ACCEPTED: "принято",
    ReadingStatus.ESTIMATED: "расчётное (начислено по среднему, не ваши показания)",
    ReadingStatus.REJECTED: "отклонено",
}
SOURCE = {
    ReadingSource.SUBSCRIBER: "передано вами",
    ReadingSource.BILLING: "из расчётной системы",
    ReadingSource.ESTIMATED: "расчёт поставщика",
}


def chart_series_name(scheme: int, zone: int) -> str:
    """The legend of a consumption bar: «Расход» for a single-zone meter, else the zone."""
    return "Расход" if scheme == 1 else zone_name(scheme, zone)


def kwh(value: Decimal) -> str:
    return f"{fmt.number(value)} {KWH}"


# --- the meters overview -----------------------------------------------------------------------

SECTION_TITLE = "<b>🔢 Показания</b>"
NO_METERS = (
    "По этому лицевому счёту нет приборов учёта. Если счётчик установлен, напишите нам "
    "в «✉️ Общение» (тема «Приборы учета»)."
)


def account_header(number: str, address: str) -> str:
    """The current account named in the section's messages (the address comes from the registry)."""
    return common.current_account_header(fmt.esc(number), fmt.esc(address))


def window_note(first: int, last: int, position: str, period: date) -> str:
    """Where «today» is relative to READING_WINDOW and which period readings will count for."""
    window = f"Показания принимаются с {first} по {last} число месяца."
    if position == "inside":
        return f"{window} Сейчас они будут учтены за <b>{fmt.period(period)}</b>."
    if position == "before":
        return (
            f"{window} Приём ещё не начался, но показания можно передать уже сейчас: "
            f"они будут учтены за <b>{fmt.period(period)}</b>."
        )
    return (
        f"{window} Приём за этот месяц закончился, поэтому сейчас показания будут учтены "
        f"за <b>{fmt.period(period)}</b>."
    )


def meter_title(serial: str, scheme: int, digits: int) -> str:
    return (
        f"<b>Счётчик № {fmt.esc(serial)}</b> — {SCHEMES.get(scheme, str(scheme))}, "
        f"{fmt.plural(digits, 'знак', 'знака', 'знаков')} до запятой"
    )


def last_reading_line(scheme: int, zone: int, value: Decimal, taken_on: date) -> str:
    return f"   {zone_name(scheme, zone)}: {fmt.number(value)} от {fmt.day(taken_on)}"


def no_reading_line(scheme: int, zone: int) -> str:
    return f"   {zone_name(scheme, zone)}: принятых показаний пока нет"


LAST_ACCEPTED = "   Последние принятые показания:"


def verification_expired(until: date) -> str:
    return (
        f"⚠️ Срок поверки счётчика истёк {fmt.day(until)}. Показания мы примем, но без "
        "поверки расчёт могут перевести на норматив. Что сделать: вызовите аккредитованную "
        "метрологическую службу для поверки или замените счётчик, затем пришлите акт поверки "
        "(или замены) через «✉️ Общение», тема «Приборы учета»."
    )


CHOOSE_METER = "Чтобы передать показания, выберите счётчик кнопкой ниже."


# --- the ReadingEntry dialog -------------------------------------------------------------------


def example(digits: int) -> str:
    """A sample value that fits the meter: «1234,5» for four digits, «12345,6» for more."""
    return f"{'12345'[: min(digits, 5)]},6"


def ask_value(
    serial: str,
    scheme: int,
    zone: int,
    digits: int,
    previous: Decimal | None,
    period: date,
    sent: Decimal | None = None,
) -> str:
    lines = [f"Счётчик № {fmt.esc(serial)}, период — {fmt.period(period)}."]
    if previous is not None:
        lines.append(f"Предыдущее принятое показание: {fmt.number(previous)}.")
    if sent is not None:
        lines.append(
            f"За {fmt.period(period)} уже принято {fmt.number(sent)}: новое показание заменит его, "
            "прежнее останется в истории."
        )
    lines.append(  # the question last
        f"Введите показание{zone_accusative(scheme, zone)}: "
        f"не больше {fmt.plural(digits, 'цифры', 'цифр', 'цифр')} до запятой и двух после, "
        f"например <code>{example(digits)}</code>."
    )
    return "\n".join(lines)


def wrong_count(count: int, expected: int) -> str:
    """Several numbers in one message, but not one per zone left."""
    numbers = fmt.plural(count, "число", "числа", "чисел")
    if expected == 1:
        return f"В сообщении {numbers}, а нужно одно показание. Введите одно число."
    zones = fmt.plural(expected, "зоны", "зон", "зон")
    return (
        f"В сообщении {numbers}, а нужны показания {zones}. Введите их через пробел или точку "
        "с запятой, по порядку зон, — или по одному."
    )


def in_zone(scheme: int, zone: int, typed: str, reason: str) -> str:
    """Which of the numbers typed together is wrong, and why."""
    return f"Число «{fmt.esc(typed)}» для зоны {zone_name(scheme, zone)}. {reason}"


def split_question(scheme: int, values: list[tuple[int, Decimal]]) -> str:
    """Several zones typed in one message, shown back zone by zone before they are taken."""
    lines = ["Вы ввели показания нескольких зон сразу. Я понял их так:"]
    lines += [f"• {zone_name(scheme, zone)}: <b>{fmt.number(value)}</b>" for zone, value in values]
    lines += ["", "Всё верно?"]
    return "\n".join(lines)


def zone_in_question(scheme: int, zone: int) -> str:
    return f"Зона {zone_name(scheme, zone)}."


NOT_A_NUMBER = (
    "Это не похоже на показание. Введите только цифры счётчика, дробную часть — через запятую "
    "или точку, например <code>12345,6</code>."
)
TOO_MANY_DECIMALS = (
    "После запятой можно указать не больше двух цифр. Введите показание ещё раз, "
    "например <code>12345,67</code>."
)


def too_many_digits(digits: int) -> str:
    return (
        f"У этого счётчика {fmt.plural(digits, 'разряд', 'разряда', 'разрядов')} до запятой, "
        "а в числе больше. Проверьте показание и введите его ещё раз: красные цифры после "
        "запятой можно не вводить."
    )


def too_low(previous: Decimal, taken_on: date | None) -> str:
    when = f" от {fmt.day(taken_on)}" if taken_on else ""
    return (
        f"Показание не может быть меньше предыдущего принятого ({fmt.number(previous)}{when}). "
        "Проверьте цифры и введите показание ещё раз."
    )


def rollover(previous: Decimal, value: Decimal, consumption: Decimal, digits: int) -> str:
    top = "9" * digits
    return (
        f"Новое показание {fmt.number(value)} меньше предыдущего ({fmt.number(previous)}). "
        f"Похоже, счётчик дошёл до {top} и начал счёт с нуля. Тогда расход составит "
        f"{kwh(consumption)}. Подтвердите, что это так."
    )


def unusual(consumption: Decimal, average: Decimal) -> str:
    return (
        f"Расход {kwh(consumption)} более чем в три раза превышает ваш обычный: в среднем за "
        f"последние полгода — {kwh(average)} в месяц. Проверьте цифры. Вы уверены?"
    )


ASK_PHOTO = (
    "Если хотите, пришлите фото счётчика, на котором видны показания, — оно сохранится вместе "
    "с показаниями. Или нажмите «Без фото»."
)
PHOTO_EXPECTED = "Пришлите фото счётчика (как фотографию или файл JPEG/PNG) или нажмите «Без фото»."
PHOTO_UNSUPPORTED = (
    "Этот файл не похож на фотографию. Пришлите фото JPEG/PNG или нажмите «Без фото»."
)
PHOTO_SAVED = "Фото счётчика получено."
PHOTO_SAVED_EARLY = (
    "Фото счётчика получено — приложу его к этим показаниям. Цифры с фото я не считываю, "
    "поэтому введите показание числом."
)


def photo_too_big(limit_mb: int) -> str:
    return f"Фото слишком большое: максимум {limit_mb} МБ. Пришлите фото поменьше или нажмите «Без фото»."


def photo_quota_exceeded(files: int, megabytes: int) -> str:
    return (
        f"За сутки можно загрузить не больше {fmt.plural(files, 'файла', 'файлов', 'файлов')} "
        f"и {megabytes} МБ — лимит исчерпан. Показания можно передать и без фото: "
        "нажмите «Без фото»."
    )


def summary(
    serial: str,
    scheme: int,
    period: date,
    lines: list[tuple[int, Decimal, Decimal | None, Decimal | None, bool, Decimal | None]],
    total_cost: Decimal | None,
    has_photo: bool,
) -> str:
    """lines: (zone, value, consumption, price, rollover, cost)."""
    out = [
        f"<b>Проверьте показания</b> счётчика № {fmt.esc(serial)} за {fmt.period(period)}:",
        "",
    ]
    for zone, value, consumption, price, rolled, cost in lines:
        row = f"• {zone_name(scheme, zone)}: <b>{fmt.number(value)}</b>"
        if consumption is not None:
            row += f", расход {kwh(consumption)}"
            if rolled:
                row += " (счётчик прошёл через ноль)"
            if cost is not None and price is not None:
                row += f" × {fmt.tariff(price)} = {fmt.money(cost)}"
        else:
            row += " (предыдущих показаний нет — расход определится при выставлении счёта)"
        out.append(row)
    if total_cost is not None:
        out += [
            "",
            f"Ориентировочно к начислению: <b>{fmt.money(total_cost)}</b> по действующему тарифу.",
        ]
    out.append("Фото счётчика: приложено." if has_photo else "Фото счётчика: без фото.")
    out += ["", "Если всё верно, нажмите «Подтвердить»."]
    return "\n".join(out)


def accepted(reference: str, period: date, replaced: bool) -> str:
    text = f"✅ Показания приняты за {fmt.period(period)}. Номер подтверждения: <b>{reference}</b>."
    if replaced:
        text += "\nОни заменили показания, переданные ранее за этот период; в истории видны оба."
    return text


def period_changed(old: date, new: date) -> str:
    return (
        f"Пока вы вводили показания, приём за {fmt.period(old)} закончился: теперь они будут "
        f"учтены за <b>{fmt.period(new)}</b>. Проверьте и подтвердите ещё раз."
    )


def already_accepted(reference: str) -> str:
    return f"Эти показания уже приняты, номер {reference}."


SUBMISSION_CONFLICT = "В эту же секунду сохранялись другие показания по этому счётчику. Нажмите «Подтвердить» ещё раз."
METER_GONE = "Этот счётчик не найден по текущему лицевому счёту. Откройте «🔢 Показания» заново."
DIALOG_EXPIRED = "Этот шаг уже пройден или устарел. Откройте «🔢 Показания» заново."


# --- what each step waits for (answers to stickers, voice messages… at that step) ----------

WAITING: dict[str, str] = {
    "ReadingEntry:value": "показание счётчика числом, например 12345,6 (фото счётчика тоже можно прислать)",
    "ReadingEntry:confirm_split": f"ответ кнопкой «{BTN_YES_RIGHT}» или «{BTN_NO_RETYPE}»",
    "ReadingEntry:confirm_value": f"ответ кнопкой «{BTN_YES_RIGHT}» или «{BTN_NO_RETYPE}»",
    "ReadingEntry:photo": f"фото счётчика или нажатия «{BTN_NO_PHOTO}»",
    "ReadingEntry:confirm": f"нажатия «{BTN_CONFIRM}» под показаниями",
}


# --- history -----------------------------------------------------------------------------------

HISTORY_TITLE = "<b>История показаний</b> за последние 12 месяцев"
HISTORY_EMPTY = "По этому счётчику пока нет показаний за последние 12 месяцев."
HISTORY_NO_METERS = "По этому лицевому счёту нет приборов учёта, поэтому и истории показаний нет."
CHART_Y = KWH
CHART_ESTIMATED = "расчётное"
CHART_GAP = "нет показаний"
HISTORY_WAIT = "Готовлю историю и график…"


def history_meter_title(serial: str, scheme: int) -> str:
    return f"<b>Счётчик № {fmt.esc(serial)}</b> ({SCHEMES.get(scheme, str(scheme))})"


def history_line(
    scheme: int,
    period: date,
    zone: int,
    value: Decimal,
    consumption: Decimal | None,
    status: ReadingStatus,
    source: ReadingSource,
    reason: str | None,
    replaced: bool,
    reference: str | None = None,
) -> str:
    parts = [f"{period:%m.%Y} {zone_name(scheme, zone)}: {fmt.number(value)}"]
    if consumption is not None:
        parts.append(f"расход {kwh(consumption)}")
    state = STATUS[status]
    if status == ReadingStatus.REJECTED and reason:
        state += f": {fmt.esc(reason)}"
    if status == ReadingStatus.ACCEPTED:
        state += f", {SOURCE[source]}"
    if reference and status != ReadingStatus.ESTIMATED:
        state += f", № {fmt.esc(reference)}"
    parts.append(state)
    line = " — ".join(parts)
    return f"<s>{line}</s> (заменено)" if replaced else line


def chart_title(serial: str) -> str:
    return f"Счётчик № {serial}: расход по месяцам"


def chart_month(period: date) -> str:
    return f"{fmt.MONTHS_NOMINATIVE[period.month - 1][:3]} {period:%y}"


CHART_CAPTION = (
    "График расхода по месяцам, кВт·ч. Расчётные месяцы заштрихованы, месяцы без показаний "
    "отмечены серым; если столбик стоит после пропуска, над ним написано, за сколько месяцев "
    "этот расход."
)


def chart_span(months: int) -> str:
    """Over a bar after a gap: the consumption since the previous reading, «за 2 месяца»."""
    return f"за {fmt.plural(months, 'месяц', 'месяца', 'месяцев')}"


# --- export (command line) ---------------------------------------------------------------------

EXPORT_BAD_PERIOD = "Период указывается как ГГГГ-ММ, например 2026-11."


def export_done(count: int, period: date, out: str) -> str:
    rows = fmt.plural(count, "строка", "строки", "строк")
    return f"Выгружено показаний за {fmt.period(period)}: {rows} → {out}"
