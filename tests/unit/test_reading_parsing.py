"""Property tests for the reading parser and the monotonic/rollover rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.readings import (
    Caution,
    NotANumber,
    ReadingTooLow,
    TooManyDecimals,
    TooManyDigits,
    WindowPosition,
    classify,
    consumption_between,
    is_rollover,
    parse_reading,
    period_for,
    split_values,
)

digit_counts = st.integers(min_value=4, max_value=9)


@st.composite
def meter_values(draw: st.DrawFn, digits: int | None = None) -> tuple[int, Decimal]:
    """(digits, a value the meter can show: under 10^digits, two decimals at most)."""
    n = digits if digits is not None else draw(digit_counts)
    cents = draw(st.integers(min_value=0, max_value=10**n * 100 - 1))
    return n, Decimal(cents).scaleb(-2)


def spell(value: Decimal, *, comma: bool, group: bool, places: int) -> str:
    """How a person might type the value: grouped thousands, comma or dot, 0–2 decimals."""
    integer, fraction = f"{value:.2f}".split(".")
    if group:
        head = len(integer) % 3 or 3
        integer = " ".join(
            [integer[:head]] + [integer[i : i + 3] for i in range(head, len(integer), 3)]
        )
    fraction = fraction[:places]
    if not fraction:
        return integer
    return integer + ("," if comma else ".") + fraction


@given(
    meter_values(),
    st.booleans(),
    st.booleans(),
    st.sampled_from([0, 1, 2]),
    st.text(" \u00a0", max_size=2),
)
def test_any_spelling_of_a_valid_value_parses_back(
    sample: tuple[int, Decimal], comma: bool, group: bool, places: int, padding: str
) -> None:
    digits, value = sample
    value = value.quantize(Decimal(1).scaleb(-places)) if places < 2 else value
    assume(value < 10**digits)  # rounding 9999,99 to «10000» overflows a 4-digit meter
    typed = padding + spell(value, comma=comma, group=group, places=places) + padding
    assert parse_reading(typed, digits) == value


@given(meter_values(), st.sampled_from(["0660", "06F0", "FF10", "0966"]))
def test_digits_of_other_scripts_read_as_the_same_value(
    sample: tuple[int, Decimal], zero: str
) -> None:
    digits, value = sample
    base = int(zero, 16)
    typed = "".join(chr(base + int(c)) if c.isdigit() else c for c in f"{value:.2f}")
    assert parse_reading(typed.replace(".", ","), digits) == value


@given(st.integers(min_value=4, max_value=9), st.integers(min_value=1, max_value=10**40))
def test_huge_and_negative_numbers_are_refused(digits: int, big: int) -> None:
    with pytest.raises(TooManyDigits):
        parse_reading(str(10**digits * big), digits)
    with pytest.raises(NotANumber):
        parse_reading(f"-{big}", digits)


@given(digit_counts, st.integers(min_value=0, max_value=10**12))
def test_values_beyond_the_capacity_are_refused(digits: int, extra: int) -> None:
    with pytest.raises(TooManyDigits) as error:
        parse_reading(str(10**digits + extra), digits)
    assert error.value.digits == digits


@given(meter_values(), st.integers(min_value=3, max_value=6))
def test_more_than_two_decimals_are_refused(sample: tuple[int, Decimal], places: int) -> None:
    digits, value = sample
    typed = f"{value:.{places}f}".replace(".", ",")
    with pytest.raises(TooManyDecimals):
        parse_reading(typed, digits)


@given(st.text(max_size=12))
def test_garbage_is_refused_or_parsed_never_crashes(text: str) -> None:
    try:
        value = parse_reading(text, 9)
    except (NotANumber, TooManyDecimals, TooManyDigits):
        return
    assert Decimal(0) <= value < 10**9
    assert value == value.quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "-5",
        "-0",
        "12a",
        "1,2,3",
        "1e5",
        "1E5",
        "+",
        "+5",
        ",5",
        "NaN",
        "Infinity",
        "0x10",
        "½",
        "²",
    ],
)
def test_not_numbers(text: str) -> None:
    with pytest.raises(NotANumber):
        parse_reading(text, 6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 345,6", "12345.60"),
        ("12345.67", "12345.67"),
        ("007", "7.00"),
        ("5,", "5.00"),
        ("١٢٣٤٥,٦", "12345.60"),  # Arabic-Indic digits
        ("１２３", "123.00"),  # full-width digits from an East Asian keyboard
        ("12\u202f345", "12345.00"),  # a narrow no-break space as the thousands separator
    ],
)
def test_examples(text: str, expected: str) -> None:
    assert parse_reading(text, 5) == Decimal(expected)


@given(meter_values(), st.integers(min_value=0, max_value=10**11))
def test_never_decreasing_values_give_their_difference(
    sample: tuple[int, Decimal], extra_cents: int
) -> None:
    digits, previous = sample
    used = min(Decimal(extra_cents).scaleb(-2), 10**digits - Decimal("0.01") - previous)
    consumption, warnings = classify(previous + used, previous, digits, None)
    assert consumption == used
    assert Caution.ROLLOVER not in warnings
    assert consumption_between(previous, previous + used, digits) == used


# A counter "goes through zero" when it showed a value in the top tenth of its range and now
# shows one in the bottom tenth: for 5 digits, from 90 000,00–99 999,99 to 0,00–9 999,99.
# The scenarios below are built from the kWh run before and after zero, in whole cents, so the
# expected consumption is their sum — never the implementation's formula.


@st.composite
def through_zero(draw: st.DrawFn) -> tuple[int, Decimal, Decimal, Decimal]:
    """(digits, previous, value, kWh used) for a counter that rolled over."""
    digits = draw(digit_counts)
    tenth_cents = 10**digits * 100 // 10  # a tenth of the range, in cents
    before = draw(st.integers(min_value=1, max_value=tenth_cents))  # cents left to zero
    after = draw(st.integers(min_value=0, max_value=tenth_cents - 1))  # cents shown after zero
    previous = Decimal(10**digits * 100 - before).scaleb(-2)
    return digits, previous, Decimal(after).scaleb(-2), Decimal(before + after).scaleb(-2)


@given(through_zero())
def test_a_counter_through_zero_gives_the_kwh_before_and_after_zero(
    case: tuple[int, Decimal, Decimal, Decimal],
) -> None:
    digits, previous, value, used = case
    consumption, warnings = classify(value, previous, digits, None)
    assert Caution.ROLLOVER in warnings
    assert consumption == used
    assert consumption_between(previous, value, digits) == used
    assert is_rollover(previous, value, digits)


@st.composite
def lower_but_not_through_zero(draw: st.DrawFn) -> tuple[int, Decimal, Decimal]:
    """(digits, previous, value): lower than before, and not the top tenth → the bottom tenth."""
    digits = draw(digit_counts)
    full_cents, tenth_cents = 10**digits * 100, 10**digits * 100 // 10
    if draw(st.booleans()):  # the previous value was not near the top
        previous = draw(st.integers(min_value=1, max_value=full_cents - tenth_cents - 1))
        value = draw(st.integers(min_value=0, max_value=previous - 1))
    else:  # near the top, but the new value is not near zero
        previous = draw(
            st.integers(min_value=full_cents - tenth_cents + 1, max_value=full_cents - 1)
        )
        value = draw(st.integers(min_value=tenth_cents, max_value=previous - 1))
    return digits, Decimal(previous).scaleb(-2), Decimal(value).scaleb(-2)


@given(lower_but_not_through_zero())
def test_a_lower_value_that_is_not_a_pass_through_zero_is_refused(
    case: tuple[int, Decimal, Decimal],
) -> None:
    digits, previous, value = case
    assert not is_rollover(previous, value, digits)
    with pytest.raises(ReadingTooLow) as error:
        classify(value, previous, digits, None)
    assert error.value.previous == previous


@pytest.mark.parametrize(
    ("digits", "previous", "value", "used"),
    [
        (5, "90000.00", "9999.99", "19999.99"),  # both ends of the tenths
        (5, "99999.99", "0.00", "0.01"),
        (5, "99999.99", "9999.99", "10000.00"),
        (4, "9000.00", "0.00", "1000.00"),
        (6, "999950.00", "49.50", "99.50"),
        (9, "999999999.99", "0.01", "0.02"),
        (5, "89999.99", "0.00", None),  # not from the top tenth
        (5, "90000.00", "10000.00", None),  # not into the bottom tenth
        (4, "8999.99", "899.99", None),
        (6, "500000.00", "100.00", None),
    ],
)
def test_pass_through_zero_boundaries(
    digits: int, previous: str, value: str, used: str | None
) -> None:
    if used is None:
        with pytest.raises(ReadingTooLow):
            classify(Decimal(value), Decimal(previous), digits, None)
        return
    consumption, warnings = classify(Decimal(value), Decimal(previous), digits, None)
    assert consumption == Decimal(used) and Caution.ROLLOVER in warnings


@given(
    st.decimals(min_value=1, max_value=10_000, places=2),
    st.decimals(min_value=0, max_value=100_000, places=2),
    st.integers(min_value=1, max_value=6),
)
def test_unusual_means_over_three_times_the_average_per_month(
    average: Decimal, consumption: Decimal, months: int
) -> None:
    _, warnings = classify(Decimal(1000) + consumption, Decimal(1000), 9, average, months)
    assert (Caution.UNUSUAL in warnings) == (consumption > 3 * average * months)


def test_no_previous_reading_no_rules() -> None:
    assert classify(Decimal(5), None, 5, Decimal(100)) == (None, ())


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
       st.integers(min_value=1, max_value=31), st.integers(min_value=0, max_value=30))  # fmt: skip
def test_the_period_is_this_month_up_to_the_window_end_then_the_next(
    today: date, first: int, length: int
) -> None:
    last = min(first + length, 31)
    choice = period_for(today, (first, last))
    if today.day > last:
        assert choice.position == WindowPosition.AFTER
        assert choice.period > today and choice.period.day == 1
        assert (choice.period.year * 12 + choice.period.month) - (
            today.year * 12 + today.month
        ) == 1
    else:
        assert choice.period == today.replace(day=1)
        expected = WindowPosition.BEFORE if today.day < first else WindowPosition.INSIDE
        assert choice.position == expected


@given(meter_values(), st.booleans(), st.booleans(), st.sampled_from([0, 1, 2]))
def test_one_value_is_never_taken_for_several(
    sample: tuple[int, Decimal], comma: bool, group: bool, places: int
) -> None:
    """«12 345,6» (grouped thousands) is one value, not the values of two zones."""
    _, value = sample
    typed = spell(value, comma=comma, group=group, places=places)
    assert split_values(typed) == [typed]


@given(
    st.lists(meter_values(digits=6), min_size=2, max_size=3),
    st.sampled_from([";", "; ", " ; ", "\n", " ", "  "]),
    st.booleans(),
)
def test_values_of_several_zones_typed_in_one_message_are_split(
    samples: list[tuple[int, Decimal]], separator: str, comma: bool
) -> None:
    values = [value for _, value in samples]
    if separator.strip() == "":  # a space also groups thousands: «9870 13200» is two values
        assume(all(value >= 1000 for value in values[1:]))
    typed = [spell(value, comma=comma, group=False, places=2) for value in values]
    parts = split_values(separator.join(typed))
    assert parts == typed
    assert [parse_reading(part, 6) for part in parts] == values
