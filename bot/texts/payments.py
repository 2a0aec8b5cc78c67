"""Texts of the «Оплата» section: the summary, the amount, the invoice and the link, the
confirmation, Telegram's pre-checkout refusals and the payment history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.texts import common, fmt
from models import PaymentChannel, PaymentStatus

SECTION_TITLE = "<b>💳 Оплата</b>"
BTN_PAY_TELEGRAM = "💳 Оплатить в Telegram"
BTN_PAY_LINK = "🔗 Оплатить по ссылке (карта, СБП)"
BTN_CHANGE_AMOUNT = "✏️ Изменить сумму"
BTN_HISTORY = "📜 История платежей"
BTN_OPEN_LINK = "Перейти к оплате"
BTN_CHECK = "🔄 Проверить оплату"
BTN_PAY_BILL = "💳 Оплатить"  # under a bill in «🧾 Счета»

WAITING = {
    "Payment:amount": "сумму платежа в рублях, например 1500,50",
    "Payment:confirm": "выбор способа оплаты кнопкой под суммой",
}

CARD_SAFETY = (
    "Данные карты вводятся в защищённой форме ЮKassa: они не проходят через чат и не видны боту."
)


def account_header(number: str, address: str) -> str:
    return common.current_account_header(fmt.esc(number), fmt.esc(address))


def bill_line(bill_number: str, period: date, due_date: date | None) -> str:
    line = f"Счёт № {fmt.esc(bill_number)} за {fmt.period(period)}"
    return line + (f", оплатить до {fmt.day(due_date)}" if due_date else "")


def balance_state(balance: Decimal) -> str:
    """The account's balance in words: what is owed, nothing, or an overpayment."""
    if balance > 0:
        return f"К оплате: <b>{fmt.money(balance)}</b>"
    if balance < 0:
        return f"Задолженности нет, переплата {fmt.money(-balance)}."
    return "Задолженности нет."


def _due_lines(
    number: str,
    address: str,
    bill_number: str | None,
    period: date | None,
    due_date: date | None,
    amount_due: Decimal,
    balance: Decimal,
) -> list[str]:
    lines = [SECTION_TITLE, account_header(number, address)]
    if bill_number and period:
        lines.append(bill_line(bill_number, period, due_date))
    lines.append(
        f"К оплате: <b>{fmt.money(amount_due)}</b>" if amount_due > 0 else balance_state(balance)
    )
    return lines


def summary(
    number: str,
    address: str,
    bill_number: str | None,
    period: date | None,
    due_date: date | None,
    amount_due: Decimal,
    balance: Decimal,
    amount: Decimal,
    *,
    telegram: bool,
    link: bool,
) -> str:
    lines = _due_lines(number, address, bill_number, period, due_date, amount_due, balance)
    lines += ["", f"Сумма платежа: <b>{fmt.money(amount)}</b>"]
    if 0 < amount < amount_due:
        lines.append(f"Это частичная оплата: останется {fmt.money(amount_due - amount)}.")
    elif amount > amount_due:
        advance = amount - max(amount_due, Decimal(0))
        lines.append(f"Аванс {fmt.money(advance)} будет учтён в следующих счетах.")
    lines += ["", CARD_SAFETY, ""]
    change = f"Другую сумму можно указать кнопкой «{BTN_CHANGE_AMOUNT}»."
    if telegram and link:
        lines.append(
            f"{change} Если всё верно, выберите способ оплаты: в Telegram банковской картой "
            "или по ссылке ЮKassa — картой или через СБП."
        )
    else:
        button = BTN_PAY_TELEGRAM if telegram else BTN_PAY_LINK
        lines.append(f"{change} Если всё верно, нажмите «{button}».")
    return "\n".join(lines)


def ask_amount(amount_due: Decimal, minimum: Decimal, maximum: Decimal) -> str:
    limits = f"от {fmt.money(minimum)} до {fmt.money(maximum)}"
    return (
        "Введите сумму платежа в рублях, копейки — через запятую или точку, например "
        f"<code>1500,50</code>. К оплате — {fmt.money(amount_due)}: можно заплатить меньше "
        f"(частичная оплата) или больше (аванс), {limits}."
    )


def advance_intro(number: str, address: str, balance: Decimal) -> str:
    return "\n".join(
        [
            SECTION_TITLE,
            account_header(number, address),
            balance_state(balance),
            "",
            "Можно внести аванс: он будет учтён в следующих счетах.",
        ]
    )


def ask_advance(minimum: Decimal, maximum: Decimal) -> str:
    return (
        "Введите сумму аванса в рублях, например <code>1500</code> или <code>1500,50</code> "
        f"(от {fmt.money(minimum)} до {fmt.money(maximum)})."
    )


