"""The Platform wires' answers, parsed into the replies the legacy parsers produce.

Every variant seen in the wild is read (docs/protocol.md, "The Platform wires"): success
bodies with or without top-level error keys, per-message rejections as a text only (2017)
or with ``errorCode``/``errorDescription`` (2019 on), request-level failures answered with
HTTP 200 and an empty ``messages`` list, and the One API's ``error`` objects. Success is
decided from the body alone; the status code was judged by ``PlatformWire.unwrap``.

The rules, per message entry:

* accepted: ``accepted`` is true (or absent) and ``apiMessageId`` is a non-empty string, and
  no error is given;
* rejected: ``accepted`` is false (or absent), no ``apiMessageId``, and an error is given
  (a code, a text or both);
* anything else (accepted without an id, an id with an error, neither) contradicts itself:
  :class:`~asms.ReplyParseError`, which makes the request's outcome unknown — never a guess.

Entries are matched to recipients by number by the client (``match_replies``), never by
order: an entry without a number is allowed only when it is the only one.

A body with no entries but an error refuses the whole request: the error is raised as the
:class:`~asms.GatewayError` subclass of its code's category — unless it has no code and a
text asms does not know, which is a :class:`~asms.ReplyParseError` (outcome unknown).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from .._codes import ErrorCategory, ErrorCode
from .._config import PLATFORM_THROTTLE_PAUSE
from .._exceptions import (
    GatewayError,
    MessageLookupError,
    ReplyParseError,
    ThrottledError,
    error_for,
)
from .._fast import IdLines
from .._platform_codes import (
    OneApiErrorCode,
    PlatformErrorCode,
    category_of,
    one_api_error,
    one_api_status,
    platform_error,
    platform_error_from_text,
    platform_status,
)
from .._replies import CreditReply, ErrorReply, IdReply, StatusReply

__all__ = [
    "PARSERS",
    "parse_balance",
    "parse_one_api_send",
    "parse_one_api_status",
    "parse_platform_send",
    "parse_platform_status",
]

Code = ErrorCode | OneApiErrorCode | PlatformErrorCode | int
PlatformSendReply = list[IdReply | ErrorReply] | IdLines

_NO_ENTRIES: Final = "a send answer with no message entries and no error"


def _json_object(body: bytes | str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ReplyParseError("an answer that is not JSON", body) from None
    if not isinstance(document, dict):
        raise ReplyParseError("a JSON answer that is not an object", body)
    return document


def _int(value: object) -> int | None:
    """A code given as an int or a digit string; None for null/absent; else a parse error."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ReplyParseError("an error code that is not a number", str(value))
    if isinstance(value, int):
        if value < 0:
            # No wire numbers its codes below 0, and asms's own results do (OUTCOME_UNKNOWN,
            # NOT_SENT): a rejection must not read as "never sent", which may be resent.
            raise ReplyParseError("an error code below 0", str(value))
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    raise ReplyParseError("an error code that is not a number", str(value))


def _error_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    raise ReplyParseError("an error text that is not a string", str(value))


def _all_accepted(entries: list[Any]) -> IdLines | None:
    """The common answer — every entry a plain accepted one that names its number in digits —
    read in one pass; None for anything else, which the full rules of ``_Wire.send`` read.

    What it returns is what those rules give for such an answer; ``tests/wire`` holds the two
    equal on every variant.
    """
    ids: list[str] = []
    numbers: list[str] = []
    for entry in entries:
        if type(entry) is not dict:
            return None
        get = entry.get
        accepted = get("accepted")
        apimsgid = get("apiMessageId")
        to = get("to")
        if (
            (accepted is not True and accepted is not None)
            or type(apimsgid) is not str
            or not apimsgid
            or type(to) is not str
            or not to.isdigit()
            or get("error") is not None
            or get("errorCode") is not None
            or get("errorDescription") is not None
        ):
            return None
        ids.append(apimsgid)
        numbers.append(to)
    return IdLines(ids, numbers)


