"""Exact behaviour of the reply parser at the edges mutation testing found unpinned.

Each test pins what a caller sees: the parsed values, or the exact ``ReplyParseError``
reason and quoted excerpt (the excerpt is what an operator reads in a log to find the bad
line, the reason says which rule it broke). See docs/mutants/_replies.md.
"""

from __future__ import annotations

import pytest

from asms._codes import ErrorCode, MessageStatus
from asms._exceptions import AuthenticationError, ReplyParseError
from asms._fast import build_many, id_to_columns
from asms._replies import (
    ChargeReply,
    CoverageReply,
    ErrorReply,
    IdReply,
    OkReply,
    StatusReply,
    expect_charge,
    expect_credit,
    expect_id,
    expect_ok,
    expect_session,
    expect_status,
    parse_coverage,
    parse_line,
    parse_lines,
)

E = ErrorCode
M = MessageStatus


def _raised(reason: str, excerpt: str, exc: pytest.ExceptionInfo[ReplyParseError]) -> None:
    assert exc.value.reason == reason
    assert exc.value.excerpt == excerpt
    assert str(exc.value) == (f"{reason}: {excerpt!r}" if excerpt else reason)


# --- ErrorReply.to_line ---------------------------------------------------------------


def test_codeless_error_line_has_no_code() -> None:
    assert ErrorReply(0, "Not supported").to_line() == "ERR: Not supported"
    assert ErrorReply(0, "Not supported", "27999").to_line() == "ERR: Not supported To: 27999"
    assert ErrorReply(0, "Not supported", "27999").to_line(v238=True) == "ERR: Not supported"


# --- numbers and status codes -----------------------------------------------------------


@pytest.mark.parametrize(
    "line", ["Credit: abc", "Credit: 1e999", "ID: x Charge: 1..2 Status: 004", "Credit:"]
)
def test_not_a_number_names_rule_and_line(line: str) -> None:
    with pytest.raises(ReplyParseError) as exc:
        parse_line(line)
    _raised("not a number in reply line", line, exc)


@pytest.mark.parametrize(
    "line", ["ID: x Status: abc", "ID: x Charge: 1 Status: abc", "ID: x Status: 04.0"]
)
def test_not_a_status_names_rule_and_line(line: str) -> None:
    with pytest.raises(ReplyParseError) as exc:
        parse_line(line)
    _raised("not a status code in reply line", line, exc)


# --- ID lines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "ID:",  # no id
        "ID: x To:",  # key alone
        "ID: abc:",  # an id that looks like a key
        "ID: Status: To: 123",  # a key where the id should be
        "ID: x Status 004",  # a value where a key should be
        "ID: x Status: 004 status: 005",  # a repeated key
        "ID: x Charge: 1 Status: 004 To: 1",  # an unknown combination
        "ID: x Charge: 1",  # charge without status
        "apiMsgId: x foo: 1",  # an unknown key
    ],
)
def test_malformed_id_lines(line: str) -> None:
    with pytest.raises(ReplyParseError) as exc:
        parse_line(line)
    _raised("malformed ID line", line, exc)


def test_charge_line_with_bad_status_is_a_parse_error() -> None:
    line = "apiMsgId: x charge: 0.3 status: 4x"
    with pytest.raises(ReplyParseError) as exc:
        parse_lines(line)
    _raised("not a status code in reply line", line, exc)


# --- the recipient of an ERR line -------------------------------------------------------


@pytest.mark.parametrize("key", ["To:", "to:", "TO:", "tO:"])
def test_err_recipient_key_in_any_case(key: str) -> None:
    assert parse_line(f"ERR: 105, Invalid Destination Address {key} 2799900001") == ErrorReply(
        E.INVALID_DESTINATION_ADDRESS, "Invalid Destination Address", "2799900001"
    )


@pytest.mark.parametrize("first", ["To:", "to:", "TO:", "tO:"])
@pytest.mark.parametrize("last", ["To:", "to:", "TO:", "tO:"])
def test_err_recipient_is_the_last_key(first: str, last: str) -> None:
    # Only the final "To: <msisdn>" is the recipient; an earlier one is description text.
    line = f"ERR: 114, Reply {first} sender {last} 2799900001"
    assert parse_line(line) == ErrorReply(114, f"Reply {first} sender", "2799900001")


def test_err_recipient_key_must_start_a_word() -> None:
    assert parse_line("ERR: 105, xTo: 123") == ErrorReply(105, "xTo: 123")
    assert parse_line("ERR: xTo: 123") == ErrorReply(0, "xTo: 123")
    assert parse_line("ERR: 105, To: 123") == ErrorReply(105, E(105).description, "123")


