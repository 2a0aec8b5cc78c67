"""Texts of «✉️ Общение»: the AppealTopic dialog, «Мои обращения» and the staff chat's side."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from bot.texts.fmt import esc, plural
from models import AppealStatus, AppealTopic, MessageDirection
from services.appeals import MAX_ATTACHMENTS, MAX_TEXT, REOPEN_DAYS, AppealView, MessageView

TOPIC_NAMES: dict[AppealTopic, str] = {
    AppealTopic.ACCOUNT_CHANGES: "Внесение изменений в лицевой счет",
    AppealTopic.OTHER: "Другие тематики",
    AppealTopic.SERVICE_QUALITY: "Качество услуги",
    AppealTopic.APPEAL: "Обращение",
    AppealTopic.GENERAL: "Общие вопросы",
    AppealTopic.PAID_SERVICES: "Платные услуги",
    AppealTopic.SUGGESTIONS: "Предложения",
    AppealTopic.METERS: "Приборы учета",
    AppealTopic.ANTI_CORRUPTION: "Противодействие коррупции",
    AppealTopic.BILLING_DEBT: "Расчеты и задолженность",
}
STATUS_NAMES: dict[AppealStatus, str] = {
    AppealStatus.OPEN: "Новое",
    AppealStatus.IN_PROGRESS: "В работе",
    AppealStatus.ANSWERED: "Ответ дан",
    AppealStatus.CLOSED: "Закрыто",
}

BTN_NEW = "📝 Новое обращение"
BTN_LIST = "📋 Мои обращения"
BTN_WRITE_TO_US = "✉️ Написать специалистам"
BTN_DONE = "Готово"
BTN_NO_FILES = "Без вложений"
BTN_SEND = "📨 Отправить"
BTN_PREV = "‹ Назад"
BTN_NEXT = "Далее ›"
BTN_TAKE = "Взять в работу"
BTN_CLOSE = "Закрыть"


def btn_write(number: str) -> str:
    return f"✍️ Дополнить № {number}"


def btn_reopen(number: str) -> str:
    return f"🔄 Возобновить № {number}"


def _number_long(value: int) -> str:
    return f"{value:,}".replace(",", " ")


# --- the section and the new appeal -----------------------------------------------------------

SECTION = (
    "<b>✉️ Общение</b>\n\n"
    "Здесь можно написать специалистам Металлэнергофинанс и прочитать их ответы.\n\n"
    "Что вы хотите сделать?"
)
CHOOSE_TOPIC = "Новое обращение. Выберите тему:"


def topic_chosen(topic: AppealTopic) -> str:
    return f"{CHOOSE_TOPIC}\n\n✔️ {TOPIC_NAMES[topic]}"


def ask_text(topic: AppealTopic) -> str:
    return (
        f"Тема: «{TOPIC_NAMES[topic]}».\n\n"
        f"Напишите текст обращения одним сообщением — до {_number_long(MAX_TEXT)} символов."
    )


def text_too_long(length: int) -> str:
    return (
        f"Текст слишком длинный: {_number_long(length)} символов, можно до "
        f"{_number_long(MAX_TEXT)}. Сократите его и отправьте ещё раз."
    )


TEXT_EMPTY = "Обращению нужен текст. Напишите его одним сообщением."


def ask_attachments(limit_mb: int) -> str:
    return (
        f"Если нужно, приложите до {MAX_ATTACHMENTS} файлов — фото или PDF, каждый до "
        f"{limit_mb} МБ.\n\n"
        f"Пришлите файлы или нажмите «{BTN_NO_FILES}»."
    )


def attachment_received(count: int) -> str:
    if count >= MAX_ATTACHMENTS:
        return f"Файл принят ({count} из {MAX_ATTACHMENTS}). Больше приложить нельзя — нажмите «{BTN_DONE}»."
    return f"Файл принят ({count} из {MAX_ATTACHMENTS}). Пришлите ещё или нажмите «{BTN_DONE}»."


TOO_MANY_ATTACHMENTS = (
    f"Можно приложить не больше {MAX_ATTACHMENTS} файлов. Нажмите «{BTN_DONE}», чтобы продолжить."
)
UNSUPPORTED_FILE = (
    "Этот файл не подходит: я принимаю фото (JPEG, PNG, HEIC) и PDF — по содержимому файла, "
    "а не по имени. Пришлите другой файл."
)


def file_too_big(limit_mb: int) -> str:
    return f"Файл слишком большой: можно до {limit_mb} МБ. Сожмите его или пришлите фото."


ATTACHMENT_EXPECTED = f"фото или PDF для вложения, «{BTN_DONE}» или «{BTN_NO_FILES}»"


def _attachment_lines(names: Sequence[str]) -> str:
    if not names:
        return "Вложения: нет"
    listed = "\n".join(f"{n}. {esc(name)}" for n, name in enumerate(names, start=1))
    return f"Вложения:\n{listed}"


def summary(topic: AppealTopic, text: str, names: Sequence[str], account: str | None) -> str:
    lines = ["<b>Проверьте обращение</b>", "", f"Тема: {TOPIC_NAMES[topic]}"]
    if account:
        lines.append(f"Лицевой счёт: № {esc(account)}")
    lines += [
        f"Текст:\n<blockquote>{esc(text)}</blockquote>",
        _attachment_lines(names),
        "",
        f"Всё верно? Нажмите «{BTN_SEND}».",
    ]
    return "\n".join(lines)


def submitted(appeal: AppealView) -> str:
    return (
        f"Обращение <b>№ {appeal.number}</b> отправлено специалистам. Ответ придёт сюда, в чат; "
        f"переписка по обращению — в «{BTN_LIST}»."
    )


# --- «Мои обращения» and follow-ups -----------------------------------------------------------

MY_TITLE = "<b>📋 Мои обращения</b>"
NO_APPEALS = f"{MY_TITLE}\n\nОбращений пока нет. Чтобы написать специалистам, нажмите «{BTN_NEW}»."
BODY_PREVIEW = 600


def _when(value: datetime, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%d.%m.%Y %H:%M")


def _preview(text: str, limit: int = BODY_PREVIEW) -> str:
    return esc(text if len(text) <= limit else text[: limit - 1].rstrip() + "…")


def _message_line(message: MessageView, zone: tzinfo) -> str:
    if message.direction is MessageDirection.FROM_SUBSCRIBER:
        head = f"➡️ {_when(message.created_at, zone)}, вы:"
    else:
        head = f"⬅️ {_when(message.created_at, zone)}, специалист {esc(message.author_name or '')}:"
    files = ""
    if message.attachments:
        files = "\n📎 " + ", ".join(esc(a.filename) for a in message.attachments)
    return f"{head}\n{_preview(message.body)}{files}"


BLOCK_LIMIT = 3400  # one appeal never fills a message alone (the page header fits too)


def appeal_block(appeal: AppealView, now: datetime, zone: tzinfo) -> str:
    """One appeal of «Мои обращения»: number, topic, status and dates, then its messages —
    the newest ones when all of them would not fit in one Telegram message."""
    status = STATUS_NAMES[appeal.status]
    if appeal.status is AppealStatus.CLOSED and appeal.closed_at is not None:
        status += f" {_when(appeal.closed_at, zone)}"
    head = [
        f"<b>№ {appeal.number}</b> · {TOPIC_NAMES[appeal.topic]}",
        f"Статус: {status} · создано {_when(appeal.created_at, zone)}",
    ]
    tail = []
    if appeal.status is AppealStatus.CLOSED:
        closed = appeal.closed_at
        if closed is not None and (now - closed).days < REOPEN_DAYS:
            tail.append(f"Возобновить можно в течение {REOPEN_DAYS} дней после закрытия.")
        else:
            tail.append(f"Возобновить уже нельзя — создайте новое обращение («{BTN_NEW}»).")
    budget = BLOCK_LIMIT - sum(len(line) + 1 for line in head + tail) - 60
    shown: list[str] = []
    for message in reversed(appeal.messages):
        line = _message_line(message, zone)
        if len(line) + 1 > budget:
            break
        shown.insert(0, line)
        budget -= len(line) + 1
    hidden = len(appeal.messages) - len(shown)
    if hidden:
        shown.insert(0, f"… ранние сообщения ({hidden}) не поместились, показаны последние")
    return "\n".join(head + shown + tail)


def my_appeals_page(blocks: Sequence[str], page: int, pages: int) -> str:
    header = MY_TITLE if pages == 1 else f"{MY_TITLE} — страница {page + 1} из {pages}"
    return "\n\n".join([header, *blocks])


def ask_follow_up(number: str, reopen: bool) -> str:
    action = "Возобновляем обращение" if reopen else "Дополнение к обращению"
    return (
        f"{action} <b>№ {number}</b>.\n\n"
        f"Напишите сообщение специалистам — до {_number_long(MAX_TEXT)} символов."
    )


def follow_up_sent(number: str, reopened: bool) -> str:
    if reopened:
        return f"Обращение № {number} возобновлено, сообщение отправлено специалистам."
    return f"Сообщение к обращению № {number} отправлено специалистам."


def closed_long_ago(number: str) -> str:
    return (
        f"Обращение № {number} закрыто больше {REOPEN_DAYS} дней назад, возобновить его нельзя. "
        f"Создайте новое обращение: «{BTN_NEW}»."
    )


APPEAL_GONE = "Это обращение не найдено. Откройте «Мои обращения» заново."


def answer_to_subscriber(number: str, staff_name: str, text: str) -> str:
    body = f"\n\n{esc(text)}" if text else ""
    return f"💬 <b>Ответ по обращению № {number}</b>\nСпециалист: {esc(staff_name)}{body}"


def answer_caption(number: str, staff_name: str, text: str) -> str:
    """A caption is at most 1024 characters: a long one is cut (the full text is in the list)."""
    caption = answer_to_subscriber(number, staff_name, text)
    if len(caption) <= 1000:
        return caption
    return answer_to_subscriber(number, staff_name, text[:800] + "…")


def render_status(payload: dict[str, Any]) -> str:
    number = esc(payload.get("number", ""))
    status = AppealStatus(payload["status"])
    if status is AppealStatus.IN_PROGRESS:
        return f"Обращение № {number} взято в работу специалистом."
    if status is AppealStatus.CLOSED:
        return (
            f"Обращение № {number} закрыто. Если вопрос не решён, его можно возобновить в "
            f"течение {REOPEN_DAYS} дней: «✉️ Общение» → «{BTN_LIST}»."
        )
    return f"Обращение № {number}: статус «{STATUS_NAMES[status]}»."


# --- e-mail to a subscriber who blocked the bot ------------------------------------------------


def answer_letter_subject(number: str) -> str:
    return f"Ответ по обращению № {number} — Металлэнергофинанс"


def answer_letter_text(number: str, staff_name: str, text: str) -> str:
    return (
        f"Здравствуйте!\n\nСпециалист Металлэнергофинанс ({staff_name}) ответил на ваше "
        f"обращение № {number}:\n\n{text}\n\n"
        "Переписка по обращению — в Telegram-боте личного кабинета, раздел «Общение»."
    )


def answer_letter_html(number: str, staff_name: str, text: str) -> str:
    body = esc(text).replace("\n", "<br>")
    return (
        f"<p>Здравствуйте!</p><p>Специалист Металлэнергофинанс ({esc(staff_name)}) ответил на "
        f"ваше обращение № {number}:</p><blockquote>{body}</blockquote>"
        "<p>Переписка по обращению — в Telegram-боте личного кабинета, раздел «Общение».</p>"
    )


# --- the staff chat -----------------------------------------------------------------------------


def mention(user_id: int, name: str) -> str:
    return f'<a href="tg://user?id={user_id}">{esc(name)}</a>'


def card_link(chat_id: int, message_id: int | None) -> str | None:
    """https://t.me/c/… works for members of a supergroup (ids -100…)."""
    text = str(chat_id)
    if message_id is None or not text.startswith("-100"):
        return None
    return f"https://t.me/c/{text[4:]}/{message_id}"


