"""The JSON the emulator's Platform endpoints answer with, in every variant.

Built here from plain values (the emulator never imports the client's wire code): the
Platform SMS shapes ("current", "2020", "2017"), the One API's ``error`` objects, and the
texts of the codes the emulator gives.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from .._codes import ErrorCode
from .._platform_codes import OneApiErrorCode
from ._platform_config import PlatformVariant

__all__ = [
    "ONE_API_FOR_LEGACY",
    "Result",
    "one_api_body",
    "one_api_error_body",
    "platform_body",
    "platform_error_body",
    "platform_texts",
]

E = ErrorCode
O = OneApiErrorCode  # noqa: E741 - the One API's codes, as E is the legacy ones

#: code -> (``error``, ``errorDescription``) as the platform words them. Codes not listed
#: read as the legacy description with a full stop.
_TEXTS: Final[Mapping[int, tuple[str, str]]] = {
    4: ("Account is not active.", "The account of this integration is not active."),
    7: ("IP lockdown violation.", "Your IP address is not approved for this integration."),
    100: ("Data malformed.", "The request body is not valid JSON of the expected shape."),
    101: ("Invalid or missing parameters.", "A required parameter is missing or invalid."),
    105: ("Invalid destination address.", "The destination address you specified is invalid."),
    106: ("Invalid FROM number.", "You should specify correct FROM number."),
    107: ("Empty message.", "The message content is empty."),
    108: (
        "Invalid or missing integration API Key.",
        "The integration API key is either incorrect or has not been included in the API call.",
    ),
    113: (
        "Maximum message parts exceeded.",
        "The message needs more parts than the integration allows.",
    ),
    120: ("Invalid delivery time.", "The scheduled delivery time is invalid or too far ahead."),
    130: ("Maximum MT limit exceeded.", "Too many messages; slow down and retry."),
    301: ("No credit left.", "The account does not have enough credit for this message."),
    607: ("Invalid FROM number.", "User specified FROM number, but integration isn't two-way."),
    901: ("Internal error.", "An internal error occurred; please retry."),
}
#: The 2017 texts that differ from the current ``error`` text.
_TEXTS_2017: Final[Mapping[int, str]] = {
    607: "Two-Way integration error - From number is not related to integration",
}

#: A legacy-numbered refusal of one recipient (or request) -> the One API code for it.
ONE_API_FOR_LEGACY: Final[Mapping[int, OneApiErrorCode]] = {
    4: O.ACCOUNT_NOT_ACTIVE,
    7: O.IP_NOT_APPROVED,
    100: O.PAYLOAD_MALFORMED,
    101: O.INVALID_OR_MISSING_PARAMETER,
    105: O.INVALID_RECIPIENT,
    106: O.INVALID_OR_MISSING_PARAMETER,
    107: O.INVALID_OR_MISSING_PARAMETER,
    108: O.INVALID_OR_MISSING_API_KEY,
    113: O.MAX_MESSAGE_PARTS_EXCEEDED,
    114: O.RECIPIENT_NOT_ON_CHANNEL,
    120: O.INVALID_OR_MISSING_PARAMETER,
    121: O.RECIPIENT_NOT_ON_CHANNEL,
    122: O.RECIPIENT_OPTED_OUT,
    128: O.INVALID_RECIPIENT,
    301: O.INSUFFICIENT_BALANCE,
    607: O.FROM_NUMBER_NOT_RELATED,
}

#: One recipient's outcome: (to, apiMessageId or None, refusal code or 0, detail for the
#: One API's "Invalid or missing parameter: <name>").
Result = tuple[str, str | None, int, str]


def platform_texts(code: int) -> tuple[str, str]:
    """(``error``, ``errorDescription``) of a Platform SMS code."""
    known = _TEXTS.get(code)
    if known is not None:
        return known
    try:
        text = f"{E(code).description}."
    except ValueError:
        text = "Error."
    return text, text


# ensure_ascii=False: the body is UTF-8, as the platform's. One encoder for every reply:
# json.dumps with options builds a new one per call.
_ENCODE: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _string(value: str) -> str:
    """``value`` as a JSON string (digits, the usual number, need no escaping)."""
    return f'"{value}"' if value.isdigit() else _ENCODE(value)


def _dumps(value: Any) -> bytes:
    return _ENCODE(value).encode()


# An accepted entry is most of every answer: written from a template (the id is hex and
# the number a JSON string already), one string format instead of a dict to encode.
_ACCEPTED_ENTRY: Final = (
    '{"apiMessageId":"%s","accepted":true,"to":%s,'
    '"errorCode":null,"error":null,"errorDescription":null}'
)
_ACCEPTED_2017: Final = '{"apiMessageId":"%s","accepted":true,"to":%s,"error":null}'
_CLOSING: Final[Mapping[str, str]] = {
    "current": '],"errorCode":null,"error":null,"errorDescription":null}',
    "2020": "]}",
    "2017": '],"error":null}',
}


def platform_body(results: list[Result], variant: PlatformVariant) -> bytes:
    """A Platform SMS answer with one entry per recipient (accepted or refused)."""
    entries: list[str] = []
    append = entries.append
    accepted = _ACCEPTED_2017 if variant == "2017" else _ACCEPTED_ENTRY
    for to, apimsgid, code, _ in results:
        if apimsgid is not None:
            append(accepted % (apimsgid, _string(to)))
        elif variant == "2017":
            error = _TEXTS_2017.get(code) or platform_texts(code)[0]
            append(_ENCODE({"apiMessageId": None, "accepted": False, "to": to, "error": error}))
        else:
            error, description = platform_texts(code)
            refused = {
                "apiMessageId": None,
                "accepted": False,
                "to": to,
                "errorCode": code,
                "error": error,
                "errorDescription": description,
            }
            append(_ENCODE(refused))
    return ('{"messages":[' + ",".join(entries) + _CLOSING[variant]).encode()


def platform_error_body(code: int, variant: PlatformVariant) -> bytes:
    """A Platform SMS request-level failure: no messages, the error at the top level."""
    error, description = platform_texts(code)
    if variant == "2017":
        return _dumps({"messages": [], "error": _TEXTS_2017.get(code, error)})
    return _dumps(
        {"messages": [], "errorCode": code, "error": error, "errorDescription": description}
    )


def _one_api_error(code: int, detail: str = "") -> dict[str, Any]:
    description = OneApiErrorCode(code).description
    if detail and code == O.INVALID_OR_MISSING_PARAMETER:
        description = f"{description}: {detail}"
    return {"code": code, "description": description}


def one_api_body(results: list[Result]) -> bytes:
    """A One API answer: one entry per message, the global error unused (null)."""
    entries: list[str] = []
    append = entries.append
    for to, apimsgid, code, detail in results:
        if apimsgid is not None:
            append(_ACCEPTED_2017 % (apimsgid, _string(to)))
        else:
            append(_ENCODE({"error": _one_api_error(code, detail), "accepted": False, "to": to}))
    return ('{"messages":[' + ",".join(entries) + '],"error":null}').encode()


def one_api_error_body(code: int, detail: str = "") -> bytes:
    """A One API request-level failure: only the global ``error`` object."""
    return _dumps({"error": _one_api_error(code, detail)})


def json_body(value: Any) -> bytes:
    """Any other JSON answer (balance, status), encoded as the others."""
    return _dumps(value)