def test_err_recipient_without_a_space_after_the_key() -> None:
    assert parse_line("ERR: 105, Bad address To:2799900001") == ErrorReply(
        105, "Bad address", "2799900001"
    )


# --- parse_line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "excerpt"),
    [
        ("", ""),
        ("  \r ", ""),
        ("ID: x\nTo: 1", "ID: x\nTo: 1"),
        ("OK\nOK", "OK\nOK"),
        (" ID: 1\r\nID: 2 ", "ID: 1\r\nID: 2"),
    ],
)
def test_parse_line_takes_exactly_one_line(line: str, excerpt: str) -> None:
    with pytest.raises(ReplyParseError) as exc:
        parse_line(line)
    _raised("not a single reply line", excerpt, exc)


# --- routeCoverage ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rest", "text", "charge"),
    [
        ("Supported Charge: 0.8", "Supported", 0.8),
        ("Supported charge: 0.8", "Supported", 0.8),
        ("Supported CHARGE: 0.8", "Supported", 0.8),
        ("Supported CHARGE:0.8", "Supported", 0.8),
        ("Supported Charge:12", "Supported", 12.0),
        ("Charge: 1", "", 1.0),
        ("Charge:1", "", 1.0),
        ("Charge: 1 Charge: 2", "Charge: 1", 2.0),
        ("a charge: 1 CHARGE: 2", "a charge: 1", 2.0),
        ("a CHARGE: 1 Charge: 2", "a CHARGE: 1", 2.0),
        ("a CHARGE: 1 charge: 2", "a CHARGE: 1", 2.0),
        ("Supported", "Supported", None),
    ],
)
def test_coverage_charge_is_the_last_charge_key(rest: str, text: str, charge: float | None) -> None:
    assert parse_coverage(f"OK: {rest}") == CoverageReply(True, text, charge)
    assert parse_coverage(f"ERR: {rest}") == CoverageReply(False, text, charge)


@pytest.mark.parametrize(("body", "count"), [("", 0), ("OK: a\nOK: b", 2), (b"\r\n \n", 0)])
def test_coverage_wants_one_line(body: str | bytes, count: int) -> None:
    with pytest.raises(ReplyParseError) as exc:
        parse_coverage(body)
    _raised(f"expected one routeCoverage line, got {count}", "", exc)


@pytest.mark.parametrize("line", ["ID: x", "Credit: 1", "ERR", "FOO: bar"])
def test_coverage_rejects_other_lines(line: str) -> None:
    with pytest.raises(ReplyParseError) as exc:
        parse_coverage(f" {line}\r\n")
    _raised("unrecognised reply line", line, exc)


# --- expect_* ---------------------------------------------------------------------------


def test_expect_wants_one_line_and_says_which() -> None:
    cases = [
        (expect_ok, "OK"),
        (expect_id, "ID"),
        (expect_status, "status"),
        (expect_charge, "charge"),
        (expect_credit, "credit"),
    ]
    for expect, what in cases:
        with pytest.raises(ReplyParseError) as exc:
            expect("OK\nOK: 1\nID: x\n")
        _raised(f"expected one {what} line, got 3", "", exc)


def test_expect_names_the_wrong_shape() -> None:
    cases = [
        (expect_id, "Credit: 5", "expected ID, got CreditReply"),
        (expect_ok, "ID: x", "expected OK, got IdReply"),
        (expect_status, "ID: x", "expected ID … Status, got IdReply"),
        (expect_charge, "ID: x Status: 004", "expected ID … Charge … Status, got StatusReply"),
        (expect_credit, "OK: 5", "expected Credit, got OkReply"),
    ]
    for expect, body, message in cases:
        with pytest.raises(ReplyParseError) as exc:
            expect(body)
        _raised(message, "", exc)


def test_expect_values() -> None:
    assert expect_id("ID: abc To: 27999") == IdReply("abc", "27999")
    assert expect_status("ID: abc Status: 004") == StatusReply("abc", M.RECEIVED_BY_RECIPIENT)
    assert expect_charge("ID: abc Charge: 0.5 Status: 004") == ChargeReply(
        "abc", 0.5, M.RECEIVED_BY_RECIPIENT
    )


# --- decoding ---------------------------------------------------------------------------


def test_latin1_bytes_and_byte_order_mark() -> None:
    assert parse_lines(b"ERR: 999, Caf\xe9 cr\xe8me") == [ErrorReply(999, "Caf\u00e9 cr\u00e8me")]
    assert parse_lines(b"\xef\xbb\xbfOK: 605") == [OkReply("605")]
    assert parse_lines("\ufeffID: a To: 1\nID: b To: 2") == [IdReply("a", "1"), IdReply("b", "2")]
    assert parse_coverage("\ufeffOK: yes Charge: 1") == CoverageReply(True, "yes", 1.0)
    # Only a leading byte order mark is dropped.
    assert parse_lines("OK: 605\ufeff") == [OkReply("605\ufeff")]


