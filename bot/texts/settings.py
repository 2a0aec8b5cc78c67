"""Texts of «⚙️ Настройки»: profile, e-mail change (and its letters), subscriptions, password
change, logout and the erasure of personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.texts import auth as auth_texts
from bot.texts import common
from bot.texts.fmt import esc, plural

# --- the section -----------------------------------------------------------------------------

BTN_PROFILE = "👤 Мой профиль"
BTN_SUBSCRIPTIONS = "🔔 Мои подписки"
BTN_PASSWORD = "🔑 Сменить пароль"
BTN_LOGOUT = "🚪 Выйти"
BTN_ERASE = "🗑 Удалить мои данные"
BTN_TO_SETTINGS = "« К настройкам"

SECTION = f"<b>{common.MENU_SETTINGS}</b>\n\nЧто хотите настроить?"

# --- the profile -----------------------------------------------------------------------------

FIELD_NAMES = {
    "phone": "Телефон",
    "surname": "Фамилия",
    "name": "Имя",
    "patronymic": "Отчество",
}
BTN_EDIT = {field: f"✏️ {name}" for field, name in FIELD_NAMES.items()}
BTN_EDIT_EMAIL = "✏️ E-mail"
BTN_NO_PATRONYMIC = "Без отчества"
NOT_SET = "не указано"


def _value(value: str | None) -> str:
    return esc(value) if value else NOT_SET


def profile_card(email: str, values: dict[str, str | None], pending_email: str | None) -> str:
    """The profile as it is stored (the phone already formatted for reading)."""
    lines = [f"E-mail (логин): {esc(email)}"]
    if pending_email:
        lines.append(f"   ждёт подтверждения: {esc(pending_email)}")
    lines += [f"{FIELD_NAMES[f]}: {_value(v)}" for f, v in values.items()]
    return (
        "<b>Мой профиль</b>\n\n"
        + "\n".join(lines)
        + "\n\nЧтобы изменить поле, нажмите кнопку с его названием."
    )


def profile_summary(values: dict[str, str | None], changed: set[str]) -> str:
    """The profile with the edits not saved yet (marked), before «Сохранить»."""
    lines = []
    for field, value in values.items():
        mark = " ✏️" if field in changed else ""
        lines.append(f"{FIELD_NAMES[field]}: {_value(value)}{mark}")
    return (
        "<b>Проверьте профиль</b>\n\n"
        + "\n".join(lines)
        + f"\n\n✏️ — изменено, ещё не сохранено. Нажмите «{common.BTN_SAVE}» "
        "или измените другое поле."
    )


ASK = {
    "phone": (
        f"Укажите новый <b>номер телефона</b>: нажмите «{auth_texts.BTN_SHARE_PHONE}» или "
        "введите его, например <i>8 999 123-45-67</i>."
    ),
    "surname": "Введите <b>фамилию</b>, например <i>Римская-Корсакова</i>.",
    "name": "Введите <b>имя</b>, например <i>Людмила</i>.",
    "patronymic": (f"Введите <b>отчество</b>. Если его нет — нажмите «{BTN_NO_PATRONYMIC}»."),
}
NAME_PART_BAD = (
    "Здесь могут быть только буквы (русские или латинские), дефис и апостроф — без цифр "
    "и других знаков. Введите ещё раз."
)
NAME_PART_TOO_LONG = "Слишком длинно: не больше 100 символов. Введите ещё раз."
NAME_PART_EMPTY = "Напишите значение текстом."
FIELD_KEPT = "Это поле оставлено как было."
NOTHING_CHANGED = "Вы ничего не изменили — профиль остался прежним."


def field_noted(field: str, value: str | None) -> str:
    """A value accepted into the draft (not saved yet)."""
    return f"{FIELD_NAMES[field]}: {_value(value)} — принято."


def profile_saved(fields: list[str]) -> str:
    names = ", ".join(FIELD_NAMES[f].lower() for f in fields)
    return f"✅ Профиль сохранён: изменено — {names}."


# --- the e-mail change -----------------------------------------------------------------------

ASK_NEW_EMAIL = (
    "Введите <b>новый адрес электронной почты</b>. Мы отправим на него письмо со ссылкой и "
    "кодом; логин изменится, когда вы откроете ссылку или введёте код. До тех пор входите "
    "по прежнему адресу."
)
EMAIL_UNCHANGED = "Это ваш текущий адрес. Введите новый или нажмите «Отмена»."
EMAIL_TAKEN = (
    "Этот адрес уже занят другой учётной записью. Введите другой адрес или нажмите «Отмена»."
)


def email_letter_sent(email: str) -> str:
    return (
        f"Письмо отправлено на <b>{esc(email)}</b>.\n\n"
        "Откройте ссылку из письма или отправьте сюда код из него (8 символов). Ссылка и код "
        "действуют 24 часа. Письма нет — проверьте «Спам»."
    )


EMAIL_MAIL_FAILED = (
    "Не получилось отправить письмо: почтовый сервер сейчас не отвечает. Адрес не изменён — "
    "попробуйте через минуту: введите новый адрес ещё раз."
)


def email_changed(email: str) -> str:
    return (
        f"✅ Адрес подтверждён. Теперь ваш логин — <b>{esc(email)}</b>. "
        "На прежний адрес мы отправили уведомление."
    )


EMAIL_CODE_WRONG = (
    "Код не подошёл. Проверьте его по последнему письму и отправьте ещё раз: 8 латинских "
    "букв и цифр, например <code>ACEF-HJ47</code>."
)
EMAIL_LINK_EXPIRED = (
    "Ссылка для смены адреса устарела: она действует 24 часа. Адрес не изменён — запросите "
    f"новое письмо: «{common.MENU_SETTINGS}» → «{BTN_PROFILE}» → «{BTN_EDIT_EMAIL}»."
)
EMAIL_LINK_USED = "Эта ссылка уже использована: адрес уже изменён."
EMAIL_LINK_UNKNOWN = (
    "Ссылка не подошла. Возможно, вы запросили письмо ещё раз — откройте ссылку из последнего "
    "письма."
)


def too_many_codes(until_local: datetime, minutes: int) -> str:
    return auth_texts.too_many_codes(until_local, minutes)


def email_change_letter(name: str, link: str, code: str, email: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the letter that confirms a new address."""
    subject = f"Подтверждение нового адреса — {common.SUPPLIER}"
    text = (
        f"Здравствуйте, {name}!\n\n"
        f"Вы хотите сделать адрес {email} логином личного кабинета {common.SUPPLIER}.\n"
        f"Чтобы подтвердить его, откройте ссылку:\n{link}\n\n"
        f"Или отправьте боту этот код:\n{auth_texts.format_code(code)}\n\n"
        "Ссылка и код действуют 24 часа и срабатывают один раз. Если вы ничего не меняли — "
        "просто удалите письмо: адрес не изменится.\n\n" + auth_texts._SIGNATURE_TEXT
    )
    html = auth_texts._html_page(
        f"<p>Здравствуйте, {esc(name)}!</p>"
        f"<p>Вы хотите сделать адрес {esc(email)} логином личного кабинета "
        f"{common.SUPPLIER}.</p>"
        + auth_texts._button(link, "Подтвердить адрес")
        + auth_texts._code_html(code)
        + "<p>Ссылка и код действуют 24 часа и срабатывают один раз. Если вы ничего не "
        "меняли — просто удалите письмо: адрес не изменится.</p>"
    )
    return subject, text, html


