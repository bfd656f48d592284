"""Retries without duplicates: seeded fault injection with exact counts, sessions, give-ups.

Each fault test sends 1,000 single-recipient messages, 50 at a time, through an emulator that
injects one kind of fault at a seeded rate, then checks against the emulator's own records
that every message was committed exactly once and that the client's counters account for
every injected fault. A control sender that retries blindly shows duplicates on the same
faults, which proves the checks can fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest

from asms._client import AsyncClient
from asms._codes import ErrorCode
from asms._config import RetryPolicy
from asms._exceptions import HTTPStatusError, SOAPFault, TransportError
from asms._models import Message, SendResult
from asms._retry import NOT_SENT, OUTCOME_UNKNOWN
from asms.testing import EmulatorTransport, FakeClock, Faults, GatewayEmulator, running_emulator

pytestmark = pytest.mark.anyio

MESSAGES = 1_000
CONCURRENCY = 50
SESSION = "0123456789abcdef0123456789abcdef"
APIMSGID = "fedcba9876543210fedcba9876543210"


def number(i: int) -> str:
    return f"2782{i:07d}"


@contextmanager
def gateway(emu: GatewayEmulator, where: str) -> Iterator[dict[str, Any]]:
    """Client keyword arguments reaching ``emu`` in-process or over a uvicorn socket."""
    if where == "socket":
        with running_emulator(emu) as base_url:
            yield {"base_url": base_url}
    else:
        yield {"base_url": "http://gateway", "transport": EmulatorTransport(emu)}


async def send_all(
    c: AsyncClient,
    count: int = MESSAGES,
    between: Callable[[int], None] | None = None,
) -> dict[int, SendResult]:
    results: dict[int, SendResult] = {}
    limiter = anyio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with limiter:
            [results[i]] = await c.send(f"Message {i}", to=number(i))
            if between is not None:
                between(len(results))

    async with anyio.create_task_group() as group:
        for i in range(count):
            group.start_soon(one, i)
    return results


def assert_each_committed_once(emu: GatewayEmulator, results: dict[int, SendResult]) -> None:
    recorder = emu.recorder
    assert recorder.duplicates() == {}
    assert emu.statistics().commits == len(results)
    for i, result in results.items():
        assert result.ok, result
        assert result.climsgid is not None
        assert recorder.committed(result.climsgid) == 1
        [message] = recorder.messages_for(result.climsgid)
        assert message.to == number(i)
        assert result.apimsgid == message.apimsgid


@pytest.mark.parametrize(
    ("where", "faults"),
    [
        ("process", {"drop_after_commit": 0.10}),
        ("socket", {"drop_after_commit": 0.10}),
        ("process", {"drop_before_commit": 0.05}),
        ("socket", {"drop_before_commit": 0.05}),
        ("process", {"err901_before_commit": 0.05, "err901_after_commit": 0.05}),
        ("socket", {"err901_before_commit": 0.05, "err901_after_commit": 0.05}),
        ("process", {"truncated_reply": 0.05, "connect_error": 0.05}),
    ],
    ids=[
        "lost-replies",
        "lost-replies-socket",
        "dropped",
        "dropped-socket",
        "err901",
        "err901-socket",
        "mixed",
    ],
)
async def test_faults_cause_no_duplicates_and_no_losses(
    where: str, faults: dict[str, float]
) -> None:
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(seed=11, **faults))
    with gateway(emu, where) as kwargs:
        async with AsyncClient(1234, "demo", "demo", retry=RetryPolicy.testing(), **kwargs) as c:
            results = await send_all(c)
            stats = c.statistics()
    assert_each_committed_once(emu, results)
    injected = emu.statistics().faults
    assert sum(injected.values()) > 0
    # Every fault is accounted for exactly once by the client.
    after = injected.get("drop_after_commit", 0) + injected.get("err901_after_commit", 0)
    after += injected.get("truncated_reply", 0)
    before = injected.get("drop_before_commit", 0) + injected.get("err901_before_commit", 0)
    refused = injected.get("connect_error", 0)
    if where == "socket":
        # Over a socket an ASGI app cannot refuse a connection: the emulator sends the head
        # and closes, which the client must treat as a request of unknown outcome.
        before, refused = before + refused, 0
    assert stats.reconciled_found == after
    assert stats.reconciled_missing == before
    assert stats.resent == before + refused
    assert stats.attempts == MESSAGES + before + refused
    assert stats.given_up == 0
    assert stats.auth_calls == 1


async def test_control_blind_retry_duplicates_messages() -> None:
    """The same faults with a sender that simply retries: the checks above would fail."""
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(seed=11, drop_after_commit=0.10))
    results: dict[int, bool] = {}
    limiter = anyio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu), base_url="http://gateway"
    ) as http:

        async def one(i: int) -> None:
            form = {"api_id": "1234", "user": "demo", "password": "demo"}
            form |= {"to": number(i), "text": f"Message {i}", "climsgid": f"C{i}"}
            async with limiter:
                for _ in range(5):
                    try:
                        reply = await http.post("/http/sendmsg", data=form)
                    except httpx.TransportError:
                        continue  # blind retry: the mistake this test demonstrates
                    results[i] = reply.text.startswith("ID:")
                    return

        async with anyio.create_task_group() as group:
            for i in range(MESSAGES):
                group.start_soon(one, i)
    assert all(results.values()) and len(results) == MESSAGES
    lost_replies = emu.statistics().faults["drop_after_commit"]
    extra = sum(n - 1 for n in emu.recorder.duplicates().values())
    assert extra == lost_replies > 0  # every lost reply became a duplicate SMS
    assert emu.statistics().commits == MESSAGES + lost_replies


# -- sessions ----------------------------------------------------------------------------------


async def test_session_expiry_under_concurrent_sends() -> None:
    """5 % of the sends meet an expired session, 50 sends in flight at a time."""
    faults = Faults(seed=3, latency=0.001, session_expiry=0.05)
    emu = GatewayEmulator(clock=FakeClock(), faults=faults)
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        retry=RetryPolicy.testing(),
    ) as c:
        await c.ping()  # the first session, before anything expires (ping draws no expiry)
        results = await send_all(c)
        stats = c.statistics()
    expiries = emu.statistics().faults["session_expiry"]
    assert 30 <= expiries <= 80  # 5 % of the requests (1,000 messages and their resends)
    assert_each_committed_once(emu, results)
    auth_calls = emu.statistics().requests_by_command["auth"]
    # Exactly one auth per expired session, however many requests in flight it refused.
    assert auth_calls == stats.auth_calls == 1 + expiries
    refused = emu.statistics().errors[3]
    assert refused > expiries  # expiries hit several requests in flight at once


async def test_a_burst_of_expired_sessions_causes_one_auth() -> None:
    clock = FakeClock()
    # A little latency keeps all 50 requests in flight together, so all of them see 003.
    emu = GatewayEmulator(clock=clock, faults=Faults(latency=0.01))
    async with AsyncClient(
        1234, "demo", "demo", base_url="http://gateway", transport=EmulatorTransport(emu)
    ) as c:
        await c.send("first", to=number(0))
        clock.advance(901)
        results = await send_all(c, count=50)
    assert all(r.ok for r in results.values())
    assert emu.statistics().errors[3] == 50
    assert emu.statistics().requests_by_command["auth"] == 2
    assert emu.recorder.duplicates() == {}


async def test_fifty_concurrent_first_sends_authenticate_once() -> None:
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(latency=0.005))
    async with AsyncClient(
        1234, "demo", "demo", base_url="http://gateway", transport=EmulatorTransport(emu)
    ) as c:
        results = await send_all(c, count=50)
    assert len(results) == 50
    assert emu.statistics().requests_by_command["auth"] == 1


def scripted(replies: dict[str, list[Any]], seen: list[str]) -> httpx.MockTransport:
    """A transport answering each path from its own list (the last answer repeats)."""

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        seen.append(path.rsplit("/", 1)[-1])
        queue = replies[path]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return httpx.Response(answer, text="nope")
        return httpx.Response(200, text=answer)

    return httpx.MockTransport(handle)


def mock_client(replies: dict[str, list[Any]], seen: list[str], **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", RetryPolicy.testing())
    return AsyncClient(
        1234, "demo", "demo", base_url="http://gateway", transport=scripted(replies, seen), **kwargs
    )


async def test_001_for_a_session_request_renews_the_session_once() -> None:
    seen: list[str] = []
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/sendmsg": ["ERR: 001, Authentication failed", f"ID: {APIMSGID}"],
    }
    async with mock_client(replies, seen) as c:
        [result] = await c.send("Hi", to=number(1))
    assert result.apimsgid == APIMSGID
    assert seen == ["auth", "sendmsg", "auth", "sendmsg"]

    seen.clear()
    replies["/http/sendmsg"] = ["ERR: 001, Authentication failed"]
    async with mock_client(replies, seen) as c:
        with pytest.raises(Exception) as info:
            await c.send("Hi", to=number(1))
    assert type(info.value).__name__ == "AuthenticationError"
    assert seen == ["auth", "sendmsg", "auth", "sendmsg"]  # 001 twice: it is real


async def test_session_refusal_repeated_per_recipient_renews_the_session() -> None:
    seen: list[str] = []
    refused = (
        "ERR: 003, Session ID expired To: 27820000001\nERR: 003, Session ID expired To: 27820000002"
    )
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/sendmsg": [
            refused,
            f"ID: {APIMSGID} To: 27820000001\nID: {'a' * 32} To: 27820000002",
        ],
    }
    async with mock_client(replies, seen) as c:
        results = await c.send("Hi", to=[number(1), number(2)])
    assert [r.ok for r in results] == [True, True]
    assert seen.count("auth") == 2


async def test_err130_waits_until_the_time_named_then_resends() -> None:
    seen: list[str] = []
    now = 1_800_000_000.0
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/sendmsg": [
            f"ERR: 130, Maximum MT limit exceeded until {int(now) + 1}",
            f"ID: {APIMSGID}",
        ],
    }
    policy = RetryPolicy(reconcile_schedule=(0.0,), throttle_max_wait=5.0, backoff_initial=0.0)
    async with mock_client(replies, seen, retry=policy, clock=lambda: now + 0.95) as c:
        [result] = await c.send("Hi", to=number(1))
    assert result.apimsgid == APIMSGID
    assert seen == ["auth", "sendmsg", "sendmsg"]  # refused: resent without a lookup

    seen.clear()
    replies["/http/sendmsg"] = [f"ERR: 130, Maximum MT limit exceeded until {int(now) + 3600}"]
    async with mock_client(replies, seen, retry=policy, clock=lambda: now) as c:
        [result] = await c.send("Hi", to=number(1))
    assert result.error_code == ErrorCode.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL
    assert seen == ["auth", "sendmsg"]  # an hour is beyond throttle_max_wait: final


async def test_err130_comes_back_at_once_when_the_caller_waits_itself() -> None:
    seen: list[str] = []
    now = 1_800_000_000.0
    until = int(now) + 2
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/sendmsg": [f"ERR: 130, Maximum MT limit exceeded until {until}", f"ID: {APIMSGID}"],
    }
    policy = RetryPolicy(reconcile_schedule=(0.0,), throttle_max_wait=300.0, backoff_initial=0.0)
    messages = [Message(number(1), "Hi", ref="a"), Message(number(2), "Hi", ref="b")]
    async with mock_client(replies, seen, retry=policy, clock=lambda: now) as c:
        results = await c.send_request(messages, wait_throttled=False)
    assert [r.error_code for r in results] == [ErrorCode.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL] * 2
    assert [r.ref for r in results] == ["a", "b"]
    assert all(r.error_description.endswith(str(until)) for r in results)  # type: ignore[union-attr]
    assert seen == ["auth", "sendmsg"]  # not waited out, not resent


async def test_5xx_is_reconciled_and_4xx_is_final() -> None:
    seen: list[str] = []
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/sendmsg": [503, f"ID: {APIMSGID}"],
        "/http/querymsg": ["ERR: 104, Unknown client message ID"],
    }
    async with mock_client(replies, seen) as c:
        [result] = await c.send("Hi", to=number(1))
        stats = c.statistics()
    assert result.apimsgid == APIMSGID
    # After the resend is accepted, the attempt concluded "missing" is looked up once more
    # on the schedule (a duplicate check); still unknown, so no duplicate.
    assert seen == ["auth", "sendmsg", "querymsg", "querymsg", "sendmsg", "querymsg", "querymsg"]
    assert (stats.reconciled_missing, stats.resent) == (1, 1)
    assert stats.duplicates_detected == 0 and not result.duplicate

    seen.clear()
    replies["/http/sendmsg"] = [403]
    async with mock_client(replies, seen) as c:
        with pytest.raises(HTTPStatusError) as info:
            await c.send("Hi", to=number(1))
    assert info.value.status_code == 403
    assert seen == ["auth", "sendmsg"]


async def test_soap_fault_is_final() -> None:
    fault = (
        '<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV='
        '"http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault>'
        "<faultcode>SOAP-ENV:Client</faultcode><faultstring>Unknown operation</faultstring>"
        "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, text=fault)

    async with AsyncClient(
        1234,
        "demo",
        "demo",
        wire="soap",
        session=False,
        base_url="http://gateway",
        transport=httpx.MockTransport(handle),
    ) as c:
        with pytest.raises(SOAPFault) as info:
            await c.balance()
    assert info.value.faultcode == "Client" and calls == 1


async def test_outcome_unknown_after_the_budget_is_spent() -> None:
    seen: list[str] = []
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/sendmsg": [httpx.ReadTimeout("slow")],
        "/http/querymsg": [httpx.ReadTimeout("slow")],
    }
    async with mock_client(replies, seen, retry=RetryPolicy.testing(attempts=3)) as c:
        results = await c.send("Hi", to=[number(1), number(2)])
        stats = c.statistics()
    assert [r.error_code for r in results] == [OUTCOME_UNKNOWN] * 2
    assert "outcome unknown" in (results[0].error_description or "")
    assert seen.count("sendmsg") == 1  # never resent without a "missing" answer
    assert stats.given_up == 1 and stats.resent == 0


async def test_unknown_outcome_found_later_leaves_other_recipients_unknown() -> None:
    seen: list[str] = []
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/sendmsg": [httpx.ReadError("reset")],
        "/http/querymsg": [f"ID: {APIMSGID} Status: 002"],
    }
    async with mock_client(replies, seen) as c:
        results = await c.send("Hi", to=[number(1), number(2)])
    # The lookup names a message, not its recipient: either may have been refused.
    assert [(r.apimsgid, r.error_code) for r in results] == [
        (None, OUTCOME_UNKNOWN),
        (None, OUTCOME_UNKNOWN),
    ]
    assert seen.count("sendmsg") == 1


async def test_write_commands_are_not_resent_when_in_doubt() -> None:
    seen: list[str] = []
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/token_pay": [httpx.ReadTimeout("slow")],
    }
    async with mock_client(replies, seen) as c:
        with pytest.raises(Exception) as info:
            await c.token_pay("1234567890123456")
    assert type(info.value).__name__ == "ReadTimeout"
    assert seen.count("token_pay") == 1


async def test_reads_are_retried_on_any_transient_failure() -> None:
    seen: list[str] = []
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/getbalance": [httpx.ReadTimeout("slow"), "ERR: 901, Internal error", "Credit: 12.5"],
    }
    async with mock_client(replies, seen) as c:
        balance = await c.balance()
    assert balance.credits == 12.5
    assert seen.count("getbalance") == 3


async def test_connect_errors_are_resent_then_reported_not_sent() -> None:
    with anyio.CancelScope():
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)  # type: ignore[attr-defined]
        await listener.aclose()  # nothing listens there any more
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        base_url=f"http://127.0.0.1:{port}",
        retry=RetryPolicy.testing(attempts=3),
    ) as c:
        results = await c.send("Hi", to=[number(1), number(2)])
        stats = c.statistics()
    assert [r.error_code for r in results] == [NOT_SENT] * 2
    assert "not sent" in (results[0].error_description or "")
    assert stats.attempts == 3 and stats.given_up == 1
    # The gateway could not be reached: said as such, beside the results (a campaign worker
    # does not count such a try against the unit).
    assert isinstance(results.unreachable, TransportError)
    assert results.unreachable.sent is False and results.throttled is None


async def test_a_gateway_error_spent_is_not_called_unreachable() -> None:
    replies = {
        "/http/auth": [f"OK: {SESSION}"],
        "/http/sendmsg": ["ERR: 901, Internal error"],
        "/http/querymsg": ["ERR: 104, Unknown client message ID"],
    }
    async with mock_client(replies, [], retry=RetryPolicy.testing(attempts=3)) as c:
        results = await c.send("Hi", to=number(1))
    # Spent on 901s each looked up and missing: never taken, but the gateway answered.
    assert [r.error_code for r in results] == [NOT_SENT]
    assert results.unreachable is None

    # Connections dropped after the request went out, each looked up and found missing: not
    # sent, but the gateway was reached (it answered the lookups).
    replies["/http/sendmsg"] = [httpx.RemoteProtocolError("server disconnected")]
    async with mock_client(replies, [], retry=RetryPolicy.testing(attempts=2)) as c:
        results = await c.send("Hi", to=number(1))
    assert [r.error_code for r in results] == [NOT_SENT]
    assert results.unreachable is None


async def test_keepalive_task_pings_an_idle_session() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        ping_interval=0.02,
    ) as c:
        await c.balance()
        with anyio.fail_after(10):
            while c.statistics().pings < 2:  # noqa: ASYNC110 - polling a counter
                await anyio.sleep(0.01)
    assert emu.statistics().requests_by_command["ping"] >= 2
    pings = c.statistics().pings
    await anyio.sleep(0.05)
    assert c.statistics().pings == pings  # the task ended with the client


@pytest.mark.parametrize(("schedule", "duplicates"), [((0.02, 0.05, 0.1), False), ((0.0,), True)])
async def test_reconciliation_waits_out_a_slow_lookup(
    schedule: tuple[float, ...], duplicates: bool
) -> None:
    """The gateway shows a message to querymsg only 50 ms after accepting it (real time).

    Looking up on a grace schedule finds every lost reply; a single immediate lookup
    concludes "missing" too early and sends duplicates (the control). In the control, a
    message whose reply is lost on every attempt can even end "not sent" though the gateway
    took it each time, so only the treatment promises every result accepted.
    """
    faults = Faults(seed=5, drop_after_commit=0.1, querymsg_visibility_delay=0.05)
    emu = GatewayEmulator(faults=faults)  # on the real clock
    policy = RetryPolicy(reconcile_schedule=schedule, backoff_initial=0.0, jitter=0.0)
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        retry=policy,
    ) as c:
        results = await send_all(c, count=200)
    if not duplicates:
        assert [r for r in results.values() if not r.ok] == []
    assert emu.statistics().faults["drop_after_commit"] > 0
    assert bool(emu.recorder.duplicates()) is duplicates
