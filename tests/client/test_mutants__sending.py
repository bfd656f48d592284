"""The pure send-path helpers (``asms._sending``) return exact values and exact errors.

Written against the mutants ``make mutants`` left alive in this module (issue 13): every
assertion pins what a caller sees (an error's field, rule and value, a result's fields, a
wire parameter, a log line), so a changed constant or condition shows up as a failure.
Survivors that cannot change behaviour are listed in docs/mutants/_sending.md.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

import httpx
import pytest

from asms._codes import ErrorCode
from asms._encoding import PartCount, WireText, _ucs2_count, ucs2_hex
from asms._exceptions import AuthenticationError, ValidationError
from asms._fast import IdLines, OneId, StridedLines
from asms._logging import logger, redact
from asms._models import DEFAULT_OPTIONS, OUTCOME_UNKNOWN, SendOptions, SendResult
from asms._optable import OPERATIONS
from asms._replies import ErrorReply, IdReply, StatusReply
from asms._sending import (
    _PARAMS,
    TextCache,
    _invalid,
    _option_params,
    _ucs2_wire,
    all_results,
    attempt_climsgid,
    check_climsgid,
    found_results,
    match_replies,
    normalize_one,
    normalize_recipients,
    one_key,
    op_options,
    parse_send,
    prepare_text,
    wire_value,
)
from asms._wire import HTTPWire, SOAPWire, Wire

A, B, C = "27820000001", "27820000002", "27820000003"
STRANGER = "27829999999"
BAD_ABC = "'abc' contains 'a'; only digits, a leading + and spaces - . / ( ) are allowed"


def _refused(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str, str, object]:
    return str(exc.value), exc.value.field, exc.value.rule, exc.value.value


# -- errors: field, rule, value -----------------------------------------------------------------


def test_a_refused_number_keeps_the_numbers_wording_without_a_second_field_prefix() -> None:
    with pytest.raises(ValidationError) as exc:
        normalize_one("abc", None)
    assert _refused(exc) == (f"to: {BAD_ABC}", "to", BAD_ABC, None)
    with pytest.raises(ValidationError) as exc:
        normalize_recipients([A, "abc"], None)
    assert _refused(exc) == (f"to: {BAD_ABC}", "to", BAD_ABC, None)


def test_invalid_turns_a_number_error_into_a_plain_validation_error() -> None:
    from asms._numbers import InvalidNumberError

    error = _invalid(InvalidNumberError("12x", "digits", "is not a number", field="country_code"))
    assert type(error) is ValidationError
    assert (str(error), error.field, error.rule) == (
        "country_code: '12x' is not a number",
        "country_code",
        "'12x' is not a number",
    )


def test_normalize_one_applies_the_country_code() -> None:
    assert normalize_one("0821234567", "27") == "27821234567"
    assert normalize_one("0821234567", 27) == "27821234567"


def test_normalize_one_refuses_a_number_that_is_not_a_string() -> None:
    with pytest.raises(ValidationError) as exc:
        normalize_one(123, None)  # type: ignore[arg-type]
    assert _refused(exc) == (
        "to: a phone number must be a str (got 123)",
        "to",
        "a phone number must be a str",
        123,
    )
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_check_climsgid_names_the_field_the_rule_and_the_value() -> None:
    check_climsgid("Abc123")
    check_climsgid("x" * 32)
    with pytest.raises(ValidationError) as exc:
        check_climsgid(123)  # type: ignore[arg-type]
    assert _refused(exc) == (
        "climsgid: must be a string (got 123)",
        "climsgid",
        "must be a string",
        123,
    )
    with pytest.raises(ValidationError) as exc:
        check_climsgid("a-b")
    rule = "must be 1-32 characters of [A-Za-z0-9]"
    assert _refused(exc) == (f"climsgid: {rule} (got 'a-b')", "climsgid", rule, "a-b")
    with pytest.raises(ValidationError):
        check_climsgid("x" * 33)


def test_one_key_wants_exactly_one_id() -> None:
    assert one_key("abc", None) == {"apimsgid": "abc"}
    assert one_key(None, "c1") == {"climsgid": "c1"}
    rule = "give exactly one of apimsgid= or climsgid="
    for args in ((None, None), ("abc", "c1")):
        with pytest.raises(ValidationError) as exc:
            one_key(*args)
        assert _refused(exc) == (f"apimsgid: {rule}", "apimsgid", rule, None)


# -- option values -----------------------------------------------------------------------------


def test_wire_value_writes_each_python_type_as_the_gateway_does() -> None:
    assert wire_value(True) == "1"
    assert wire_value(False) == "0"
    assert wire_value(2.5) == "2.5"
    assert wire_value(3) == "3"
    assert wire_value("x") == "x"
    with pytest.raises(TypeError) as exc:
        wire_value(b"x")
    assert str(exc.value) == "bytes"


SENDMSG = OPERATIONS["sendmsg"]


def test_op_options_skips_none_and_goes_on_with_the_rest() -> None:
    out = op_options(SENDMSG, {"mo": None, "from_": "Shop", "deliv_ack": True, "validity": 60})
    assert out == {"from": "Shop", "deliv_ack": "1", "validity": "60"}


def test_op_options_errors_name_the_field_and_rule() -> None:
    with pytest.raises(ValidationError) as exc:
        op_options(SENDMSG, {"colour": "red"})
    assert _refused(exc) == (
        "colour: is not an option of sendmsg",
        "colour",
        "is not an option of sendmsg",
        None,
    )
    with pytest.raises(ValidationError) as exc:
        op_options(SENDMSG, {"climsgid": "c1"}, exclude=["climsgid"])
    assert str(exc.value) == "climsgid: is not an option of sendmsg"
    with pytest.raises(ValidationError) as exc:
        op_options(SENDMSG, {"from_": b"Shop"})
    rule = "must be a string, number or boolean"
    assert _refused(exc) == (f"from: {rule}", "from", rule, None)
    with pytest.raises(ValidationError) as exc:
        op_options(SENDMSG, {"climsgid": "a-b"})
    rule = "must be 1-32 characters of [A-Za-z0-9]"
    assert _refused(exc) == (f"climsgid: {rule} (got 'a-b')", "climsgid", rule, "a-b")


# -- ids -----------------------------------------------------------------------------------------


def test_attempt_climsgid_is_a_stable_derivation() -> None:
    # Journals look earlier attempts up by these ids: the derivation may never change.
    assert attempt_climsgid("request1", 1) == "request1ffe3b915749128f8549ee7d1"
    assert attempt_climsgid("abcdefghijklmnopqrstuvwxyz", 2) == "abcdefghijklmnopf107ca4a68983af2"
    digest = hashlib.blake2b(b"request1/1", digest_size=16).hexdigest()
    assert attempt_climsgid("request1", 1) == "request1" + digest[:24]


# -- UCS-2 forced on a text ----------------------------------------------------------------------


SMILE = "\U0001f600"  # one surrogate pair: two UTF-16 units


@pytest.mark.parametrize(
    "text",
    [
        "a",
        "a" * 70,
        "a" * 71,
        "a" * 134,
        "a" * 135,
        "a" * 201,
        "a" * 202,
        "a" * 66 + SMILE,  # the pair ends the first part exactly
        "a" * 66 + SMILE + "b" * 10,  # the pair would straddle the cut: it moves whole
        "a" * 65 + SMILE + "b" * 10,
        "a" * 67 + SMILE + "b" * 70,
        SMILE * 40,
        "a" + SMILE * 40,
    ],
)
def test_forced_ucs2_counts_parts_as_the_gateway_cuts_them(text: str) -> None:
    assert _ucs2_wire(text) == WireText(ucs2_hex(text), True, _ucs2_count(text))
    forced = _ucs2_wire(text).parts
    assert (forced.encoding, type(forced.units), forced.units) == (
        "ucs2",
        int,
        len(text.encode("utf-16-be")) // 2,
    )


def test_forced_ucs2_part_counts_exactly() -> None:
    parts = {n: _ucs2_wire("a" * n).parts.parts for n in (70, 71, 134, 135, 201, 202)}
    assert parts == {70: 1, 71: 2, 134: 2, 135: 3, 201: 3, 202: 4}
    # 66 units then a pair: the pair fits the first part's 67 units.
    assert _ucs2_wire("a" * 65 + SMILE + "b" * 10).parts.parts == 2
    # 66 units then a pair straddling unit 67: it moves whole to part two (66 + 13 units).
    assert _ucs2_wire("a" * 66 + SMILE + "b" * 11).parts == PartCount("ucs2", 79, 2)
    # 134 units: a straight cut needs two parts; the pair at unit 67 moves whole, so three.
    assert _ucs2_wire("a" * 66 + SMILE + "b" * 66).parts == PartCount("ucs2", 134, 3)
    # U+10FFFD: its high surrogate starts with 0xDB, the top of the range.
    assert _ucs2_wire("a" * 66 + "\U0010fffd" + "b" * 66).parts == PartCount("ucs2", 134, 3)
    # A pair ending exactly at unit 67 (low surrogate 0xDC00) is not moved.
    assert _ucs2_wire("a" * 65 + "\U00010000" + "b" * 67).parts == PartCount("ucs2", 134, 2)
    # Moved by one unit only: 66 + 67 units make two parts.
    assert _ucs2_wire("a" * 66 + SMILE + "b" * 65).parts == PartCount("ucs2", 133, 2)
    # A lone surrogate (a str can hold one) is counted, not an encoding error.
    assert _ucs2_wire("a\ud800") == WireText("0061D800", True, PartCount("ucs2", 2, 1))
    # Cut at 66 instead of 67 each time: three parts where a straight cut needs two.
    assert _ucs2_wire(("a" * 66 + SMILE) * 2).parts == PartCount("ucs2", 136, 3)


# -- results -------------------------------------------------------------------------------------


def test_all_results_give_every_recipient_the_same_error() -> None:
    results = all_results([A, B], "cid", ErrorCode.NO_CREDIT_LEFT, "No credit", 2, ["ra", "rb"])
    assert list(results) == [
        SendResult(A, None, "cid", ErrorCode.NO_CREDIT_LEFT, "No credit", 2),
        SendResult(B, None, "cid", ErrorCode.NO_CREDIT_LEFT, "No credit", 2),
    ]
    assert [r.parts for r in results] == [2, 2]
    assert [r.ref for r in results] == ["ra", "rb"]
    assert [r.ref for r in all_results([A], None, 1, "x", 1, None)] == [None]


def test_found_results_accept_a_single_recipient_and_leave_several_unknown() -> None:
    reply = StatusReply(apimsgid="api1", status=4)
    others = "outcome unknown: the request was found by its climsgid, but not this recipient's line"
    [only] = found_results([A], "cid", reply, 3, ["ra"])
    assert (only, only.ref) == (SendResult(A, "api1", "cid", None, None, 3), "ra")
    [only] = found_results([A], None, reply, 1, None)
    assert (only, only.ref) == (SendResult(A, "api1", None, None, None, 1), None)
    # The message found may be any recipient's: none of several is known to be accepted.
    results = found_results([A, B, C], "cid", reply, 3, ["ra", "rb", "rc"])
    assert list(results) == [
        SendResult(A, None, "cid", OUTCOME_UNKNOWN, others, 3),
        SendResult(B, None, "cid", OUTCOME_UNKNOWN, others, 3),
        SendResult(C, None, "cid", OUTCOME_UNKNOWN, others, 3),
    ]
    assert [r.parts for r in results] == [3, 3, 3]
    assert [r.ref for r in results] == ["ra", "rb", "rc"]
    assert [r.ref for r in found_results([A, B], "cid", reply, 1, None)] == [None, None]


# -- matching reply lines to recipients ----------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The asms logger's warnings, without caplog (``make mutants`` runs with no:logging)."""
    handler = _Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _warning(strangers: int, unnamed: int, count: int) -> str:
    # As logged: the log filter hides every credential an earlier test's client registered
    # (a user named "other" included), so compare with the redacted text.
    return redact(
        f"sendmsg reply for {count} recipients: {strangers} lines name other numbers,"
        f" {unnamed} lines name none; recipients without a line of their own have an unknown"
        " outcome"
    )


