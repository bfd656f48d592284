"""``asms demo`` / ``make demo``: a bulk campaign through a local gateway emulator.

Starts the emulator (``python -m asms emulator``: uvicorn on 127.0.0.1, a free port, in its
own process so that it does not share an interpreter lock with the sender), sends a mixed
campaign (one text to many, personalised texts, unicode, long texts) through
:func:`~asms._bulk.run.send_bulk` with a live progress bar, and prints the report. Everything
stays on this machine; the default 20,000 messages at 1,000 msg/s take about 20 seconds.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from .._bulk.report import BulkReport, BulkResult
from .._bulk.run import send_bulk
from .._config import (
    DEFAULT_DEMO_COUNT,
    DEFAULT_DEMO_RATE,
    DEMO_API_ID,
    DEMO_PASSWORD,
    DEMO_USER,
)
from .._models import Message, SendOptions

__all__ = [
    "DemoOutcome",
    "admin",
    "demo_messages",
    "emulator_process",
    "run_demo",
    "run_demo_async",
]

_NAMES = ("Thandi", "Pieter", "Ayesha", "Sipho", "Johan", "Lerato", "Nomsa", "Ravi", "Zoë")
_PROMO = "Winter sale: 30% off everything until Sunday. Reply STOP to opt out."
_UNICODE_TEXT = "Καλημέρα! Your order is on its way 🚚 — track it at example.com/t"
_LONG = (
    "Important notice about your account: from 1 July our branch opening hours change to "
    "08:00-17:00 on weekdays and 09:00-13:00 on Saturdays. Online and phone banking stay "
    "available around the clock. Questions? Call 0800 123 456 or visit example.com/hours. "
    "This message was sent to all our customers; no action is needed from you. Thank you "
    "for banking with us."
)


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """The demo's report, and what the emulator committed."""

    report: BulkReport
    committed: int  # recipients the emulator accepted
    # Copies it committed beyond the first of a message (same number, sender and text),
    # whatever climsgids they carried.
    duplicates: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Every message accepted, and committed exactly once."""
        total = self.report.total
        return self.report.accepted == total == self.committed and self.duplicates == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def admin(base_url: str, path: str) -> Any:
    """GET one of the emulator's ``/_emulator/`` admin endpoints (JSON)."""
    with urllib.request.urlopen(f"{base_url}/_emulator/{path}", timeout=10) as reply:
        return json.load(reply)


@contextmanager
def emulator_process(
    *options: str, port: int | None = None, startup_timeout: float = 30.0
) -> Iterator[str]:
    """Run ``python -m asms emulator`` (admin API on) on 127.0.0.1; yield its base URL."""
    port = port or _free_port()
    command: Sequence[str] = [
        sys.executable,
        "-m",
        "asms",
        "emulator",
        "--port",
        str(port),
        "--recorder",
        "counters",
        *options,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                admin(base_url, "statistics")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                    raise RuntimeError(f"the emulator did not start: {error.strip()}") from None
                time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def demo_messages(count: int = DEFAULT_DEMO_COUNT, *, prefix: str = "2782") -> Iterator[Message]:
    """A deterministic mixed campaign with a different number for every message.

    Half one promotional text (grouped into 600-recipient requests), a quarter
    personalised texts (one request each), 15 % one unicode text and 10 % one long text
    (3 parts), in that order.
    """
    width = 11 - len(prefix)
    shares = (count // 2, count // 4, count * 15 // 100)
    ends = (shares[0], shares[0] + shares[1], shares[0] + shares[1] + shares[2])
    promo = SendOptions(from_="ShopCo")
    for index in range(count):
        to = f"{prefix}{index:0{width}d}"
        if index < ends[0]:
            yield Message(to, _PROMO, promo, ref=index)
        elif index < ends[1]:
            name = _NAMES[index % len(_NAMES)]
            text = f"Hi {name}, your one-time code is {index * 7919 % 1_000_000:06d}."
            yield Message(to, text, ref=index)
        elif index < ends[2]:
            yield Message(to, _UNICODE_TEXT, ref=index)
        else:
            yield Message(to, _LONG, ref=index)


async def run_demo_async(
    count: int = DEFAULT_DEMO_COUNT,
    rate: float = DEFAULT_DEMO_RATE,
    *,
    concurrency: int | None = None,
    console: Any = None,
) -> DemoOutcome:
    """Run the demo and return its report (``console``: a rich Console to print on)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from .._client import AsyncClient

    console = console if console is not None else Console()
    started = time.perf_counter()
    console.print("starting the gateway emulator (python -m asms emulator) ...")
    with emulator_process() as base_url:
        console.print(
            f"[bold]asms demo[/]: {count:,} messages at {rate:,.0f} msg/s "
            f"(about {count / rate:.0f} s) to the gateway emulator at {base_url} (uvicorn)"
        )
        console.print(
            "campaign: 50 % one text (grouped, 600 recipients per request), 25 % personalised,"
            " 15 % unicode, 10 % long (3 parts)"
        )
        states: Counter[str] = Counter()
        progress = Progress(
            TextColumn("[bold blue]sending"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>6,.0f} msg/s"),
            TextColumn("[green]{task.fields[ok]:,} ok[/] [red]{task.fields[failed]:,} failed"),
            TimeElapsedColumn(),
            console=console,
        )
        async with AsyncClient(DEMO_API_ID, DEMO_USER, DEMO_PASSWORD, base_url=base_url) as client:
            run = send_bulk(client, demo_messages(count), rate=rate, concurrency=concurrency)
            with progress:
                task = progress.add_task("send", total=count, rate=0.0, ok=0, failed=0)
                async with run:
                    result: BulkResult
                    async for result in run:
                        states[result.state.value] += 1
                        done = sum(states.values())
                        if done % 100 == 0 or done == count:
                            stats = run.statistics()
                            progress.update(
                                task,
                                completed=done,
                                rate=stats.rate,
                                ok=states["accepted"],
                                failed=done - states["accepted"],
                            )
            report = run.report()
        totals = admin(base_url, "statistics")
        committed = int(totals["messages"])
        duplicates = int(totals["extra_messages"])
    outcome = DemoOutcome(report, committed, duplicates, time.perf_counter() - started)
    _print_report(console, outcome)
    return outcome


def _print_report(console: Any, outcome: DemoOutcome) -> None:
    from rich.table import Table

    table = Table(title="bulk report", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in outcome.report.rows():
        table.add_row(label, value)
    table.add_row("committed by the emulator", f"{outcome.committed:,}")
    table.add_row("sent twice (same number and text)", f"{outcome.duplicates:,}")
    console.print(table)
    verdict = "[green]every message accepted exactly once[/]" if outcome.ok else "[red]MISMATCH[/]"
    console.print(f"{verdict}; demo finished in {outcome.seconds:.1f} s")


def run_demo(count: int = DEFAULT_DEMO_COUNT, rate: float = DEFAULT_DEMO_RATE) -> int:
    """Run the demo (blocking); exit status 0 when every message was accepted exactly once."""
    outcome = anyio.run(run_demo_async, count, rate)
    return 0 if outcome.ok else 1
