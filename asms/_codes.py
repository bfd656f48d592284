"""Gateway codes: error codes, message statuses, callback triggers and feature bits.

Error codes and message-status codes overlap numerically (001 is "Authentication failed"
as an error and "Message unknown" as a status), so they are two separate enums. Both render
on the wire as three digits with leading zeros (``.wire``, or ``f"{code:03d}"``).

Descriptions are the gateway's own texts (docs/protocol.md "Status and error codes"): those
of its newer documentation where it lists the code, otherwise those of the v2.3.8
specification's appendix, so a reply line can be rebuilt from the enum alone.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Self

__all__ = [
    "CALLBACK_TRIGGERS",
    "CALLBACK_TRIGGERS_V238",
    "ErrorCategory",
    "ErrorCode",
    "Feature",
    "MessageStatus",
]


def _digits(value: str) -> int:
    """Parse a code as the gateway writes it: ASCII digits only ("001", "1")."""
    text = value.strip()
    if not text or not text.isascii() or not text.isdigit():
        raise ValueError(f"not a numeric code: {value[:20]!r}")
    return int(text)


class ErrorCategory(enum.StrEnum):
    """What kind of problem an :class:`ErrorCode` reports; one exception class each."""

    AUTHENTICATION = "authentication"  # credentials, API id, IP lockdown: fix the config
    SESSION = "session"  # session id expired or missing: authenticate again
    VALIDATION = "validation"  # the request itself is malformed
    DESTINATION = "destination"  # this recipient cannot be (or was not) reached
    MESSAGE_LOOKUP = "message_lookup"  # querymsg/delmsg/getmsgcharge on an unknown id
    BATCH = "batch"  # batch id or template problems
    CREDIT = "credit"  # the account cannot pay
    THROTTLED = "throttled"  # MT limit reached until a given time
    INTERNAL = "internal"  # gateway-side failure, retry later


class _WireCode(enum.IntEnum):
    """What both code enums share: the gateway's three-digit form (``"001"``)."""

    @property
    def wire(self) -> str:
        """The code as the gateway writes it: ``"001"``."""
        return f"{self.value:03d}"

    @classmethod
    def from_wire(cls, value: str) -> Self:
        """``"001"`` → the member; ValueError for non-digits or unknown codes."""
        return cls(_digits(value))

    @classmethod
    def coerce(cls, value: int | str) -> Self | int:
        """The member for a known code, the plain int for an unknown one.

        Accepts an int or a digit string; raises ValueError for anything else.
        """
        number = value if isinstance(value, int) else _digits(value)
        member = cls._value2member_map_.get(number)
        return number if member is None else member  # type: ignore[return-value]


class ErrorCode(_WireCode):
    """An ``ERR: <code>, <description>`` code of the gateway."""

    AUTHENTICATION_FAILED = 1
    UNKNOWN_USERNAME_OR_PASSWORD = 2
    SESSION_ID_EXPIRED = 3
    ACCOUNT_FROZEN = 4
    MISSING_SESSION_ID = 5
    IP_LOCKDOWN_VIOLATION = 7
    DATA_MALFORMED = 100
    INVALID_OR_MISSING_PARAMETERS = 101
    INVALID_USER_DATA_HEADER = 102
    UNKNOWN_API_MESSAGE_ID = 103
    UNKNOWN_CLIENT_MESSAGE_ID = 104
    INVALID_DESTINATION_ADDRESS = 105
    INVALID_SOURCE_ADDRESS = 106
    EMPTY_MESSAGE = 107
    INVALID_OR_MISSING_API_ID = 108
    MISSING_MESSAGE_ID = 109
    ERROR_WITH_EMAIL_MESSAGE = 110
    INVALID_PROTOCOL = 111
    INVALID_MESSAGE_TYPE = 112
    MAXIMUM_MESSAGE_PARTS_EXCEEDED = 113
    CANNOT_ROUTE_MESSAGE = 114
    MESSAGE_EXPIRED = 115
    INVALID_UNICODE_DATA = 116
    INVALID_DELIVERY_TIME = 120
    DESTINATION_MOBILE_NUMBER_BLOCKED = 121
    DESTINATION_MOBILE_OPTED_OUT = 122
    INVALID_SENDER_ID = 123
    NUMBER_DELISTED = 128
    MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL = 130
    INVALID_BATCH_ID = 201
    NO_BATCH_TEMPLATE = 202
    NO_CREDIT_LEFT = 301
    MAX_ALLOWED_CREDIT = 302
    INTERNAL_ERROR = 901

    @property
    def description(self) -> str:
        """The gateway's text for this code, e.g. ``"Authentication failed"``."""
        return _ERROR_DESCRIPTIONS[self]

    @property
    def category(self) -> ErrorCategory:
        return _ERROR_CATEGORIES[self]

    @property
    def retryable(self) -> bool:
        """True when the same request can succeed later.

        003/005 after authenticating again, 130 after the time it names, 901 after a pause.
        Every other code is final for that request.
        """
        return self in _RETRYABLE_ERRORS