NO_LINE = "outcome unknown: the reply has no line for this recipient"
UNMATCHED = "outcome unknown: the reply's lines without a number do not match its recipients"


def test_a_single_reply_line_keeps_the_ref_and_parts(warnings: list[str]) -> None:
    [ok] = match_replies([A], [IdReply("api1", A)], "cid", 2, ["r"])
    assert (ok, ok.ref) == (SendResult(A, "api1", "cid", None, None, 2), "r")
    err = ErrorReply(ErrorCode.NO_CREDIT_LEFT, "No credit", A)
    [bad] = match_replies([A], [err], "cid", 2, ["r"])
    assert (bad, bad.ref, bad.parts) == (
        SendResult(A, None, "cid", ErrorCode.NO_CREDIT_LEFT, "No credit", 2),
        "r",
        2,
    )
    assert warnings == []


def test_lines_out_of_order_are_matched_by_number_with_every_field(warnings: list[str]) -> None:
    err = ErrorReply(ErrorCode.NO_CREDIT_LEFT, "No credit", A)
    replies: list[IdReply | ErrorReply] = [IdReply("api2", B), err]
    results = match_replies([A, B, C], replies, "cid", 3, ["ra", "rb", "rc"])
    assert list(results) == [
        SendResult(A, None, "cid", ErrorCode.NO_CREDIT_LEFT, "No credit", 3),
        SendResult(B, "api2", "cid", None, None, 3),
        SendResult(C, None, "cid", OUTCOME_UNKNOWN, NO_LINE, 3),
    ]
    assert [r.parts for r in results] == [3, 3, 3]
    assert [r.ref for r in results] == ["ra", "rb", "rc"]
    # A reply cut short is not a reply naming strangers: nothing to warn about.
    assert warnings == []