def topic_title(appeal: AppealView) -> str:
    return f"{appeal.number} · {TOPIC_NAMES[appeal.topic]}"[:128]


def status_line(appeal: AppealView) -> str:
    status = f"Статус: <b>{STATUS_NAMES[appeal.status]}</b>"
    if appeal.taken_by_id is not None and appeal.status is not AppealStatus.CLOSED:
        status += f" · в работе у {mention(appeal.taken_by_id, appeal.taken_by_name or '')}"
    return status


def staff_card(appeal: AppealView, zone: tzinfo) -> str:
    first = appeal.first_message
    files = len(first.attachments) if first else 0
    lines = [
        f"📨 <b>Обращение № {appeal.number}</b>",
        f"Тема: {TOPIC_NAMES[appeal.topic]}",
        f"Лицевой счёт: {'№ ' + esc(appeal.account_number) if appeal.account_number else '—'}",
        f"Абонент: {esc(appeal.subscriber_name)}",
        f"Телефон: {esc(appeal.phone)}",
        f"E-mail: {esc(appeal.email)}",
        f"Поступило: {_when(appeal.created_at, zone)}",
        f"<blockquote>{esc(first.body) if first else ''}</blockquote>",
        f"Вложения: {plural(files, 'файл', 'файла', 'файлов')} (ниже)" if files else "Вложений нет",
        "",
        status_line(appeal),
    ]
    if appeal.status is not AppealStatus.CLOSED:
        lines.append("Чтобы ответить абоненту, ответьте (reply) на это сообщение.")
    return "\n".join(lines)


