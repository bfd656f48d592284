"""SIGINT and SIGTERM during ``asms bulk``: the run drains, and every row read is written.

Without a journal the results file is the only record of what went out: a message the
gateway accepted must have its ``accepted`` row even when the run was stopped by a signal.
The command runs as a real process against the emulator served over a socket; the signal
handling itself is also checked in process, on asyncio and on trio.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import pytest
from helpers.bulk_fakes import FakeGateway, FakeSender, personalised
from helpers.cli import PASSWORD, cli_account, read_results, start

from asms._bulk.journal import Journal
from asms._bulk.report import BulkResult, DeliveryState
from asms._bulk.run import send_bulk
from asms._cli._interrupts import Interrupts
from asms._models import Message, SendResult
from asms.testing import Faults, GatewayEmulator, running_emulator

ROWS = 3_000

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def write_campaign(path: Path) -> Path:
    # Personalised texts: one request per message, so many are in flight at any moment.
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "text"])
        for i in range(ROWS):
            writer.writerow([f"2782{i:07d}", f"Hello customer {i}"])
    return path


def serve(latency: float) -> tuple[GatewayEmulator, Iterator[str]]:
    account = cli_account(credits=1_000_000.0)
    emulator = GatewayEmulator(accounts=[account], faults=Faults(latency=latency))
    return emulator, running_emulator(emulator)


def start_bulk(url: str, campaign: Path, results: Path) -> subprocess.Popen[str]:
    return start("bulk", str(campaign), "-o", str(results), "--rate", "1000", base_url=url)


def wait_for_commits(emulator: GatewayEmulator, process: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 60
    while emulator.statistics().messages < count:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.005)


def rows_read(err: str) -> int:
    """The ``messages`` line of the summary: rows the run took from the input."""
    found = re.search(r"messages\s+([\d,]+)", err)
    assert found, err
    return int(found.group(1).replace(",", ""))


def check_rows(rows: list[dict[str, str]], read: int) -> None:
    """One row per input row read, and those are the first ``read`` rows of the input."""
    numbers = Counter(int(r["row"]) for r in rows)
    assert len(rows) == read
    assert set(numbers.values()) == {1}
    assert sorted(numbers) == list(range(1, read + 1))


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_drains_the_run_and_writes_every_row_read(
    tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    campaign = write_campaign(tmp_path / "campaign.csv")
    results = tmp_path / "results.csv"
    emulator, serving = serve(latency=0.05)
    with serving as url:
        process = start_bulk(url, campaign, results)
        wait_for_commits(emulator, process, 200)
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
        assert process.returncode == status, err
        committed = Counter(m.to for m in emulator.recorder.messages)
    rows = read_results(results)
    accepted = Counter(r["to"] for r in rows if r["status"] == "accepted")
    assert accepted == committed  # every message the gateway took has its row, once
    assert sum(accepted.values()) == sum(committed.values()) >= 200
    read = rows_read(err)
    assert read < ROWS, "the signal came too late to test anything"
    check_rows(rows, read)
    states = Counter(r["status"] for r in rows)
    # Drained, not cut off: every request in flight got its answer.
    assert set(states) <= {"accepted", "not_sent"}
    unsent = [r for r in rows if r["status"] == "not_sent"]
    assert all(r["error_description"] == f"not sent: interrupted ({sig.name})" for r in unsent)
    assert f"Interrupted ({sig.name})" in err
    assert PASSWORD not in err


def test_a_second_signal_interrupts_requests_in_flight_and_still_writes_them(
    tmp_path: Path,
) -> None:
    campaign = write_campaign(tmp_path / "campaign.csv")
    results = tmp_path / "results.csv"
    # Every reply comes 1.5 s after the commit: the first wave is in flight when the signals
    # come, and the drain would wait for it.
    emulator, serving = serve(latency=1.5)
    with serving as url:
        process = start_bulk(url, campaign, results)
        wait_for_commits(emulator, process, 8)
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        committed = Counter(m.to for m in emulator.recorder.messages)
    rows = read_results(results)
    by_state: dict[str, set[str]] = {}
    for r in rows:
        by_state.setdefault(r["status"], set()).add(r["to"])
    accepted = by_state.get("accepted", set())
    unknown = by_state.get("unknown", set())
    assert unknown, "nothing was interrupted in flight"
    assert set(by_state) <= {"accepted", "unknown", "not_sent"}
    # Nothing the gateway took is reported as not sent; nothing reported accepted is made up.
    assert accepted <= set(committed) <= accepted | unknown
    assert max(committed.values()) == 1
    check_rows(rows, rows_read(err))


# -- in process, on asyncio and trio ---------------------------------------------------------


@pytest.mark.anyio
async def test_sigterm_stops_a_run_and_every_message_read_gets_its_result() -> None:
    interrupts = Interrupts()

    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        if len(sender.calls) == 5:
            os.kill(os.getpid(), signal.SIGTERM)
            await anyio.sleep(0.01)  # the signal reaches the loop while this is in flight
        return None

    sender = FakeSender(hook=hook)
    run = send_bulk(sender, iter(personalised(1_000)), rate=None, concurrency=1)
    results: list[BulkResult] = []
    async with anyio.create_task_group() as watchers:
        await watchers.start(interrupts.watch)
        interrupts.attach(run)
        async with run:
            async for result in run:
                results.append(result)
        watchers.cancel_scope.cancel()
    assert interrupts.first is signal.SIGTERM and interrupts.count == 1
    report = run.report()
    assert report.cancelled and report.total < 1_000
    assert sorted(r.index for r in results) == list(range(report.total))
    accepted = [r for r in results if r.state is DeliveryState.ACCEPTED]
    assert len(accepted) == len(sender.calls) == sum(sender.gateway.delivered().values()) == 5
    assert report.not_sent == report.total - 5
    assert all(
        r.error_description == "not sent: interrupted (SIGTERM)"
        for r in results
        if r.state is DeliveryState.NOT_SENT
    )


class Noticed(Interrupts):
    """Interrupts that say when a signal came."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = anyio.Event()

    def received(self, signum: int) -> None:
        super().received(signum)
        self.seen.set()


