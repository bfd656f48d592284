"""Peak memory of ``send_bulk`` over 1,000,000 messages from a generator.

    python -m benchmarks.bulk_memory [--count 1000000] [--mix demo|personal|same] [--journal]
                                     [--json]

The messages come from a generator and go to an in-process sender that answers at once,
so the pipeline itself is what is measured: its memory must not grow with the input
(limit: 150 MB peak RSS). Prints the peak RSS (``ru_maxrss``) at every 100,000 results and
at the end; exits 1 above the limit. ``--json`` ends with one JSON line for the benchmark
harness (``rss_mb_at_100k``, ``rss_mb_peak``, ``ok``) and exits 0 whenever the run completed.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio

from asms._bulk.run import send_bulk
from asms._cli.demo import demo_messages
from asms._codes import MessageStatus
from asms._models import Message, SendResult, StatusInfo

LIMIT_MB = 150.0


class InstantSender:
    """Accepts every request at once (no network): the fastest possible gateway."""

    max_recipients = 600

    def __init__(self) -> None:
        self.requests = 0
        self._ids = 0

    async def send_request(self, messages: Sequence[Message], /) -> list[SendResult]:
        self.requests += 1
        start = self._ids
        self._ids += len(messages)
        return [
            SendResult(m.to, f"{start + i:032x}", m.climsgid, None, None, 1, m.ref)
            for i, m in enumerate(messages)
        ]

    async def query(
        self, apimsgid: str | None = None, *, climsgid: str | None = None
    ) -> StatusInfo:
        return StatusInfo("0" * 32, MessageStatus.MESSAGE_QUEUED)


def peak_mb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def messages(count: int, mix: str) -> Iterator[Message]:
    if mix == "demo":
        yield from demo_messages(count)
    elif mix == "personal":
        for i in range(count):
            yield Message(f"27{i:09d}", f"Hello customer {i}", ref=i)
    else:
        for i in range(count):
            yield Message(f"27{i:09d}", "The same text for everyone", ref=i)


async def run(count: int, mix: str, journal: Path | None, every: int) -> dict[str, float]:
    """Send ``count`` messages; return figures (peak RSS at each ``every`` results, ...)."""
    sender = InstantSender()
    started = time.perf_counter()
    done = accepted = 0
    marks: dict[str, float] = {}
    at_100k = None
    async with send_bulk(sender, messages(count, mix), rate=None, journal=journal) as bulk:
        async for result in bulk:
            done += 1
            accepted += result.ok
            if done == 100_000:
                at_100k = peak_mb()
            if done % every == 0:
                elapsed = time.perf_counter() - started
                marks[f"{done}"] = peak_mb()
                print(
                    f"{done:>10,} results  {elapsed:7.1f} s  peak RSS {peak_mb():6.1f} MB",
                    flush=True,
                )
    report = bulk.report()
    assert done == accepted == count, (done, accepted, count)
    seconds = time.perf_counter() - started
    print(
        f"{count:,} messages ({mix}) in {report.requests:,} requests, "
        f"{seconds:.1f} s, {report.achieved_rate:,.0f} msg/s"
    )
    marks.update(
        rss_mb_at_100k=at_100k if at_100k is not None else peak_mb(),
        rss_mb_peak=peak_mb(),
        seconds=seconds,
        requests=report.requests,
        messages=count,
    )
    return marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", "--messages", dest="count", type=int, default=1_000_000)
    parser.add_argument("--mix", choices=["demo", "personal", "same"], default="demo")
    parser.add_argument("--journal", action="store_true", help="journal into a temporary file")
    parser.add_argument("--every", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="end with a JSON line")
    args = parser.parse_args(argv)
    gc.collect()
    print(f"baseline peak RSS {peak_mb():.1f} MB (interpreter and imports)")
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "campaign.db" if args.journal else None
        figures = anyio.run(run, args.count, args.mix, journal, args.every)
    peak = peak_mb()
    ok = peak <= LIMIT_MB
    print(f"peak RSS {peak:.1f} MB (limit {LIMIT_MB:.0f} MB): {'ok' if ok else 'OVER THE LIMIT'}")
    if args.json:
        figures.update(ok=ok, limit_mb=LIMIT_MB, mix=args.mix, journal=args.journal)
        if not ok:
            figures["error"] = f"peak RSS {peak:.1f} MB above {LIMIT_MB:.0f} MB"
        print(json.dumps(figures))
        return 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
