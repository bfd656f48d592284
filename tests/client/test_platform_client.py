"""AsyncClient on the Platform wires (``platform``, ``one-api``): construction, the requests as
sent, the commands the platform lacks, splitting, and never twice when in doubt.

A small handler of our own serves the documented JSON answers through
``httpx.MockTransport``; every request it sees is recorded, so counts are exact.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

import asms._wire.platform
import asms._wire.platform_replies
from asms import Message
from asms._bulk.run import send_bulk
from asms._client import AsyncClient
from asms._codes import ErrorCode, MessageStatus
from asms._config import DEFAULT_PLATFORM_URL, ApiKey, Credentials, RetryPolicy
from asms._exceptions import (
    ASMSError,
    AuthenticationError,
    UnsupportedCommandError,
    ValidationError,
)
from asms._models import OUTCOME_UNKNOWN, DeliveryState
from asms._platform_codes import OneApiErrorCode, PlatformErrorCode

pytestmark = pytest.mark.anyio

KEY = "Sekr1tKeyOnly-AbCdEf0123456789"
WIRES = ("platform", "one-api")
A, B, C = "27820000001", "27820000002", "27820000003"
FAST_PAUSE = 0.001

Handler = Callable[[httpx.Request], httpx.Response]


def file_bytes(path: Path) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def apimsgid(number: str) -> str:
    return f"{int(number):032x}"


def numbers(request: httpx.Request) -> list[str]:
    document = json.loads(request.content)
    if "messages" in document:
        return [m["to"] for m in document["messages"]]
    return list(document["to"])


def climsgid_of(request: httpx.Request) -> str:
    document = json.loads(request.content)
    if "messages" in document:
        ids = {m["clientMessageId"] for m in document["messages"]}
        assert len(ids) == 1  # every message of one request carries the request's id
        return str(ids.pop())
    return str(document["clientMessageId"])


def accepted(request: httpx.Request, *, shuffle: bool = False) -> httpx.Response:
    """Every recipient accepted, in the 2019 shape (One API: its own)."""
    tos = numbers(request)
    if shuffle:
        tos = random.Random(len(tos)).sample(tos, len(tos))
    if request.url.path == "/v1/message":
        entries = [
            {"apiMessageId": apimsgid(n), "accepted": True, "to": n, "error": None} for n in tos
        ]
        return httpx.Response(202, json={"messages": entries, "error": None})
    entries = [
        {
            "apiMessageId": apimsgid(n),
            "accepted": True,
            "to": n,
            "errorCode": None,
            "error": None,
            "errorDescription": None,
        }
        for n in tos
    ]
    document = {"messages": entries, "errorCode": None, "error": None, "errorDescription": None}
    return httpx.Response(202, json=document)


class Platform:
    """Records every request; answers sends by ``script`` first (one step per send), then
    with every recipient accepted."""

    def __init__(self, *script: Handler, shuffle: bool = False) -> None:
        self.requests: list[httpx.Request] = []
        self.script = list(script)
        self.shuffle = shuffle

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path in ("/messages", "/v1/message"):
            if self.script:
                return self.script.pop(0)(request)
            return accepted(request, shuffle=self.shuffle)
        if path in ("/public-client/balance", "/v1/balance"):
            return httpx.Response(200, json={"balance": 12.5, "currency": "ZAR"})
        if path == "/public-client/message/status":
            message = request.url.params["messageId"]
            document = {"messageId": message, "status": "RECEIVED_BY_RECIPIENT", "statusCode": 4}
            return httpx.Response(200, json=document)
        if path.startswith("/v1/message/"):
            return httpx.Response(200, json={"sms": {"status": "DEVICE_ACK", "statusCode": 5}})
        return httpx.Response(404)

    @property
    def sends(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]


def client(handler: Any, wire: Any = "platform", **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", RetryPolicy.testing())
    kwargs.setdefault("base_url", "http://platform.test")
    return AsyncClient(
        api_key=KEY,
        wire=wire,
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def respond(status: int, document: Any = None, content: bytes | None = None) -> Handler:
    def step(request: httpx.Request) -> httpx.Response:
        if document is not None:
            return httpx.Response(status, json=document)
        return httpx.Response(status, content=content or b"")

    return step


def fail(error: type[Exception]) -> Handler:
    def step(request: httpx.Request) -> httpx.Response:
        raise error("scripted", request=request)  # type: ignore[call-arg]

    return step


# -- construction ------------------------------------------------------------------------


def test_api_key_is_keyword_only() -> None:
    parameter = inspect.signature(AsyncClient).parameters["api_key"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


async def test_defaults_wire_platform_and_the_platform_url() -> None:
    platform = Platform()
    async with AsyncClient(api_key=KEY, transport=httpx.MockTransport(platform)) as c:
        assert c.wire == "platform"
        assert "https://platform.clickatell.com" in repr(c)
        [result] = await c.send("Hi", to=A)
    assert result.ok
    assert DEFAULT_PLATFORM_URL == "https://platform.clickatell.com"
    [request] = platform.requests
    assert str(request.url) == "https://platform.clickatell.com/messages"


async def test_the_one_api_wire_by_name() -> None:
    platform = Platform()
    async with AsyncClient(
        api_key=ApiKey(KEY), wire="one-api", transport=httpx.MockTransport(platform)
    ) as c:
        assert c.wire == "one-api"
        await c.send("Hi", to=A)
    assert str(platform.requests[0].url) == "https://platform.clickatell.com/v1/message"


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((1234, "demo", "demo"), {"api_key": KEY}, "api_key"),
        ((), {"credentials": Credentials("1234", "demo", "demo"), "api_key": KEY}, "api_key"),
        ((1234,), {"api_key": KEY}, "api_key"),
        ((), {"api_key": KEY, "wire": "http"}, "wire"),
        ((), {"api_key": KEY, "wire": "soap"}, "wire"),
        ((), {"api_key": KEY, "wire": "soap-rpc"}, "wire"),
        ((1234, "demo", "demo"), {"wire": "platform"}, "api_key"),
        ((1234, "demo", "demo"), {"wire": "one-api"}, "api_key"),
        ((), {"api_key": "has space"}, "api_key"),
        ((), {"api_key": ""}, "api_key"),
        ((), {"api_key": KEY, "base_url": "http://platform.example"}, "base_url"),
    ],
)
def test_bad_construction_names_the_field(
    args: tuple[Any, ...], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncClient(*args, **kwargs)
    assert info.value.field == field
    assert KEY not in str(info.value) and KEY not in repr(info.value)


# -- the key is a secret ---------------------------------------------------------------------


async def test_the_key_is_never_in_repr_str_logs_or_exception_texts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    refused = {
        "messages": [],
        "errorCode": 108,
        "error": "Invalid or missing integration API Key.",
        "errorDescription": "The integration API key is either incorrect.",
    }
    platform = Platform(
        respond(200, content=b"not json"),
        fail(httpx.ReadError),
        respond(401, refused),
    )
    texts: list[str] = []
    c = client(platform)
    texts += [repr(c), str(c), repr(ApiKey(KEY)), str(ApiKey(KEY))]
    async with c:
        texts += [repr(c), str(c)]
        results = [await c.send("Hi", to=A), await c.send("Hi", to=B)]
        texts += [repr(r) for r in results]
        with pytest.raises(AuthenticationError) as info:
            await c.send("Hi", to=C)
        texts += [str(info.value), repr(info.value)]
        try:
            await c.route_coverage(A)
        except UnsupportedCommandError as exc:
            texts += [str(exc), repr(exc)]
        texts.append(repr(c.statistics()))
    assert [r[0].state for r in results] == [DeliveryState.UNKNOWN, DeliveryState.UNKNOWN]
    assert caplog.records  # the DEBUG log did say things
    assert KEY not in caplog.text
    for text in texts:
        assert KEY not in text
    # It did go where it belongs: the Authorization header.
    assert {r.headers["authorization"] for r in platform.requests} == {KEY}


# -- requests as sent --------------------------------------------------------------------


async def test_platform_request_headers_and_body() -> None:
    platform = Platform()
    async with client(platform) as c:
        results = await c.send("Héllo € ✓", to=["+27 82 000 0001", "27820000002"])
    [request] = platform.requests
    assert request.method == "POST" and request.url.path == "/messages"
    assert request.headers["authorization"] == KEY  # raw: no "Bearer"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert "apiKey" not in str(request.url) and KEY not in str(request.url)
    assert "Héllo € ✓".encode() in request.content  # UTF-8 as it is, no hex
    document = json.loads(request.content)
    assert document == {
        "content": "Héllo € ✓",
        "to": [A, B],
        "clientMessageId": results[0].climsgid,
    }
    assert [r.apimsgid for r in results] == [apimsgid(A), apimsgid(B)]
    assert results[0].climsgid == results[1].climsgid
    assert len(results[0].climsgid or "") == 32


async def test_one_api_request_is_one_object_per_message() -> None:
    platform = Platform()
    async with client(platform, "one-api") as c:
        results = await c.send("Héllo €", to=[A, "+27820000002"], from_="27820009999")
    [request] = platform.requests
    assert request.url.path == "/v1/message"
    assert request.headers["authorization"] == KEY
    climsgid = results[0].climsgid
    assert json.loads(request.content) == {
        "messages": [
            {"channel": "sms", "to": A, "content": "Héllo €", "clientMessageId": climsgid,
             "from": "27820009999"},
            {"channel": "sms", "to": B, "content": "Héllo €", "clientMessageId": climsgid,
             "from": "27820009999"},
        ]
    }  # fmt: skip
    assert all(r.ok for r in results)


async def test_platform_options_are_mapped() -> None:
    platform = Platform()
    async with client(platform) as c:
        await c.send(
            "Hi",
            to=A,
            from_="27820009999",
            validity=60,
            scheduled_time=1764928800,
            udh="0500030A0201",
        )
        await c.send("", to=B, data="48656C6C6F", binary=True)
    first, second = (json.loads(r.content) for r in platform.requests)
    assert first["from"] == "27820009999"
    assert first["validityPeriod"] == 60
    assert first["scheduledDeliveryTime"] == "2025-12-05T10:00:00+0000"
    assert first["userDataHeader"] == "0500030A0201"
    assert "binary" not in first
    assert second["content"] == "48656C6C6F" and second["binary"] is True


async def test_the_client_message_id_is_set_before_the_first_attempt() -> None:
    # The first attempt never leaves; the resend carries the same id the first one had.
    platform = Platform(fail(httpx.ConnectError))
    async with client(platform) as c:
        [result] = await c.send("Hi", to=A)
    first, second = platform.sends
    assert climsgid_of(first) == climsgid_of(second) == result.climsgid
    assert result.ok


async def test_a_climsgid_given_is_the_one_sent() -> None:
    platform = Platform()
    async with client(platform) as c:
        [result] = await c.send("Hi", to=A, climsgid="MyCampaign0001")
    assert climsgid_of(platform.requests[0]) == result.climsgid == "MyCampaign0001"


async def test_send_message_and_send_request() -> None:
    platform = Platform()
    async with client(platform) as c:
        one = await c.send_message(Message(A, "Hi", ref="a"))
        many = await c.send_request([Message(B, "Yo", ref="b"), Message(C, "Yo", ref="c")])
    assert one.ok and one.apimsgid == apimsgid(A) and one.ref == "a"
    assert [(r.to, r.ref, r.apimsgid) for r in many] == [
        (B, "b", apimsgid(B)),
        (C, "c", apimsgid(C)),
    ]
    assert [numbers(r) for r in platform.requests] == [[A], [B, C]]


@pytest.mark.parametrize("wire", WIRES)
async def test_balance_and_query(wire: str) -> None:
    platform = Platform()
    async with client(platform, wire) as c:
        balance = await c.balance()
        status = await c.query(apimsgid(A))
    assert balance.credits == 12.5
    assert status.apimsgid == apimsgid(A)
    assert status.status is MessageStatus.RECEIVED_BY_RECIPIENT
    paths = [r.url.path for r in platform.requests]
    if wire == "platform":
        assert paths == ["/public-client/balance", "/public-client/message/status"]
        assert platform.requests[1].url.params["messageId"] == apimsgid(A)
    else:
        assert paths == ["/v1/balance", f"/v1/message/{apimsgid(A)}"]
    assert all(r.headers["authorization"] == KEY for r in platform.requests)


# -- what the platform does not have -----------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(
    "option",
    [
        {"callback": 3},
        {"deliv_ack": True},
        {"mo": True},
        {"unicode": True},
        {"deliv_time": 10},
        {"queue": 2},
        {"escalate": True},
        {"max_credits": 2.0},
        {"req_feat": 48},
        {"msg_type": "SMS_TEXT"},
    ],
)
async def test_options_not_on_the_wire_are_refused_by_name(
    wire: str, option: dict[str, Any]
) -> None:
    platform = Platform()
    async with client(platform, wire) as c:
        with pytest.raises(ValidationError) as info:
            await c.send("Hi", to=A, **option)
    [name] = option
    assert info.value.field == name
    assert platform.requests == []


@pytest.mark.parametrize(
    "option",
    [
        {"validity": 60},
        {"scheduled_time": 1764928800},
        {"udh": "0500030A0201"},
        {"data": "4865"},
    ],
)
async def test_one_api_refuses_what_only_platform_sms_has(option: dict[str, Any]) -> None:
    platform = Platform()
    async with client(platform, "one-api") as c:
        with pytest.raises(ValidationError) as info:
            await c.send("" if "data" in option else "Hi", to=A, **option)
    [name] = option
    assert info.value.field == name
    assert platform.requests == []


def _unsupported() -> list[tuple[str, Callable[[AsyncClient], Awaitable[Any]]]]:
    async def batch(c: AsyncClient) -> None:
        async with c.batch("Hi #field1#") as b:
            await b.quick_send(to=[A])

    return [
        ("route_coverage", lambda c: c.route_coverage(A)),
        ("batch", batch),
        ("si_push", lambda c: c.si_push(A, si_id="1", si_url="http://x.test", si_text="t")),
        (
            "ind_push",
            lambda c: c.ind_push(
                A,
                mms_subject="s",
                mms_class=80,
                mms_expire=3000,
                mms_from="f",
                mms_url="http://x.test",
            ),
        ),
        ("token_pay", lambda c: c.token_pay("1234567890123456")),
        ("delete", lambda c: c.delete(apimsgid(A))),
        ("charge", lambda c: c.charge(apimsgid(A))),
        ("ping", lambda c: c.ping()),
        ("query by climsgid", lambda c: c.query(climsgid="abc")),
        ("query_climsgid", lambda c: c.query_climsgid("abc")),
    ]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(("command", "call"), _unsupported(), ids=[n for n, _ in _unsupported()])
async def test_unsupported_commands_name_the_wire_and_send_nothing(
    wire: str, command: str, call: Callable[[AsyncClient], Awaitable[Any]]
) -> None:
    platform = Platform()
    async with client(platform, wire) as c:
        with pytest.raises(UnsupportedCommandError) as info:
            await call(c)
    assert info.value.command == command
    assert info.value.wire == wire
    assert str(info.value).startswith(f"{command} is not available on the {wire} wire")
    assert isinstance(info.value, ASMSError)
    assert platform.requests == []


# -- splitting ---------------------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
async def test_above_200_recipients_split_into_concurrent_requests_matched_by_number(
    wire: str,
) -> None:
    recipients = [f"2782{i:07d}" for i in range(450)]
    arrived = 0
    all_in = anyio.Event()
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        seen.append(request)
        arrived += 1
        if arrived == 3:
            all_in.set()
        # Each answer waits until all three requests are in: they are in flight together.
        with anyio.fail_after(5):
            await all_in.wait()
        return accepted(request, shuffle=True)

    async with client(handler, wire) as c:
        results = await c.send("Hi", to=recipients)
    assert sorted(len(numbers(r)) for r in seen) == [50, 200, 200]
    assert Counter(n for r in seen for n in numbers(r)) == Counter(recipients)
    assert [r.to for r in results] == recipients
    assert all(r.ok and r.apimsgid == apimsgid(r.to) for r in results)
    assert len({climsgid_of(r) for r in seen}) == 3


async def test_a_shuffled_mixed_answer_is_matched_by_number() -> None:
    def mixed(request: httpx.Request) -> httpx.Response:
        entries: list[dict[str, Any]] = [
            {"apiMessageId": None, "accepted": False, "to": B, "errorCode": 105,
             "error": "Invalid destination address.", "errorDescription": "No."},
            {"apiMessageId": apimsgid(C), "accepted": True, "to": C, "errorCode": None,
             "error": None, "errorDescription": None},
            {"apiMessageId": apimsgid(A), "accepted": True, "to": A, "errorCode": None,
             "error": None, "errorDescription": None},
        ]  # fmt: skip
        return httpx.Response(202, json={"messages": entries})

    platform = Platform(mixed)
    async with client(platform) as c:
        results = await c.send("Hi", to=[A, B, C])
    assert [(r.to, r.state, r.apimsgid) for r in results] == [
        (A, DeliveryState.ACCEPTED, apimsgid(A)),
        (B, DeliveryState.REJECTED, None),
        (C, DeliveryState.ACCEPTED, apimsgid(C)),
    ]
    assert results[1].error_code is ErrorCode.INVALID_DESTINATION_ADDRESS


async def test_one_api_207_maps_25_to_105_per_recipient() -> None:
    def mixed(request: httpx.Request) -> httpx.Response:
        entries = [
            {"error": {"code": 25, "description": "Invalid recipient address"},
             "accepted": False, "to": B},
            {"apiMessageId": apimsgid(A), "accepted": True, "to": A, "error": None},
        ]  # fmt: skip
        return httpx.Response(207, json={"messages": entries, "error": None})

    async with client(Platform(mixed), "one-api") as c:
        results = await c.send("Hi", to=[A, B])
    assert results[0].ok
    assert results[1].error_code is ErrorCode.INVALID_DESTINATION_ADDRESS


# -- never twice: unknown outcomes are not resent ------------------------------------------


DOUBTFUL: list[tuple[str, Handler | str]] = [
    ("read error after the request left", fail(httpx.ReadError)),
    ("remote protocol error", fail(httpx.RemoteProtocolError)),
    ("read timeout", fail(httpx.ReadTimeout)),
    ("HTTP 500 without a body", respond(500)),
    ("HTTP 500 with HTML", respond(500, content=b"<html>oops</html>")),
    ("HTTP 502 from a proxy", respond(502, content=b"Bad Gateway")),
    ("HTTP 500, internal error", "internal"),
    ("HTTP 200, internal error", "internal"),
    ("unparseable body", respond(202, content=b"ID: 1234")),
    ("truncated JSON", respond(202, content=b'{"messages":[{"apiMessageId":"ab')),
    ("contradiction", respond(202, {"messages": [{"accepted": True, "to": A}]})),
    ("empty 202", respond(202, content=b"")),
]


def internal_error(wire: str, status: int) -> Handler:
    """The wire's own "internal error" body (One API 18, Platform SMS 901)."""
    if wire == "one-api":
        return respond(status, {"error": {"code": 18, "description": "Internal error"}})
    return respond(status, {"messages": [], "errorCode": 901, "error": "Internal error."})


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(("what", "step"), DOUBTFUL, ids=[w for w, _ in DOUBTFUL])
async def test_in_doubt_every_recipient_is_unknown_and_nothing_is_resent(
    wire: str, what: str, step: Handler | str
) -> None:
    if step == "internal":
        step = internal_error(wire, 500 if "500" in what else 200)
    assert callable(step)
    platform = Platform(step)
    async with client(platform, wire, retry=RetryPolicy.testing(attempts=5)) as c:
        results = await c.send("Hi", to=[A, B])
    assert len(platform.sends) == 1, what
    assert [r.error_code for r in results] == [OUTCOME_UNKNOWN, OUTCOME_UNKNOWN]
    assert [r.state for r in results] == [DeliveryState.UNKNOWN] * 2
    # The id the request carried: what status callbacks will echo to settle it.
    assert {r.climsgid for r in results} == {climsgid_of(platform.sends[0])}


