"""A drift-free rate limiter (GCRA on an absolute schedule).

The limiter hands out *slots*: the n-th token's earliest send time is ``start + n / rate``,
kept as a theoretical arrival time (TAT) that only ever moves forward by exactly one interval
per token. Sleeping until an absolute slot (rather than sleeping an interval after each send)
is what keeps the achieved rate from drifting below the target. ``burst`` tokens may go at
once after an idle period, never more; the first call does not get a start-up burst either
(unlike a token bucket that starts full).

The clock is injectable (:mod:`asms._clock`): :class:`SystemClock` is anyio's monotonic clock,
:class:`VirtualClock` is virtual time for tests. Both are re-exported here for the modules
that import them from the limiter.
"""

from __future__ import annotations

import math

import anyio
import anyio.lowlevel

from .._clock import Clock, SystemClock, VirtualClock
from .._exceptions import ValidationError
from .._limiter import Limiter, RateLimiterStatistics

__all__ = [
    "Clock",
    "Limiter",
    "VirtualClock",
    "RateLimiter",
    "RateLimiterStatistics",
    "SystemClock",
]


class RateLimiter:
    """GCRA limiter: ``rate`` tokens per second with a tolerance of ``burst`` tokens.

    One process's schedule (a :class:`~asms._limiter.Limiter`); for several processes
    sharing one account's limit, see :class:`asms.RedisRateLimiter`.

    ``await acquire(k)`` reserves ``k`` consecutive slots and returns at the *last* one, so
    a request for ``k`` recipients counts ``k`` against the rate and goes out when the
    schedule allows its k-th recipient. Reservations are made without awaiting, so any
    number of concurrent callers get disjoint slots in call order. ``rate=math.inf`` grants
    everything at once (pauses still apply).
    """

    def __init__(self, rate: float, *, burst: int = 1, clock: Clock | None = None) -> None:
        if (
            isinstance(rate, bool)
            or not (isinstance(rate, int | float) and rate > 0)
            or math.isnan(rate)
        ):
            raise ValidationError("rate", "must be a positive number of messages per second", rate)
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValidationError("burst", "must be a positive integer", burst)
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
        """Tokens per second (``math.inf``: no limit)."""
        return self._rate

    @property
    def clock(self) -> Clock:
        """The clock the schedule is kept on."""
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
        if not self._interval and self._paused_until == -math.inf:
            # No rate and never paused: every slot is due; the clock need not be read.
            self._granted += tokens
            return True
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
        """Grant nothing for ``seconds`` from now (see :meth:`pause_until`)."""
        self.pause_until(self._clock.current_time() + max(0.0, seconds))

    def statistics(self) -> RateLimiterStatistics:
        """A snapshot: tokens granted, tasks waiting, the next slot and any pause."""
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
