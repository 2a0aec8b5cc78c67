"""Texts of «🧾 Счета»: the list of bills, a bill's detail, the PDF receipt and the operator's
commands `bill`, `tariffs` and `receipts`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.texts import common, fmt
from bot.texts.readings import KWH, zone_code, zone_name
from models import LineBasis
from services.billing import BillLine, BillState, BillStatus, NextBill, RunSummary, Skipped
from services.billing import SkipReason as Reason

if TYPE_CHECKING:
    from services.receipts import ReceiptData, ReceiptText

SECTION_TITLE = "<b>🧾 Счета</b>"
BTN_DETAIL = "{period}: подробнее"
BTN_PDF = "📄 Квитанция (PDF)"
BTN_LIST = "« Все счета"

STATUS = {
    BillStatus.PAID: "✅ оплачен",
    BillStatus.PARTIAL: "🟡 оплачен частично",
    BillStatus.UNPAID: "🔴 не оплачен",
    BillStatus.OVERPAID: "💚 переплата",
}
SCHEME_SHORT = {1: "однотарифный", 2: "двухзонный", 3: "трёхзонный"}


def account_header(number: str, address: str) -> str:
    return common.current_account_header(fmt.esc(number), fmt.esc(address))


def period_title(period: date) -> str:
    """«Ноябрь 2026»."""
    text = fmt.period(period)
    return text[0].upper() + text[1:]


def _to_pay_line(state: BillState, today: date) -> str:
    if state.status == BillStatus.OVERPAID:
        return f"Переплата: {fmt.money(state.overpaid)} — учтём в следующем счёте"
    if state.carried_to is not None:
        return (
            f"Не оплачено {fmt.money(state.to_pay)} — долг перенесён в счёт за "
            f"{fmt.period(state.carried_to)}"
        )
    if state.to_pay > 0 and state.due_date < today:
        return (
            f"К оплате: <b>{fmt.money(state.to_pay)}</b> — срок оплаты истёк "
            f"{fmt.day(state.due_date)}"
        )
    if state.to_pay > 0:
        return f"К оплате: <b>{fmt.money(state.to_pay)}</b> до {fmt.day(state.due_date)}"
    return "К оплате: 0,00 ₽"


def bill_summary(state: BillState, today: date) -> str:
    """One bill in the list: period, начислено, оплачено, к оплате, status."""
    return "\n".join(
        [
            f"<b>{period_title(state.period)}</b> — {STATUS[state.status]}",
            f"Начислено: {fmt.money(state.charged)}",
            f"Итого по счёту: {fmt.money(state.total_due)}, оплачено: {fmt.money(state.paid)}",
            _to_pay_line(state, today),
        ]
    )


def bills_list(number: str, address: str, states: list[BillState], today: date) -> str:
    parts = [
        SECTION_TITLE,
        account_header(number, address),
        f"Счета за последние {fmt.plural(len(states), 'месяц', 'месяца', 'месяцев')}, "
        "новые сверху:",
    ]
    parts += [bill_summary(state, today) for state in states]
    parts.append(
        "Чтобы увидеть расчёт по счётчикам, нажмите «подробнее»; квитанцию с QR-кодом для "
        "оплаты в приложении банка — «📄 Квитанция (PDF)»."
    )
    return "\n\n".join(parts)


def no_bills(number: str, address: str, upcoming: NextBill, window: tuple[int, int]) -> str:
    when = (
        f"Счета выставляются раз в месяц, на следующий день после окончания приёма показаний "
        f"(с {window[0]} по {window[1]} число). Ближайший — {fmt.day(upcoming.on)} за "
        f"{fmt.period(upcoming.period)}."
    )
    why = (
        "По этому лицевому счёту счетов пока нет: он подключён недавно, и его первый расчётный "
        "период ещё не закрыт."
    )
    hint = (
        "Передайте показания в «🔢 Показания» — тогда счёт посчитаем по ним."
        if not upcoming.has_readings
        else "Показания по счётчикам у нас есть, по ним и посчитаем."
    )
    return "\n\n".join([SECTION_TITLE, account_header(number, address), why, when, hint])


# --- a bill's detail ---------------------------------------------------------------------------


def _meter(line: BillLine) -> str:
    serial = fmt.esc(line.serial) if line.serial else "—"
    return f"№ {serial}"


def detail_line(line: BillLine) -> str:
    zone = "" if line.zone_scheme == 1 else f", {zone_name(line.zone_scheme, line.zone)}"
    if line.basis == LineBasis.CORRECTION:
        period = fmt.period(line.corrects_period) if line.corrects_period else "прошлый период"
        return (
            f"• Счётчик {_meter(line)}{zone}: перерасчёт по показанию за {period} — "
            f"{fmt.number(line.previous_value)} → {fmt.number(line.current_value)}, "
            f"{_signed_kwh(line.consumption)} × {fmt.tariff(line.price)} = "
            f"{fmt.money(line.amount)}"
        )
    mark = " (по среднему)" if line.basis == LineBasis.AVERAGE else ""
    return (
        f"• Счётчик {_meter(line)}{zone}{mark}: {fmt.number(line.previous_value)} → "
        f"{fmt.number(line.current_value)}, расход {fmt.number(line.consumption)} {KWH} × "
        f"{fmt.tariff(line.price)} = {fmt.money(line.amount)}"
    )


def _signed_kwh(value: Decimal) -> str:
    return f"{'+' if value > 0 else ''}{fmt.number(value)} {KWH}"


AVERAGE_NOTE = (
    "«По среднему» — показаний за этот месяц не было, поэтому расход начислен по среднему "
    "за последние 6 месяцев; когда вы передадите показания, разницу пересчитаем в следующем "
    "счёте. Передавайте показания с {first} по {last} число в «🔢 Показания»."
)
CORRECTION_NOTE = (
    "Перерасчёт — поправка к прошлым счетам: показание пришло после счёта или было исправлено. "
    "Прошлые счета не меняются, разница учитывается в этом."
)


def bill_detail(
    state: BillState,
    number: str,
    address: str,
    lines: list[BillLine],
    window: tuple[int, int],
    today: date,
) -> str:
    out = [
        f"<b>Счёт № {fmt.esc(state.number)} за {fmt.period(state.period)}</b>",
        account_header(number, address),
        "",
    ]
    out += [detail_line(line) for line in lines] or ["Начислений по счётчикам нет."]
    out += [
        "",
        f"Задолженность на начало периода: {fmt.money(state.opening_balance)}"
        if state.opening_balance >= 0
        else f"Переплата на начало периода: {fmt.money(-state.opening_balance)}",
        f"Оплачено в периоде: {fmt.money(state.paid_in_period)}",
        f"Начислено за {fmt.period(state.period)}: {fmt.money(state.charged)}",
        f"<b>Итого к оплате: {fmt.money(state.total_due)}</b>, срок — до {fmt.day(state.due_date)}",
        "",
        f"Статус: {STATUS[state.status]}. Оплачено по счёту: {fmt.money(state.paid)}.",
        _to_pay_line(state, today),
    ]
    if any(line.basis == LineBasis.AVERAGE for line in lines):
        out += ["", AVERAGE_NOTE.format(first=window[0], last=window[1])]
    if any(line.basis == LineBasis.CORRECTION for line in lines):
        out += ["", CORRECTION_NOTE]
    return "\n".join(out)


BILL_GONE = "Этот счёт не найден по текущему лицевому счёту. Откройте «🧾 Счета» заново."
PDF_WAIT = "Готовлю квитанцию…"
PDF_UNAVAILABLE = (
    "Квитанции в PDF пока недоступны: не указаны реквизиты поставщика для оплаты. "
    "Сумма к оплате — в описании счёта выше."
)


def pdf_caption(period: date, to_pay: Decimal, due: date, today: date) -> str:
    if to_pay > 0:
        when = f"срок оплаты истёк {fmt.day(due)}" if due < today else f"до {fmt.day(due)}"
        return (
            f"Квитанция за {fmt.period(period)}: к оплате {fmt.money(to_pay)}, {when}. "
            "QR-код в квитанции читает приложение любого банка."
        )
    return f"Квитанция за {fmt.period(period)}: по этому счёту оплачивать нечего."


def receipt_filename(account: str, period: date) -> str:
    return f"Квитанция_{account}_{period:%Y-%m}.pdf"


# --- the PDF receipt ---------------------------------------------------------------------------

RECEIPT_HEADER = ("Счётчик", "Зона", "Предыдущее", "Текущее", f"Расход, {KWH}",
                  "Тариф, ₽", "Сумма, ₽")  # fmt: skip


def _plain_money(amount: Decimal) -> str:
    return fmt.money(amount).replace(fmt.NBSP, " ")


def _plain(value: Decimal) -> str:
    return fmt.number(value).replace(fmt.NBSP, " ")


def _receipt_row(line: BillLine) -> tuple[str, ...]:
    serial = line.serial or "—"
    zone = "—" if line.zone_scheme == 1 else zone_name(line.zone_scheme, line.zone)
    if line.basis == LineBasis.AVERAGE:
        zone += " *"
    if line.basis == LineBasis.CORRECTION:
        period = f"{line.corrects_period:%m.%Y}" if line.corrects_period else ""
        fix = f"перерасчёт {period}".strip()
        zone = fix if line.zone_scheme == 1 else f"{zone_code(line.zone)}: {fix}"
    price = fmt.tariff(line.price).split(fmt.NBSP)[0]  # «5,60», «5,6025»
    return (serial, zone, _plain(line.previous_value), _plain(line.current_value),
            _plain(line.consumption), price, _plain(line.amount))  # fmt: skip


def purpose(data: ReceiptData) -> str:
    return f"Оплата электроэнергии за {fmt.period(data.period)}, л/с {data.account_number}"


def receipt_text(data: ReceiptData) -> ReceiptText:
    """Every string of the PDF receipt of one bill."""
    from services.receipts import ReceiptText, qr_payload

    s = data.supplier
    payee = (
        f"Получатель: {s.name}",
        f"ИНН {s.inn}   КПП {s.kpp}   Р/с {s.account}",
        f"Банк получателя: {s.bank}",
        f"БИК {s.bic}   К/с {s.corr_account}",
    )
    payer = (
        f"Лицевой счёт: {data.account_number}   Период: {fmt.period(data.period)}",
        f"Плательщик: {data.payer}",
        f"Адрес: {data.address}",
        f"Назначение: {purpose(data)}",
    )
    totals: list[tuple[str, str, bool]] = [
        (
            "Задолженность на начало периода"
            if data.opening_balance >= 0
            else "Переплата на начало периода",
            _plain_money(abs(data.opening_balance)),
            False,
        ),
        ("Оплачено в периоде", _plain_money(data.paid_in_period), False),
        (f"Начислено за {fmt.period(data.period)}", _plain_money(data.charged), False),
        (
            f"Итого к оплате до {fmt.day(data.due_date)}",
            _plain_money(max(data.total_due, Decimal(0))),
            True,
        ),
    ]
    if data.total_due < 0:
        totals.append(("Переплата (учтём в следующем счёте)", _plain_money(-data.total_due), False))
    if data.paid_since > 0 and data.total_due > 0:
        totals += [
            ("Оплачено после выставления счёта", _plain_money(data.paid_since), False),
            ("Осталось оплатить", _plain_money(data.to_pay), True),
        ]
    notes = []
    if any(line.basis == LineBasis.AVERAGE for line in data.lines):
        notes.append(
            "* Показаний за этот месяц не было: расход начислен по среднему за последние "
            "6 месяцев. Когда вы передадите показания, разница будет пересчитана в следующем счёте."
        )
    if any(line.basis == LineBasis.CORRECTION for line in data.lines):
        notes.append(
            "Перерасчёт — поправка к прошлым счетам: показание пришло после счёта или было "
            "исправлено; прошлые счета не меняются."
        )
    notes.append(
        "Тариф — в рублях за кВт·ч. Показания счётчиков принимаются в Telegram-боте и в личном "
        f"кабинете {common.SUPPLIER}. Оплатить можно по QR-коду в приложении банка."
    )
    return ReceiptText(
        filename=receipt_filename(data.account_number, data.period),
        title=f"Счёт-квитанция № {data.number} за {fmt.period(data.period)}",
        subtitle=f"{s.name} · за электроэнергию · выставлен {fmt.day(data.issued_on)}",
        notice="ИЗВЕЩЕНИЕ",
        receipt="КВИТАНЦИЯ",
        qr_caption="Оплата по QR-коду в приложении банка",
        payee_lines=payee,
        payer_lines=payer,
        sum_line=f"Сумма к оплате: {_plain_money(data.to_pay)}",
        due_line=f"Срок оплаты: до {fmt.day(data.due_date)}",
        signature="Подпись плательщика: ____________________   Дата: ____________",
        table_title="Расчёт по приборам учёта",
        table_header=RECEIPT_HEADER,
        table_rows=tuple(_receipt_row(line) for line in data.lines)
        or (("Начислений по счётчикам нет.",),),
        totals=tuple(totals),
        notes=tuple(notes),
        qr_payload=qr_payload(data, purpose(data)),
        author=s.name,
    )


# --- the operator's commands -------------------------------------------------------------------

BAD_PERIOD = "Период указывается как ГГГГ-ММ, например 2026-11."
BILLING_TITLE = "Расчёт счетов"
RECEIPTS_TITLE = "Квитанции"
NO_SUPPLIER = (
    "Не заданы реквизиты поставщика (SUPPLIER_NAME, SUPPLIER_INN, SUPPLIER_KPP, "
    "SUPPLIER_ACCOUNT, SUPPLIER_BANK, SUPPLIER_BIC, SUPPLIER_CORR_ACCOUNT): без них квитанцию "
    "с QR-кодом не выпустить. Впишите их в .env (пример — в .env.example)."
)


def period_not_closed(period: date, opens_on: date) -> str:
    return (
        f"Счета за {fmt.period(period)} можно выставить с {fmt.day(opens_on)}: до этого "
        "принимаются показания за этот месяц (READING_WINDOW)."
    )


def skip_reason(skipped: Skipped) -> str:
    where = ""
    if skipped.serial is not None:
        where = f"счётчик № {skipped.serial}"
        if skipped.zone is not None and skipped.zone_scheme not in (None, 1):
            where += f", зона {zone_code(skipped.zone)}"
        where += ": "
    reason = {
        Reason.NO_METERS: "нет действующих счётчиков",
        Reason.NO_READINGS: "нет ни одного показания по счётчикам",
        Reason.NO_TARIFF: (
            f"нет тарифа для {SCHEME_SHORT.get(skipped.zone_scheme or 1, '')} счётчика, "
            f"зона {zone_code(skipped.zone or 1)}, на {fmt.period(skipped.period)} — добавьте его: "
            "python -m bot tariffs add"
            if skipped.period
            else "нет тарифа"
        ),
        Reason.NO_AVERAGE: (
            "нет показания за период и слишком мало показаний (меньше двух за полгода), "
            "чтобы начислить по среднему"
        ),
        Reason.READING_BELOW: "показание меньше уже начисленного — проверьте его",
        Reason.LATER_BILL: (
            f"уже есть счёт за более поздний период ({fmt.period(skipped.period)})"
            if skipped.period
            else "уже есть счёт за более поздний период"
        ),
    }[skipped.reason]
    return f"лицевой счёт {skipped.account}: {where}{reason}"


def billing_summary(summary: RunSummary, seconds: float) -> str:
    lines = [
        f"Счета за {fmt.period(summary.period)} выставлены за {fmt.seconds(seconds)}.",
        f"  выставлено счетов: {summary.billed}",
        f"    по показаниям: {summary.by_reading}",
        f"    по среднему (нет показаний хотя бы по одному счётчику): {summary.by_average}",
        f"  не выставлено: {len(summary.skipped)}",
        f"  уже были выставлены раньше: {summary.already_billed}",
        f"  начислено всего: {fmt.money(summary.total_charged).replace(fmt.NBSP, ' ')}",
    ]
    return "\n".join(lines)


def skipped_header(count: int) -> str:
    return f"Не выставлено {fmt.plural(count, 'счёт', 'счёта', 'счетов')}, причины:"


# tariffs
TARIFFS_EMPTY = "Тарифов пока нет. Добавьте: python -m bot tariffs add --zone-scheme 1 --zone 1 --price 5,60 --from 01.01.2027"
TARIFFS_HEADER = "Схема        Зона  С даты      Цена, ₽/кВт·ч  Название"
TARIFF_BAD_PRICE = "Цена указывается в рублях за кВт·ч: больше нуля, не больше 4 знаков после запятой, например 6,43."
TARIFF_BAD_ZONE = "Зона должна быть от 1 до числа зон схемы: у однотарифной — 1, у двухзонной — 1 или 2, у трёхзонной — 1, 2 или 3."
TARIFF_BAD_DATE = "Дата начала указывается как ДД.ММ.ГГГГ, например 01.01.2027."
TARIFF_NOT_FIRST = (
    "Тариф начинает действовать с первого числа месяца: укажите, например, 01.01.2027."
)


def tariff_row(scheme: int, zone: int, start: date, price: Decimal, name: str) -> str:
    return (
        f"{SCHEME_SHORT.get(scheme, str(scheme)):<13}{zone_code(zone)}    {fmt.day(start)}  "
        f"{fmt.number(price, 4):>13}  {name}"
    )


def tariff_default_name(scheme: int, zone: int) -> str:
    zone_part = "" if scheme == 1 else f", {zone_name(scheme, zone)}"
    title = SCHEME_SHORT.get(scheme, str(scheme))
    return f"{title[0].upper()}{title[1:]}{zone_part}"


def tariff_exists(start: date, price: Decimal) -> str:
    return (
        f"С {fmt.day(start)} для этой схемы и зоны уже действует тариф {fmt.number(price, 4)} ₽/кВт·ч. "
        "Тарифы не пересекаются: выберите другую дату начала."
    )


def tariff_after_bills(latest: date) -> str:
    return (
        f"Счета уже выставлены по {fmt.period(latest)} включительно: новый тариф может начать "
        "действовать не раньше следующего месяца, иначе он разойдётся с выставленными счетами."
    )


def tariff_added(scheme: int, zone: int, start: date, price: Decimal) -> str:
    return (
        f"Тариф добавлен: {SCHEME_SHORT.get(scheme, str(scheme))} счётчик, зона {zone_code(zone)}, "
        f"{fmt.number(price, 4)} ₽/кВт·ч с {fmt.day(start)}."
    )


# receipts
def receipts_summary(written: int, kept: int, out: str, seconds: float) -> str:
    return (
        f"Квитанции записаны в {out} за {fmt.seconds(seconds)}: новых или изменённых — {written}, "
        f"без изменений (оставлены как были) — {kept}."
    )


def no_bills_for_period(period: date) -> str:
    return f"Счетов за {fmt.period(period)} нет: сначала выставьте их командой python -m bot bill --period {period:%Y-%m}."
