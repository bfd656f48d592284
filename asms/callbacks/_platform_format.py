"""The Platform wires' callback forms, built from field values (the sending side).

The counterpart of :mod:`asms.callbacks._platform`: the emulator can send these, and the
receiver's tests use them for exact requests. Platform SMS status callbacks (the current
and the 2017 field sets, as GET query parameters or a JSON body), Platform SMS reply (MO)
callbacks (JSON, the text encoded per its charset) and One API event envelopes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from ._format import WireRequest, encode_pairs
from ._parse import HEX_CHARSETS

__all__ = [
    "PlatformReplyFields",
    "PlatformStatusFields",
    "encode_platform_text",
    "one_api_envelope",
    "one_api_mo_item",
    "one_api_status_item",
    "platform_reply_body",
    "platform_status_body",
    "platform_status_request",
    "json_request",
]

Variant = Literal["current", "2017"]
JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class PlatformStatusFields:
    """The values of one Platform SMS status callback."""

    message_id: str
    client_message_id: str
    to: str
    from_: str
    status_code: int
    status: str
    description: str
    timestamp_ms: int
    request_id: str = ""
    integration_name: str = "asms"


@dataclass(frozen=True, slots=True)
class PlatformReplyFields:
    """The values of one Platform SMS reply (MO) callback; ``text`` as characters."""

    reply_message_id: str
    message_id: str  # the MT replied to ("" when none)
    from_number: str
    to_number: str
    timestamp_ms: int
    text: str
    charset: str = "UTF-8"
    udh: str = ""
    network: str = ""
    keyword: str = ""
    integration_name: str = "asms"


def platform_status_body(
    f: PlatformStatusFields, variant: Variant = "current", *, api_key: str = ""
) -> dict[str, object]:
    """The status callback's fields: the current set, or the 2017 one (``apiKey`` and no
    ``statusCode``/``integrationName``)."""
    head: dict[str, object] = (
        {"integrationName": f.integration_name} if variant == "current" else {"apiKey": api_key}
    )
    body: dict[str, object] = {
        **head,
        "messageId": f.message_id,
        "requestId": f.request_id,
        "clientMessageId": f.client_message_id,
        "to": f.to,
        "from": f.from_,
    }
    if variant == "current":
        body["statusCode"] = f.status_code
    body.update(
        {"status": f.status, "statusDescription": f.description, "timestamp": f.timestamp_ms}
    )
    return body


def json_request(document: Mapping[str, object]) -> WireRequest:
    """A POST carrying ``document`` as UTF-8 JSON."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return WireRequest("POST", "", body, JSON_TYPE)


def platform_status_request(
    f: PlatformStatusFields,
    *,
    method: Literal["GET", "POST"] = "POST",
    variant: Variant = "current",
    api_key: str = "",
) -> WireRequest:
    """The status callback as a GET with query parameters or a POST with a JSON body."""
    body = platform_status_body(f, variant, api_key=api_key)
    if method == "POST":
        return json_request(body)
    pairs = [(name, str(value)) for name, value in body.items()]
    return WireRequest("GET", encode_pairs(pairs), b"", None)


def encode_platform_text(text: str, charset: str) -> str:
    """MO text as the platform writes it: UTF-8 as it is, other charsets URL-encoded bytes
    (UTF-16BE for UCS-2)."""
    name = charset.strip().lower()
    if name in ("utf-8", "utf8"):
        return text
    codec = "utf-16-be" if name in HEX_CHARSETS else name
    return quote(text.encode(codec), safe="")


def platform_reply_body(
    f: PlatformReplyFields, variant: Variant = "current", *, api_key: str = ""
) -> dict[str, object]:
    """The reply callback's fields (2017 adds ``integrationId`` and ``apiKey``)."""
    body: dict[str, object] = {
        "integrationName": f.integration_name,
        "messageId": f.message_id,
        "replyMessageId": f.reply_message_id,
        "fromNumber": f.from_number,
        "toNumber": f.to_number,
        "timestamp": f.timestamp_ms,
        "text": encode_platform_text(f.text, f.charset),
        "charset": f.charset,
        "udh": f.udh,
        "network": f.network,
        "keyword": f.keyword,
    }
    if variant == "2017":
        body = {"integrationId": "1", "apiKey": api_key, **body}
    return body


def one_api_status_item(
    message_id: str,
    status_code: int,
    status: str,
    timestamp_ms: int,
    client_message_id: str = "",
) -> dict[str, object]:
    """One ``messageStatusUpdate`` item of the SMS channel."""
    return {
        "channel": "sms",
        "timestamp": timestamp_ms,
        "statusCode": status_code,
        "status": status,
        "messageId": message_id,
        "clientMessageId": client_message_id,
    }


def one_api_mo_item(
    message_id: str,
    from_: str,
    to: str,
    timestamp_ms: int,
    content: str,
    *,
    charset: str = "UTF-8",
    related_message_id: str = "",
    related_client_message_id: str = "",
) -> dict[str, object]:
    """One ``moText`` item of the SMS channel."""
    return {
        "channel": "sms",
        "messageId": message_id,
        "relatedMessageId": related_message_id,
        "relatedClientMessageId": related_client_message_id,
        "from": from_,
        "to": to,
        "timestamp": timestamp_ms,
        "content": encode_platform_text(content, charset),
        "charset": charset,
    }


def one_api_envelope(
    statuses: Sequence[Mapping[str, object]] = (),
    mo: Sequence[Mapping[str, object]] = (),
    *,
    integration_id: str = "fa80e8b8b1d94ad7a0c7c6d1ab4c4f43",
    integration_name: str = "asms",
) -> dict[str, object]:
    """A One API callback carrying ``statuses`` and ``mo`` items (an empty kind is left out)."""
    event: dict[str, object] = {}
    if statuses:
        event["messageStatusUpdate"] = list(statuses)
    if mo:
        event["moText"] = list(mo)
    return {"integrationId": integration_id, "integrationName": integration_name, "event": event}
