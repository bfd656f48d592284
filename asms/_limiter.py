"""The interface every rate limiter of asms implements: :class:`Limiter`, and the snapshot
it reports, :class:`RateLimiterStatistics`.

Two limiters implement it: the in-process :class:`asms.RateLimiter` (one process's schedule)
and :class:`asms.RedisRateLimiter` (one schedule in Redis, shared by every process of an
account). A bulk run takes either (``send_bulk(limiter=...)``), and so does a client
(``AsyncClient(limiter=...)``). It lives in the core so that both, in their different layers,
can name it.

:data:`PREPAID` is how a bulk run tells the client it sends through that the first attempt of
a request already has its slots: the run waits for them where a stopped run can still give
up, and the client must not take them a second time.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ._clock import Clock

__all__ = ["PREPAID", "Limiter", "RateLimiterStatistics"]


@dataclass(frozen=True, slots=True)
class RateLimiterStatistics:
    """A snapshot of a rate limiter (:class:`asms.RateLimiter`, :class:`asms.RedisRateLimiter`).

    ``tokens_granted`` and ``tasks_waiting`` count this limiter object's callers only;
    ``next_slot`` and ``paused_until`` are on the limiter's :attr:`Limiter.clock`.
    """

    rate: float
    burst: int
    tokens_granted: int
    tasks_waiting: int
    next_slot: float | None
    paused_until: float | None


@runtime_checkable
class Limiter(Protocol):
    """What a bulk run and a client need from a rate limiter: slots to wait for and a shared
    pause."""

    @property
    def rate(self) -> float:
        """Tokens per second (``math.inf``: no limit)."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock this limiter's callers sleep on."""
        ...

    async def acquire(self, tokens: int = 1) -> float:
        """Wait for ``tokens`` consecutive slots; return the clock time the last was due."""
        ...

    def pause_until(self, deadline: float) -> None:
        """Grant nothing before ``deadline`` (time on :attr:`clock`), e.g. after ``ERR 130``."""
        ...

    def pause_for(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` from now (see :meth:`pause_until`)."""
        ...

    def statistics(self) -> RateLimiterStatistics:
        """A snapshot: the rate, tokens granted, tasks waiting, the next slot and any pause."""
        ...


PREPAID: ContextVar[Limiter | None] = ContextVar("asms_prepaid_limiter", default=None)
"""The limiter whose slots the current task took for the first attempt of the request it is
about to send (set by a bulk run around each request; None elsewhere)."""
