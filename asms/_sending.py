"""Pure helpers of the send path: recipients, text on the wire, ids, and matching replies.

No I/O here. The client calls these for ``sendmsg``, the push commands and the batch API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from ._codes import ErrorCode
from ._encoding import (
    UCS2_CONCAT_UNITS,
    UCS2_SINGLE_UNITS,
    PartCount,
    WireText,
    check_unicode,
    count_binary_parts,
    ucs2_hex,
)
from ._exceptions import ValidationError, error_for
from ._fast import IdLines, OneId, StridedLines, id_lines, make_send_result, one_id
from ._logging import logger
from ._models import (
    DEFAULT_OPTIONS,
    OUTCOME_UNKNOWN,
    SendOptions,
    SendResult,
    new_climsgid,
)
from ._numbers import InvalidNumberError, normalize_list, normalize_msisdn
from ._optable import HEX_PAIRS_RE, OPERATIONS, Operation
from ._replies import ErrorReply, IdReply, StatusReply, expect_send
from ._results import SendResults
from ._wire import Wire

__all__ = [
    "PreparedText",
    "SendReply",
    "TextCache",
    "all_results",
    "check_climsgid",
    "found_results",
    "one_key",
    "attempt_climsgid",
    "chunk_climsgid",
    "derived_climsgid",
    "chunks",
    "match_replies",
    "normalize_recipients",
    "normalize_one",
    "op_options",
    "parse_send",
    "prepare_text",
    "wire_value",
]

_MAX_CLIMSGID = 32
_SENDMSG = OPERATIONS["sendmsg"]
# Whole-request refusals some gateways repeat on every recipient's line (SOAP examples show
# "ERR: 001, Authentication failed To: …" once per number): not per-recipient data.
_REQUEST_LEVEL = frozenset(
    {
        ErrorCode.AUTHENTICATION_FAILED,
        ErrorCode.UNKNOWN_USERNAME_OR_PASSWORD,
        ErrorCode.SESSION_ID_EXPIRED,
        ErrorCode.ACCOUNT_FROZEN,
        ErrorCode.MISSING_SESSION_ID,
        ErrorCode.IP_LOCKDOWN_VIOLATION,
        ErrorCode.INVALID_OR_MISSING_API_ID,
        # The account's MT limit refuses the request as a whole: raised, it is waited out
        # (or paused for) by the gateway's clock, which only the answer's headers tell.
        ErrorCode.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL,
    }
)


def _invalid(exc: InvalidNumberError) -> ValidationError:
    rule = str(exc).removeprefix(f"{exc.field}: ")
    return ValidationError(exc.field, rule)


def check_climsgid(climsgid: str) -> None:
    """Refuse a ``climsgid`` the gateway would refuse (1-32 characters of [A-Za-z0-9])."""
    param = _SENDMSG.param("climsgid")
    assert param is not None
    rule = param.check(climsgid) if isinstance(climsgid, str) else "must be a string"
    if rule is not None:
        raise ValidationError("climsgid", rule, climsgid)


def one_key(apimsgid: str | None, climsgid: str | None) -> dict[str, str]:
    """``{"apimsgid": …}`` or ``{"climsgid": …}``: exactly one must be given."""
    if (apimsgid is None) == (climsgid is None):
        raise ValidationError("apimsgid", "give exactly one of apimsgid= or climsgid=")
    key, value = ("apimsgid", apimsgid) if apimsgid is not None else ("climsgid", climsgid)
    assert value is not None
    return {key: value}


def normalize_one(number: str, country_code: str | int | None) -> str:
    try:
        return normalize_msisdn(number, country_code)
    except InvalidNumberError as exc:
        raise _invalid(exc) from None
    except TypeError:
        raise ValidationError("to", "a phone number must be a str", number) from None


def normalize_recipients(to: str | Iterable[str], country_code: str | int | None) -> list[str]:
    """``to`` as a list of international numbers: a string (comma list allowed) or iterable."""
    try:
        numbers = normalize_list(to, country_code)
    except InvalidNumberError as exc:
        raise _invalid(exc) from None
    except TypeError:
        raise ValidationError("to", "phone numbers must be strings") from None
    if not numbers:
        raise ValidationError("to", "needs at least one recipient")
    return numbers


def chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def chunk_climsgid(base: str, index: int, count: int) -> str:
    """The ``climsgid`` of chunk ``index`` of a send split into ``count`` requests.

    One request: the caller's id as given. Several: the id with ``c<index>`` appended (the
    caller's id is shortened when needed to stay within 32 characters), so every request
    can be looked up on its own and the ids stay predictable.
    """
    if count == 1:
        return base
    suffix = f"c{index}"
    return base[: _MAX_CLIMSGID - len(suffix)] + suffix


# Characters of a caller's id kept in the ids derived from it; the rest carries uniqueness.
_KEPT: Final = 16


def derived_climsgid(base: str) -> str:
    """A new, unique ``climsgid`` for a request carrying the caller's id ``base`` when another
    request already used it: ``base`` (its first 16 characters) plus random hex up to 32.

    So a lookup of the request can never find another request's message, while the id still
    shows whose it is.
    """
    kept = base[:_KEPT]
    return kept + new_climsgid()[: _MAX_CLIMSGID - len(kept)]


def attempt_climsgid(request: str, attempt: int) -> str:
    """The ``climsgid`` of resend ``attempt`` (1, 2, …) of the request first sent as ``request``.

    A resend after the lookup of an earlier attempt concluded "missing" gets an id of its own,
    so that finding an earlier attempt's id later proves a duplicate. Derived, not random, so
    that whoever knows the request's id (a journal) can look every attempt up: ``request``'s
    first 16 characters plus a hash of it and the attempt number.
    """
    kept = request[:_KEPT]
    digest = hashlib.blake2b(f"{request}/{attempt}".encode(), digest_size=16).hexdigest()
    return kept + digest[: _MAX_CLIMSGID - len(kept)]


def _ucs2_wire(text: str) -> WireText:
    """``text`` forced to UCS-2 (``unicode=1`` asked for a text that would fit GSM)."""
    raw = text.encode("utf-16-be", "surrogatepass")
    units = len(raw) // 2
    if units <= UCS2_SINGLE_UNITS:
        parts = 1
    else:
        # Greedy cut that never splits a surrogate pair, as the gateway does.
        parts, pos = 1, 0
        while units - pos > UCS2_CONCAT_UNITS:
            end = pos + UCS2_CONCAT_UNITS
            if 0xD8 <= raw[2 * (end - 1)] <= 0xDB:
                end -= 1
            pos = end
            parts += 1
    return WireText(ucs2_hex(text), True, PartCount("ucs2", units, parts))


_PARAMS: dict[SendOptions, dict[str, str]] = {}


def _option_params(options: SendOptions) -> dict[str, str]:
    """``options.params()``, remembered: the bulk path sends the same options many times."""
    if options is DEFAULT_OPTIONS:
        return {}
    cached = _PARAMS.get(options)
    if cached is None:
        cached = options.params()
        if len(_PARAMS) >= 1024:
            _PARAMS.clear()
        _PARAMS[options] = cached
    return dict(cached)


@dataclass(frozen=True, slots=True)
class PreparedText:
    """A text (or binary payload) ready for the wire: its parameters and its part count."""

    params: Mapping[str, str]
    parts: int


def _binary_text_refused(wire: Wire, text: str, options: SendOptions) -> bool:
    """Whether a legacy wire would send ``text`` as a binary message's bytes (it carries
    ``binary`` or ``udh`` there) that are not hex: the gateway's ``ERR 101``. The Platform
    wires keep the text and the header apart; a wire without the option refuses it by name
    when the request is built."""
    letter = wire.letter
    if letter is None or HEX_PAIRS_RE.fullmatch(text):
        return False
    binary, udh = _SENDMSG.param("binary"), _SENDMSG.param("udh")
    return bool(
        (options.binary and binary is not None and letter in binary.wires)
        or (options.udh is not None and udh is not None and letter in udh.wires)
    )


def prepare_text(
    wire: Wire, text: str, options: SendOptions, *, max_parts: int, field: str = "text"
) -> PreparedText:
    """The ``text``/``unicode``/``concat`` parameters (or binary ones) plus every option.

    Parts are computed for what this wire really sends; a text that needs more parts than
    ``concat`` (or ``max_parts``) is refused here rather than by the gateway's ``ERR 113``.
    """
    params = _option_params(options)
    if options.data is not None:
        if text:
            raise ValidationError(field, "cannot be combined with data= (a binary message)")
        udh = bytes.fromhex(options.udh or "")
        try:
            parts = count_binary_parts(bytes.fromhex(options.data), udh).parts
        except ValueError as exc:
            raise ValidationError("udh", str(exc)) from None
    else:
        if not isinstance(text, str) or not text:
            raise ValidationError(field, "must be a non-empty string")
        if (options.binary or options.udh is not None) and _binary_text_refused(
            wire, text, options
        ):
            raise ValidationError(
                field,
                "must be an even number of hex digits (the message's bytes) with binary=True"
                " or udh=; or give the bytes as data=",
            )
        if not text.isascii():
            check_unicode(text, field)
        encoded = wire.encode_text(text)
        if options.unicode and not encoded.unicode:
            encoded = _ucs2_wire(text)
        elif options.unicode is False and encoded.unicode:
            raise ValidationError(
                "unicode", f"is off, but the {field} has characters that need UCS-2 on this wire"
            )
        params[field] = encoded.value
        if encoded.unicode:
            params["unicode"] = "1"
        parts = encoded.parts.parts
    sized = "data" if options.data is not None else field  # what is too long
    if options.concat is not None:
        if parts > options.concat:
            raise ValidationError(
                sized, f"needs {parts} parts but concat={options.concat} (gateway error 113)"
            )
    elif parts > max_parts:
        raise ValidationError(
            sized, f"needs {parts} parts, more than max_parts={max_parts} (gateway error 113)"
        )
    elif parts > 1:
        params["concat"] = str(parts)
    return PreparedText(params, parts)


class TextCache:
    """:func:`prepare_text` for one wire, remembered: services send the same few texts
    (and bulk jobs the same template) again and again, and encoding plus part counting
    costs more than the rest of building the request. ``params`` of what it returns are
    shared: read them, never change them.
    """

    __slots__ = ("_cache", "_max_parts", "_wire")
    _SIZE: Final = 256

    def __init__(self, wire: Wire, max_parts: int) -> None:
        self._wire = wire
        self._max_parts = max_parts
        self._cache: dict[str | tuple[str, SendOptions], PreparedText] = {}

    def __call__(self, text: str, options: SendOptions) -> PreparedText:
        # Hashing a SendOptions runs its dataclass __hash__ over every field: the default
        # options are keyed by the text alone.
        key: str | tuple[str, SendOptions] = text if options is DEFAULT_OPTIONS else (text, options)
        try:
            return self._cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable text: let prepare_text name the problem
            return prepare_text(self._wire, text, options, max_parts=self._max_parts)
        prepared = prepare_text(self._wire, text, options, max_parts=self._max_parts)
        if len(self._cache) >= self._SIZE:
            self._cache.clear()
        self._cache[key] = prepared
        return prepared


def wire_value(value: Any) -> str:
    """A Python option value as the gateway writes it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int | str):
        return str(value)
    raise TypeError(type(value).__name__)


