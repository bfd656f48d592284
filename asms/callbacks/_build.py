"""Validated fields → typed events (one status report, or one inbound part)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ._events import CallbackWire, StatusReport
from ._parse import (
    CallbackFields,
    MalformedCallback,
    check_id,
    decode_text,
    parse_charge,
    parse_mo_timestamp,
    parse_status,
    parse_unix_timestamp,
)
from ._udh import Concat, parse_concat

__all__ = [
    "build_inbound_part",
    "build_status_report",
    "InboundPart",
]

DEFAULT_CHARSET = "ISO-8859-1"


def _optional(fields: CallbackFields, name: str) -> str | None:
    value = fields.get(name)
    return value.strip() if value is not None and value.strip() else None


def build_status_report(fields: CallbackFields) -> StatusReport:
    """A :class:`StatusReport` from the fields of a status callback (any wire form)."""
    return StatusReport(
        apimsgid=check_id("apiMsgId", fields.require("apimsgid")),
        climsgid=_optional(fields, "climsgid"),
        api_id=_optional(fields, "api_id"),
        to=(fields.get("to") or "").strip(),
        from_=(fields.get("from") or "").strip(),
        status=parse_status(fields.require("status")),
        charge=parse_charge(fields.get("charge")),
        timestamp=parse_unix_timestamp(fields.require("timestamp")),
        raw=fields.raw,
    )


@dataclass(frozen=True, slots=True)
class InboundPart:
    """One inbound callback, before reassembly."""

    momsgid: str
    api_id: str | None
    from_: str
    to: str
    text: str
    ucs2: bytes | None
    charset: str
    udh: str
    network: str | None
    timestamp: datetime
    concat: Concat | None
    wire: CallbackWire = "legacy"
    related_apimsgid: str | None = None
    related_climsgid: str | None = None


def build_inbound_part(fields: CallbackFields) -> InboundPart:
    """An :class:`InboundPart` from the fields of an MO callback (any wire form)."""
    charset = _optional(fields, "charset") or DEFAULT_CHARSET
    udh = (fields.get("udh") or "").strip()
    try:
        concat = parse_concat(udh)
    except ValueError as exc:
        raise MalformedCallback(str(exc)) from None
    text, ucs2 = decode_text(fields, charset)
    return InboundPart(
        momsgid=check_id("moMsgId", fields.require("momsgid")),
        api_id=_optional(fields, "api_id"),
        from_=fields.require("from", allow_empty=True).strip(),
        to=fields.require("to", allow_empty=True).strip(),
        text=text,
        ucs2=ucs2,
        charset=charset,
        udh=udh,
        network=_optional(fields, "network"),
        timestamp=parse_mo_timestamp(fields.require("timestamp")),
        concat=concat,
    )
