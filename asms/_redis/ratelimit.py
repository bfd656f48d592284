"""The rate limiter every process of one account shares: :class:`RedisRateLimiter`.

The same schedule as the in-process :class:`asms.RateLimiter` (GCRA on an absolute schedule:
reserve the next slots, sleep until the last, give them back if cancelled and nobody booked
after), kept in Redis and run by a Lua script on Redis's clock, so N processes together keep
one rate. A caller makes one round trip to book and sleeps the returned wait on its own
clock; nobody polls. Redis being down stops the callers (the reservation fails with
:class:`asms.RedisError`): there is no local fallback that could break the shared limit.
An ``ERR 130`` pause is written to Redis at once by a task the limiter runs while open.

:func:`account_rate` reads the rate and burst an account's limiters share.
"""

from __future__ import annotations

import logging
import math
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import anyio
import anyio.lowlevel

from .._clock import Clock, SystemClock
from .._config import (
    DEFAULT_REDIS_MAX_WAIT,
    DEFAULT_REDIS_TIMEOUT,
    REDIS_LATE_GRANT,
    REDIS_LATE_REBOOKS,
    REDIS_PAUSE_RETRY_FIRST,
    REDIS_PAUSE_RETRY_MAX,
)
from .._exceptions import RedisError, ValidationError
from .._limiter import RateLimiterStatistics
from .._logging import logger
from . import scripts
from .connection import LuaScript, RedisConnection, connect, redis_location
from .keys import AccountKeys

__all__ = ["RedisRateLimiter", "account_rate"]

_US: Final = 1_000_000  # microseconds per second


@dataclass(frozen=True, slots=True)
class _Scripts:
    reserve: LuaScript
    confirm: LuaScript
    release: LuaScript
    claim_rate: LuaScript
    pause: LuaScript


@dataclass(frozen=True, slots=True)
class _Booking:
    """A reservation's answer: ``wait_us`` after ``server_now`` (Redis's clock, µs) the last
    slot is due; ``received`` is when the answer came, on the local clock. ``reserved`` is
    the schedule after the booking (None: nothing booked, back off for ``wait_us``),
    ``previous`` the schedule before it ("" when there was none)."""

    received: float
    wait_us: int
    server_now: int
    reserved: int | None
    previous: str


