"""Platform callbacks → the receiver's typed events.

Three senders share a receiver's paths with the legacy gateway, told apart by the request:

* the Platform SMS API's status callback: GET query parameters or a JSON body with
  ``messageId`` and ``statusCode`` and/or ``status`` (the 2017 set has no ``statusCode``
  and carries the integration's ``apiKey``, which is dropped);
* its reply (MO) callback: a JSON body with ``replyMessageId``/``fromNumber``/``toNumber``;
* the One API's envelope: a JSON body ``{"integrationId", "integrationName", "event":
  {"messageStatusUpdate": [...], "moText": [...]}}``, any number of items per array. An
  event type or a channel other than SMS is not for this receiver: it is counted as ignored
  and acknowledged.

A request with legacy names (``apiMsgId``, ``moMsgId``, ``data``) is left to
:func:`~asms.callbacks._parse.parse_callback`, unchanged. Unknown fields are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from .._codes import MessageStatus
from .._platform_codes import one_api_status, platform_status
from ._build import InboundPart
from ._events import CallbackWire, StatusReport
from ._parse import MalformedCallback, check_id, parse_pairs
from ._platform_values import PlatformFields, decode_platform_text
from ._udh import parse_concat

__all__ = ["PlatformCallback", "StatusItem", "parse_platform"]

_LEGACY_ONLY_FIELDS = frozenset({"apimsgid", "momsgid", "data"})
_PLATFORM_NAMES = frozenset({"messageid", "replymessageid"})
_REPLY_NAMES = ("replymessageid", "fromnumber", "tonumber")
_DEFAULT_CHARSET = "UTF-8"
_SMS = "sms"


@dataclass(frozen=True, slots=True)
class StatusItem:
    """A status report and what tells its status from the message's others (the last part
    of its deduplication key): the wire's own code, so two One API statuses with one legacy
    meaning (DEVICE_ACK, READ) stay two events."""

    report: StatusReport
    token: str


Event = StatusItem | InboundPart


@dataclass(frozen=True, slots=True)
class PlatformCallback:
    """The events of one Platform request, oldest first, and how many were ignored."""

    events: tuple[Event, ...]
    ignored: int = 0


def parse_platform(*, query: bytes, body: bytes, content_type: str) -> PlatformCallback | None:
    """The events of a Platform request; ``None`` when it is not one (a legacy callback).

    Raises :class:`MalformedCallback` for a Platform request that cannot be understood.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if body and (
        media.endswith(("/json", "+json")) or (media in ("", "text/plain") and _looks_json(body))
    ):
        return _from_document(_load(body))
    if body and media not in ("", "application/x-www-form-urlencoded"):
        return None
    pairs = parse_pairs(query) + (parse_pairs(body) if body else [])
    names = {name.lower() for name, _ in pairs}
    if names & _LEGACY_ONLY_FIELDS or not names & _PLATFORM_NAMES:
        return None
    fields = PlatformFields.from_pairs(pairs)
    return PlatformCallback((_platform_event(fields),))


def _looks_json(body: bytes) -> bool:
    return body.lstrip()[:1] == b"{"


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document: dict[str, object] = {}
    for name, value in pairs:
        if name in document:
            raise MalformedCallback(f"field {name[:40]!r} given more than once")
        document[name] = value
    return document


