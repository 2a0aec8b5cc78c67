"""Texts of registration, activation, login, logout and password reset, and of their letters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.texts import common
from bot.texts.fmt import esc, plural
from bot.texts.fmt import numbered as numbered  # one step style in every dialog

# --- consent (152-ФЗ) ------------------------------------------------------------------------

CONSENT_VERSION = "2026-01"  # bump when CONSENT_TEXT changes; stored with each login

CONSENT_TEXT = (
    "<b>Согласие на обработку персональных данных</b>\n\n"
    f"В соответствии с Федеральным законом от 27.07.2006 № 152-ФЗ «О персональных данных» "
    f"я даю согласие ООО «{common.SUPPLIER}» (далее — Оператор) на обработку моих "
    "персональных данных: фамилии, имени, отчества, адреса электронной почты, номера "
    "телефона, идентификатора Telegram, номеров лицевых счетов и сведений о потреблении "
    "электроэнергии и расчётах.\n\n"
    "Цель обработки — регистрация и работа в личном кабинете абонента: подключение "
    "лицевых счетов, приём показаний, выставление счетов и квитанций, приём оплаты, "
    "ответы на обращения и уведомления.\n\n"
    "Действия с данными: сбор, запись, систематизация, накопление, хранение, уточнение, "
    "использование, передача (в случаях, предусмотренных законом), обезличивание, "
    "блокирование, удаление и уничтожение, с использованием средств автоматизации и без них.\n\n"
    "Согласие действует до его отзыва. Отозвать его можно письменным заявлением Оператору "
    "или обращением в разделе «Общение»; после отзыва учётная запись удаляется, "
    "если закон не требует хранить данные дольше.\n\n"
    f"Редакция {CONSENT_VERSION}."
)

# --- buttons ---------------------------------------------------------------------------------

BTN_SHARE_PHONE = "📱 Поделиться номером"
BTN_REFRESH_CAPTCHA = "🔄 Обновить картинку"
BTN_CONSENT_YES = "✅ Даю согласие"
BTN_CONSENT_NO = "Не соглашаюсь"
BTN_SUBMIT = "✅ Зарегистрироваться"
BTN_EDIT_NAME = "✏️ ФИО"
BTN_EDIT_EMAIL = "✏️ E-mail"
BTN_EDIT_PHONE = "✏️ Телефон"
BTN_EDIT_PASSWORD = "✏️ Пароль"
BTN_CHANGE_EMAIL = "✏️ Изменить e-mail"
BTN_RESEND = "✉️ Отправить письмо ещё раз"
BTN_FORGOT = "Забыли пароль?"
BTN_LOGIN = common.BTN_LOGIN
BTN_REGISTER = common.BTN_REGISTER


# --- passwords (shared by registration, reset and the password change) -----------------------

PASSWORD_RULES = "не короче 8 символов, латинские буквы в нижнем и верхнем регистрах и цифры"
PASSWORD_NOT_DELETED = (
    "Не получилось удалить сообщение с паролем. Удалите его сами: нажмите на сообщение "
    "и выберите «Удалить»."
)
PASSWORD_PROBLEM = {
    "too_short": "не короче 8 символов",
    "too_long": "не длиннее 128 символов",
    "no_lower": "хотя бы одна строчная латинская буква (a–z)",
    "no_upper": "хотя бы одна заглавная латинская буква (A–Z)",
    "no_digit": "хотя бы одна цифра",
    "bad_characters": "только латинские буквы, цифры и знаки, без пробелов и кириллицы",
}


def password_weak(problems: list[str]) -> str:
    lines = "\n".join(f"• {PASSWORD_PROBLEM[p]}" for p in problems)
    return f"Пароль не подходит, сообщение с ним удалено. Нужно:\n{lines}\n\nВведите другой пароль."


def too_many_password_checks(minutes: int) -> str:
    return (
        "Слишком много попыток с паролем за короткое время. Подождите "
        f"{plural(minutes, 'минуту', 'минуты', 'минут')} и введите пароль снова."
    )


def password_guard(in_dialog: str | None, *, logged_in: bool = False) -> str:
    """A message that looked like a password or code, sent where none was expected: deleted.
    `in_dialog`: what the current dialog step waits for, or None outside a dialog."""
    done = (
        "Похоже, в сообщении был пароль или код — я удалил его из чата, чтобы его никто не увидел."
    )
    if in_dialog is None and logged_in:
        return f"{done}\n\nВы уже вошли в личный кабинет — выберите раздел в меню ниже."
    if in_dialog is None:
        return (
            f"{done}\n\nЧтобы войти в личный кабинет, нажмите «{BTN_LOGIN}» и введите пароль там."
        )
    return f"{done}\n\n{in_dialog}"


# --- CAPTCHA ---------------------------------------------------------------------------------

ASK_CAPTCHA = (
    "Подтвердите, что вы не робот: введите текст с картинки (большие или маленькие буквы — "
    f"неважно). Не разобрать — нажмите «{BTN_REFRESH_CAPTCHA}»."
)
CAPTCHA_NEW = "Новая картинка. Введите текст с неё."
CAPTCHA_WRONG_NEW = "Текст снова не совпал. Вот новая картинка — введите текст с неё."


def captcha_wrong(attempts_left: int) -> str:
    return (
        "Текст не совпадает с картинкой. Попробуйте ещё раз — осталось "
        f"{plural(attempts_left, 'попытка', 'попытки', 'попыток')} до новой картинки."
    )


# --- registration ----------------------------------------------------------------------------

REGISTRATION_START = (
    "<b>Регистрация в личном кабинете</b>\n"
    "Понадобятся ФИО, e-mail (он станет логином), телефон и пароль. "
    "Прервать можно в любой момент кнопкой «Отмена»."
)
ASK_NAME = (
    "Введите <b>фамилию, имя и отчество</b> через пробел. Отчество — если есть.\n"
    "Например: <i>Иванов Иван Иванович</i>"
)
ASK_EMAIL = (
    "Введите ваш <b>адрес электронной почты</b>. Он будет логином, на него придёт письмо "
    "для активации."
)
ASK_PHONE = (
    f"Укажите <b>номер телефона</b>: нажмите «{BTN_SHARE_PHONE}» или введите его, "
    "например <i>8 999 123-45-67</i>."
)
ASK_PASSWORD = (
    f"Придумайте <b>пароль</b>: {PASSWORD_RULES}. Сообщение с паролем я сразу удалю из чата."
)
ASK_PASSWORD_REPEAT = "Введите этот пароль ещё раз для проверки."
PASSWORD_ACCEPTED = "Пароль принят, сообщение с ним удалено из чата."
PASSWORDS_DIFFER = "Пароли не совпадают. Придумайте пароль и введите его заново."
ASK_CONSENT = (
    "Для регистрации нужно ваше согласие на обработку персональных данных. "
    f"Прочитайте текст выше и нажмите «{BTN_CONSENT_YES}» или «{BTN_CONSENT_NO}»."
)
CONSENT_REFUSED = (
    "Без согласия на обработку персональных данных зарегистрироваться нельзя. "
    "Введённые данные никуда не отправлены и ждут в этом диалоге.\n\n"
    f"Если передумаете — нажмите «{BTN_CONSENT_YES}». Чтобы выйти, нажмите «Отмена»."
)

NAME_EMPTY = "Напишите фамилию и имя."
NAME_TOO_FEW = "Нужны как минимум фамилия и имя через пробел, например: Иванов Иван."
NAME_TOO_MANY = "Слишком много слов. Введите фамилию, имя и отчество — не больше четырёх слов."
NAME_BAD_CHARACTERS = (
    "В ФИО могут быть только буквы (русские или латинские), дефис и апостроф — "
    "без цифр и других знаков. Например: Римская-Корсакова Людмила Петровна."
)
NAME_TOO_LONG = "Слишком длинное ФИО: каждая часть — не больше 100 символов."
EMAIL_INVALID = (
    "Это не похоже на адрес электронной почты. Проверьте, пожалуйста: "
    "адрес выглядит как <i>ivan@example.ru</i>."
)
PHONE_NOT_A_NUMBER = "Не вижу номера телефона. Введите его цифрами, например 8 999 123-45-67."
PHONE_INVALID = "Такого номера не бывает. Проверьте цифры, например: +7 999 123-45-67."
CONTACT_NOT_OWN = (
    f"Это чужой контакт. Нажмите «{BTN_SHARE_PHONE}», чтобы отправить свой номер, или введите его."
)


def summary(full_name: str, email: str, phone: str) -> str:
    return (
        "<b>Проверьте данные</b>\n\n"
        f"ФИО: {esc(full_name)}\n"
        f"E-mail (логин): {esc(email)}\n"
        f"Телефон: {esc(phone)}\n"
        "Пароль: ••••••••\n"
        "Согласие на обработку персональных данных: дано\n\n"
        f"Всё верно? Нажмите «{BTN_SUBMIT}» или исправьте нужное поле."
    )


def letter_sent(email: str) -> str:
    return (
        f"Готово! Мы отправили письмо на <b>{esc(email)}</b>.\n\n"
        "Письма нет? Проверьте папку «Спам» или нажмите «Отправить письмо ещё раз».\n\n"
        "Откройте ссылку из письма — и вы сразу войдёте в личный кабинет. Или отправьте сюда "
        "код из письма (8 символов). Ссылка и код действуют 24 часа."
    )


def letter_sent_again(email: str) -> str:
    return (
        f"Письмо отправлено ещё раз на <b>{esc(email)}</b>. Ссылка и код в нём — новые: "
        "откройте ссылку или отправьте сюда код."
    )


def mail_too_soon(seconds: int) -> str:
    return (
        "Письмо на этот адрес только что отправлено. Повторить можно через "
        f"{plural(seconds, 'секунду', 'секунды', 'секунд')}."
    )


MAIL_QUOTA_USER = (
    "Сегодня вы уже запросили много писем. Следующее можно будет отправить завтра — "
    "а пока откройте ссылку или введите код из последнего письма."
)
MAIL_QUOTA_ADDRESS = (
    "На этот адрес сегодня уже отправлено много писем. Следующее можно будет отправить "
    "завтра — а пока откройте ссылку или введите код из последнего письма."
)
MAIL_FAILED = (
    "Не получилось отправить письмо: почтовый сервер сейчас не отвечает. "
    "Ваши данные сохранены — нажмите «Отправить письмо ещё раз» через минуту."
)
REGISTRATION_GONE = (
    "Регистрация устарела: данные хранятся не дольше двух суток. "
    f"Зарегистрируйтесь заново — нажмите «{BTN_REGISTER}»."
)


def registration_mail_problem(reason: str) -> str:
    """The summary could not be sent on: the reason, and the same question again."""
    return f"{reason}\n\nНажмите «{BTN_SUBMIT}» позже или исправьте e-mail."


# --- activation and codes --------------------------------------------------------------------


def activated(name: str) -> str:
    return (
        f"Учётная запись активирована, {esc(name)}! Вы вошли в личный кабинет. "
        "Выберите раздел в меню ниже."
    )


ACTIVATION_NEEDS_PASSWORD = (
    "Адрес подтверждён. Эту регистрацию начинали в другом Telegram-аккаунте, поэтому "
    "для входа нужен пароль.\n\n"
    "Введите пароль, который вы задали при регистрации. Сообщение с ним я сразу удалю."
)
ALREADY_ACTIVATED = (
    "Эта ссылка уже использована — учётная запись активирована. Войдите по e-mail и паролю."
)
ALREADY_ACTIVATED_SIGNED_IN = "Эта ссылка уже использована — учётная запись активирована."
TOKEN_UNKNOWN = (
    "Код не подошёл. Проверьте, что скопировали ссылку из письма целиком. Если письмо старое, "
    f"нажмите «{BTN_LOGIN}» (бот предложит отправить новое письмо) или «{BTN_FORGOT}»."
)
TOKEN_UNKNOWN_RETRY = (
    "Код не подошёл. Проверьте его по последнему письму и отправьте ещё раз: "
    "8 латинских букв и цифр, например <code>ACEF-HJ47</code>."
)
ACTIVATION_EXPIRED = (
    "Ссылка для активации устарела: она действует 24 часа. Нажмите "
    f"«{BTN_LOGIN}» и введите e-mail и пароль — бот предложит отправить новое письмо."
)
RESET_EXPIRED = (
    "Код для смены пароля устарел: он действует 24 часа. Нажмите "
    f"«{BTN_FORGOT}», чтобы получить новый."
)
RESET_USED = (
    "Этот код уже использован: пароль по нему уже изменён. Войдите с новым паролем "
    f"или нажмите «{BTN_FORGOT}», чтобы получить новый код."
)


def too_many_codes(until_local: datetime, minutes: int) -> str:
    return (
        "Слишком много неверных кодов. Ввод кодов временно закрыт — попробуйте снова после "
        f"{until_local:%H:%M} (через {plural(minutes, 'минуту', 'минуты', 'минут')}). "
        "Ссылку из письма можно будет открыть тогда же."
    )


# --- login and logout ------------------------------------------------------------------------

LOGIN_START = "<b>Вход в личный кабинет</b>\nВведите e-mail — логин личного кабинета."
ASK_LOGIN_PASSWORD = "Введите пароль. Сообщение с ним я сразу удалю из чата."
LOGIN_CAPTCHA = (
    "С этим e-mail было много неудачных попыток входа, поэтому перед вводом пароля нужна "
    "проверка. Введите текст с картинки (большие или маленькие буквы — неважно)."
)
WRONG_CREDENTIALS = (
    "Неверный e-mail или пароль.\n\n"
    f"Введите пароль ещё раз. Ошиблись в адресе — нажмите «{BTN_CHANGE_EMAIL}»."
)
NOT_ACTIVATED = (
    "Учётная запись ещё не активирована: откройте ссылку из письма, которое мы прислали "
    "при регистрации, или отправьте сюда код из него. Письма нет — нажмите «Отправить письмо "
    "ещё раз»."
)


def locked(until_local: datetime, minutes: int) -> str:
    return (
        "Слишком много неудачных попыток входа с этим e-mail. Вход временно закрыт — "
        f"попробуйте снова после {until_local:%H:%M} "
        f"(через {plural(minutes, 'минуту', 'минуты', 'минут')}).\n\n"
        f"Не помните пароль? Нажмите «{BTN_FORGOT}» — пришлём код, чтобы задать новый."
    )


def login_paused(seconds: int) -> str:
    return (
        "С этим e-mail было много неудачных попыток входа, поэтому попытки замедлены. "
        f"Введите пароль через {plural(seconds, 'секунду', 'секунды', 'секунд')}."
    )


def logged_in(name: str) -> str:
    return f"Здравствуйте, {esc(name)}! Вы вошли в личный кабинет. Выберите раздел в меню ниже."


def already_logged_in(name: str) -> str:
    return (
        f"Вы уже вошли как {esc(name)}. Чтобы войти под другой учётной записью "
        "или зарегистрировать новую, сначала выйдите: /logout"
    )


LOGGED_OUT = "Вы вышли из личного кабинета. Чтобы вернуться, нажмите «Войти»."
NOT_LOGGED_IN = "Вы не входили в личный кабинет — выходить не из чего."
LOGGED_OUT_BY_RESET = (
    "Пароль вашей учётной записи изменён, поэтому здесь выполнен выход. "
    "Если это были не вы — сразу восстановите пароль и напишите нам."
)

# --- password reset --------------------------------------------------------------------------

RESET_TITLE = "<b>Восстановление пароля</b>"
RESET_ASK_EMAIL = "Введите e-mail, который указывали при регистрации."
RESET_ASK_CAPTCHA = ASK_CAPTCHA
RESET_SENT = (
    "Если этот e-mail зарегистрирован, мы отправили на него письмо. "
    "Ошиблись в адресе — нажмите «« Назад»."
)
RESET_ASK_CODE = (
    "Введите код из письма (8 символов) или откройте ссылку из него. Код действует 24 часа."
)
RESET_MAIL_FAILED = (
    "Не получилось отправить письмо: почтовый сервер сейчас не отвечает. "
    "Попробуйте через минуту — введите e-mail ещё раз."
)


def reset_too_soon(seconds: int) -> str:
    return (
        "Письмо на этот адрес уже отправлялось меньше минуты назад. Новое можно запросить через "
        f"{plural(seconds, 'секунду', 'секунды', 'секунд')} — кнопкой «« Назад»."
    )


CODE_LOOKS_WRONG = (
    "Это не похоже на код из письма: он из 8 латинских букв и цифр, например "
    "<code>ACEF-HJ47</code>. Проверьте и отправьте ещё раз."
)
CODE_ACCEPTED = "Код подтверждён."
ASK_NEW_PASSWORD = f"Придумайте новый пароль: {PASSWORD_RULES}. Сообщение с паролем я сразу удалю."
ASK_NEW_PASSWORD_REPEAT = "Введите новый пароль ещё раз для проверки."


def password_reset_done(name: str) -> str:
    return (
        f"Пароль изменён, {esc(name)}. Вы вошли в личный кабинет; на других устройствах "
        "выполнен выход."
    )


# --- what each step waits for (answers to stickers, photos… at that step) -------------------

WAITING: dict[str, str] = {
    "Registration:name": "фамилию, имя и отчество текстом",
    "Registration:email": "адрес электронной почты текстом",
    "Registration:phone": f"номер телефона: кнопку «{BTN_SHARE_PHONE}» или номер текстом",
    "Registration:captcha": "текст с картинки",
    "Registration:password": "пароль текстом",
    "Registration:password_repeat": "тот же пароль ещё раз",
    "Registration:consent": f"ответ кнопкой «{BTN_CONSENT_YES}» или «{BTN_CONSENT_NO}»",
    "Registration:confirm": f"нажатия «{BTN_SUBMIT}» или исправления поля кнопкой",
    "Registration:activation": "код из письма (8 символов) — или откройте ссылку из письма",
    "Login:email": "e-mail — логин личного кабинета",
    "Login:captcha": "текст с картинки",
    "Login:password": "пароль текстом",
    "PasswordReset:email": "e-mail, который указывали при регистрации",
    "PasswordReset:captcha": "текст с картинки",
    "PasswordReset:code": "код из письма (8 символов) — или откройте ссылку из письма",
    "PasswordReset:password": "новый пароль текстом",
    "PasswordReset:password_repeat": "новый пароль ещё раз",
}


# --- letters ---------------------------------------------------------------------------------

_SIGNATURE_TEXT = f"—\nЛичный кабинет абонента {common.SUPPLIER}"
_SIGNATURE_HTML = f'<p style="color:#777">—<br>Личный кабинет абонента {common.SUPPLIER}</p>'


def _html_page(body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"></head>'
        f'<body style="font-family:Arial,sans-serif;font-size:15px">{body}{_SIGNATURE_HTML}'
        "</body></html>"
    )


def _button(link: str, caption: str) -> str:
    return (
        f'<p><a href="{esc(link)}" style="display:inline-block;padding:10px 18px;'
        f'background:#1f6fb2;color:#fff;text-decoration:none;border-radius:4px">{caption}</a></p>'
    )


def format_code(code: str) -> str:
    """«ACEFHJ47» → «ACEF-HJ47»: easier to read and type; the dash may be typed or not."""
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 else code


def _code_html(code: str) -> str:
    return (
        f'<p>Или отправьте боту этот код:<br><code style="font-size:20px;letter-spacing:2px">'
        f"{esc(format_code(code))}</code></p>"
    )


def activation_letter(name: str, link: str, code: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the letter that activates a new registration."""
    subject = f"Активация личного кабинета {common.SUPPLIER}"
    text = (
        f"Здравствуйте, {name}!\n\n"
        f"Вы зарегистрировались в личном кабинете {common.SUPPLIER} в Telegram.\n"
        f"Чтобы активировать учётную запись, откройте ссылку:\n{link}\n\n"
        f"Или отправьте боту этот код:\n{format_code(code)}\n\n"
        "Ссылка и код действуют 24 часа и срабатывают один раз.\n"
        "Если вы не регистрировались — просто удалите это письмо: без него учётная запись "
        "не появится.\n\n" + _SIGNATURE_TEXT
    )
    html = _html_page(
        f"<p>Здравствуйте, {esc(name)}!</p>"
        f"<p>Вы зарегистрировались в личном кабинете {common.SUPPLIER} в Telegram. "
        "Чтобы активировать учётную запись, нажмите кнопку:</p>"
        + _button(link, "Активировать учётную запись")
        + _code_html(code)
        + "<p>Ссылка и код действуют 24 часа и срабатывают один раз. "
        "Если вы не регистрировались — просто удалите это письмо: без него учётная запись "
        "не появится.</p>"
    )
    return subject, text, html


