"""A caller that wakes too late for its slot takes a new one (at most a few times), so that a
busy process's late request cannot bunch up with another's on-time one."""

from __future__ import annotations

import anyio
import pytest
from helpers.redis_bookings import Recorder

import asms
from asms._clock import SystemClock

pytestmark = pytest.mark.anyio


class LateClock(SystemClock):
    """Wakes ``late`` seconds after every deadline, as a busy process does."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    async def sleep_until(self, deadline: float) -> None:
        await super().sleep_until(deadline + self.late)


async def booked_for_one(redis_url: str, account: str, late: float, recorder: Recorder) -> int:
    async with asms.RedisRateLimiter(redis_url, account, rate=100.0) as limiter:
        limiter._clock = LateClock(late)
        await limiter.acquire()  # the first slot is due at once: nothing to be late for
        before = len(recorder.bookings())
        await limiter.acquire()
        return len(recorder.bookings()) - before


async def test_a_grant_woken_too_late_is_booked_again(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    # Late by two intervals: its slot goes back, and the new one is due at once (nobody
    # booked after it), so nothing is late any more.
    assert await booked_for_one(redis_url, account, 0.02, recorder) == 2


async def test_a_grant_woken_a_little_late_is_taken(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    assert await booked_for_one(redis_url, account, 0.001, recorder) == 1


async def test_the_slots_of_a_late_caller_go_back_when_nobody_booked_after(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with asms.RedisRateLimiter(redis_url, account, rate=100.0) as limiter:
        limiter._clock = LateClock(0.02)
        await limiter.acquire()
        await limiter.acquire()
    releases = [reply for name, _, reply, _ in recorder.calls if name == "release"]
    assert releases == [1]


async def test_a_caller_always_late_takes_its_slot_after_a_few_tries(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with (
        asms.RedisRateLimiter(redis_url, account, rate=100.0) as limiter,
        asms.RedisRateLimiter(redis_url, account, rate=100.0) as other,
    ):
        limiter._clock = LateClock(0.05)

        async def crowd() -> None:
            # Another process books a slot after each of ours, so ours never go back.
            while True:
                await other.acquire()

        async with anyio.create_task_group() as tg:
            tg.start_soon(crowd)
            await anyio.sleep(0.05)
            mine = sum(1 for b in recorder.bookings() if b.connection == id(limiter._redis))
            await limiter.acquire()
            tg.cancel_scope.cancel()
        booked = sum(1 for b in recorder.bookings() if b.connection == id(limiter._redis))
    assert booked - mine == 4  # the first booking and three more, then it is taken
