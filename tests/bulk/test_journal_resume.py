"""A resumed run reconciles at least as carefully as a live one.

Its grace counts from when the earlier run stopped (its record, or its last heartbeat plus
the heartbeat interval when it died), and each request is asked on the reconciliation
schedule: resent only when the last answer is "unknown" (104).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest
from helpers.bulk_fakes import FakeGateway, FakeSender, numbers, personalised, same_text

import asms
from asms._bulk.grouping import Item
from asms._bulk.journal import Journal, fingerprint, journal_rows
from asms._bulk.report import DeliveryState
from asms._bulk.run import send_bulk
from asms._clock import VirtualClock
from asms._codes import MessageStatus
from asms._exceptions import ConnectError, MessageLookupError
from asms._models import Message, StatusInfo

pytestmark = pytest.mark.anyio

WALL = 1_800_000_000.0


class LateGateway(FakeSender):
    """``querymsg`` sees a request only ``visible_after`` seconds after it was accepted."""

    def __init__(self, gateway: FakeGateway, clock: VirtualClock, visible_after: float) -> None:
        super().__init__(gateway, clock=clock)
        self.accepted_at: dict[str, float] = {}
        self.visible_after = visible_after
        self.asked_at: list[float] = []

    def accept(self, messages: Sequence[Message], at: float) -> None:
        self.gateway.commit(messages)
        climsgid = messages[0].climsgid
        assert climsgid is not None
        self.accepted_at[climsgid] = at

    async def query(
        self, apimsgid: str | None = None, *, climsgid: str | None = None
    ) -> StatusInfo:
        assert climsgid is not None
        self.asked_at.append(self.clock.current_time())
        self.queries.append(climsgid)
        accepted = self.accepted_at.get(climsgid)
        if accepted is not None and self.clock.current_time() >= accepted + self.visible_after:
            return StatusInfo(self.gateway.apimsgids[climsgid], MessageStatus.MESSAGE_QUEUED)
        raise MessageLookupError(104, "Unknown client message ID")


async def died_at(path: Path, sender: LateGateway, messages: list[Message], end: float) -> None:
    """The journal a run leaves when it sent ``messages`` one per request at 0 s (the gateway
    accepted every one) and then died at ``end`` seconds, beating until then."""
    async with Journal(path) as journal:
        journal.heartbeat_interval = 1.0
        await journal.start_run(WALL)
        clock = VirtualClock(wall_start=WALL)
        for index, message in enumerate(messages):
            climsgid = f"req{index:04d}"
            item = Item(index, message, fingerprint(message))
            await journal.write(journal_rows([item], "inflight", climsgid, clock))
            sent = Message(message.to, message.text, message.options, climsgid=climsgid)
            sender.accept([sent], at=0.0)
        beat = 1.0
        while beat <= end:
            await journal.beat(WALL + beat)
            beat += 1.0
        # No end_run: the process died without saying so.


async def test_a_run_resumed_right_after_a_crash_waits_for_the_gateway_to_show_its_requests(
    tmp_path: Path,
) -> None:
    # The review's case: requests accepted at 0 s show in querymsg from 10 s on; the run
    # died at 8 s and is resumed at once. Asked at 8 s, the gateway would deny all 20.
    path = tmp_path / "crash.db"
    clock = VirtualClock(wall_start=WALL)
    gateway = FakeGateway()
    sender = LateGateway(gateway, clock, visible_after=10.0)
    messages = personalised(20)
    await died_at(path, sender, messages, end=8.0)
    clock.advance(8.0)

    run = send_bulk(sender, messages, rate=None, journal=path, clock=clock, reconcile_grace=5.0)
    async with run:
        results = [r async for r in run]
    assert sender.calls == []  # nothing resent
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(20), 1))
    assert Counter(r.state for r in results) == {DeliveryState.ACCEPTED: 20}
    # Grace from the last heartbeat (8 s) plus its interval (1 s), then the schedule.
    first = 8.0 + 1.0 + 5.0 + asms.RetryPolicy().reconcile_schedule[0]
    assert min(sender.asked_at) == first


@pytest.mark.parametrize(
    ("answers", "resent"),
    [
        (["missing", "missing", "error"], 0),  # the last answer proves nothing: unknown
        (["missing", "error", "missing"], 1),  # the last says "unknown": resent
        (["error", "missing", "found"], 0),  # found at the third: accepted
    ],
)
async def test_each_request_is_asked_on_the_schedule_and_resent_only_on_a_last_104(
    tmp_path: Path, answers: list[str], resent: int
) -> None:
    path = tmp_path / "j.db"
    clock = VirtualClock(wall_start=WALL)
    gateway = FakeGateway()
    messages = personalised(1)
    script = iter(answers)
    asked_at: list[float] = []

    class Scripted(FakeSender):
        async def query(
            self, apimsgid: str | None = None, *, climsgid: str | None = None
        ) -> StatusInfo:
            assert climsgid is not None
            asked_at.append(clock.current_time())
            self.queries.append(climsgid)
            answer = next(script)
            if answer == "error":
                raise ConnectError("gateway down")
            if answer == "found":
                return StatusInfo("api-found", MessageStatus.MESSAGE_QUEUED)
            raise MessageLookupError(104, "Unknown client message ID")

    async with Journal(path) as journal:
        item = Item(0, messages[0], fingerprint(messages[0]))
        await journal.write(journal_rows([item], "inflight", "req0", clock))
        await journal.end_run(WALL, complete=False)

    sender = Scripted(gateway)
    run = send_bulk(
        sender,
        messages,
        rate=None,
        journal=path,
        clock=clock,
        reconcile_grace=2.0,
        reconcile_schedule=[0.5, 1.0, 2.0],
    )
    async with run:
        (result,) = [r async for r in run]
    assert asked_at == [2.5, 3.5, 5.5]
    assert len(sender.calls) == resent
    if answers[-1] == "found":
        assert result.state is DeliveryState.ACCEPTED and result.apimsgid == "api-found"
    elif resent:
        assert result.state is DeliveryState.ACCEPTED and not result.resumed
    else:
        assert result.state is DeliveryState.UNKNOWN


async def test_the_last_fraction_of_a_second_of_grace_is_waited_too(tmp_path: Path) -> None:
    # 0.5 s of grace remain when the run resumes; the gateway shows the request after 0.3 s.
    path = tmp_path / "j.db"
    clock = VirtualClock(wall_start=WALL)
    gateway = FakeGateway()
    sender = LateGateway(gateway, clock, visible_after=4.8)
    messages = personalised(1)
    async with Journal(path) as journal:
        item = Item(0, messages[0], fingerprint(messages[0]))
        await journal.write(journal_rows([item], "inflight", "req0", clock))
        sent = Message(messages[0].to, messages[0].text, climsgid="req0")
        sender.accept([sent], at=0.0)
        await journal.end_run(WALL, complete=False)
    clock.advance(4.5)
    run = send_bulk(
        sender,
        messages,
        rate=None,
        journal=path,
        clock=clock,
        reconcile_grace=5.0,
        reconcile_schedule=[0.0],
    )
    async with run:
        (result,) = [r async for r in run]
    assert sender.asked_at == [5.0]
    assert sender.calls == [] and result.state is DeliveryState.ACCEPTED
    assert gateway.delivered() == Counter({messages[0].to: 1})


async def test_a_running_send_beats_and_records_its_end(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    release = anyio.Event()

    async def hook(sender: FakeSender, request: Sequence[Message]) -> None:
        await release.wait()

    journal = Journal(path)
    journal.heartbeat_interval = 0.01
    run = send_bulk(FakeSender(hook=hook), personalised(3), rate=None, journal=journal)

    def meta() -> dict[str, str]:
        db = sqlite3.connect(path)
        try:
            return dict(db.execute("SELECT key, value FROM asms_meta"))
        finally:
            db.close()

    async with run:
        beats = {meta()["alive"]}
        assert "stopped" not in meta()
        with anyio.fail_after(10):
            while len(beats) < 3:
                await anyio.sleep(0.01)
                beats.add(meta()["alive"])
        release.set()
        assert len([r async for r in run]) == 3
    assert float(meta()["stopped"]) >= max(float(b) for b in beats)
    assert float(meta()["alive_interval"]) == 0.01


CRASHING = """
import sys, anyio
from asms._bulk.run import send_bulk
from asms._models import Message

