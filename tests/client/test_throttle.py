"""ERR 130 pauses are measured on the gateway's clock and bounded.

The gateway names the time sending may resume; its answer's ``Date`` header says what time
it is there. A client clock an hour off must neither stall a run for an hour nor erase the
pause; a pause beyond ``throttle_max_wait`` rejects the messages with 130 instead.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

import asms._retry
from asms._bulk.ratelimit import VirtualClock
from asms._bulk.report import BulkResult, DeliveryState
from asms._bulk.run import BulkRun, send_bulk
from asms._client import AsyncClient
from asms._codes import ErrorCode
from asms._config import RetryPolicy
from asms._exceptions import ThrottledError
from asms._models import Message
from asms._wire import gateway_time
from asms.testing import FakeClock, Faults, GatewayEmulator
from asms.testing._serve import running_emulator

pytestmark = pytest.mark.anyio

GATEWAY_NOW = 1_800_000_000
HOUR = 3600.0
E130 = ErrorCode.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL


def _date(response: httpx.Response) -> float:
    return parsedate_to_datetime(response.headers["date"]).timestamp()


# -- the emulator's Date header -------------------------------------------------------------------


async def test_the_emulator_dates_its_answers_by_its_own_clock() -> None:
    emulator = GatewayEmulator(clock=FakeClock(GATEWAY_NOW + 0.75))
    async with httpx.AsyncClient(transport=emulator.transport(), base_url="http://g") as http:
        answer = await http.post("/http/ping", data={"session_id": "x"})
    assert answer.headers.get_list("date") == ["Fri, 15 Jan 2027 08:00:00 GMT"]
    assert _date(answer) == GATEWAY_NOW == gateway_time(answer.headers.raw)


def test_the_emulator_dates_its_answers_by_its_own_clock_over_uvicorn() -> None:
    emulator = GatewayEmulator(clock=FakeClock(GATEWAY_NOW))
    with running_emulator(emulator) as base_url:
        answer = httpx.post(f"{base_url}/http/ping", data={"session_id": "x"})
        wsdl = httpx.get(f"{base_url}/soap/document_literal/webservice?wsdl")
    assert len(answer.headers.get_list("date")) == 1  # uvicorn's own is off
    assert _date(answer) == GATEWAY_NOW == _date(wsdl)


def test_gateway_time_reads_only_a_valid_date() -> None:
    assert gateway_time([(b"Date", b"Fri, 15 Jan 2027 08:00:00 GMT")]) == GATEWAY_NOW
    assert gateway_time([(b"date", b"yesterday")]) is None
    assert gateway_time([(b"content-type", b"text/html")]) is None


def test_the_pause_is_measured_on_the_gateway_clock_and_never_zero() -> None:
    refusal = ThrottledError(E130, f"Maximum MT limit exceeded until {GATEWAY_NOW + 2}")
    assert refusal.pause(GATEWAY_NOW) == 2.0  # no Date: the client's clock stands in
    refusal.gateway_time = GATEWAY_NOW
    assert refusal.pause(GATEWAY_NOW - HOUR) == refusal.pause(GATEWAY_NOW + HOUR) == 2.0
    # A client clock within the Date's second is the finer reading of the gateway's.
    assert refusal.pause(GATEWAY_NOW + 0.5) == 1.5
    refusal.gateway_time = GATEWAY_NOW + 5  # the time has come by the gateway's own clock
    assert refusal.pause(0.0) == 1.0
    assert ThrottledError(E130, "Maximum MT limit exceeded").pause(0.0) is None


# -- single sends ---------------------------------------------------------------------------------


class _Sleeps:
    """Stands in for the retry module's ``anyio``: each sleep is recorded and moves the
    emulator's fake clock on by as much (the client's clock moves with it)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeClock], _Sleeps]:
    def install(clock: FakeClock) -> _Sleeps:
        fake = _Sleeps(clock)
        monkeypatch.setattr(asms._retry, "anyio", fake)
        return fake

    return install


