"""Grouping consecutive messages into gateway requests, and the queues of a bulk run.

Consecutive messages with the same text, options and caller-given ``climsgid`` share one
multi-recipient request, up to the sender's per-request limit (``MAX_RECIPIENTS`` of
:mod:`asms._config`). A recipient that repeats within a group starts a new group: the reply
lines of a multi-recipient send are matched to messages by number, so a number must appear
once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, Callable, Iterator
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import anyio

from .._models import Message

__all__ = [
    "Group",
    "Grouper",
    "InputBuffer",
    "InputFailed",
    "Item",
    "ResultQueue",
    "WorkQueue",
    "checked",
    "read_ahead",
]

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

    def fill(
        self, messages: Iterator[object], index: int, taking: Callable[[], bool]
    ) -> tuple[Group | None, int]:
        """Read ``messages``, numbered from ``index``, until a group is complete (returned)
        or the input ends or ``taking()`` turns false (None); and the next index.

        What :meth:`add` does for each message, in one loop: a run reads a plain input
        this way. An input that raises, or gives something that is not a :class:`Message`,
        raises :class:`InputFailed`, the messages before it kept in the group being built.
        """
        limit = self._limit
        current = self._current
        text: object = None
        options: object = None
        climsgid: object = None
        if current is not None:
            text, options, climsgid = self._key
        numbers = self._numbers
        try:
            while taking():
                got = next(messages, _INPUT_END)
                if got is _INPUT_END:
                    break
                message = got if type(got) is Message else checked(got, position=index)
                to = message.to
                if (
                    current is not None
                    and (message.text is text or message.text == text)
                    and (message.options is options or message.options == options)
                    and message.climsgid == climsgid
                    and to not in numbers
                ):
                    items = current.items
                    items.append(Item(index, message))
                    numbers.add(to)
                    index += 1
                    if len(items) >= limit:
                        self._current = None
                        self._numbers = set()
                        return current, index
                    continue
                ready = current
                current = Group([Item(index, message)])
                index += 1
                text, options, climsgid = message.text, message.options, message.climsgid
                numbers = {to}
                self._key = (text, options, climsgid)
                self._numbers = numbers
                if ready is not None:
                    self._current = current
                    return ready, index
                if limit == 1:  # full at once; no group was ever left pending
                    self._current = None
                    self._numbers = set()
                    return current, index
        except Exception as exc:
            self._current = current
            raise InputFailed(exc, index) from exc
        self._current = current
        return None, index

    def flush(self) -> Group | None:
        """Hand out the group being built, complete or not."""
        current, self._current = self._current, None
        self._numbers = set()
        return current


_INPUT_END: Final = object()


class InputFailed(Exception):
    """The input of a run failed after ``read`` messages (see :meth:`Grouper.fill`)."""

    def __init__(self, error: Exception, read: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.read = read


def _event_factory() -> Callable[[], anyio.Event]:
    """The running backend's event class, called directly: ``anyio.Event()`` looks the
    backend up on every call, and the queues below make an event per wait."""
    return type(anyio.Event())


class WorkQueue(Generic[T]):
    """The groups on their way to a run's workers: a bounded FIFO for one producer and many
    consumers that waits only when it must.

    A memory object stream yields to the event loop on every send and receive, so a run
    would move one group per turn of the loop; here a producer fills the free places
    without yielding, and each item wakes one waiting worker, not all of them. As in
    :class:`ResultQueue`, the waits come before the (synchronous) transfers: a cancelled
    ``put`` or ``get`` has moved nothing.
    """

    __slots__ = ("_capacity", "_closed", "_consumers", "_event", "_getters", "_items", "_putters")

    def __init__(self, capacity: int, consumers: int) -> None:
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._consumers = consumers  # consumers still taking; with none left, puts fail
        self._closed = False
        self._getters: deque[anyio.Event] = deque()
        self._putters: deque[anyio.Event] = deque()
        self._event: Callable[[], anyio.Event] | None = None

    def _wait_on(self, waiters: deque[anyio.Event]) -> anyio.Event:
        make = self._event
        if make is None:
            make = self._event = _event_factory()
        event = make()
        waiters.append(event)
        return event

    @staticmethod
    def _wake(waiters: deque[anyio.Event]) -> None:
        if waiters:
            waiters.popleft().set()

    async def put(self, item: T) -> None:
        """Wait for room, then add ``item``; BrokenResourceError once no consumer is left."""
        while True:
            if self._consumers <= 0:
                raise anyio.BrokenResourceError("no worker takes groups any more")
            if self._closed:
                raise anyio.ClosedResourceError("the work queue is closed")
            if len(self._items) < self._capacity:
                break
            event = self._wait_on(self._putters)
            try:
                await event.wait()
            finally:
                if not event.is_set():
                    self._putters.remove(event)
        self._items.append(item)
        self._wake(self._getters)

    async def get(self) -> T | None:
        """The next item, or None once closed and empty."""
        items = self._items
        while not items:
            if self._closed:
                return None
            event = self._wait_on(self._getters)
            try:
                await event.wait()
            except BaseException:
                if event.is_set():
                    self._wake(self._getters)  # pass the wake-up on: the item stays queued
                else:
                    self._getters.remove(event)
                raise
        self._wake(self._putters)
        return items.popleft()

    def close(self) -> None:
        """No more puts: consumers take what is queued, then get None."""
        self._closed = True
        self._wake_all()

    def consumer_done(self) -> None:
        """A consumer stopped taking items; when the last one has, puts fail."""
        self._consumers -= 1
        if self._consumers <= 0:
            self._wake_all()

    def _wake_all(self) -> None:
        for waiters in (self._getters, self._putters):
            while waiters:
                waiters.popleft().set()


class ResultQueue(Generic[T]):
    """The results on their way to whoever iterates a run: a bounded FIFO of single items,
    filled a request's worth at a time.

    Its waits come before its (synchronous) transfers, so a ``put`` that is cancelled has
    delivered nothing and one that returns has delivered all it was given: nothing is lost
    or doubled, unlike a stream send cancelled mid-handover. Taking is synchronous
    (:meth:`take`), with a separate wait (:meth:`wait_readable`) for when it finds nothing.
    """

    __slots__ = (
        "_capacity",
        "_closed",
        "_discarding",
        "_items",
        "_largest",
        "_puts",
        "_readable",
        "_reader_waiting",
        "_writable",
        "_writer_waiting",
    )

    def __init__(self, puts: int) -> None:
        self._items: deque[T] = deque()
        # Room for ``puts`` of the largest put seen so far: as many requests' results as
        # before whatever their size, so a reader that stops reading soon stops the run.
        self._puts = puts
        self._largest = 1
        self._capacity = puts
        self._closed = False
        self._discarding = False
        self._readable: anyio.Event | None = None
        self._writable: anyio.Event | None = None
        self._reader_waiting = False
        self._writer_waiting = False

    @property
    def discarding(self) -> bool:
        """Whether nobody reads any more (see :meth:`discard`)."""
        return self._discarding

    def offer(self, items: list[T]) -> bool:
        """Add ``items`` if there is room now (dropped when discarding); False: call
        :meth:`put`."""
        if len(self._items) >= self._capacity and not (self._discarding or self._closed):
            return False
        self._add(items)
        return True

    async def put(self, items: list[T]) -> None:
        """Wait for room, then add ``items`` (dropped when discarding; never half-done)."""
        while len(self._items) >= self._capacity and not (self._discarding or self._closed):
            event = self._writable
            if not self._writer_waiting or event is None:
                # Every waiting writer shares it: one take wakes them all to look again.
                self._writable = event = anyio.Event()
                self._writer_waiting = True
            await event.wait()
        self._add(items)

    def _add(self, items: list[T]) -> None:
        if self._discarding:
            return
        if len(items) > self._largest:
            self._largest = len(items)
            self._capacity = self._puts * self._largest
        self._items.extend(items)
        if self._reader_waiting:
            self._reader_waiting = False
            assert self._readable is not None
            self._readable.set()

    def take(self) -> T | None:
        """The next item if there is one, without waiting."""
        items = self._items
        if not items:
            return None
        if self._writer_waiting and len(items) <= self._capacity:
            self._writer_waiting = False
            assert self._writable is not None
            self._writable.set()
        return items.popleft()

    async def wait_readable(self) -> bool:
        """Wait until there is an item (True) or the queue is closed and empty (False)."""
        while not self._items:
            if self._closed:
                return False
            event = self._readable
            if not self._reader_waiting or event is None:
                self._readable = event = anyio.Event()
                self._reader_waiting = True
            await event.wait()
        return True

    def close(self) -> None:
        """No more puts: :meth:`wait_readable` says False once the queue is empty."""
        self._closed = True
        self._wake()

    def discard(self) -> None:
        """Nobody reads any more: drop what is queued, and accept puts without keeping them."""
        self._discarding = True
        self._items.clear()
        self._wake()

    def _wake(self) -> None:
        for event in (self._readable, self._writable):
            if event is not None:
                event.set()
        self._reader_waiting = self._writer_waiting = False


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


def checked(message: object, taker: str = "send_bulk()", position: int | None = None) -> Message:
    """``message`` if it is a :class:`Message`; TypeError naming ``taker`` (and the item's
    ``position`` in the input, when known) otherwise."""
    if isinstance(message, Message):
        return message
    where = "" if position is None else f" (input item {position}, counted from 0)"
    raise TypeError(f"{taker} takes asms.Message items, not {type(message).__name__}{where}")


async def read_ahead(
    source: AsyncIterable[Message], buffer: InputBuffer, scope: anyio.CancelScope
) -> None:
    """Read ``source`` into ``buffer`` until it ends, fails or ``scope`` is cancelled."""
    iterator = aiter(source)
    position = 0
    try:
        with scope:
            while True:
                await buffer.wait_writable()
                try:
                    message = checked(await anext(iterator), position=position)
                except StopAsyncIteration:
                    break
                buffer.put(message)
                position += 1
    except Exception as exc:
        buffer.failure = exc
    finally:
        buffer.close()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            # Let the input's own clean-up run (its ``finally`` blocks), within reason.
            with anyio.move_on_after(1.0, shield=True):
                await aclose()
