"""Read and write timeouts for many requests, kept by one task instead of a scope each.

An anyio cancel scope with a deadline costs more than the rest of the transport's own work on
a warm connection (task bookkeeping on enter and exit, a timer scheduled and cancelled). When
the transport is entered (``async with``, which ``httpx.AsyncClient`` does), a single keeper
task enforces every deadline instead: a request appends an entry to the queue of its timeout
value and marks it done when it finishes; the keeper closes the connection of an entry that
comes due first, which makes the blocked send or receive fail at once. Entries of one timeout
value come due in the order they were made, so each queue is a FIFO and both arming and
expiry are O(1).

Reading the clock is itself a noticeable cost per request, so while entries are live the
keeper wakes every ``TICK`` seconds and publishes the time as ``now``; a deadline is
``now + timeout + TICK``. A timeout therefore fires between ``timeout`` and
``timeout + 2 * TICK`` after it was armed (never early), plus any lag of the event loop.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

import anyio
from anyio.abc import TaskStatus

__all__ = ["TICK", "Deadline", "DeadlineKeeper"]

TICK = 0.05  # seconds


class _Closable(Protocol):
    async def aclose(self) -> None: ...


class Deadline:
    __slots__ = ("done", "expired", "target", "when")

    def __init__(self, when: float, target: _Closable) -> None:
        self.when = when
        self.target = target
        self.done = False
        self.expired = False


class DeadlineKeeper:
    """Closes the connection of a request whose deadline passes before it is done."""

    def __init__(self) -> None:
        self._queues: dict[float, deque[Deadline]] = {}
        self._wake: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._ticking = False  # True while ``now`` is kept fresh
        self.now = -math.inf
        self.running = False

    def arm(self, target: _Closable, timeout: float) -> Deadline:
        """A deadline ``timeout`` seconds from now; set ``done`` when finished."""
        if self._ticking:
            now = self.now
        else:  # the keeper sleeps without a deadline: read the clock and wake it
            now = self.now = anyio.current_time()
            if self._wake is not None:
                self._wake.set()
        deadline = Deadline(now + timeout + TICK, target)
        queue = self._queues.get(timeout)
        if queue is None:
            queue = self._queues[timeout] = deque()
        else:
            while queue and queue[0].done:  # finished requests leave from the front
                queue.popleft()
        queue.append(deadline)
        return deadline

    def stop(self) -> None:
        """End :meth:`run` (from any task); pending requests then fail at once."""
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.running = True
        try:
            with anyio.CancelScope() as self._scope:
                task_status.started()
                await self._keep()
        finally:
            self.running = False
            self._ticking = False
            self._scope = None
            # Requests still waiting would no longer time out: fail them now.
            pending = [d for queue in self._queues.values() for d in queue if not d.done]
            self._queues.clear()
            for deadline in pending:
                await _abort(deadline.target)

    async def _keep(self) -> None:
        while True:
            now = self.now = anyio.current_time()
            due, live = self._collect_due(now)
            for deadline in due:
                await _abort(deadline.target)
            if due:
                continue  # time has moved on while closing: look again
            wake = self._wake = anyio.Event()
            self._ticking = live
            with anyio.move_on_after(TICK if live else math.inf):
                await wake.wait()

    def _collect_due(self, now: float) -> tuple[list[Deadline], bool]:
        due: list[Deadline] = []
        live = False
        for queue in self._queues.values():
            while queue:
                head = queue[0]
                if head.done:
                    queue.popleft()
                elif head.when <= now:
                    queue.popleft()
                    head.expired = True
                    due.append(head)
                else:
                    live = True
                    break
        return due, live


async def _abort(target: _Closable) -> None:
    try:
        await target.aclose()  # forceful: works inside a cancelled scope too
    except Exception:
        pass  # a connection that fails to close is closed enough
