"""Property tests of what people and operators type and send: surnames, meter serials,
addresses, uploaded files, e-mail tokens, export periods, and the log redaction.

Each expected value is derived from the rule as the README or the manual states it, not from
the implementation's regular expressions; tests that draw both valid and invalid input count
both outcomes, so a generator that never reaches one branch fails instead of passing silently."""

from __future__ import annotations

import base64
import io
import string
import unicodedata
from collections import Counter
from collections.abc import Callable
from datetime import date

import phonenumbers
import pytest
from fpdf import FPDF
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.cli.export_readings import parse_period
from bot.logs import redact
from services import accounts, contracts
from services.auth import looks_like_token
from services.files import detect_type
from services.validation import InvalidEmail, normalize_email

LETTERS = (
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ" + string.ascii_letters
)
SPACES = " \t\n\u00a0\u2009\u3000"


def both_outcomes(
    strategy: st.SearchStrategy[str], check: Callable[[str], str], *, at_least: int = 15
) -> None:
    """Runs `check` (which returns "accepted" or "refused") on `strategy`'s examples and
    fails unless each outcome was checked `at_least` times. Derandomized: how many of each a
    random run draws varies, and a count that passes only most of the time is a flaky test."""
    outcomes: Counter[str] = Counter()

    @settings(derandomize=True, database=None, max_examples=200)
    @given(strategy)
    def run(text: str) -> None:
        outcomes[check(text)] += 1

    run()
    assert outcomes["accepted"] >= at_least and outcomes["refused"] >= at_least, outcomes


def spaced(words: st.SearchStrategy[list[str]]) -> st.SearchStrategy[str]:
    """The words joined and padded by runs of any whitespace a keyboard or a paste gives."""
    gap = st.text(alphabet=SPACES, min_size=1, max_size=3)
    pad = st.text(alphabet=SPACES, max_size=3)
    return st.builds(
        lambda words, gaps, head, tail: (
            head + "".join(w + g for w, g in zip(words, gaps, strict=False)) + words[-1] + tail
        ),
        words,
        st.lists(gap, min_size=10, max_size=10),
        pad,
        pad,
    )


# --- surnames ----------------------------------------------------------------------------------

surname_word = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(LETTERS),
    st.text(alphabet=LETTERS + "-'", max_size=15),
)


@given(spaced(st.lists(surname_word, min_size=1, max_size=3)))
def test_a_surname_keeps_its_letters_with_single_spaces(typed: str) -> None:
    words = typed.split()
    if len(" ".join(words)) < 2:  # one letter alone is not a surname
        with pytest.raises(accounts.BadSurname):
            accounts.normalise_surname(typed)
        return
    surname = accounts.normalise_surname(typed)
    assert surname == " ".join(words)
    assert accounts.normalise_surname(surname) == surname


@given(surname_word, st.sampled_from("0123456789@#$%_!?.,;:()/\\«»№"), st.integers(0, 20))
def test_a_surname_with_a_digit_or_a_symbol_is_refused(word: str, junk: str, at: int) -> None:
    at = min(at, len(word))
    with pytest.raises(accounts.BadSurname):
        accounts.normalise_surname(word[:at] + junk + word[at:])


def test_any_text_is_a_surname_exactly_when_the_rule_says_so() -> None:
    """Starts with a letter, then letters, spaces, hyphens, apostrophes; 2–100 characters."""

    def check(text: str) -> str:
        collapsed = " ".join(text.split())
        valid = (
            2 <= len(collapsed) <= 100
            and collapsed[0] in LETTERS
            and all(c in LETTERS or c in " -'" for c in collapsed)
        )
        try:
            surname = accounts.normalise_surname(text)
        except accounts.BadSurname:
            assert not valid, text
            return "refused"
        assert valid, text
        assert surname == collapsed
        return "accepted"

    both_outcomes(
        st.one_of(
            spaced(st.lists(surname_word, min_size=1, max_size=3)),
            st.text(alphabet=LETTERS[:5] + "-' 1.", max_size=8),
            st.text(max_size=20),
            st.text(alphabet=LETTERS, min_size=95, max_size=105),
        ),
        check,
    )


# --- meter serial numbers ------------------------------------------------------------------------

serial = st.text(alphabet=string.ascii_letters + string.digits + "-/.АБВ", min_size=1, max_size=40)


@given(serial, st.text(alphabet=SPACES, max_size=3), st.text(alphabet=SPACES, max_size=3))
def test_a_serial_number_is_taken_without_the_surrounding_spaces(
    number: str, head: str, tail: str
) -> None:
    assert accounts.normalise_serial(head + number + tail) == number


@given(serial, serial, st.sampled_from(SPACES))
def test_a_serial_number_is_one_word(first: str, second: str, space: str) -> None:
    with pytest.raises(accounts.BadSerial):
        accounts.normalise_serial(first + space + second)