# --- other lines ------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "value"), [("OK: 605", "605"), ("ok:  a b ", "a b")])
def test_ok_value(line: str, value: str) -> None:
    reply = parse_line(line)
    assert isinstance(reply, OkReply)
    assert reply.value == value


@pytest.mark.parametrize("line", ["FOO: bar", "OKAY", "Credit 5", "IDx: 1", "0K: 5"])
def test_unrecognised_line(line: str) -> None:
    with pytest.raises(ReplyParseError) as exc:
        parse_line(line)
    _raised("unrecognised reply line", line, exc)
    with pytest.raises(ReplyParseError) as exc:
        parse_lines(f"OK\n{line}\n")
    _raised("unrecognised reply line", line, exc)


@pytest.mark.parametrize("body", ["", b"", "\n \r\n\t", b"\xef\xbb\xbf"])
def test_empty_reply(body: str | bytes) -> None:
    with pytest.raises(ReplyParseError) as exc:
        parse_lines(body)
    _raised("empty reply", "", exc)


# --- auth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("OK:", "auth reply without a well-formed session id"),
        ("OK", "auth reply without a well-formed session id"),
        ("OK: s3cr3t more", "auth reply without a well-formed session id"),
        ("ID: s3cr3t", "expected OK: <session_id>, got IdReply"),
        ("Credit: 5", "expected OK: <session_id>, got CreditReply"),
        ("OK: s3cr3t\nOK: s3cr3t", "expected one auth line, got 2"),
        ("FOO: s3cr3t", "unrecognised reply line"),
        ("", "empty reply"),
    ],
)
def test_expect_session_errors_never_quote_the_reply(body: str, message: str) -> None:
    with pytest.raises(ReplyParseError) as exc:
        expect_session(body)
    _raised(message, "", exc)


def test_expect_session_value() -> None:
    assert expect_session("OK: s3cr3t\r\n") == "s3cr3t"
    assert expect_session(b"ok:s3cr3t") == "s3cr3t"
    with pytest.raises(AuthenticationError):
        expect_session("ERR: 001, Authentication failed")


# --- the 600-line fast path (asms._fast.id_to_columns) -------------------------------------


def _parse_bulk(body: str) -> list[IdReply] | None:
    """What parse_lines answers from the fast path, or None when it leaves the body."""
    columns = id_to_columns(body)
    if columns is None:
        return None
    return build_many(IdReply, len(columns[0]), columns)


CANONICAL = [
    ("ID: a To: 1", [IdReply("a", "1")]),
    ("ID: a To: 1\nID: b To: 2", [IdReply("a", "1"), IdReply("b", "2")]),
    ("  ID: a To: 1\r\nID: b To: 2\r\n", [IdReply("a", "1"), IdReply("b", "2")]),
    (
        "\n".join(f"ID: m{i} To: 2799900{i:03d}" for i in range(5)),
        [IdReply(f"m{i}", f"2799900{i:03d}") for i in range(5)],
    ),
]


@pytest.mark.parametrize(("body", "expected"), CANONICAL)
def test_canonical_send_reply_takes_the_fast_path(body: str, expected: list[IdReply]) -> None:
    assert _parse_bulk(body) == expected
    assert parse_lines(body) == expected
    assert parse_lines(body.encode()) == expected


@pytest.mark.parametrize(
    "body",
    [
        "OK",
        "id: a To: 1",
        "ID: a to: 1",
        "ID: a TO: 1",
        "ID:  a To: 1",
        "ID: x\rTo: 1",
        "ID: x\rTo:  1",
        "ID: a To: 1\n\nID: b To: 2",
        "ID: a To: 1\nID: b Status: 2",
        "ID: a To: 1 ID: b To: 2",
        "ID: a To: 1\rID: b To: 2",
        "ID: a:b To: 1",
        "ID: a To: 1:2",
    ],
)
def test_other_bodies_leave_the_fast_path(body: str) -> None:
    # The line-by-line parser then decides; the fast path must never guess.
    assert _parse_bulk(body) is None


@pytest.mark.parametrize(
    "body", ["ID: x To: x ID: x\nTo: 1", "ID: to: To: 1", "ID: To: To: 1", "ID: a To: 1 x y z"]
)
def test_near_canonical_bodies_are_parse_errors(body: str) -> None:
    assert _parse_bulk(body) is None
    with pytest.raises(ReplyParseError) as exc:
        parse_lines(body)
    assert exc.value.reason == "malformed ID line"