def _load(body: bytes) -> dict[str, object]:
    try:
        document = json.loads(body.decode("utf-8-sig"), object_pairs_hook=_reject_duplicates)
    except MalformedCallback:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedCallback("body is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise MalformedCallback("JSON body is not an object")
    return document


def _from_document(document: dict[str, object]) -> PlatformCallback:
    event = next((value for name, value in document.items() if name.lower() == "event"), None)
    if event is not None:
        return _envelope(document, event)
    return PlatformCallback((_platform_event(PlatformFields.from_object(document)),))


def _platform_event(fields: PlatformFields) -> Event:
    if any(fields.has(name) for name in _REPLY_NAMES):
        return _platform_reply(fields)
    if fields.has("messageid"):
        return _status_item(fields, "platform")
    raise MalformedCallback("neither a status (messageId) nor a reply (replyMessageId)")


def _envelope(document: dict[str, object], event: object) -> PlatformCallback:
    if not isinstance(event, dict):
        raise MalformedCallback("event is not an object")
    envelope = {
        name: value
        for name, value in document.items()
        if name.lower() in ("integrationid", "integrationname")
    }
    events: list[Event] = []
    ignored = 0
    for name, value in event.items():
        kind = name.lower()
        items = value if isinstance(value, list) else [value]
        if kind not in ("messagestatusupdate", "motext"):
            ignored += len(items)  # a type asms does not handle (moMedia, a newer one)
            continue
        for item in items:
            if not isinstance(item, dict):
                raise MalformedCallback(f"an item of {name[:40]!r} is not an object")
            fields = PlatformFields.from_object(item, envelope)
            channel = fields.text("channel")
            if channel is not None and channel.lower() != _SMS:
                ignored += 1  # another channel's message (WhatsApp...): not asms's
                continue
            if kind == "motext":
                events.append(_one_api_mo(fields))
            else:
                events.append(_status_item(fields, "one-api"))
    # Events may come in any order: the oldest is handled first (sort is stable).
    events.sort(key=_event_time)
    return PlatformCallback(tuple(events), ignored)


def _event_time(event: Event) -> datetime:
    return event.report.timestamp if isinstance(event, StatusItem) else event.timestamp


def _status_token(code: int | None, status: int, name: str | None, prefix: str) -> str:
    if code is not None:
        return f"{prefix}{code}"
    if status:
        return f"{prefix}{int(status)}"
    return f"{prefix}?{(name or '').upper()[:40]}"


def _status_report(
    fields: PlatformFields, status: MessageStatus | int, wire: CallbackWire
) -> StatusReport:
    return StatusReport(
        apimsgid=check_id("messageId", fields.text("messageid") or ""),
        climsgid=fields.text("clientmessageid"),
        api_id=None,
        to=fields.text("to") or "",
        from_=fields.text("from") or "",
        status=status,
        charge=None,
        timestamp=fields.timestamp(),
        raw=fields.raw,
        wire=wire,
    )


def _status_item(fields: PlatformFields, wire: CallbackWire) -> StatusItem:
    code = fields.code("statuscode")
    name = fields.text("status")
    if code is None and name is None:
        raise MalformedCallback("missing statusCode")
    if wire == "platform":
        status: MessageStatus | int = platform_status(code, name)
        prefix = ""
    else:
        status = one_api_status(code, name)
        # The One API numbers its statuses afresh: its own code keys the event.
        prefix = "o"
    report = _status_report(fields, status, wire)
    return StatusItem(report, _status_token(code, status, name, prefix))


def _inbound(
    fields: PlatformFields,
    *,
    momsgid: str,
    from_name: str,
    to_name: str,
    text_name: str,
    wire: CallbackWire,
    related_apimsgid: str | None,
    related_climsgid: str | None,
) -> InboundPart:
    if not fields.has(text_name):
        raise MalformedCallback(f"missing {text_name}")
    charset = fields.text("charset") or _DEFAULT_CHARSET
    text, wide = decode_platform_text(
        fields.string(text_name), fields.binary.get(text_name), charset
    )
    udh = fields.text("udh") or ""
    try:
        concat = parse_concat(udh)
    except ValueError as exc:
        raise MalformedCallback(str(exc)) from None
    return InboundPart(
        momsgid=momsgid,
        api_id=None,
        from_=fields.text(from_name) or "",
        to=fields.text(to_name) or "",
        text=text,
        ucs2=wide,
        charset=charset,
        udh=udh,
        network=fields.text("network"),
        timestamp=fields.timestamp(),
        concat=concat,
        wire=wire,
        related_apimsgid=related_apimsgid,
        related_climsgid=related_climsgid,
    )


def _platform_reply(fields: PlatformFields) -> InboundPart:
    reply = fields.text("replymessageid")
    replied = fields.text("messageid")
    # The MO's own id is replyMessageId; messageId is the MT it answers (older senders
    # give only messageId, then the MO's).
    momsgid = check_id("replyMessageId", reply or replied or "")
    return _inbound(
        fields,
        momsgid=momsgid,
        from_name="fromnumber",
        to_name="tonumber",
        text_name="text",
        wire="platform",
        related_apimsgid=replied if reply is not None and replied != reply else None,
        related_climsgid=None,
    )


def _one_api_mo(fields: PlatformFields) -> InboundPart:
    return _inbound(
        fields,
        momsgid=check_id("messageId", fields.text("messageid") or ""),
        from_name="from",
        to_name="to",
        text_name="content",
        wire="one-api",
        related_apimsgid=fields.text("relatedmessageid"),
        related_climsgid=fields.text("relatedclientmessageid"),
    )