async def test_a_recipient_missing_from_the_answer_is_unknown_and_not_resent() -> None:
    def partial(request: httpx.Request) -> httpx.Response:
        entry = {"apiMessageId": apimsgid(A), "accepted": True, "to": A}
        return httpx.Response(202, json={"messages": [entry]})

    platform = Platform(partial)
    async with client(platform) as c:
        results = await c.send("Hi", to=[A, B])
    assert len(platform.sends) == 1
    assert [r.state for r in results] == [DeliveryState.ACCEPTED, DeliveryState.UNKNOWN]


# -- resent once when provably not taken ---------------------------------------------------


@pytest.fixture
def fast_throttle(monkeypatch: pytest.MonkeyPatch) -> float:
    """The platform's throttle pause, made short (it is waited for real)."""
    monkeypatch.setattr(asms._wire.platform, "PLATFORM_THROTTLE_PAUSE", FAST_PAUSE)
    monkeypatch.setattr(asms._wire.platform_replies, "PLATFORM_THROTTLE_PAUSE", FAST_PAUSE)
    return FAST_PAUSE


NOT_TAKEN: list[tuple[str, Handler]] = [
    ("connect error", fail(httpx.ConnectError)),
    ("HTTP 503 without a body", respond(503)),
    ("HTTP 503, One API 19", respond(503, {"error": {"code": 19, "description": "retry"}})),
    ("HTTP 429", respond(429)),
    ("HTTP 429 with a JSON body", respond(429, {"error": {"code": 43, "description": "Rate"}})),
]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(("what", "step"), NOT_TAKEN, ids=[w for w, _ in NOT_TAKEN])
async def test_provably_not_taken_is_resent_exactly_once(
    wire: str, what: str, step: Handler, fast_throttle: float
) -> None:
    platform = Platform(step)
    retry = RetryPolicy(
        attempts=5, backoff_initial=0.0, backoff_max=0.0, jitter=0.0, throttle_max_wait=1.0
    )
    async with client(platform, wire, retry=retry) as c:
        results = await c.send("Hi", to=[A, B])
    assert len(platform.sends) == 2, what
    assert climsgid_of(platform.sends[0]) == climsgid_of(platform.sends[1])
    assert [(r.ok, r.apimsgid) for r in results] == [(True, apimsgid(A)), (True, apimsgid(B))]


