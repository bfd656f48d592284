"""Alphabets, part counting and the text forms the gateway's wires expect.

Pure functions only. The bulk path counts parts for every message, so the common cases
(ASCII and ISO-8859-1 text) are answered with a Latin-1 encode plus two C-level
``bytes.translate`` passes instead of per-character Python loops.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote_plus

from ._exceptions import ValidationError

__all__ = [
    "BINARY_CONCAT_BYTES",
    "BINARY_SINGLE_BYTES",
    "GSM7_BASIC",
    "GSM7_CONCAT_SEPTETS",
    "GSM7_EXTENSION",
    "GSM7_SINGLE_SEPTETS",
    "PartCount",
    "SURROGATE",
    "UCS2_CONCAT_UNITS",
    "UCS2_SINGLE_UNITS",
    "WireText",
    "check_unicode",
    "count_binary_parts",
    "count_parts",
    "decode_ucs2_hex",
    "encode_for_http",
    "encode_for_soap",
    "fits_latin1_gsm",
    "is_gsm7",
    "latin1_form_value",
    "parts_needed_exceeds",
    "split_parts",
    "ucs2_hex",
]

#: Half of a UTF-16 pair: a lone one in a ``str`` is no text any wire or file can carry (it is
#: what undecodable bytes become under ``surrogateescape``).
SURROGATE: re.Pattern[str] = re.compile("[\ud800-\udfff]")

Encoding = Literal["gsm7", "ucs2", "8bit"]

# GSM 03.38 default alphabet in code order (0x00-0x7F). 0x1B is the escape to the
# extension table, not a character: a text containing U+001B is not GSM text, because
# sending it would merge with the next character into an extension code.
_GSM7_BASIC_ORDERED = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_BASIC: frozenset[str] = frozenset(_GSM7_BASIC_ORDERED) - {"\x1b"}
"""The 127 characters of the GSM 03.38 default alphabet (one septet each)."""

_GSM7_EXTENSION_STR = "\f^{}\\[~]|€"
GSM7_EXTENSION: frozenset[str] = frozenset(_GSM7_EXTENSION_STR)
"""The ten extension-table characters; each costs two septets (ESC + code)."""

_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE_SEPTETS = 160
GSM7_CONCAT_SEPTETS = 153
UCS2_SINGLE_UNITS = 70
UCS2_CONCAT_UNITS = 67
BINARY_SINGLE_BYTES = 140
BINARY_CONCAT_BYTES = 134
# A concatenation header: UDHL (1 byte) + information element id, length, ref, total, seq (5).
_CONCAT_UDH_BYTES = BINARY_SINGLE_BYTES - BINARY_CONCAT_BYTES
_CONCAT_IE_BYTES = _CONCAT_UDH_BYTES - 1

# The fast path (the rule of asms._fast; it stays here, built from this module's tables):
# alphabet checks over Latin-1 bytes with bytes.translate instead of a set lookup per
# character (_extension_count, fits_latin1_gsm, encode_for_http), and the single-part
# counts built once (_GSM7_SINGLE, _UCS2_SINGLE). The plain twins, a set lookup per character
# and PartCount(...) built on each call, are held equal in tests/core/test_core_fast_path.py.
# The tables: which Latin-1 bytes are not GSM characters, which are extension characters.
# € and the Greek capitals are outside Latin-1 and take the plain path.
_NOT_GSM_LATIN1 = bytes(b for b in range(256) if chr(b) not in _GSM7_ALL)
_EXT_LATIN1 = bytes(ord(c) for c in _GSM7_EXTENSION_STR if ord(c) < 256)
# In the septet view of a text each extension character is preceded by ESC, standing for
# its first septet. U+001B never occurs in GSM text (see above), so it is unambiguous.
_ESC = "\x1b"
_SEPTET_VIEW = str.maketrans({c: _ESC + c for c in _GSM7_EXTENSION_STR})

_HEX_RE = re.compile(r"[0-9A-Fa-f]*")


def _default_per_part(encoding: Encoding, parts: int) -> int:
    if encoding == "gsm7":
        return GSM7_SINGLE_SEPTETS if parts <= 1 else GSM7_CONCAT_SEPTETS
    if encoding == "ucs2":
        return UCS2_SINGLE_UNITS if parts <= 1 else UCS2_CONCAT_UNITS
    return BINARY_SINGLE_BYTES if parts <= 1 else BINARY_CONCAT_BYTES


@dataclass(frozen=True, slots=True)
class PartCount:
    """How a message is cut into SMS parts.

    ``units`` are septets (gsm7), UTF-16 code units (ucs2) or data bytes (8bit).
    ``per_part`` is the capacity per part that applied (160/153, 70/67, 140/134 less
    any user UDH); when not given it is derived from ``encoding`` and ``parts``, and it
    takes no part in equality.
    """

    encoding: Encoding
    units: int
    parts: int
    per_part: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.per_part == 0:
            object.__setattr__(self, "per_part", _default_per_part(self.encoding, self.parts))


# Single-part results are by far the most common; building a frozen dataclass costs about
# as much as the whole alphabet scan, so they are made once.
_GSM7_SINGLE = tuple(
    PartCount("gsm7", u, 1, GSM7_SINGLE_SEPTETS) for u in range(GSM7_SINGLE_SEPTETS + 1)
)
_UCS2_SINGLE = tuple(
    PartCount("ucs2", u, 1, UCS2_SINGLE_UNITS) for u in range(UCS2_SINGLE_UNITS + 1)
)


@dataclass(frozen=True, slots=True)
class WireText:
    """Text as it goes on one wire: ``value`` plus the ``unicode`` flag and its real cost."""

    value: str
    unicode: bool
    parts: PartCount


def _extension_count(text: str) -> int:
    """Number of extension characters if ``text`` is GSM 03.38, else -1."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        # Greek capitals, € or non-GSM text: the rare path.
        if not _GSM7_ALL.issuperset(text):
            return -1
        return sum(map(text.count, _GSM7_EXTENSION_STR))
    size = len(raw)
    if len(raw.translate(None, _NOT_GSM_LATIN1)) != size:
        return -1
    return size - len(raw.translate(None, _EXT_LATIN1))


