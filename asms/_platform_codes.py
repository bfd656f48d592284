"""The Platform wires' codes: One API error codes and statuses, Platform SMS extras, and how
each maps onto the legacy :class:`ErrorCode` / :class:`MessageStatus` family.

Two generations answer on ``platform.clickatell.com`` (docs/protocol.md, "The Platform
wires"). The Platform SMS API (``POST /messages``) reuses the legacy numbering for its error
codes (105, 108, ...) and its status codes (1-14), adding a few of its own (607); the One API
(``POST /v1/message``) numbers both afresh (error 25 is an invalid recipient, status 4 is
"sent to supplier").

A result or exception carries the legacy code wherever the meaning is the same, so the same
failure reads the same on every wire (``error_code == ErrorCode.INVALID_DESTINATION_ADDRESS``
whether the HTTP API said ``ERR: 105`` or the One API said ``{"code": 25}``); a code with no
legacy equivalent stays a member of its own enum (:class:`OneApiErrorCode`,
:class:`PlatformErrorCode`), and a code nobody documented stays a plain ``int``. The
wire's own text is kept in the description.

Pure data: no I/O, imported by the client, the callback receiver and the emulator alike.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ._codes import ErrorCategory, ErrorCode, MessageStatus

__all__ = [
    "ONE_API_STATUS_NAMES",
    "PLATFORM_ERROR_TEXTS",
    "PLATFORM_STATUS_NAMES",
    "OneApiErrorCode",
    "OneApiStatus",
    "PlatformErrorCode",
    "category_of",
    "one_api_error",
    "one_api_status",
    "platform_error",
    "platform_error_from_text",
    "platform_status",
]

_CAT = ErrorCategory


class OneApiErrorCode(enum.IntEnum):
    """An error code of the One API (``{"error": {"code": 23, "description": ...}}``)."""

    INVALID_OR_MISSING_API_KEY = 1
    ACCOUNT_NOT_ACTIVE = 2
    INTEGRATION_NOT_ACTIVE = 3
    IP_NOT_APPROVED = 7
    INTERNAL_ERROR = 18
    INTERNAL_ERROR_RETRY = 19
    INSUFFICIENT_BALANCE = 20
    PAYLOAD_MALFORMED = 21
    MAX_MESSAGES_PER_REQUEST = 22
    INVALID_OR_MISSING_PARAMETER = 23
    MAX_CONTENT_SIZE = 24
    INVALID_RECIPIENT = 25
    RECIPIENT_OPTED_OUT = 26
    RECIPIENT_NOT_ON_CHANNEL = 27
    RECIPIENT_NOT_ON_SANDBOX = 28
    CONTENT_TYPE_UNSUPPORTED = 30
    MEDIA_SIZE_EXCEEDED = 31
    PAYLOAD_SIZE_EXCEEDED = 32
    MEDIA_NOT_FOUND = 33
    CHANNEL_FEATURE_NOT_ACTIVE = 38
    CHANNEL_NOT_AVAILABLE = 39
    CHARSET_NOT_SUPPORTED = 40
    RESOURCE_DOES_NOT_EXIST = 41
    METHOD_NOT_SUPPORTED = 42
    RATE_LIMIT = 43
    FROM_NUMBER_SUSPENDED = 44
    FROM_NUMBER_NOT_RELATED = 45
    DEMO_ACCESS_EXPIRED = 46
    MAX_MESSAGE_PARTS_EXCEEDED = 100
    DESTINATION_NOT_TWO_WAY = 101
    USA_TWO_WAY_REQUIRED = 110
    USA_STOP_REQUIRED = 111

    @property
    def description(self) -> str:
        """The One API's text for this code."""
        return _ONE_API_TABLE[self][0]

    @property
    def http_status(self) -> int:
        """The HTTP status the One API answers this code with."""
        return _ONE_API_TABLE[self][1]

    @property
    def category(self) -> ErrorCategory:
        """What kind of problem it is (the exception class raised for it)."""
        return _ONE_API_TABLE[self][2]

    @property
    def legacy(self) -> ErrorCode | None:
        """The legacy code with the same meaning, if there is one."""
        return _ONE_API_TABLE[self][3]

    @property
    def retryable(self) -> bool:
        """True when the same request can succeed later (18, 19, 43)."""
        return self in _ONE_API_RETRYABLE


