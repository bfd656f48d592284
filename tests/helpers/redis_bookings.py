"""What the shared rate limiter booked, read from its script's replies (µs of Redis's
clock), and the GCRA promises counted on them."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from asms._redis.connection import LuaScript, RedisConnection

US = 1_000_000


@dataclass(frozen=True)
class Booking:
    """One reservation, as the script replied (µs of Redis's clock)."""

    connection: int
    tokens: int
    interval: int
    now: int
    wait: int
    reserved: int
    previous: str

    @property
    def start(self) -> int:
        return self.reserved - self.tokens * self.interval

    @property
    def due(self) -> int:
        return self.now + self.wait

    def slots(self) -> list[int]:
        return [self.start + i * self.interval for i in range(self.tokens)]


class Recorder:
    """Every script call of every limiter: (script name, args, reply, connection)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, list[Any], Any, int]] = []
        self._changed: anyio.Event | None = None
        original = RedisConnection.run
        recorder = self

        async def run(
            self: RedisConnection, script: LuaScript, keys: Sequence[str], args: Sequence[int | str]
        ) -> Any:
            reply = await original(self, script, keys, args)
            recorder.calls.append((script.name, list(args), reply, id(self)))
            if recorder._changed is not None:
                recorder._changed.set()
            return reply

        monkeypatch.setattr(RedisConnection, "run", run)

    async def until(self, done: Callable[[], bool]) -> None:
        """Wait until a script call makes ``done()`` true."""
        while not done():
            self._changed = anyio.Event()
            await self._changed.wait()

    def bookings(self) -> list[Booking]:
        return [
            Booking(conn, int(args[1]), int(args[0]), int(r[2]), int(r[1]), int(r[4]), str(r[5]))
            for name, args, r, conn in self.calls
            if name == "reserve" and int(r[0]) == 1
        ]

    def granted(self) -> list[Booking]:
        """The bookings whose slots were kept: not given back by a cancelled caller or by one
        that woke too late and booked again."""
        released = {str(args[0]) for name, args, _, _ in self.calls if name == "release"}
        return [b for b in self.bookings() if str(b.reserved) not in released]

    def backoffs(self) -> int:
        return sum(1 for name, _, r, _ in self.calls if name == "reserve" and int(r[0]) == 0)

    def count(self, name: str) -> int:
        return sum(1 for called, *_ in self.calls if called == name)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    return Recorder(monkeypatch)


def check_schedule(bookings: list[Booking], rate: float, burst: int) -> None:
    """The GCRA promises, counted exactly on Redis's clock."""
    interval = math.ceil(US / rate)
    slots = sorted(slot for booking in bookings for slot in booking.slots())
    # Slots are disjoint and one interval apart at least: no window of W µs holds more than
    # W / interval + 1 of them, for every W.
    assert all(b - a >= interval for a, b in itertools.pairwise(slots))
    for window in (interval * 10, US // 10, US):
        right = 0
        for left, first in enumerate(slots):
            while right < len(slots) and slots[right] < first + window:
                right += 1
            assert right - left <= window * rate / US + burst
    # No start burst: by any moment t, at most (t - t0) / interval + burst tokens were due.
    origin = min(booking.now for booking in bookings)
    sent = 0
    for booking in sorted(bookings, key=lambda b: b.due):
        sent += booking.tokens
        assert sent <= (booking.due - origin) / interval + burst
