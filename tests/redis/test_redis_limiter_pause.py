"""An ERR 130 pause told to one RedisRateLimiter reaches Redis at once (the limiter's own task
writes it), so every process of the account stops now, not when that limiter next books.

Two limiter objects stand for two processes (each has its own connection). The pause and the
bookings are compared on Redis's clock, from the scripts' replies.
"""

from __future__ import annotations

import dataclasses
import time

import anyio
import pytest
from helpers.redis_bookings import US, Recorder

import asms
from asms import AsyncClient, RetryPolicy
from asms.testing import Faults, GatewayEmulator

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("never_late")]


def pauses(recorder: Recorder) -> list[tuple[int, int]]:
    """The pause script's replies: (pause stored, Redis's now), µs."""
    return [(int(r[0]), int(r[1])) for name, _, r, _ in recorder.calls if name == "pause"]


async def test_a_pause_reaches_redis_before_the_limiter_books_again(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with (
        asms.RedisRateLimiter(redis_url, account, rate=100.0) as told,
        asms.RedisRateLimiter(redis_url, account, rate=100.0) as other,
    ):
        told.pause_for(2.0)  # and books nothing
        with anyio.fail_after(10):
            await recorder.until(lambda: bool(pauses(recorder)))
        assert told.statistics().paused_until is not None
        started = other.clock.current_time()
        granted = await other.acquire()
        waited = other.clock.current_time() - started
    [(pause, written)] = pauses(recorder)
    [booking] = recorder.granted()  # the other's: the told limiter never booked
    assert 1_500_000 <= pause - written <= 2_000_000  # 2 s from when it was told
    assert booking.due >= pause  # held until the pause's end, on Redis's clock
    assert booking.wait >= 1_500_000
    assert waited >= booking.wait / US - 0.01 and granted >= started + booking.wait / US
    assert told.statistics().tokens_granted == 0 and other.statistics().tokens_granted == 1


async def test_only_a_longer_pause_is_written_again(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with asms.RedisRateLimiter(redis_url, account, rate=100.0) as limiter:
        limiter.pause_for(1.0)
        with anyio.fail_after(10):
            await recorder.until(lambda: len(pauses(recorder)) == 1)
        limiter.pause_for(0.5)  # ends earlier: nothing new to share
        limiter.pause_for(3.0)
        with anyio.fail_after(10):
            await recorder.until(lambda: len(pauses(recorder)) == 2)
        limiter.pause_for(2.0)
        await limiter.acquire()  # after the longest pause
    (first, _), (second, written) = pauses(recorder)
    assert second > first and second - written <= 3_000_000
    [booking] = recorder.granted()
    assert booking.due >= second
    assert len(pauses(recorder)) == 2


async def test_a_pause_told_before_the_limiter_opens_is_shared_when_it_does(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    limiter = asms.RedisRateLimiter(redis_url, account, rate=100.0)
    async with anyio.create_task_group():  # the clock needs a running loop
        limiter.pause_for(1.5)
    async with limiter, asms.RedisRateLimiter(redis_url, account, rate=100.0) as other:
        with anyio.fail_after(10):
            await recorder.until(lambda: bool(pauses(recorder)))
        await other.acquire()
    [(pause, _)] = pauses(recorder)
    [booking] = recorder.granted()
    assert booking.due >= pause


def client_for(emulator: GatewayEmulator, limiter: asms.Limiter) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        transport=emulator.transport(),
        base_url="http://gateway.test",
        retry=dataclasses.replace(RetryPolicy.testing(), throttle_max_wait=10.0),
        limiter=limiter,
    )


async def test_err_130_met_by_a_plain_client_holds_another_process_at_once(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    until = int(time.time()) + 3  # at least two whole seconds of refusals, even when loaded
    throttled = GatewayEmulator(faults=Faults(err130_until=until))
    other = GatewayEmulator()  # the same account, reached by another process

    async def first() -> None:
        async with (
            asms.RedisRateLimiter(redis_url, account, rate=200.0) as limiter,
            client_for(throttled, limiter) as client,
        ):
            # Meets ERR 130 and waits the pause out itself before sending again.
            [result] = await client.send("hello", "27831000001")
            assert result.ok

    async def second() -> None:
        async with (
            asms.RedisRateLimiter(redis_url, account, rate=200.0) as limiter,
            client_for(other, limiter) as client,
        ):
            [result] = await client.send("hello", "27831000002")
            assert result.ok

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await recorder.until(lambda: bool(pauses(recorder)))
            tg.start_soon(second)
    assert throttled.statistics().faults["err130"] == 1
    assert [m.time >= until for m in throttled.recorder.messages] == [True]
    assert [m.time >= until for m in other.recorder.messages] == [True]
    refused, held, retried = recorder.bookings()
    # The other process booked while the throttled one was still waiting: it learnt of the
    # pause from Redis at once, not from a reservation made after it.
    assert held.connection != refused.connection == retried.connection
    [(pause, _)] = pauses(recorder)
    assert held.due >= pause and retried.due >= pause
