"""S4: rate accuracy of ``send_bulk`` at 100 msg/s, judged by the emulator's own timestamps.

Texts are personalised, so every message is its own request and the server's commit time of
each one shows the schedule the limiter kept.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys

import anyio
import httpx

import asms

from ._clients import API


def windows(times: list[float], width: float) -> int:
    """The most events in any half-open window [t, t + width) starting at an event."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + width) - i for i, t in enumerate(times)), default=0)


async def run(url: str, seconds: float, rate: float) -> dict[str, float]:
    n = int(seconds * rate)
    messages = (asms.Message(str(27820000000 + i), f"Hello #{i}") for i in range(n))
    async with asms.AsyncClient(API["api_id"], API["user"], API["password"], base_url=url) as c:
        failed = 0
        async with c.send_bulk(messages, rate=rate) as run:
            async for result in run:
                failed += not result.ok
    async with httpx.AsyncClient(base_url=url) as admin:
        got = (await admin.get("/_emulator/messages", params={"limit": n + 10})).json()
    times = [m["time"] for m in got["messages"]]
    span = max(times) - min(times)
    return {
        "messages": len(times),
        "errors": failed + abs(len(times) - n),
        # n events span n - 1 intervals
        "rate": (len(times) - 1) / span if span > 0 else 0.0,
        "max_1s": windows(times, 1.0),
        "max_100ms": windows(times, 0.1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    json.dump(anyio.run(run, args.url, args.seconds, args.rate), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