def already_registered_letter(name: str, link: str, code: str) -> tuple[str, str, str]:
    """To an address that already has a login: someone tried to register it again."""
    subject = f"Попытка повторной регистрации — {common.SUPPLIER}"
    text = (
        f"Здравствуйте, {name}!\n\n"
        f"Кто-то пытался зарегистрироваться в личном кабинете {common.SUPPLIER} "
        "с вашим адресом электронной почты. У вас уже есть учётная запись — "
        "вторая не создана, ваши данные не изменены.\n\n"
        "Если это были вы и вы забыли пароль, задайте новый по ссылке:\n"
        f"{link}\n\nИли отправьте боту этот код:\n{format_code(code)}\n\n"
        "Ссылка и код действуют 24 часа. Если это были не вы — просто удалите письмо.\n\n"
        + _SIGNATURE_TEXT
    )
    html = _html_page(
        f"<p>Здравствуйте, {esc(name)}!</p>"
        f"<p>Кто-то пытался зарегистрироваться в личном кабинете {common.SUPPLIER} с вашим "
        "адресом электронной почты. У вас уже есть учётная запись — вторая не создана, "
        "ваши данные не изменены.</p>"
        "<p>Если это были вы и вы забыли пароль, задайте новый:</p>"
        + _button(link, "Задать новый пароль")
        + _code_html(code)
        + "<p>Ссылка и код действуют 24 часа. Если это были не вы — просто удалите письмо.</p>"
    )
    return subject, text, html