NOT_AN_AMOUNT = (
    "Это не похоже на сумму. Введите число рублей, копейки — через запятую или точку, "
    "например <code>1500,50</code>."
)
TOO_MANY_KOPECKS = (
    "Копеек — не больше двух цифр после запятой. Введите сумму ещё раз, например "
    "<code>1500,50</code>."
)


def too_small(minimum: Decimal) -> str:
    return f"Наименьшая сумма платежа — {fmt.money(minimum)}. Введите сумму не меньше."


def too_large(maximum: Decimal) -> str:
    return (
        f"За один платёж можно оплатить не больше {fmt.money(maximum)}. Введите сумму поменьше: "
        "остаток можно оплатить следующим платежом."
    )


def how_to_pay(
    number: str,
    address: str,
    bill_number: str | None,
    period: date | None,
    due_date: date | None,
    amount_due: Decimal,
    balance: Decimal,
) -> str:
    """Neither Telegram Payments nor YooKassa is configured: how to pay without the bot."""
    lines = _due_lines(number, address, bill_number, period, due_date, amount_due, balance)
    lines += [
        "",
        "Онлайн-оплата в боте пока не подключена. Оплатить можно в приложении любого банка: "
        "отсканируйте QR-код на квитанции — реквизиты и сумма подставятся сами. Квитанцию в "
        "PDF можно получить в разделе «🧾 Счета». Или оплатите по квитанции в отделении банка.",
    ]
    return "\n".join(lines)


# --- the invoice and the link ------------------------------------------------------------------


def invoice_title(number: str) -> str:
    """At most 32 characters (Telegram's limit)."""
    title = f"Л/с {number}: электроэнергия"
    return title if len(title) <= 32 else f"Л/с {number}"[:32]


def payment_description(number: str, bill_number: str | None, period: date | None) -> str:
    """The invoice's description (≤ 255) and YooKassa's payment description (≤ 128)."""
    if bill_number and period:
        return (
            f"Электроэнергия, лицевой счёт № {number}, счёт № {bill_number} "
            f"за {fmt.period(period)}. {common.SUPPLIER}"
        )
    return f"Аванс за электроэнергию, лицевой счёт № {number}. {common.SUPPLIER}"


def price_label(period: date | None) -> str:
    return f"Электроэнергия за {fmt.period(period)}" if period else "Аванс за электроэнергию"


def receipt_line(number: str, period: date | None) -> str:
    """The line of the 54-ФЗ receipt (≤ 128 characters)."""
    if period:
        return f"Электроснабжение за {fmt.period(period)}, л/с {number}"
    return f"Аванс за электроснабжение, л/с {number}"


INVOICE_SENT = (
    "Счёт на оплату — выше: нажмите в нём кнопку оплаты и введите данные карты в форме ЮKassa. "
    "После оплаты я пришлю подтверждение."
)
INVOICE_FAILED = (
    "Не получилось выставить счёт на оплату в Telegram, деньги не списаны. "
    "Попробуйте ещё раз через несколько минут из «💳 Оплата»."
)
INVOICE_AMOUNT_REFUSED = (
    "Telegram не принимает платёж на такую сумму, деньги не списаны. Откройте «💳 Оплата» "
    "заново и измените сумму или выберите оплату по ссылке ЮKassa, если она доступна."
)
LINK_CREATING = "Создаю ссылку на оплату в ЮKassa…"
LINK_FAILED = (
    "ЮKassa сейчас не отвечает, ссылка не создана и деньги не списаны. "
    "Попробуйте ещё раз через несколько минут из «💳 Оплата»."
)


def link_ready(amount: Decimal) -> str:
    return (
        f"Ссылка на оплату <b>{fmt.money(amount)}</b> готова. Откройте её, заплатите банковской "
        "картой или через СБП и вернитесь в бот — подтверждение придёт сюда, обычно в течение "
        "минуты."
    )


def link_pending(amount: Decimal) -> str:
    return (
        f"Оплата {fmt.money(amount)} ещё не подтверждена банком. Если вы уже заплатили, "
        "подтверждение придёт сюда само, обычно в течение нескольких минут. Если ещё нет — "
        "откройте ссылку ниже."
    )


def link_pending_short(amount: Decimal) -> str:
    """A callback answer (≤ 200 characters)."""
    return f"Оплата {fmt.money(amount)} ещё не подтверждена банком. Подтверждение придёт сюда само."


LINK_CANCELED = (
    "Этот платёж отменён, деньги по нему не списаны. Чтобы оплатить, откройте «💳 Оплата» заново."
)
PAYMENT_UNKNOWN = "Такой платёж не найден. Чтобы оплатить, откройте «💳 Оплата»."
CHECK_UNAVAILABLE = (
    "ЮKassa сейчас не отвечает, проверить оплату не получилось. Если вы заплатили, "
    "подтверждение придёт сюда само."
)