class _Wire:
    """What differs between the two wires: how a numeric code maps."""

    def __init__(self, name: str, mapping: Callable[[int], Code]) -> None:
        self.name = name
        self.mapping = mapping

    def error(self, entry: Mapping[str, Any]) -> tuple[Code, str] | None:
        """The error an object carries (top level or one entry), or None when it has none.

        ``error`` may be a text (Platform SMS) or an object ``{code, description}`` (One API);
        ``errorCode``/``errorDescription`` sit beside it on Platform SMS since 2019.
        """
        raw = entry.get("error")
        code = _int(entry.get("errorCode"))
        description = _error_text(entry.get("errorDescription"))
        text: str | None = None
        if isinstance(raw, Mapping):
            code = _int(raw.get("code")) if code is None else code
            text = _error_text(raw.get("description"))
        else:
            text = _error_text(raw)
        if code is None and text is None and description is None:
            return None
        if text and description and description.rstrip(".") == text.rstrip("."):
            description = None  # the same words twice (an unknown message id, say)
        words = " - ".join(part for part in (text, description) if part) or "error"
        if code is None:
            known: Code = platform_error_from_text(text or description or "")
        else:
            known = self.mapping(code)
            if isinstance(known, ErrorCode) and self.name == "one-api":
                words = f"{words} (One API error {code})"
        return known, words

    def refusal(self, error: tuple[Code, str]) -> GatewayError:
        """The exception for an error that refuses the whole request.

        An error with neither a code nor a text asms knows cannot say whether the platform
        took the request (an internal error may come after the commit): its outcome is
        unknown, a :class:`~asms.ReplyParseError`, never a refusal to act on.
        """
        code, words = error
        if code == 0:
            raise ReplyParseError("a request-level error without a code asms knows", words)
        if category_of(code) is ErrorCategory.THROTTLED:
            return ThrottledError(code, words, retry_after=PLATFORM_THROTTLE_PAUSE)
        return error_for(code, words)

    def send(self, body: bytes | str) -> PlatformSendReply:
        document = _json_object(body)
        entries = document.get("messages")
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise ReplyParseError("'messages' is not a list", body)
        if not entries:
            error = self.error(document)
            if error is None:
                raise ReplyParseError(_NO_ENTRIES, body)
            raise self.refusal(error)
        common = _all_accepted(entries)
        if common is not None:
            return common
        replies: list[IdReply | ErrorReply] = []
        unnamed = 0
        all_accepted = True
        for entry in entries:
            reply = self._entry(entry, body)
            if reply.to is None:
                unnamed += 1
            if isinstance(reply, ErrorReply):
                all_accepted = False
            replies.append(reply)
        if unnamed and len(replies) > 1:
            # Entries come in any order: without their numbers they cannot be told apart.
            raise ReplyParseError("a send answer with several entries lacking 'to'", body)
        if all_accepted and not unnamed:
            # The common case, matched to the recipients in one comparison.
            return IdLines(
                [r.apimsgid for r in replies],  # type: ignore[union-attr]
                [r.to for r in replies],  # type: ignore[misc]
            )
        return replies

    def _entry(self, entry: object, body: bytes | str) -> IdReply | ErrorReply:
        if not isinstance(entry, Mapping):
            raise ReplyParseError("a message entry that is not an object", body)
        to = entry.get("to")
        if to is not None:
            if not isinstance(to, str) or not to.strip():
                raise ReplyParseError("a message entry whose 'to' is not a number", body)
            to = to.strip().removeprefix("+")
        accepted = entry.get("accepted")
        if accepted is not None and not isinstance(accepted, bool):
            raise ReplyParseError("a message entry whose 'accepted' is not true or false", body)
        apimsgid = entry.get("apiMessageId")
        if apimsgid is not None and (not isinstance(apimsgid, str) or not apimsgid):
            apimsgid = None if apimsgid == "" else apimsgid
            if apimsgid is not None:
                raise ReplyParseError("a message entry whose 'apiMessageId' is no id", body)
        error = self.error(entry)
        if accepted is not False and apimsgid is not None and error is None:
            return IdReply(apimsgid, to)
        if accepted is not True and apimsgid is None and error is not None:
            code, words = error
            return ErrorReply(code, words, to)
        raise ReplyParseError("a message entry that is neither accepted nor rejected", body)

    def balance(self, body: bytes | str) -> CreditReply:
        document = _json_object(body)
        error = self.error(document)
        if error is not None:
            raise self.refusal(error)
        value = document.get("balance")
        if isinstance(value, bool) or value is None:
            raise ReplyParseError("a balance answer without a balance", body)
        currency = document.get("currency")
        try:
            return CreditReply(float(value), currency if isinstance(currency, str) else None)
        except (TypeError, ValueError):
            raise ReplyParseError("a balance that is not a number", body) from None

    def status(self, body: bytes | str) -> StatusReply:
        """A message's status; its ``apimsgid`` is ``""`` when the answer does not name it
        (the One API's does not: the client fills in the id it asked about)."""
        document = _json_object(body)
        error = self.error(document)
        if error is not None:
            code, words = error
            if code in (OneApiErrorCode.RESOURCE_DOES_NOT_EXIST, ErrorCode.UNKNOWN_API_MESSAGE_ID):
                raise MessageLookupError(ErrorCode.UNKNOWN_API_MESSAGE_ID, words)
            raise self.refusal(error)
        if self.name == "one-api":
            return self._one_api_status(document, body)
        number = _int(document.get("statusCode"))
        name = document.get("status")
        if name is not None and not isinstance(name, str):
            raise ReplyParseError("a status that is not a string", body)
        status = platform_status(number, name)
        if status == 0:
            raise ReplyParseError("a status answer without a status", body)
        apimsgid = document.get("messageId") or document.get("apiMessageId") or ""
        if not isinstance(apimsgid, str):
            raise ReplyParseError("a status answer whose 'messageId' is no id", body)
        return StatusReply(apimsgid, status)

    @staticmethod
    def _one_api_status(document: dict[str, Any], body: bytes | str) -> StatusReply:
        channel = document.get("sms")
        if not isinstance(channel, Mapping):
            # The key is the channel's name; an SMS client asks about SMS only.
            channels = [v for v in document.values() if isinstance(v, Mapping)]
            if len(channels) != 1:
                raise ReplyParseError("a One API status answer without its channel", body)
            channel = channels[0]
        name = channel.get("status")
        if name is not None and not isinstance(name, str):
            raise ReplyParseError("a status that is not a string", body)
        status = one_api_status(_int(channel.get("statusCode")), name)
        if status == 0:
            raise ReplyParseError("a status answer without a status", body)
        apimsgid = channel.get("messageId") or ""
        return StatusReply(apimsgid if isinstance(apimsgid, str) else "", status)


_PLATFORM_WIRE: Final = _Wire("platform", platform_error)
_ONE_API_WIRE: Final = _Wire("one-api", one_api_error)

parse_platform_send: Final = _PLATFORM_WIRE.send
parse_one_api_send: Final = _ONE_API_WIRE.send
parse_platform_status: Final = _PLATFORM_WIRE.status
parse_one_api_status: Final = _ONE_API_WIRE.status
parse_balance: Final = _PLATFORM_WIRE.balance

#: flavour -> operation name -> the parser of its answer.
PARSERS: Final[Mapping[str, Mapping[str, Callable[[bytes | str], Any]]]] = {
    "platform": {
        "sendmsg": parse_platform_send,
        "querymsg": parse_platform_status,
        "getbalance": parse_balance,
    },
    "one-api": {
        "sendmsg": parse_one_api_send,
        "querymsg": parse_one_api_status,
        "getbalance": _ONE_API_WIRE.balance,
    },
}