class MessageStatus(_WireCode):
    """A message status code (querymsg, delmsg, getmsgcharge, status callbacks)."""

    MESSAGE_UNKNOWN = 1
    MESSAGE_QUEUED = 2
    DELIVERED_TO_GATEWAY = 3
    RECEIVED_BY_RECIPIENT = 4
    ERROR_WITH_MESSAGE = 5
    USER_CANCELLED = 6
    ERROR_DELIVERING_MESSAGE = 7
    RECEIVED_BY_GATEWAY = 8  # the gateway's text is just "OK"
    ROUTING_ERROR = 9
    MESSAGE_EXPIRED = 10
    QUEUED_FOR_LATER_DELIVERY = 11
    OUT_OF_CREDIT = 12
    MAXIMUM_MT_LIMIT_EXCEEDED = 14

    @property
    def description(self) -> str:
        """The gateway's text for this status, e.g. ``"Delivered to gateway"``."""
        return _STATUS_DESCRIPTIONS[self]

    @property
    def is_final(self) -> bool:
        """The message will not change state again (006 is final without being an error)."""
        return self in _FINAL_STATUSES

    @property
    def is_intermediate(self) -> bool:
        """The message is on its way; a later status will follow."""
        return self in _INTERMEDIATE_STATUSES

    @property
    def is_error(self) -> bool:
        """The message failed. All of these are also final."""
        return self in _ERROR_STATUSES


class Feature(enum.IntFlag):
    """``req_feat`` bits: features the route must support (sent as their decimal sum)."""

    TEXT = 0x0001
    EIGHT_BIT = 0x0002
    UDH = 0x0004
    UCS2 = 0x0008
    ALPHA = 0x0010  # alphanumeric sender id
    NUMER = 0x0020  # numeric sender id
    FLASH = 0x0200
    DELIVACK = 0x2000
    CONCAT = 0x4000


