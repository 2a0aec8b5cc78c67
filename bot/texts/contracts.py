"""Texts of contract applications: the subscriber's dialog, «Мои заявки», the staff chat."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.texts.fmt import day, esc, plural
from models import ApplicationStatus, ObjectType
from services.contracts import (
    AccountMatch,
    ApplicationsPage,
    ApplicationView,
    DocumentKind,
    DocumentRequirement,
    DocumentView,
)
from services.files import safe_display_name

OBJECT_TYPE_NAMES = {
    ObjectType.APARTMENT: "Квартира",
    ObjectType.HOUSE: "Жилой дом",
    ObjectType.GARDEN_HOUSE: "Садовый дом / дача",
    ObjectType.GARAGE: "Гараж",
    ObjectType.OTHER: "Другое",
}
DOCUMENT_NAMES = {
    DocumentKind.PASSPORT: "Паспорт (страницы с фото и регистрацией)",
    DocumentKind.TITLE_DEED: "Документ о праве собственности на объект (выписка ЕГРН, договор)",
    DocumentKind.GRID_CONNECTION_ACT: "Акт о технологическом присоединении к сетям",
    DocumentKind.OTHER: "Другие документы",
}
DOCUMENT_SHORT = {
    DocumentKind.PASSPORT: "Паспорт",
    DocumentKind.TITLE_DEED: "Право собственности",
    DocumentKind.GRID_CONNECTION_ACT: "Акт техприсоединения",
    DocumentKind.OTHER: "Другие документы",
}
# How the bot names the files it sends on to staff: «Паспорт-З-2026-000001-1.pdf».
DOCUMENT_FILE_NAMES = {
    DocumentKind.PASSPORT: "Паспорт",
    DocumentKind.TITLE_DEED: "Право-собственности",
    DocumentKind.GRID_CONNECTION_ACT: "Акт-техприсоединения",
    DocumentKind.OTHER: "Документ",
}
STATUS_NAMES = {
    ApplicationStatus.DRAFT: "черновик",
    ApplicationStatus.SUBMITTED: "подана",
    ApplicationStatus.IN_PROGRESS: "в работе",
    ApplicationStatus.DOCUMENTS_REQUESTED: "нужны документы",
    ApplicationStatus.APPROVED: "одобрена",
    ApplicationStatus.REJECTED: "отклонена",
}

BTN_DONE = "Готово"
BTN_SKIP = "Пропустить"
BTN_SEND_MORE = "📎 Дослать документы"
BTN_NEW_APPLICATION = "📝 Новая заявка"
BTN_TO_ACCOUNTS = "« К списку счетов"
BTN_TAKE = "Взять в работу"
BTN_REQUEST_DOCS = "Запросить документы"
BTN_APPROVE = "Одобрить"
BTN_REJECT = "Отклонить"

APPLY_OBJECT = (
    "<b>Заявка на договор энергоснабжения</b>\n\nШаг 1 из 3. Выберите тип объекта, который нужно "
    "подключить:"
)
APPLY_ADDRESS = (
    "Шаг 2 из 3. Введите <b>адрес объекта</b>: населённый пункт, улица, дом, квартира "
    "(например: г. Магнитогорск, ул. Металлургов, д. 5, кв. 12)."
)
APPLY_ADDRESS_BAD = "Адрес — от 5 до 300 символов. Введите адрес объекта ещё раз."


def document_prompt(
    requirement: DocumentRequirement, position: int, total: int, limit_mb: int
) -> str:
    need = "обязательно" if requirement.required else "необязательно — можно пропустить"
    return (
        f"Шаг 3 из 3. Документ {position} из {total}: <b>{DOCUMENT_NAMES[requirement.kind]}</b> ({need}).\n"
        f"Отправьте фото или PDF, каждый файл до {limit_mb} МБ; можно несколько файлов. Когда всё "
        "отправлено, нажмите «Готово»."
    )


def file_received(kind: DocumentKind, count: int) -> str:
    return (
        f"Принято: {DOCUMENT_SHORT[kind]} — {plural(count, 'файл', 'файла', 'файлов')}. "
        "Отправьте ещё или нажмите «Готово»."
    )


DOCUMENT_REQUIRED = "Этот документ обязателен: отправьте хотя бы одно фото или PDF."
DOCUMENT_EXPECTED = "Сейчас я жду фото или PDF документа. Отправьте файл или нажмите «Готово»."
TOO_MANY_FILES = "Достаточно файлов для этого документа. Нажмите «Готово»."
UNSUPPORTED_FILE = (
    "Этот файл не подходит: принимаются только фото (JPEG, PNG, HEIC) и PDF, которые "
    "открываются. Тип определяется по содержимому файла, а не по имени. Отправьте другой файл."
)


def upload_quota_exceeded(files: int, megabytes: int) -> str:
    return (
        f"За сутки можно загрузить не больше {plural(files, 'файла', 'файлов', 'файлов')} "
        f"и {megabytes} МБ — лимит исчерпан. Отправьте файл завтра или нажмите «Отмена»."
    )


def file_too_big(limit_mb: int) -> str:
    return f"Файл слишком большой: максимум {limit_mb} МБ. Сожмите его или отправьте фото."


def documents_lines(counts: dict[DocumentKind, int]) -> str:
    return "\n".join(
        f"• {DOCUMENT_SHORT[kind]}: {plural(count, 'файл', 'файла', 'файлов')}"
        for kind, count in counts.items()
        if count
    )


def apply_summary(object_type: ObjectType, address: str, counts: dict[DocumentKind, int]) -> str:
    return (
        "<b>Проверьте заявку</b>\n\n"
        f"Объект: {OBJECT_TYPE_NAMES[object_type]}\n"
        f"Адрес: {esc(address)}\n"
        f"Документы:\n{documents_lines(counts)}\n\n"
        "Если всё верно, нажмите «Сохранить»."
    )


def submitted(app: ApplicationView, *, staff_chat: bool) -> str:
    if not staff_chat:
        return (
            f"Заявка <b>№ {app.number}</b> сохранена, но специалисты её пока не видят: "
            "передача заявок специалистам в боте сейчас не настроена. Мы передадим её, как "
            "только это исправят, и сообщим о решении здесь. Статус — в «📄 Договоры» → "
            "«Мои заявки»."
        )
    return (
        f"Заявка <b>№ {app.number}</b> сохранена. Статус: «{STATUS_NAMES[app.status]}».\n"
        "Специалисты рассмотрят её и сообщат о решении здесь. Статус можно посмотреть в "
        "«📄 Договоры» → «Мои заявки»."
    )


NO_APPLICATIONS = "У вас пока нет заявок на договор."
APPLICATIONS_TITLE = "<b>Мои заявки</b>"
BTN_PREVIOUS = "‹ Новее"
BTN_NEXT = "Старше ›"
COMMENT_SHOWN = 200  # characters of a staff comment in «Мои заявки» (the notice has it all)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def application_line(app: ApplicationView) -> str:
    line = (
        f"<b>№ {app.number}</b> от {day(app.created_at)} — {OBJECT_TYPE_NAMES[app.object_type]}, "
        f"{esc(app.address)}\nСтатус: «{STATUS_NAMES[app.status]}»"
    )
    if app.status is ApplicationStatus.APPROVED and app.account_number:
        line += f", лицевой счёт № {esc(app.account_number)}"
    if app.staff_comment and app.status in (
        ApplicationStatus.DOCUMENTS_REQUESTED,
        ApplicationStatus.REJECTED,
    ):
        line += f"\nКомментарий: {esc(_short(app.staff_comment, COMMENT_SHOWN))}"
    return line


def applications_list(mine: ApplicationsPage) -> str:
    if not mine.items:
        return NO_APPLICATIONS
    title = APPLICATIONS_TITLE
    if mine.pages > 1:
        title += f" (страница {mine.page + 1} из {mine.pages})"
    return title + "\n\n" + "\n\n".join(application_line(a) for a in mine.items)


def send_more_button(number: str) -> str:
    return f"{BTN_SEND_MORE} к № {number}"


def send_more_prompt(app: ApplicationView, limit_mb: int) -> str:
    return (
        f"Дослать документы к заявке № {app.number}.\n"
        + (f"Специалист просил: {esc(app.staff_comment)}\n" if app.staff_comment else "")
        + f"Отправьте фото или PDF до {limit_mb} МБ (можно несколько), затем нажмите «Готово»."
    )


def more_sent(number: str) -> str:
    return f"Документы к заявке № {number} отправлены специалистам."


APPLICATION_GONE = "Эта заявка уже не ждёт документов. Откройте «Мои заявки» заново."

# --- the staff chat -----------------------------------------------------------------------


def staff_card(app: ApplicationView, *, decided_by: str | None = None) -> str:
    counts: dict[DocumentKind, int] = {}
    for document in app.documents:
        counts[document.kind] = counts.get(document.kind, 0) + 1
    lines = [
        f"📝 <b>Заявка на договор № {app.number}</b>",
        f"Статус: «{STATUS_NAMES[app.status]}»",
        f"Заявитель: {esc(app.applicant_name)}",
        f"Телефон: {esc(app.applicant_phone or '—')}",
        f"E-mail: {esc(app.applicant_email or '—')}",
        f"Объект: {OBJECT_TYPE_NAMES[app.object_type]}",
        f"Адрес: {esc(app.address)}",
        f"Документы:\n{documents_lines(counts) or '—'}",
    ]
    if app.staff_comment:
        lines.append(f"Комментарий: {esc(app.staff_comment)}")
    if app.account_number:
        lines.append(f"Лицевой счёт: № {esc(app.account_number)}")
    if decided_by:
        lines.append(f"Последнее действие: {esc(safe_display_name(decided_by))}")
    return "\n".join(lines)


def staff_file_name(document: DocumentView, number: str) -> str:
    return f"{DOCUMENT_FILE_NAMES[document.kind]}-{number}-{document.position}.{document.extension}"


def documents_caption(number: str) -> str:
    return f"Документы к заявке № {number}"


def more_documents_caption(number: str) -> str:
    return f"Заявитель дослал документы к заявке № {number}"


STAFF_ONLY = "Эти кнопки — для сотрудников Металлэнергофинанс из рабочего чата."
STAFF_CARD_GONE = "Заявка не найдена — возможно, она удалена."


def staff_already_decided(status: ApplicationStatus) -> str:
    return f"По заявке уже принято решение: «{STATUS_NAMES[status]}»."


def _mention(user_id: int, name: str) -> str:
    return f'<a href="tg://user?id={user_id}">{esc(safe_display_name(name))}</a>'


def prompt_comment(number: str, user_id: int, name: str) -> str:
    return (
        f"{_mention(user_id, name)}, ответьте на это сообщение: какие документы нужны по заявке "
        f"№ {number}? Текст увидит заявитель."
    )


def prompt_reason(number: str, user_id: int, name: str) -> str:
    return (
        f"{_mention(user_id, name)}, ответьте на это сообщение: причина отказа по заявке "
        f"№ {number}. Текст увидит заявитель."
    )


def prompt_account(number: str, user_id: int, name: str) -> str:
    return (
        f"{_mention(user_id, name)}, ответьте на это сообщение номером нового лицевого счёта "
        f"для заявки № {number} (4–20 цифр). Если счёт с таким номером уже есть, бот покажет "
        "его владельца и адрес рядом с заявкой и подключит только после вашего подтверждения."
    )


STAFF_TEXT_EXPECTED = "Нужен текст: ответьте на это сообщение."
STAFF_ACCOUNT_BAD = (
    "Номер лицевого счёта — от 4 до 20 цифр. Ответьте на это сообщение номером ещё раз."
)


def staff_account_taken(number: str) -> str:
    return (
        f"Лицевой счёт № {esc(number)} уже подключён у другого абонента — проверьте номер. "
        "Ответьте на это сообщение правильным номером."
    )


BTN_DO_NOT_LINK = "Не подключать"


def link_button(number: str) -> str:
    return f"Подключить счёт № {number}"


def _mark(matches: bool) -> str:
    return "✅ совпадает" if matches else "⚠️ не совпадает"


def staff_account_compare(number: str, match: AccountMatch) -> str:
    return (
        f"Лицевой счёт № {esc(match.number)} уже есть в базе. Сверьте его с заявкой № {number}:\n\n"
        f"<b>Владелец счёта:</b> {esc(match.holder or '—')}\n"
        f"<b>Заявитель:</b> {esc(match.applicant or '—')}\n"
        f"Владелец — {_mark(match.holder_matches)}\n\n"
        f"<b>Адрес счёта:</b> {esc(match.address or '—')}\n"
        f"<b>Адрес в заявке:</b> {esc(match.application_address)}\n"
        f"Адрес — {_mark(match.address_matches)}\n\n"
        "Заявитель увидит имя владельца, адрес и долг этого счёта. Подключить счёт заявителю?"
    )


def staff_link_declined(number: str, account_number: str, name: str) -> str:
    return (
        f"Счёт № {esc(account_number)} не подключён ({esc(safe_display_name(name))}). Чтобы "
        f"одобрить заявку № {number}, нажмите «{BTN_APPROVE}» на её карточке и введите другой "
        "номер."
    )


def staff_link_confirmed(account_number: str, name: str) -> str:
    return (
        f"Подключение счёта № {esc(account_number)} подтвердил(а) {esc(safe_display_name(name))}."
    )


def staff_link_taken(number: str) -> str:
    return f"Счёт № {esc(number)} тем временем подключил другой абонент — он не подключён."


PLACEHOLDER_COMMENT = "Комментарий для заявителя"
PLACEHOLDER_ACCOUNT = "Номер лицевого счёта"


def staff_done(app: ApplicationView) -> str:
    if app.status is ApplicationStatus.APPROVED:
        return (
            f"Заявка № {app.number} одобрена: лицевой счёт № {esc(app.account_number or '')} "
            "подключён заявителю, он получил уведомление."
        )
    return f"Заявка № {app.number}: статус «{STATUS_NAMES[app.status]}», заявитель уведомлён."


# --- notifications to the applicant --------------------------------------------------------


def render_status(payload: dict[str, Any]) -> str:
    number = esc(payload.get("number", ""))
    status = ApplicationStatus(payload["status"])
    comment = payload.get("comment")
    if status is ApplicationStatus.IN_PROGRESS:
        return f"Заявка на договор № {number} взята в работу специалистом."
    if status is ApplicationStatus.DOCUMENTS_REQUESTED:
        return (
            f"По заявке на договор № {number} нужны документы.\nКомментарий специалиста: "
            f"{esc(comment or '')}\n\nДослать их можно кнопкой ниже или в «📄 Договоры» → "
            "«Мои заявки»."
        )
    if status is ApplicationStatus.APPROVED:
        return (
            f"Заявка на договор № {number} одобрена! Лицевой счёт "
            f"№ {esc(payload.get('account', ''))} подключён к вашей учётной записи — он виден в "
            "разделе «📄 Договоры»."
        )
    if status is ApplicationStatus.REJECTED:
        return (
            f"Заявка на договор № {number} отклонена.\nПричина: {esc(comment or '')}\n\n"
            "Вы можете подать новую заявку в разделе «📄 Договоры»."
        )
    return f"Заявка на договор № {number}: статус «{STATUS_NAMES[status]}»."


NOTIFICATIONS: dict[str, Callable[[dict[str, Any]], str]] = {"contract_status": render_status}