class PlatformErrorCode(enum.IntEnum):
    """A Platform SMS error code with no legacy equivalent (the rest reuse :class:`ErrorCode`)."""

    FROM_NUMBER_NOT_TWO_WAY = 607

    @property
    def description(self) -> str:
        """The platform's text for this code."""
        return _PLATFORM_TABLE[self][0]

    @property
    def category(self) -> ErrorCategory:
        """What kind of problem it is (the exception class raised for it)."""
        return _PLATFORM_TABLE[self][1]

    @property
    def retryable(self) -> bool:
        """Always False: every Platform-only code is final for its request."""
        return False


class OneApiStatus(enum.IntEnum):
    """A message status of the One API (``GET /v1/message/{id}``, status callbacks)."""

    UNKNOWN = 1
    QUEUED = 2
    SCHEDULED = 3
    SENT_TO_SUPPLIER = 4
    DEVICE_ACK = 5
    READ = 6
    EXPIRED = 20
    STOPPED_BY_USER = 21
    STOPPED_BY_ADMIN = 22
    DELIVERY_FAILURE = 23
    EMULATED = 24
    INSUFFICIENT_ACCOUNT_BALANCE = 25
    VOLUME_LIMIT = 26
    VOLUME_LIMIT_DAILY = 27
    VOLUME_LIMIT_MONTHLY = 28
    RECIPIENT_DOES_NOT_EXIST = 29
    ROUTING_ERROR = 100

    @property
    def legacy(self) -> MessageStatus | None:
        """The legacy status with the same meaning, if there is one."""
        return _ONE_API_STATUS_LEGACY.get(self)


_O = OneApiErrorCode
_EC = ErrorCode
# code -> (description, HTTP status, category, legacy equivalent)
_ONE_API_TABLE: Final[dict[OneApiErrorCode, tuple[str, int, ErrorCategory, ErrorCode | None]]] = {
    _O.INVALID_OR_MISSING_API_KEY: (
        "Invalid or missing integration API Key", 401, _CAT.AUTHENTICATION,
        _EC.INVALID_OR_MISSING_API_ID,
    ),
    _O.ACCOUNT_NOT_ACTIVE: ("Account is not active", 400, _CAT.AUTHENTICATION, _EC.ACCOUNT_FROZEN),
    _O.INTEGRATION_NOT_ACTIVE: ("Integration is not active", 400, _CAT.AUTHENTICATION, None),
    _O.IP_NOT_APPROVED: (
        "Originating IP address is not approved in your account", 401, _CAT.AUTHENTICATION,
        _EC.IP_LOCKDOWN_VIOLATION,
    ),
    _O.INTERNAL_ERROR: ("Internal error", 500, _CAT.INTERNAL, _EC.INTERNAL_ERROR),
    _O.INTERNAL_ERROR_RETRY: ("Internal error, please retry", 503, _CAT.INTERNAL, None),
    _O.INSUFFICIENT_BALANCE: ("Insufficient account balance", 402, _CAT.CREDIT, _EC.NO_CREDIT_LEFT),
    _O.PAYLOAD_MALFORMED: ("Payload malformed", 400, _CAT.VALIDATION, _EC.DATA_MALFORMED),
    _O.MAX_MESSAGES_PER_REQUEST: (
        "Maximum messages per request payload exceeded", 400, _CAT.VALIDATION, None,
    ),
    _O.INVALID_OR_MISSING_PARAMETER: (
        "Invalid or missing parameter", 400, _CAT.VALIDATION, _EC.INVALID_OR_MISSING_PARAMETERS,
    ),
    _O.MAX_CONTENT_SIZE: ("Maximum message content size exceeded", 400, _CAT.VALIDATION, None),
    _O.INVALID_RECIPIENT: (
        "Invalid recipient address", 400, _CAT.DESTINATION, _EC.INVALID_DESTINATION_ADDRESS,
    ),
    _O.RECIPIENT_OPTED_OUT: (
        "Recipient opted out", 400, _CAT.DESTINATION, _EC.DESTINATION_MOBILE_OPTED_OUT,
    ),
    _O.RECIPIENT_NOT_ON_CHANNEL: (
        "Recipient not available on channel", 400, _CAT.DESTINATION, _EC.CANNOT_ROUTE_MESSAGE,
    ),
    _O.RECIPIENT_NOT_ON_SANDBOX: (
        "Recipient not available on sandbox", 400, _CAT.DESTINATION, None,
    ),
    _O.CONTENT_TYPE_UNSUPPORTED: ("Content type not supported", 400, _CAT.VALIDATION, None),
    _O.MEDIA_SIZE_EXCEEDED: ("Media size exceeded", 400, _CAT.VALIDATION, None),
    _O.PAYLOAD_SIZE_EXCEEDED: ("Payload size exceeded", 400, _CAT.VALIDATION, None),
    _O.MEDIA_NOT_FOUND: ("Media not found", 400, _CAT.VALIDATION, None),
    _O.CHANNEL_FEATURE_NOT_ACTIVE: (
        "Channel feature is not active on the integration", 400, _CAT.VALIDATION, None,
    ),
    _O.CHANNEL_NOT_AVAILABLE: ("Channel not available on integration", 400, _CAT.VALIDATION, None),
    _O.CHARSET_NOT_SUPPORTED: ("Character set not supported", 400, _CAT.VALIDATION, None),
    _O.RESOURCE_DOES_NOT_EXIST: ("Resource does not exist", 400, _CAT.VALIDATION, None),
    _O.METHOD_NOT_SUPPORTED: ("HTTP method not supported", 400, _CAT.VALIDATION, None),
    _O.RATE_LIMIT: ("Rate limit exceeded", 400, _CAT.THROTTLED, None),
    _O.FROM_NUMBER_SUSPENDED: ("FROM number is suspended", 400, _CAT.VALIDATION, None),
    _O.FROM_NUMBER_NOT_RELATED: (
        "FROM number is not related to integration", 400, _CAT.VALIDATION, None,
    ),
    _O.DEMO_ACCESS_EXPIRED: ("Demo access expired", 400, _CAT.AUTHENTICATION, None),
    _O.MAX_MESSAGE_PARTS_EXCEEDED: (
        "Maximum message parts exceeded", 400, _CAT.VALIDATION, _EC.MAXIMUM_MESSAGE_PARTS_EXCEEDED,
    ),
    _O.DESTINATION_NOT_TWO_WAY: (
        "Destination does not support two-way messaging", 400, _CAT.DESTINATION, None,
    ),
    _O.USA_TWO_WAY_REQUIRED: (
        "A two-way integration is required to send to the USA", 400, _CAT.VALIDATION, None,
    ),
    _O.USA_STOP_REQUIRED: (
        "STOP/SUBSCRIBE must be enabled on the integration to send to the USA", 400,
        _CAT.VALIDATION, None,
    ),
}  # fmt: skip
_ONE_API_RETRYABLE: Final = frozenset({_O.INTERNAL_ERROR, _O.INTERNAL_ERROR_RETRY, _O.RATE_LIMIT})

