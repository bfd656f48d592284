"""Read and write timeouts for many requests, kept by one task instead of a scope each.

An anyio cancel scope with a deadline costs more than the rest of the transport's own work on
a warm connection (task bookkeeping on enter and exit, a timer scheduled and cancelled). When
the transport is entered (``async with``, which ``httpx.AsyncClient`` does), a single keeper
task enforces every deadline instead: a request appends an entry to the queue of its timeout
value and marks it done when it finishes; the keeper sleeps until the earliest live entry is
due and closes that connection, which makes the blocked send or receive fail at once. Entries
of one timeout value are due in the order they were made, so each queue is a FIFO and both
arming and expiry are O(1).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

import anyio
from anyio.abc import TaskStatus

__all__ = ["Deadline", "DeadlineKeeper"]


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
        self._next = -math.inf  # when the keeper will look next; -inf: it is looking now
        self._scope: anyio.CancelScope | None = None
        self.running = False

    def arm(self, target: _Closable, timeout: float, now: float) -> Deadline:
        """A deadline ``timeout`` seconds after ``now``; set ``done`` when finished."""
        deadline = Deadline(now + timeout, target)
        queue = self._queues.get(timeout)
        if queue is None:
            queue = self._queues[timeout] = deque()
        else:
            while queue and queue[0].done:  # finished requests leave from the front
                queue.popleft()
        queue.append(deadline)
        if deadline.when < self._next and self._wake is not None:
            self._wake.set()
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
            self._scope = None
            # Requests still waiting would no longer time out: fail them now.
            pending = [d for queue in self._queues.values() for d in queue if not d.done]
            self._queues.clear()
            for deadline in pending:
                await _abort(deadline.target)

    async def _keep(self) -> None:
        while True:
            due = self._collect_due(anyio.current_time())
            if due:
                for deadline in due:
                    await _abort(deadline.target)
                continue  # time has moved on while closing: look again
            wake = self._wake = anyio.Event()
            with anyio.move_on_after(self._next - anyio.current_time()):
                await wake.wait()
            self._next = -math.inf

    def _collect_due(self, now: float) -> list[Deadline]:
        due: list[Deadline] = []
        upcoming = math.inf
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
                    upcoming = min(upcoming, head.when)
                    break
        self._next = upcoming
        return due


async def _abort(target: _Closable) -> None:
    try:
        await target.aclose()  # forceful: works inside a cancelled scope too
    except Exception:
        pass  # a connection that fails to close is closed enough