async def test_one_api_43_is_resent_exactly_once(fast_throttle: float) -> None:
    # The One API's rate limit, answered with HTTP 400 and error 43 in the body.
    step = respond(400, {"error": {"code": 43, "description": "Rate limit exceeded"}})
    platform = Platform(step)
    retry = RetryPolicy(
        attempts=5, backoff_initial=0.0, backoff_max=0.0, jitter=0.0, throttle_max_wait=1.0
    )
    async with client(platform, "one-api", retry=retry) as c:
        results = await c.send("Hi", to=[A, B])
    assert len(platform.sends) == 2
    assert climsgid_of(platform.sends[0]) == climsgid_of(platform.sends[1])
    assert all(r.ok for r in results)


@pytest.mark.parametrize(
    "step",
    [respond(429), respond(400, {"error": {"code": 43, "description": "Rate limit exceeded"}})],
    ids=["429", "43"],
)
async def test_a_throttle_carries_retry_after(step: Handler, fast_throttle: float) -> None:
    # Not waited (throttle_max_wait=0): the refusal is every recipient's result.
    platform = Platform(step)
    async with client(platform, "one-api") as c:
        results = await c.send_request([Message(A, "Hi")], wait_throttled=False)
    assert len(platform.sends) == 1
    [result] = results
    assert result.state is DeliveryState.REJECTED
    assert result.error_code is OneApiErrorCode.RATE_LIMIT
    throttled = results.throttled
    assert throttled is not None
    assert throttled.retry_after == fast_throttle


