"""The client's parts on their own: config, sessions, redaction, wires, reply matching."""

from __future__ import annotations

import logging
import ssl

import anyio
import anyio.lowlevel
import httpx
import pytest

from asms._client import AsyncClient
from asms._codes import ErrorCode
from asms._config import Credentials, RetryPolicy
from asms._exceptions import (
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    HTTPStatusError,
    InternalGatewayError,
    PoolTimeout,
    ReadTimeout,
    ReplyParseError,
    TLSError,
    ValidationError,
    WriteTimeout,
)
from asms._logging import RedactingFilter, redact, register_secret
from asms._models import OUTCOME_UNKNOWN, SendOptions
from asms._optable import OPERATIONS
from asms._replies import ErrorReply, IdReply
from asms._sending import chunk_climsgid, match_replies, op_options, prepare_text
from asms._session import Session
from asms._wire import HTTPWire, SOAPWire, encode_form, map_transport_error

pytestmark = pytest.mark.anyio

URL = httpx.URL("http://gateway")
TIMEOUT = httpx.Timeout(5.0)


# -- configuration -----------------------------------------------------------------------------


def test_retry_policy_validates() -> None:
    assert RetryPolicy().reconcile_window == pytest.approx(7.75)
    assert RetryPolicy.testing().backoff_max == 0
    for bad in (
        {"attempts": 0},
        {"attempts": 1.5},
        {"attempts": True},
        {"timeout": -1},
        {"backoff_max": "x"},
        {"reconcile_schedule": ()},
        {"reconcile_schedule": (1.0, -1.0)},
        {"reauth_limit": "2"},
    ):
        with pytest.raises(ValidationError):
            RetryPolicy(**bad)  # type: ignore[arg-type]


def test_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASMS_API_ID", "1234")
    monkeypatch.setenv("ASMS_USER", "demo")
    monkeypatch.setenv("ASMS_PASSWORD", "pw-from-env")
    creds = Credentials.from_env()
    assert creds.params() == {"api_id": "1234", "user": "demo", "password": "pw-from-env"}
    monkeypatch.delenv("ASMS_PASSWORD")
    with pytest.raises(ValidationError, match="ASMS_PASSWORD"):
        Credentials.from_env()
    with pytest.raises(ValidationError):
        Credentials("1234", "", "pw")


def test_redaction_filter_rewrites_records() -> None:
    register_secret("topsecretvalue")
    register_secret("abc")  # too short to redact safely
    assert redact("x topsecretvalue y abc") == "x *** y abc"
    record = logging.LogRecord(
        "asms", logging.INFO, __file__, 1, "got %s", ("topsecretvalue",), None
    )
    try:
        raise ValueError("boom topsecretvalue")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "got ***"
    assert record.exc_text is not None and "topsecretvalue" not in record.exc_text


# -- sessions ----------------------------------------------------------------------------------


async def test_session_waiters_all_resume_when_the_auth_ends() -> None:
    """The tasks that wait for an ``auth`` under way get its session together, not one per
    turn of the event loop (as taking a lock in turn would give it to them)."""
    gate = anyio.Event()

    async def authenticate() -> str:
        await gate.wait()
        return "0" * 32

    session = Session(authenticate)
    results: list[tuple[str, int]] = []

    async def one() -> None:
        results.append(await session.current())

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        gate.set()
        for _ in range(4):  # the auth task returns, then every waiter resumes
            await anyio.lowlevel.checkpoint()
        assert len(results) == 20
    assert results == [("0" * 32, 1)] * 20 and session.auth_calls == 1


async def test_session_single_flight_shares_success_and_failure() -> None:
    calls = 0
    fail = False

    async def authenticate() -> str:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.01)
        if fail:
            raise ConnectError("down")
        return f"{calls:032x}"

    session = Session(authenticate)
    results: list[object] = []

    async def one() -> None:
        try:
            results.append(await session.current())
        except ConnectError as exc:
            results.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(one)
    assert calls == 1 and len(set(results)) == 1

    fail = True
    generation = session.generation
    results.clear()

    async def renew() -> None:
        try:
            results.append(await session.renew(generation))
        except ConnectError as exc:
            results.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(renew)
    assert calls == 2  # one failed auth for the whole burst
    assert all(isinstance(r, ConnectError) for r in results)
    assert len({id(r) for r in results}) == 20  # each waiter got its own copy
    assert not session.active and "none" in repr(session)