def test_any_text_is_a_serial_exactly_when_it_is_one_word_of_1_to_40_characters() -> None:
    def check(text: str) -> str:
        words = text.split()
        valid = len(words) == 1 and len(words[0]) <= 40
        try:
            number = accounts.normalise_serial(text)
        except accounts.BadSerial:
            assert not valid, text
            return "refused"
        assert valid, text
        assert number == words[0]
        return "accepted"

    both_outcomes(
        st.one_of(serial, st.text(alphabet="ab 1\t", max_size=6), st.text(max_size=50)), check
    )


# --- addresses of contract applications -----------------------------------------------------------


def test_any_text_is_an_address_exactly_when_it_has_5_to_300_characters_once_spaces_collapse() -> (
    None
):
    def check(text: str) -> str:
        # Control characters separate words; bidi and other invisible format characters go.
        shown = "".join(
            " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
            for c in text
            if unicodedata.category(c) not in ("Cf", "Cs", "Co", "Cn")
        )
        try:
            address = contracts.clean_address(text)
        except contracts.BadAddress:
            words = shown.split()
            length = sum(map(len, words)) + len(words) - 1  # one space between words
            assert not 5 <= length <= 300, text
            return "refused"
        # Nothing but whitespace and invisible characters changed: the same visible characters
        # in the same order, words separated by exactly one ordinary space, no padding.
        assert [c for c in address if c != " "] == [c for c in shown if not c.isspace()]
        assert address == address.strip() and "  " not in address
        assert all(c == " " or not c.isspace() for c in address)
        assert 5 <= len(address) <= 300
        assert contracts.clean_address(address) == address
        return "accepted"

    words = st.lists(st.text(alphabet=LETTERS + "0123456789.,/-№", min_size=1, max_size=12))
    both_outcomes(
        st.one_of(
            spaced(words.filter(bool)),
            st.text(max_size=8),
            spaced(st.lists(st.text(alphabet="д", min_size=40, max_size=60), min_size=5)),
        ),
        check,
    )


@given(st.text(alphabet=LETTERS + ".,", min_size=301, max_size=400))
def test_an_address_over_300_characters_is_refused(text: str) -> None:
    with pytest.raises(contracts.BadAddress):
        contracts.clean_address(text)


# --- uploaded files: the type comes from the content -----------------------------------------------


def _png(width: int, height: int, colour: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (colour, 255 - colour, 0)).save(out, "PNG")
    return out.getvalue()


def _jpeg(width: int, height: int, colour: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (colour, 0, 255 - colour)).save(out, "JPEG")
    return out.getvalue()


def _pdf(width: int, height: int, colour: int) -> bytes:
    pdf = FPDF(unit="pt", format=(width + 10, height + 10))
    pdf.add_page()
    pdf.set_fill_color(colour, colour, colour)
    pdf.rect(5, 5, width, height, style="F")
    return bytes(pdf.output())


def _heic(width: int, height: int, colour: int) -> bytes:
    """An ISO-BMFF file as an iPhone writes it: a `ftyp` box with a HEIF brand first."""
    brand = [b"heic", b"heix", b"mif1", b"msf1"][colour % 4]
    ftyp = b"ftyp" + brand + b"\0\0\0\0" + b"mif1heic"
    return (len(ftyp) + 4).to_bytes(4, "big") + ftyp + bytes([colour]) * (width + height)


MAKERS = {"png": _png, "jpg": _jpeg, "pdf": _pdf, "heic": _heic}
MIME = {"png": "image/png", "jpg": "image/jpeg", "pdf": "application/pdf", "heic": "image/heic"}


@given(
    st.sampled_from(sorted(MAKERS)),
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 255),
)
def test_a_real_file_is_known_by_its_content(
    kind: str, width: int, height: int, colour: int
) -> None:
    detected = detect_type(MAKERS[kind](width, height, colour))
    assert detected is not None
    assert (detected.extension, detected.mime_type) == (kind, MIME[kind])