def test_strangers_are_counted_in_the_warning(warnings: list[str]) -> None:
    replies = [IdReply("z1", STRANGER), IdReply("a1", A), IdReply("z2", STRANGER), IdReply("a2", A)]
    results = match_replies([A, B], replies, "cid", 1)
    assert results.apimsgids == ["a1", None]
    assert warnings == [_warning(strangers=3, unnamed=0, count=2)]


def test_unnamed_lines_fill_the_empty_slots_only_when_they_match(warnings: list[str]) -> None:
    replies = [IdReply("b1", B), IdReply("x1"), IdReply("x2")]
    results = match_replies([A, B, C], replies, "cid", 1, ["ra", "rb", "rc"])
    assert results.apimsgids == ["x1", "b1", "x2"] and results.ok
    assert [r.ref for r in results] == ["ra", "rb", "rc"]
    assert warnings == []
    # One unnamed line for two empty slots: it answers nobody.
    results = match_replies([A, B, C], [IdReply("b1", B), IdReply("x1")], "cid", 2)
    assert list(results) == [
        SendResult(A, None, "cid", OUTCOME_UNKNOWN, UNMATCHED, 2),
        SendResult(B, "b1", "cid", None, None, 2),
        SendResult(C, None, "cid", OUTCOME_UNKNOWN, UNMATCHED, 2),
    ]
    assert warnings == [_warning(strangers=0, unnamed=1, count=3)]


