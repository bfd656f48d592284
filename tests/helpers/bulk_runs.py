"""What the bulk tests ask of a run: all its results, its peak rate, its journal's open rows,
and a run interrupted around its requests."""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.lowlevel

from asms._bulk.report import BulkResult
from asms._bulk.run import BulkRun, send_bulk
from asms._models import Message

from .bulk_fakes import FakeGateway, FakeSender


async def collect(run: BulkRun) -> list[BulkResult]:
    """Every result of ``run``, in the order they came."""
    async with run:
        return [result async for result in run]


def max_in_window(times: list[float], width: float) -> int:
    """The most events in any closed window ``[t, t + width]``."""
    ordered = sorted(times)
    eps = 1e-9
    return max(bisect.bisect_right(ordered, t + width + eps) - i for i, t in enumerate(ordered))


def unresolved(journal: Path) -> int:
    """Messages the journal at ``journal`` holds as in flight or of unknown outcome."""
    db = sqlite3.connect(journal)
    try:
        query = "SELECT COUNT(*) FROM messages WHERE state IN ('inflight', 'unknown')"
        return int(db.execute(query).fetchone()[0])
    finally:
        db.close()


async def interrupted_run(
    journal: Path, messages: list[Message], gateway: FakeGateway, *, dies: dict[int, str]
) -> tuple[BulkRun, FakeSender]:
    """A run whose request number ``n`` (1-based) never returns: ``dies[n]`` says whether
    the gateway committed it first (``"after"``) or not (``"before"``), like a process killed
    around its request. The run is stopped once every such request hangs.
    """

    async def hook(sender: FakeSender, request: Sequence[Message]) -> None:
        when = dies.get(len(sender.calls))
        if when == "after":
            sender.gateway.commit(request)
        if when is not None:
            await anyio.sleep_forever()
        return None

    sender = FakeSender(gateway, hook=hook)
    run = send_bulk(
        sender, messages, rate=None, concurrency=len(dies), journal=journal, drain_timeout=0.05
    )
    async with run:
        while len(sender.calls) < max(dies):
            await anyio.lowlevel.checkpoint()
        for _ in range(20):  # let the others reach their hang
            await anyio.lowlevel.checkpoint()
        run.stop()
        async for _ in run:
            pass
    return run, sender