def staff_attachments_caption(number: str) -> str:
    return f"Вложения к обращению № {number}"


def staff_follow_up(appeal: AppealView, text: str, *, reopened: bool) -> str:
    head = "🔄 Абонент возобновил" if reopened else "✉️ Абонент дополнил"
    lines = [
        f"{head} обращение <b>№ {appeal.number}</b>:",
        f"<blockquote>{esc(text)}</blockquote>",
    ]
    if appeal.taken_by_id is not None:
        lines.append(
            f"{mention(appeal.taken_by_id, appeal.taken_by_name or '')}, это ваше обращение."
        )
    else:
        lines.append(f"Обращение пока никто не взял в работу. {status_line(appeal)}")
    return "\n".join(lines)


STAFF_ONLY = "Это действие — для сотрудников Металлэнергофинанс из рабочего чата."
STAFF_APPEAL_GONE = "Обращение не найдено — возможно, оно удалено."
STAFF_ANSWER_SENT = "✅ Ответ отправлен абоненту."
STAFF_ALREADY_CLOSED = (
    f"Обращение закрыто — ответ абоненту не отправлен. Абонент может возобновить его в течение "
    f"{REOPEN_DAYS} дней."
)
STAFF_UNSUPPORTED_ANSWER = "Абоненту можно переслать текст, фото или документ (PDF, JPEG, PNG)."


