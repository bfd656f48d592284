"""Per-message locks of a receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

import anyio

__all__ = ["KeyedLocks"]


class KeyedLocks:
    """One lock per key, created on demand and dropped when nobody holds or awaits it.

    Callbacks about the same message are handled one at a time, so a repeat that arrives
    while the first copy is still in its handler waits and is then seen as a duplicate.
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[anyio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        entry = self._locks.get(key)
        if entry is None:
            entry = (anyio.Lock(), [0])
            self._locks[key] = entry
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]
