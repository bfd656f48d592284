"""A drift-free rate limiter (GCRA on an absolute schedule) and the clocks it runs on.

The limiter hands out *slots*: the n-th token's earliest send time is ``start + n / rate``,
kept as a theoretical arrival time (TAT) that only ever moves forward by exactly one interval
per token. Sleeping until an absolute slot (rather than sleeping an interval after each send)
is what keeps the achieved rate from drifting below the target. ``burst`` tokens may go at
once after an idle period, never more; the first call does not get a start-up burst either
(unlike a token bucket that starts full).

Clocks are injectable: :class:`SystemClock` is anyio's monotonic clock, :class:`VirtualClock`
is virtual time for tests (it jumps forward when every other task is blocked, so a 100 s
campaign runs in well under a second and every sleeper wakes in deadline order).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel

__all__ = [
    "Clock",
    "VirtualClock",
    "RateLimiter",
    "RateLimiterStatistics",
    "SystemClock",
]


@runtime_checkable
class Clock(Protocol):
    """What the limiter and the bulk sender need from a clock."""

    def current_time(self) -> float:
        """Monotonic seconds (the origin is arbitrary)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until :meth:`current_time` reaches ``deadline``."""
        ...

    def wall_time(self) -> float:
        """Unix time now (to convert gateway timestamps, e.g. ERR 130's, to this clock)."""
        ...


class SystemClock:
    """anyio's event-loop clock (``anyio.current_time``)."""

    __slots__ = ()

    def current_time(self) -> float:
        return anyio.current_time()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep_until(deadline)

    def wall_time(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


@dataclass(eq=False, slots=True)
class _Sleeper:
    deadline: float
    seq: int
    event: anyio.Event = field(default_factory=anyio.Event)
    woken: bool = False  # the clock reached the deadline and released this sleeper
    cancelled: bool = False

    def __lt__(self, other: _Sleeper) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class VirtualClock:
    """Virtual time for tests: sleeping costs no real time.

    Time advances only while every other task of the event loop is blocked, and then only to
    the earliest pending deadline, so sleepers wake one by one in deadline order and each
    sees ``current_time()`` equal to the deadline it asked for. One of the sleepers drives
    the clock (there is no background task to start); when it wakes, it hands the role on.

    Anything blocked outside the event loop (a worker thread, real sockets) counts as
    blocked: virtual time may pass while it works.
    """

    def __init__(self, start: float = 0.0, *, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = wall_start - self._now
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self._driver: _Sleeper | None = None

    def current_time(self) -> float:
        return self._now

    def wall_time(self) -> float:
        return self._now + self._wall_offset

    @property
    def sleepers(self) -> int:
        """Tasks sleeping on this clock."""
        return sum(1 for s in self._sleepers if not s.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, releasing every sleeper that becomes due."""
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        self._now += seconds
        while self._sleepers and (
            self._sleepers[0].cancelled or self._sleepers[0].deadline <= self._now
        ):
            sleeper = heapq.heappop(self._sleepers)
            if not sleeper.cancelled:
                sleeper.woken = True
                sleeper.event.set()

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        me = _Sleeper(deadline, next(self._seq))
        heapq.heappush(self._sleepers, me)
        try:
            while not me.woken:
                if self._driver is None:
                    self._driver = me
                    try:
                        await self._drive(me)
                    finally:
                        self._driver = None
                        me.cancelled = not me.woken
                        self._hand_over()
                    return
                await me.event.wait()
                if not me.woken:
                    # Poked by a departing driver: take over the driving.
                    me.event = anyio.Event()
        finally:
            if not me.woken:
                me.cancelled = True
                if self._driver is None:
                    self._hand_over()  # we may have been poked to drive: pass it on

    async def _drive(self, me: _Sleeper) -> None:
        while True:
            await _wait_others_blocked()
            while self._sleepers[0].cancelled:
                heapq.heappop(self._sleepers)
            nxt = heapq.heappop(self._sleepers)  # never empty: ``me`` is still in it
            self._now = max(self._now, nxt.deadline)
            nxt.woken = True
            if nxt is me:
                return
            nxt.event.set()

    def _hand_over(self) -> None:
        while self._sleepers and self._sleepers[0].cancelled:
            heapq.heappop(self._sleepers)
        if self._sleepers:
            self._sleepers[0].event.set()

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r}, sleepers={len(self._sleepers)})"


async def _wait_others_blocked() -> None:
    """Return once every other task of this event loop waits for something."""
    import asyncio  # only to inspect asyncio's tasks; trio answers this natively

    try:
        this_task = asyncio.current_task()
    except RuntimeError:
        this_task = None
    if this_task is None:
        await anyio.wait_all_tasks_blocked()
        return
    # anyio's own helper sleeps 100 ms of real time whenever a task is runnable, which
    # would make a long fake-clock run slow; yielding to the loop is enough.
    while True:
        await anyio.lowlevel.checkpoint()
        for task in asyncio.all_tasks():
            if task is this_task:
                continue
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is None or waiter.done():
                break
        else:
            return


@dataclass(frozen=True, slots=True)
class RateLimiterStatistics:
    """A snapshot of a :class:`RateLimiter`."""

    rate: float
    burst: int
    tokens_granted: int
    tasks_waiting: int
    next_slot: float | None
    paused_until: float | None


class RateLimiter:
    """GCRA limiter: ``rate`` tokens per second with a tolerance of ``burst`` tokens.

    ``await acquire(k)`` reserves ``k`` consecutive slots and returns at the *last* one, so
    a request for ``k`` recipients counts ``k`` against the rate and goes out when the
    schedule allows its k-th recipient. Reservations are made without awaiting, so any
    number of concurrent callers get disjoint slots in call order. ``rate=math.inf`` grants
    everything at once (pauses still apply).
    """

    def __init__(self, rate: float, *, burst: int = 1, clock: Clock | None = None) -> None:
        if not (isinstance(rate, int | float) and rate > 0) or math.isnan(rate):
            raise ValueError("rate must be a positive number of tokens per second")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError("burst must be a positive integer")
        self._rate = float(rate)
        self._burst = burst
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._interval = 0.0 if math.isinf(rate) else 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._tat: float | None = None
        self._paused_until = -math.inf
        self._granted = 0
        self._waiting = 0

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def clock(self) -> Clock:
        return self._clock

    async def acquire(self, tokens: int = 1) -> float:
        """Wait for ``tokens`` slots; return the clock time the last of them was due."""
        if tokens < 1:
            raise ValueError("tokens must be at least 1")
        clock = self._clock
        while True:
            now = clock.current_time()
            previous = self._tat
            start = max(now, self._paused_until, -math.inf if previous is None else previous)
            due = start + (tokens - 1) * self._interval - self._tolerance
            due = max(due, now, self._paused_until)
            reserved = start + tokens * self._interval
            self._tat = reserved
            self._waiting += 1
            try:
                if due > now:
                    await clock.sleep_until(due)
                else:
                    await anyio.lowlevel.checkpoint()
            except BaseException:
                # Give the slots back if nobody reserved after us.
                if self._tat == reserved:
                    self._tat = previous
                raise
            finally:
                self._waiting -= 1
            if self._paused_until > due:
                continue  # a pause began while we waited and covers our slot: book again
            self._granted += tokens
            return due

    def try_acquire(self, tokens: int = 1) -> bool:
        """Take ``tokens`` slots if they are due now; never waits, books nothing otherwise."""
        if tokens < 1:
            raise ValueError("tokens must be at least 1")
        now = self._clock.current_time()
        previous = self._tat
        start = max(now, self._paused_until, -math.inf if previous is None else previous)
        due = max(start + (tokens - 1) * self._interval - self._tolerance, self._paused_until)
        if due > now:
            return False
        self._tat = start + tokens * self._interval
        self._granted += tokens
        return True

    def pause_until(self, deadline: float) -> None:
        """Grant nothing before ``deadline`` (clock time), e.g. after ``ERR 130``."""
        if deadline > self._paused_until:
            self._paused_until = deadline

    def pause_for(self, seconds: float) -> None:
        self.pause_until(self._clock.current_time() + max(0.0, seconds))

    def statistics(self) -> RateLimiterStatistics:
        now = self._clock.current_time()
        return RateLimiterStatistics(
            rate=self._rate,
            burst=self._burst,
            tokens_granted=self._granted,
            tasks_waiting=self._waiting,
            next_slot=self._tat,
            paused_until=self._paused_until if self._paused_until > now else None,
        )

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self._rate!r}, burst={self._burst!r})"
