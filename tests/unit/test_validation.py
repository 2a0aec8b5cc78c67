"""Property tests of the validators of names, e-mails, phones and passwords."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.validation import (
    InvalidEmail,
    InvalidName,
    InvalidPhone,
    NameProblem,
    PasswordProblem,
    WeakPassword,
    check_password,
    format_phone,
    normalize_email,
    normalize_phone,
    parse_full_name,
    password_problems,
)

CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
cyr_word = st.text(alphabet=CYRILLIC, min_size=1, max_size=15)
name_word = st.one_of(cyr_word, st.builds(lambda a, b: f"{a}-{b}", cyr_word, cyr_word))


@given(st.lists(name_word, min_size=2, max_size=3))
def test_any_cyrillic_name_is_accepted_and_capitalised(words: list[str]) -> None:
    name = parse_full_name("  ".join(words))
    parts = [name.surname, name.name] + ([name.patronymic] if name.patronymic else [])
    assert [p.lower() for p in parts] == [w.lower() for w in words]
    for part in parts:
        for piece in part.split("-"):
            assert piece[0].isupper()
    assert parse_full_name(name.full) == name  # idempotent


@given(st.lists(name_word, min_size=2, max_size=3), st.sampled_from("0123456789@#$%_!?"))
def test_digits_and_symbols_are_rejected(words: list[str], junk: str) -> None:
    words[-1] += junk
    with pytest.raises(InvalidName) as caught:
        parse_full_name(" ".join(words))
    assert caught.value.reason is NameProblem.BAD_CHARACTERS


def test_name_examples() -> None:
    assert parse_full_name("семёнов пётр").patronymic is None
    name = parse_full_name("Римская-Корсакова Людмила Петровна")
    assert (name.surname, name.name, name.patronymic) == (
        "Римская-Корсакова",
        "Людмила",
        "Петровна",
    )
    assert parse_full_name("Мамедов Рашид Гейдар оглы").patronymic == "Гейдар Оглы"
    for bad, reason in [
        ("", NameProblem.EMPTY),
        ("Иванов", NameProblem.TOO_FEW_WORDS),
        ("А Б В Г Д", NameProblem.TOO_MANY_WORDS),
        ("Иванов -Иван", NameProblem.BAD_CHARACTERS),
        ("Иванов Иван--Петрович", NameProblem.BAD_CHARACTERS),
    ]:
        with pytest.raises(InvalidName) as caught:
            parse_full_name(bad)
        assert caught.value.reason is reason


local = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=20)
domain = st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=12)


@given(local, domain, st.sampled_from(["ru", "com", "org", "рф"]))
def test_emails_normalise_to_lower_case_idempotently(user: str, host: str, tld: str) -> None:
    address = f"{user}@{host}.{tld}"
    normalised = normalize_email(f"  {address.upper() if tld != 'рф' else address}  ")
    assert normalised == normalised.lower()
    assert normalised == address.lower()
    assert normalize_email(normalised) == normalised


@given(st.text(max_size=40).filter(lambda s: "@" not in s))
def test_text_without_at_is_not_an_email(text: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(text)


subscriber = st.integers(min_value=0, max_value=9_999_999).map(lambda n: f"{n:07d}")
mobile_code = st.sampled_from(["900", "912", "916", "926", "977", "999"])


@given(
    mobile_code,
    subscriber,
    st.sampled_from(
        [
            "8 {c} {a}-{b}-{d}",
            "+7 ({c}) {a} {b} {d}",
            "8{c}{a}{b}{d}",
            "7{c}{a}{b}{d}",
            "+7-{c}-{a}-{b}-{d}",
        ]
    ),
)
def test_russian_mobile_formats_give_one_e164(code: str, number: str, pattern: str) -> None:
    typed = pattern.format(c=code, a=number[:3], b=number[3:5], d=number[5:])
    e164 = normalize_phone(typed)
    assert e164 == f"+7{code}{number}"
    assert normalize_phone(format_phone(e164)) == e164


@given(mobile_code, subscriber)
def test_contact_numbers_without_plus(code: str, number: str) -> None:
    assert normalize_phone(f"7{code}{number}", from_contact=True) == f"+7{code}{number}"


@given(st.text(alphabet=string.ascii_letters + " -()", max_size=20))
def test_no_digits_is_not_a_phone(text: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(text)


def test_short_numbers_are_invalid() -> None:
    for bad in ["123", "8 999 123", "+7 000 000-00-00"]:
        with pytest.raises(InvalidPhone):
            normalize_phone(bad)


password_chars = string.ascii_letters + string.digits + "!#$%&*+-.:;=?@^_~"


@given(st.text(alphabet=password_chars, min_size=0, max_size=40))
def test_password_policy_matches_the_manual(password: str) -> None:
    problems = password_problems(password)
    good = (
        len(password) >= 8
        and any(c.islower() for c in password)
        and any(c.isupper() for c in password)
        and any(c.isdigit() for c in password)
    )
    assert (not problems) == good
    if not good:
        with pytest.raises(WeakPassword):
            check_password(password)


@given(st.text(alphabet="абвгдАБВГД ", min_size=1, max_size=5))
def test_cyrillic_or_spaces_in_password_are_named(extra: str) -> None:
    problems = password_problems("Abcdefg1" + extra)
    assert problems == [PasswordProblem.BAD_CHARACTERS]


def test_password_examples() -> None:
    assert password_problems("Demo2026pass") == []
    assert set(password_problems("short")) == {
        PasswordProblem.TOO_SHORT,
        PasswordProblem.NO_UPPER,
        PasswordProblem.NO_DIGIT,
    }
    assert password_problems("A1" + "a" * 200) == [PasswordProblem.TOO_LONG]
