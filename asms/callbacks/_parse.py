"""From callback request bytes to validated fields.

Every wire form (GET query, POST form, XML or SOAP in a ``data`` parameter, or XML as the
whole POST body) is reduced to one :class:`CallbackFields`: lower-cased names mapped to
values, with the kind of callback it is. Nothing here calls a handler; a problem raises
:class:`MalformedCallback` with a reason fit to send back in a 400 answer.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Literal
from urllib.parse import unquote_to_bytes

from lxml import etree

from .._codes import MessageStatus
from .._encoding import decode_ucs2_hex
from .._xml import XSD_TRUE, XSI_NIL, XMLRejected, local_name, parse_xml

__all__ = [
    "check_id",
    "decode_text",
    "CallbackFields",
    "HEX_CHARSETS",
    "MalformedCallback",
    "parse_charge",
    "parse_mo_timestamp",
    "parse_pairs",
    "parse_callback",
    "parse_status",
    "parse_unix_timestamp",
]

Kind = Literal["status", "inbound"]

HEX_CHARSETS = frozenset({"ucs-2", "ucs2", "ucs-2be", "utf-16be", "utf-16-be", "utf16be", "utf-16"})
_MO_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
# The gateway writes MO timestamps as GMT+2 wall-clock time, all year round.
_GATEWAY_OFFSET = timedelta(hours=2)
_MAX_ID = 128
_DISPLAY = {"apimsgid": "apiMsgId", "climsgid": "cliMsgId", "momsgid": "moMsgId"}


class MalformedCallback(ValueError):
    """The request is not a callback this receiver can understand; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CallbackFields:
    """A callback's fields. ``values`` are keyed by lower-cased name.

    ``binary`` holds the undecoded bytes of form/query values, so ``text`` can be decoded
    with the charset named by another field of the same request.
    """

    kind: Kind
    values: Mapping[str, str]
    raw: Mapping[str, str]  # original names, for StatusReport.raw
    binary: Mapping[str, bytes]

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def require(self, name: str, *, allow_empty: bool = False) -> str:
        value = self.values.get(name)
        if value is None or (not value and not allow_empty):
            raise MalformedCallback(f"missing {_DISPLAY.get(name, name)}")
        return value


