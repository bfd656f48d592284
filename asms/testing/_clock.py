"""Clocks the emulator (and its callback sender) run on: real, fake and sped-up.

Every clock has ``time()`` (unix seconds) plus ``sleep``/``sleep_until`` in its own time, so
the callback retry schedule (minutes to days) can run on a fake clock in tests, or 60 times
faster than real time in a demo.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel

__all__ = ["Clock", "FakeClock", "ScaledClock", "SystemClock", "as_clock"]


@runtime_checkable
class Clock(Protocol):
    """What the emulator needs from a clock."""

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, deadline: float) -> None: ...


class SystemClock:
    """Real time (``time.time``); sleeping is ``anyio.sleep``."""

    __slots__ = ()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - time.time()))

    def __repr__(self) -> str:
        return "SystemClock()"


class ScaledClock:
    """Real time running ``speed`` times faster, starting at ``start`` (default: now)."""

    __slots__ = ("_origin", "_speed", "_start")

    def __init__(self, speed: float, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self._speed = float(speed)
        self._origin = time.monotonic()
        self._start = time.time() if start is None else float(start)

    @property
    def speed(self) -> float:
        return self._speed

    def time(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self._speed

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds) / self._speed)

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - self.time()) / self._speed)

    def __repr__(self) -> str:
        return f"ScaledClock(speed={self._speed:g})"


class FakeClock:
    """A clock that moves only when told to: ``advance(seconds)`` or ``set(time)``.

    Listeners registered with ``subscribe`` run synchronously on every move (the emulator
    uses this to emit status changes); tasks in ``sleep``/``sleep_until`` wake up once the
    clock reaches their deadline. Not thread-safe: move it from one thread.
    """

    __slots__ = ("_listeners", "_now", "_waiters")

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._listeners: list[Callable[[float], None]] = []
        self._waiters: list[tuple[float, anyio.Event]] = []

    def time(self) -> float:
        return self._now

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (not negative); return the new time."""
        if not seconds >= 0 or math.isinf(seconds):
            raise ValueError("a fake clock only moves forward by a finite amount")
        return self.set(self._now + seconds)

    def set(self, when: float) -> float:
        """Move forward to ``when``; moving backwards is refused."""
        if when < self._now:
            raise ValueError("a fake clock does not move backwards")
        self._now = float(when)
        for listener in tuple(self._listeners):
            listener(self._now)
        if self._waiters:
            due = [w for w in self._waiters if w[0] <= self._now]
            if due:
                self._waiters = [w for w in self._waiters if w[0] > self._now]
                for _, event in due:
                    event.set()
        return self._now

    def subscribe(self, listener: Callable[[float], None]) -> Callable[[], None]:
        """Call ``listener(now)`` after every move; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + max(0.0, seconds))

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        self._waiters.append((deadline, event))
        await event.wait()

    def __repr__(self) -> str:
        return f"FakeClock(time={self._now!r})"


def as_clock(clock: Clock | Callable[[], float] | None) -> Clock:
    """Accept a clock object, a bare ``time()``-like function, or None (real time)."""
    if clock is None:
        return SystemClock()
    if isinstance(clock, Clock):
        return clock
    if callable(clock):
        return _FunctionClock(clock)
    raise TypeError("clock must be a Clock or a function returning unix time")


class _FunctionClock:
    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[], float]) -> None:
        self._fn = fn

    def time(self) -> float:
        return self._fn()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - self._fn()))