# -- wires ---------------------------------------------------------------------------------------


def test_form_encoding_is_latin1_with_commas_left_alone() -> None:
    body = encode_form([("to", "1,2,3"), ("text", "Ça coûte 5€ & plus"), ("from", "a b")])
    assert body == b"to=1,2,3&text=%C3%87a+co%C3%BBte+5%E2%82%AC+%26+plus&from=a+b"
    assert encode_form([("text", "Ça coûte")]) == b"text=%C7a+co%FBte"


def test_http_wire_refuses_unknown_parameters_and_checks_status() -> None:
    wire = HTTPWire(URL, timeout=TIMEOUT)
    with pytest.raises(ValidationError):
        wire.build(OPERATIONS["sendmsg"], {"colour": "red"}, {})
    with pytest.raises(HTTPStatusError) as info:
        wire.unwrap(502, b"Bad gateway")
    assert info.value.retryable
    request = wire.build(OPERATIONS["getbalance"], {}, {"session_id": "a" * 32})
    assert request.method == "POST" and request.content == b"session_id=" + b"a" * 32


def test_soap_wire_unwrap_errors() -> None:
    wire = SOAPWire(URL, style="dl", timeout=TIMEOUT)
    with pytest.raises(HTTPStatusError):
        wire.unwrap(404, b"")
    with pytest.raises(HTTPStatusError):
        wire.unwrap(500, b"<html>proxy error</html>")
    with pytest.raises(ReplyParseError):
        wire.unwrap(200, b"not xml")
    with pytest.raises(ValidationError):
        wire.build(OPERATIONS["sendmsg"], {"scheduled_time": "1"}, {})
    rpc = SOAPWire(URL, style="rpc", timeout=TIMEOUT)
    with pytest.raises(ValidationError):
        rpc.build(OPERATIONS["senditem"], {"batch_id": "a" * 32, "field5": "x"}, {})


@pytest.mark.parametrize(
    ("error", "expected", "sent"),
    [
        (httpx.ConnectError("refused"), ConnectError, False),
        (httpx.ConnectTimeout("slow"), ConnectTimeout, False),
        (httpx.PoolTimeout("busy"), PoolTimeout, False),
        (httpx.ReadTimeout("slow"), ReadTimeout, None),
        (httpx.WriteTimeout("slow"), WriteTimeout, None),
        (httpx.ReadError("reset"), ConnectionLost, None),
        (httpx.RemoteProtocolError("cut"), ConnectionLost, None),
        (OSError("gone"), ConnectionLost, None),
    ],
)
def test_transport_errors_map_to_asms_errors(
    error: Exception, expected: type[Exception], sent: bool | None
) -> None:
    mapped = map_transport_error(error)
    assert type(mapped) is expected and mapped.sent is sent


def test_tls_failures_map_to_tls_error() -> None:
    error = httpx.ConnectError("handshake failed")
    error.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    mapped = map_transport_error(error)
    assert isinstance(mapped, TLSError) and not mapped.retryable
    unsupported = map_transport_error(httpx.UnsupportedProtocol("ftp"))
    assert isinstance(unsupported, ConnectError) and not unsupported.retryable


# -- text, ids, replies ----------------------------------------------------------------------


def test_prepare_text_parts_and_forced_unicode() -> None:
    wire = HTTPWire(URL, timeout=TIMEOUT)
    forced = prepare_text(wire, "😀" * 40, SendOptions(unicode=True), max_parts=3)
    assert forced.params["unicode"] == "1" and forced.parts == 2
    surrogates = prepare_text(wire, "x" * 66 + "😀" * 10, SendOptions(), max_parts=3)
    assert surrogates.parts == 2  # 86 units; the pair at the 67-unit cut moves on whole
    long_forced = prepare_text(wire, "a" * 140, SendOptions(unicode=True), max_parts=3)
    assert long_forced.parts == 3 and long_forced.params["concat"] == "3"
    with pytest.raises(ValidationError):
        prepare_text(wire, "Hi", SendOptions(data="00"), max_parts=3)
    with pytest.raises(ValidationError):
        prepare_text(wire, "", SendOptions(udh="00" * 140, data="00"), max_parts=3)