@pytest.mark.anyio
async def test_a_second_signal_gives_requests_in_flight_an_unknown_result() -> None:
    interrupts = Noticed()
    in_flight = 4

    async def hook(sender: FakeSender, messages: Sequence[Message]) -> list[SendResult]:
        if len(sender.calls) == in_flight:
            os.kill(os.getpid(), signal.SIGTERM)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def signal_again() -> None:
        await interrupts.seen.wait()
        os.kill(os.getpid(), signal.SIGTERM)

    sender = FakeSender(hook=hook)
    # A long drain timeout: only the second signal can end the requests in flight.
    run = send_bulk(
        sender, iter(personalised(1_000)), rate=None, concurrency=in_flight, drain_timeout=600
    )
    results: list[BulkResult] = []
    with anyio.fail_after(30):
        async with anyio.create_task_group() as watchers:
            await watchers.start(interrupts.watch)
            watchers.start_soon(signal_again)
            interrupts.attach(run)
            async with run:
                async for result in run:
                    results.append(result)
            watchers.cancel_scope.cancel()
    assert interrupts.count == 2
    report = run.report()
    assert sorted(r.index for r in results) == list(range(report.total))
    assert len(sender.calls) == in_flight
    unknown = [r for r in results if r.state is DeliveryState.UNKNOWN]
    assert len(unknown) == in_flight == report.unknown
    assert report.not_sent == report.total - in_flight and report.accepted == 0


@pytest.mark.anyio
async def test_a_stop_while_an_earlier_run_is_reconciled_ends_the_run_at_once(
    tmp_path: Path,
) -> None:
    from helpers.bulk_runs import interrupted_run

    journal = tmp_path / "campaign.db"
    gateway = FakeGateway()
    messages = personalised(5)
    await interrupted_run(journal, messages, gateway, dies={1: "after"})
    sender = FakeSender(gateway)
    # The grace before the look-ups is far longer than the guard: only the stop ends it.
    run = send_bulk(sender, messages, rate=None, journal=journal, reconcile_grace=3_600)
    results: list[BulkResult] = []
    with anyio.fail_after(30):
        async with run:
            run.stop("not sent: interrupted (SIGINT)")
            async for result in run:
                results.append(result)
    assert results == [] and run.report().total == 0
    assert sender.queries == [] and sender.calls == []
    async with Journal(journal) as j:
        assert len(await j.unresolved()) == 1  # left for the next run to settle