async def test_a_request_level_refusal_is_every_recipients_result() -> None:
    platform = Platform(respond(402, {"error": {"code": 20, "description": "Insufficient"}}))
    async with client(platform, "one-api") as c:
        results = await c.send("Hi", to=[A, B])
    assert len(platform.sends) == 1
    assert [r.error_code for r in results] == [ErrorCode.NO_CREDIT_LEFT] * 2


# -- send_bulk with a journal --------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
async def test_send_bulk_groups_by_200_and_a_rerun_sends_nothing_twice(
    wire: str, tmp_path: Path
) -> None:
    journal = tmp_path / "campaign.db"
    messages = [Message(f"2782{i:07d}", "Hi") for i in range(450)]
    platform = Platform(shuffle=True)
    async with client(platform, wire) as c:
        first = send_bulk(c, messages, rate=None, concurrency=1, journal=journal)
        async with first:
            async for _ in first:
                first.stop()
        sent_first = len(platform.sends)
        second = send_bulk(c, messages, rate=None, journal=journal)
        async with second:
            rest = [result async for result in second]
    assert 1 <= sent_first < 3
    sizes = [len(numbers(r)) for r in platform.sends]
    assert max(sizes) == 200 and sum(sizes) == 450
    # Every request its own climsgid, every number in exactly one request.
    assert Counter(climsgid_of(r) for r in platform.sends).most_common(1)[0][1] == 1
    assert Counter(n for r in platform.sends for n in numbers(r)) == Counter(m.to for m in messages)
    assert sorted(r.index for r in rest) == list(range(450))
    assert all(r.ok and r.apimsgid == apimsgid(r.to) for r in rest)
    # The journal records its owner by a digest: the key itself is in none of its files.
    assert journal.name in os.listdir(tmp_path)
    assert not any(KEY.encode() in file_bytes(tmp_path / n) for n in os.listdir(tmp_path))


