"""The one clock interface of asms: :class:`Clock`, the real :class:`SystemClock` and the
virtual :class:`VirtualClock` for tests.

A clock has two readings. ``current_time()`` is the time on the clock's own scale, the one
``sleep_until`` deadlines are given in; for the real clock it is the event loop's monotonic
clock, which does not jump when someone sets the system time. ``wall_time()`` is unix time
now, for everything that meets the outside world: gateway timestamps (``ERR 130``'s),
journal rows, the emulated gateway's message times. To sleep for a duration::

    await clock.sleep_until(clock.current_time() + seconds)

The rate limiter and bulk runs keep their schedule on ``current_time``; the emulator
(:mod:`asms.testing`) plays a gateway whose times are unix times and reads ``wall_time``;
its ``FakeClock`` and ``ScaledClock`` implement the same protocol.
"""

from __future__ import annotations

import heapq
import itertools
import time
from asyncio import _get_running_loop
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

import anyio
import anyio.lowlevel

sniffio: Any
try:
    import sniffio
except ModuleNotFoundError:  # pragma: no cover - anyio does without it, and so do we
    sniffio = None

__all__ = ["Clock", "MICROSECONDS", "SystemClock", "VirtualClock"]

MICROSECONDS: Final = 1_000_000
"""Microseconds in a second (Redis's clock, in the scripts of the distributed mode, counts them)."""


@runtime_checkable
class Clock(Protocol):
    """What the rate limiter, bulk runs and the emulator need from a clock."""

    def current_time(self) -> float:
        """Seconds on this clock's own scale (monotonic; the origin is arbitrary)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until :meth:`current_time` reaches ``deadline``."""
        ...

    def wall_time(self) -> float:
        """Unix time now (to convert gateway timestamps, e.g. ERR 130's, to this clock)."""
        ...


def _asyncio_current() -> bool:
    """Whether anyio would take the running asyncio loop for the current library: sniffio
    says "asyncio" too unless an override names another (trio-asyncio, say); ``anyio.run``
    names asyncio itself."""
    return sniffio is None or (
        sniffio.thread_local.name in (None, "asyncio")
        and sniffio.current_async_library_cvar.get() in (None, "asyncio")
    )


class SystemClock:
    """Real time: anyio's event-loop clock for scheduling, ``time.time`` for the wall.

    :meth:`current_time` and :meth:`sleep_until` need a running event loop;
    :meth:`wall_time` works anywhere.
    """

    __slots__ = ()

    def current_time(self) -> float:
        """The event loop's monotonic clock (``anyio.current_time``)."""
        # anyio.current_time() sniffs the running library on every call, and a bulk run
        # reads the clock for every request. On asyncio it is the loop's own time; sniffio
        # would say "asyncio" too unless an override is set (trio-asyncio, say).
        loop = _get_running_loop()
        if loop is not None and _asyncio_current():
            return loop.time()
        return anyio.current_time()

    def reader(self) -> Callable[[], float]:
        """:meth:`current_time` as a function for the event loop running now: the loop's
        own ``time`` on asyncio, for a caller that reads the clock for every request."""
        loop = _get_running_loop()
        if loop is not None and _asyncio_current():
            return loop.time
        return self.current_time

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until :meth:`current_time` reaches ``deadline`` (``anyio.sleep_until``)."""
        await anyio.sleep_until(deadline)

    def wall_time(self) -> float:
        """Unix time now (``time.time``)."""
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
    A campaign paced over minutes therefore runs in the time its code takes.

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
        """Virtual seconds since ``start``'s origin."""
        return self._now

    def wall_time(self) -> float:
        """``wall_start`` plus the virtual seconds elapsed since ``start``."""
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
        """Sleep until virtual time reaches ``deadline`` (at once if it has)."""
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
    # anyio's own helper sleeps a slice of real time whenever a task is runnable, which
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
