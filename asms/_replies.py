"""Reply lines of the gateway, parsed into typed results.

The HTTP API answers with ``\\n``-separated lines (SOAP wraps the same lines in ``<return>``
elements). Both profiles (docs/protocol.md, "Profiles") are accepted:
``ERR: … To: <msisdn>`` and the v2.3.8 ``ERR:`` without ``To:``; ``ID: … Charge: … Status: …``
and ``apiMsgId: … charge: … status: …``; ``OK:``, ``OK: `` and ``OK``; CRLF or LF;
surrounding whitespace. Keys are case-insensitive (docs/protocol.md, "Replies").

An ``ERR:`` line without a numeric code (routeCoverage's "not supported" answer) becomes
``ErrorReply(code=0, …)`` in :func:`parse_lines`; :func:`parse_coverage` reads it as an
unsupported prefix instead. Codes asms does not know stay plain ints.

Anything else raises :class:`ReplyParseError`, and nothing else is ever raised, whatever the
input. Parsing uses ``str`` methods rather than a regex per line: the bulk path parses
600-line replies. A body made only of ``ID: … To: …`` lines is recognised whole by
``asms._fast`` (:func:`parse_lines`); the line-by-line parse here is its plain twin.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Final, TypeAlias, cast

from ._codes import ErrorCode, MessageStatus
from ._exceptions import GatewayError, ReplyParseError, error_for
from ._fast import build_many, id_to_columns

__all__ = [
    "ChargeReply",
    "CoverageReply",
    "CreditReply",
    "ErrorReply",
    "IdReply",
    "OkReply",
    "Reply",
    "StatusReply",
    "expect_charge",
    "expect_coverage",
    "expect_credit",
    "expect_id",
    "expect_ok",
    "expect_send",
    "expect_session",
    "expect_status",
    "format_number",
    "parse_coverage",
    "parse_line",
    "parse_lines",
]


def format_number(value: float) -> str:
    """A number as the gateway writes it: ``500``, ``0.3``, ``12.75`` (no ``.0``)."""
    return repr(value).removesuffix(".0")


@dataclass(frozen=True, slots=True)
class OkReply:
    """``OK: <value>``, ``OK:`` or ``OK``.

    ``value`` is the session id for ``auth`` (hence kept out of the repr), the credits added
    for ``token_pay``, ``""`` for ``ping``/``endbatch``.
    """

    value: str = field(default="", repr=False)

    def to_line(self) -> str:
        return f"OK: {self.value}" if self.value else "OK:"


@dataclass(frozen=True, slots=True)
class IdReply:
    """``ID: <apimsgid>`` or, per recipient of a multi-recipient send, ``… To: <msisdn>``."""

    apimsgid: str
    to: str | None = None

    def to_line(self) -> str:
        if self.to is None:
            return f"ID: {self.apimsgid}"
        return f"ID: {self.apimsgid} To: {self.to}"


@dataclass(frozen=True, slots=True)
class StatusReply:
    """``ID: <apimsgid> Status: <code>`` (querymsg, delmsg)."""

    apimsgid: str
    status: MessageStatus | int

    def to_line(self) -> str:
        return f"ID: {self.apimsgid} Status: {self.status:03d}"


@dataclass(frozen=True, slots=True)
class ChargeReply:
    """getmsgcharge: ``ID: … Charge: … Status: …`` or ``apiMsgId: … charge: … status: …``."""

    apimsgid: str
    charge: float
    status: MessageStatus | int

    def to_line(self, *, v238: bool = False) -> str:
        charge = format_number(self.charge)
        if v238:
            return f"apiMsgId: {self.apimsgid} charge: {charge} status: {self.status:03d}"
        return f"ID: {self.apimsgid} Charge: {charge} Status: {self.status:03d}"


@dataclass(frozen=True, slots=True)
class CreditReply:
    """``Credit: <float>`` (getbalance); the Platform wires' balance also names a currency."""

    credit: float
    currency: str | None = field(default=None, compare=False)

    def to_line(self) -> str:
        return f"Credit: {format_number(self.credit)}"


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """``ERR: <code>, <description>`` with an optional `` To: <msisdn>``.

    ``code`` is 0 for an ``ERR:`` line without a numeric code.
    """

    code: ErrorCode | int
    description: str
    to: str | None = None

    def exception(self) -> GatewayError:
        """The matching :class:`GatewayError` subclass, carrying the recipient if any."""
        return error_for(self.code, self.description, recipient=self.to)

    def to_line(self, *, v238: bool = False) -> str:
        """The wire line; the v2.3.8 profile omits `` To:``."""
        line = (
            f"ERR: {self.code:03d}, {self.description}" if self.code else f"ERR: {self.description}"
        )
        if self.to is not None and not v238:
            line += f" To: {self.to}"
        return line