def _client(emulator: GatewayEmulator, skew: float, **policy: Any) -> AsyncClient:
    clock = emulator.clock
    retry = RetryPolicy(
        backoff_initial=0.0, backoff_max=0.0, jitter=0.0, reconcile_schedule=(0.0,), **policy
    )
    return AsyncClient(
        1234,
        "demo",
        "demo",
        transport=emulator.transport(),
        base_url="http://gateway.test",
        retry=retry,
        clock=lambda: clock.wall_time() + skew,
    )


@pytest.mark.parametrize("skew", [-HOUR, HOUR])
async def test_a_skewed_client_waits_the_gateways_two_seconds(
    skew: float, sleeps: Callable[[FakeClock], _Sleeps]
) -> None:
    clock = FakeClock(GATEWAY_NOW)
    emulator = GatewayEmulator(clock=clock, faults=Faults(err130_until=GATEWAY_NOW + 2))
    slept = sleeps(clock)
    async with _client(emulator, skew) as client:
        [result] = await client.send("Hi", to="27820000001")
    assert result.state is DeliveryState.ACCEPTED
    assert slept.slept == [2.0]
    stats = emulator.statistics()
    assert stats.requests_by_command["sendmsg"] == 2 and stats.faults["err130"] == 1
    assert stats.messages == 1


async def test_a_pause_beyond_the_bound_rejects_with_a_reason(
    sleeps: Callable[[FakeClock], _Sleeps],
) -> None:
    clock = FakeClock(GATEWAY_NOW)
    emulator = GatewayEmulator(clock=clock, faults=Faults(err130_until=GATEWAY_NOW + 3600))
    slept = sleeps(clock)
    # The client's clock is an hour ahead: by it the limit is already over.
    async with _client(emulator, HOUR, throttle_max_wait=300.0) as client:
        [result] = await client.send("Hi", to="27820000001")
    assert result.error_code == E130 and result.state is DeliveryState.REJECTED
    assert result.error_description == (
        "not waited out: 3600 s by the gateway's clock is beyond throttle_max_wait=300 s; "
        f"Maximum MT limit exceeded until {GATEWAY_NOW + 3600}"
    )
    assert slept.slept == []
    stats = emulator.statistics()
    assert stats.requests_by_command["sendmsg"] == 1 and stats.faults["err130"] == 1


class _RenewedLimit(httpx.AsyncBaseTransport):
    """The emulator's transport; after each of the first ``times`` ERR 130 answers the
    limit is set again to end ``seconds`` later (a limit that keeps being hit)."""

    def __init__(self, emulator: GatewayEmulator, times: int, seconds: int) -> None:
        self._inner = emulator.transport()
        self._emulator = emulator
        self._times, self._seconds = times, seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        emulator = self._emulator
        if request.url.path.endswith("/sendmsg") and self._times:
            emulator.faults = Faults(err130_until=int(emulator.clock.wall_time()) + self._seconds)
            self._times -= 1
        response = await self._inner.handle_async_request(request)
        if self._times == 0:
            emulator.faults = Faults()
        return response


async def test_every_err_130_of_a_recovery_is_waited_out(
    sleeps: Callable[[FakeClock], _Sleeps],
) -> None:
    clock = FakeClock(GATEWAY_NOW)
    emulator = GatewayEmulator(clock=clock)
    slept = sleeps(clock)
    transport = _RenewedLimit(emulator, times=3, seconds=2)
    policy = RetryPolicy(
        backoff_initial=0.0, backoff_max=0.0, jitter=0.0, reconcile_schedule=(0.0,)
    )
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        transport=transport,
        base_url="http://gateway.test",
        retry=policy,
        clock=lambda: clock.wall_time() - HOUR,
    ) as client:
        [result] = await client.send("Hi", to="27820000001")
    assert result.state is DeliveryState.ACCEPTED
    assert slept.slept == [2.0, 2.0, 2.0]  # the waits after the first retry are there too
    stats = emulator.statistics()
    assert stats.requests_by_command["sendmsg"] == 4 and stats.faults["err130"] == 3