def parse_pairs(data: bytes) -> list[tuple[str, bytes]]:
    """``application/x-www-form-urlencoded`` bytes → (name, raw value bytes) pairs."""
    pairs: list[tuple[str, bytes]] = []
    for chunk in data.split(b"&"):
        if not chunk:
            continue
        name, _, value = chunk.partition(b"=")
        key = unquote_to_bytes(name.replace(b"+", b" ")).decode("latin-1")
        pairs.append((key, unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def _as_str(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        # Identifiers and numbers are ASCII; anything else (a network name) is most likely
        # ISO-8859-1, the gateway's default charset.
        return value.decode("latin-1")


def _kind_from_names(names: Mapping[str, object]) -> Kind | None:
    if "momsgid" in names:
        return "inbound"
    if "apimsgid" in names:
        return "status"
    return None


def _from_pairs(pairs: list[tuple[str, bytes]]) -> CallbackFields | None:
    values: dict[str, str] = {}
    raw: dict[str, str] = {}
    binary: dict[str, bytes] = {}
    for name, value in pairs:
        key = name.lower()
        if key in binary:
            raise MalformedCallback(f"parameter {key} given more than once")
        binary[key] = value
        values[key] = _as_str(value)
        raw[name] = values[key]
    kind = _kind_from_names(values)
    if kind is None:
        return None
    return CallbackFields(
        kind, MappingProxyType(values), MappingProxyType(raw), MappingProxyType(binary)
    )


def _children(element: etree._Element) -> tuple[dict[str, str], dict[str, str]]:
    values: dict[str, str] = {}
    raw: dict[str, str] = {}
    for child in element:
        name = local_name(child.tag)
        if not name:
            continue  # comments and processing instructions
        if child.get(XSI_NIL) in XSD_TRUE:
            continue
        key = name.lower()
        if key in values:
            raise MalformedCallback(f"element {name} given more than once")
        values[key] = child.text or ""
        raw[name] = values[key]
    return values, raw


def _from_xml(data: bytes, max_bytes: int) -> CallbackFields:
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except XMLRejected as exc:
        raise MalformedCallback(f"XML refused: {exc}") from None
    name = local_name(root.tag)
    if name == "Envelope":
        body = next((c for c in root if local_name(c.tag) == "Body"), None)
        call = None if body is None else next((c for c in body if local_name(c.tag)), None)
        if call is None:
            raise MalformedCallback("SOAP envelope without a call in its Body")
        name = local_name(call.tag)
        root = call
    kinds: dict[str, Kind] = {
        "callback": "status",
        "mt_callback": "status",
        "clickmo": "inbound",
        "mo_callback": "inbound",
    }
    kind = kinds.get(name)
    if kind is None:
        raise MalformedCallback(f"unknown XML callback element {name[:40]!r}")
    values, raw = _children(root)
    return CallbackFields(
        kind, MappingProxyType(values), MappingProxyType(raw), MappingProxyType({})
    )


def parse_callback(
    *, query: bytes, body: bytes, content_type: str, max_bytes: int
) -> CallbackFields:
    """The fields of one callback request, from its query string, body and content type."""
    media = content_type.split(";", 1)[0].strip().lower()
    if body and media.endswith(("/xml", "+xml")):
        return _from_xml(body, max_bytes)
    pairs = parse_pairs(query)
    if body:
        if media not in ("", "application/x-www-form-urlencoded"):
            raise MalformedCallback(f"unsupported content type {media[:60]!r}")
        pairs += parse_pairs(body)
    if not pairs:
        raise MalformedCallback("no callback parameters")
    fields = _from_pairs(pairs)
    if fields is not None:
        return fields
    data = next((value for name, value in pairs if name.lower() == "data"), None)
    if data is None:
        raise MalformedCallback("neither apiMsgId nor moMsgId nor an XML data parameter")
    return _from_xml(data, max_bytes)


def decode_text(fields: CallbackFields, charset: str) -> tuple[str, bytes | None]:
    """The ``text`` field decoded per ``charset``, and its raw UCS-2 bytes if it had any.

    Query and form values are percent-encoded bytes in the named charset; XML values are
    already characters. UCS-2/UTF-16BE text is hexadecimal in every form.
    """
    value = fields.get("text")
    if value is None:
        raise MalformedCallback("missing text")
    name = charset.strip().lower()
    if name in HEX_CHARSETS:
        try:
            text = decode_ucs2_hex(value.strip())
        except ValueError:
            raise MalformedCallback(f"text is not {charset} hexadecimal") from None
        return text, bytes.fromhex(value.strip())
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise MalformedCallback(f"unknown charset {charset[:40]!r}") from None
    # base64, hex, rot13, zlib... are codecs but not text encodings: bytes.decode refuses them.
    if not getattr(info, "_is_text_encoding", True):
        raise MalformedCallback(f"unknown charset {charset[:40]!r}")
    data = fields.binary.get("text")
    if data is None:
        return value, None
    try:
        return data.decode(info.name), None
    except (UnicodeError, LookupError, ValueError):
        raise MalformedCallback(f"text is not valid {charset}") from None


def parse_unix_timestamp(value: str) -> datetime:
    try:
        seconds = int(value.strip())
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        raise MalformedCallback("timestamp is not unix seconds") from None


def parse_mo_timestamp(value: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` in GMT+2 → aware UTC (unix seconds are accepted too)."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        return parse_unix_timestamp(text)
    for pattern in _MO_TIME_FORMATS:
        try:
            local = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return (local - _GATEWAY_OFFSET).replace(tzinfo=UTC)
    raise MalformedCallback("timestamp is not 'YYYY-MM-DD HH:MM:SS'")


def check_id(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise MalformedCallback(f"missing {name}")
    if len(value) > _MAX_ID or not value.isprintable():
        raise MalformedCallback(f"{name} is not a message id")
    return value


def parse_status(value: str) -> MessageStatus | int:
    try:
        status = MessageStatus.coerce(value)
    except ValueError:
        raise MalformedCallback("status is not a numeric status code") from None
    if not 0 <= int(status) <= 999:
        raise MalformedCallback("status is not a numeric status code")
    return status


def parse_charge(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        charge = float(value)
    except ValueError:
        raise MalformedCallback("charge is not a number") from None
    if not math.isfinite(charge) or charge < 0:
        raise MalformedCallback("charge is not a number")
    return charge
