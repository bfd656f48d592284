"""The emulator's own clocks, on the one :class:`~asms.Clock` protocol: fake and sped-up.

The emulator plays a gateway whose times are unix times: it reads ``wall_time()``. On these
clocks ``current_time()`` and ``wall_time()`` are the same reading, so the callback retry
schedule (minutes to days) can run on a fake clock in tests, or many times faster than real
time in a demo. Real time is :class:`asms.SystemClock`.

``time()`` and ``sleep()``, the names these clocks had before there was one protocol, still
work for one release and warn (``wall_time()``; ``sleep_until(current_time() + seconds)``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import anyio
import anyio.lowlevel

from .._clock import Clock, SystemClock

__all__ = ["FakeClock", "ScaledClock", "as_clock"]


class _RenamedClockMethods:
    """``time()`` and ``sleep()``: the pre-protocol names, kept one release with a warning."""

    __slots__ = ()
    #: How the warnings name the clock: the name the user wrote, not a private class's.
    _shown_as = ""

    def time(self: Clock) -> float:
        """Deprecated: use :meth:`wall_time`."""
        warnings.warn(
            f"{_shown_name(self)}.time() is deprecated; use wall_time()",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.wall_time()

    async def sleep(self: Clock, seconds: float) -> None:
        """Deprecated: use ``await clock.sleep_until(clock.current_time() + seconds)``."""
        warnings.warn(
            f"{_shown_name(self)}.sleep() is deprecated; use sleep_until(current_time() + seconds)",
            DeprecationWarning,
            stacklevel=2,
        )
        await self.sleep_until(self.current_time() + max(0.0, seconds))


def _shown_name(clock: object) -> str:
    return getattr(type(clock), "_shown_as", "") or type(clock).__name__


class ScaledClock(_RenamedClockMethods):
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
        """How many seconds of this clock pass per real second."""
        return self._speed

    def current_time(self) -> float:
        """Unix seconds on this clock: ``start`` plus ``speed`` times the real time elapsed."""
        return self._start + (time.monotonic() - self._origin) * self._speed

    def wall_time(self) -> float:
        """The same reading as :meth:`current_time`."""
        return self._start + (time.monotonic() - self._origin) * self._speed

    async def sleep_until(self, deadline: float) -> None:
        """Sleep (in real time, ``speed`` times shorter) until this clock reaches ``deadline``."""
        await anyio.sleep(max(0.0, deadline - self.current_time()) / self._speed)

    def __repr__(self) -> str:
        return f"ScaledClock(speed={self._speed:g})"


class FakeClock(_RenamedClockMethods):
    """A clock that moves only when told to: ``advance(seconds)`` or ``set(time)``.

    Listeners registered with ``subscribe`` run synchronously on every move (the emulator
    uses this to emit status changes); tasks in ``sleep_until`` wake up once the clock
    reaches their deadline. Calling the clock (``clock()``) reads it too, so it can stand
    where a time function is expected. Not thread-safe: move it from one thread.
    """

    __slots__ = ("_listeners", "_now", "_waiters")

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._listeners: list[Callable[[float], None]] = []
        self._waiters: list[tuple[float, anyio.Event]] = []

    def current_time(self) -> float:
        """The time the clock was last moved to (unix seconds)."""
        return self._now

    def wall_time(self) -> float:
        """The same reading as :meth:`current_time`."""
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

    async def sleep_until(self, deadline: float) -> None:
        """Wait until the clock is moved to ``deadline`` or beyond (at once if it is there)."""
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        self._waiters.append((deadline, event))
        await event.wait()

    def __repr__(self) -> str:
        return f"FakeClock(time={self._now!r})"


class UnixSystemClock(SystemClock, _RenamedClockMethods):
    """What ``asms.testing.SystemClock`` was: real time with every reading in unix time.

    The deprecated name ``asms.testing.SystemClock`` resolves to this class, so code written
    for it keeps its meaning: ``sleep_until`` takes a unix time here, where
    :class:`asms.SystemClock` takes the event loop's monotonic time.
    """

    __slots__ = ()
    _shown_as = "asms.testing.SystemClock"

    def current_time(self) -> float:
        """Unix time now (``time.time``)."""
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until unix time ``deadline``."""
        await anyio.sleep(max(0.0, deadline - time.time()))


class _DefaultClock(SystemClock, _RenamedClockMethods):
    """:class:`asms.SystemClock`, as the emulator runs on when given no clock.

    Every emulator clock had ``time()`` and ``sleep()``, the default one too
    (``emu.clock.time()``): they still work here for one release and warn.
    """

    __slots__ = ()
    _shown_as = "GatewayEmulator.clock"


def as_clock(clock: Clock | Callable[[], float] | None) -> Clock:
    """Accept a clock object, a bare ``time()``-like function, or None (real time)."""
    if clock is None:
        return _DefaultClock()
    if isinstance(clock, Clock):
        return clock
    if _has_old_clock_names(clock):
        warnings.warn(
            f"{type(clock).__name__} has time()/sleep_until() but not current_time()/"
            "wall_time(): implement asms.Clock (the old emulator clock protocol is deprecated)",
            DeprecationWarning,
            stacklevel=3,
        )
        return _OldProtocolClock(clock)
    if callable(clock):
        return _FunctionClock(clock)
    raise TypeError("clock must be a Clock or a function returning unix time")


def _has_old_clock_names(clock: object) -> bool:
    return callable(getattr(clock, "time", None)) and callable(getattr(clock, "sleep_until", None))


class _FunctionClock:
    """A time function as a clock: both readings are its value; sleeping is real time."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[], float]) -> None:
        self._fn = fn

    def current_time(self) -> float:
        return self._fn()

    def wall_time(self) -> float:
        return self._fn()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - self._fn()))


class _OldProtocolClock:
    """A clock written for the emulator's old protocol (``time``, ``sleep_until`` in unix
    time), seen through the new one."""

    __slots__ = ("_clock",)

    def __init__(self, clock: object) -> None:
        self._clock = clock

    def current_time(self) -> float:
        return float(self._clock.time())  # type: ignore[attr-defined]

    def wall_time(self) -> float:
        return float(self._clock.time())  # type: ignore[attr-defined]

    async def sleep_until(self, deadline: float) -> None:
        await self._clock.sleep_until(deadline)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return repr(self._clock)