def email_changed_letter(name: str, old_email: str, new_email: str) -> tuple[str, str, str]:
    """To the previous address: the login moved to another one."""
    subject = f"Адрес входа изменён — {common.SUPPLIER}"
    lines = [
        f"Логин вашего личного кабинета {common.SUPPLIER} изменён: вместо {old_email} теперь "
        f"{new_email}. Письма кабинета будут приходить на новый адрес.",
        "Если это сделали не вы — сразу напишите нам: ответьте на это письмо или позвоните "
        "в абонентский отдел.",
    ]
    text = f"Здравствуйте, {name}!\n\n" + "\n\n".join(lines) + "\n\n" + auth_texts._SIGNATURE_TEXT
    html = auth_texts._html_page(
        f"<p>Здравствуйте, {esc(name)}!</p>" + "".join(f"<p>{esc(line)}</p>" for line in lines)
    )
    return subject, text, html


# --- subscriptions ---------------------------------------------------------------------------

TOPIC_NAMES = {
    "reading_reminders": "Напоминания о показаниях",
    "monthly_bill": "Ежемесячный счёт",
    "sms": "SMS",
}


def topic_button(topic: str, on: bool) -> str:
    return f"{'✅' if on else '⬜'} {TOPIC_NAMES[topic]}"


def subscriptions(has_phone: bool) -> str:
    sms = (
        "SMS — те же напоминания и счета ещё и сообщением на телефон."
        if has_phone
        else "SMS — нужен номер телефона в профиле."
    )
    return (
        "<b>Мои подписки</b>\n\n"
        "Напоминания о показаниях — в дни приёма показаний, пока они не переданы.\n"
        "Ежемесячный счёт — сумма к оплате и квитанция PDF, когда счёт готов.\n"
        f"{sms}\n\n"
        "✅ — включено, ⬜ — выключено. Нажмите, чтобы переключить: сохраняется сразу."
    )