# -- the text parameters ---------------------------------------------------------------------------


HTTP = HTTPWire(httpx.URL("https://api.example.test/"), timeout=httpx.Timeout(5.0))
SOAP = SOAPWire(httpx.URL("https://api.example.test"), style="dl", timeout=httpx.Timeout(5.0))


def _prepared(
    wire: Wire, text: str, options: SendOptions, max_parts: int = 3, **kw: str
) -> tuple[dict[str, str], int]:
    prepared = prepare_text(wire, text, options, max_parts=max_parts, **kw)
    return dict(prepared.params), prepared.parts


def _refusal(
    wire: Wire, text: object, options: SendOptions, max_parts: int = 3, **kw: str
) -> tuple[str, str, str, object]:
    with pytest.raises(ValidationError) as exc:
        prepare_text(wire, text, options, max_parts=max_parts, **kw)  # type: ignore[arg-type]
    return _refused(exc)


def test_prepare_text_puts_the_options_and_the_text_on_the_wire() -> None:
    assert _prepared(HTTP, "Hi", DEFAULT_OPTIONS) == ({"text": "Hi"}, 1)
    options = SendOptions(from_="Shop", deliv_ack=True)
    assert _prepared(HTTP, "Hi", options) == ({"from": "Shop", "deliv_ack": "1", "text": "Hi"}, 1)
    assert _prepared(HTTP, "Hi", options, field="reply") == (
        {"from": "Shop", "deliv_ack": "1", "reply": "Hi"},
        1,
    )


def test_prepare_text_sends_ucs2_where_the_wire_needs_it() -> None:
    # HTTP reads plain text as ISO-8859-1: a Greek capital goes as UCS-2; SOAP takes it as GSM.
    assert _prepared(HTTP, "Δ", SendOptions()) == ({"text": "0394", "unicode": "1"}, 1)
    assert _prepared(SOAP, "Δ", SendOptions()) == ({"text": "Δ"}, 1)
    # unicode=True forces UCS-2 and its part sizes on a GSM text.
    assert _prepared(HTTP, "Hi", SendOptions(unicode=True)) == (
        {"text": "00480069", "unicode": "1"},
        1,
    )
    params, parts = _prepared(SOAP, "a" * 71, SendOptions(unicode=True))
    assert (params, parts) == ({"text": "0061" * 71, "unicode": "1", "concat": "2"}, 2)
    # unicode=True on a text that needs UCS-2 anyway changes nothing.
    assert _prepared(HTTP, "Δ", SendOptions(unicode=True)) == ({"text": "0394", "unicode": "1"}, 1)
    # unicode=False on a GSM text changes nothing either.
    assert _prepared(SOAP, "Δ", SendOptions(unicode=False)) == ({"text": "Δ"}, 1)


def test_prepare_text_refuses_unicode_off_for_a_text_that_needs_it() -> None:
    rule = "is off, but the text has characters that need UCS-2 on this wire"
    assert _refusal(HTTP, "Δ", SendOptions(unicode=False)) == (
        f"unicode: {rule}",
        "unicode",
        rule,
        None,
    )
    rule = "is off, but the reply has characters that need UCS-2 on this wire"
    assert _refusal(HTTP, "Δ", SendOptions(unicode=False), field="reply")[0] == f"unicode: {rule}"