class RedisRateLimiter:
    """GCRA limiter shared through Redis by every process of one account.

    ``async with RedisRateLimiter(url, account, rate=100) as limiter:`` connects, then
    ``await limiter.acquire(k)`` books ``k`` consecutive slots on Redis's clock and returns
    at the last (a request to 600 recipients costs 600). Give it to a bulk run with
    ``client.send_bulk(messages, limiter=limiter)``; it implements the same interface as
    :class:`asms.RateLimiter`.

    * ``account``: the api_id (or any label every process of the account uses); all keys of
      the account share the Redis Cluster hash tag ``{a:<account>}``.
    * ``rate``, ``burst``: as for :class:`asms.RateLimiter`, stored with the account's keys by
      the first limiter. Every process must use the same: a limiter with another rate or
      burst is refused with :class:`asms.ValidationError` naming both, when it enters and
      on any reservation. To change them deliberately, enter one limiter with
      ``replace_rate=True``: it stores its own, and the processes still using the old ones
      are refused from their next reservation on (restart them with the new rate).
    * ``max_wait``: how far ahead (seconds) a reservation's first slot may be booked; a
      caller that would start later books nothing, sleeps the excess and tries again.
    * ``timeout``: seconds to connect, and for each answer of Redis.

    :meth:`pause_for` (``ERR 130``) pauses this limiter at once, and every process of the
    account as soon as a task the limiter runs while open has written the pause to Redis
    (one round trip; tried again while Redis fails and the pause still lies ahead). A
    caller that wakes for its slot checks whether a pause began meanwhile that covers it,
    and books again if so.

    The slots are whole microseconds (the interval ``1/rate`` is rounded up), so the rate
    is never exceeded. Redis unreachable: :class:`asms.RedisError` naming ``host:port``,
    never the URL's password.
    """

    def __init__(
        self,
        url: str,
        account: str,
        *,
        rate: float,
        burst: int = 1,
        max_wait: float = DEFAULT_REDIS_MAX_WAIT,
        replace_rate: bool = False,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
    ) -> None:
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not math.isfinite(rate)
            or not 0 < rate <= _US
        ):
            raise ValidationError(
                "rate",
                "must be a positive, finite number of tokens per second, at most 1000000",
                rate,
            )
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValidationError("burst", "must be a positive integer", burst)
        if not isinstance(max_wait, int | float) or not max_wait >= 0:
            raise ValidationError("max_wait", "must be a number of seconds, at least 0", max_wait)
        if not isinstance(timeout, int | float) or not timeout > 0:
            raise ValidationError("timeout", "must be a positive number of seconds", timeout)
        self._url = url
        self._location = redis_location(url)
        self._keys = AccountKeys(account)
        self._rate = float(rate)
        self._burst = burst
        self._interval = math.ceil(_US / self._rate)
        self._tolerance = (burst - 1) * self._interval
        # How late a caller may wake for its slot and still take it (see acquire).
        self._late_limit = max(REDIS_LATE_GRANT, self._interval / 2 / _US)
        self._max_wait = math.ceil(max_wait * _US)
        self._replace = bool(replace_rate)
        self._timeout = float(timeout)
        self._clock: Clock = SystemClock()
        self._stack: AsyncExitStack | None = None
        self._redis: RedisConnection | None = None
        self._scripts: _Scripts | None = None
        # A pause this process was told of (ERR 130), which the limiter's task writes to
        # Redis, and the latest one written; a pause learnt from Redis is only shown (moving
        # it to this clock and back would stretch it by the latency every time).
        self._paused_until = -math.inf
        self._shared_pause = -math.inf
        self._seen_pause_until = -math.inf
        self._granted = 0
        self._waiting = 0
        self._next_slot: float | None = None
        # Set by pause_until: wakes the task that writes the pause to Redis (while open).
        self._pause_told: anyio.Event | None = None
        self._pause_lock: anyio.Lock | None = None

    # -- the Limiter interface ---------------------------------------------------------------

    @property
    def rate(self) -> float:
        """Tokens per second, the account's."""
        return self._rate

    @property
    def burst(self) -> int:
        """Tokens that may go at once after an idle moment, the account's."""
        return self._burst

    @property
    def clock(self) -> Clock:
        """The local clock callers sleep on (the schedule itself is on Redis's clock)."""
        return self._clock

    async def acquire(self, tokens: int = 1) -> float:
        """Wait for ``tokens`` consecutive slots of the account's schedule; return the clock
        time (:attr:`clock`) the last of them was due."""
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise ValidationError("tokens", "must be at least 1", tokens)
        clock = self._clock
        self._waiting += 1
        late = 0
        try:
            while True:
                booking = await self._reserve(tokens)
                due = booking.received + booking.wait_us / _US
                if booking.reserved is None:
                    # Too far ahead: book nothing, come back when the start is within reach.
                    await clock.sleep_until(due)
                    continue
                try:
                    if booking.wait_us:
                        await clock.sleep_until(due)
                    else:
                        await anyio.lowlevel.checkpoint()
                except BaseException:
                    await self._release(booking)
                    raise
                woken = clock.current_time()
                if booking.wait_us and await self._pause_began(booking, due):
                    continue  # a pause began while we slept and covers our slot: book again
                if booking.wait_us and late < REDIS_LATE_REBOOKS and woken - due > self._late_limit:
                    # Woken too late (a busy process): sent now, this request would bunch up
                    # with the next process's on-time one and break the rate over a short
                    # window. Its slot is spent (given back if nobody booked after it); it
                    # takes a new one.
                    late += 1
                    await self._release(booking)
                    continue
                self._granted += tokens
                return due
        finally:
            self._waiting -= 1

    def pause_until(self, deadline: float) -> None:
        """Grant nothing before ``deadline`` (time on :attr:`clock`), here at once and in
        every process of the account as soon as the pause reached Redis (this returns at once:
        a task of the limiter writes it)."""
        if deadline > self._paused_until:
            self._paused_until = deadline
            if self._pause_told is not None:
                self._pause_told.set()

    def pause_for(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` from now (see :meth:`pause_until`)."""
        self.pause_until(self._clock.current_time() + max(0.0, seconds))

    def statistics(self) -> RateLimiterStatistics:
        """A snapshot: this object's tokens granted and callers waiting; the next slot and
        any pause as this limiter last saw them in Redis, on :attr:`clock`."""
        now = self._clock.current_time()
        paused = max(self._paused_until, self._seen_pause_until)
        return RateLimiterStatistics(
            rate=self._rate,
            burst=self._burst,
            tokens_granted=self._granted,
            tasks_waiting=self._waiting,
            next_slot=self._next_slot,
            paused_until=paused if paused > now else None,
        )

    # -- connecting ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Connect to Redis and check (or, with ``replace_rate``, store) the account's rate."""
        if self._stack is not None:
            raise RuntimeError("this RedisRateLimiter is already open")
        stack = AsyncExitStack()
        try:
            opening = connect(self._url, command_timeout=self._timeout)
            redis = await stack.enter_async_context(opening)
            run = _Scripts(
                reserve=redis.script("reserve", scripts.RESERVE),
                confirm=redis.script("confirm", scripts.CONFIRM),
                release=redis.script("release", scripts.RELEASE),
                claim_rate=redis.script("claim_rate", scripts.CLAIM_RATE),
                pause=redis.script("pause", scripts.PAUSE),
            )
            stored = await redis.run(
                run.claim_rate,
                [self._keys.limit],
                [self._rate_label, self._burst, "1" if self._replace else "0"],
            )
            if stored[0] != self._rate_label or str(stored[1]) != str(self._burst):
                raise self._mismatch(stored[0], stored[1])
            tasks = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tasks.cancel_scope.cancel)  # runs first: the writer has no end
            tasks.start_soon(self._share_pauses, redis, run)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._redis, self._scripts = stack, redis, run
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the connection to Redis (a pause not written yet is tried once more)."""
        stack, redis, run = self._stack, self._redis, self._scripts
        self._stack, self._redis, self._scripts = None, None, None
        self._pause_told = self._pause_lock = None
        if stack is None:
            return
        try:
            if redis is not None and run is not None and self._pause_ahead() > 0:
                # Shielded: the pause matters most when the block was cancelled by it.
                with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout):
                    await self._share_pause(redis, run)
        except RedisError:
            pass  # Redis is down: nobody sends through it anyway
        finally:
            await stack.aclose()

    # -- inside ----------------------------------------------------------------------------

    @property
    def _rate_label(self) -> str:
        return repr(self._rate)

    def _open(self) -> tuple[RedisConnection, _Scripts]:
        if self._redis is None or self._scripts is None:
            raise RuntimeError("use the RedisRateLimiter inside 'async with' (it connects there)")
        return self._redis, self._scripts

    def _mismatch(self, rate: Any, burst: Any) -> ValidationError:
        return ValidationError(
            "rate",
            f"the account's processes share rate={rate} burst={burst} (stored in Redis); "
            f"this limiter has rate={self._rate_label} burst={self._burst}: use the same, "
            "or replace_rate=True to change it for all",
        )

    def _seen_pause(self, pause_us: int, server_now_us: int, received: float) -> None:
        # Redis's pause, moved onto the local clock: what statistics() shows.
        if pause_us > server_now_us:
            seen = received + (pause_us - server_now_us) / _US
            self._seen_pause_until = max(self._seen_pause_until, seen)

    def _pause_ahead(self) -> float:
        """Seconds of the pause this process was told of that Redis does not have yet."""
        told = self._paused_until
        if told <= self._shared_pause:
            return 0.0
        return max(0.0, told - self._clock.current_time())

    async def _share_pause(self, redis: RedisConnection, run: _Scripts) -> None:
        """One round trip: the pause this process was told of, into Redis, unless it is
        there already. One write at a time: two in flight for one pause would each measure
        it from a moment of their own, and the later could push it past a slot booked after
        the earlier (booked again, needlessly)."""
        if self._pause_lock is None:
            self._pause_lock = anyio.Lock()
        async with self._pause_lock:
            told = self._paused_until
            ahead = self._pause_ahead()
            if ahead <= 0:
                return  # shared meanwhile, or over
            reply = await redis.run(run.pause, [self._keys.pause], [math.ceil(ahead * _US)])
            self._shared_pause = max(self._shared_pause, told)
            self._seen_pause(int(reply[0]), int(reply[1]), self._clock.current_time())

    async def _share_pauses(self, redis: RedisConnection, run: _Scripts) -> None:
        """The limiter's task, while it is open: write each pause :meth:`pause_until` is told
        of to Redis at once, so that every process stops now rather than when this one next
        books; while Redis fails, try again with a growing wait as long as the pause lies
        ahead (once it is over there is nothing left to share)."""
        clock = self._clock
        told = self._pause_told = anyio.Event()
        if self._pause_ahead() > 0:
            told.set()  # told before the limiter opened: share it now
        while True:
            await told.wait()
            # A new event before reading the pause: a pause told during the write wakes us.
            told = self._pause_told = anyio.Event()
            backoff = REDIS_PAUSE_RETRY_FIRST
            while (ahead := self._pause_ahead()) > 0:
                try:
                    await self._share_pause(redis, run)
                except RedisError as exc:
                    retry = min(backoff, ahead)
                    # Once per pause at warning level: the tries repeat every second.
                    first = backoff == REDIS_PAUSE_RETRY_FIRST
                    logger.log(
                        logging.WARNING if first else logging.DEBUG,
                        "the ERR 130 pause could not be shared: %s; retrying in %.2fs",
                        exc,
                        retry,
                    )
                    await clock.sleep_until(clock.current_time() + retry)
                    backoff = min(backoff * 2, REDIS_PAUSE_RETRY_MAX)

    async def _reserve(self, tokens: int) -> _Booking:
        """One round trip: book ``tokens`` slots (or learn how long to back off). A pause
        this process was told of and Redis does not have yet is written first (the limiter's
        task may not have done it yet), so the booking honours it."""
        redis, run = self._open()
        keys = self._keys
        if self._pause_ahead() > 0:
            await self._share_pause(redis, run)
        args: list[int | str] = [
            self._interval,
            tokens,
            self._tolerance,
            self._max_wait,
            self._rate_label,
            self._burst,
        ]
        # Shielded: a cancelled caller must still learn whether it booked, to give the
        # slots back (each answer is bounded by ``timeout``).
        with anyio.CancelScope(shield=True):
            reply = await redis.run(run.reserve, [keys.tat, keys.pause, keys.limit], args)
        received = self._clock.current_time()
        code = int(reply[0])
        if code < 0:
            raise self._mismatch(reply[1], reply[2])
        booking = _Booking(
            received=received,
            wait_us=int(reply[1]),
            server_now=int(reply[2]),
            reserved=int(reply[4]) if code else None,
            previous=str(reply[5]) if code else "",
        )
        self._seen_pause(int(reply[3]), booking.server_now, received)
        if booking.reserved is not None:
            self._next_slot = received + (booking.reserved - booking.server_now) / _US
        return booking

    async def _pause_began(self, booking: _Booking, due: float) -> bool:
        """Whether a pause that covers our slot began while we slept (here or in Redis)."""
        if self._paused_until > due:
            return True
        redis, run = self._open()
        due_us = booking.server_now + booking.wait_us
        with anyio.CancelScope(shield=True):
            pause = int(await redis.run(run.confirm, [self._keys.pause], [due_us]))
        if pause:
            self._seen_pause(pause, due_us, due)
            return True
        return False

    async def _release(self, booking: _Booking) -> None:
        """Give a cancelled caller's slots back, if nobody booked after them."""
        redis, run = self._open()
        args = [str(booking.reserved), booking.previous]
        with anyio.CancelScope(shield=True):
            try:
                await redis.run(run.release, [self._keys.tat], args)
            except RedisError:
                pass  # the slots stay booked: the account sends less, never more

    def __repr__(self) -> str:
        # The account (an api_id) and the URL (a password) stay out.
        return f"RedisRateLimiter({self._location!r}, rate={self._rate!r}, burst={self._burst!r})"


async def account_rate(
    redis_url: str,
    account: str,
    *,
    timeout: float = DEFAULT_REDIS_TIMEOUT,  # noqa: ASYNC109 (seconds for each answer: the spec's)
) -> tuple[float, int] | None:
    """The ``(rate, burst)`` the limiters of ``account`` share, as stored in Redis by the
    first :class:`RedisRateLimiter` (or the last with ``replace_rate=True``); None when none
    is stored. ``timeout``: seconds to connect and for the answer. Redis unreachable:
    :class:`asms.RedisError` naming ``host:port``."""
    keys = AccountKeys(account)
    if not isinstance(timeout, int | float) or not timeout > 0:
        raise ValidationError("timeout", "must be a positive number of seconds", timeout)
    async with connect(redis_url, command_timeout=float(timeout)) as redis:
        rate, burst = await redis.run(redis.script("rate", scripts.RATE), [keys.limit], [])
        location = redis.location
    if rate is None:
        return None
    try:
        return float(rate), int(burst or 1)
    except ValueError:
        # Not written by asms: say so rather than guess.
        raise RedisError(
            f"Redis at {location} holds a rate for the account that asms did not write",
            location,
        ) from None