# What files of these formats start with, from their specifications.
MAGIC = (b"%PDF-", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


@given(st.binary(max_size=64))
def test_other_bytes_are_not_taken_for_a_photo_or_a_scan(data: bytes) -> None:
    heif = data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1")
    detected = detect_type(data)
    assert (detected is not None) == (data.startswith(MAGIC) or heif)


@given(st.sampled_from(sorted(MAKERS)), st.integers(0, 7))
def test_a_cut_off_file_head_is_not_enough(kind: str, keep: int) -> None:
    head = MAKERS[kind](2, 2, 1)
    signature_length = {"pdf": 5, "jpg": 3, "png": 8, "heic": 12}[kind]
    assert detect_type(head[: min(keep, signature_length - 1)]) is None


# --- logs never carry an e-mail or a phone number -------------------------------------------------

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~."


def _accepted_email(local: str, host: str, tld: str) -> str | None:
    try:
        normalize_email(f"{local}@{host}.{tld}")
    except InvalidEmail:
        return None
    return f"{local}@{host}.{tld}"


emails = st.builds(
    _accepted_email,
    st.text(alphabet=ATEXT + "иван", min_size=1, max_size=20),
    st.text(alphabet=string.ascii_lowercase + string.digits + "-почта", min_size=1, max_size=12),
    st.sampled_from(["ru", "com", "рф", "co.uk"]),
).filter(bool)

RUSSIAN_FORMATS = [
    "8 {c} {a}-{b}-{d}",
    "+7 ({c}) {a}-{b}-{d}",
    "8{c}{a}{b}{d}",
    "+7{c}{a}{b}{d}",
    "7{c}{a}{b}{d}",
    "+7-{c}-{a}-{b}-{d}",
    "8 ({c}) {a} {b} {d}",
]
russian_phones = st.builds(
    lambda pattern, code, n: pattern.format(c=code, a=n[:3], b=n[3:5], d=n[5:]),
    st.sampled_from(RUSSIAN_FORMATS),
    st.sampled_from(["900", "912", "916", "926", "977", "999", "351"]),
    st.integers(0, 9_999_999).map(lambda n: f"{n:07d}"),
)


def _foreign(region: str, style: int) -> str:
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert number is not None
    fmt = (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, fmt[style])


# Neighbours' numbers the registration accepts too (normalize_phone takes any valid number).
foreign_phones = st.builds(
    _foreign,
    st.sampled_from(["BY", "KZ", "UA", "UZ", "AM", "GE", "TJ", "KG", "AZ", "DE", "TR", "US"]),
    st.integers(0, 1),
)


@given(
    st.one_of(emails, russian_phones, foreign_phones),
    st.text(max_size=30),
    st.text(max_size=30),
    st.sampled_from([" ", ": ", " = ", " (", "\n", ", "]),
)
def test_no_email_or_phone_survives_redaction_whatever_the_text(
    secret: str, before: str, after: str, gap: str
) -> None:
    text = before + gap + secret + gap[::-1] + after
    clean = redact(text)
    # The secret is gone, and so is every piece of it longer than 3 characters that the
    # surrounding text did not bring itself (the local part of an address, the digits of a number).
    pieces = {secret, *secret.replace("@", " ").replace("+", " ").split()}
    for piece in (p for p in pieces if len(p) > 3):
        assert clean.count(piece) <= (before + " " + after).count(piece), (piece, clean)


@given(
    st.text(alphabet=string.ascii_letters + string.digits + " _-:=/+", max_size=40).filter(
        lambda text: sum(c.isdigit() for c in text) < 7  # no phone number is that short
    )
)
def test_text_without_an_address_or_a_phone_is_left_as_it_is(text: str) -> None:
    assert redact(text) == text


# --- e-mail tokens (activation and password reset links) --------------------------------------------

URLSAFE = string.ascii_letters + string.digits + "-_"
tokens = st.binary(min_size=24, max_size=24).map(
    lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")
)


@given(tokens, st.text(alphabet=SPACES, max_size=3), st.text(alphabet=SPACES, max_size=3))
def test_an_issued_token_is_recognised_even_padded(token: str, head: str, tail: str) -> None:
    assert looks_like_token(head + token + tail)


def test_any_text_looks_like_a_token_exactly_when_it_is_32_url_safe_characters() -> None:
    def check(text: str) -> str:
        core = text.strip()
        valid = len(core) == 32 and all(c in URLSAFE for c in core)
        assert looks_like_token(text) == valid, text
        return "accepted" if valid else "refused"

    both_outcomes(
        st.one_of(
            tokens,
            st.text(alphabet=URLSAFE + "=+/ ", min_size=30, max_size=34),
            st.text(max_size=40),
        ),
        check,
    )


# --- the export period ----------------------------------------------------------------------------


@given(
    st.integers(1, 9999),
    st.integers(1, 12),
    st.booleans(),
    st.text(alphabet=" \t", max_size=2),
)
def test_a_period_is_the_first_day_of_its_month(
    year: int, month: int, padded: bool, space: str
) -> None:
    typed = (
        f"{space}{year:04d}-{month:02d}{space}" if padded else f"{space}{year:04d}-{month}{space}"
    )
    assert parse_period(typed) == date(year, month, 1)


def test_any_text_is_a_period_exactly_when_it_names_a_month() -> None:
    def check(text: str) -> str:
        year, _, month = text.strip().partition("-")
        valid = (
            len(year) == 4
            and year.isdecimal()
            and month.isdecimal()
            and 1 <= len(month) <= 2
            and int(year) >= 1
            and 1 <= int(month) <= 12
        )
        period = parse_period(text)  # never raises, whatever the operator typed
        if period is None:
            assert not valid, text
            return "refused"
        assert valid, text
        assert period == date(int(year), int(month), 1)
        return "accepted"

    both_outcomes(
        st.one_of(
            st.builds(
                lambda y, m: f"{y}-{m}",
                st.integers(0, 10999).map(lambda y: f"{y:04d}"),
                st.integers(0, 20).map(str),
            ),
            st.text(alphabet="0123456789- ", max_size=9),
            st.text(max_size=10),
        ),
        check,
    )
