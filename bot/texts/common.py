"""Texts shared by every section: menu, help, cancel, errors, hints."""

from __future__ import annotations

from bot.texts.fmt import esc
from services.intents import Topic

SUPPLIER = "Металлэнергофинанс"

# Main menu, mirroring the web cabinet.
MENU_CONTRACTS = "📄 Договоры"
MENU_BILLS = "🧾 Счета"
MENU_READINGS = "🔢 Показания"
MENU_PAYMENT = "💳 Оплата"
MENU_APPEALS = "✉️ Общение"
MENU_SETTINGS = "⚙️ Настройки"
MENU_SECTIONS = (
    MENU_CONTRACTS,
    MENU_BILLS,
    MENU_READINGS,
    MENU_PAYMENT,
    MENU_APPEALS,
    MENU_SETTINGS,
)

BTN_CANCEL = "Отмена"
BTN_BACK = "« Назад"
BTN_MENU = "Главное меню"
BTN_YES = "Да"
BTN_NO = "Нет"
BTN_CONFIRM = "Подтвердить"
BTN_SAVE = "Сохранить"
BTN_LOGIN = "Войти"
BTN_REGISTER = "Зарегистрироваться"

COMMAND_DESCRIPTIONS = {
    "start": "Начать работу с личным кабинетом",
    "menu": "Главное меню",
    "help": "Что умеет бот",
    "cancel": "Прервать текущее действие",
    "login": "Войти в личный кабинет",
    "register": "Зарегистрироваться",
    "logout": "Выйти из личного кабинета",
}

WELCOME_GUEST = (
    f"Здравствуйте! Это личный кабинет абонента <b>{SUPPLIER}</b> в Telegram.\n\n"
    "Здесь можно подключить лицевой счёт, передать показания счётчиков, получить "
    "квитанцию, оплатить счёт и написать специалистам.\n\n"
    "Войдите по e-mail и паролю личного кабинета или зарегистрируйтесь."
)


def welcome_back(name: str) -> str:
    return f"Здравствуйте, {esc(name)}! Выберите раздел в меню ниже."


MAIN_MENU = "Главное меню. Выберите раздел:"

HELP = (
    f"<b>Личный кабинет {SUPPLIER}</b>\n\n"
    "• <b>Договоры</b> — подключить лицевой счёт, выбрать текущий, подать заявку на договор.\n"
    "• <b>Счета</b> — счета за последние 6 месяцев, расчёт по счётчикам и квитанции в PDF "
    "с QR-кодом для оплаты.\n"
    "• <b>Показания</b> — передать показания по каждому счётчику и посмотреть историю.\n"
    "• <b>Оплата</b> — оплатить счёт или внести аванс картой или через СБП в защищённой форме "
    "ЮKassa, история платежей.\n"
    "• <b>Общение</b> — обращения к специалистам с фото и документами, их ответы, "
    "«Мои обращения».\n"
    "• <b>Настройки</b> — профиль, подписки на уведомления, смена пароля, выход, "
    "удаление персональных данных.\n\n"
    "Команды: /menu — главное меню, /cancel — прервать действие, /help — эта справка."
)

CANCELLED = "Действие отменено. Ничего не сохранено."
NOTHING_TO_CANCEL = "Отменять нечего — вы в главном меню."
UNKNOWN_INPUT = (
    "Не понял сообщение. Выберите раздел в меню ниже или отправьте /help. "
    f"Вопрос специалистам можно задать в разделе «{MENU_APPEALS}»."
)
GUEST_UNKNOWN_INPUT = "Не понял сообщение. Чтобы начать, войдите или зарегистрируйтесь."
_GUEST_START = "Чтобы начать, войдите или зарегистрируйтесь."
# Free text outside any dialog that names something a section does (services.intents): what
# the section is for, and its button.
_TOPIC_SECTIONS: dict[Topic, tuple[str, str]] = {
    Topic.READINGS: ("передать показания счётчиков", MENU_READINGS),
    Topic.CONTRACTS: ("подключить лицевой счёт или подать заявку на договор", MENU_CONTRACTS),
    Topic.PAYMENT: ("оплатить счёт", MENU_PAYMENT),
    Topic.BILLS: ("посмотреть счета и сумму к оплате или получить квитанцию", MENU_BILLS),
    Topic.SETTINGS: ("изменить профиль, пароль или подписки на уведомления", MENU_SETTINGS),
    Topic.APPEALS: ("задать вопрос специалистам", MENU_APPEALS),
}


