"""The GCRA rate limiter and the fake clock it is tested on."""

from __future__ import annotations

import math

import anyio
import pytest
from helpers.bulk_runs import max_in_window

from asms._bulk.ratelimit import RateLimiter
from asms._clock import Clock, SystemClock, VirtualClock

pytestmark = pytest.mark.anyio


# -- VirtualClock -------------------------------------------------------------------------------


async def test_fake_clock_jumps_to_deadline() -> None:
    clock = VirtualClock(start=5.0)
    await clock.sleep_until(12.5)
    assert clock.current_time() == 12.5
    await clock.sleep_until(3.0)  # in the past: returns at once
    assert clock.current_time() == 12.5


async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, deadline: float) -> None:
        await clock.sleep_until(deadline)
        woke.append((name, clock.current_time()))

    async with anyio.create_task_group() as tg:
        for name, deadline in [("c", 3.0), ("a", 1.0), ("d", 3.0), ("b", 2.0)]:
            tg.start_soon(sleeper, name, deadline)
    assert [time for _, time in woke] == [1.0, 2.0, 3.0, 3.0]
    assert [name for name, _ in woke[:2]] == ["a", "b"]  # equal deadlines: either order


async def test_fake_clock_waits_for_runnable_tasks_before_advancing() -> None:
    clock = VirtualClock()
    seen: list[float] = []

    async def busy() -> None:
        # Runnable work (no clock sleeps) must all happen at time 0.
        for _ in range(50):
            seen.append(clock.current_time())
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.sleep_until, 10.0)
        tg.start_soon(busy)
    assert seen == [0.0] * 50
    assert clock.current_time() == 10.0


async def test_fake_clock_survives_a_cancelled_driver() -> None:
    clock = VirtualClock()
    order: list[str] = []
    scope = anyio.CancelScope()

    async def cancelled_sleeper() -> None:
        with scope:
            await clock.sleep_until(100.0)
        order.append("cancelled")

    async def sleeper() -> None:
        await clock.sleep_until(5.0)
        order.append(f"woke at {clock.current_time()}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancelled_sleeper)
        while clock.sleepers < 1:  # it registers first, so it drives the clock
            await anyio.lowlevel.checkpoint()
        tg.start_soon(sleeper)
        while clock.sleepers < 2:
            await anyio.lowlevel.checkpoint()
        scope.cancel()
    assert order == ["cancelled", "woke at 5.0"]
    assert clock.current_time() == 5.0


async def test_fake_clock_manual_advance() -> None:
    clock = VirtualClock(wall_start=1_000.0)
    assert clock.wall_time() == 1_000.0
    clock.advance(2.5)
    assert clock.current_time() == 2.5
    assert clock.wall_time() == 1_002.5
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_clocks_satisfy_the_protocol() -> None:
    assert isinstance(VirtualClock(), Clock)
    assert isinstance(SystemClock(), Clock)


async def test_system_clock_follows_anyio() -> None:
    clock = SystemClock()
    before = anyio.current_time()
    await clock.sleep_until(clock.current_time())
    assert clock.current_time() >= before
    assert clock.wall_time() > 1_600_000_000


# -- RateLimiter -----------------------------------------------------------------------------


async def test_schedule_has_no_start_up_burst() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(10.0, clock=clock)
    times = [await limiter.acquire() for _ in range(5)]
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


async def test_burst_allows_that_many_at_once_then_the_rate() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(10.0, burst=3, clock=clock)
    times = [await limiter.acquire() for _ in range(6)]
    assert times == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])


async def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(10.0, burst=2, clock=clock)
    await limiter.acquire()
    await clock.sleep_until(100.0)
    times = [await limiter.acquire() for _ in range(4)]
    assert times == pytest.approx([100.0, 100.0, 100.1, 100.2])


async def test_multi_token_request_waits_for_its_last_token() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(100.0, clock=clock)
    first = await limiter.acquire(600)  # 600 recipients: the 600th slot is at 5.99 s
    second = await limiter.acquire(1)
    assert first == pytest.approx(5.99)
    assert second == pytest.approx(6.00)
    assert limiter.statistics().tokens_granted == 601


async def test_no_drift_when_the_caller_is_slow_but_keeps_up() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(100.0, clock=clock)
    times = []
    for _ in range(1000):
        times.append(await limiter.acquire())
        await clock.sleep_until(clock.current_time() + 0.004)  # work shorter than a slot
    assert times[-1] == pytest.approx(9.99)


async def test_concurrent_callers_get_disjoint_slots() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(100.0, clock=clock)
    granted: list[float] = []

    async def caller() -> None:
        for _ in range(50):
            await limiter.acquire()
            granted.append(clock.current_time())

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(caller)
    assert len(granted) == 400
    assert max(granted) == pytest.approx(3.99)
    assert max_in_window(granted, 1.0) <= 101
    assert max_in_window(granted, 0.1) <= 11
    assert granted == sorted(granted)


async def test_pause_until_holds_every_caller() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(10.0, clock=clock)
    granted: list[float] = []

    async def caller() -> None:
        for _ in range(3):
            granted.append(await limiter.acquire())

    assert await limiter.acquire() == 0.0
    limiter.pause_until(50.0)
    assert limiter.statistics().paused_until == 50.0
    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        tg.start_soon(caller)
    assert min(granted) == pytest.approx(50.0)
    assert sorted(granted) == pytest.approx([50.0, 50.1, 50.2, 50.3, 50.4, 50.5])


async def test_pause_arriving_while_waiting_moves_the_slot() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(1.0, clock=clock)
    await limiter.acquire()
    results: list[float] = []

    async def waiter() -> None:
        results.append(await limiter.acquire())  # booked for t=1

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        while not limiter.statistics().tasks_waiting:
            await anyio.lowlevel.checkpoint()
        limiter.pause_for(30.0)
    assert results == [pytest.approx(30.0)]


async def test_cancelled_reservation_is_given_back() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(1.0, clock=clock)
    await limiter.acquire()
    async with anyio.create_task_group() as tg:
        tg.start_soon(limiter.acquire, 1000)
        while not limiter.statistics().tasks_waiting:  # it books slots 1..1000 and sleeps
            await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    assert clock.current_time() == 0.0
    assert await limiter.acquire() == pytest.approx(1.0)


async def test_unlimited_rate_grants_at_once_but_honours_pauses() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(math.inf, clock=clock)
    assert [await limiter.acquire(600) for _ in range(3)] == [0.0, 0.0, 0.0]
    limiter.pause_for(7.0)
    assert await limiter.acquire() == 7.0


@pytest.mark.parametrize("rate", [0, -1.0, math.nan])
def test_invalid_rate(rate: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate)


@pytest.mark.parametrize("burst", [0, -2, True, 1.5])
def test_invalid_burst(burst: object) -> None:
    with pytest.raises(ValueError):
        RateLimiter(10.0, burst=burst)  # type: ignore[arg-type]


async def test_invalid_token_count() -> None:
    with pytest.raises(ValueError):
        await RateLimiter(10.0, clock=VirtualClock()).acquire(0)


async def test_statistics_and_repr() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(4.0, burst=2, clock=clock)
    await limiter.acquire(3)
    stats = limiter.statistics()
    assert stats.rate == 4.0 and stats.burst == 2
    assert stats.tokens_granted == 3
    assert stats.tasks_waiting == 0
    assert stats.paused_until is None
    assert repr(limiter) == "RateLimiter(rate=4.0, burst=2)"
    assert limiter.clock is clock