_PLATFORM_TABLE: Final[dict[PlatformErrorCode, tuple[str, ErrorCategory]]] = {
    PlatformErrorCode.FROM_NUMBER_NOT_TWO_WAY: ("Invalid FROM number.", _CAT.VALIDATION),
}

_MS = MessageStatus
_A = OneApiStatus
_ONE_API_STATUS_LEGACY: Final[dict[OneApiStatus, MessageStatus]] = {
    _A.UNKNOWN: _MS.MESSAGE_UNKNOWN,
    _A.QUEUED: _MS.MESSAGE_QUEUED,
    _A.SCHEDULED: _MS.QUEUED_FOR_LATER_DELIVERY,
    _A.SENT_TO_SUPPLIER: _MS.DELIVERED_TO_GATEWAY,
    _A.DEVICE_ACK: _MS.RECEIVED_BY_RECIPIENT,
    _A.READ: _MS.RECEIVED_BY_RECIPIENT,
    _A.EXPIRED: _MS.MESSAGE_EXPIRED,
    _A.STOPPED_BY_USER: _MS.USER_CANCELLED,
    _A.STOPPED_BY_ADMIN: _MS.USER_CANCELLED,
    _A.DELIVERY_FAILURE: _MS.ERROR_DELIVERING_MESSAGE,
    _A.INSUFFICIENT_ACCOUNT_BALANCE: _MS.OUT_OF_CREDIT,
    _A.VOLUME_LIMIT: _MS.MAXIMUM_MT_LIMIT_EXCEEDED,
    _A.VOLUME_LIMIT_DAILY: _MS.MAXIMUM_MT_LIMIT_EXCEEDED,
    _A.VOLUME_LIMIT_MONTHLY: _MS.MAXIMUM_MT_LIMIT_EXCEEDED,
    _A.RECIPIENT_DOES_NOT_EXIST: _MS.ERROR_DELIVERING_MESSAGE,
    _A.ROUTING_ERROR: _MS.ROUTING_ERROR,
}

ONE_API_STATUS_NAMES: Final[Mapping[str, OneApiStatus]] = MappingProxyType(
    {member.name: member for member in OneApiStatus}
)
"""A One API status name (``"DEVICE_ACK"``) -> its :class:`OneApiStatus`."""

