"""Recipient number normalisation (asms._numbers)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asms import _numbers
from asms._exceptions import InvalidNumberError
from asms._numbers import (
    Numbers,
    clean_numbers,
    normalize_list,
    normalize_many,
    normalize_msisdn,
)


@pytest.mark.parametrize(
    "number",
    [
        "+27 82-123 4567",
        "0027821234567",
        "(27) 821234567",
        "27821234567",
        "27.82.123.4567",
        "27/82/1234567",
        "+27\u00a082\t123 4567",  # no-break space and tab are whitespace too
        "  +27821234567  ",
        "+27 (0)82 123 4567",  # trunk 0 in parentheses is not dialled
        "0027 (0) 82 123 4567",
    ],
)
def test_international_forms(number: str) -> None:
    assert normalize_msisdn(number) == "27821234567"


@pytest.mark.parametrize("country_code", ["27", "+27", 27, " 27 "])
def test_national_number_with_country_code(country_code: str | int) -> None:
    assert normalize_msisdn("082 123 4567", country_code) == "27821234567"
    assert normalize_msisdn("(0) 82 123 4567", country_code) == "27821234567"


def test_country_code_does_not_touch_international_numbers() -> None:
    assert normalize_msisdn("+44 7700 900123", "27") == "447700900123"
    assert normalize_msisdn("447700900123", 27) == "447700900123"


def test_national_number_without_country_code() -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize_msisdn("0821234567")
    err = info.value
    assert str(err) == (
        "to: '0821234567' is a national number (leading 0); pass country_code= to normalise it"
    )
    assert err.field == "to"
    assert err.rule == "national number needs country_code"
    assert err.number == "0821234567"
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("number", "rule", "message"),
    [
        ("", "empty", "to: '' is empty"),
        ("   ", "empty", "to: '   ' is empty"),
        ("+", "empty", "to: '+' has no digits"),
        ("()", "empty", "to: '()' has no digits"),
        ("2782123abc", "digits only", "contains 'a'; only digits"),
        ("27+821234567", "digits only", "contains '+'"),
        ("++27821234567", "digits only", "contains '+'"),
        ("27 82 123 4567 ext 5", "digits only", "contains 'e'"),
        ("2782١234567", "digits only", "contains '١'"),  # Arabic-Indic digit one
        ("+0821234567", "no 0 after international prefix", "country codes never start with 0"),
        ("000821234567", "no 0 after international prefix", "has a 0 after the international"),
        ("123456", "7-15 digits", "has 6 digits; an international number has 7-15 digits"),
        ("1234567890123456", "7-15 digits", "has 16 digits"),
        ("+27 82", "7-15 digits", "has 4 digits"),
    ],
)
def test_invalid_numbers(number: str, rule: str, message: str) -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize_msisdn(number)
    assert info.value.rule == rule
    assert info.value.field == "to"
    assert message in str(info.value)
    assert str(info.value).startswith(f"to: {number!r} ")


def test_national_number_too_short_after_country_code() -> None:
    with pytest.raises(InvalidNumberError, match="has 5 digits") as info:
        normalize_msisdn("01234", "1")
    assert info.value.rule == "7-15 digits"


@pytest.mark.parametrize("number", ["1234567", "123456789012345"])
def test_length_bounds_are_inclusive(number: str) -> None:
    assert normalize_msisdn(number) == number


@pytest.mark.parametrize("country_code", ["", "0", "027", "1234", "2a", "+", "++27", -27, 0])
def test_invalid_country_code(country_code: str | int) -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize_msisdn("0821234567", country_code)
    assert info.value.field == "country_code"
    assert info.value.rule == "country code is 1-3 digits"
    assert str(info.value).startswith("country_code: ")


def test_invalid_country_code_is_reported_even_when_unused() -> None:
    with pytest.raises(InvalidNumberError, match="country_code"):
        normalize_msisdn("27821234567", "abc")


def test_non_string_number() -> None:
    with pytest.raises(TypeError, match="must be a str, not int"):
        normalize_msisdn(27821234567)  # type: ignore[arg-type]


def test_error_lives_in_the_exception_module_and_is_still_importable_here() -> None:
    assert _numbers.InvalidNumberError is InvalidNumberError
    assert InvalidNumberError.__module__ == "asms"


def test_error_pickles() -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize_msisdn("082 123 4567")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is InvalidNumberError
    assert str(copy) == str(info.value)
    assert (copy.number, copy.rule, copy.field) == ("082 123 4567", info.value.rule, "to")


def test_normalize_many_from_comma_separated_string() -> None:
    assert normalize_many("+27 82 123 4567, 0027831234567,27841234567,") == [
        "27821234567",
        "27831234567",
        "27841234567",
    ]
    assert normalize_many("") == []
    assert normalize_many("082 123 4567, 083 123 4567", country_code=27) == [
        "27821234567",
        "27831234567",
    ]


def test_normalize_many_from_iterable_keeps_order_and_duplicates() -> None:
    numbers = iter(["27821234567", "+44 7700 900123", "27821234567"])
    assert normalize_many(numbers) == ["27821234567", "447700900123", "27821234567"]


def test_normalize_many_reports_the_bad_number() -> None:
    with pytest.raises(InvalidNumberError, match="'12'"):
        normalize_many(["27821234567", "12"])
    with pytest.raises(InvalidNumberError, match="'0821234567' is a national number"):
        normalize_many("27821234567, 0821234567")
    with pytest.raises(InvalidNumberError) as info:
        normalize_many(["27821234567"], country_code="x")
    assert info.value.field == "country_code"


def test_normalize_many_iterable_entries_may_not_be_blank() -> None:
    with pytest.raises(InvalidNumberError, match="is empty"):
        normalize_many(["27821234567", ""])


# An international number: country code (no leading 0) followed by subscriber digits.
msisdns = st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True)
separators = st.sampled_from(["", " ", "-", ".", "/", " - "])


@settings(max_examples=200, deadline=None)
@given(msisdns, st.lists(separators, min_size=15, max_size=15), st.sampled_from(["", "+", "00"]))
def test_formatted_numbers_normalise_back(msisdn: str, seps: list[str], prefix: str) -> None:
    formatted = prefix + "".join(d + s for d, s in zip(msisdn, seps, strict=False))
    assert normalize_msisdn(formatted) == msisdn


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=25))
def test_result_is_always_valid_or_a_clear_error(number: str) -> None:
    try:
        result = normalize_msisdn(number)
    except InvalidNumberError as err:
        assert err.field == "to"
        assert str(err).startswith(f"to: {number!r} ")
    else:
        assert result.isascii() and result.isdigit()
        assert 7 <= len(result) <= 15
        assert not result.startswith("0")


@pytest.mark.parametrize(
    "numbers",
    [
        ["27821,2345678"],  # a comma inside one item is not two numbers
        ["27821234567", "0821234567"],  # national, no country code
        ["27821234567", "2782123456789012"],  # 16 digits
        ["27821234567", "278212"],  # 6 digits
        ["27821234567", ""],
        ("27821234567", "２７８２１２３４５６７"),  # fullwidth digits
    ],
)
def test_clean_list_fast_path_refuses_what_the_rules_refuse(numbers: list[str]) -> None:
    with pytest.raises(InvalidNumberError):
        normalize_many(numbers)


def test_clean_list_fast_path_keeps_clean_numbers_as_given() -> None:
    numbers = [str(27820000000 + i) for i in range(600)]
    assert normalize_many(numbers) == numbers
    assert normalize_many(tuple(numbers[:3])) == numbers[:3]
    assert normalize_many(["1234567", "123456789012345"]) == ["1234567", "123456789012345"]


def test_clean_list_is_joined_once_and_measured() -> None:
    same = [str(27820000000 + i) for i in range(600)]
    clean = clean_numbers(same)
    assert type(clean) is Numbers and clean == same
    assert clean.joined == ",".join(same) and clean.width == 11
    mixed = ["1234567", "123456789012345", "27821234567"]
    clean = clean_numbers(mixed)
    assert clean is not None and clean.width is None and clean.joined == ",".join(mixed)
    # A comma inside an item keeps the comma count right only with an empty item.
    assert clean_numbers(["2782123,4567", ""]) is None
    assert clean_numbers(["27821234567", 27821234568]) is None  # type: ignore[list-item]
    assert clean_numbers([]) is None
    # Slicing (the split into requests) gives plain lists: nothing stale rides along.
    assert type(normalize_list(same)[:300]) is list
    # The public function gives a plain list.
    assert type(normalize_many(same)) is list
    assert type(normalize_many(("27821234567", "27821234568"))) is list


def test_one_item_list_is_one_number() -> None:
    assert normalize_many(["27821234567"]) == ["27821234567"]
    assert normalize_many(("+27 82 123 4567",)) == ["27821234567"]
    with pytest.raises(InvalidNumberError):
        normalize_many(["27821234567,27821234568"])  # a list item is one number
    with pytest.raises(InvalidNumberError):
        normalize_many(["27821234567"], country_code="0")