@dataclass(frozen=True, slots=True)
class CoverageReply:
    """routeCoverage: ``OK: <text> Charge: <n>`` or ``ERR: <text without a code>``."""

    supported: bool
    text: str
    charge: float | None = None

    def to_line(self) -> str:
        line = ("OK: " if self.supported else "ERR: ") + self.text
        if self.charge is not None:
            line += f" Charge: {format_number(self.charge)}"
        return line


Reply: TypeAlias = (
    OkReply | IdReply | StatusReply | ChargeReply | CreditReply | ErrorReply | CoverageReply
)

_UNRECOGNISED: Final = "unrecognised reply line"
_NUMBER_CHARS: Final = frozenset("0123456789.+-eE")
# A code is a short run of ASCII digits followed by a comma, whitespace or the end of line.
_ERR_CODE: Final = re.compile(r"(\d{1,9})(?:\s*,|\s|$)", re.ASCII)
_OK_EMPTY: Final = OkReply()


def _decode(body: bytes | str) -> str:
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("iso-8859-1")
    else:
        text = body
    return text.removeprefix("\ufeff")


def _number(value: str, line: str) -> float:
    text = value.strip()
    if text and _NUMBER_CHARS.issuperset(text):
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise ReplyParseError("not a number in reply line", line)


def _status(value: str, line: str) -> MessageStatus | int:
    try:
        return MessageStatus.coerce(value)
    except ValueError:
        raise ReplyParseError("not a status code in reply line", line) from None


def _parse_id(rest: str, line: str) -> IdReply | StatusReply | ChargeReply:
    words = rest.split()
    count = len(words)
    if count % 2 == 0 or words[0].endswith(":"):  # no id, an id that is a key, or a key alone
        raise ReplyParseError("malformed ID line", line)
    if count == 1:
        return IdReply(words[0])
    if count == 3 and words[1].lower() == "to:":  # one line per recipient of a send
        return IdReply(words[0], words[2])
    pairs: dict[str, str] = {}
    for index in range(1, count, 2):
        key = words[index].lower()
        if not key.endswith(":") or key in pairs:
            raise ReplyParseError("malformed ID line", line)
        pairs[key] = words[index + 1]
    msgid = words[0]
    if pairs.keys() == {"status:"}:
        return StatusReply(msgid, _status(pairs["status:"], line))
    if pairs.keys() == {"charge:", "status:"}:
        charge = _number(pairs["charge:"], line)
        return ChargeReply(msgid, charge, _status(pairs["status:"], line))
    raise ReplyParseError("malformed ID line", line)


def _split_recipient(text: str) -> tuple[str, str | None]:
    """Split a trailing ``To: <msisdn>`` (any case) off an ERR description."""
    index = max(text.rfind("To:"), text.rfind("to:"), text.rfind("TO:"), text.rfind("tO:"))
    if index < 0 or (index > 0 and not text[index - 1].isspace()):
        return text, None
    tail = text[index + 3 :].split()
    if len(tail) != 1:
        return text, None
    return text[:index].rstrip(), tail[0]


def _parse_err(rest: str) -> ErrorReply:
    text = rest.strip()
    match = _ERR_CODE.match(text)
    if match is None:
        description, to = _split_recipient(text)
        return ErrorReply(0, description, to)
    code = ErrorCode.coerce(int(match.group(1)))
    description, to = _split_recipient(text[match.end() :].strip())
    if not description and isinstance(code, ErrorCode):
        description = code.description
    return ErrorReply(code, description, to)


def _parse(line: str) -> Reply:
    """Parse one stripped, non-empty line."""
    key, sep, rest = line.partition(":")
    kind = key.lower()
    if not sep:
        if kind == "ok":
            return _OK_EMPTY
    elif kind == "id" or kind == "apimsgid":
        return _parse_id(rest, line)
    elif kind == "ok":
        value = rest.strip()
        return OkReply(value) if value else _OK_EMPTY
    elif kind == "err":
        return _parse_err(rest)
    elif kind == "credit":
        return CreditReply(_number(rest, line))
    raise ReplyParseError(_UNRECOGNISED, line)


def parse_line(line: str) -> Reply:
    """Parse one reply line (surrounding whitespace allowed, no embedded newline)."""
    text = line.strip()
    if not text or "\n" in text:
        raise ReplyParseError("not a single reply line", text)
    return _parse(text)


def parse_lines(body: bytes | str) -> list[Reply]:
    """Parse a whole reply body into one result per non-empty line.

    Bytes are decoded as UTF-8, or ISO-8859-1 when they are not valid UTF-8.
    An empty body raises :class:`ReplyParseError`.
    """
    text = _decode(body)
    columns = id_to_columns(text)
    if columns is not None:  # only ID … To: … lines, as the loop below would find them
        ids, numbers = columns
        return cast("list[Reply]", build_many(IdReply, len(ids), (ids, numbers)))
    replies: list[Reply] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if line:
            replies.append(_parse(line))
    if not replies:
        raise ReplyParseError("empty reply")
    return replies


