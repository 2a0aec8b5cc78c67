"""Validators and normalisers of what subscribers type: full name, e-mail, phone, password.

Used by registration and by the profile settings; each raises a `DomainError` subclass whose
`reason` tells the handler which explanation to show.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from services.errors import DomainError

NAME_PART_MAX = 100
EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 128
DEFAULT_REGION = "RU"

# A word of a name: Cyrillic (with «ё») or Latin letters, joined by single hyphens or apostrophes.
_LETTER = "[А-Яа-яЁёІіЇїЄєЎўҐґA-Za-z]"
_NAME_WORD = re.compile(rf"{_LETTER}+(?:[-'’]{_LETTER}+)*")
_PASSWORD_ALLOWED = re.compile(r"[\x21-\x7e]+")  # printable ASCII without space


class NameProblem(enum.StrEnum):
    EMPTY = "empty"
    TOO_FEW_WORDS = "too_few_words"
    TOO_MANY_WORDS = "too_many_words"
    BAD_CHARACTERS = "bad_characters"
    TOO_LONG = "too_long"


class InvalidName(DomainError):
    def __init__(self, reason: NameProblem) -> None:
        super().__init__(f"invalid name: {reason}")
        self.reason = reason


class InvalidEmail(DomainError):
    """Not an e-mail address; `reason` is email-validator's English explanation (for logs)."""

    def __init__(self, reason: str) -> None:
        super().__init__("invalid e-mail")
        self.reason = reason


class PhoneProblem(enum.StrEnum):
    NOT_A_NUMBER = "not_a_number"
    INVALID = "invalid"


class InvalidPhone(DomainError):
    def __init__(self, reason: PhoneProblem) -> None:
        super().__init__(f"invalid phone: {reason}")
        self.reason = reason


class PasswordProblem(enum.StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    NO_LOWER = "no_lower"
    NO_UPPER = "no_upper"
    NO_DIGIT = "no_digit"
    BAD_CHARACTERS = "bad_characters"


class WeakPassword(DomainError):
    def __init__(self, problems: list[PasswordProblem]) -> None:
        super().__init__("weak password: " + ", ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class FullName:
    surname: str
    name: str
    patronymic: str | None

    @property
    def full(self) -> str:
        return " ".join(p for p in (self.surname, self.name, self.patronymic) if p)


def _clean_spaces(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _capitalised(word: str) -> str:
    """«иванов-петров» → «Иванов-Петров»; a word typed in mixed case (McLeod) is kept."""
    pieces = re.split(r"([-'’])", word)
    result = []
    for piece in pieces:
        if piece.islower() or piece.isupper():
            piece = piece[:1].upper() + piece[1:].lower()
        result.append(piece)
    return "".join(result)


def normalize_name_part(text: str) -> str:
    """One word of a name (surname, first name or patronymic), capitalised."""
    cleaned = _clean_spaces(text.replace("‐", "-").replace("–", "-"))
    if not cleaned:
        raise InvalidName(NameProblem.EMPTY)
    words = cleaned.split(" ")
    if not all(_NAME_WORD.fullmatch(word) for word in words):
        raise InvalidName(NameProblem.BAD_CHARACTERS)
    result = " ".join(_capitalised(w) for w in words)
    if len(result) > NAME_PART_MAX:
        raise InvalidName(NameProblem.TOO_LONG)
    return result


def parse_full_name(text: str) -> FullName:
    """«Фамилия Имя [Отчество]»: hyphenated words and «ё» welcome, digits and symbols not.

    A patronymic may take two words («Гейдар оглы»)."""
    cleaned = _clean_spaces(text.replace("‐", "-").replace("–", "-"))
    if not cleaned:
        raise InvalidName(NameProblem.EMPTY)
    words = cleaned.split(" ")
    parts = [normalize_name_part(word) for word in words]
    if len(parts) < 2:
        raise InvalidName(NameProblem.TOO_FEW_WORDS)
    if len(parts) > 4:
        raise InvalidName(NameProblem.TOO_MANY_WORDS)
    patronymic = " ".join(parts[2:]) or None
    if patronymic is not None and len(patronymic) > NAME_PART_MAX:
        raise InvalidName(NameProblem.TOO_LONG)
    return FullName(surname=parts[0], name=parts[1], patronymic=patronymic)


def normalize_email(text: str) -> str:
    """The login form of an address: validated without network lookups, lower case."""
    candidate = text.strip()
    if not candidate:
        raise InvalidEmail("empty")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    normalized = result.normalized.lower()
    if len(normalized) > EMAIL_MAX:
        raise InvalidEmail("too long")
    return normalized


def normalize_phone(text: str, *, region: str = DEFAULT_REGION, from_contact: bool = False) -> str:
    """E.164 («+79991234567») from «8 999 123-45-67», «+7 (999) 123 45 67», «79991234567».

    A shared Telegram contact carries an international number, often without the «+»."""
    candidate = text.strip()
    if from_contact and candidate and not candidate.startswith("+"):
        candidate = "+" + candidate
    if not any(ch.isdigit() for ch in candidate) or len(candidate) > 40:
        raise InvalidPhone(PhoneProblem.NOT_A_NUMBER)
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(PhoneProblem.NOT_A_NUMBER) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(PhoneProblem.INVALID)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """«+79991234567» → «+7 999 123-45-67» for showing back to the subscriber."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def password_problems(password: str) -> list[PasswordProblem]:
    """What the manual's policy finds wrong: ≥ 8 characters, Latin lower and upper case, digits."""
    problems = []
    if len(password) < PASSWORD_MIN:
        problems.append(PasswordProblem.TOO_SHORT)
    if len(password) > PASSWORD_MAX:
        problems.append(PasswordProblem.TOO_LONG)
    if password and not _PASSWORD_ALLOWED.fullmatch(password):
        problems.append(PasswordProblem.BAD_CHARACTERS)
    if not re.search(r"[a-z]", password):
        problems.append(PasswordProblem.NO_LOWER)
    if not re.search(r"[A-Z]", password):
        problems.append(PasswordProblem.NO_UPPER)
    if not re.search(r"[0-9]", password):
        problems.append(PasswordProblem.NO_DIGIT)
    return problems


def check_password(password: str) -> None:
    problems = password_problems(password)
    if problems:
        raise WeakPassword(problems)


__all__ = [
    "FullName",
    "InvalidEmail",
    "InvalidName",
    "InvalidPhone",
    "NameProblem",
    "PasswordProblem",
    "PhoneProblem",
    "WeakPassword",
    "check_password",
    "format_phone",
    "normalize_email",
    "normalize_name_part",
    "normalize_phone",
    "parse_full_name",
    "password_problems",
]