def reset_letter(name: str, link: str, code: str) -> tuple[str, str, str]:
    subject = f"Восстановление пароля — {common.SUPPLIER}"
    text = (
        f"Здравствуйте, {name}!\n\n"
        "Вы запросили восстановление пароля личного кабинета. Чтобы задать новый пароль, "
        f"откройте ссылку:\n{link}\n\nИли отправьте боту этот код:\n{format_code(code)}\n\n"
        "Ссылка и код действуют 24 часа и срабатывают один раз. Если вы ничего не "
        "запрашивали — удалите письмо, пароль останется прежним.\n\n" + _SIGNATURE_TEXT
    )
    html = _html_page(
        f"<p>Здравствуйте, {esc(name)}!</p>"
        "<p>Вы запросили восстановление пароля личного кабинета.</p>"
        + _button(link, "Задать новый пароль")
        + _code_html(code)
        + "<p>Ссылка и код действуют 24 часа и срабатывают один раз. Если вы ничего не "
        "запрашивали — удалите письмо, пароль останется прежним.</p>"
    )
    return subject, text, html


def login_alert_letter(name: str, link: str, code: str) -> tuple[str, str, str]:
    """To the owner of a login that saw a burst of wrong passwords (no link, no code)."""
    subject = f"Неудачные попытки входа — {common.SUPPLIER}"
    lines = [
        f"Мы заметили много неудачных попыток войти в ваш личный кабинет {common.SUPPLIER} "
        "в Telegram с неверным паролем.",
        "Учётная запись не заблокирована, но следующие попытки входа замедлены и требуют "
        "проверки «я не робот». С неверным паролем войти нельзя.",
        "Если это были вы и не помните пароль — в боте нажмите «Войти», затем "
        f"«{BTN_FORGOT}». Если не вы и ваш пароль простой, смените его тем же способом.",
    ]
    text = f"Здравствуйте, {name}!\n\n" + "\n\n".join(lines) + "\n\n" + _SIGNATURE_TEXT
    html = _html_page(
        f"<p>Здравствуйте, {esc(name)}!</p>" + "".join(f"<p>{esc(line)}</p>" for line in lines)
    )
    return subject, text, html


def _logged_out(payload: dict[str, Any]) -> str:
    return LOGGED_OUT_BY_RESET


NOTIFICATIONS: dict[str, Callable[[dict[str, Any]], str]] = {"auth.logged_out": _logged_out}
