"""A cheap ``application/x-www-form-urlencoded`` encoder that leaves commas alone.

A ``to`` list of 600 numbers holds 599 commas; escaping each as ``%2C`` is where the standard
encoder spends most of its time. A comma in a form value needs no escaping: form parsers
split on ``&`` and ``=`` only. Its plain twin is ``urllib.parse.urlencode(pairs)`` with every
``%2C`` turned back into a comma; ``tests/core/test_forms.py`` holds the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote_plus

__all__ = ["encode_form", "plain_ascii", "plain_list", "quote_any", "quote_form_value"]

# Strings made only of these go out as they are (urllib's always-safe set plus the comma).
_PLAIN: Final = re.compile(r"[A-Za-z0-9_.\-~,]*").fullmatch
_PLAIN_WORDS: Final = re.compile(r"[A-Za-z0-9_.\-~, ]*").fullmatch


def plain_ascii(text: str) -> bool:
    """Whether ``text`` is only ASCII letters and digits (safe in a form as it is).

    ``bytes.isalnum()`` is a table lookup per byte; ``str.isalnum()`` consults the Unicode
    database per character, which costs more than a regex on a 600-number list.
    """
    return text.isascii() and text.encode("ascii").isalnum()


def plain_list(text: str) -> bool:
    """Whether ``text`` is ASCII letters and digits separated by commas (a ``to`` list)."""
    return text.isascii() and text.encode("ascii").replace(b",", b"").isalnum()


def quote_form_value(text: str, encoding: str) -> str:
    """One name or value of a form, encoded as :func:`encode_form` does."""
    if plain_ascii(text) or _PLAIN(text):
        return text
    if _PLAIN_WORDS(text):
        return text.replace(" ", "+")
    return quote_plus(text, safe=",", encoding=encoding, errors="strict")


def quote_any(text: str) -> str:
    """One form value in ISO-8859-1, or in UTF-8 when it holds a character ISO-8859-1 lacks."""
    try:
        return quote_plus(text, safe=",", encoding="latin-1", errors="strict")
    except UnicodeEncodeError:
        return quote_plus(text, safe=",", encoding="utf-8")


def encode_form(pairs: Iterable[tuple[str, str]], *, encoding: str = "utf-8") -> bytes:
    """Encode ``(name, value)`` pairs as a form body: ``+`` for spaces, ``,`` kept as is.

    Characters outside the plain ASCII set are percent-encoded from ``encoding``; one it
    cannot represent raises ``UnicodeEncodeError``. Any form parser reading the same
    encoding gets the pairs back unchanged.
    """
    return "&".join(
        [
            f"{quote_form_value(name, encoding)}={quote_form_value(value, encoding)}"
            for name, value in pairs
        ]
    ).encode("ascii")