class Hangs:
    max_recipients = 1
    async def send_request(self, messages):
        with open(sys.argv[2], "a") as accepted:  # the gateway accepts it, no reply comes
            accepted.write(f"{messages[0].climsgid} {messages[0].to}\\n")
        print("sent", flush=True)
        await anyio.sleep(60)

messages = [Message(f"2782{i:07d}", f"Hello customer {i}", ref=i) for i in range(3)]

async def main():
    async with send_bulk(Hangs(), messages, rate=None, concurrency=3, journal=sys.argv[1]) as run:
        async for _ in run:
            pass

anyio.run(main)
"""


def test_a_killed_run_is_reconciled_from_its_last_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    accepted_file = tmp_path / "accepted.txt"
    root = str(Path(asms.__file__).resolve().parent.parent)
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING, str(path), str(accepted_file)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": root},
    )
    try:
        assert child.stdout is not None
        for _ in range(3):
            assert child.stdout.readline().strip() == "sent"
        accepted_at = time.time()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)

    gateway = FakeGateway()
    accepted = [line.split() for line in accepted_file.read_text().splitlines()]
    for climsgid, to in accepted:
        gateway.commit([Message(to, "x", climsgid=climsgid)])
    # Shown by querymsg a second after it was accepted: a look-up right after the kill
    # would be told "unknown" and the messages sent twice.
    visible_from = accepted_at + 1.0

    class Late(FakeSender):
        async def query(
            self, apimsgid: str | None = None, *, climsgid: str | None = None
        ) -> StatusInfo:
            if time.time() < visible_from:
                self.queries.append(climsgid or "")
                raise MessageLookupError(104, "Unknown client message ID")
            return await super().query(apimsgid, climsgid=climsgid)

    sender = Late(gateway)

    async def resume() -> list[asms.BulkResult]:
        run = send_bulk(sender, personalised(3), rate=None, journal=path, reconcile_grace=0.2)
        async with run:  # the dead run's lock is free
            return [r async for r in run]

    results = anyio.run(resume)
    assert sender.calls == []
    assert len(results) == 3 and all(r.ok and r.resumed for r in results)
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(3), 1))


async def test_a_found_request_of_several_messages_leaves_them_all_unknown(
    tmp_path: Path,
) -> None:
    # querymsg by climsgid names one message, not its recipient (any of them may have been
    # refused): a resumed run claims no more than a live run would (found_results), and
    # never resends them.
    path = tmp_path / "j.db"
    clock = VirtualClock(wall_start=WALL)
    gateway = FakeGateway()
    sender = LateGateway(gateway, clock, visible_after=0.0)
    messages = same_text(3)
    async with Journal(path) as journal:
        items = [Item(i, m, fingerprint(m)) for i, m in enumerate(messages)]
        await journal.write(journal_rows(items, "inflight", "req0", clock))
        sender.accept([m.with_climsgid("req0") for m in messages], at=0.0)
        await journal.end_run(WALL, complete=False)

    for _ in range(2):  # a second resume asks again and must not promote any message
        run = send_bulk(
            sender,
            messages,
            rate=None,
            journal=path,
            clock=clock,
            reconcile_grace=1.0,
            reconcile_schedule=[0.0],
        )
        async with run:
            results = sorted([r async for r in run], key=lambda r: r.index)
        assert sender.calls == []  # nothing resent
        assert gateway.delivered() == Counter(dict.fromkeys(numbers(3), 1))
        assert [r.state for r in results] == [DeliveryState.UNKNOWN] * 3
        assert all(r.resumed for r in results)
        for result in results:
            assert result.apimsgid is None
            assert result.error_code == asms.OUTCOME_UNKNOWN
            assert result.error_description is not None
            assert "found" in result.error_description
            assert "not this recipient's line" in result.error_description
    assert sender.queries == ["req0", "req0"]
