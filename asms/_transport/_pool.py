"""Keep-alive connection pool whose per-request work does not grow with its size.

Each origin keeps a LIFO deque of idle connections: the most recently used one is the most
likely to be alive and warm. Taking and returning a connection are O(1) (httpcore scans
every connection on every request, which is what makes stock httpx slow at high
concurrency). Only rare paths (evicting an idle connection of another origin to make
room, waking a waiter of another origin) look at the other origins, never at connections.
"""

from __future__ import annotations

import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from .._compat import httpx
from ._connection import AnyConnection as Connection
from ._connection import open_connection
from ._http11 import DEFAULT_REPLY_LIMITS, ReplyLimits
from .base import Origin

__all__ = ["ConnectionPool", "OriginStatistics", "PoolStatistics"]


@dataclass(frozen=True, slots=True)
class OriginStatistics:
    """Connection counts for one origin (``scheme://host:port``)."""

    origin: str
    idle: int
    active: int
    waiting: int


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    """Connection counts for the whole pool; ``connections`` includes ones being opened."""

    connections: int
    idle: int
    active: int
    waiting: int
    origins: tuple[OriginStatistics, ...]


class _Waiter:
    __slots__ = ("connection", "event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.connection: Connection | None = None  # a released connection handed over
        self.granted = False  # or a slot to open a new connection in


class _OriginState:
    __slots__ = ("active", "idle", "waiters")

    def __init__(self) -> None:
        self.idle: deque[Connection] = deque()
        self.waiters: deque[_Waiter] = deque()
        self.active: set[Connection] = set()  # in use by a request


def _origin_text(origin: Origin) -> str:
    scheme, host, port = origin
    text_host = host.decode("ascii")
    if ":" in text_host:
        text_host = f"[{text_host}]"
    return f"{scheme.decode('ascii')}://{text_host}:{port}"


class ConnectionPool:
    """Connections per origin, bounded by ``httpx.Limits``.

    ``max_connections`` bounds every connection (idle, in use, or being opened);
    ``max_keepalive_connections`` bounds the idle ones; idle connections older than
    ``keepalive_expiry`` seconds are closed instead of reused.
    """

    def __init__(
        self,
        limits: httpx.Limits,
        ssl_context: Callable[[], ssl.SSLContext],
        *,
        replace_stale: bool = True,
        reply_limits: ReplyLimits = DEFAULT_REPLY_LIMITS,
    ) -> None:
        self._reply_limits = reply_limits
        self._max = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._ssl_context = ssl_context
        self._replace_stale = replace_stale
        self._origins: dict[Origin, _OriginState] = {}
        self._connections = 0  # slots taken: idle + active + opening
        self._idle = 0
        self._waiting = 0
        self._closed = False

    def __repr__(self) -> str:
        stats = self.statistics()
        per_origin = "".join(
            f", {o.origin}: idle={o.idle} active={o.active} waiting={o.waiting}"
            for o in stats.origins
        )
        return (
            f"<ConnectionPool connections={stats.connections} idle={stats.idle} "
            f"active={stats.active} waiting={stats.waiting}{per_origin}>"
        )

    def statistics(self) -> PoolStatistics:
        origins = tuple(
            OriginStatistics(_origin_text(origin), len(s.idle), len(s.active), len(s.waiters))
            for origin, s in self._origins.items()
            if s.idle or s.active or s.waiters
        )
        return PoolStatistics(
            connections=self._connections,
            idle=self._idle,
            active=sum(o.active for o in origins),
            waiting=self._waiting,
            origins=origins,
        )

    # taking a connection --------------------------------------------------------------

    def take(self, origin: Origin) -> Connection | None:
        """The most recent idle connection to ``origin`` if it is alive and fresh, else None.

        The synchronous fast path of :meth:`acquire` (no coroutine per request).
        """
        state = self._origins.get(origin)
        if state is None or not state.idle or self._closed:
            return None
        idle = state.idle
        candidate = idle[-1]
        expiry = self._expiry
        if (
            expiry is None or time.monotonic() - candidate.idle_since <= expiry
        ) and not candidate.is_readable():
            idle.pop()
            self._idle -= 1
            state.active.add(candidate)
            return candidate
        return None

    async def acquire(
        self,
        origin: Origin,
        *,
        pool_timeout: float | None,
        connect_timeout: float | None,
        fresh: bool = False,
    ) -> Connection:
        """A live connection to ``origin``: an idle one (unless ``fresh``) or a new one."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        state = self._origins.get(origin)
        if state is None:
            state = self._origins[origin] = _OriginState()
        if state.idle and not fresh:
            found = await self._take_idle(state)
            if found is not None:
                state.active.add(found)
                return found
        if self._max is None or self._connections < self._max:
            self._connections += 1
        elif not await self._evict_idle():
            conn = await self._wait(state, pool_timeout)
            if conn is not None:
                state.active.add(conn)
                return conn
        # This task now holds a slot; it goes back to the pool if opening fails.
        try:
            context = self._ssl_context() if origin[0] == b"https" else None
            conn = await open_connection(origin, context, connect_timeout, self._reply_limits)
        except BaseException:
            self._free_slot()
            raise
        state.active.add(conn)
        return conn

    async def _take_idle(self, state: _OriginState) -> Connection | None:
        idle = state.idle
        expiry = self._expiry
        now = time.monotonic()
        dead: list[Connection] = []
        stale = False
        conn: Connection | None = None
        while idle:
            candidate = idle.pop()
            self._idle -= 1
            if expiry is not None and now - candidate.idle_since > expiry:
                dead.append(candidate)
            elif candidate.is_readable():
                dead.append(candidate)
                stale = True
            else:
                conn = candidate
                break
        if dead:
            for _ in dead:
                self._free_slot()
            await _close_all(dead)
            if stale and conn is None and not self._replace_stale:
                raise httpx.ConnectError("the idle keep-alive connection was closed by the peer")
        return conn

    async def _evict_idle(self) -> bool:
        """Close the oldest idle connection of any origin so its slot can be reused."""
        for state in self._origins.values():
            if state.idle:
                victim = state.idle.popleft()
                self._idle -= 1
                await victim.aclose()
                return True
        return False

    async def _wait(self, state: _OriginState, pool_timeout: float | None) -> Connection | None:
        """Wait for a connection of this origin or a free slot; None means a slot."""
        waiter = _Waiter()
        state.waiters.append(waiter)
        self._waiting += 1
        try:
            with anyio.move_on_after(pool_timeout):
                await waiter.event.wait()
        except BaseException:
            await self._abandon(state, waiter)
            raise
        if (waiter.connection is not None or waiter.granted) and not self._closed:
            return waiter.connection
        await self._abandon(state, waiter)
        if self._closed:
            raise RuntimeError("the transport is closed")
        raise httpx.PoolTimeout("timed out waiting for a connection from the pool")

    async def _abandon(self, state: _OriginState, waiter: _Waiter) -> None:
        if waiter.connection is not None:
            await self.release(waiter.connection)
        elif waiter.granted:
            self._free_slot()
        elif not self._closed:  # aclose() has emptied the queues already
            state.waiters.remove(waiter)
            self._waiting -= 1

    # giving it back -------------------------------------------------------------------

    async def release(self, conn: Connection) -> None:
        """Return a connection after its response was read completely."""
        doomed = self.put(conn)
        if doomed:
            await _close_all(doomed)

    def put(self, conn: Connection) -> list[Connection] | None:
        """Return a connection; the caller closes the connections this returns (if any).

        The synchronous fast path of :meth:`release` (no coroutine per request).
        """
        state = self._origins[conn.origin]
        state.active.discard(conn)
        if not conn.keep_alive or self._closed:
            self._free_slot()
            return [conn]
        if state.waiters:
            waiter = state.waiters.popleft()
            self._waiting -= 1
            waiter.connection = conn
            waiter.event.set()
            return None
        if self._waiting or (self._max_idle is not None and self._idle >= self._max_idle):
            # Waiters of another origin need the slot, or there are enough idle ones.
            self._free_slot()
            return [conn]
        now = time.monotonic()
        conn.idle_since = now
        idle = state.idle
        idle.append(conn)
        self._idle += 1
        expiry = self._expiry
        if expiry is not None and now - idle[0].idle_since > expiry:
            return self._expire(idle, now - expiry)
        return None

    def _expire(self, idle: deque[Connection], cutoff: float) -> list[Connection]:
        # The oldest idle connections sit at the left end of the deque.
        dead: list[Connection] = []
        while idle and idle[0].idle_since < cutoff:
            dead.append(idle.popleft())
            self._idle -= 1
            self._free_slot()
        return dead

    @staticmethod
    async def close_all(connections: list[Connection]) -> None:
        """Close what :meth:`put` handed back."""
        await _close_all(connections)

    async def discard(self, conn: Connection) -> None:
        """Drop a connection whose request failed or was cancelled."""
        self._origins[conn.origin].active.discard(conn)
        self._free_slot()
        await conn.aclose()

    def _free_slot(self) -> None:
        """A connection closed: its slot goes to the longest waiter of any origin."""
        if self._waiting:
            for state in self._origins.values():
                if state.waiters:
                    waiter = state.waiters.popleft()
                    self._waiting -= 1
                    waiter.granted = True
                    waiter.event.set()
                    return
        self._connections -= 1

    async def aclose(self) -> None:
        """Close every connection: idle ones, and in-use ones (their requests fail)."""
        self._closed = True
        doomed: list[Connection] = []
        for state in self._origins.values():
            doomed.extend(state.idle)
            doomed.extend(state.active)  # their requests discard them when they fail
            self._connections -= len(state.idle)
            state.idle.clear()
            for waiter in state.waiters:
                waiter.event.set()  # it finds neither a connection nor a slot
            state.waiters.clear()
        self._idle = 0
        self._waiting = 0
        await _close_all(doomed)


async def _close_all(connections: list[Connection]) -> None:
    for conn in connections:
        await conn.aclose()