def test_prepare_text_refuses_a_missing_text() -> None:
    rule = "must be a non-empty string"
    for text in ("", None, 5):
        assert _refusal(HTTP, text, SendOptions()) == (f"text: {rule}", "text", rule, None)
    assert _refusal(HTTP, "", SendOptions(), field="reply")[0] == f"reply: {rule}"


def test_prepare_text_counts_parts_against_max_parts_and_concat() -> None:
    assert _prepared(HTTP, "a" * 160, SendOptions(), max_parts=1) == ({"text": "a" * 160}, 1)
    assert _prepared(HTTP, "a" * 161, SendOptions(), max_parts=2) == (
        {"text": "a" * 161, "concat": "2"},
        2,
    )
    rule = "needs 2 parts, more than max_parts=1 (gateway error 113)"
    assert _refusal(HTTP, "a" * 161, SendOptions(), max_parts=1) == (
        f"text: {rule}",
        "text",
        rule,
        None,
    )
    rule = "needs 4 parts, more than max_parts=3 (gateway error 113)"
    assert _refusal(HTTP, "a" * 460, SendOptions(), max_parts=3)[0] == f"text: {rule}"
    # concat= given: it is the limit (max_parts does not apply) and it is sent as given.
    assert _prepared(HTTP, "a" * 161, SendOptions(concat=2), max_parts=1) == (
        {"concat": "2", "text": "a" * 161},
        2,
    )
    assert _prepared(HTTP, "a" * 161, SendOptions(concat=3), max_parts=1) == (
        {"concat": "3", "text": "a" * 161},
        2,
    )
    assert _prepared(HTTP, "Hi", SendOptions(concat=3)) == ({"concat": "3", "text": "Hi"}, 1)
    rule = "needs 2 parts but concat=1 (gateway error 113)"
    assert _refusal(HTTP, "a" * 161, SendOptions(concat=1), max_parts=3) == (
        f"text: {rule}",
        "text",
        rule,
        None,
    )
    rule = "needs 2 parts but concat=1 (gateway error 113)"
    assert _refusal(HTTP, "a" * 161, SendOptions(concat=1), field="reply")[0] == f"reply: {rule}"


def test_prepare_text_binary_messages() -> None:
    assert _prepared(HTTP, "", SendOptions(data="00" * 140), max_parts=1) == (
        {"data": "00" * 140},
        1,
    )
    assert _prepared(HTTP, "", SendOptions(data="00" * 141)) == (
        {"data": "00" * 141, "concat": "2"},
        2,
    )
    # A caller UDH takes room from every part: 134 data bytes plus a 6-byte UDH fill one.
    udh = "0500030a0201"
    assert _prepared(HTTP, "", SendOptions(data="00" * 134, udh=udh), max_parts=1) == (
        {"udh": udh, "data": "00" * 134},
        1,
    )
    assert _prepared(HTTP, "", SendOptions(data="00" * 135, udh=udh)) == (
        {"udh": udh, "data": "00" * 135, "concat": "2"},
        2,
    )
    rule = "needs 2 parts, more than max_parts=1 (gateway error 113)"
    assert _refusal(HTTP, "", SendOptions(data="00" * 141), max_parts=1)[0] == f"data: {rule}"
    rule = "cannot be combined with data= (a binary message)"
    assert _refusal(HTTP, "x", SendOptions(data="00")) == (f"text: {rule}", "text", rule, None)
    assert _refusal(HTTP, "x", SendOptions(data="00"), field="reply")[0] == f"reply: {rule}"
    rule = "udh of 140 bytes leaves no room for data in a concatenated SMS"
    assert _refusal(HTTP, "", SendOptions(data="0000", udh="00" * 140)) == (
        f"udh: {rule}",
        "udh",
        rule,
        None,
    )


def test_option_params_are_a_fresh_copy_each_time() -> None:
    options = SendOptions(from_="Shop")
    # The first text adds unicode and concat; they must not stick to the options' parameters.
    assert _prepared(HTTP, "Δ" * 71, options) == (
        {"from": "Shop", "text": "0394" * 71, "unicode": "1", "concat": "2"},
        2,
    )
    assert _prepared(HTTP, "Hi", options) == ({"from": "Shop", "text": "Hi"}, 1)
    assert _prepared(HTTP, "Δ", DEFAULT_OPTIONS) == ({"text": "0394", "unicode": "1"}, 1)
    assert _prepared(HTTP, "Hi", DEFAULT_OPTIONS) == ({"text": "Hi"}, 1)
    assert _option_params(options) == {"from": "Shop"}
    assert _option_params(options) is not _option_params(options)
    assert _option_params(DEFAULT_OPTIONS) == {}
    assert _option_params(SendOptions()) == {}


