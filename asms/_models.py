"""Messages, their options, and the typed results every wire returns.

Options are validated when they are built, so a bad value fails in the caller's code with the
field and the rule, before anything is queued or sent.
"""

from __future__ import annotations

import enum
import math
import os
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Final

from ._codes import ErrorCode, MessageStatus
from ._exceptions import ValidationError
from ._optable import CLIMSGID_PATTERN, HEX_PAIRS_RE, MAX_CALLBACK, MAX_CONCAT, MSG_TYPES

__all__ = [
    "Balance",
    "Charge",
    "Coverage",
    "DeliveryState",
    "Message",
    "SendOptions",
    "SendResult",
    "StatusInfo",
    "NOT_SENT",
    "OUTCOME_UNKNOWN",
    "new_climsgid",
]

_CLIMSGID_RE = re.compile(CLIMSGID_PATTERN)
_FROM_NUMERIC = re.compile(r"[0-9]{1,16}")
_FROM_ALPHA = re.compile(r"[A-Za-z0-9 ]{1,11}")
MAX_SCHEDULE_AHEAD = 7 * 24 * 3600
_CALLBACK_RULE: Final = f"must be an integer from 0 to {MAX_CALLBACK}"
_CONCAT_RULE: Final = f"must be an integer from 1 to {MAX_CONCAT}"


# Ids made ahead from one os.urandom() call: a getrandom syscall per message showed in
# profiles. deque.popleft() is atomic, so threads sharing the pool never get the same id.
_IDS_AHEAD: Final = 128
_ids: deque[str] = deque()
if hasattr(os, "register_at_fork"):  # a forked child must not reuse its parent's ids
    os.register_at_fork(after_in_child=_ids.clear)


def new_climsgid() -> str:
    """A fresh client message id: 32 hex characters, unguessable and collision-free in practice."""
    try:
        return _ids.popleft()
    except IndexError:
        block = os.urandom(16 * _IDS_AHEAD).hex()
        _ids.extend(block[i : i + 32] for i in range(32, len(block), 32))
        return block[:32]