_E = ErrorCode
_ERROR_DESCRIPTIONS: dict[ErrorCode, str] = {
    _E.AUTHENTICATION_FAILED: "Authentication failed",
    _E.UNKNOWN_USERNAME_OR_PASSWORD: "Unknown username or password",
    _E.SESSION_ID_EXPIRED: "Session ID expired",
    _E.ACCOUNT_FROZEN: "Account frozen",
    _E.MISSING_SESSION_ID: "Missing session ID",
    _E.IP_LOCKDOWN_VIOLATION: "IP Lockdown violation",
    _E.DATA_MALFORMED: "Data malformed",
    _E.INVALID_OR_MISSING_PARAMETERS: "Invalid or missing parameters",
    _E.INVALID_USER_DATA_HEADER: "Invalid user data header",
    _E.UNKNOWN_API_MESSAGE_ID: "Unknown API message ID",
    _E.UNKNOWN_CLIENT_MESSAGE_ID: "Unknown client message ID",
    _E.INVALID_DESTINATION_ADDRESS: "Invalid destination address",
    _E.INVALID_SOURCE_ADDRESS: "Invalid source address",
    _E.EMPTY_MESSAGE: "Empty message",
    _E.INVALID_OR_MISSING_API_ID: "Invalid or missing API ID",
    _E.MISSING_MESSAGE_ID: "Missing message ID",
    _E.ERROR_WITH_EMAIL_MESSAGE: "Error with email message",
    _E.INVALID_PROTOCOL: "Invalid protocol",
    _E.INVALID_MESSAGE_TYPE: "Invalid message type",
    _E.MAXIMUM_MESSAGE_PARTS_EXCEEDED: "Maximum message parts exceeded",
    _E.CANNOT_ROUTE_MESSAGE: "Cannot route message",
    _E.MESSAGE_EXPIRED: "Message expired",
    _E.INVALID_UNICODE_DATA: "Invalid Unicode data",
    _E.INVALID_DELIVERY_TIME: "Invalid delivery time",
    _E.DESTINATION_MOBILE_NUMBER_BLOCKED: "Destination mobile number blocked",
    _E.DESTINATION_MOBILE_OPTED_OUT: "Destination mobile opted out",
    _E.INVALID_SENDER_ID: "Invalid Sender ID",
    _E.NUMBER_DELISTED: "Number delisted",
    _E.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL: "Maximum MT limit exceeded until",
    _E.INVALID_BATCH_ID: "Invalid batch ID",
    _E.NO_BATCH_TEMPLATE: "No batch template",
    _E.NO_CREDIT_LEFT: "No credit left",
    _E.MAX_ALLOWED_CREDIT: "Max allowed credit",
    _E.INTERNAL_ERROR: "Internal error",
}

_C = ErrorCategory
_CATEGORY_MEMBERS: dict[ErrorCategory, tuple[ErrorCode, ...]] = {
    # 108 names the API id, a credential: it is fixed where the password is.
    _C.AUTHENTICATION: (
        _E.AUTHENTICATION_FAILED,
        _E.UNKNOWN_USERNAME_OR_PASSWORD,
        _E.ACCOUNT_FROZEN,
        _E.IP_LOCKDOWN_VIOLATION,
        _E.INVALID_OR_MISSING_API_ID,
    ),
    _C.SESSION: (_E.SESSION_ID_EXPIRED, _E.MISSING_SESSION_ID),
    _C.VALIDATION: (
        _E.DATA_MALFORMED,
        _E.INVALID_OR_MISSING_PARAMETERS,
        _E.INVALID_USER_DATA_HEADER,
        _E.INVALID_SOURCE_ADDRESS,
        _E.EMPTY_MESSAGE,
        _E.MISSING_MESSAGE_ID,
        _E.ERROR_WITH_EMAIL_MESSAGE,
        _E.INVALID_PROTOCOL,
        _E.INVALID_MESSAGE_TYPE,
        _E.MAXIMUM_MESSAGE_PARTS_EXCEEDED,
        _E.INVALID_UNICODE_DATA,
        _E.INVALID_DELIVERY_TIME,
        _E.INVALID_SENDER_ID,
    ),
    # 115 (message expired before it reached the upstream gateway) describes a message that
    # could not be delivered, not a failed lookup: like the other codes here it is final for
    # that recipient and charges nothing.
    _C.DESTINATION: (
        _E.INVALID_DESTINATION_ADDRESS,
        _E.CANNOT_ROUTE_MESSAGE,
        _E.MESSAGE_EXPIRED,
        _E.DESTINATION_MOBILE_NUMBER_BLOCKED,
        _E.DESTINATION_MOBILE_OPTED_OUT,
        _E.NUMBER_DELISTED,
    ),
    _C.MESSAGE_LOOKUP: (_E.UNKNOWN_API_MESSAGE_ID, _E.UNKNOWN_CLIENT_MESSAGE_ID),
    _C.BATCH: (_E.INVALID_BATCH_ID, _E.NO_BATCH_TEMPLATE),
    _C.CREDIT: (_E.NO_CREDIT_LEFT, _E.MAX_ALLOWED_CREDIT),
    _C.THROTTLED: (_E.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL,),
    _C.INTERNAL: (_E.INTERNAL_ERROR,),
}
_ERROR_CATEGORIES: dict[ErrorCode, ErrorCategory] = {
    code: category for category, codes in _CATEGORY_MEMBERS.items() for code in codes
}
_RETRYABLE_ERRORS = frozenset(
    {
        _E.SESSION_ID_EXPIRED,
        _E.MISSING_SESSION_ID,
        _E.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL,
        _E.INTERNAL_ERROR,
    }
)