def test_option_params_remember_a_bounded_number_of_options() -> None:
    for i in range(1100):
        assert _option_params(SendOptions(validity=1 + i % 1440, callback=i % 8)) == {
            "callback": str(i % 8),
            "validity": str(1 + i % 1440),
        }
        assert 0 < len(_PARAMS) <= 1024


def test_text_cache_keys_by_text_and_options() -> None:
    cache = TextCache(HTTP, 3)
    first = cache("Hi", DEFAULT_OPTIONS)
    assert (dict(first.params), first.parts) == ({"text": "Hi"}, 1)
    assert cache("Hi", DEFAULT_OPTIONS) is first
    forced = cache("Hi", SendOptions(unicode=True))
    assert (dict(forced.params), forced.parts) == ({"text": "00480069", "unicode": "1"}, 1)
    assert cache("Hi", SendOptions(unicode=True)) is forced
    assert dict(cache("Hi", SendOptions(from_="Shop")).params) == {"from": "Shop", "text": "Hi"}
    assert dict(cache("Ho", DEFAULT_OPTIONS).params) == {"text": "Ho"}
    assert cache("Hi", DEFAULT_OPTIONS) is first
    # max_parts is the cache's.
    assert TextCache(HTTP, 2)("a" * 161, DEFAULT_OPTIONS).parts == 2
    with pytest.raises(ValidationError) as exc:
        TextCache(HTTP, 1)("a" * 161, DEFAULT_OPTIONS)
    assert str(exc.value) == "text: needs 2 parts, more than max_parts=1 (gateway error 113)"
    # SOAP sends Δ as text: the cache uses its own wire.
    assert dict(TextCache(SOAP, 3)("Δ", DEFAULT_OPTIONS).params) == {"text": "Δ"}


class _UnhashableText(str):
    __hash__ = None  # type: ignore[assignment]


def test_text_cache_lets_prepare_text_refuse_an_unhashable_text() -> None:
    cache = TextCache(HTTP, 3)
    for options in (DEFAULT_OPTIONS, SendOptions(from_="Shop")):
        with pytest.raises(ValidationError) as exc:
            cache(["Hi"], options)  # type: ignore[arg-type]
        assert str(exc.value) == "text: must be a non-empty string"
    with pytest.raises(ValidationError) as exc:
        TextCache(HTTP, 1)(["Hi"], DEFAULT_OPTIONS)  # type: ignore[arg-type]
    assert str(exc.value) == "text: must be a non-empty string"
    with pytest.raises(ValidationError) as exc:
        cache(["Hi"], SendOptions(data="00"))  # type: ignore[arg-type]
    assert str(exc.value) == "text: cannot be combined with data= (a binary message)"
    # A str that cannot be hashed is still a text, prepared on the cache's wire.
    unhashable = _UnhashableText("Δ")
    assert dict(cache(unhashable, DEFAULT_OPTIONS).params) == {"text": "0394", "unicode": "1"}
    assert dict(TextCache(SOAP, 3)(unhashable, DEFAULT_OPTIONS).params) == {"text": "Δ"}
    # An empty unhashable text with data= is a binary message: prepared, with the cache's
    # max_parts, just not remembered.
    binary = SendOptions(data="00" * 141)
    with pytest.raises(ValidationError) as exc:
        TextCache(HTTP, 1)([], binary)  # type: ignore[arg-type]
    assert str(exc.value) == "data: needs 2 parts, more than max_parts=1 (gateway error 113)"
    prepared = TextCache(HTTP, 2)([], binary)  # type: ignore[arg-type]
    assert (dict(prepared.params), prepared.parts) == ({"data": "00" * 141, "concat": "2"}, 2)


def test_text_cache_is_bounded() -> None:
    cache = TextCache(HTTP, 3)
    for i in range(300):
        assert dict(cache(f"t{i}", DEFAULT_OPTIONS).params) == {"text": f"t{i}"}
        assert 0 < len(cache._cache) <= 256
    assert len(cache._cache) == 300 - 256


# -- parsing the send reply ----------------------------------------------------------------------