def op_options(
    op: Operation, options: Mapping[str, Any], *, exclude: Iterable[str] = ()
) -> dict[str, str]:
    """Validate keyword options against the operation table; canonical names, wire values.

    None leaves an option out, but not one the table marks required: that one, None or
    empty, is refused here rather than by the gateway's ``ERR 101``."""
    refused = set(exclude)
    out: dict[str, str] = {}
    for key, value in options.items():
        if value is None or value == "":
            param = op.param("from" if key == "from_" else key)
            if param is not None and param.required:
                raise ValidationError(param.name, f"is required by {op.name}", value)
            if value is None:
                continue
        name = "from" if key == "from_" else key
        param = op.param(name)
        if param is None or param.name in refused:
            raise ValidationError(key, f"is not an option of {op.name}")
        if isinstance(value, str) and not value.isascii():
            check_unicode(value, param.name)
        try:
            text = wire_value(value)
        except TypeError:
            raise ValidationError(param.name, "must be a string, number or boolean") from None
        rule = param.check(text)
        if rule is not None:
            raise ValidationError(param.name, rule, value)
        out[param.name] = text
    return out


#: What :func:`parse_send` returns.
SendReply: TypeAlias = list[IdReply | ErrorReply] | IdLines | StridedLines | OneId


def parse_send(body: bytes | str) -> SendReply:
    """``expect_send``, plus: a refusal repeated on every line is a whole-request refusal.

    The common 600-line "all accepted" reply is matched by one regular expression instead of
    600 reply objects (``asms._fast``); any other body goes through the full parser.
    """
    fast = one_id(body) or id_lines(body)
    if fast is not None:
        return fast
    replies = expect_send(body)
    first = replies[0]
    if isinstance(first, ErrorReply) and first.code in _REQUEST_LEVEL:
        if all(isinstance(r, ErrorReply) and r.code == first.code for r in replies):
            raise error_for(first.code, first.description)
    return replies


