"""Recipient numbers: the digits-only international form (MSISDN) the gateway expects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ._exceptions import InvalidNumberError

__all__ = [
    "InvalidNumberError",
    "Numbers",
    "clean_numbers",
    "normalize_list",
    "normalize_many",
    "normalize_msisdn",
]

MIN_DIGITS = 7
MAX_DIGITS = 15

# Separators people write inside numbers; whitespace of any kind is removed separately.
_SEPARATORS = str.maketrans("", "", "-./()")


RULE_EMPTY = "empty"
RULE_DIGITS = "digits only"
RULE_NATIONAL = "national number needs country_code"
RULE_PREFIX = "no 0 after international prefix"
RULE_LENGTH = "7-15 digits"
RULE_COUNTRY_CODE = "country code is 1-3 digits"


def _country_code(value: str | int | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    digits = text[1:] if text.startswith("+") else text
    if not (1 <= len(digits) <= 3 and digits.isascii() and digits.isdigit()) or digits[0] == "0":
        raise InvalidNumberError(
            text,
            RULE_COUNTRY_CODE,
            "is not a country calling code (1-3 digits, not starting with 0, e.g. 27)",
            field="country_code",
        )
    return digits


def _normalize_plain(number: str, cc: str | None) -> str:
    """``number`` in international form by the rules, one step after another.

    The plain twin of :func:`_normalize`, which answers an already clean number at once.
    """
    compact = "".join(number.split())
    if not compact:
        raise InvalidNumberError(number, RULE_EMPTY, "is empty; a recipient needs 7-15 digits")
    international = compact.startswith(("+", "00"))
    if international:
        # "+44 (0)20 ..." writes the national trunk 0 in parentheses: it is not dialled.
        compact = compact.replace("(0)", "")
    digits = compact.translate(_SEPARATORS)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not digits:
        raise InvalidNumberError(number, RULE_EMPTY, "has no digits; a recipient needs 7-15 digits")
    if not (digits.isascii() and digits.isdigit()):
        bad = next(c for c in digits if not "0" <= c <= "9")
        raise InvalidNumberError(
            number,
            RULE_DIGITS,
            f"contains {bad!r}; only digits, a leading + and spaces - . / ( ) are allowed",
        )
    if digits.startswith("0"):
        if international:
            raise InvalidNumberError(
                number,
                RULE_PREFIX,
                "has a 0 after the international prefix; country codes never start with 0",
            )
        if cc is None:
            raise InvalidNumberError(
                number,
                RULE_NATIONAL,
                "is a national number (leading 0); pass country_code= to normalise it",
            )
        digits = cc + digits[1:]
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise InvalidNumberError(
            number,
            RULE_LENGTH,
            f"has {len(digits)} digits; an international number has 7-15 digits",
        )
    return digits


def normalize_msisdn(number: str, country_code: str | int | None = None) -> str:
    """Normalise a phone number to the gateway's form: international digits, no + or 00.

    ``+27 82-123 4567``, ``0027821234567`` and ``(27) 821234567`` all give
    ``27821234567``. A national number (leading 0) needs ``country_code``, whose digits
    replace the 0. Raises InvalidNumberError naming the number and the rule it broke.
    """
    return _normalize(number, _country_code(country_code))


def normalize_many(
    numbers: Iterable[str] | str, country_code: str | int | None = None
) -> list[str]:
    """Normalise several numbers, given as an iterable or a comma-separated string.

    Blank items of a comma-separated string (a trailing comma) are skipped; order and
    duplicates are kept.
    """
    normalized = normalize_list(numbers, country_code)
    return list(normalized) if type(normalized) is Numbers else normalized


# -- the fast path ----------------------------------------------------------------------------
# The pure core's fast functions live in asms._fast; these stay here because this module
# returns Numbers and asms._fast reads it (moved there, the two modules would import each
# other). The rule is the same: each has a plain twin, and
# tests/core/test_core_fast_path.py holds the two equal.
#
#   _normalize      twin: _normalize_plain (an already clean number is answered at once)
#   clean_numbers   twin: every number through _normalize_plain, unchanged; ",".join
#   normalize_list  twin: every number through _normalize_plain


def _normalize(number: str, cc: str | None) -> str:
    if not isinstance(number, str):
        raise TypeError(f"to: a phone number must be a str, not {type(number).__name__}")
    # The bulk case: already clean international digits.
    if (
        MIN_DIGITS <= len(number) <= MAX_DIGITS
        and number.isascii()
        and number.isdigit()
        and number[0] != "0"
    ):
        return number
    return _normalize_plain(number, cc)


class Numbers(list[str]):
    """Numbers known to be clean international digits, with their comma-joined form.

    What :func:`normalize_recipients` hands the client for a bulk send: the wire puts
    ``joined`` in the form as it is and the reply matcher compares against it, so the
    600-number list is joined and checked once per request instead of three times. ``width``
    is the length every number has, or None when they differ. Built only by
    :func:`clean_numbers` and never changed afterwards (slicing gives a plain list).
    """

    __slots__ = ("joined", "width")

    joined: str
    width: int | None


_DIGITS: Final = b"0123456789"


def clean_numbers(numbers: list[str] | tuple[str, ...]) -> Numbers | None:
    """``numbers`` as :class:`Numbers` when every one is already international digits
    (nothing to normalise), else None.

    C-level checks of the joined list, no per-number Python work: with the digits deleted,
    exactly one comma between each two numbers must be left (nothing else, none inside a
    number). When those commas fall every ``width + 1`` characters (all numbers one length,
    the usual case) the first digits are read in one strided slice; otherwise leading zeros
    and lengths are checked across the list.
    """
    count = len(numbers)
    if not count:
        return None
    try:
        joined = ",".join(numbers)
    except TypeError:
        return None
    if not joined.isascii():
        return None
    raw = joined.encode("ascii")
    if raw.translate(None, _DIGITS) != b"," * (count - 1):
        return None
    first = len(numbers[0])
    step = first + 1
    width: int | None = None
    if len(joined) == count * step - 1 and joined[first::step] == "," * (count - 1):
        if not MIN_DIGITS <= first <= MAX_DIGITS or "0" in joined[::step]:
            return None
        width = first
    else:
        if raw.startswith(b"0") or b",0" in raw:
            return None
        lengths = set(map(len, numbers))
        if not (MIN_DIGITS <= min(lengths) and max(lengths) <= MAX_DIGITS):
            return None
    clean = Numbers(numbers)
    clean.joined = joined
    clean.width = width
    return clean


def normalize_list(
    numbers: Iterable[str] | str, country_code: str | int | None = None
) -> list[str]:
    """:func:`normalize_many`, giving :class:`Numbers` when the list was already clean."""
    # One clean international number, alone or in a one-item list: nothing to normalise.
    one = numbers[0] if isinstance(numbers, list | tuple) and len(numbers) == 1 else numbers
    if (
        isinstance(one, str)
        and one.isdigit()
        and one.isascii()
        and MIN_DIGITS <= len(one) <= MAX_DIGITS
        and one[0] != "0"
    ):
        _country_code(country_code)  # still refuse a bad country code
        return [one]
    cc = _country_code(country_code)
    if isinstance(numbers, str):
        items = (item.strip() for item in numbers.split(","))
        return [_normalize(item, cc) for item in items if item]
    if isinstance(numbers, list | tuple) and numbers:
        clean = clean_numbers(numbers)
        if clean is not None:
            return clean
    return [_normalize(item, cc) for item in numbers]