def unknown_input(topic: Topic | None, *, logged_in: bool) -> str:
    """The answer to text typed outside any dialog: the section it points to, if any."""
    if topic in _TOPIC_SECTIONS:
        action, button = _TOPIC_SECTIONS[topic]
        if logged_in:
            return f"Чтобы {action}, нажмите «{button}» в меню ниже."
        return f"Чтобы {action}, сначала войдите в личный кабинет или зарегистрируйтесь."
    if topic is Topic.THANKS:
        return "Пожалуйста! " + (
            "Если нужно что-то ещё, выберите раздел в меню ниже." if logged_in else _GUEST_START
        )
    if topic is Topic.GREETING:
        return "Здравствуйте! " + (
            "Выберите раздел в меню ниже или отправьте /help." if logged_in else _GUEST_START
        )
    return UNKNOWN_INPUT if logged_in else GUEST_UNKNOWN_INPUT


# What a message of another kind gets outside any dialog, by aiogram's content type; the
# hint of the step («Сейчас я жду …») answers it inside a dialog.
_FILES = (
    "Файлы я принимаю внутри разделов: фото счётчика — при передаче показаний "
    f"(«{MENU_READINGS}»), документы — в заявке на договор («{MENU_CONTRACTS}») или в "
    f"обращении к специалистам («{MENU_APPEALS}»)."
)
_VOICE = "Голосовые и видеосообщения я не прослушиваю — напишите, пожалуйста, текстом."
UNEXPECTED_CONTENT: dict[str, str] = {
    "photo": _FILES,
    "document": _FILES,
    "video": _FILES,
    "animation": _FILES,
    "audio": _VOICE,
    "voice": _VOICE,
    "video_note": _VOICE,
    "sticker": "Спасибо за стикер! Ответить на него я не умею.",
    "contact": "Номер телефона нужен только при регистрации — отдельно присылать его не нужно.",
    "location": "Геолокация мне не нужна: адрес объекта указывается в заявке на договор.",
    "venue": "Геолокация мне не нужна: адрес объекта указывается в заявке на договор.",
    "poll": "Опросы я не обрабатываю.",
}
UNEXPECTED_OTHER = "Такие сообщения я не обрабатываю."
NEXT_STEP_MEMBER = "Выберите раздел в меню ниже или отправьте /help."
NEXT_STEP_GUEST = "Чтобы начать, войдите или зарегистрируйтесь."
EDITED_IGNORED = (
    "Исправленные сообщения я не перечитываю. Если нужно исправить ответ, отправьте его заново."
)


def unexpected_content(content_type: str, *, logged_in: bool) -> str:
    """The answer to a non-text message outside any dialog: what it was, and what to do."""
    what = UNEXPECTED_CONTENT.get(content_type, UNEXPECTED_OTHER)
    return f"{what} {NEXT_STEP_MEMBER if logged_in else NEXT_STEP_GUEST}"


UNKNOWN_INPUT_IN_DIALOG = (
    "Сейчас я жду ответ на вопрос выше. Ответьте на него или нажмите «Отмена»."
)


def waiting_for(hint: str | None) -> str:
    """The answer to an unexpected message inside a dialog: what the step waits for."""
    if hint is None:
        return UNKNOWN_INPUT_IN_DIALOG
    return f"Сейчас я жду {hint}. Ответьте на вопрос выше или нажмите «Отмена»."


LOGIN_REQUIRED = "Этот раздел доступен после входа в личный кабинет. Войдите или зарегистрируйтесь."
ACCOUNT_REQUIRED = (
    "Сначала подключите лицевой счёт: «📄 Договоры» → «Подключить бытового абонента»."
)


def chosen(question: str, choice: str) -> str:
    """A question whose buttons were pressed, kept in the chat with the answer under it."""
    return f"{question}\n\n✔️ {choice}"


def section_not_ready(section: str) -> str:
    return f"Раздел «{section}» скоро появится в боте. Пока им можно пользоваться на сайте личного кабинета."


def current_account_header(number: str, address: str) -> str:
    return f"Лицевой счёт <b>№ {number}</b>, {address}"


ERROR_APOLOGY = (
    "Извините, что-то пошло не так. Мы уже разбираемся. "
    "Попробуйте ещё раз чуть позже или вернитесь в /menu."
)
STALE_BUTTON = "Эта кнопка устарела. Откройте раздел заново из меню."
BUTTON_FOREIGN = "Эта кнопка не для вас."
UNSUPPORTED_CONTENT = (
    "Такой тип сообщения здесь не поддерживается. Отправьте текст или нажмите кнопку."
)
FILE_TOO_BIG = "Файл слишком большой: максимум {limit} МБ. Сожмите его или отправьте фото."
