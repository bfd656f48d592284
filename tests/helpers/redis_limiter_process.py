"""One process of a shared limit, for tests/redis: ``python -m helpers.redis_limiter_process
URL ACCOUNT RATE COUNT START`` waits until unix time START, acquires one token COUNT times
through an ``asms.RedisRateLimiter`` and prints each reservation and each release (a slot
given back by a caller that woke too late) as a JSON line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import anyio

import asms
from asms._redis.connection import LuaScript, RedisConnection


async def main(url: str, account: str, rate: float, count: int, start: float) -> None:
    original = RedisConnection.run

    async def run(
        self: RedisConnection, script: LuaScript, keys: Sequence[str], args: Sequence[int | str]
    ) -> Any:
        reply = await original(self, script, keys, args)
        if script.name in ("reserve", "release"):
            print(
                json.dumps({"script": script.name, "args": list(args), "reply": reply}), flush=True
            )
        return reply

    RedisConnection.run = run  # type: ignore[method-assign]
    async with asms.RedisRateLimiter(url, account, rate=rate) as limiter:
        await anyio.sleep(max(0.0, start - time.time()))
        for _ in range(count):
            await limiter.acquire()


if __name__ == "__main__":
    url, account, rate, count, start = sys.argv[1:6]
    anyio.run(main, url, account, float(rate), int(count), float(start))
