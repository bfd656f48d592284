"""The reply parser: every form of docs/protocol.md, "Replies", both profiles, and robustness."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from asms._codes import ErrorCode, MessageStatus
from asms._exceptions import (
    AuthenticationError,
    BatchError,
    DestinationError,
    GatewayError,
    InternalGatewayError,
    MessageLookupError,
    ParameterError,
    ReplyParseError,
    SessionError,
    ThrottledError,
)
from asms._replies import (
    ChargeReply,
    CoverageReply,
    CreditReply,
    ErrorReply,
    IdReply,
    OkReply,
    Reply,
    StatusReply,
    expect_charge,
    expect_coverage,
    expect_credit,
    expect_id,
    expect_ok,
    expect_send,
    expect_session,
    expect_status,
    parse_coverage,
    parse_line,
    parse_lines,
)

SESSION = "f6b9af2a2c9e5b18ee2d257e3def5d66"
MSGID = "f7012c1edff2509a19ce1667c7f52b18"
QUERY_ID = "8a4f34f58cfa1c634f59227e61ef16e3"
SUPPORTED = "This prefix is currently supported. Messages sent to this prefix will be routed."
UNSUPPORTED = (
    "This prefix is not currently supported. Messages sent to this prefix will fail. "
    "Please contact support for assistance."
)

E = ErrorCode
M = MessageStatus

# Every reply form of docs/protocol.md, "Replies", in both profiles, with its parsed result.
LINES: list[tuple[str, Reply]] = [
    (f"OK: {SESSION}", OkReply(SESSION)),
    (f"OK: {SESSION} ", OkReply(SESSION)),
    ("OK:", OkReply("")),
    ("OK: ", OkReply("")),
    ("OK", OkReply("")),
    ("ok", OkReply("")),
    ("OK: 605", OkReply("605")),
    (f"ID: {MSGID}", IdReply(MSGID)),
    (f"ID: {MSGID} To: 2799900001", IdReply(MSGID, "2799900001")),
    (f"id: {MSGID} to: 2799900001", IdReply(MSGID, "2799900001")),
    (f"ID:{MSGID}", IdReply(MSGID)),
    (f"ID: {QUERY_ID} Status: 003", StatusReply(QUERY_ID, M.DELIVERED_TO_GATEWAY)),
    (f"ID: {QUERY_ID} status: 014", StatusReply(QUERY_ID, M.MAXIMUM_MT_LIMIT_EXCEEDED)),
    (f"ID: {QUERY_ID} Status: 013", StatusReply(QUERY_ID, 13)),
    (f"ID: {MSGID} Charge: 0.3 Status: 004", ChargeReply(MSGID, 0.3, M.RECEIVED_BY_RECIPIENT)),
    (f"ID: {MSGID} Status: 004 Charge: 0.3", ChargeReply(MSGID, 0.3, M.RECEIVED_BY_RECIPIENT)),
    (
        f"apiMsgId: {MSGID} charge: 0.300000 status: 004",
        ChargeReply(MSGID, 0.3, M.RECEIVED_BY_RECIPIENT),
    ),
    (f"APIMSGID: {MSGID} CHARGE: 1 STATUS: 009", ChargeReply(MSGID, 1.0, M.ROUTING_ERROR)),
    (f"apiMsgId: {MSGID} status: 002", StatusReply(MSGID, M.MESSAGE_QUEUED)),
    ("Credit: 500.00", CreditReply(500.0)),
    ("credit: 12.5", CreditReply(12.5)),
    ("Credit: -3.2", CreditReply(-3.2)),
    (
        "ERR: 001, Authentication failed",
        ErrorReply(E.AUTHENTICATION_FAILED, "Authentication failed"),
    ),
    (
        "ERR: 001, Authentication failed To: 2799900001",
        ErrorReply(E.AUTHENTICATION_FAILED, "Authentication failed", "2799900001"),
    ),
    (
        "ERR: 105, Invalid destination address to: 2799900001",
        ErrorReply(E.INVALID_DESTINATION_ADDRESS, "Invalid destination address", "2799900001"),
    ),
    ("err: 003, Session ID Expired", ErrorReply(E.SESSION_ID_EXPIRED, "Session ID Expired")),
    ("ERR: 003", ErrorReply(E.SESSION_ID_EXPIRED, "Session ID expired")),
    ("ERR: 3, Session ID expired", ErrorReply(E.SESSION_ID_EXPIRED, "Session ID expired")),
    (
        "ERR: 001 Authentication failed",
        ErrorReply(E.AUTHENTICATION_FAILED, "Authentication failed"),
    ),
    (
        "ERR: 001 , Authentication failed",
        ErrorReply(E.AUTHENTICATION_FAILED, "Authentication failed"),
    ),
    (
        "ERR: 130, Maximum MT limit exceeded until 1735689600",
        ErrorReply(E.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL, "Maximum MT limit exceeded until 1735689600"),
    ),
    ("ERR: 999, Brand new error", ErrorReply(999, "Brand new error")),
    (f"ERR: {UNSUPPORTED}", ErrorReply(0, UNSUPPORTED)),
    ("ERR:", ErrorReply(0, "")),
    ("ERR: 001abc", ErrorReply(0, "001abc")),
    ("ERR: To: 2799900001", ErrorReply(0, "", "2799900001")),
    ("ERR: 114, Cannot route message Into: x", ErrorReply(114, "Cannot route message Into: x")),
    ("ERR: 114, Cannot route To: a b", ErrorReply(114, "Cannot route To: a b")),
    (f"OK: {SUPPORTED} Charge: 1", OkReply(f"{SUPPORTED} Charge: 1")),
]


@pytest.mark.parametrize(("line", "expected"), LINES)
def test_parse_line(line: str, expected: Reply) -> None:
    assert parse_line(line) == expected
    assert parse_line(f"  {line}\r") == expected
    assert parse_lines(line) == [expected]
    assert parse_lines(f"{line}\r\n".encode()) == [expected]


def test_unknown_codes_stay_ints() -> None:
    reply = parse_line("ERR: 999, Brand new error")
    assert isinstance(reply, ErrorReply)
    assert type(reply.code) is int
    status = parse_line("ID: x Status: 013")
    assert isinstance(status, StatusReply)
    assert type(status.status) is int


BAD_LINES = [
    "",
    "   ",
    "FOO: bar",
    "Hello",
    "OK 605",
    "ID:",
    "ID: ",
    "ID: To: 2799900001",
    f"ID: {MSGID} To:",
    f"ID: {MSGID} To: 1 To: 2",
    f"ID: {MSGID} Status: abc",
    f"ID: {MSGID} Status: 3.0",
    f"ID: {MSGID} Status: 003 Status: 004",
    f"ID: {MSGID} Status: 003 To: 2799900001",
    f"ID: {MSGID} Foo: 1",
    f"ID: {MSGID} Status 003",
    f"ID: {MSGID} Charge: 0.3",
    f"ID: {MSGID} Charge: abc Status: 004",
    f"ID: {MSGID} Charge: nan Status: 004",
    f"apiMsgId: {MSGID} charge: inf status: 004",
    "Credit:",
    "Credit: abc",
    "Credit: nan",
    "Credit: 1e999",
    "Credit: 1,000.00",
    "Credit: .",
    "Credit: 1_000",
    "ID : abc",
    "ID: abc\nID: def",
    "\ufeffOK",
]


@pytest.mark.parametrize("line", BAD_LINES)
def test_parse_line_rejects(line: str) -> None:
    with pytest.raises(ReplyParseError):
        parse_line(line)


@pytest.mark.parametrize("body", [b"", b"\n", b"\r\n\r\n  \t\n", "", "  "])
def test_empty_body(body: bytes | str) -> None:
    with pytest.raises(ReplyParseError, match="empty reply"):
        parse_lines(body)


def test_parse_lines_multi_recipient_default_profile() -> None:
    body = (
        b"ID: 1bc2f3e1a4a2d2b0f1c2e3a4b5c6d7e8 To: 2799900001\r\n"
        b"ERR: 105, Invalid destination address To: 2799900002\r\n"
        b"ID: 2bc2f3e1a4a2d2b0f1c2e3a4b5c6d7e8 To: 2799900003\r\n"
    )
    assert parse_lines(body) == [
        IdReply("1bc2f3e1a4a2d2b0f1c2e3a4b5c6d7e8", "2799900001"),
        ErrorReply(E.INVALID_DESTINATION_ADDRESS, "Invalid destination address", "2799900002"),
        IdReply("2bc2f3e1a4a2d2b0f1c2e3a4b5c6d7e8", "2799900003"),
    ]


def test_parse_lines_multi_recipient_v238_profile() -> None:
    body = "ID: aaa To: 2799900001\nERR: 105, Invalid destination address\n\n  \nID: bbb To: 3\n"
    assert parse_lines(body) == [
        IdReply("aaa", "2799900001"),
        ErrorReply(E.INVALID_DESTINATION_ADDRESS, "Invalid destination address"),
        IdReply("bbb", "3"),
    ]


def test_parse_lines_600_recipients() -> None:
    lines = [f"ID: {i:032x} To: 2782{i:07d}" for i in range(600)]
    for sep, end in [("\n", ""), ("\r\n", "\r\n"), ("\n", "\n\n  ")]:
        replies = parse_lines(sep.join(lines) + end)
        assert replies == [IdReply(f"{i:032x}", f"2782{i:07d}") for i in range(600)]
        assert all(type(reply) is IdReply for reply in replies)


def test_bulk_replies_behave_like_dataclasses() -> None:
    first, _ = parse_lines("ID: a To: 1\nID: b To: 2")
    assert first == IdReply("a", "1")
    assert hash(first) == hash(IdReply("a", "1"))
    assert repr(first) == "IdReply(apimsgid='a', to='1')"
    with pytest.raises(AttributeError):
        first.to = "3"  # type: ignore[misc]


def test_bytes_decoding() -> None:
    assert parse_lines("ERR: 999, Caf\u00e9".encode()) == [ErrorReply(999, "Caf\u00e9")]
    assert parse_lines("ERR: 999, Caf\u00e9".encode("iso-8859-1")) == [ErrorReply(999, "Caf\u00e9")]
    assert parse_lines("\ufeffOK: 605".encode()) == [OkReply("605")]


def test_ok_reply_repr_hides_session_id() -> None:
    reply = parse_line(f"OK: {SESSION}")
    assert SESSION not in repr(reply)
    assert repr(reply) == "OkReply()"


# to_line() writes the default profile; v238 variants are checked separately.
@pytest.mark.parametrize(
    "reply",
    [
        OkReply(SESSION),
        OkReply(""),
        IdReply(MSGID),
        IdReply(MSGID, "2799900001"),
        StatusReply(QUERY_ID, M.DELIVERED_TO_GATEWAY),
        StatusReply(QUERY_ID, 13),
        ChargeReply(MSGID, 0.3, M.RECEIVED_BY_RECIPIENT),
        ChargeReply(MSGID, 1.0, M.RECEIVED_BY_RECIPIENT),
        CreditReply(500.0),
        ErrorReply(E.AUTHENTICATION_FAILED, "Authentication failed"),
        ErrorReply(E.AUTHENTICATION_FAILED, "Authentication failed", "2799900001"),
        ErrorReply(0, UNSUPPORTED),
    ],
)
def test_to_line_round_trip(reply: Reply) -> None:
    assert parse_line(reply.to_line()) == reply


def test_to_line_exact_text() -> None:
    assert OkReply("").to_line() == "OK:"
    assert OkReply(SESSION).to_line() == f"OK: {SESSION}"
    assert StatusReply("x", M.DELIVERED_TO_GATEWAY).to_line() == "ID: x Status: 003"
    charge = ChargeReply("x", 1.0, M.RECEIVED_BY_RECIPIENT)
    assert charge.to_line() == "ID: x Charge: 1 Status: 004"
    assert charge.to_line(v238=True) == "apiMsgId: x charge: 1 status: 004"
    assert CreditReply(500.5).to_line() == "Credit: 500.5"
    error = ErrorReply(E.INVALID_DESTINATION_ADDRESS, "Invalid destination address", "27")
    assert error.to_line() == "ERR: 105, Invalid destination address To: 27"
    assert error.to_line(v238=True) == "ERR: 105, Invalid destination address"
    assert CoverageReply(True, SUPPORTED, 1.0).to_line() == f"OK: {SUPPORTED} Charge: 1"
    assert CoverageReply(False, UNSUPPORTED).to_line() == f"ERR: {UNSUPPORTED}"


def test_v238_lines_round_trip() -> None:
    charge = ChargeReply(MSGID, 0.33, M.RECEIVED_BY_RECIPIENT)
    assert parse_line(charge.to_line(v238=True)) == charge
    error = ErrorReply(E.INVALID_DESTINATION_ADDRESS, "Invalid destination address", "27")
    assert parse_line(error.to_line(v238=True)) == ErrorReply(error.code, error.description)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1, AuthenticationError),
        (3, SessionError),
        (101, ParameterError),
        (105, DestinationError),
        (103, MessageLookupError),
        (201, BatchError),
        (901, InternalGatewayError),
        (999, GatewayError),
    ],
)
def test_error_reply_exception(code: int, cls: type[GatewayError]) -> None:
    error = ErrorReply(ErrorCode.coerce(code), "text", "27").exception()
    assert type(error) is cls
    assert (error.code, error.description, error.recipient) == (code, "text", "27")


def test_throttled_reply_keeps_timestamp() -> None:
    reply = parse_line("ERR: 130, Maximum MT limit exceeded until 1735689600")
    assert isinstance(reply, ErrorReply)
    error = reply.exception()
    assert isinstance(error, ThrottledError)
    assert error.until == datetime(2025, 1, 1, tzinfo=UTC)


# --- routeCoverage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f"OK: {SUPPORTED} Charge: 1", CoverageReply(True, SUPPORTED, 1.0)),
        (f"OK: {SUPPORTED} charge: 0.8\r\n", CoverageReply(True, SUPPORTED, 0.8)),
        (f"OK: {SUPPORTED}", CoverageReply(True, SUPPORTED, None)),
        ("OK", CoverageReply(True, "", None)),
        (f"ERR: {UNSUPPORTED}", CoverageReply(False, UNSUPPORTED, None)),
        (f"err: {UNSUPPORTED}\n".encode(), CoverageReply(False, UNSUPPORTED, None)),
    ],
)
def test_parse_coverage(body: str | bytes, expected: CoverageReply) -> None:
    assert parse_coverage(body) == expected
    assert expect_coverage(body) == expected


def test_coverage_round_trip() -> None:
    for reply in (CoverageReply(True, SUPPORTED, 1.5), CoverageReply(False, UNSUPPORTED)):
        assert parse_coverage(reply.to_line()) == reply


def test_coverage_coded_error() -> None:
    body = "ERR: 001, Authentication failed"
    assert parse_coverage(body) == ErrorReply(E.AUTHENTICATION_FAILED, "Authentication failed")
    with pytest.raises(AuthenticationError):
        expect_coverage(body)


@pytest.mark.parametrize(
    "body",
    [
        "",
        f"ID: {MSGID}",
        "Credit: 5",
        "ERR",
        f"OK: {SUPPORTED} Charge: lots",
        f"OK: {SUPPORTED}\nOK: {SUPPORTED}",
    ],
)
def test_coverage_rejects(body: str) -> None:
    with pytest.raises(ReplyParseError):
        parse_coverage(body)


# --- expect_* helpers -------------------------------------------------------------------------


def test_expect_session() -> None:
    assert expect_session(f"OK: {SESSION} ") == SESSION
    assert expect_session(f"OK: {SESSION}\n".encode()) == SESSION


@pytest.mark.parametrize(
    "body",
    [
        "OK:",
        "OK",
        f"OK: {SESSION} extra",
        f"ID: {SESSION}",
        f"0K: {SESSION}",
        f"OK: {SESSION}\nOK: {SESSION}",
        f"OK: {SESSION}\nGARBAGE {SESSION}",
        "",
    ],
)
def test_expect_session_never_quotes_the_session_id(body: str) -> None:
    with pytest.raises(ReplyParseError) as info:
        expect_session(body)
    assert SESSION not in str(info.value)
    assert SESSION not in repr(info.value)
    assert SESSION not in info.value.excerpt


def test_expect_session_error() -> None:
    with pytest.raises(AuthenticationError) as info:
        expect_session("ERR: 001, Authentication failed\n")
    assert info.value.code is E.AUTHENTICATION_FAILED
    assert str(info.value) == "ERR 001: Authentication failed"


@pytest.mark.parametrize(
    ("body", "value"), [("OK:", ""), ("OK: ", ""), ("OK", ""), ("OK: 605", "605")]
)
def test_expect_ok(body: str, value: str) -> None:
    assert expect_ok(body) == value


def test_expect_ok_errors() -> None:
    with pytest.raises(SessionError):
        expect_ok("ERR: 003, Session ID expired")
    with pytest.raises(ReplyParseError, match="expected OK, got IdReply"):
        expect_ok("ID: abc")
    with pytest.raises(ReplyParseError, match="got 2"):
        expect_ok("OK\nOK")


def test_expect_id() -> None:
    assert expect_id(f"ID: {MSGID}") == IdReply(MSGID)
    with pytest.raises(BatchError):
        expect_id("ERR: 201, Invalid batch ID")
    with pytest.raises(ReplyParseError):
        expect_id("OK: x")


def test_expect_send_single() -> None:
    assert expect_send(f"ID: {MSGID}") == [IdReply(MSGID)]


def test_expect_send_single_error_raises() -> None:
    with pytest.raises(ParameterError) as info:
        expect_send("ERR: 113, Maximum message parts exceeded")
    assert info.value.code is E.MAXIMUM_MESSAGE_PARTS_EXCEEDED
    assert info.value.description == "Maximum message parts exceeded"
    assert info.value.recipient is None


def test_expect_send_per_recipient_errors_are_data() -> None:
    single = "ERR: 105, Invalid destination address To: 2799900001"
    assert expect_send(single) == [
        ErrorReply(E.INVALID_DESTINATION_ADDRESS, "Invalid destination address", "2799900001")
    ]
    # SOAP document/literal example: auth failure per recipient
    body = (
        "ERR: 001, Authentication failed To: 2799900001\n"
        "ERR: 001, Authentication failed To: 2799900002\n"
    )
    assert [r.to for r in expect_send(body)] == ["2799900001", "2799900002"]
    # v2.3.8: several ERR lines without To: are still per-recipient data
    v238 = "ID: a To: 1\nERR: 105, Invalid destination address\nERR: 121, Blocked"
    results = expect_send(v238)
    assert results[1] == ErrorReply(E.INVALID_DESTINATION_ADDRESS, "Invalid destination address")
    assert results[2] == ErrorReply(E.DESTINATION_MOBILE_NUMBER_BLOCKED, "Blocked")


def test_expect_send_rejects_other_lines() -> None:
    with pytest.raises(ReplyParseError, match="expected ID or ERR lines, got CreditReply"):
        expect_send("ID: a To: 1\nCredit: 5")
    with pytest.raises(ReplyParseError):
        expect_send("")


def test_expect_status() -> None:
    assert expect_status(f"ID: {QUERY_ID} Status: 003") == StatusReply(
        QUERY_ID, M.DELIVERED_TO_GATEWAY
    )
    with pytest.raises(MessageLookupError):
        expect_status("ERR: 103, Unknown API message ID")
    with pytest.raises(ReplyParseError):
        expect_status(f"ID: {QUERY_ID}")


def test_expect_charge_both_profiles() -> None:
    expected = ChargeReply(MSGID, 0.3, M.RECEIVED_BY_RECIPIENT)
    assert expect_charge(f"ID: {MSGID} Charge: 0.3 Status: 004") == expected
    assert expect_charge(f"apiMsgId: {MSGID} charge: 0.3 status: 004\n") == expected
    with pytest.raises(ReplyParseError):
        expect_charge(f"ID: {MSGID} Status: 004")


def test_expect_credit() -> None:
    assert expect_credit(b"Credit: 500.00\n") == CreditReply(500.0)
    with pytest.raises(InternalGatewayError):
        expect_credit("ERR: 901, Internal error")
    with pytest.raises(ReplyParseError):
        expect_credit("OK")


# --- property tests ---------------------------------------------------------------------------

TOKENS = [
    "ID:",
    "id:",
    "ID: ",
    "To:",
    "to: ",
    " To: ",
    "Status:",
    "status: ",
    "Charge:",
    "charge: ",
    "apiMsgId: ",
    "OK",
    "OK:",
    "OK: ",
    "ERR:",
    "ERR: ",
    "Credit: ",
    "001",
    "001, ",
    "003",
    "130",
    "999999999",
    "0.3",
    "-",
    "1e999",
    "nan",
    "abc",
    MSGID,
    "2799900001",
    "Authentication failed",
    "until 1735689600",
    ":",
    ",",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\x00",
    "\ufeff",
    "é",
    "\u0663",
    "\u00a0",
]
grammar_text = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
EXPECTED_ERRORS = (ReplyParseError, GatewayError)
EXPECT_HELPERS = [
    expect_session,
    expect_ok,
    expect_id,
    expect_send,
    expect_status,
    expect_charge,
    expect_credit,
    expect_coverage,
]


def _parse_or_error(body: bytes | str) -> list[Reply] | None:
    try:
        return parse_lines(body)
    except ReplyParseError:
        return None


@given(st.binary(max_size=300))
@example(b"\xff\xfe\x00")
@example(b"ERR: " + b"9" * 5000)
@example(b"ID: x Status: " + b"9" * 5000)
def test_arbitrary_bytes_only_raise_reply_parse_error(body: bytes) -> None:
    _parse_or_error(body)
    for helper in EXPECT_HELPERS:
        try:
            helper(body)
        except EXPECTED_ERRORS:
            pass
    try:
        parse_coverage(body)
    except ReplyParseError:
        pass


@given(st.one_of(grammar_text, st.text(max_size=200)))
def test_grammar_text_only_raises_reply_parse_error(body: str) -> None:
    result = _parse_or_error(body)
    if result is not None:
        assert result and all(r is not None for r in result)
    for helper in EXPECT_HELPERS:
        try:
            helper(body)
        except EXPECTED_ERRORS:
            pass
    try:
        parse_line(body)
    except ReplyParseError:
        pass


ids = st.text(string.ascii_letters + string.digits, min_size=1, max_size=40)
numbers = st.floats(allow_nan=False, allow_infinity=False)
statuses = st.one_of(st.sampled_from(MessageStatus), st.integers(0, 99_999))
words = st.text(string.ascii_letters + ".'-", min_size=1, max_size=12)
descriptions = st.lists(words, min_size=1, max_size=8).map(" ".join)
error_codes = st.one_of(st.sampled_from(ErrorCode), st.integers(1, 999_999_999))
replies = st.one_of(
    st.builds(OkReply, st.one_of(st.just(""), ids)),
    st.builds(IdReply, ids, st.one_of(st.none(), ids)),
    st.builds(StatusReply, ids, statuses),
    st.builds(ChargeReply, ids, numbers, statuses),
    st.builds(CreditReply, numbers),
    st.builds(ErrorReply, error_codes, descriptions, st.one_of(st.none(), ids)),
)


@given(st.lists(replies, min_size=1, max_size=20), st.sampled_from(["\n", "\r\n", " \n"]))
def test_formatted_replies_round_trip(expected: list[Reply], sep: str) -> None:
    for reply in expected:
        if isinstance(reply, ErrorReply) and not isinstance(reply.code, ErrorCode):
            assert type(reply.code) is int
    body = sep.join(reply.to_line() for reply in expected) + sep
    assert parse_lines(body) == expected
    assert parse_lines(body.encode()) == expected


@given(st.booleans(), descriptions, st.one_of(st.none(), numbers))
def test_coverage_property_round_trip(supported: bool, text: str, charge: float | None) -> None:
    reply = CoverageReply(supported, text, charge)
    assert parse_coverage(reply.to_line()) == reply