def _check_range(name: str, value: int | None, low: int, high: int, rule: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        # The rule says "an integer" itself where it is one ("must be an integer from 0 to 7").
        said = rule if "integer" in rule else f"must be an integer ({rule})"
        raise ValidationError(name, said, value)
    if not low <= value <= high:
        raise ValidationError(name, rule, value)


@dataclass(frozen=True, slots=True)
class SendOptions:
    """Every ``sendmsg`` option except the recipients and the text.

    ``None`` means "leave it to the gateway" (or, for ``concat`` and ``unicode``, let asms
    decide from the text). ``from_`` is the ``from`` parameter (a Python keyword).
    """

    from_: str | None = None
    mo: bool | None = None
    callback: int | None = None
    deliv_ack: bool | None = None
    concat: int | None = None
    deliv_time: int | None = None
    scheduled_time: int | None = None
    queue: int | None = None
    escalate: bool | None = None
    max_credits: float | None = None
    req_feat: int | None = None
    validity: int | None = None
    unicode: bool | None = None
    msg_type: str | None = None
    udh: str | None = None
    data: str | None = None
    binary: bool | None = None

    def __post_init__(self) -> None:
        if self.from_ is not None:
            if not isinstance(self.from_, str) or not (
                _FROM_NUMERIC.fullmatch(self.from_) or _FROM_ALPHA.fullmatch(self.from_)
            ):
                raise ValidationError(
                    "from", "must be 1-16 digits or up to 11 alphanumeric characters", self.from_
                )
        _check_range("callback", self.callback, 0, MAX_CALLBACK, _CALLBACK_RULE)
        _check_range("concat", self.concat, 1, MAX_CONCAT, _CONCAT_RULE)
        _check_range("deliv_time", self.deliv_time, 1, 10080, "must be minutes from 1 to 10080")
        _check_range("queue", self.queue, 1, 3, "must be 1, 2 or 3")
        _check_range("validity", self.validity, 1, 1440, "must be minutes from 1 to 1440")
        _check_range("req_feat", self.req_feat, 0, 65535, "must be a feature bitmask")
        if self.scheduled_time is not None:
            stamp: object = self.scheduled_time  # a datetime is accepted and stored as unix time
            if isinstance(stamp, datetime):
                if stamp.tzinfo is None:
                    raise ValidationError(
                        "scheduled_time", "must be a timezone-aware datetime or unix time"
                    )
                object.__setattr__(self, "scheduled_time", int(stamp.timestamp()))
            else:
                _check_range("scheduled_time", self.scheduled_time, 0, 2**40, "must be a unix time")
        if self.deliv_time is not None and self.scheduled_time is not None:
            raise ValidationError("deliv_time", "cannot be combined with scheduled_time")
        for name in ("mo", "deliv_ack", "escalate", "unicode", "binary"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                if value in (0, 1):
                    object.__setattr__(self, name, bool(value))
                else:
                    raise ValidationError(name, "must be a boolean (0/1)", value)
        if self.max_credits is not None:
            if isinstance(self.max_credits, bool) or not isinstance(self.max_credits, int | float):
                raise ValidationError("max_credits", "must be a number", self.max_credits)
            if not 0 <= self.max_credits < math.inf:  # NaN fails too
                raise ValidationError(
                    "max_credits", "must be a finite number, not negative", self.max_credits
                )
        if self.msg_type is not None and self.msg_type not in MSG_TYPES:
            raise ValidationError("msg_type", "must be one of " + ", ".join(MSG_TYPES))
        for name in ("udh", "data"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and HEX_PAIRS_RE.fullmatch(value)):
                raise ValidationError(name, "must be an even number of hex digits", value)
        if self.udh is not None and self.msg_type not in (None, "SMS_TEXT"):
            raise ValidationError("udh", "cannot be combined with msg_type")

    def check_schedule(self, now: float | None = None) -> None:
        """Refuse a ``scheduled_time`` more than 7 days after ``now`` (default: the wall clock).

        A time in the past is not refused here (docs/protocol.md "Limits": the emulator sends
        such a message at once).
        """
        if self.scheduled_time is None:
            return
        current = time.time() if now is None else now
        if self.scheduled_time > current + MAX_SCHEDULE_AHEAD:
            raise ValidationError("scheduled_time", "must be at most 7 days ahead")

    def replace(self, **changes: Any) -> SendOptions:
        """A copy with some options changed (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return SendOptions(**values)

    def params(self) -> dict[str, str]:
        """The options as canonical (HTTP) wire parameters, without ``text``/``unicode``."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.name == "unicode":
                continue
            name = "from" if f.name == "from_" else f.name
            if isinstance(value, bool):
                out[name] = "1" if value else "0"
            elif isinstance(value, float):
                out[name] = f"{value:g}"
            else:
                out[name] = str(value)
        return out

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any]) -> SendOptions:
        """Build options from ``send(**options)`` keywords; ``from`` and ``from_`` both work."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in options.items():
            name = "from_" if key == "from" else key
            if name not in known:
                raise ValidationError(key, "is not a sendmsg option")
            if name in values:
                raise ValidationError("from", "give from or from_, not both")
            values[name] = value
        return cls(**values)


DEFAULT_OPTIONS = SendOptions()


@dataclass(frozen=True, slots=True, init=False)
class Message:
    """One SMS to one recipient: the unit of bulk sending.

    ``climsgid`` is the message's identity on the gateway; when omitted, asms assigns one
    before the first attempt and reports it in the result. ``ref`` is any value of the
    caller's own (a database key, say) carried through to the result untouched.
    """

    to: str
    text: str = ""
    options: SendOptions = DEFAULT_OPTIONS
    climsgid: str | None = None
    ref: Any = field(default=None, compare=False)

    # Written out rather than generated: a frozen dataclass's own __init__ sets each field
    # through object.__setattr__, and a campaign builds a Message per recipient.
    def __init__(
        self,
        to: str,
        text: str = "",
        options: SendOptions = DEFAULT_OPTIONS,
        climsgid: str | None = None,
        ref: Any = None,
    ) -> None:
        if not isinstance(to, str) or not to.strip():
            raise ValidationError("to", "must be a phone number string", to)
        if not isinstance(text, str):
            raise ValidationError("text", "must be a string", text)
        if not text and options.data is None:
            raise ValidationError("text", "must not be empty (or give data= for binary)")
        if climsgid is not None and not (
            isinstance(climsgid, str) and _CLIMSGID_RE.fullmatch(climsgid)
        ):
            raise ValidationError("climsgid", "must be 1-32 characters of [A-Za-z0-9]")
        set_to, set_text, set_options, set_climsgid, set_ref = _MESSAGE_SLOTS
        set_to(self, to)
        set_text(self, text)
        set_options(self, options)
        set_climsgid(self, climsgid)
        set_ref(self, ref)

    @classmethod
    def create(
        cls,
        to: str,
        text: str = "",
        *,
        climsgid: str | None = None,
        ref: Any = None,
        **options: Any,
    ) -> Message:
        """``Message.create("27821234567", "Hi", callback=3)``: options as keywords."""
        opts = SendOptions.from_kwargs(options) if options else DEFAULT_OPTIONS
        return cls(to, text, opts, climsgid, ref)

    def with_climsgid(self, climsgid: str) -> Message:
        """A copy of this message with ``climsgid`` as its client message id."""
        return Message(self.to, self.text, self.options, climsgid, self.ref)


_MESSAGE_SLOTS: Final = tuple(Message.__dict__[f.name].__set__ for f in fields(Message))

#: ``SendResult.error_code`` when asms gave up and cannot tell whether the gateway accepted
#: the message (it may have: look it up later by its ``climsgid``).
OUTCOME_UNKNOWN = -1
#: ``SendResult.error_code`` when a message provably never reached the gateway.
NOT_SENT = -2


class DeliveryState(enum.StrEnum):
    """What became of one message."""

    ACCEPTED = "accepted"  # the gateway took it (apimsgid may be unknown after a reconcile)
    REJECTED = "rejected"  # the gateway refused it: see error_code
    UNKNOWN = "unknown"  # the request may or may not have reached the gateway; not resent
    NOT_SENT = "not_sent"  # never sent (run stopped/cancelled, or provably never left)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome for one recipient of a send: an id, or an error as data."""

    to: str
    apimsgid: str | None
    climsgid: str | None = None
    error_code: ErrorCode | int | None = None
    error_description: str | None = None
    parts: int = 1
    ref: Any = field(default=None, compare=False)
    #: True when asms found that the gateway accepted this message twice: an attempt it had
    #: looked up and concluded "missing" showed up later, after the resend was accepted.
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        """The gateway accepted the message (the same as :attr:`accepted`)."""
        return self.error_code is None

    @property
    def accepted(self) -> bool:
        """The gateway accepted the message (its apimsgid may still be unknown)."""
        return self.error_code is None

    @property
    def state(self) -> DeliveryState:
        """Accepted, rejected (see ``error_code``), unknown outcome, or never sent."""
        if self.error_code is None:
            return DeliveryState.ACCEPTED
        if self.error_code == OUTCOME_UNKNOWN:
            return DeliveryState.UNKNOWN
        if self.error_code == NOT_SENT:
            return DeliveryState.NOT_SENT
        return DeliveryState.REJECTED


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """``querymsg``/``delmsg``: a message's id and current status."""

    apimsgid: str
    status: MessageStatus | int

    @property
    def is_final(self) -> bool:
        """The message will not change state again (never true of a status asms does not know)."""
        return isinstance(self.status, MessageStatus) and self.status.is_final


@dataclass(frozen=True, slots=True)
class Charge:
    """``getmsgcharge``: what a message cost, and its status."""

    apimsgid: str
    charge: float
    status: MessageStatus | int


@dataclass(frozen=True, slots=True)
class Balance:
    """``getbalance``: the account's credits.

    ``currency`` is what the Platform wires report the balance in (``"ZAR"``, say); the
    legacy gateway counts credits and says no currency (``None``). It takes no part in
    equality: the same balance reads the same on every wire.
    """

    credits: float
    currency: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Coverage:
    """``routeCoverage``: whether a number's prefix is routed, and at what charge."""

    msisdn: str
    supported: bool
    charge: float | None
    message: str
