"""Resuming a bulk run from its journal: skip what was settled, reconcile what was in flight."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers.bulk_fakes import FakeGateway, FakeSender, numbers, personalised, same_text
from helpers.bulk_runs import collect, interrupted_run

from asms._bulk.journal import Journal, JournalMismatchError
from asms._bulk.report import BulkResult, DeliveryState
from asms._bulk.run import send_bulk
from asms._clock import VirtualClock
from asms._exceptions import ConnectError, JournalFinishedError
from asms._models import Message, SendResult

pytestmark = pytest.mark.anyio


async def test_a_finished_campaign_is_refused_and_replayed_on_request(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.db"
    gateway = FakeGateway()
    messages = [*same_text(700), *personalised(50)]
    first = await collect(send_bulk(FakeSender(gateway), messages, rate=None, journal=journal))
    assert all(r.ok for r in first)

    refused = FakeSender(gateway)
    with pytest.raises(JournalFinishedError) as info:
        await collect(send_bulk(refused, messages, rate=None, journal=journal))
    assert refused.calls == [] and refused.queries == []
    assert info.value.campaign.counts == {"accepted": 750}
    assert "finished" in str(info.value) and "replay" in str(info.value)

    sender = FakeSender(gateway)
    replayed = Journal(journal, replay=True)
    run = send_bulk(sender, messages, rate=None, journal=replayed)
    again = await collect(run)
    assert not replayed.is_open  # opened by the run, so closed by it
    assert sender.calls == [] and sender.queries == []
    assert sorted(r.index for r in again) == list(range(750))
    assert all(r.ok and r.resumed for r in again)
    before = {r.index: (r.apimsgid, r.climsgid) for r in first}
    assert {r.index: (r.apimsgid, r.climsgid) for r in again} == before
    report = run.report()
    assert report.resumed == report.accepted == 750 and report.requests == 0


async def test_an_interrupted_run_is_reconciled_before_anything_is_resent(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "campaign.db"
    gateway = FakeGateway()
    messages = personalised(40)
    run, sender = await interrupted_run(journal, messages, gateway, dies={3: "after", 4: "before"})
    report = run.report()
    assert report.unknown == 2  # the two hanging requests
    async with Journal(journal) as j:
        assert len(await j.unresolved()) == 2
    committed_then_died = sender.calls[2].climsgid
    died_before = sender.calls[3].climsgid

    resumed = FakeSender(gateway)
    run2 = send_bulk(
        resumed, messages, rate=None, journal=journal, reconcile_grace=0, reconcile_schedule=[0]
    )
    results = await collect(run2)
    assert sorted(resumed.queries) == sorted([committed_then_died, died_before])
    assert sorted(r.index for r in results) == list(range(40))
    states = Counter(r.state for r in results)
    assert states == {DeliveryState.ACCEPTED: 40}
    # Exactly once each: the committed request was not sent again, the other one was.
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(40), 1))
    assert committed_then_died not in {c.climsgid for c in resumed.calls}
    by_number = {r.to: r for r in results}
    found = by_number[sender.calls[2].numbers[0]]
    assert found.resumed and found.climsgid == committed_then_died
    assert found.apimsgid == gateway.apimsgids[committed_then_died]  # single recipient
    async with Journal(journal) as j:
        assert await j.unresolved() == []
        assert await j.counts() == {"accepted": 40}


async def test_a_grouped_request_is_reconciled_as_a_whole(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.db"
    gateway = FakeGateway()
    messages = same_text(1_000)
    await interrupted_run(journal, messages, gateway, dies={1: "after"})
    resumed = FakeSender(gateway)
    results = await collect(
        send_bulk(
            resumed,
            messages,
            rate=None,
            journal=journal,
            reconcile_grace=0,
            reconcile_schedule=[0],
        )
    )
    assert sorted(r.index for r in results) == list(range(1_000))
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(1_000), 1))
    reconciled = sorted((r for r in results if r.resumed), key=lambda r: r.index)
    assert len(reconciled) == 600
    # The look-up names a message, not its recipient: all are unknown, none resent.
    assert all(r.state is DeliveryState.UNKNOWN for r in reconciled)
    assert all(r.ok for r in results if not r.resumed)


async def test_a_failed_lookup_is_never_resent(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.db"
    gateway = FakeGateway()
    messages = personalised(10)
    await interrupted_run(journal, messages, gateway, dies={2: "before"})
    resumed = FakeSender(gateway)
    resumed.query_error = ConnectError("gateway down")
    run = send_bulk(
        resumed, messages, rate=None, journal=journal, reconcile_grace=0, reconcile_schedule=[0]
    )
    results = {r.index: r for r in await collect(run)}
    unknown = [r for r in results.values() if r.state is DeliveryState.UNKNOWN]
    assert len(unknown) == 1 and unknown[0].resumed
    assert unknown[0].to not in gateway.delivered()
    assert run.report().unknown == 1
    assert len(results) == 10
    # A later run that can ask the gateway settles it: unknown there, so it is sent.
    healthy = FakeSender(gateway)
    await collect(
        send_bulk(
            healthy, messages, rate=None, journal=journal, reconcile_grace=0, reconcile_schedule=[0]
        )
    )
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(10), 1))


async def test_final_rejections_stay_and_transient_ones_are_retried(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.db"
    gateway = FakeGateway()

    async def hook(sender: FakeSender, request: Sequence[Message]) -> list[SendResult] | None:
        m = request[0]
        if m.ref == 0:
            return [SendResult(m.to, None, m.climsgid, 105, "Invalid destination address", 1)]
        if m.ref == 1:
            return [SendResult(m.to, None, m.climsgid, 901, "Internal error", 1)]
        return None

    messages = personalised(3)
    first = await collect(
        send_bulk(FakeSender(gateway, hook=hook), messages, rate=None, journal=journal)
    )
    assert Counter(r.state for r in first)[DeliveryState.REJECTED] == 2
    again_sender = FakeSender(gateway)
    again = {
        r.index: r
        for r in await collect(send_bulk(again_sender, messages, rate=None, journal=journal))
    }
    assert again[0].state is DeliveryState.REJECTED and again[0].resumed
    assert again[0].error_code == 105
    assert again[1].ok and not again[1].resumed
    assert again[2].ok and again[2].resumed
    assert [c.numbers for c in again_sender.calls] == [[messages[1].to]]


async def test_a_different_input_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.db"
    await interrupted_run(journal, personalised(5), FakeGateway(), dies={1: "after"})
    other = [Message(m.to, m.text + "!") for m in personalised(5)]
    sender = FakeSender()
    run = send_bulk(
        sender, other, rate=None, journal=journal, reconcile_grace=0, reconcile_schedule=[0]
    )
    results: list[BulkResult] = []
    with pytest.raises(JournalMismatchError):
        async with run:
            async for result in run:
                results.append(result)
    assert sender.calls == []
    assert [(r.index, r.state) for r in results] == [(0, DeliveryState.NOT_SENT)]
    assert run.report().total == run.report().not_sent == 1


async def test_a_journal_instance_stays_open(tmp_path: Path) -> None:
    async with Journal(tmp_path / "campaign.db") as journal:
        await collect(send_bulk(FakeSender(), personalised(5), rate=None, journal=journal))
        assert await journal.counts() == {"accepted": 5}


async def test_reconciliation_waits_the_grace_period(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.db"
    gateway = FakeGateway()
    messages = personalised(5)
    await interrupted_run(journal, messages, gateway, dies={1: "after"})
    async with Journal(journal) as j:
        (pending,) = await j.unresolved()
    db = sqlite3.connect(journal)
    (stopped,) = db.execute("SELECT value FROM asms_meta WHERE key = 'stopped'").fetchone()
    db.close()
    assert float(stopped) >= pending.updated
    # The fake wall clock starts where the interrupted run stopped: the grace counts from
    # there, not from the (earlier) write of the request.
    clock = VirtualClock(wall_start=float(stopped))
    asked_at: list[float] = []

    class Timed(FakeSender):
        async def query(self, apimsgid: str | None = None, *, climsgid: str | None = None):  # type: ignore[no-untyped-def]
            asked_at.append(clock.current_time())
            return await super().query(apimsgid, climsgid=climsgid)

    await collect(
        send_bulk(
            Timed(gateway),
            messages,
            rate=None,
            journal=journal,
            clock=clock,
            reconcile_grace=7,
            reconcile_schedule=[0.5, 1],
        )
    )
    assert asked_at == [7.5]  # found at the first look-up of the schedule
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(5), 1))