def staff_undelivered(mailed: bool) -> str:
    mail = (
        "Ответ сохранён в обращении и отправлен абоненту письмом на e-mail входа."
        if mailed
        else "Ответ сохранён в обращении, но письмо абоненту отправить не удалось."
    )
    return (
        "⚠️ Абонент сейчас недоступен в Telegram (заблокировал бота или вышел из кабинета) — "
        f"ответ не доставлен. {mail}"
    )


def staff_taken(name: str) -> str:
    return f"Обращение в работе у вас, {name}."


def staff_already_taken(name: str) -> str:
    return f"Обращение уже в работе у: {name}."


STAFF_CLOSED = "Обращение закрыто, абонент уведомлён."
STAFF_CLOSED_ALREADY = "Обращение уже закрыто."

STAFF_HELP = (
    "<b>Обращения абонентов</b>\n\n"
    "• Каждое обращение приходит карточкой: номер, тема, лицевой счёт, абонент, телефон, "
    "e-mail, текст и вложения.\n"
    "• Чтобы ответить абоненту, <b>ответьте (reply)</b> на карточку или на любое сообщение "
    "обращения — текстом, фото или документом; в чате с темами можно просто писать в теме "
    "обращения. Бот перешлёт ответ абоненту и отметит «Ответ дан».\n"
    f"• «{BTN_TAKE}» — обращение закрепляется за вами; «{BTN_CLOSE}» — вопрос решён "
    f"(абонент может возобновить обращение в течение {REOPEN_DAYS} дней).\n"
    "• /open — открытые обращения, от старых к новым.\n"
    "• Обращения без ответа дольше срока бот напоминает здесь раз в день."
)