def test_parse_send_raises_a_refusal_repeated_on_every_line() -> None:
    with pytest.raises(AuthenticationError) as exc:
        parse_send("ERR: 001, Authentication failed")
    assert (exc.value.code, str(exc.value)) == (
        ErrorCode.AUTHENTICATION_FAILED,
        "ERR 001: Authentication failed",
    )
    with pytest.raises(AuthenticationError):
        parse_send(f"ERR: 001, Authentication failed To: {A}")
    lines = f"ERR: 001, Authentication failed To: {A}\nERR: 001, Authentication failed To: {B}"
    with pytest.raises(AuthenticationError):
        parse_send(lines)


def test_parse_send_keeps_per_recipient_errors_as_data() -> None:
    auth = ErrorReply(ErrorCode.AUTHENTICATION_FAILED, "Authentication failed", A)
    assert parse_send(f"ERR: 001, Authentication failed To: {A}\nID: a1 To: {B}") == [
        auth,
        IdReply("a1", B),
    ]
    assert parse_send(f"ID: a1 To: {B}\nERR: 001, Authentication failed To: {A}") == [
        IdReply("a1", B),
        auth,
    ]
    # Two different request-level codes: not one refusal repeated.
    assert parse_send(
        "ERR: 001, Authentication failed\nERR: 002, Unknown username or password"
    ) == [
        ErrorReply(ErrorCode.AUTHENTICATION_FAILED, "Authentication failed"),
        ErrorReply(ErrorCode.UNKNOWN_USERNAME_OR_PASSWORD, "Unknown username or password"),
    ]
    # A per-recipient code repeated on every line stays per recipient.
    assert parse_send(f"ERR: 301, No credit left To: {A}") == [
        ErrorReply(ErrorCode.NO_CREDIT_LEFT, "No credit left", A)
    ]
    credit = ErrorReply(ErrorCode.NO_CREDIT_LEFT, "No credit left")
    assert parse_send("ERR: 301, No credit left\nERR: 301, No credit left") == [credit, credit]


def test_parse_send_fast_shapes() -> None:
    assert parse_send("ID: abc") == OneId("abc")
    assert parse_send(b"ID: abc") == OneId("abc")
    assert isinstance(parse_send(f"ID: a1 To: {A}\nID: b2 To: {B}"), StridedLines)
    assert parse_send(f"ID: a1 To: {A}\nID: bbb2 To: {B}") == IdLines(["a1", "bbb2"], [A, B])
    assert parse_send("ID: a1\nID: b2") == [IdReply("a1"), IdReply("b2")]


# -- every shape of reply gives the same results -------------------------------------------------


def _fields(results: object) -> list[tuple[object, ...]]:
    return [
        (r.to, r.apimsgid, r.climsgid, r.error_code, r.error_description, r.parts, r.ref)
        for r in results  # type: ignore[attr-defined]
    ]


def test_one_id_for_one_recipient() -> None:
    reply = parse_send("ID: abc")
    assert isinstance(reply, OneId)
    assert _fields(match_replies([A], reply, "cid", 2, ["r"])) == [
        (A, "abc", "cid", None, None, 2, "r")
    ]
    assert _fields(match_replies([A], reply, None, 1)) == [(A, "abc", None, None, None, 1, None)]
    assert _fields(match_replies([A], reply, None, 1, [])) == [
        (A, "abc", None, None, None, 1, None)
    ]


def test_one_id_for_several_recipients_answers_only_when_unambiguous() -> None:
    reply = parse_send("ID: abc")
    results = match_replies([A, B], reply, "cid", 2, ["ra", "rb"])
    assert _fields(results) == [
        (A, None, "cid", OUTCOME_UNKNOWN, UNMATCHED, 2, "ra"),
        (B, None, "cid", OUTCOME_UNKNOWN, UNMATCHED, 2, "rb"),
    ]


@pytest.mark.parametrize(
    "body",
    [f"ID: a1 To: {A}\nID: b2 To: {B}", f"ID: a1 To: {A}\nID: bbb2 To: {B}"],
    ids=["strided", "id-lines"],
)
def test_all_accepted_in_order(body: str) -> None:
    reply = parse_send(body)
    ids = ["a1", "b2"] if isinstance(reply, StridedLines) else ["a1", "bbb2"]
    results = match_replies([A, B], reply, "cid", 2, ["ra", "rb"])
    assert _fields(results) == [
        (A, ids[0], "cid", None, None, 2, "ra"),
        (B, ids[1], "cid", None, None, 2, "rb"),
    ]
    assert _fields(match_replies((A, B), reply, None, 1)) == [
        (A, ids[0], None, None, None, 1, None),
        (B, ids[1], None, None, None, 1, None),
    ]
    assert _fields(match_replies([A, B], reply, None, 1, [])) == [
        (A, ids[0], None, None, None, 1, None),
        (B, ids[1], None, None, None, 1, None),
    ]