def _result(
    to: str, reply: IdReply | ErrorReply, climsgid: str | None, parts: int, ref: Any
) -> SendResult:
    if isinstance(reply, IdReply):
        return make_send_result(to, reply.apimsgid, climsgid, None, None, parts, ref)
    return make_send_result(to, None, climsgid, reply.code, reply.description, parts, ref)


def match_replies(
    recipients: Sequence[str],
    replies: Sequence[IdReply | ErrorReply] | SendReply,
    climsgid: str | None,
    parts: int,
    refs: Sequence[Any] | None = None,
) -> SendResults:
    """One result per recipient, in recipient order: only a line that answers a recipient
    can make it accepted or rejected.

    A line naming a recipient (``To:``) goes to that recipient (duplicates in order); a line
    naming a number that is not in the request goes to nobody. Lines without a number
    (single sends, v2.3.8 errors) are unambiguous only when there are exactly as many as
    recipients left without a named line: they fill those in order; otherwise they go to
    nobody. A recipient left without a line (a reply cut short, a line for a stranger) has
    an unknown outcome (``OUTCOME_UNKNOWN``): the gateway may or may not have taken it, so
    it is neither accepted nor to be sent again blindly.
    """
    if isinstance(replies, OneId):
        if len(recipients) == 1:
            return SendResults.all_accepted(
                recipients, [replies.apimsgid], climsgid, parts, refs or None
            )
        replies = [IdReply(replies.apimsgid)]
    elif isinstance(replies, StridedLines):
        if replies.names(recipients):
            return SendResults.all_accepted(
                recipients, replies.apimsgids(), climsgid, parts, refs or None
            )
        replies = [
            IdReply(a, n) for a, n in zip(replies.apimsgids(), replies.numbers(), strict=True)
        ]
    elif isinstance(replies, IdLines):
        # One C-level list comparison; the results are built only when read.
        if replies.to == recipients or replies.to == list(recipients):
            return SendResults.all_accepted(
                replies.to, replies.apimsgids, climsgid, parts, refs or None
            )
        replies = [IdReply(a, n) for a, n in zip(replies.apimsgids, replies.to, strict=True)]
    count = len(recipients)
    if count == 1 and len(replies) == 1:
        only = replies[0]
        if only.to is None or only.to == recipients[0]:
            ref = refs[0] if refs else None
            return SendResults((_result(recipients[0], only, climsgid, parts, ref),))
    elif len(replies) == count and all(r.to == n for r, n in zip(replies, recipients, strict=True)):
        # The common case: one line per recipient, in order, each naming its recipient.
        return SendResults(
            [
                _result(n, r, climsgid, parts, refs[i] if refs else None)
                for i, (n, r) in enumerate(zip(recipients, replies, strict=True))
            ]
        )
    return _match_by_number(recipients, replies, climsgid, parts, refs)


