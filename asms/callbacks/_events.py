"""The typed events a :class:`~asms.callbacks.CallbackReceiver` hands to its handlers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from .._codes import MessageStatus
from .._platform_codes import OneApiStatus

__all__ = ["CallbackWire", "InboundMessage", "ReceiverStatistics", "StatusReport"]

_EMPTY: Mapping[str, str] = MappingProxyType({})

CallbackWire = Literal["legacy", "platform", "one-api"]
"""Which gateway sent a callback: the legacy gateway's forms (HTTP/XML/SOAP), the Platform
SMS API's (``platform``), or a One API event envelope (``one-api``)."""


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One message status callback (``apiMsgId`` reached ``status``).

    ``status`` is a :class:`MessageStatus` for known codes and a plain ``int`` for codes this
    version does not know; on the One API it is the legacy status of the same meaning, else
    an :class:`~asms._platform_codes.OneApiStatus` (``EMULATED``), else the plain int.
    ``timestamp`` is aware UTC (the legacy gateway sends unix seconds, the Platform wires
    epoch milliseconds). ``raw`` holds the fields exactly as received (the wire's ``status``
    text and ``statusDescription`` included), except an ``apiKey``, which is a secret and
    never kept. ``api_id`` and ``raw`` stay out of the repr because the API id is a
    credential. ``wire`` says which gateway sent it (``"legacy"``, ``"platform"`` or
    ``"one-api"``); the Platform wires have no ``api_id`` and no ``charge`` (both ``None``).
    """

    apimsgid: str
    climsgid: str | None
    api_id: str | None = field(repr=False)
    to: str
    from_: str
    status: MessageStatus | int
    charge: float | None
    timestamp: datetime
    raw: Mapping[str, str] = field(default_factory=lambda: _EMPTY, repr=False, compare=False)
    wire: CallbackWire = "legacy"

    @property
    def is_final(self) -> bool:
        """The message will not change state again."""
        if isinstance(self.status, OneApiStatus):
            # 20 and above are the One API's end states (EMULATED is the one kept as its own).
            return self.status >= OneApiStatus.EXPIRED
        return isinstance(self.status, MessageStatus) and self.status.is_final


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One inbound (MO) message, reassembled when it arrived in several parts.

    ``text`` is decoded according to ``charset``. ``timestamp`` is aware UTC (the gateway
    sends GMT+2 wall time). For a multi-part message ``momsgid``, ``udh``, ``network`` and
    ``timestamp`` are those of the first part, ``part_ids`` lists every part's ``moMsgId`` in
    order, and ``missing_parts`` names the parts that never arrived before the reassembly
    buffer gave up on them (empty for a complete message).

    ``wire`` says which gateway sent it (``"legacy"``, ``"platform"`` or ``"one-api"``). A
    reply on the Platform wires names the message it answers: ``related_apimsgid`` (its
    ``apiMessageId``) and, on the One API, ``related_climsgid`` (its ``clientMessageId``);
    both are ``None`` when the gateway does not say. ``api_id`` is ``None`` on the Platform
    wires (their ``apiKey`` is a secret and never kept).
    """

    momsgid: str
    api_id: str | None = field(repr=False)
    from_: str
    to: str
    text: str
    charset: str
    udh: str
    network: str | None
    timestamp: datetime
    parts: int = 1
    part_ids: tuple[str, ...] = ()
    missing_parts: tuple[int, ...] = ()
    wire: CallbackWire = "legacy"
    related_apimsgid: str | None = None
    related_climsgid: str | None = None

    @property
    def complete(self) -> bool:
        """Every part arrived."""
        return not self.missing_parts


@dataclass(frozen=True, slots=True)
class ReceiverStatistics:
    """Counters of a :class:`~asms.callbacks.CallbackReceiver` since it was created."""

    requests: int
    status_reports: int  # passed to on_status
    inbound_messages: int  # passed to on_inbound (after reassembly)
    inbound_parts: int  # parts stored while waiting for the rest of their message
    duplicates: int  # repeated callbacks acknowledged without calling a handler
    stale: int  # intermediate statuses that arrived after a final one
    unauthorized: int
    malformed: int
    handler_errors: int
    pending_messages: int  # multi-part messages waiting for parts
    busy: int = 0  # answered 503: another process was handling the same message
    store_full: int = 0  # answered 503: the store holds its maximum of records
    store_errors: int = 0  # answered 503: the store could not be read or written
    pending_bytes: int = 0  # bytes held by the parts of incomplete messages
    dropped_messages: int = 0  # incomplete messages dropped at the reassembly limits
    ignored: int = 0  # One API events of a type (or channel) this receiver does not handle