async def test_the_backoff_grows_after_the_first_retry(
    sleeps: Callable[[FakeClock], _Sleeps],
) -> None:
    clock = FakeClock(GATEWAY_NOW)
    faults = Faults(script=("connect_error", "connect_error", "connect_error"))
    emulator = GatewayEmulator(clock=clock, faults=faults)
    slept = sleeps(clock)
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=5.0, jitter=0.0)
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        transport=emulator.transport(),
        base_url="http://gateway.test",
        retry=policy,
        clock=clock.wall_time,
    ) as client:
        [result] = await client.send("Hi", to="27820000001")
    assert result.state is DeliveryState.ACCEPTED
    assert slept.slept == [0.5, 1.0, 2.0]
    assert emulator.statistics().messages == 1


# -- bulk runs ------------------------------------------------------------------------------------


class _Watch(httpx.AsyncBaseTransport):
    """The emulator's transport, noting on the run's clock when each sendmsg left."""

    def __init__(self, emulator: GatewayEmulator, clock: VirtualClock) -> None:
        self._inner = emulator.transport()
        self._clock = clock
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/sendmsg"):
            self.sent.append(self._clock.current_time())
        return await self._inner.handle_async_request(request)


async def _bulk(
    skew: float, limit_for: int, messages: list[Message]
) -> tuple[list[BulkResult], GatewayEmulator, _Watch, BulkRun]:
    """A run on a virtual clock whose wall time is ``skew`` off the gateway's; the gateway
    refuses sends with 130 for its first ``limit_for`` seconds."""
    run_clock = VirtualClock(wall_start=GATEWAY_NOW + skew)
    emulator = GatewayEmulator(
        clock=lambda: run_clock.wall_time() - skew,
        faults=Faults(err130_until=GATEWAY_NOW + limit_for),
    )
    watch = _Watch(emulator, run_clock)
    client = AsyncClient(
        1234,
        "demo",
        "demo",
        transport=watch,
        base_url="http://gateway.test",
        retry=RetryPolicy.testing(),
        clock=run_clock.wall_time,
    )
    async with client:
        run = send_bulk(client, messages, rate=None, concurrency=1, clock=run_clock)
        async with run:
            results = [result async for result in run]
    return results, emulator, watch, run


@pytest.mark.parametrize("skew", [-HOUR, HOUR])
async def test_a_skewed_bulk_run_pauses_the_gateways_two_seconds(skew: float) -> None:
    messages = [Message(f"2782000{i:04d}", f"Hello {i}") for i in range(5)]
    results, emulator, watch, run = await _bulk(skew, 2, messages)
    assert len(results) == 5 and all(r.state is DeliveryState.ACCEPTED for r in results)
    stats = emulator.statistics()
    assert stats.faults["err130"] == 1 and stats.requests_by_command["sendmsg"] == 6
    assert stats.messages == 5 and emulator.recorder.duplicates() == {}
    # Refused at 0, the pool resumed 2 s later by the gateway's clock, not 0 s or an hour.
    assert watch.sent == [0.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert run.report().accepted == 5


async def test_a_bulk_pause_beyond_the_bound_rejects_with_130() -> None:
    messages = [Message(f"2782000{i:04d}", "Hello all") for i in range(4)]  # one request
    results, emulator, watch, run = await _bulk(HOUR, 3600, messages)
    assert [r.error_code for r in results] == [E130] * 4
    assert all(
        (r.error_description or "").startswith(
            "not waited out: 3600 s by the gateway's clock is beyond throttle_max_wait=300 s"
        )
        for r in results
    )
    stats = emulator.statistics()
    assert stats.faults["err130"] == 1 and stats.requests_by_command["sendmsg"] == 1
    assert watch.sent == [0.0] and stats.messages == 0
    assert run.report().failed_by_code == {130: 4}