_NO_LINE: Final = "outcome unknown: the reply has no line for this recipient"
_UNMATCHED: Final = (
    "outcome unknown: the reply's lines without a number do not match its recipients"
)


def _match_by_number(
    recipients: Sequence[str],
    replies: Sequence[IdReply | ErrorReply],
    climsgid: str | None,
    parts: int,
    refs: Sequence[Any] | None,
) -> SendResults:
    """:func:`match_replies` for a reply that is not one named line per recipient in order."""
    count = len(recipients)
    slots: dict[str, list[int]] = {}
    for index, number in enumerate(recipients):
        slots.setdefault(number, []).append(index)
    matched: list[IdReply | ErrorReply | None] = [None] * count
    unnamed: list[IdReply | ErrorReply] = []
    strangers = 0
    for reply in replies:
        if reply.to is None:
            unnamed.append(reply)
            continue
        free = slots.get(reply.to)
        if free:
            matched[free.pop(0)] = reply
        else:
            strangers += 1  # a number not in the request, or named once too often
    empty = [i for i in range(count) if matched[i] is None]
    reason = _NO_LINE
    if unnamed:
        if len(unnamed) == len(empty):
            for reply, index in zip(unnamed, empty, strict=True):
                matched[index] = reply
        else:
            reason = _UNMATCHED
    if strangers or reason is _UNMATCHED:
        logger.warning(
            "sendmsg reply for %d recipients: %d lines name other numbers, %d lines name none;"
            " recipients without a line of their own have an unknown outcome",
            count,
            strangers,
            len(unnamed),
        )
    results = []
    for index, number in enumerate(recipients):
        ref = refs[index] if refs else None
        line = matched[index]
        if line is None:
            results.append(
                make_send_result(number, None, climsgid, OUTCOME_UNKNOWN, reason, parts, ref)
            )
        else:
            results.append(_result(number, line, climsgid, parts, ref))
    return SendResults(results)


