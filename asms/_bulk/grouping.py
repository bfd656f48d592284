"""Grouping consecutive messages into gateway requests, and the queues of a bulk run.

Consecutive messages with the same text, options and caller-given ``climsgid`` share one
multi-recipient request, up to the sender's per-request limit (``MAX_RECIPIENTS`` of
:mod:`asms._config`). A recipient that repeats within a group starts a new group: the reply
lines of a multi-recipient send are matched to messages by number, so a number must appear
once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

from .._models import Message

__all__ = ["Group", "Grouper", "InputBuffer", "Item", "ResultQueue", "checked", "read_ahead"]

T = TypeVar("T")


@dataclass(slots=True)
class Item:
    """One input message inside a run: its position, and its journal fingerprint."""

    index: int
    message: Message
    fingerprint: bytes = b""


@dataclass(eq=False, slots=True)
class Group:
    """Messages that go out as one request (and are retried together)."""

    items: list[Item]
    sent: bool = False  # a request for it may have reached the gateway
    climsgid: str | None = None  # the climsgid of its latest request
    throttled: int = 0  # how many times the gateway answered ERR 130 for it

    def __len__(self) -> int:
        return len(self.items)


class Grouper:
    """Collects consecutive compatible messages; hands out groups when they are complete."""

    __slots__ = ("_current", "_key", "_limit", "_numbers")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the group limit must be at least 1")
        self._limit = limit
        self._current: Group | None = None
        self._key: tuple[object, ...] = ()
        self._numbers: set[str] = set()

    @property
    def limit(self) -> int:
        """Messages one group holds at most."""
        return self._limit

    @property
    def pending(self) -> int:
        """Messages held in the group being built."""
        return 0 if self._current is None else len(self._current.items)

    def add(self, item: Item) -> Group | None:
        """Add a message; return the group that became complete, if any (at most one)."""
        message = item.message
        key = (message.text, message.options, message.climsgid)
        ready: Group | None = None
        current = self._current
        if current is not None and (key != self._key or message.to in self._numbers):
            ready = current
            current = None
        if current is None:
            current = Group([item])
            self._key = key
            self._numbers = {message.to}
        else:
            current.items.append(item)
            self._numbers.add(message.to)
        if len(current.items) >= self._limit:
            # Here ``ready`` is None: a fresh group of one is full only when the limit is 1,
            # and then no group was ever left pending.
            self._current = None
            self._numbers = set()
            return current
        self._current = current
        return ready

    def flush(self) -> Group | None:
        """Hand out the group being built, complete or not."""
        current, self._current = self._current, None
        self._numbers = set()
        return current


class ResultQueue(Generic[T]):
    """A bounded FIFO whose waits come before its (synchronous) transfers.

    So a ``put`` that is cancelled has delivered nothing and one that returns has delivered
    its item: nothing is lost or doubled, unlike a stream send cancelled mid-handover.
    """

    __slots__ = ("_capacity", "_closed", "_discarding", "_items", "_readable", "_writable")

    def __init__(self, capacity: int) -> None:
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._closed = False
        self._discarding = False
        self._readable = anyio.Event()
        self._writable = anyio.Event()

    @property
    def discarding(self) -> bool:
        """Whether nobody reads any more (see :meth:`discard`)."""
        return self._discarding

    async def put(self, item: T) -> None:
        """Wait for room, then add ``item`` (dropped when discarding; never half-done)."""
        while len(self._items) >= self._capacity and not (self._discarding or self._closed):
            if self._writable.is_set():
                self._writable = anyio.Event()
            await self._writable.wait()
        if not self._discarding:
            self._items.append(item)
            self._readable.set()

    async def get(self) -> T | None:
        """The next item, or None once closed and empty."""
        while not self._items:
            if self._closed:
                return None
            if self._readable.is_set():
                self._readable = anyio.Event()
            await self._readable.wait()
        self._writable.set()
        return self._items.popleft()

    def close(self) -> None:
        """No more puts: :meth:`get` returns None once the queue is empty."""
        self._closed = True
        self._readable.set()
        self._writable.set()

    def discard(self) -> None:
        """Nobody reads any more: drop what is queued, and accept puts without keeping them."""
        self._discarding = True
        self._items.clear()
        self._writable.set()


class InputBuffer:
    """Messages read ahead from an async input by their own task.

    The producer waits on it with a timeout (to send a partial group when the input is
    slow), which is safe here: waiting and taking are separate steps.
    """

    __slots__ = ("_capacity", "_closed", "_items", "_readable", "_writable", "failure")

    def __init__(self, capacity: int) -> None:
        self._items: deque[Message] = deque()
        self._capacity = capacity
        self._closed = False
        self._readable = anyio.Event()
        self._writable = anyio.Event()
        self.failure: Exception | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        """Whether the input has ended (or failed, or its reader was cancelled)."""
        return self._closed

    async def wait_readable(self) -> None:
        """Wait until a message is added or the input ends."""
        if self._items or self._closed:
            return
        if self._readable.is_set():
            self._readable = anyio.Event()
        await self._readable.wait()

    async def wait_writable(self) -> None:
        """Wait until there is room for another message."""
        while len(self._items) >= self._capacity:
            if self._writable.is_set():
                self._writable = anyio.Event()
            await self._writable.wait()

    def put(self, message: Message) -> None:
        """Add a message (after :meth:`wait_writable`)."""
        self._items.append(message)
        self._readable.set()

    def pop(self) -> Message:
        """Take the oldest message (the buffer must not be empty)."""
        message = self._items.popleft()
        self._writable.set()
        return message

    def close(self) -> None:
        """The input has ended: no more messages will be added."""
        self._closed = True
        self._readable.set()


def checked(message: object, taker: str = "send_bulk()") -> Message:
    """``message`` if it is a :class:`Message`; TypeError naming ``taker`` otherwise."""
    if isinstance(message, Message):
        return message
    raise TypeError(f"{taker} takes asms.Message items, not {type(message).__name__}")


async def read_ahead(
    source: AsyncIterable[Message], buffer: InputBuffer, scope: anyio.CancelScope
) -> None:
    """Read ``source`` into ``buffer`` until it ends, fails or ``scope`` is cancelled."""
    iterator = aiter(source)
    try:
        with scope:
            while True:
                await buffer.wait_writable()
                try:
                    message = checked(await anext(iterator))
                except StopAsyncIteration:
                    break
                buffer.put(message)
    except Exception as exc:
        buffer.failure = exc
    finally:
        buffer.close()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            # Let the input's own clean-up run (its ``finally`` blocks), within reason.
            with anyio.move_on_after(1.0, shield=True):
                await aclose()
