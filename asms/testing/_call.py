"""Shared by the command modules: the parsed request, reply-line helpers, constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .._codes import ErrorCode, MessageStatus
from .._optable import Operation

__all__ = [
    "BATCH_TTL",
    "NO_CHARGE",
    "SESSION_TTL",
    "Call",
    "Outcome",
    "Wire",
    "err_line",
    "format_number",
]

S = MessageStatus
Wire = Literal["get", "post", "soap"]

SESSION_TTL = 15 * 60.0  # sliding: from the last call that used the session
BATCH_TTL = 24 * 3600.0  # from startbatch
# Statuses that never cost anything (research §8: validation errors, expiry; cancel refunds).
NO_CHARGE = frozenset({S.USER_CANCELLED, S.ROUTING_ERROR, S.MESSAGE_EXPIRED, S.OUT_OF_CREDIT})

_ERR_LINES: dict[int, str] = {code: f"ERR: {code:03d}, {code.description}" for code in ErrorCode}


def err_line(code: int) -> str:
    """``ERR: 001, Authentication failed``."""
    return _ERR_LINES[code]


def format_number(value: float) -> str:
    """Credits as the gateway prints them: ``500``, ``0.3``, ``12.75``."""
    return repr(round(value, 6)).removesuffix(".0")


@dataclass(slots=True)
class Call:
    """One request, parsed: parameters under their canonical (HTTP) names."""

    op: Operation
    params: dict[str, str]
    to: list[str] = field(default_factory=list)
    auth: dict[str, str] = field(default_factory=dict)
    wire: Wire = "post"
    client_ip: str | None = None
    malformed: bool = False  # a scalar SOAP parameter sent twice or as an array


@dataclass(slots=True)
class Outcome:
    """Reply lines plus what the transport must do to them (delay, drop, truncate)."""

    lines: list[str]
    action: str | None = None  # None, "drop", "connect" or "truncate"
    delay: float = 0.0