def _split_charge(text: str, line: str) -> tuple[str, float | None]:
    index = max(text.rfind(key) for key in ("Charge:", "charge:", "CHARGE:"))
    if index < 0:
        return text, None
    return text[:index].rstrip(), _number(text[index + 7 :], line)


def _only_line(body: bytes | str, what: str) -> str:
    lines = [line for raw in _decode(body).split("\n") if (line := raw.strip())]
    if len(lines) != 1:
        raise ReplyParseError(f"expected one {what} line, got {len(lines)}")
    return lines[0]


def parse_coverage(body: bytes | str) -> CoverageReply | ErrorReply:
    """Parse a routeCoverage reply.

    ``OK: <text> Charge: <n>`` → supported; ``ERR: <text>`` without a code → not supported.
    An ``ERR`` line with a numeric code is an ordinary error and comes back as ``ErrorReply``.
    """
    line = _only_line(body, "routeCoverage")
    key, sep, rest = line.partition(":")
    kind = key.lower()
    if kind == "ok":
        supported = True
    elif kind == "err" and sep:
        if _ERR_CODE.match(rest.strip()):
            return _parse_err(rest)
        supported = False
    else:
        raise ReplyParseError(_UNRECOGNISED, line)
    text, charge = _split_charge(rest.strip(), line)
    return CoverageReply(supported, text, charge)


def _expect_one(body: bytes | str, what: str) -> Reply:
    """The single line of ``body``; a whole-request ``ERR`` raises its GatewayError."""
    replies = parse_lines(body)
    if len(replies) != 1:
        raise ReplyParseError(f"expected one {what} line, got {len(replies)}")
    reply = replies[0]
    if isinstance(reply, ErrorReply):
        raise reply.exception()
    return reply


def _wrong(what: str, reply: Reply) -> ReplyParseError:
    # Name the shape only: the values may be secret (an auth reply's session id).
    return ReplyParseError(f"expected {what}, got {type(reply).__name__}")


def expect_session(body: bytes | str) -> str:
    """auth: ``OK: <session_id>`` → the session id.

    Parse errors here never quote the reply, which holds the session id.
    """
    try:
        reply = _expect_one(body, "auth")
    except ReplyParseError as exc:
        raise ReplyParseError(exc.reason) from None
    if not isinstance(reply, OkReply):
        raise _wrong("OK: <session_id>", reply)
    if not reply.value or len(reply.value.split()) != 1:
        raise ReplyParseError("auth reply without a well-formed session id")
    return reply.value


def expect_ok(body: bytes | str) -> str:
    """ping, endbatch, token_pay: ``OK``/``OK:``/``OK: <value>`` → the value (may be "")."""
    reply = _expect_one(body, "OK")
    if not isinstance(reply, OkReply):
        raise _wrong("OK", reply)
    return reply.value


def expect_id(body: bytes | str) -> IdReply:
    """startbatch, senditem, single-recipient sendmsg: one ``ID:`` line."""
    reply = _expect_one(body, "ID")
    if not isinstance(reply, IdReply):
        raise _wrong("ID", reply)
    return reply


def expect_send(body: bytes | str) -> list[IdReply | ErrorReply]:
    """sendmsg, quicksend: one ``ID:`` or ``ERR:`` line per recipient.

    A single ``ERR`` line without ``To:`` refuses the whole request (or the only recipient)
    and is raised; otherwise errors are returned as data, in reply order.
    """
    replies = parse_lines(body)
    results: list[IdReply | ErrorReply] = []
    for reply in replies:
        if not isinstance(reply, IdReply | ErrorReply):
            raise _wrong("ID or ERR lines", reply)
        results.append(reply)
    if len(results) == 1:
        only = results[0]
        if isinstance(only, ErrorReply) and only.to is None:
            raise only.exception()
    return results


def expect_status(body: bytes | str) -> StatusReply:
    """querymsg, delmsg: ``ID: <apimsgid> Status: <code>``."""
    reply = _expect_one(body, "status")
    if not isinstance(reply, StatusReply):
        raise _wrong("ID … Status", reply)
    return reply


def expect_charge(body: bytes | str) -> ChargeReply:
    """getmsgcharge, in either profile."""
    reply = _expect_one(body, "charge")
    if not isinstance(reply, ChargeReply):
        raise _wrong("ID … Charge … Status", reply)
    return reply


def expect_credit(body: bytes | str) -> CreditReply:
    """getbalance: ``Credit: <float>``."""
    reply = _expect_one(body, "credit")
    if not isinstance(reply, CreditReply):
        raise _wrong("Credit", reply)
    return reply


def expect_coverage(body: bytes | str) -> CoverageReply:
    """routeCoverage; an ``ERR`` line with a numeric code raises its GatewayError."""
    reply = parse_coverage(body)
    if isinstance(reply, ErrorReply):
        raise reply.exception()
    return reply