@pytest.mark.parametrize(
    "body",
    [f"ID: b2 To: {B}\nID: a1 To: {A}", f"ID: bbb2 To: {B}\nID: a1 To: {A}"],
    ids=["strided", "id-lines"],
)
def test_all_accepted_out_of_order_are_matched_by_number(body: str, warnings: list[str]) -> None:
    reply = parse_send(body)
    second = "b2" if isinstance(reply, StridedLines) else "bbb2"
    results = match_replies([A, B, C], reply, "cid", 2, ["ra", "rb", "rc"])
    assert _fields(results) == [
        (A, "a1", "cid", None, None, 2, "ra"),
        (B, second, "cid", None, None, 2, "rb"),
        (C, None, "cid", OUTCOME_UNKNOWN, NO_LINE, 2, "rc"),
    ]
    assert warnings == []
    results = match_replies([B, A], reply, "cid", 2, ["rb", "ra"])
    assert _fields(results) == [
        (B, second, "cid", None, None, 2, "rb"),
        (A, "a1", "cid", None, None, 2, "ra"),
    ]


@pytest.mark.parametrize(
    "body",
    [f"ID: a1 To: {A}\nID: z9 To: {STRANGER}", f"ID: a1 To: {A}\nID: zzz9 To: {STRANGER}"],
    ids=["strided", "id-lines"],
)
def test_a_fast_reply_naming_a_stranger(body: str, warnings: list[str]) -> None:
    results = match_replies([A, B], parse_send(body), "cid", 1, ["ra", "rb"])
    assert _fields(results) == [
        (A, "a1", "cid", None, None, 1, "ra"),
        (B, None, "cid", OUTCOME_UNKNOWN, NO_LINE, 1, "rb"),
    ]
    assert warnings == [_warning(strangers=1, unnamed=0, count=2)]


def test_the_common_case_line_by_line() -> None:
    err = f"ERR: 114, Cannot route message To: {B}"
    results = match_replies(
        [A, B, C],
        parse_send(f"ID: a1 To: {A}\n{err}\nID: c3 To: {C}"),
        "cid",
        2,
        ["ra", "rb", "rc"],
    )
    assert _fields(results) == [
        (A, "a1", "cid", None, None, 2, "ra"),
        (B, None, "cid", ErrorCode.CANNOT_ROUTE_MESSAGE, "Cannot route message", 2, "rb"),
        (C, "c3", "cid", None, None, 2, "rc"),
    ]
    results = match_replies([A, B], [IdReply("a1", A), IdReply("b2", B)], None, 1)
    assert _fields(results) == [
        (A, "a1", None, None, None, 1, None),
        (B, "b2", None, None, None, 1, None),
    ]


def test_one_recipient_one_line() -> None:
    assert _fields(match_replies([A], [IdReply("a1")], "cid", 2, ["r"])) == [
        (A, "a1", "cid", None, None, 2, "r")
    ]
    assert _fields(match_replies([A], [IdReply("a1", A)], None, 1)) == [
        (A, "a1", None, None, None, 1, None)
    ]
    err = ErrorReply(ErrorCode.CANNOT_ROUTE_MESSAGE, "Cannot route message")
    assert _fields(match_replies([A], [err], "cid", 1, ["r"])) == [
        (A, None, "cid", ErrorCode.CANNOT_ROUTE_MESSAGE, "Cannot route message", 1, "r")
    ]
    assert _fields(match_replies([A], [IdReply("z9", STRANGER)], "cid", 1, ["r"])) == [
        (A, None, "cid", OUTCOME_UNKNOWN, NO_LINE, 1, "r")
    ]
    # Two lines for one recipient: the one naming it.
    results = match_replies([A], [IdReply("z9", STRANGER), IdReply("a1", A)], "cid", 1, ["r"])
    assert _fields(results) == [(A, "a1", "cid", None, None, 1, "r")]
    # Two lines without a number for one recipient: neither is known to be its line.
    results = match_replies([A], [IdReply("x1"), IdReply("x2")], "cid", 1, ["r"])
    assert _fields(results) == [(A, None, "cid", OUTCOME_UNKNOWN, UNMATCHED, 1, "r")]
    # No line at all.
    assert _fields(match_replies([A], [], "cid", 1, ["r"])) == [
        (A, None, "cid", OUTCOME_UNKNOWN, NO_LINE, 1, "r")
    ]


def test_unnamed_lines_as_many_as_recipients() -> None:
    results = match_replies([A, B], parse_send("ID: a1\nID: b2"), "cid", 1, ["ra", "rb"])
    assert _fields(results) == [
        (A, "a1", "cid", None, None, 1, "ra"),
        (B, "b2", "cid", None, None, 1, "rb"),
    ]