def all_results(
    recipients: Sequence[str],
    climsgid: str | None,
    code: ErrorCode | int,
    description: str,
    parts: int,
    refs: Sequence[Any] | None,
) -> SendResults:
    return SendResults(
        [
            SendResult(to, None, climsgid, code, description, parts, refs[i] if refs else None)
            for i, to in enumerate(recipients)
        ]
    )


def found_results(
    recipients: Sequence[str],
    climsgid: str | None,
    reply: StatusReply,
    parts: int,
    refs: Sequence[Any] | None,
) -> SendResults:
    """Results of a request found by its ``climsgid`` after an attempt of unknown outcome.

    The lookup names one message and not its recipient. A single recipient is that
    message: accepted. Of several, the gateway took the request but may have refused any
    of them on its own, the first included, and the message found is then another
    recipient's: none can be called accepted, so all are unknown (never sent again).
    """
    if len(recipients) == 1:
        return SendResults(
            [
                make_send_result(
                    recipients[0],
                    reply.apimsgid,
                    climsgid,
                    None,
                    None,
                    parts,
                    refs[0] if refs else None,
                )
            ]
        )
    return SendResults(
        make_send_result(
            to, None, climsgid, OUTCOME_UNKNOWN, _FOUND_OTHERS, parts, refs[i] if refs else None
        )
        for i, to in enumerate(recipients)
    )


_FOUND_OTHERS: Final = (
    "outcome unknown: the request was found by its climsgid, but not this recipient's line"
)
