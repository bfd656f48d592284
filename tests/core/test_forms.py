"""The cheap form encoder: what standard form parsers decode is what went in."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asms._forms import encode_form

# Any text that UTF-8 can carry (lone surrogates cannot be encoded at all).
texts = st.text(st.characters(exclude_categories=("Cs",)))
latin1_texts = st.text(st.characters(max_codepoint=0xFF))


def decode(body: bytes, encoding: str = "utf-8") -> list[tuple[str, str]]:
    return parse_qsl(
        body.decode("ascii"), keep_blank_values=True, strict_parsing=True, encoding=encoding
    )


def test_commas_stay_unescaped() -> None:
    numbers = ",".join(f"2799900{i:04d}" for i in range(600))
    body = encode_form([("to", numbers), ("text", "Hello world")])
    assert body == f"to={numbers}&text=Hello+world".encode()
    assert b"%2C" not in body


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], b""),
        ([("a", "")], b"a="),
        ([("text", "a b")], b"text=a+b"),
        ([("text", "a+b")], b"text=a%2Bb"),
        ([("text", "a&b=c")], b"text=a%26b%3Dc"),
        ([("text", "50% off")], b"text=50%25+off"),
        ([("text", "caf\u00e9")], b"text=caf%C3%A9"),
        ([("k y", "v")], b"k+y=v"),
        ([("text", "a,b")], b"text=a,b"),
    ],
)
def test_examples(pairs: list[tuple[str, str]], expected: bytes) -> None:
    assert encode_form(pairs) == expected


def test_other_encoding() -> None:
    assert encode_form([("text", "caf\u00e9")], encoding="latin-1") == b"text=caf%E9"
    with pytest.raises(UnicodeEncodeError):
        encode_form([("text", "\u20ac")], encoding="latin-1")


def test_accepts_any_iterable() -> None:
    assert encode_form(iter([("a", "1"), ("b", "2")])) == b"a=1&b=2"


@settings(deadline=None)  # a shared, loaded machine must not turn a slow example into a failure
@given(st.lists(st.tuples(texts, texts)))
def test_round_trips_through_parse_qsl(pairs: list[tuple[str, str]]) -> None:
    body = encode_form(pairs)
    assert body.isascii()
    assert decode(body) == pairs


@settings(deadline=None)
@given(st.lists(st.tuples(latin1_texts, latin1_texts)))
def test_round_trips_in_latin1(pairs: list[tuple[str, str]]) -> None:
    assert decode(encode_form(pairs, encoding="latin-1"), "latin-1") == pairs


@settings(deadline=None)
@given(st.lists(st.tuples(texts, texts)))
def test_matches_the_standard_encoder_apart_from_commas(pairs: list[tuple[str, str]]) -> None:
    standard = urlencode(pairs).encode("ascii")
    assert encode_form(pairs) == standard.replace(b"%2C", b",")