# --- confirmation ------------------------------------------------------------------------------


def balance_after(balance: Decimal) -> str:
    if balance > 0:
        return f"Осталось оплатить: <b>{fmt.money(balance)}</b>."
    if balance < 0:
        return f"Задолженности нет, переплата {fmt.money(-balance)} будет учтена в следующем счёте."
    return "Задолженности нет."


def credited(amount: Decimal, number: str, balance: Decimal) -> str:
    return (
        f"✅ Платёж <b>{fmt.money(amount)}</b> зачислен на лицевой счёт № {fmt.esc(number)}.\n"
        f"{balance_after(balance)}"
    )


def already_credited(amount: Decimal) -> str:
    return f"Платёж {fmt.money(amount)} уже зачислен."


UNMATCHED = (
    "Платёж получен, но я не нашёл, к какому лицевому счёту он относится. Деньги не потеряются: "
    "специалисты проверят и зачислят его. Если вопрос срочный, напишите в «✉️ Общение»."
)

NOTIFICATIONS: dict[str, Any] = {
    "payment_succeeded": lambda p: credited(
        Decimal(p["amount"]), str(p["account"]), Decimal(p["balance"])
    ),
}


# --- Telegram's pre-checkout (plain text, shown in the payment form) ---------------------------

CHECKOUT_UNKNOWN = "Этот счёт на оплату устарел. Откройте «💳 Оплата» в боте заново."
CHECKOUT_ALREADY_PAID = "Этот счёт на оплату уже оплачен — повторно платить не нужно."
CHECKOUT_NOT_PAYER = (
    "Этот счёт на оплату выставлен не вам. Откройте «💳 Оплата» в своём чате с ботом."
)
CHECKOUT_AMOUNT = "Сумма не совпадает со счётом на оплату. Откройте «💳 Оплата» в боте заново."
CHECKOUT_FAILED = "Не получилось проверить счёт на оплату. Попробуйте ещё раз через минуту."


def checkout_unlinked(number: str) -> str:
    return f"Лицевой счёт № {number} больше не подключён к вашему кабинету, оплата отменена."


def checkout_due_changed(due: Decimal) -> str:
    if due <= 0:
        return (
            "Пока был открыт этот счёт на оплату, задолженность уже погашена — возможно, "
            "оплатой с другого устройства. Платить не нужно."
        )
    return (
        f"Сумма к оплате изменилась: теперь {fmt.money(due)} — прошла другая оплата или "
        "пришёл новый счёт. Откройте «💳 Оплата» в боте заново."
    )


# --- stale steps -------------------------------------------------------------------------------

DIALOG_EXPIRED = "Этот шаг уже пройден или устарел. Откройте «💳 Оплата» заново."
ALREADY_STARTED = "Счёт на оплату по этой сумме уже создан выше."
ACCOUNT_GONE = "Этот лицевой счёт больше не подключён к вашему кабинету. Откройте «📄 Договоры»."
BILL_GONE = "Этот счёт не найден по текущему лицевому счёту. Откройте «🧾 Счета» заново."
BACK_TO_MENU = "Вернулись в главное меню."


def bill_paid(bill_number: str | None) -> str:
    return f"Счёт № {bill_number} уже оплачен." if bill_number else "Этот счёт уже оплачен."


# --- history -----------------------------------------------------------------------------------

HISTORY_TITLE = "<b>История платежей</b> за последние 12 месяцев"
HISTORY_EMPTY = "За последние 12 месяцев платежей через бот не было."
CHANNELS = {
    PaymentChannel.TELEGRAM: "в Telegram",
    PaymentChannel.YOOKASSA_LINK: "по ссылке ЮKassa",
}
METHODS = {
    "bank_card": "банковская карта",
    "sbp": "СБП",
    "yoo_money": "ЮMoney",
    "sberbank": "SberPay",
    "tinkoff_bank": "T-Pay",
    "mobile_balance": "баланс телефона",
}
STATUSES = {
    PaymentStatus.SUCCEEDED: "✅ зачислен",
    PaymentStatus.PENDING: "⏳ ждёт подтверждения банка",
    PaymentStatus.CANCELED: "✖️ отменён, деньги не списаны",
}


def history_line(
    at: datetime,
    amount: Decimal,
    number: str,
    period: date | None,
    channel: PaymentChannel,
    method: str | None,
    status: PaymentStatus,
) -> str:
    purpose = fmt.period(period) if period else "аванс"
    how = CHANNELS[channel]
    if method:
        how += f" ({fmt.esc(METHODS.get(method, method))})"
    return (
        f"{fmt.day(at)} — <b>{fmt.money(amount)}</b> — л/с № {fmt.esc(number)}, {purpose}\n"
        f"      {how}, {STATUSES[status]}"
    )
