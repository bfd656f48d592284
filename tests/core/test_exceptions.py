"""The exception tree: hierarchy, attributes, code mapping and secret hygiene."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime

import pytest

from asms import _exceptions as exc_module
from asms._codes import ErrorCategory, ErrorCode
from asms._exceptions import (
    CATEGORY_EXCEPTIONS,
    EXCERPT_LIMIT,
    ASMSError,
    AuthenticationError,
    BatchError,
    ClientClosedError,
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    CreditError,
    DestinationError,
    GatewayError,
    HTTPStatusError,
    InternalGatewayError,
    InvalidNumberError,
    JournalError,
    JournalFinishedError,
    JournalLockedError,
    JournalMismatchError,
    MessageLookupError,
    ParameterError,
    PoolTimeout,
    ProtocolError,
    ReadTimeout,
    ReplyParseError,
    RequestTimeout,
    SessionError,
    SOAPFault,
    ThrottledError,
    TLSError,
    TransportError,
    ValidationError,
    WriteTimeout,
    error_for,
)

PARENTS = [
    (ValidationError, (ASMSError, ValueError)),
    (InvalidNumberError, (ValidationError,)),
    (ClientClosedError, (ASMSError, RuntimeError)),
    (TransportError, (ASMSError,)),
    (ConnectError, (TransportError,)),
    (RequestTimeout, (TransportError, builtins.TimeoutError)),
    (ConnectTimeout, (RequestTimeout,)),
    (PoolTimeout, (RequestTimeout,)),
    (ReadTimeout, (RequestTimeout,)),
    (WriteTimeout, (RequestTimeout,)),
    (ConnectionLost, (TransportError,)),
    (TLSError, (TransportError,)),
    (HTTPStatusError, (TransportError,)),
    (ProtocolError, (ASMSError,)),
    (ReplyParseError, (ProtocolError,)),
    (SOAPFault, (ProtocolError,)),
    (GatewayError, (ASMSError,)),
    (AuthenticationError, (GatewayError,)),
    (SessionError, (GatewayError,)),
    (ParameterError, (GatewayError,)),
    (DestinationError, (GatewayError,)),
    (MessageLookupError, (GatewayError,)),
    (BatchError, (GatewayError,)),
    (CreditError, (GatewayError,)),
    (ThrottledError, (GatewayError,)),
    (InternalGatewayError, (GatewayError,)),
]


@pytest.mark.parametrize(("cls", "parents"), PARENTS)
def test_hierarchy(cls: type[Exception], parents: tuple[type[Exception], ...]) -> None:
    for parent in parents:
        assert issubclass(cls, parent)
    assert issubclass(cls, ASMSError)


def test_families_are_disjoint() -> None:
    families = (TransportError, ProtocolError, GatewayError, ValidationError, ClientClosedError)
    for a in families:
        for b in families:
            assert a is b or not issubclass(a, b)


def test_docstring_draws_every_exception() -> None:
    doc = exc_module.__doc__
    assert doc is not None
    for name in exc_module.__all__:
        obj = getattr(exc_module, name)
        if isinstance(obj, type) and issubclass(obj, ASMSError):
            assert name in doc, name


SENT = [
    (ConnectError, False),
    (ConnectTimeout, False),
    (PoolTimeout, False),
    (ReadTimeout, None),
    (WriteTimeout, None),
    (ConnectionLost, None),
    (TLSError, False),
    (TransportError, None),
]


@pytest.mark.parametrize(("cls", "sent"), SENT)
def test_transport_sent(cls: type[TransportError], sent: bool | None) -> None:
    error = cls("boom")
    assert error.sent is sent
    assert str(error) == "boom"
    assert error.retryable is (cls is not TLSError)


def test_transport_sent_override() -> None:
    assert TransportError("x", sent=False).sent is False
    assert ReadTimeout("x", sent=True).sent is True
    # The override is per instance, the class default stays.
    assert ReadTimeout("y").sent is None


def test_timeouts_are_builtin_timeouts() -> None:
    with pytest.raises(TimeoutError):
        raise ReadTimeout("read")


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (408, True), (429, True), (404, False)]
)
def test_http_status_error(status: int, retryable: bool) -> None:
    error = HTTPStatusError(status, "Reason")
    assert error.status_code == status
    assert error.retryable is retryable
    assert error.sent is None
    assert str(error) == f"HTTP {status} Reason from the gateway"


def test_http_status_error_without_reason() -> None:
    assert str(HTTPStatusError(502)) == "HTTP 502 from the gateway"


def test_validation_error_message() -> None:
    error = ValidationError("concat", "must be 1-3", 7)
    assert str(error) == "concat: must be 1-3 (got 7)"
    assert (error.field, error.rule, error.value) == ("concat", "must be 1-3", 7)
    assert isinstance(error, ValueError)


def test_validation_error_without_value() -> None:
    error = ValidationError("text", "must not be empty")
    assert str(error) == "text: must not be empty"
    assert error.value is None


def test_validation_error_caps_long_values() -> None:
    error = ValidationError("text", "too long", "x" * 1000)
    assert len(str(error)) < 100
    assert str(error).endswith("…)")


@pytest.mark.parametrize("field", ["password", "session_id", "api_id", "user", "token", "Password"])
def test_validation_error_hides_credentials(field: str) -> None:
    secret = "hunter2-0123456789abcdef"
    error = ValidationError(field, "is malformed", secret)
    assert secret not in str(error)
    assert secret not in repr(error)
    assert all(secret not in str(arg) for arg in error.args)
    assert error.value is None
    assert str(error) == f"{field}: is malformed"


def test_client_closed_error() -> None:
    with pytest.raises(RuntimeError):
        raise ClientClosedError("client is closed")


def test_reply_parse_error_excerpt() -> None:
    error = ReplyParseError("unrecognised reply line", "HELLO")
    assert error.reason == "unrecognised reply line"
    assert error.excerpt == "HELLO"
    assert str(error) == "unrecognised reply line: 'HELLO'"


def test_reply_parse_error_caps_excerpt() -> None:
    error = ReplyParseError("bad", "y" * 10_000)
    assert len(error.excerpt) == EXCERPT_LIMIT
    assert error.excerpt.endswith("…")
    assert len(str(error)) < EXCERPT_LIMIT + 20


def test_reply_parse_error_bytes_and_empty() -> None:
    assert ReplyParseError("bad", b"\xffOK").excerpt == "\ufffdOK"
    error = ReplyParseError("empty reply")
    assert error.excerpt == ""
    assert str(error) == "empty reply"


def test_soap_fault() -> None:
    fault = SOAPFault("SOAP-ENV:Client", "Unknown operation", "<detail/>")
    assert (fault.faultcode, fault.faultstring, fault.detail) == (
        "SOAP-ENV:Client",
        "Unknown operation",
        "<detail/>",
    )
    assert str(fault) == "SOAP fault SOAP-ENV:Client: Unknown operation"
    assert SOAPFault("c", "s").detail is None


def test_gateway_error_str_and_attributes() -> None:
    error = GatewayError(1, "Authentication failed")
    assert str(error) == "ERR 001: Authentication failed"
    assert error.code is ErrorCode.AUTHENTICATION_FAILED
    assert error.description == "Authentication failed"
    assert error.recipient is None
    assert error.category is ErrorCategory.AUTHENTICATION
    assert not error.retryable


def test_gateway_error_with_recipient() -> None:
    error = GatewayError(105, "Invalid destination address", recipient="2799900001")
    assert str(error) == "ERR 105: Invalid destination address (to 2799900001)"
    assert error.recipient == "2799900001"
    assert repr(error) == "GatewayError('ERR 105: Invalid destination address (to 2799900001)')"


def test_gateway_error_unknown_and_zero_codes() -> None:
    unknown = GatewayError(999, "Something new")
    assert type(unknown.code) is int
    assert unknown.category is None
    assert not unknown.retryable
    assert str(unknown) == "ERR 999: Something new"
    coverage = GatewayError(0, "This prefix is not currently supported.")
    assert str(coverage) == "ERR: This prefix is not currently supported."


def test_gateway_error_retryable() -> None:
    assert GatewayError(901, "Internal error").retryable
    assert GatewayError(3, "Session ID expired").retryable


@pytest.mark.parametrize("code", list(ErrorCode))
def test_error_for_maps_every_code_to_its_category_class(code: ErrorCode) -> None:
    error = error_for(code, code.description, recipient="27821234567")
    expected = CATEGORY_EXCEPTIONS[code.category]
    assert type(error) is expected
    assert error.code is code
    assert error.description == code.description
    assert error.recipient == "27821234567"
    assert error.category is code.category
    # plain ints of known codes map the same way
    assert type(error_for(int(code), "x")) is expected


def test_category_exceptions_cover_every_category() -> None:
    assert set(CATEGORY_EXCEPTIONS) == set(ErrorCategory)
    assert len(set(CATEGORY_EXCEPTIONS.values())) == len(ErrorCategory)


@pytest.mark.parametrize("code", [0, 6, 999])
def test_error_for_unknown_code(code: int) -> None:
    error = error_for(code, "whatever")
    assert type(error) is GatewayError
    assert error.code == code


def test_throttled_until() -> None:
    error = error_for(130, "Maximum MT limit exceeded until 1735689600")
    assert isinstance(error, ThrottledError)
    assert error.until == datetime(2025, 1, 1, tzinfo=UTC)
    assert error.retryable


@pytest.mark.parametrize(
    "description",
    ["Maximum MT limit exceeded until", "", "until tomorrow", "until 9" + "9" * 30, "until ٣"],
)
def test_throttled_until_missing_or_bad(description: str) -> None:
    error = ThrottledError(130, description)
    assert error.until is None


def test_throttled_pause_is_measured_on_the_gateway_clock() -> None:
    until = 1735689600
    error = ThrottledError(130, f"Maximum MT limit exceeded until {until}")
    assert error.pause(until - 10.0) == 10.0  # the gateway's clock unknown: the client's
    error.gateway_time = until - 20.0
    assert error.pause(until - 19.5) == 19.5  # within the gateway's second: the finer reading
    assert error.pause(until - 100.0) == 20.0  # a client clock that is off is not used
    assert error.pause(until + 5.0) == 20.0
    error.gateway_time = until + 3.0
    assert error.pause(until + 3.0) == exc_module.MIN_THROTTLE_PAUSE  # its time came already
    assert ThrottledError(130, "no time named").pause(0.0) is None


def test_throttled_not_waited_says_why_once() -> None:
    error = ThrottledError(130, "Maximum MT limit exceeded until 1735689600")
    error.not_waited(3600.4, 60.0)
    expected = (
        "not waited out: 3600 s by the gateway's clock is beyond throttle_max_wait=60 s; "
        "Maximum MT limit exceeded until 1735689600"
    )
    assert error.description == expected
    assert str(error) == f"ERR 130: {expected}"
    error.not_waited(10.0, 1.0)
    assert error.description == expected and error.args == (f"ERR 130: {expected}",)


def test_journal_errors_name_the_journal_and_the_holder() -> None:
    plain = JournalError("/tmp/j.db", "the journal /tmp/j.db is corrupt")
    assert plain.path == "/tmp/j.db" and str(plain) == "the journal /tmp/j.db is corrupt"
    locked = JournalLockedError("/tmp/j.db", pid=42, host="box", since="2025-01-01T00:00:00Z")
    assert str(locked) == (
        "the journal /tmp/j.db is in use by process 42 on box since 2025-01-01T00:00:00Z"
    )
    assert (locked.pid, locked.host, locked.since) == (42, "box", "2025-01-01T00:00:00Z")
    quiet = JournalLockedError("/tmp/j.db", pid=None, host=None, since=None)
    assert str(quiet).endswith("in use by another process (it has not said which yet)")
    unnamed = JournalLockedError("/tmp/j.db", pid=7, host=None, since=None)
    assert str(unnamed).endswith("process 7 on an unknown host since ?")
    campaign = object()
    finished = JournalFinishedError("/tmp/j.db", "finished", campaign)  # type: ignore[arg-type]
    assert finished.campaign is campaign and finished.path == "/tmp/j.db"
    mismatch = JournalMismatchError("another input")
    assert mismatch.path == "" and str(mismatch) == "another input"
    assert isinstance(mismatch, ValueError) and isinstance(mismatch, JournalError)
    assert JournalMismatchError("x", "/tmp/j.db").path == "/tmp/j.db"
