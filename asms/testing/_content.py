"""Message content as the gateway sees it: decoding, part counting, parameter error codes."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .._codes import ErrorCode
from .._encoding import (
    UCS2_CONCAT_UNITS,
    UCS2_SINGLE_UNITS,
    count_binary_parts,
    count_parts,
    decode_ucs2_hex,
    is_gsm7,
)
from .._models import MAX_SCHEDULE_AHEAD
from .._numbers import MAX_DIGITS, MIN_DIGITS
from .._optable import MSG_TYPES, OPERATIONS, Operation, Param
from ._config import Profile

__all__ = [
    "Content",
    "param_error",
    "content_of",
    "gsm_parts",
    "is_msisdn",
    "ucs2_parts",
]

E = ErrorCode

#: international format, digits only, no leading zero (docs/protocol.md, "Numbers")
is_msisdn = re.compile(rf"[1-9][0-9]{{{MIN_DIGITS - 1},{MAX_DIGITS - 1}}}").fullmatch

# The specific code for a parameter whose value breaks its rule; everything else is 101.
_CODE_FOR_PARAM: Mapping[str, ErrorCode] = {
    "from": E.INVALID_SOURCE_ADDRESS,
    "udh": E.INVALID_USER_DATA_HEADER,
    "deliv_time": E.INVALID_DELIVERY_TIME,
    "scheduled_time": E.INVALID_DELIVERY_TIME,
    "msg_type": E.INVALID_MESSAGE_TYPE,
    "apimsgid": E.UNKNOWN_API_MESSAGE_ID,
    "batch_id": E.INVALID_BATCH_ID,
}
# Lookups by client id answer "unknown client message ID" for a malformed one.
_LOOKUPS = frozenset({"querymsg", "delmsg", "getmsgcharge"})
_BINARY_TYPES = frozenset(t for t in MSG_TYPES if t.startswith("SMS_NOKIA"))
_TEXT_TYPES = frozenset({"SMS_TEXT", "SMS_FLASH"})
_REQUIRED: dict[str, tuple[Param, ...]] = {
    op.name: tuple(p for p in op.params if p.required) for op in OPERATIONS.values()
}
_MISSING_CODE: Mapping[str, ErrorCode] = {"template": E.NO_BATCH_TEMPLATE}


def param_error(
    op: Operation, params: Mapping[str, str], has_recipients: bool, profile: Profile
) -> ErrorCode | None:
    """The error code for the first parameter that breaks the operation table, if any."""
    for name, value in params.items():
        param = op.param(name)
        if param is None or param.type == "list":
            continue
        if param.check(value) is not None:
            if name == "climsgid" and op.name in _LOOKUPS:
                return E.UNKNOWN_CLIENT_MESSAGE_ID
            return _CODE_FOR_PARAM.get(name, E.INVALID_OR_MISSING_PARAMETERS)
    for param in _REQUIRED[op.name]:
        if param.type == "list":
            if not has_recipients:
                return E.INVALID_OR_MISSING_PARAMETERS
        elif not params.get(param.name):
            return _MISSING_CODE.get(param.name, E.INVALID_OR_MISSING_PARAMETERS)
    # Limits that depend on the platform generation rather than on the table.
    callback = params.get("callback")
    if callback is not None and int(callback) > profile.max_callback:
        return E.INVALID_OR_MISSING_PARAMETERS
    concat = params.get("concat")
    if concat is not None and int(concat) > profile.max_concat:
        return E.INVALID_OR_MISSING_PARAMETERS
    max_credits = params.get("max_credits")
    if (
        max_credits is not None
        and profile.max_credits_values is not None
        and float(max_credits) not in profile.max_credits_values
    ):
        return E.MAX_ALLOWED_CREDIT
    return None


def check_schedule(params: Mapping[str, str], now: float) -> tuple[float, ErrorCode | None]:
    """When the message is due to leave, or 120 for a scheduled time beyond seven days."""
    deliv_time = params.get("deliv_time")
    if deliv_time is not None:
        return now + int(deliv_time) * 60, None
    scheduled = params.get("scheduled_time")
    if scheduled is not None:
        when = int(scheduled)
        if when > now + MAX_SCHEDULE_AHEAD:
            return now, E.INVALID_DELIVERY_TIME
        return max(now, float(when)), None
    return now, None


def _as_gsm(text: str) -> str:
    # unicode=0 text is sent in the GSM alphabet; characters it lacks go out as "?".
    return "".join(c if is_gsm7(c) else "?" for c in text)


def gsm_parts(text: str) -> int:
    """Parts of a ``unicode=0`` text: GSM 03.38, characters outside it count as one septet."""
    counted = count_parts(text)
    if counted.encoding == "gsm7":
        return counted.parts
    return count_parts(_as_gsm(text)).parts


def ucs2_parts(text: str) -> int:
    """Parts of a ``unicode=1`` text: UCS-2 whatever its characters."""
    counted = count_parts(text)
    if counted.encoding == "ucs2":
        return counted.parts
    units = len(text)  # GSM text has no surrogate pairs: one unit per character
    return 1 if units <= UCS2_SINGLE_UNITS else -(-units // UCS2_CONCAT_UNITS)


class Content:
    """The decoded payload of a message and how many parts it needs."""

    __slots__ = ("parts", "text")

    def __init__(self, text: str, parts: int) -> None:
        self.text = text
        self.parts = parts


def content_of(params: Mapping[str, str]) -> Content | ErrorCode:
    """Decode ``text``/``data``/``udh`` the way their flags say; an error code if they are bad."""
    text = params.get("text")
    udh = params.get("udh")
    data = params.get("data")
    msg_type = params.get("msg_type", "SMS_TEXT")
    if udh and msg_type not in _TEXT_TYPES:
        return E.INVALID_MESSAGE_TYPE  # a Nokia type builds its own UDH
    if udh or data or params.get("binary") == "1" or msg_type in _BINARY_TYPES:
        payload_hex = data if data else text
        if not payload_hex:
            return E.EMPTY_MESSAGE
        try:
            payload = bytes.fromhex(payload_hex)
        except ValueError:
            return E.INVALID_OR_MISSING_PARAMETERS
        header = bytes.fromhex(udh) if udh else b""
        if header and header[0] != len(header) - 1:
            return E.INVALID_USER_DATA_HEADER
        try:
            counted = count_binary_parts(payload, header)
        except ValueError:
            return E.INVALID_USER_DATA_HEADER
        return Content(payload_hex, counted.parts)
    if not text:
        return E.EMPTY_MESSAGE
    if params.get("unicode") == "1":
        try:
            decoded = decode_ucs2_hex(text)
        except (ValueError, UnicodeDecodeError):
            return E.INVALID_UNICODE_DATA
        if not decoded:
            return E.EMPTY_MESSAGE
        return Content(decoded, ucs2_parts(decoded))
    return Content(text, gsm_parts(text))