_S = MessageStatus
_STATUS_DESCRIPTIONS: dict[MessageStatus, str] = {
    _S.MESSAGE_UNKNOWN: "Message unknown",
    _S.MESSAGE_QUEUED: "Message queued",
    _S.DELIVERED_TO_GATEWAY: "Delivered to gateway",
    _S.RECEIVED_BY_RECIPIENT: "Received by recipient",
    _S.ERROR_WITH_MESSAGE: "Error with message",
    _S.USER_CANCELLED: "User cancelled message delivery",
    _S.ERROR_DELIVERING_MESSAGE: "Error delivering message",
    _S.RECEIVED_BY_GATEWAY: "OK",
    _S.ROUTING_ERROR: "Routing error",
    _S.MESSAGE_EXPIRED: "Message expired",
    _S.QUEUED_FOR_LATER_DELIVERY: "Message queued for later delivery",
    _S.OUT_OF_CREDIT: "Out of credit",
    _S.MAXIMUM_MT_LIMIT_EXCEEDED: "Maximum MT limit exceeded",
}
_ERROR_STATUSES = frozenset(
    {
        _S.ERROR_WITH_MESSAGE,
        _S.ERROR_DELIVERING_MESSAGE,
        _S.ROUTING_ERROR,
        _S.MESSAGE_EXPIRED,
        _S.OUT_OF_CREDIT,
        _S.MAXIMUM_MT_LIMIT_EXCEEDED,
    }
)
_FINAL_STATUSES = _ERROR_STATUSES | {_S.RECEIVED_BY_RECIPIENT, _S.USER_CANCELLED}
# 001 (unknown) is neither: the id may be wrong or reporting may be late.
_INTERMEDIATE_STATUSES = frozenset(
    {
        _S.MESSAGE_QUEUED,
        _S.DELIVERED_TO_GATEWAY,
        _S.RECEIVED_BY_GATEWAY,
        _S.QUEUED_FOR_LATER_DELIVERY,
    }
)


def _statuses(*codes: int) -> frozenset[MessageStatus]:
    return frozenset(MessageStatus(code) for code in codes)


_DOC4_FINAL = (4, 5, 7, 9, 10, 12)
_DOC4_ERRORS = (5, 7, 9, 10, 12)

CALLBACK_TRIGGERS: Mapping[int, frozenset[MessageStatus]] = MappingProxyType(
    {
        0: frozenset(),
        1: _statuses(3),
        2: _statuses(*_DOC4_FINAL),
        3: _statuses(3, *_DOC4_FINAL),
        4: _statuses(*_DOC4_ERRORS),
        5: _statuses(3, *_DOC4_ERRORS),
        6: _statuses(*_DOC4_FINAL, *_DOC4_ERRORS),
        7: _statuses(3, *_DOC4_FINAL, *_DOC4_ERRORS),
    }
)
"""``callback`` value → statuses that trigger a status callback (default profile, docs/protocol.md,
"Callbacks")."""

CALLBACK_TRIGGERS_V238: Mapping[int, frozenset[MessageStatus]] = MappingProxyType(
    {
        0: frozenset(),
        1: _statuses(2, 3, 11),
        2: _statuses(4, 5, 6, 7, 8, 10, 12),
        3: _statuses(*range(2, 13)),  # "all except 001"; 014 did not exist yet
    }
)
"""``callback`` value → triggering statuses in the v2.3.8 profile (docs/protocol.md,
"Callbacks")."""
