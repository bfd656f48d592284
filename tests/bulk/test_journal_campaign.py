"""A journal knows its campaign: a finished one is refused unless replayed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers.bulk_fakes import FakeGateway, FakeSender, numbers, personalised
from helpers.bulk_runs import collect

import asms
from asms._bulk.journal import check_journal
from asms._bulk.report import DeliveryState
from asms._bulk.run import send_bulk
from asms._exceptions import JournalFinishedError, JournalMismatchError, ValidationError
from asms._models import Message, SendResult

pytestmark = pytest.mark.anyio


async def test_a_finished_campaign_is_refused_with_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "same.db"
    gateway = FakeGateway()
    messages = personalised(100)
    journal = asms.Journal(path, campaign="december")
    await collect(send_bulk(FakeSender(gateway), messages, rate=None, journal=journal))

    next_week = FakeSender(gateway)
    with pytest.raises(JournalFinishedError) as info:
        await collect(send_bulk(next_week, messages, rate=None, journal=path))
    assert next_week.calls == [] and next_week.queries == []
    campaign = info.value.campaign
    assert campaign.name == "december" and campaign.finished is not None
    assert campaign.counts == {"accepted": 100}
    assert "'december'" in str(info.value) and "100 accepted" in str(info.value)
    with pytest.raises(JournalFinishedError):
        check_journal(path)
    assert check_journal(path, replay=True).counts == {"accepted": 100}
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(100), 1))


async def test_replay_sends_nothing_and_gives_every_message_its_stored_result(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    gateway = FakeGateway()
    first = await collect(send_bulk(FakeSender(gateway), personalised(4), rate=None, journal=path))
    longer = personalised(6)  # two messages the journal never saw
    sender = FakeSender(gateway)
    run = send_bulk(sender, longer, rate=None, journal=asms.Journal(path, replay=True))
    again = {r.index: r for r in await collect(run)}
    assert sender.calls == [] and sender.queries == []
    assert sorted(again) == list(range(6))
    assert {i: again[i].apimsgid for i in range(4)} == {r.index: r.apimsgid for r in first}
    assert all(again[i].resumed and again[i].ok for i in range(4))
    assert [again[i].state for i in (4, 5)] == [DeliveryState.NOT_SENT] * 2
    assert run.report().not_sent == 2 and run.report().resumed == 4
    # Replaying writes nothing: the campaign is still finished.
    with pytest.raises(JournalFinishedError):
        check_journal(path)


async def test_a_stopped_campaign_is_resumed_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    gateway = FakeGateway()
    messages = personalised(10)
    sender = FakeSender(gateway)
    run = send_bulk(sender, messages, rate=None, concurrency=1, journal=path)
    async with run:
        async for result in run:
            if result.index == 2:
                run.stop()
    assert check_journal(path).finished is None
    rest = FakeSender(gateway)
    results = await collect(send_bulk(rest, messages, rate=None, journal=path))
    assert len(results) == 10 and all(r.ok for r in results)
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(10), 1))
    assert check_journal(path, replay=True).finished is not None


async def test_a_campaign_with_a_retryable_rejection_left_is_not_finished(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    gateway = FakeGateway()

    async def hook(sender: FakeSender, request: Sequence[Message]) -> list[SendResult] | None:
        m = request[0]
        if m.ref == 1:
            return [SendResult(m.to, None, m.climsgid, 901, "Internal error", 1)]
        return None

    messages = personalised(3)
    await collect(send_bulk(FakeSender(gateway, hook=hook), messages, rate=None, journal=path))
    assert check_journal(path).finished is None
    again = FakeSender(gateway)
    await collect(send_bulk(again, messages, rate=None, journal=path))
    assert [c.numbers for c in again.calls] == [[messages[1].to]]
    assert check_journal(path, replay=True).finished is not None
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(3), 1))


async def test_a_journal_of_another_campaign_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with asms.Journal(path, campaign="spring") as journal:
        assert (await journal.campaign()).name == "spring"
    sender = FakeSender()
    with pytest.raises(JournalMismatchError) as info:
        await collect(
            send_bulk(
                sender, personalised(2), rate=None, journal=asms.Journal(path, campaign="autumn")
            )
        )
    assert "'spring'" in str(info.value) and "'autumn'" in str(info.value)
    assert sender.calls == []
    with pytest.raises(ValidationError):
        asms.Journal(path, campaign="")
