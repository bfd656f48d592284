"""The client layer's fast path equals its plain twins (``asms/_base_client.py``, the fenced
section at the end of ``BaseClient``).

``_call`` and ``_send_request`` are written for speed; ``_call_plain`` and
``_send_request_plain`` do the same the straightforward way. Two clients, one for each,
meet the same scripted gateway (answers per command, taken in order: replies, refusals,
expired sessions, throttling, HTTP errors, transport failures) and must send the same
requests, return the same results or raise the same errors, and count the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from asms._client import AsyncClient
from asms._config import RetryPolicy
from asms._optable import OPERATIONS
from asms._replies import expect_credit, expect_status
from asms._results import SendResults
from asms._sending import parse_send
from asms._transport import Exchange, Origin, PreparedTransport
from asms._wire import MAX_REPLY_BYTES

NOW = 1_800_000_000.0
HEX = "0123456789abcdef" * 2
N1, N2 = "27820000001", "27820000002"

Answer = tuple[str, Any]  # ("reply", (status, body, with_date)) or ("raise", exception)


def ok(body: str, *, dated: bool = False, status: int = 200) -> Answer:
    return ("reply", (status, body, dated))


def fails(error: Callable[[], BaseException]) -> Answer:
    return ("raise", error)


THROTTLED_NOW = "ERR: 130, Maximum MT limit exceeded until 1800000000"
THROTTLED_LATER = "ERR: 130, Maximum MT limit exceeded until 1800000001"
#: What any command may meet besides its own answers.
TROUBLE: list[Answer] = [
    ok("ERR: 001, Authentication failed"),
    ok("ERR: 003, Session ID expired"),
    ok("ERR: 005, Missing session ID"),
    ok(THROTTLED_NOW, dated=True),
    ok(THROTTLED_LATER, dated=True),
    ok(THROTTLED_LATER),
    ok("ERR: 901, Internal error"),
    ok("what?"),
    ok("", status=503),
    ok("x" * (MAX_REPLY_BYTES + 1)),
    fails(lambda: httpx.ConnectError("refused")),
    fails(lambda: httpx.ReadTimeout("slow")),
    fails(lambda: OSError("reset")),
]
ANSWERS: dict[str, list[Answer]] = {
    "auth": [
        ok("OK: sess-one"),
        ok("OK: sess-two"),
        ok("ERR: 001, Authentication failed"),
        ok("ERR: 002, Unknown username or password"),
        fails(lambda: httpx.ConnectError("refused")),
        fails(lambda: httpx.ReadTimeout("slow")),
    ],
    "sendmsg": [
        ok(f"ID: {HEX}"),
        ok(f"ID: {HEX} To: {N1}\nID: {HEX[::-1]} To: {N2}"),
        ok(f"ID: {HEX} To: {N1}\nERR: 105, Invalid Destination Address To: {N2}"),
        ok(f"ERR: 105, Invalid Destination Address To: {N1}"),
        *TROUBLE,
    ],
    "querymsg": [
        ok(f"ID: {HEX} Status: 004"),
        ok(f"ID: {HEX} Status: 001"),
        ok("ERR: 104, Unknown client message ID"),
        *TROUBLE,
    ],
    "getbalance": [ok("Credit: 12.5"), ok("Credit: x"), *TROUBLE],
}
SCRIPTS = st.fixed_dictionaries(
    {
        command: st.lists(st.sampled_from(answers), max_size=5)
        for command, answers in ANSWERS.items()
    }
)
#: Scripts every run meets, whatever hypothesis draws: the session refused, 001 twice, ERR
#: 130 with and without the gateway's clock, each failure of the exchange.
MUST: list[dict[str, list[Answer]]] = [
    {"sendmsg": [ok("ERR: 001, Authentication failed")] * 3},
    {"sendmsg": [ok("ERR: 003, Session ID expired")] * 4, "getbalance": TROUBLE[1:3] * 4},
    {"auth": [ANSWERS["auth"][4]], "getbalance": [ok("ERR: 005, Missing session ID")]},
    *({"sendmsg": [answer] * 4, "getbalance": [answer] * 4} for answer in TROUBLE),
    {"sendmsg": [ok(THROTTLED_NOW, dated=True), fails(lambda: httpx.ReadTimeout("slow"))]},
]
#: What a command answers once its script is spent.
DONE: dict[str, str] = {
    "auth": "OK: sess-last",
    "sendmsg": f"ID: {HEX}",
    "querymsg": "ERR: 104, Unknown client message ID",
    "getbalance": "Credit: 1",
}


class Gateway(httpx.AsyncBaseTransport):
    """Answers by command, in script order, whichever way a request arrives; records each
    request's command and body."""

    def __init__(self, script: Mapping[str, Sequence[Answer]]) -> None:
        self.script = {command: list(answers) for command, answers in script.items()}
        self.seen: list[tuple[str, bytes]] = []

    def answer(self, path: str, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        command = path.rsplit("/", 1)[-1]
        self.seen.append((command, body))
        queue = self.script.get(command, [])
        answer: Answer = queue.pop(0) if queue else ok(DONE[command])
        kind, what = answer
        if kind == "raise":
            raise what()
        status, text, with_date = what
        headers = [(b"Date", b"Fri, 15 Jan 2027 08:00:00 GMT")] if with_date else []
        return status, headers, text.encode()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, content = self.answer(request.url.path, await request.aread())
        return httpx.Response(status, headers=headers, content=content)


class PreparedGateway(Gateway):
    """The same gateway, taking prepared requests as asms's own transport does."""

    async def send_prepared(
        self,
        origin: Origin,
        method: str,
        head: bytes,
        body: bytes | None,
        timeouts: Mapping[str, Any],
        *,
        stream: AsyncIterable[bytes] | None = None,
        chunked: bool = False,
    ) -> Exchange:
        path = head.split(b" ", 2)[1].decode()
        status, headers, content = self.answer(path, body or b"")
        return status, headers, content, b"", b"HTTP/1.1"


class Ticking:
    """Unix time that moves on a millisecond each time it is read: a session's
    ``last_used`` then shows whether (and when) it was touched."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def client(gateway: Gateway, *, session: bool) -> AsyncClient:
    policy = RetryPolicy(
        attempts=3,
        backoff_initial=0.0,
        backoff_max=0.0,
        jitter=0.0,
        reconcile_schedule=(0.0, 0.0),
        throttle_max_wait=5.0,
        reauth_limit=2,
    )
    return AsyncClient(
        1234,
        "demo",
        "secret",
        base_url="http://gateway",
        transport=gateway,
        retry=policy,
        session=session,
        clock=Ticking(),
    )


def outcome_of(value: object) -> object:
    """What a call came to, comparable: a result, or an error's class, text and data."""
    if isinstance(value, BaseException):
        return (
            type(value),
            str(value),
            getattr(value, "code", None),
            getattr(value, "sent", None),
            getattr(value, "gateway_time", None),
        )
    if isinstance(value, SendResults):
        throttled = value.throttled
        return list(value), None if throttled is None else outcome_of(throttled)
    return value


async def run(
    gateway: Gateway, session: bool, act: Callable[[AsyncClient], Awaitable[object]]
) -> tuple[object, ...]:
    c = client(gateway, session=session)
    try:
        value: object = await act(c)
    except Exception as exc:
        value = exc
    sessions = [
        (s.generation, s.active, s.auth_calls, s.last_used) for s in c._shared.sessions.values()
    ]
    return outcome_of(value), c.statistics(), sessions, gateway.seen


def both_ways(
    script: Mapping[str, Sequence[Answer]],
    prepared: bool,
    session: bool,
    fast: Callable[[AsyncClient], Awaitable[object]],
    plain: Callable[[AsyncClient], Awaitable[object]],
) -> None:
    kind = PreparedGateway if prepared else Gateway

    async def main() -> None:
        fast_way = await run(kind(script), session, fast)
        plain_way = await run(kind(script), session, plain)
        assert fast_way == plain_way

    # Waits (backoff, ERR 130 pauses) pass at once on trio's mock clock.
    anyio.run(main, backend="trio", backend_options={"clock": MockClock(autojump_threshold=0)})


def test_the_default_transport_takes_the_prepared_path() -> None:
    assert isinstance(PreparedGateway({}), PreparedTransport)
    assert not isinstance(Gateway({}), PreparedTransport)


COMMANDS: list[tuple[str, dict[str, Any], Callable[[bytes | str], Any]]] = [
    ("sendmsg", {"to": [N1], "text": "Hi", "climsgid": "req1"}, parse_send),
    ("querymsg", {"climsgid": "req1"}, expect_status),
    ("getbalance", {}, expect_credit),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=SCRIPTS,
    command=st.sampled_from(COMMANDS),
    prepared=st.booleans(),
    session=st.booleans(),
)
def test_call_equals_its_plain_twin(
    script: dict[str, list[Answer]],
    command: tuple[str, dict[str, Any], Callable[[bytes | str], Any]],
    prepared: bool,
    session: bool,
) -> None:
    call_both_ways(script, command, prepared, session)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=SCRIPTS,
    recipients=st.sampled_from([[N1], [N1, N2], [N2, N1]]),
    refs=st.sampled_from([None, ["a", "b"]]),
    reconcile=st.booleans(),
    wait_throttled=st.booleans(),
    prepared=st.booleans(),
    session=st.booleans(),
)
def test_send_request_equals_its_plain_twin(
    script: dict[str, list[Answer]],
    recipients: list[str],
    refs: list[str] | None,
    reconcile: bool,
    wait_throttled: bool,
    prepared: bool,
    session: bool,
) -> None:
    refs = None if refs is None else refs[: len(recipients)]
    send_both_ways(script, recipients, refs, reconcile, wait_throttled, prepared, session)


