"""The values of Platform callbacks: fields by name, epoch-millisecond times, codes, MO text.

The Platform SMS API and the One API write callbacks as JSON (a status may also come as GET
query parameters). :class:`PlatformFields` is one JSON object (or one query) with its names
matched case-insensitively, and with an ``apiKey`` dropped on the way in: it is the
integration's secret, so it never reaches an event, a log or an error message.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Final
from urllib.parse import unquote_to_bytes

from ._parse import HEX_CHARSETS, MalformedCallback

__all__ = ["PlatformFields", "decode_platform_text", "parse_millis"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch milliseconds of any real callback are above this (it is 1973-03-03 in ms); a smaller
# number can only be seconds, which some senders may write.
_SECONDS_BELOW: Final = 100_000_000_000
_SECRETS: Final = frozenset({"apikey"})
_MAX_CODE: Final = 999_999
_UTF8: Final = frozenset({"utf-8", "utf8"})


class PlatformFields:
    """One JSON object's (or one query's) fields, looked up by lower-cased name.

    ``raw`` is what an event keeps: the original names with their values as text (numbers
    written out, nested values as JSON, nulls left out), secrets removed. ``binary`` holds
    the undecoded bytes of query values, so MO text can be decoded with its charset.
    """

    __slots__ = ("binary", "raw", "values")

    def __init__(
        self,
        values: Mapping[str, object],
        raw: Mapping[str, str],
        binary: Mapping[str, bytes] | None = None,
    ) -> None:
        self.values = values
        self.raw = raw
        self.binary: Mapping[str, bytes] = binary or MappingProxyType({})

    @classmethod
    def from_object(
        cls, document: Mapping[str, object], extra_raw: Mapping[str, object] | None = None
    ) -> PlatformFields:
        """The fields of a JSON object; ``extra_raw``: values kept in ``raw`` when the object
        has no field of that name (an envelope's ``integrationId`` for each of its events)."""
        values: dict[str, object] = {}
        raw: dict[str, str] = {}
        for name, value in document.items():
            key = name.lower()
            if key in values:
                raise MalformedCallback(f"field {name[:40]!r} given more than once")
            values[key] = value
            if key not in _SECRETS and value is not None:
                raw[name] = _as_raw(value)
        for name, value in (extra_raw or {}).items():
            if name.lower() not in values and name.lower() not in _SECRETS and value is not None:
                raw[name] = _as_raw(value)
        return cls(MappingProxyType(values), MappingProxyType(raw))

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, bytes]]) -> PlatformFields:
        """The fields of query or form parameters (``parse_pairs``)."""
        values: dict[str, object] = {}
        raw: dict[str, str] = {}
        binary: dict[str, bytes] = {}
        for name, data in pairs:
            key = name.lower()
            if key in values:
                raise MalformedCallback(f"parameter {name[:40]!r} given more than once")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
            values[key] = text
            binary[key] = data
            if key not in _SECRETS:
                raw[name] = text
        return cls(MappingProxyType(values), MappingProxyType(raw), MappingProxyType(binary))

    def has(self, name: str) -> bool:
        """The field is present (even as null or empty)."""
        return name in self.values

    def text(self, name: str) -> str | None:
        """A field as stripped text; ``None`` when absent, null or blank. A number is
        written out (phone numbers may come as JSON numbers); other types are refused."""
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            stripped = value.strip()
            return stripped or None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise MalformedCallback(f"{name} is not text")

    def string(self, name: str) -> str:
        """A text field exactly as given (not stripped; ``""`` when absent or null)."""
        value = self.values.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise MalformedCallback(f"{name} is not text")
        return value

    def code(self, name: str) -> int | None:
        """A numeric code (an int, or digits as text); ``None`` when absent or blank."""
        value = self.values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            number = int(value.strip())
        if number is None or not 0 <= number <= _MAX_CODE:
            raise MalformedCallback(f"{name} is not a numeric code")
        return number

    def timestamp(self, name: str = "timestamp") -> datetime:
        """A required epoch-milliseconds field as aware UTC."""
        value = self.values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise MalformedCallback(f"missing {name}")
        return parse_millis(value)


def _as_raw(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_millis(value: object) -> datetime:
    """Epoch milliseconds (an int, an integral float or digits) as aware UTC; a value too
    small to be milliseconds of this era is taken as seconds."""
    millis: int | None = None
    if isinstance(value, bool):
        millis = None
    elif isinstance(value, int):
        millis = value
    elif isinstance(value, float) and math.isfinite(value):
        millis = round(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            millis = int(text)
    if millis is None or millis < 0:
        raise MalformedCallback("timestamp is not epoch milliseconds")
    if millis < _SECONDS_BELOW:
        millis *= 1000
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        raise MalformedCallback("timestamp is not epoch milliseconds") from None


def decode_platform_text(text: str, data: bytes | None, charset: str) -> tuple[str, bytes | None]:
    """MO ``text`` decoded per its ``charset``, and its UTF-16BE bytes when it had them.

    ``UTF-8``: the text as it is. ``ISO-8859-1`` (any other single-byte charset alike): the
    text is URL-encoded bytes of that charset (``hello%21``). ``UTF-16BE`` (or UCS-2): the
    text is URL-encoded UTF-16BE bytes (``%00h%00i``). ``+`` is a space in URL-encoded text.
    A text with non-ASCII characters was not URL-encoded: from a query its undecoded bytes
    (``data``) are read in the charset, from JSON it is taken as it is.
    """
    name = charset.strip().lower()
    wide = name in HEX_CHARSETS
    if wide:
        codec = "utf-16-be"
    else:
        try:
            info = codecs.lookup(name)
        except LookupError:
            raise MalformedCallback(f"unknown charset {charset[:40]!r}") from None
        # base64, hex, rot13, zlib... are codecs but not text encodings.
        if not getattr(info, "_is_text_encoding", True):
            raise MalformedCallback(f"unknown charset {charset[:40]!r}")
        codec = info.name
        if name in _UTF8 or codec == "utf-8":
            return text, None
    if text.isascii():
        raw = unquote_to_bytes(text.replace("+", " "))
    elif data is not None:
        raw = data
    else:
        return text, None
    if wide:
        if len(raw) % 2:
            raise MalformedCallback(f"text is not URL-encoded {charset[:40]}")
        # surrogatepass: a pair split across the parts of a long message is joined later.
        return raw.decode(codec, "surrogatepass"), raw
    try:
        return raw.decode(codec), None
    except (UnicodeError, LookupError, ValueError):
        raise MalformedCallback(f"text is not valid {charset[:40]}") from None