def subscription_saved(topic: str, on: bool) -> str:
    return f"{TOPIC_NAMES[topic]}: {'включено' if on else 'выключено'}. Сохранено."


def subscription_same(topic: str, on: bool) -> str:
    return f"{TOPIC_NAMES[topic]}: уже {'включено' if on else 'выключено'}."


SMS_NEEDS_PHONE = "Для SMS нужен номер телефона: укажите его в «Мой профиль»."

# --- the password change ---------------------------------------------------------------------

PASSWORD_TITLE = "<b>Смена пароля</b>"
ASK_OLD_PASSWORD = "Введите текущий пароль. Сообщение с ним я сразу удалю из чата."
ASK_NEW_PASSWORD = auth_texts.ASK_NEW_PASSWORD
ASK_NEW_PASSWORD_REPEAT = auth_texts.ASK_NEW_PASSWORD_REPEAT
PASSWORDS_DIFFER = auth_texts.PASSWORDS_DIFFER


def wrong_old_password(left: int) -> str:
    return (
        "Текущий пароль неверный, сообщение с ним удалено. Введите его ещё раз — осталось "
        f"{plural(left, 'попытка', 'попытки', 'попыток')}."
    )


def password_change_locked(until_local: datetime, minutes: int) -> str:
    return (
        "Слишком много неверных паролей. Смена пароля временно закрыта — попробуйте после "
        f"{until_local:%H:%M} (через {plural(minutes, 'минуту', 'минуты', 'минут')}).\n\n"
        "Не помните пароль? Выйдите из кабинета и нажмите «Войти» → «Забыли пароль?»."
    )


def password_changed(others: int) -> str:
    tail = (
        f" На других устройствах выполнен выход ({plural(others, 'сеанс', 'сеанса', 'сеансов')})."
        if others
        else ""
    )
    return f"✅ Пароль изменён. Вы остаётесь в личном кабинете.{tail}"


# --- logout and erasure ----------------------------------------------------------------------

BTN_ERASE_YES = "Да, удалить мои данные"
ERASE_QUESTION = (
    "<b>Удаление персональных данных</b>\n\n"
    "По закону 152-ФЗ вы можете отозвать согласие на обработку персональных данных. "
    "Тогда мы:\n"
    "• удалим ФИО, e-mail, телефон и пароль учётной записи — войти в неё будет нельзя;\n"
    "• удалим ваши заявки на договор с документами и обращения с вложениями;\n"
    "• отвяжем от неё Telegram (на всех устройствах) и лицевые счета, отключим подписки.\n\n"
    "Останутся лицевые счета, начисления, показания и платежи: их поставщик обязан хранить "
    "5 лет (закон 402-ФЗ «О бухгалтерском учёте» и Налоговый кодекс), — но уже без связи "
    "с вашими контактами. Отменить удаление нельзя; пользоваться кабинетом можно будет, "
    "зарегистрировавшись заново.\n\n"
    f"Удалить данные? Нажмите «{BTN_ERASE_YES}» или «{common.BTN_CANCEL}»."
)
ERASED = (
    "Готово: согласие на обработку персональных данных отозвано. Ваши ФИО, e-mail, телефон, "
    "пароль, заявки на договор с документами и обращения удалены, Telegram отвязан от "
    "учётной записи на всех устройствах.\n\n"
    "Сохранены только лицевые счета, начисления, показания и платежи — поставщик обязан "
    "хранить их 5 лет по закону 402-ФЗ «О бухгалтерском учёте» и Налоговому кодексу; "
    "с вашими контактами они больше не связаны. Чтобы снова пользоваться кабинетом, "
    "зарегистрируйтесь."
)
ERASED_ELSEWHERE = (
    "Данные учётной записи удалены по просьбе её владельца, поэтому здесь выполнен выход "
    "из личного кабинета."
)

WAITING: dict[str, str] = {
    "ProfileEdit:value": "новое значение поля текстом",
    "ProfileEdit:summary": f"нажатия «{common.BTN_SAVE}» или кнопки поля, которое изменить",
    "EmailChange:email": "новый адрес электронной почты текстом",
    "EmailChange:code": "код из письма (8 символов) — или откройте ссылку из письма",
    "ChangePassword:old": "текущий пароль текстом",
    "ChangePassword:new": "новый пароль текстом",
    "ChangePassword:repeat": "новый пароль ещё раз",
    "EraseData:confirm": f"ответ кнопкой «{BTN_ERASE_YES}» или «{common.BTN_CANCEL}»",
}


def _erased(payload: dict[str, Any]) -> str:
    return ERASED_ELSEWHERE


NOTIFICATIONS = {"settings.erased": _erased}
