"""Free text outside a dialog → the section it names."""

from __future__ import annotations

import pytest

from services.intents import Topic, guess_topic


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Сколько я должен?", Topic.BILLS),
        ("пришлите квитанцию за октябрь", Topic.BILLS),
        ("Хочу передать показания", Topic.READINGS),
        ("показания счётчика за ноябрь", Topic.READINGS),  # not the bill's «счёт»
        ("СЧЁТЧИК сломался", Topic.READINGS),
        ("как привязать лицевой счёт", Topic.CONTRACTS),  # not the bill's «счёт»
        ("нужен договор на дачу", Topic.CONTRACTS),
        ("как оплатить картой", Topic.PAYMENT),
        ("забыл пароль", Topic.SETTINGS),
        ("отключите смс", Topic.SETTINGS),
        ("у меня вопрос", Topic.APPEALS),
        ("хочу пожаловаться на соседа", Topic.APPEALS),
        ("соедините с оператором", Topic.APPEALS),
        ("Спасибо!", Topic.THANKS),
        ("Добрый день", Topic.GREETING),
        ("привет", Topic.GREETING),
        ("12345", Topic.READINGS),  # a reading typed without opening the section
        ("12 345,6", Topic.READINGS),
        ("4500; 1200", Topic.READINGS),
    ],
)
def test_the_words_point_to_a_section(text: str, topic: Topic) -> None:
    assert guess_topic(text) is topic


@pytest.mark.parametrize(
    "text",
    [
        "какой-то текст <b>",
        "ivan@example.ru",
        "Петрова Анна",
        "перерасчёт",
        "пожалуйста",
        "1-й подъезд",
    ],
)
def test_other_text_points_nowhere(text: str) -> None:
    """Stems match at the start of a word only: «перерасчёт» is not «счёт»."""
    assert guess_topic(text) is None
