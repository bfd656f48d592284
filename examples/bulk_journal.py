"""A campaign sent from a coroutine, resumable: the journal remembers every message.

Messages come from an async generator (here made up; in real life a database cursor), so
memory stays flat however long the campaign. With ``journal=`` a run that is killed halfway
can simply be run again with the same input: what the gateway already has is not sent again
(requests left in doubt are looked up by their ``climsgid`` first), and the results of the
earlier run are read back from the journal. Once a run has finished the campaign, the
journal refuses a new run (``asms.JournalFinishedError``): reusing it would only repeat its
results. Opened with ``replay=True`` it gives them back without sending anything.

    pip install asms                     # nothing beyond asms itself
    asms emulator &                      # the gateway it talks to (pip install 'asms[cli]')
    python examples/bulk_journal.py      # run it twice: the second run replays, sends nothing

It exits 1 unless every message was accepted.

ASMS_BASE_URL, ASMS_API_ID, ASMS_USER and ASMS_PASSWORD default to the emulator that
``asms emulator`` starts on port 8765.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import anyio

import asms

EMULATOR_URL = "http://127.0.0.1:8765"


async def campaign(count: int) -> AsyncIterator[asms.Message]:
    """The messages, produced lazily. A rerun must produce the same ones in the same order."""
    for n in range(count):
        number = f"2782{n:07d}"
        if n % 10 == 0:
            # Personal texts go one request each ...
            yield asms.Message.create(number, f"Your voucher code is {n:06d}", ref=n)
        else:
            # ... consecutive identical texts are grouped into multi-recipient requests.
            yield asms.Message.create(number, "The spring sale starts on Monday!", ref=n)


async def main(
    base_url: str | None = None, *, journal: str = "campaign.db", count: int = 1_000
) -> asms.BulkReport:
    client = asms.AsyncClient(
        os.environ.get("ASMS_API_ID", "1234"),
        os.environ.get("ASMS_USER", "demo"),
        os.environ.get("ASMS_PASSWORD", "demo"),
        base_url=base_url or os.environ.get("ASMS_BASE_URL", EMULATOR_URL),
    )
    async with client:
        try:
            report = await send(client, asms.Journal(journal), count)
        except asms.JournalFinishedError as finished:
            print(finished)
            report = await send(client, asms.Journal(journal, replay=True), count)
    print(report)
    return report


async def send(client: asms.AsyncClient, journal: asms.Journal, count: int) -> asms.BulkReport:
    async with client.send_bulk(campaign(count), rate=500, journal=journal) as run:
        async for result in run:
            if not result.ok:
                print(f"message {result.ref} to {result.to}: {result.error_description}")
    return run.report()


if __name__ == "__main__":
    finished = anyio.run(main)
    raise SystemExit(0 if finished.accepted == finished.total else 1)
