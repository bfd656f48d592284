"""The Platform's callback requests, as the emulator sends them (docs/protocol.md, "The
Platform wires", callbacks).

Platform SMS status callbacks: GET with a query or POST with JSON, in the current field set
(``integrationName`` ... ``statusCode``) or the 2017 one (``apiKey``, no ``statusCode``).
Platform SMS reply (MO) callbacks: POST JSON, with the charset rules (UTF-8 plain;
ISO-8859-1 and UTF-16BE percent-encoded bytes). One API: the ``messageStatusUpdate`` and
``moText`` event envelopes, POST JSON. Built from plain values: the receiver's parser is not
used to build what it is tested against.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import quote, urlencode

from .._codes import MessageStatus
from .._platform_codes import OneApiStatus
from ..callbacks._format import WireRequest
from ._platform_config import Integration

__all__ = [
    "ONE_API_STATUS_FOR_LEGACY",
    "mo_request",
    "mo_wire_text",
    "one_api_status_of",
    "status_request",
]

S = MessageStatus
A = OneApiStatus
#: A legacy status (the emulator's lifecycle) -> the One API status that says the same.
ONE_API_STATUS_FOR_LEGACY: Final[dict[int, OneApiStatus]] = {
    S.MESSAGE_UNKNOWN: A.UNKNOWN,
    S.MESSAGE_QUEUED: A.QUEUED,
    S.DELIVERED_TO_GATEWAY: A.SENT_TO_SUPPLIER,
    S.RECEIVED_BY_RECIPIENT: A.DEVICE_ACK,
    S.ERROR_WITH_MESSAGE: A.DELIVERY_FAILURE,
    S.USER_CANCELLED: A.STOPPED_BY_USER,
    S.ERROR_DELIVERING_MESSAGE: A.DELIVERY_FAILURE,
    S.RECEIVED_BY_GATEWAY: A.SENT_TO_SUPPLIER,
    S.ROUTING_ERROR: A.ROUTING_ERROR,
    S.MESSAGE_EXPIRED: A.EXPIRED,
    S.QUEUED_FOR_LATER_DELIVERY: A.SCHEDULED,
    S.OUT_OF_CREDIT: A.INSUFFICIENT_ACCOUNT_BALANCE,
    S.MAXIMUM_MT_LIMIT_EXCEEDED: A.VOLUME_LIMIT,
}
_JSON: Final = "application/json"
# The percent-encoded charsets of reply callbacks -> the codec of their bytes.
_ENCODED: Final = {"iso-8859-1": "latin-1", "utf-16be": "utf-16-be"}


def one_api_status_of(status: MessageStatus) -> OneApiStatus:
    """The One API status for a status of the emulator's lifecycle."""
    return ONE_API_STATUS_FOR_LEGACY.get(int(status), A.UNKNOWN)


def _post(value: Any) -> WireRequest:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return WireRequest("POST", "", body, _JSON)


def status_request(
    form: str,
    method: str,
    integration: Integration,
    *,
    apimsgid: str,
    request_id: str,
    climsgid: str,
    to: str,
    from_: str,
    status: MessageStatus,
    timestamp_ms: int,
) -> WireRequest:
    """A status callback in ``form`` (``"current"``, ``"2017"`` or ``"one-api"``);
    ``method`` (``"get"``/``"post"``) applies to the Platform SMS forms."""
    if form == "one-api":
        one_api = one_api_status_of(status)
        update = {
            "channel": "sms",
            "timestamp": timestamp_ms,
            "statusCode": int(one_api),
            "status": one_api.name,
            "messageId": apimsgid,
            "clientMessageId": climsgid or None,
        }
        return _post(
            {
                "integrationId": integration.integration_id,
                "integrationName": integration.name,
                "event": {"messageStatusUpdate": [update]},
            }
        )
    fields: dict[str, Any]
    if form == "2017":
        fields = {"apiKey": integration.key}
    else:
        fields = {"integrationName": integration.name}
    fields.update(
        messageId=apimsgid,
        requestId=request_id,
        clientMessageId=climsgid,
        to=to,
        **{"from": from_},
    )
    if form != "2017":
        fields["statusCode"] = int(status)
    fields.update(status=status.name, statusDescription=status.description, timestamp=timestamp_ms)
    if method == "get":
        return WireRequest("GET", urlencode({k: str(v) for k, v in fields.items()}), b"", None)
    return _post(fields)


def mo_wire_text(text: str, charset: str) -> str:
    """The text as a reply callback carries it: plain for UTF-8, else its bytes in that
    charset, percent-encoded (``hello%21``, ``%00h%00i``)."""
    codec = _ENCODED.get(charset.strip().lower())
    if codec is None:
        return text
    return quote(text.encode(codec, "replace"), safe="")


def mo_request(
    form: str,
    integration: Integration,
    *,
    momsgid: str,
    related_id: str | None,
    related_climsgid: str | None,
    from_: str,
    to: str,
    timestamp_ms: int,
    text: str,
    charset: str,
    udh: str,
    network: str | None,
    keyword: str | None,
) -> WireRequest:
    """A reply (MO) callback in ``form`` (``"current"``, ``"2017"`` or ``"one-api"``)."""
    wire_text = mo_wire_text(text, charset)
    if form == "one-api":
        mo = {
            "channel": "sms",
            "messageId": momsgid,
            "relatedMessageId": related_id,
            "relatedClientMessageId": related_climsgid,
            "from": from_,
            "to": to,
            "timestamp": timestamp_ms,
            "content": wire_text,
            "charset": charset,
        }
        return _post(
            {
                "integrationId": integration.integration_id,
                "integrationName": integration.name,
                "event": {"moText": [mo]},
            }
        )
    fields: dict[str, Any] = {"integrationName": integration.name}
    if form == "2017":
        fields.update(integrationId=integration.integration_id, apiKey=integration.key)
    fields.update(
        messageId=related_id,
        replyMessageId=momsgid,
        fromNumber=from_,
        toNumber=to,
        timestamp=timestamp_ms,
        text=wire_text,
        charset=charset,
        udh=udh or None,
        network=network,
        keyword=keyword,
    )
    return _post(fields)
