"""The gateway's callback wire forms, built from field values (the sending side).

The emulator's callback sender uses these; the receiver's tests use them to produce
byte-exact gateway requests. Field names and orders follow the gateway documents
(docs/protocol.md "Callbacks"): GET/POST parameters, ``<callback>``/``<clickmo>`` XML and
RPC/encoded SOAP ``mt_callback``/``mo_callback`` envelopes, the last two carried in a ``data``
parameter.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote_plus

from lxml import etree

from .._xml import SOAP_ENC, SOAP_ENV, XSD, XSI
from ._parse import HEX_CHARSETS

__all__ = [
    "build_callback",
    "CallbackForm",
    "encode_pairs",
    "mo_pairs",
    "mo_soap",
    "mo_xml",
    "MOFields",
    "status_pairs",
    "status_soap",
    "status_xml",
    "StatusFields",
    "WireRequest",
]

CallbackForm = Literal["get", "post", "xml_get", "xml_post", "soap_get", "soap_post"]

_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'

Value = str | bytes


@dataclass(frozen=True, slots=True)
class StatusFields:
    """The values of one status callback, as the gateway writes them."""

    api_id: str
    apimsgid: str
    climsgid: str
    to: str
    from_: str
    timestamp: int
    status: int
    charge: float

    @property
    def status_wire(self) -> str:
        return f"{self.status:03d}"

    @property
    def charge_wire(self) -> str:
        return f"{self.charge:.6f}"


@dataclass(frozen=True, slots=True)
class MOFields:
    """The values of one inbound-message callback; ``text`` is in its wire form."""

    api_id: str
    momsgid: str
    from_: str
    to: str
    timestamp: str  # "YYYY-MM-DD HH:MM:SS", GMT+2
    text: str
    charset: str
    udh: str
    network: str | None = None


@dataclass(frozen=True, slots=True)
class WireRequest:
    """An HTTP request ready to send: ``query`` is appended to the callback URL."""

    method: Literal["GET", "POST"]
    query: str
    body: bytes
    content_type: str | None


def status_pairs(f: StatusFields) -> list[tuple[str, Value]]:
    return [
        ("api_id", f.api_id),
        ("apiMsgId", f.apimsgid),
        ("cliMsgId", f.climsgid),
        ("timestamp", str(f.timestamp)),
        ("to", f.to),
        ("from", f.from_),
        ("status", f.status_wire),
        ("charge", f.charge_wire),
    ]


def _text_bytes(text: str, charset: str) -> bytes:
    """MO text as the bytes the gateway percent-encodes: in its own charset."""
    if charset.strip().lower() in HEX_CHARSETS:
        return text.encode("ascii")
    try:
        return text.encode(codecs.lookup(charset.strip()).name)
    except (LookupError, UnicodeEncodeError):
        return text.encode("utf-8")


def mo_pairs(f: MOFields) -> list[tuple[str, Value]]:
    pairs: list[tuple[str, Value]] = [
        ("api_id", f.api_id),
        ("moMsgId", f.momsgid),
        ("from", f.from_),
        ("to", f.to),
        ("timestamp", f.timestamp),
        ("text", _text_bytes(f.text, f.charset)),
        ("charset", f.charset),
        ("udh", f.udh),
    ]
    if f.network is not None:
        pairs.append(("network", f.network))
    return pairs


def encode_pairs(pairs: Sequence[tuple[str, Value]]) -> str:
    """Form encoding; ``bytes`` values are percent-encoded as they are."""
    return "&".join(f"{quote_plus(name)}={quote_plus(value, safe='')}" for name, value in pairs)


def _document(root: etree._Element) -> bytes:
    return _XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def _plain(tag: str, children: Sequence[tuple[str, str]]) -> bytes:
    root = etree.Element(tag)
    for name, value in children:
        etree.SubElement(root, name).text = value
    return _document(root)


def status_xml(f: StatusFields) -> bytes:
    """``<callback>`` (the gateway leaves ``api_id`` out of this form)."""
    return _plain(
        "callback",
        [
            ("apiMsgId", f.apimsgid),
            ("cliMsgId", f.climsgid),
            ("timestamp", str(f.timestamp)),
            ("to", f.to),
            ("from", f.from_),
            ("charge", f.charge_wire),
            ("status", f.status_wire),
        ],
    )


def mo_xml(f: MOFields) -> bytes:
    children = [
        ("api_id", f.api_id),
        ("moMsgId", f.momsgid),
        ("from", f.from_),
        ("to", f.to),
        ("timestamp", f.timestamp),
        ("text", f.text),
        ("charset", f.charset),
        ("udh", f.udh),
    ]
    if f.network is not None:
        children.append(("network", f.network))
    return _plain("clickmo", children)


def _rpc(operation: str, namespace: str, parts: Sequence[tuple[str, str, str]]) -> bytes:
    envelope = etree.Element(
        f"{{{SOAP_ENV}}}Envelope",
        nsmap={"SOAP-ENV": SOAP_ENV, "SOAP-ENC": SOAP_ENC, "xsd": XSD, "xsi": XSI},
    )
    envelope.set(f"{{{SOAP_ENV}}}encodingStyle", SOAP_ENC)
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    call = etree.SubElement(body, f"{{{namespace}}}{operation}", nsmap={"tns": namespace})
    for name, xsd_type, value in parts:
        part = etree.SubElement(call, name)
        part.set(f"{{{XSI}}}type", f"xsd:{xsd_type}")
        part.text = value
    return _document(envelope)


def status_soap(f: StatusFields) -> bytes:
    """RPC/encoded ``mt_callback`` (lower-case ``apimsgid``/``climsgid``)."""
    return _rpc(
        "mt_callback",
        "mt_callback",
        [
            ("api_id", "int", f.api_id),
            ("apimsgid", "string", f.apimsgid),
            ("climsgid", "string", f.climsgid),
            ("to", "string", f.to),
            ("from", "string", f.from_),
            ("timestamp", "int", str(f.timestamp)),
            ("status", "int", f.status_wire),
            ("charge", "float", f.charge_wire),
        ],
    )


def mo_soap(f: MOFields) -> bytes:
    """RPC/encoded ``mo_callback`` (lower-case ``momsgid``)."""
    parts = [
        ("api_id", "int", f.api_id),
        ("from", "string", f.from_),
        ("to", "string", f.to),
        ("timestamp", "string", f.timestamp),
        ("charset", "string", f.charset),
        ("udh", "string", f.udh),
        ("text", "string", f.text),
        ("momsgid", "string", f.momsgid),
    ]
    if f.network is not None:
        parts.append(("network", "string", f.network))
    return _rpc("mo_callback", "clickatell_mo", parts)


def build_callback(form: CallbackForm, fields: StatusFields | MOFields) -> WireRequest:
    """The request carrying ``fields`` in wire form ``form``.

    Raises ValueError when a value cannot be written as XML (control characters).
    """
    pairs: list[tuple[str, Value]]
    if form in ("get", "post"):
        pairs = status_pairs(fields) if isinstance(fields, StatusFields) else mo_pairs(fields)
    elif form in ("xml_get", "xml_post"):
        document = status_xml(fields) if isinstance(fields, StatusFields) else mo_xml(fields)
        pairs = [("data", document)]
    else:
        document = status_soap(fields) if isinstance(fields, StatusFields) else mo_soap(fields)
        pairs = [("data", document)]
    encoded = encode_pairs(pairs)
    if form.endswith("get"):
        return WireRequest("GET", encoded, b"", None)
    return WireRequest("POST", "", encoded.encode("ascii"), "application/x-www-form-urlencoded")
