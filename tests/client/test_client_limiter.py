"""AsyncClient(limiter=...): every request carrying messages waits for its recipients' slots.

The gateway's recorded times are on a :class:`VirtualClock` (the emulator's clock is its wall
time), so a paced send of minutes runs at once and the rate is checked exactly. The
Redis-shared limiter's case is in ``tests/redis/test_redis_client.py``.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Sequence

import anyio
import pytest

import asms
from asms import AsyncClient, Message, RateLimiter, RetryPolicy, ValidationError
from asms._clock import VirtualClock
from asms.testing import Faults, GatewayEmulator

pytestmark = pytest.mark.anyio


class CountingLimiter(RateLimiter):
    """A RateLimiter that notes the tokens of every ``acquire``."""

    def __init__(self, rate: float, **kwargs: object) -> None:
        super().__init__(rate, **kwargs)  # type: ignore[arg-type]
        self.acquired: list[int] = []

    async def acquire(self, tokens: int = 1) -> float:
        self.acquired.append(tokens)
        return await super().acquire(tokens)


def client_for(
    emulator: GatewayEmulator, limiter: asms.Limiter, clock: VirtualClock | None = None
) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        transport=emulator.transport(),
        base_url="http://gateway.test",
        retry=RetryPolicy.testing(),
        clock=None if clock is None else clock.wall_time,
        limiter=limiter,
    )


def assert_within_rate(times: Sequence[float], rate: float, burst: int) -> None:
    """No window [t, t + w] of the recorded times holds more than rate·w + burst (the times
    are unix seconds near 1.7e9: a float keeps them to about a microsecond)."""
    ordered = sorted(times)
    for i, start in enumerate(ordered):
        for j in range(i, len(ordered)):
            window = ordered[j] - start + 1e-6
            assert j - i + 1 <= rate * window + burst, (start, ordered[j], j - i + 1)


@pytest.mark.parametrize(("rate", "burst"), [(50.0, 1), (20.0, 5)])
async def test_single_sends_never_exceed_the_limiters_rate(rate: float, burst: int) -> None:
    clock = VirtualClock()
    emulator = GatewayEmulator(clock=clock.wall_time)
    limiter = CountingLimiter(rate, burst=burst, clock=clock)
    count = 120
    async with client_for(emulator, limiter, clock) as client, anyio.create_task_group() as tg:
        for i in range(count):
            tg.start_soon(client.send, f"hello {i}", f"2782000{i:04d}")
    times = [m.time for m in emulator.recorder.messages]
    assert len(times) == count
    assert_within_rate(times, rate, burst)
    # Not merely slower: the schedule is kept, the last one due at (count - burst) / rate.
    assert max(times) - min(times) == pytest.approx((count - burst) / rate)
    assert limiter.acquired == [1] * count
    assert limiter.statistics().tokens_granted == count


async def test_a_request_costs_its_recipients_and_a_split_send_each_request() -> None:
    clock = VirtualClock()
    emulator = GatewayEmulator(clock=clock.wall_time)
    limiter = CountingLimiter(1000.0, clock=clock)
    async with client_for(emulator, limiter, clock) as client:
        results = await client.send("to many", [f"2782100{i:04d}" for i in range(600)])
        assert len(results) == 600
        assert limiter.acquired == [600]  # one request of 600 costs 600
        results = await client.send("to more", [f"2782200{i:04d}" for i in range(1300)])
        assert len(results) == 1300
    assert sorted(limiter.acquired[1:]) == [100, 600, 600]  # three requests
    assert limiter.statistics().tokens_granted == 1900
    assert emulator.statistics().requests_by_command["sendmsg"] == 4


async def test_every_sending_command_takes_slots_and_queries_take_none() -> None:
    clock = VirtualClock()
    emulator = GatewayEmulator(clock=clock.wall_time)
    limiter = CountingLimiter(1000.0, clock=clock)
    async with client_for(emulator, limiter, clock) as client:
        [sent] = await client.send("one", "27823000001")
        await client.send_message(Message("27823000002", "two"))
        await client.send_request([Message(f"2782300001{i}", "three") for i in range(3)])
        await client.si_push("27823000003", si_id="1", si_url="http://x.test", si_text="si")
        await client.ind_push(
            "27823000004",
            mms_subject="Pic",
            mms_class=80,
            mms_expire=3600,
            mms_from="Shop",
            mms_url="http://x.test/m",
        )
        async with client.batch("Hi #field1#") as batch:
            await batch.send_item("27823000005", ["Ann"])
        assert limiter.acquired == [1, 1, 3, 1, 1, 1]
        assert sent.apimsgid is not None
        await client.query(sent.apimsgid)
        await client.query(climsgid=sent.climsgid)
        await client.balance()
        await client.charge(sent.apimsgid)
        await client.route_coverage("27823000001")
        await client.ping()
    assert limiter.acquired == [1, 1, 3, 1, 1, 1]  # no query took a slot


async def test_with_options_keeps_the_same_limiter() -> None:
    clock = VirtualClock()
    emulator = GatewayEmulator(clock=clock.wall_time)
    limiter = CountingLimiter(1000.0, clock=clock)
    async with client_for(emulator, limiter, clock) as client:
        copy = client.with_options(timeout=5.0, wire="soap")
        assert copy.limiter is limiter is client.limiter
        await copy.send("from the copy", "27824000001")
    assert limiter.acquired == [1]


def test_a_limiter_must_be_a_limiter() -> None:
    with pytest.raises(ValidationError, match=r"^limiter: "):
        AsyncClient(1234, "demo", "demo", limiter=100)  # type: ignore[arg-type]
    assert AsyncClient(1234, "demo", "demo").limiter is None


async def test_a_bulk_run_uses_the_clients_limiter_once_per_request() -> None:
    clock = VirtualClock()
    emulator = GatewayEmulator(clock=clock.wall_time)
    limiter = CountingLimiter(50.0, clock=clock)
    messages = [Message(f"2782500{i:04d}", f"text {i // 10}") for i in range(60)]
    async with client_for(emulator, limiter, clock) as client:
        async with client.send_bulk(messages, clock=clock) as run:
            assert run.limiter is limiter
            report = await run.finish()
    assert report.accepted == 60
    assert limiter.acquired == [10] * 6  # one acquire per request, by the run only
    assert limiter.statistics().tokens_granted == 60
    assert emulator.statistics().requests_by_command["sendmsg"] == 6
    # A request goes when its last recipient's slot is due: 10 recipients, 0.2 s apart.
    sent = sorted({round(m.time, 6) for m in emulator.recorder.messages})
    assert [round(b - a, 6) for a, b in itertools.pairwise(sent)] == [0.2] * 5


@pytest.mark.parametrize("run_rate", [1000.0, None])
async def test_a_bulk_run_with_its_own_rate_still_waits_for_the_clients_limiter(
    run_rate: float | None,
) -> None:
    clock = VirtualClock()
    emulator = GatewayEmulator(clock=clock.wall_time)
    limiter = CountingLimiter(20.0, clock=clock)
    messages = [Message(f"2782600{i:04d}", f"text {i}") for i in range(40)]
    async with client_for(emulator, limiter, clock) as client:
        async with client.send_bulk(messages, rate=run_rate, clock=clock) as run:
            assert run.limiter is not limiter
            report = await run.finish()
    assert report.accepted == 40
    assert limiter.acquired == [1] * 40  # once per request, although two limiters apply
    assert run.limiter.statistics().tokens_granted == 40
    times = [m.time for m in emulator.recorder.messages]
    assert_within_rate(times, 20.0, 1)  # the client's (slower) limit holds
    assert max(times) - min(times) == pytest.approx(39 / 20.0)


async def test_a_bulk_run_with_its_own_limiter_takes_slots_of_both() -> None:
    clock = VirtualClock()
    emulator = GatewayEmulator(clock=clock.wall_time)
    account = CountingLimiter(1000.0, clock=clock)
    own = CountingLimiter(10.0, clock=clock)
    messages = [Message(f"2782700{i:04d}", "same") for i in range(5)] + [
        Message(f"2782701{i:04d}", f"other {i}") for i in range(3)
    ]
    async with client_for(emulator, account, clock) as client:
        async with client.send_bulk(messages, limiter=own, clock=clock) as run:
            assert run.limiter is own
            report = await run.finish()
    assert report.accepted == 8
    assert own.acquired == account.acquired == [5, 1, 1, 1]


async def test_err_130_pauses_the_clients_limiter_until_the_time_named() -> None:
    until = int(time.time()) + 5
    emulator = GatewayEmulator(faults=Faults(err130_until=until))
    limiter = RateLimiter(100.0)
    bounded = RetryPolicy.testing()  # throttle_max_wait=0: no pause is waited out
    retry = dataclasses.replace(bounded, throttle_max_wait=10.0)
    hello = [Message("27828000001", "hi")]
    async with AsyncClient(
        1234, "demo", "demo", transport=emulator.transport(), retry=bounded, limiter=limiter
    ) as client:
        [result] = await client.send_request(hello, wait_throttled=False)
        assert result.error_code == 130
        assert limiter.statistics().paused_until is None  # beyond the bound: no pause
    async with AsyncClient(
        1234, "demo", "demo", transport=emulator.transport(), retry=retry, limiter=limiter
    ) as client:
        [result] = await client.send_request(hello, wait_throttled=False)
        assert result.error_code == 130
        paused = limiter.statistics().paused_until
        assert paused is not None
        # The gateway's time, on the limiter's clock (the Date header has whole seconds).
        left = paused - limiter.clock.current_time()
        assert until - time.time() - 1.5 <= left <= until - time.time() + 1.0
        # A client sharing the limiter, talking to another gateway, waits for it too.
        other = GatewayEmulator()
        async with AsyncClient(
            1234, "demo", "demo", transport=other.transport(), retry=retry, limiter=limiter
        ) as second:
            with anyio.move_on_after(0.3) as scope:
                await second.send("held", "27828000002")
            assert scope.cancelled_caught
    assert other.recorder.messages == []
