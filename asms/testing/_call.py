"""Shared by the command modules: the parsed request, its outcome, reply-line helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .._codes import ErrorCode, MessageStatus
from .._optable import Operation

__all__ = [
    "BATCH_TTL",
    "NO_CHARGE",
    "Call",
    "CallOutcome",
    "Channel",
    "err_line",
    "ERR_LINES",
]

S = MessageStatus
#: How a call arrived: an HTTP GET, an HTTP POST or a SOAP envelope (the recipient limits
#: differ). Not a :class:`asms._wire.base.Wire`, which is the client's side of the protocol.
Channel = Literal["get", "post", "soap"]

BATCH_TTL = 24 * 3600.0  # from startbatch
# Statuses that cost nothing: the gateway charges no message that expired (010) or was refused
# before it went out (009 routing error, 012 out of credit), and refunds a cancelled one (006).
NO_CHARGE = frozenset({S.USER_CANCELLED, S.ROUTING_ERROR, S.MESSAGE_EXPIRED, S.OUT_OF_CREDIT})

ERR_LINES: dict[int, str] = {code: f"ERR: {code:03d}, {code.description}" for code in ErrorCode}


def err_line(code: int) -> str:
    """``ERR: 001, Authentication failed``."""
    return ERR_LINES[code]


@dataclass(slots=True)
class Call:
    """One request, parsed: parameters under their canonical (HTTP) names."""

    op: Operation
    params: dict[str, str]
    to: list[str] = field(default_factory=list)
    auth: dict[str, str] = field(default_factory=dict)
    channel: Channel = "post"
    client_ip: str | None = None
    malformed: bool = False  # a scalar SOAP parameter sent twice or as an array


@dataclass(slots=True)
class CallOutcome:
    """Reply lines plus what the transport must do to them (delay, drop, truncate)."""

    lines: list[str]
    action: str | None = None  # None, "drop", "connect" or "truncate"
    delay: float = 0.0