async def test_send_bulk_an_unknown_request_is_not_resent_by_the_rerun(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.db"
    messages = [Message(f"2782{i:07d}", "Hi") for i in range(450)]
    platform = Platform(fail(httpx.ReadError))
    async with client(platform) as c:
        first = send_bulk(c, messages, rate=None, concurrency=1, journal=journal)
        async with first:
            results = [result async for result in first]
        unknown = [r for r in results if r.state is DeliveryState.UNKNOWN]
        assert len(unknown) == 200
        second = send_bulk(c, messages, rate=None, journal=journal)
        async with second:
            again = [result async for result in second]
    # The rerun read every outcome back from the journal: the unknown ones stay unknown.
    assert Counter(r.state for r in again) == {
        DeliveryState.UNKNOWN: 200,
        DeliveryState.ACCEPTED: 250,
    }
    assert all(r.resumed for r in again)
    counts = Counter(n for r in platform.sends for n in numbers(r))
    assert set(counts.values()) == {1}
    assert sum(counts.values()) == 450
    assert Counter(climsgid_of(r) for r in platform.sends).most_common(1)[0][1] == 1


# -- the client's own transport: the prepared request head ---------------------------------


class RawServer:
    """A minimal HTTP/1.1 server on 127.0.0.1: records each request's head and body as bytes
    and answers every send with all recipients accepted (keep-alive)."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, bytes]] = []

    async def serve(self, stream: anyio.abc.ByteStream) -> None:
        buffer = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        buffer += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += await stream.receive()
                body, buffer = buffer[:length], buffer[length:]
                self.requests.append((head, body))
                if head.startswith(b"POST"):
                    request = httpx.Request("POST", "http://x/messages", content=body)
                    answer = accepted(request).content
                    status = b"202 Accepted"
                else:
                    answer = b'{"balance": 3.5, "currency": "ZAR"}'
                    status = b"200 OK"
                await stream.send(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(answer) + answer
                )


async def test_the_prepared_head_on_the_clients_own_transport() -> None:
    server = RawServer()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.serve)
        async with AsyncClient(
            api_key=KEY, base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy.testing()
        ) as c:
            first = await c.send("Héllo €", to=[A, B])
            second = await c.send("Again", to=C)
            balance = await c.balance()
        group.cancel_scope.cancel()
    assert [r.apimsgid for r in [*first, *second]] == [apimsgid(A), apimsgid(B), apimsgid(C)]
    assert balance.credits == 3.5
    (head1, body1), (head2, body2), (head3, _) = server.requests
    for head, body in ((head1, body1), (head2, body2)):
        lines = head.split(b"\r\n")
        assert lines[0] == b"POST /messages HTTP/1.1"
        fields = {n.lower(): v.strip() for n, _, v in (x.partition(b":") for x in lines[1:])}
        assert fields[b"host"] == b"127.0.0.1:%d" % port
        assert fields[b"authorization"] == KEY.encode()
        assert fields[b"content-type"] == b"application/json"
        assert fields[b"accept"] == b"application/json"
        assert fields[b"content-length"] == b"%d" % len(body)
    assert json.loads(body1) == {
        "content": "Héllo €",
        "to": [A, B],
        "clientMessageId": first[0].climsgid,
    }
    assert json.loads(body2)["to"] == [C]
    assert head3.split(b"\r\n")[0] == b"GET /public-client/balance HTTP/1.1"
    assert b"Authorization: " + KEY.encode() in head3


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (
            {
                "messages": [],
                "errorCode": 607,
                "error": "Invalid FROM number.",
                "errorDescription": "User specified FROM number, but integration isn't two-way.",
            },
            PlatformErrorCode.FROM_NUMBER_NOT_TWO_WAY,
        ),
        (
            {"messages": [], "errorCode": 106, "error": "Invalid FROM number."},
            ErrorCode.INVALID_SOURCE_ADDRESS,
        ),
        (
            {
                "messages": [],
                "error": "Two-Way integration error - From number is not related to integration",
            },
            PlatformErrorCode.FROM_NUMBER_NOT_TWO_WAY,
        ),
    ],
)
async def test_a_refusal_answered_with_http_200_is_every_recipients_result(
    document: dict[str, Any], code: Any
) -> None:
    platform = Platform(respond(200, document))
    async with client(platform) as c:
        results = await c.send("Hi", to=[A, B], from_="27820009999")
    assert len(platform.sends) == 1
    assert [r.state for r in results] == [DeliveryState.REJECTED] * 2
    assert [r.error_code for r in results] == [code, code]
    assert all(type(r.error_code) is type(code) for r in results)
