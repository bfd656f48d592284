"""A journaled bulk campaign, run as its own process by tests/bulk/test_bulk_kill.py.

    python tests/helpers/kill_campaign.py URL JOURNAL [--count 5000] [--rate 2000]

It prints ``progress <n>`` after every 50 messages it sent itself (results read back from
the journal do not count), so the test can kill it mid-run, and ``report <json>`` at the
end. Run again with the same journal, it resumes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import anyio

from asms._bulk.run import send_bulk
from asms._client import AsyncClient
from asms._models import Message


def campaign_messages(count: int) -> Iterator[Message]:
    """Blocks of 500: 100 of one text (one request), 350 personalised, 50 of a unicode
    text; so requests of every size are in flight throughout. One number per message.
    """
    for index in range(count):
        to = f"2783{index:07d}"
        slot = index % 500
        if slot < 100:
            yield Message(to, "Flash sale today only: 2 for 1 on all pizzas!", ref=index)
        elif slot < 450:
            yield Message(to, f"Dear customer {index}, your parcel arrives tomorrow.", ref=index)
        else:
            yield Message(to, "Ευχαριστούμε για την παραγγελία σας ✓", ref=index)


async def campaign(url: str, journal: str, count: int, rate: float) -> None:
    async with AsyncClient(1234, "demo", "demo", base_url=url) as client:
        run = send_bulk(
            client,
            campaign_messages(count),
            rate=rate,
            journal=journal,
            # The emulator is on this machine: what a killed process wrote reaches it
            # within milliseconds, so a short grace before reconciling is enough.
            reconcile_grace=0.5,
        )
        done = 0
        async with run:
            async for result in run:
                if result.resumed:
                    continue
                done += 1
                if done % 50 == 0:
                    print(f"progress {done}", flush=True)
        report = run.report()
    summary = {
        "total": report.total,
        "accepted": report.accepted,
        "resumed": report.resumed,
        "unknown": report.unknown,
        "not_sent": report.not_sent,
        "rejected": report.rejected,
        "requests": report.requests,
    }
    print("report " + json.dumps(summary), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("journal")
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=2_000.0)
    args = parser.parse_args()
    anyio.run(campaign, args.url, args.journal, args.count, args.rate)


if __name__ == "__main__":
    main()
