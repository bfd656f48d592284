"""The optimised functions of the pure core, in one place.

What is here: the common ``sendmsg`` replies recognised whole instead of a line at a time
(:func:`one_id`, :func:`id_lines`, :func:`id_to_columns`) and results built by writing
their slots directly instead of through the frozen dataclass constructor
(:func:`make_send_result`, :func:`accepted_results`, :func:`build_many`).

Why: a bulk send carries up to 600 recipients per request, and its healthy reply is 600
``ID: <apimsgid> To: <msisdn>`` lines. Parsing those a line at a time, and building each
result through the frozen dataclass constructor, costs Python work per recipient; here the
same answers come from C-level string operations over the whole body and slot writes.

The rule: every function here has a plain twin elsewhere, the straightforward code that
gives the same answer, and ``tests/core/test_core_fast_path.py`` holds the two equal on many
inputs. A fast function may decline (answer ``None``) and leave the body to its twin; it
may never answer differently. Nothing here adds a Python call per item to the path it
speeds up.

The pairs, the fast function first and its plain twin beside it::

    one_id(body)                   asms._replies.expect_send(body): [IdReply(id)]
    id_lines(body)                 expect_send(body): one IdReply(id, to) per line
    StridedLines.names(numbers)    StridedLines.numbers() == list(numbers)
    id_to_columns(text)            asms._replies parsing each line on its own
    build_many(cls, n, columns)    [cls(*row) for row in zip(*columns)]
    make_send_result(...)          SendResult(...)
    accepted_results(...)          [SendResult(to, id, climsgid, None, None, parts, ref), ...]

Three fast paths of the core stay beside what they belong to: ``asms._numbers``
(``Numbers``, ``clean_numbers``: this module reads ``Numbers``, so moving them here would
make the two modules import each other), ``asms._results`` (the public ``SendResults``,
whose results are built when first read) and ``asms._encoding`` (alphabet checks over
Latin-1 bytes, built from the tables that module owns). Each is marked "the fast path"
where it lives and follows the same rule.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields, is_dataclass
from itertools import repeat
from typing import Any, Final, NamedTuple, TypeVar, overload

from ._codes import ErrorCode
from ._models import SendResult
from ._numbers import Numbers

__all__ = [
    "IdLines",
    "OneId",
    "StridedLines",
    "accepted_results",
    "build_many",
    "id_lines",
    "id_to_columns",
    "make_send_result",
    "one_id",
    "slot_setters",
    "writable_twin",
]

_T = TypeVar("_T")


# -- the all-accepted sendmsg reply, recognised whole ---------------------------------------


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
        """The length of every number (the line less ``ID: ``, the id and `` To: ``)."""
        return self.stride - self.id_width - 10

    def apimsgids(self) -> Sequence[str]:
        """The ids, in line order, each cut out of the text when read."""
        return _Column(self.text, self.stride, 4, self.id_width, self.lines)

    def numbers(self) -> list[str]:
        """The numbers, in line order."""
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
    """The reply ``ID: <apimsgid>`` (trailing whitespace allowed), or None for anything else."""
    if isinstance(body, bytes):
        one = _ONE_ID_BYTES(body)
        return None if one is None else OneId(one.group(1).decode("ascii"))
    single = _ONE_ID(body)
    return None if single is None else OneId(single.group(1))


def _alnum(text: str) -> bool:
    # str.isalnum() consults Unicode tables per character; bytes.isalnum() is ASCII only.
    return text.isascii() and text.encode("ascii").isalnum()


def _ascii_digits(text: str) -> bool:
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
    if not (_alnum("".join(ids)) and all(ids) and _ascii_digits("".join(numbers)) and all(numbers)):
        return None
    return IdLines(ids, numbers)


# -- the all-ID reply, for the line parser --------------------------------------------------


def id_to_columns(text: str) -> tuple[list[str], list[str]] | None:
    """The ids and the numbers of a body made only of ``ID: <id> To: <msisdn>`` lines, or
    None for anything else.

    Unlike :func:`id_lines` this takes what the line parser takes (surrounding whitespace,
    CRLF, any id or number without a colon), so ``asms._replies`` can answer with the
    :class:`~asms._replies.IdReply` objects its line-by-line parse would give. The whole body
    is checked with C-level str operations instead of a look at each line: single-character
    gaps between the ``4 * lines`` tokens, of which exactly three per line are spaces and one
    fewer than the lines are newlines; no colon outside the two keys of each line, so values
    never look like keys; and each newline followed by ``ID: ``, so the newlines fall exactly
    between lines.
    """
    body = text.strip()
    if not body.startswith("ID: "):
        return None
    if "\r" in body:
        body = body.replace("\r\n", "\n")
    tokens = body.split()
    lines, extra = divmod(len(tokens), 4)
    if (
        extra
        or body.count(":") != 2 * lines
        or body.count("\n") != lines - 1
        or body.count("\nID: ") != lines - 1
        or body.count(" ") != 3 * lines
        or len(body) - sum(map(len, tokens)) != 4 * lines - 1
        or tokens[0::4].count("ID:") != lines
        or tokens[2::4].count("To:") != lines
    ):
        return None
    return tokens[1::4], tokens[3::4]


# -- results built by writing their slots ---------------------------------------------------
# A frozen dataclass's __init__ goes through object.__setattr__ once per field; writing the
# slot descriptors directly skips that, and a send builds one result per recipient.

_Setter = Callable[[Any, Any], None]
_SETTERS: dict[type, tuple[_Setter, ...]] = {}
_new: Final = object.__new__
# Runs a lazy map to its end in C, keeping nothing.
_consume: Final = deque[object](maxlen=0).extend


def slot_setters(cls: type) -> tuple[_Setter, ...]:
    """The slot setters of a frozen, slotted dataclass, in field order (for a maker like
    :data:`make_send_result`; its twin is the class's constructor)."""
    setters = _SETTERS.get(cls)
    if setters is None:
        if not (is_dataclass(cls) and "__slots__" in cls.__dict__):
            raise TypeError(f"{cls.__name__} is not a slotted dataclass")
        # Writing the slots would skip the checks the constructor runs.
        if hasattr(cls, "__post_init__"):
            raise TypeError(f"{cls.__name__} checks its fields in __post_init__")
        if not cls.__dataclass_params__.init:  # type: ignore[attr-defined]
            raise TypeError(f"{cls.__name__} has an __init__ of its own")
        # A subclass's inherited fields have their slots on the base class that declared them.
        setters = tuple(
            next(k.__dict__[f.name] for k in cls.__mro__ if f.name in k.__dict__).__set__
            for f in fields(cls)
        )
        _SETTERS[cls] = setters
    return setters


def build_many(cls: type[_T], count: int, columns: Sequence[Iterable[Any]]) -> list[_T]:
    """``count`` objects of the slotted dataclass ``cls``, one column of values per field.

    The same objects as ``[cls(*row) for row in zip(*columns)]``, built a field at a time,
    each over every object in one ``map`` (the loops run in C). ``columns`` gives one
    iterable per field, in field order, each at least ``count`` long.
    """
    setters = slot_setters(cls)
    objects: list[_T] = list(map(_new, repeat(cls, count)))
    for setter, column in zip(setters, columns, strict=True):
        _consume(map(setter, objects, column))
    return objects


_SEND_RESULT_SETTERS: Final = slot_setters(SendResult)


def _send_result_maker() -> Callable[
    [str, str | None, str | None, ErrorCode | int | None, str | None, int, Any], SendResult
]:
    # The setters and object.__new__ as closure cells: the cheapest names to read per call.
    setters = _SEND_RESULT_SETTERS
    new = _new

    def make(
        to: str,
        apimsgid: str | None,
        climsgid: str | None,
        error_code: ErrorCode | int | None,
        error_description: str | None,
        parts: int,
        ref: Any,
    ) -> SendResult:
        result: SendResult = new(SendResult)
        s_to, s_id, s_cli, s_code, s_desc, s_parts, s_ref, s_dup = setters
        s_to(result, to)
        s_id(result, apimsgid)
        s_cli(result, climsgid)
        s_code(result, error_code)
        s_desc(result, error_description)
        s_parts(result, parts)
        s_ref(result, ref)
        s_dup(result, False)
        return result

    return make


#: ``make_send_result(to, apimsgid, climsgid, error_code, error_description, parts, ref)``:
#: the same object ``SendResult(...)`` builds (``duplicate`` False), for one result at a time.
make_send_result: Final = _send_result_maker()


def writable_twin(cls: type) -> type:
    """A class laid out exactly as the slotted dataclass ``cls`` (the same slots in the same
    order) but without its frozen ``__setattr__``.

    An object of the twin takes plain attribute stores, the cheapest writes Python has, and
    then becomes a ``cls`` object by ``__class__`` assignment, which CPython allows between
    classes of the same layout and the same base: the same object the constructor builds,
    without a call per field. Only for a class that derives from ``object`` directly (a
    subclass's twin would have another base), and refused for a class whose constructor
    checks its fields (see :func:`slot_setters`).
    """
    twin = _TWINS.get(cls)
    if twin is None:
        slot_setters(cls)  # the same refusals
        if cls.__bases__ != (object,):
            raise TypeError(f"{cls.__name__} does not derive from object directly")
        slots = cls.__dict__["__slots__"]
        twin = _TWINS[cls] = type(f"_Writable{cls.__name__}", (), {"__slots__": slots})
    return twin


_TWINS: dict[type, type] = {}
_SEND_RESULT_TWIN: Final = writable_twin(SendResult)


def accepted_results(
    to: Sequence[str],
    apimsgids: Iterable[str],
    climsgid: str | None,
    parts: int,
    refs: Iterable[Any] | None,
) -> list[SendResult]:
    """``[SendResult(to[i], apimsgids[i], climsgid, None, None, parts, refs[i]), …]``, each
    written through :func:`writable_twin` (``apimsgids`` and ``refs`` at least as long as
    ``to``)."""
    twin, new, cls = _SEND_RESULT_TWIN, _new, SendResult
    results: list[SendResult] = []
    append = results.append
    result: Any
    columns = zip(to, apimsgids, repeat(None) if refs is None else refs, strict=False)
    for number, apimsgid, ref in columns:
        result = new(twin)
        result.to = number
        result.apimsgid = apimsgid
        result.climsgid = climsgid
        result.error_code = None
        result.error_description = None
        result.parts = parts
        result.ref = ref
        result.duplicate = False
        result.__class__ = cls
        append(result)
    return results