# The platform's status strings: the confirmed ones are the legacy names in upper snake case
# (DELIVERED_TO_GATEWAY, RECEIVED_BY_RECIPIENT); shorter spellings seen in clients are aliases.
_PLATFORM_ALIASES: Final[dict[str, MessageStatus]] = {
    "UNKNOWN": _MS.MESSAGE_UNKNOWN,
    "QUEUED": _MS.MESSAGE_QUEUED,
    "CANCELLED": _MS.USER_CANCELLED,
    "EXPIRED": _MS.MESSAGE_EXPIRED,
    "DELAYED": _MS.QUEUED_FOR_LATER_DELIVERY,
    "SCHEDULED": _MS.QUEUED_FOR_LATER_DELIVERY,
    "ERROR_DELIVERING": _MS.ERROR_DELIVERING_MESSAGE,
    "MAX_MT_EXCEEDED": _MS.MAXIMUM_MT_LIMIT_EXCEEDED,
}
PLATFORM_STATUS_NAMES: Final[Mapping[str, MessageStatus]] = MappingProxyType(
    {**{member.name: member for member in MessageStatus}, **_PLATFORM_ALIASES}
)
"""A Platform SMS status string (``"RECEIVED_BY_RECIPIENT"``) -> its :class:`MessageStatus`."""

PLATFORM_ERROR_TEXTS: Final[Mapping[str, ErrorCode | PlatformErrorCode]] = MappingProxyType(
    {
        "invalid destination address": _EC.INVALID_DESTINATION_ADDRESS,
        "invalid or missing integration api key": _EC.INVALID_OR_MISSING_API_ID,
        "invalid from number": _EC.INVALID_SOURCE_ADDRESS,
        "no credit left": _EC.NO_CREDIT_LEFT,
        "insufficient account balance": _EC.NO_CREDIT_LEFT,
        "internal error": _EC.INTERNAL_ERROR,
        "internal error, please retry": _EC.INTERNAL_ERROR,
        "empty message": _EC.EMPTY_MESSAGE,
        "maximum message parts exceeded": _EC.MAXIMUM_MESSAGE_PARTS_EXCEEDED,
        "two-way integration error - from number is not related to integration": (
            PlatformErrorCode.FROM_NUMBER_NOT_TWO_WAY
        ),
    }
)
"""What a 2017-era Platform SMS error *text* (no code given) means, by its lowercased text
without a trailing full stop; a text not listed here has no code (0)."""


def platform_error(code: int) -> ErrorCode | PlatformErrorCode | int:
    """A Platform SMS ``errorCode``: the legacy member (same numbering), a Platform-only
    member, or the plain int for a code nobody documented."""
    legacy = ErrorCode.coerce(code)
    if isinstance(legacy, ErrorCode):
        return legacy
    member = PlatformErrorCode._value2member_map_.get(code)
    return code if member is None else PlatformErrorCode(code)


def platform_error_from_text(text: str) -> ErrorCode | PlatformErrorCode | int:
    """The code a 2017-era error text stands for (0 when it is not a known text)."""
    key = text.strip().rstrip(".").strip().lower()
    return PLATFORM_ERROR_TEXTS.get(key, 0)


def one_api_error(code: int) -> ErrorCode | OneApiErrorCode | int:
    """A One API error code: its legacy equivalent where the meaning is the same, else the
    One API member, else (undocumented) the plain int."""
    member = OneApiErrorCode._value2member_map_.get(code)
    if member is None:
        return code
    known = OneApiErrorCode(code)
    return known.legacy or known


def category_of(
    code: ErrorCode | OneApiErrorCode | PlatformErrorCode | int,
) -> ErrorCategory | None:
    """The category of any code a wire reports; None for an undocumented plain int."""
    if isinstance(code, ErrorCode | OneApiErrorCode | PlatformErrorCode):
        return code.category
    return None


def platform_status(code: int | None, name: str | None) -> MessageStatus | int:
    """A Platform SMS status from its ``statusCode`` (legacy numbering) or, without one, its
    ``status`` string; 0 when neither says anything known."""
    if code is not None:
        return MessageStatus.coerce(code)
    if name:
        known = PLATFORM_STATUS_NAMES.get(name.strip().upper())
        if known is not None:
            return known
    return 0


def one_api_status(code: int | None, name: str | None) -> MessageStatus | OneApiStatus | int:
    """A One API status as the legacy status of the same meaning, else the One API member,
    else the plain int (0 when neither code nor name is given or known)."""
    member: OneApiStatus | None = None
    if code is not None:
        if code not in OneApiStatus._value2member_map_:
            return code
        member = OneApiStatus(code)
    elif name:
        member = ONE_API_STATUS_NAMES.get(name.strip().upper())
    if member is None:
        return 0
    return member.legacy or member
