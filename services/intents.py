"""What a message typed outside any dialog is probably about, by the words in it.

A person who types «сколько я должен?» or «хочу передать показания» instead of pressing a
menu button is told which section does that, rather than only «не понял». The answers are the
menu's sections (and a greeting or thanks); the handler words the hint. Only word stems are
matched, in order, so «показания счётчика» is about readings, not bills.
"""

from __future__ import annotations

import enum
import re


class Topic(enum.StrEnum):
    READINGS = "readings"
    CONTRACTS = "contracts"
    PAYMENT = "payment"
    BILLS = "bills"
    SETTINGS = "settings"
    APPEALS = "appeals"
    THANKS = "thanks"
    GREETING = "greeting"


# In order: the first topic with a stem at the start of a word wins («счетчик» before «счет»,
# «лицевой счет» before «счет»). Text is lower-cased with «ё» read as «е».
_STEMS: tuple[tuple[Topic, tuple[str, ...]], ...] = (
    (Topic.READINGS, ("показани", "счетчик", "прибор", "передать показ")),
    (Topic.CONTRACTS, ("лицев", "договор", "подключ", "заявк")),
    (Topic.PAYMENT, ("оплат", "заплат", "платеж", "плачу", "платить")),
    (Topic.BILLS, ("квитанц", "счет", "долг", "задолж", "должен", "должна", "начисл", "тариф")),
    (Topic.SETTINGS, ("парол", "профил", "подписк", "уведомлен", "напомин", "рассылк", "смс")),
    (Topic.APPEALS, ("вопрос", "жалоб", "пожалов", "обращени", "специалист", "оператор", "сотрудник",
                     "помог", "помощ", "связат")),
    (Topic.THANKS, ("спасибо", "благодар")),
    (Topic.GREETING, ("привет", "здравствуй", "добрый день", "добрый вечер", "доброе утро")),
)  # fmt: skip
_PATTERNS = tuple(
    (topic, re.compile(r"(?<![а-яa-z])(?:" + "|".join(map(re.escape, stems)) + ")"))
    for topic, stems in _STEMS
)


# A bare number typed in the main menu is most often a meter reading sent without opening
# the section («12345», «12 345,6», «4500; 1200»).
_NUMBERS = re.compile(r"[0-9\s.,;]*[0-9][0-9\s.,;]*")


def guess_topic(text: str) -> Topic | None:
    """The topic of free text, or None when no known word is in it."""
    if _NUMBERS.fullmatch(text.strip()):
        return Topic.READINGS
    words = text.lower().replace("ё", "е")
    for topic, pattern in _PATTERNS:
        if pattern.search(words):
            return topic
    return None