def open_list(appeals: Sequence[AppealView], now: datetime) -> str:
    if not appeals:
        return "Открытых обращений нет. 🎉"
    lines = [f"<b>Открытые обращения ({len(appeals)})</b>, от старых к новым:"]
    for n, appeal in enumerate(appeals, start=1):
        lines.append(_open_line(n, appeal, now))
    text = "\n".join(lines)
    while len(text) > 4000:  # a very long backlog: the oldest first, and how many more
        lines = lines[:-2]
        text = "\n".join(lines) + f"\n… и ещё {len(appeals) - len(lines) + 1}"
    return text


def _age(hours: int) -> str:
    if hours < 24:
        return plural(hours, "час", "часа", "часов")
    return plural(hours // 24, "день", "дня", "дней")


def _open_line(n: int, appeal: AppealView, now: datetime) -> str:
    link = card_link(appeal.staff_chat_id or 0, appeal.staff_card_message_id)
    number = f'<a href="{link}">{appeal.number}</a>' if link else appeal.number
    hours = int((now - appeal.created_at).total_seconds() // 3600)
    who = f", у {esc(appeal.taken_by_name)}" if appeal.taken_by_name else ""
    return (
        f"{n}. {number} · {TOPIC_NAMES[appeal.topic]} · {STATUS_NAMES[appeal.status]}{who} · "
        f"{_age(hours)}"
    )


def render_sla(payload: dict[str, Any]) -> str:
    hours = int(payload.get("sla_hours", 24))
    lines = [f"⏰ <b>Обращения без ответа дольше {plural(hours, 'часа', 'часов', 'часов')}</b>:"]
    for item in payload.get("appeals", []):
        link = card_link(int(item.get("chat_id") or 0), item.get("message_id"))
        number = esc(item.get("number", ""))
        shown = f'<a href="{link}">{number}</a>' if link else number
        who = f", у {esc(item['taken_by'])}" if item.get("taken_by") else ", никто не взял"
        topic = TOPIC_NAMES.get(AppealTopic(item["topic"]), "") if item.get("topic") else ""
        lines.append(f"• {shown} · {topic}{who} · ждёт {_age(int(item.get('hours', 0)))}")
    lines.append("Ответьте на карточку обращения, чтобы написать абоненту.")
    text = "\n".join(lines)
    return text if len(text) <= 4000 else text[:3990] + "…"


NOTIFICATIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "appeal_status": render_status,
    "appeal_sla": render_sla,
}

WAITING: dict[str, str] = {
    "WriteAppeal:topic": "тему обращения — выберите её кнопкой",
    "WriteAppeal:text": "текст обращения одним сообщением",
    "WriteAppeal:attachments": ATTACHMENT_EXPECTED,
    "WriteAppeal:confirm": f"нажатия «{BTN_SEND}» под сводкой",
    "AddToAppeal:text": "текст сообщения к обращению",
    "AddToAppeal:attachments": ATTACHMENT_EXPECTED,
}