def call_both_ways(
    script: Mapping[str, Sequence[Answer]],
    command: tuple[str, dict[str, Any], Callable[[bytes | str], Any]],
    prepared: bool,
    session: bool,
) -> None:
    name, params, parse = command
    op = OPERATIONS[name]
    both_ways(
        script,
        prepared,
        session,
        lambda c: c._call(op, params, parse),
        lambda c: c._call_plain(op, params, parse),
    )


def send_both_ways(
    script: Mapping[str, Sequence[Answer]],
    recipients: list[str],
    refs: list[str] | None,
    reconcile: bool,
    wait_throttled: bool,
    prepared: bool,
    session: bool,
) -> None:
    op = OPERATIONS["sendmsg"]
    params = {"text": "Hi"}

    def send(method: str) -> Callable[[AsyncClient], Awaitable[object]]:
        def act(c: AsyncClient) -> Awaitable[object]:
            return getattr(c, method)(  # type: ignore[no-any-return]
                op,
                params,
                recipients,
                "req1",
                1,
                refs,
                reconcile=reconcile,
                wait_throttled=wait_throttled,
            )

        return act

    both_ways(script, prepared, session, send("_send_request"), send("_send_request_plain"))


@pytest.mark.parametrize("session", [True, False])
@pytest.mark.parametrize("prepared", [True, False])
@pytest.mark.parametrize("script", MUST)
def test_known_troubles_meet_the_same_answers_both_ways(
    script: dict[str, list[Answer]], prepared: bool, session: bool
) -> None:
    for command in COMMANDS:
        call_both_ways(script, command, prepared, session)
    for reconcile in (True, False):
        for wait_throttled in (True, False):
            send_both_ways(
                script, [N1, N2], ["a", "b"], reconcile, wait_throttled, prepared, session
            )


@pytest.mark.parametrize("prepared", [True, False])
def test_a_closed_client_is_refused_both_ways(prepared: bool) -> None:
    op = OPERATIONS["getbalance"]

    async def closed_call(method: str) -> tuple[object, ...]:
        kind = PreparedGateway if prepared else Gateway

        async def act(c: AsyncClient) -> object:
            await c.aclose()
            return await getattr(c, method)(op, {}, expect_credit)

        return await run(kind({}), True, act)

    async def main() -> None:
        assert await closed_call("_call") == await closed_call("_call_plain")

    anyio.run(main)