def test_chunk_climsgid_stays_within_32_characters() -> None:
    assert chunk_climsgid("abc", 0, 1) == "abc"
    assert chunk_climsgid("abc", 3, 5) == "abcc3"
    long = "x" * 32
    assert chunk_climsgid(long, 12, 20) == "x" * 29 + "c12"


def test_match_replies_fills_loose_and_missing_lines() -> None:
    recipients = ["1", "2", "3", "2"]
    replies = [
        IdReply("b", "2"),
        ErrorReply(ErrorCode.INVALID_DESTINATION_ADDRESS, "bad"),
        IdReply("d", "2"),
    ]
    results = match_replies(recipients, replies, "C1", 1)
    assert [r.apimsgid for r in results] == [None, "b", None, "d"]
    # One line without a number for two recipients without a line: it answers neither.
    assert [r.error_code for r in results] == [OUTCOME_UNKNOWN, None, OUTCOME_UNKNOWN, None]
    loose = match_replies(recipients, [*replies, IdReply("c")], "C1", 1)
    assert [r.apimsgid for r in loose] == [None, "b", "c", "d"]
    assert loose[0].error_code == ErrorCode.INVALID_DESTINATION_ADDRESS


def test_op_options_validates_against_the_operation_table() -> None:
    op = OPERATIONS["si_push"]
    assert op_options(op, {"from_": "Shop", "deliv_ack": True, "max_credits": 1.5}) == {
        "from": "Shop",
        "deliv_ack": "1",
        "max_credits": "1.5",
    }
    with pytest.raises(ValidationError):
        op_options(op, {"si_action": "loud"})
    with pytest.raises(ValidationError):
        op_options(op, {"si_text": object()})


# -- client odds and ends ------------------------------------------------------------------------


async def test_profile_and_method_limits() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text="Credit: 1"))
    kwargs = {"base_url": "http://gateway", "transport": transport}
    async with AsyncClient(1234, "u", "pwpw", **kwargs) as c:  # type: ignore[arg-type]
        assert c.max_recipients == 600
        assert c.with_options(method="GET").max_recipients == 300
        assert c.with_options(wire="soap").max_recipients == 300
        assert c.with_options(profile="v2.3.8").max_recipients == 300
        assert c.with_options(profile="v2.3.8", method="GET").max_recipients == 100
        assert c.with_options(timeout=1.0, max_parts=5) is not c
        with pytest.raises(ValidationError):
            c.with_options(colour="red")


async def test_internal_error_on_a_read_is_retried_then_raised() -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, text="ERR: 901, Internal error")

    async with AsyncClient(
        1234,
        "u",
        "pwpw",
        session=False,
        base_url="http://gateway",
        transport=httpx.MockTransport(handle),
        retry=RetryPolicy.testing(attempts=3),
    ) as c:
        with pytest.raises(InternalGatewayError):
            await c.balance()
    assert calls == 3


def test_all_accepted_multi_reply_fast_path_matches_the_full_parser() -> None:
    from asms._fast import IdLines, StridedLines
    from asms._sending import match_replies, parse_send

    numbers = [str(27820000000 + i) for i in range(5)]
    body = "\n".join(f"ID: {i:032x} To: {n}" for i, n in enumerate(numbers))
    fast = parse_send(body.encode())
    assert isinstance(fast, StridedLines)
    slow = parse_send(body + "\nERR: 105, Invalid destination address To: 1")
    assert not isinstance(slow, IdLines | StridedLines)
    got = match_replies(numbers, fast, "cid", 2, refs=list(range(5)))
    want = match_replies(numbers, [r for r in slow if r.to != "1"], "cid", 2, refs=list(range(5)))
    assert got == want
    assert [r.ref for r in got] == list(range(5))
    # out-of-order lines still reach the right recipient
    shuffled = match_replies(list(reversed(numbers)), fast, "cid", 1)
    assert [r.to for r in shuffled] == list(reversed(numbers))
    assert all(r.apimsgid == f"{numbers.index(r.to):032x}" for r in shuffled)
