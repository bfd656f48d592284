"""The common ``sendmsg`` replies, recognised without building a reply object per line.

``ID: <apimsgid>`` (one recipient) and the all-accepted multi-recipient reply, one
``ID: <apimsgid> To: <msisdn>`` line per recipient, are what a healthy send gets back. Both are
checked here with C-level string operations; anything else goes to the general parser in
``asms._replies``, and a property test holds the two to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Final, NamedTuple, overload

from ._numbers import Numbers

__all__ = ["IdLines", "OneId", "StridedLines", "id_lines", "one_id"]


class OneId(NamedTuple):
    """The reply ``ID: <apimsgid>`` and nothing else (a single-recipient send)."""

    apimsgid: str


class IdLines(NamedTuple):
    """A reply made only of ``ID: <id> To: <msisdn>`` lines: the ids and the numbers."""

    apimsgids: list[str]
    to: list[str]


class StridedLines(NamedTuple):
    """An all-accepted reply whose lines all have one length (the usual case: ids of one
    length, numbers of one length). Line ``i`` is ``text[i * stride : (i + 1) * stride - 1]``:
    ``ID: ``, ``id_width`` id characters, `` To: ``, the number. Ids and numbers are ASCII
    letters and digits (a number is not held to digits here: the general parser takes any
    word after ``To:``, and :meth:`names` compares it with the recipient). Nothing is cut out
    of the text until asked for.
    """

    text: str
    lines: int
    stride: int
    id_width: int

    @property
    def number_width(self) -> int:
        return self.stride - self.id_width - 10

    def apimsgids(self) -> Sequence[str]:
        return _Column(self.text, self.stride, 4, self.id_width, self.lines)

    def numbers(self) -> list[str]:
        return list(
            _Column(self.text, self.stride, 9 + self.id_width, self.number_width, self.lines)
        )

    def names(self, recipients: Sequence[str]) -> bool:
        """Whether line ``i`` names ``recipients[i]`` for every ``i``."""
        width = self.number_width
        if len(recipients) != self.lines:
            return False
        if type(recipients) is Numbers and recipients.width is not None:
            # Already joined and measured by the normaliser: read its columns in place.
            if recipients.width != width:
                return False
            joined, step = recipients.joined, width + 1
        else:
            if set(map(len, recipients)) != {width}:
                return False
            joined, step = "".join(recipients), width
        text, stride, base = self.text, self.stride, 9 + self.id_width
        for j in range(width):
            if text[base + j :: stride] != joined[j::step]:
                return False
        return True


class _Column(Sequence[str]):
    """Fixed-width fields of fixed-stride lines, cut out when read."""

    __slots__ = ("_count", "_offset", "_stride", "_text", "_width")

    def __init__(self, text: str, stride: int, offset: int, width: int, count: int) -> None:
        self._text, self._stride, self._offset = text, stride, offset
        self._width, self._count = width, count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("line index out of range")
        start = index * self._stride + self._offset
        return self._text[start : start + self._width]

    def __iter__(self) -> Iterator[str]:
        text, stride, width = self._text, self._stride, self._width
        return (
            text[start : start + width]
            for start in range(self._offset, self._offset + self._count * stride, stride)
        )


_ONE_ID: Final = re.compile(r"ID: ([0-9A-Za-z]{1,64})[ \t\r\n]*").fullmatch
_ONE_ID_BYTES: Final = re.compile(rb"ID: ([0-9A-Za-z]{1,64})[ \t\r\n]*").fullmatch


def one_id(body: bytes | str) -> OneId | None:
    if isinstance(body, bytes):
        one = _ONE_ID_BYTES(body)
        return None if one is None else OneId(one.group(1).decode("ascii"))
    single = _ONE_ID(body)
    return None if single is None else OneId(single.group(1))


def _alnum(text: str) -> bool:
    # str.isalnum() consults Unicode tables per character; bytes.isalnum() is ASCII only.
    return text.isascii() and text.encode("ascii").isalnum()


def _digits(text: str) -> bool:
    return text.isascii() and text.encode("ascii").isdigit()


_ALNUM: Final = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _strided(text: str, raw: bytes) -> StridedLines | None:
    """Equal-length lines, checked a column at a time with strided slices.

    The fixed characters of every line are read one column each. Deleting every letter and
    digit from the body must then leave exactly the line's separators (``:  : `` and a line
    break) once per line. So the separators are the only characters that are not ASCII
    letters or digits, and the ids and numbers are alphanumeric: one pass over the body.
    """
    to = text.find(" To: ")
    end = text.find("\n")
    if to < 5 or end < 0:
        return None
    id_width = to - 4
    stride = end + 1
    width = stride - id_width - 10  # of the number
    lines, extra = divmod(len(text) + 1, stride)
    if extra or lines < 2 or width < 1:
        return None
    fixed = (
        (0, "I"),
        (1, "D"),
        (2, ":"),
        (3, " "),
        (to, " "),
        (to + 1, "T"),
        (to + 2, "o"),
        (to + 3, ":"),
        (to + 4, " "),
    )
    for column, char in fixed:
        if text[column::stride] != char * lines:
            return None
    if text[end::stride] != "\n" * (lines - 1):
        return None
    if raw.translate(None, _ALNUM) != (b":  : \n" * lines)[:-1]:
        return None
    return StridedLines(text, lines, stride, id_width)


def id_lines(body: bytes | str) -> StridedLines | IdLines | None:
    """The all-accepted multi-recipient reply, or None for anything else.

    Equal-length lines are checked column by column (:class:`StridedLines`); otherwise every
    line break + ``ID: `` becomes `` To: `` and one split alternates ids and numbers. Anything
    else anywhere (an ``ERR`` line, a ``\\r``, a stray word) leaves a character that is not
    alphanumeric, an unequal line, a number that is not digits, or an odd count.
    """
    if isinstance(body, bytes):
        raw = body.rstrip(b"\n")
        text = raw.decode("latin-1")
    else:
        text = body.rstrip("\n")
        raw = text.encode("ascii") if text.isascii() else b""
    if not text.startswith("ID: "):
        return None
    strided = _strided(text, raw) if raw else None
    if strided is not None:
        return strided
    fields = text[4:].replace("\nID: ", " To: ").split(" To: ")
    if len(fields) < 4 or len(fields) % 2:
        return None
    ids, numbers = fields[0::2], fields[1::2]
    if not (_alnum("".join(ids)) and all(ids) and _digits("".join(numbers)) and all(numbers)):
        return None
    return IdLines(ids, numbers)