def is_gsm7(text: str) -> bool:
    """True if every character of ``text`` is in the GSM 03.38 basic or extension table."""
    return _extension_count(text) >= 0


def fits_latin1_gsm(text: str) -> bool:
    """True for GSM text whose characters all exist in ISO-8859-1 (sendable with unicode=0)."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return len(raw.translate(None, _NOT_GSM_LATIN1)) == len(raw)


def _greedy_ends(units: int, per_part: int, starts_pair: Callable[[int], bool]) -> list[int]:
    """Greedy part ends (in units); a part never ends on the first unit of a two-unit
    character (an extension character's ESC, a high surrogate), so the pair moves on whole.
    """
    ends: list[int] = []
    pos = 0
    while units - pos > per_part:
        end = pos + per_part
        if starts_pair(end - 1):
            end -= 1
        ends.append(end)
        pos = end
    return ends


def _gsm7_ends(view: str, units: int) -> list[int]:
    return _greedy_ends(units, GSM7_CONCAT_SEPTETS, lambda i: view[i] == _ESC)


def _ucs2_ends(raw: bytes, units: int) -> list[int]:
    return _greedy_ends(units, UCS2_CONCAT_UNITS, lambda i: 0xD8 <= raw[2 * i] <= 0xDB)


def _gsm7_count(text: str, extensions: int) -> PartCount:
    units = len(text) + extensions
    if units <= GSM7_SINGLE_SEPTETS:
        return _GSM7_SINGLE[units]
    if extensions == 0:
        parts = -(-units // GSM7_CONCAT_SEPTETS)
    else:
        view = text.translate(_SEPTET_VIEW)
        parts = len(_gsm7_ends(view, units)) + 1
    return PartCount("gsm7", units, parts, GSM7_CONCAT_SEPTETS)


def _utf16(text: str) -> bytes:
    # surrogatepass keeps the functions total for strings holding lone surrogates.
    return text.encode("utf-16-be", "surrogatepass")


def _ucs2_count(text: str) -> PartCount:
    raw = _utf16(text)
    units = len(raw) // 2
    if units <= UCS2_SINGLE_UNITS:
        return _UCS2_SINGLE[units]
    if units == len(text):  # no surrogate pairs: plain division is exact
        parts = -(-units // UCS2_CONCAT_UNITS)
    else:
        parts = len(_ucs2_ends(raw, units)) + 1
    return PartCount("ucs2", units, parts, UCS2_CONCAT_UNITS)


def check_unicode(text: str, field: str = "text") -> None:
    """Refuse a text holding half a UTF-16 pair (a lone surrogate): no wire can carry it, and
    it is what undecodable input bytes become (a file or terminal in another encoding)."""
    found = SURROGATE.search(text)
    if found is not None:
        raise ValidationError(
            field,
            f"is not valid Unicode: character {found.start() + 1} ({found.group()!a}) is"
            " half a character, as undecodable input bytes become (is the input in another"
            " encoding than UTF-8?)",
        )


def count_parts(text: str) -> PartCount:
    """Count the parts ``text`` needs in its alphabet: GSM 03.38 if possible, else UCS-2.

    Extension characters and surrogate pairs are never split across parts. Empty text is
    one part of zero units.
    """
    if not isinstance(text, str):
        raise ValidationError("text", f"must be a string, not {type(text).__name__}")
    extensions = _extension_count(text)
    if extensions >= 0:
        return _gsm7_count(text, extensions)
    return _ucs2_count(text)


def count_binary_parts(data: bytes, udh: bytes = b"") -> PartCount:
    """Count the parts of an 8-bit message: 140 bytes including UDH, 134 data bytes per part.

    A caller UDH shares its length byte with the concatenation element the gateway adds,
    so concatenated parts carry ``140 - (len(udh) + 5)`` data bytes each.
    """
    size = len(data)
    if len(udh) + size <= BINARY_SINGLE_BYTES:
        return PartCount("8bit", size, 1, BINARY_SINGLE_BYTES - len(udh))
    header = len(udh) + _CONCAT_IE_BYTES if udh else _CONCAT_UDH_BYTES
    per_part = BINARY_SINGLE_BYTES - header
    if per_part <= 0:
        raise ValueError(f"udh of {len(udh)} bytes leaves no room for data in a concatenated SMS")
    return PartCount("8bit", size, -(-size // per_part), per_part)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def split_parts(text: str) -> list[str]:
    """The segments ``text`` is sent as, in the alphabet ``count_parts`` chooses."""
    extensions = _extension_count(text)
    if extensions >= 0:
        units = len(text) + extensions
        if units <= GSM7_SINGLE_SEPTETS:
            return [text]
        if extensions == 0:
            return _chunks(text, GSM7_CONCAT_SEPTETS)
        view = text.translate(_SEPTET_VIEW)
        ends = _gsm7_ends(view, units)
        bounds = zip([0, *ends], [*ends, units], strict=True)
        return [view[a:b].replace(_ESC, "") for a, b in bounds]
    raw = _utf16(text)
    units = len(raw) // 2
    if units <= UCS2_SINGLE_UNITS:
        return [text]
    if units == len(text):
        return _chunks(text, UCS2_CONCAT_UNITS)
    ends = _ucs2_ends(raw, units)
    bounds = zip([0, *ends], [*ends, units], strict=True)
    return [raw[2 * a : 2 * b].decode("utf-16-be", "surrogatepass") for a, b in bounds]


def parts_needed_exceeds(pc: PartCount, concat: int) -> bool:
    """True if the message needs more parts than ``concat`` allows (gateway error 113)."""
    return pc.parts > concat


def ucs2_hex(text: str) -> str:
    """UCS-2 (UTF-16) big-endian hex, upper case: 'ΩΨΘ' -> '03A903A80398'."""
    return _utf16(text).hex().upper()


def decode_ucs2_hex(value: str) -> str:
    """Inverse of the UCS-2 hex form; ValueError on anything that is not UCS-2 hex."""
    if len(value) % 4:
        raise ValueError(
            f"UCS-2 hex must be a multiple of 4 hex digits long, got {len(value)} characters"
        )
    if not _HEX_RE.fullmatch(value):
        bad = next(c for c in value if c not in "0123456789abcdefABCDEF")
        raise ValueError(f"UCS-2 hex may contain only hex digits, found {bad!r}")
    return bytes.fromhex(value).decode("utf-16-be", "surrogatepass")


def latin1_form_value(text: str) -> str:
    """``text`` percent-encoded as ISO-8859-1 form data: 'é' -> '%E9', space -> '+'.

    Raises UnicodeEncodeError (a ValueError) for characters outside ISO-8859-1.
    """
    return quote_plus(text, safe="", encoding="latin-1", errors="strict")


def encode_for_http(text: str) -> WireText:
    """The HTTP ``text`` value: as-is (ISO-8859-1) when possible, else UCS-2 hex.

    The legacy HTTP API reads non-unicode text as ISO-8859-1, so GSM text with a character
    outside it (Greek capitals, €) must go as UCS-2 and costs UCS-2 parts.
    """
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        pass
    else:
        size = len(raw)
        if len(raw.translate(None, _NOT_GSM_LATIN1)) == size:
            return WireText(
                text, False, _gsm7_count(text, size - len(raw.translate(None, _EXT_LATIN1)))
            )
    return WireText(ucs2_hex(text), True, _ucs2_count(text))


def encode_for_soap(text: str) -> WireText:
    """The SOAP ``text`` value: any GSM 03.38 text as XML characters, else UCS-2 hex."""
    extensions = _extension_count(text)
    if extensions >= 0:
        return WireText(text, False, _gsm7_count(text, extensions))
    return WireText(ucs2_hex(text), True, _ucs2_count(text))
