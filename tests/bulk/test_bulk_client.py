"""send_bulk with the real AsyncClient against the in-process gateway emulator."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from helpers.bulk_fakes import FakeSender
from helpers.bulk_runs import collect
from helpers.emulator import committed

from asms._bulk.report import BulkResult, DeliveryState
from asms._bulk.requests import IdLedger
from asms._bulk.run import RequestSender, send_bulk
from asms._cli.demo import demo_messages
from asms._client import AsyncClient
from asms._clock import VirtualClock
from asms._config import RetryPolicy
from asms._exceptions import CreditError
from asms._models import Message
from asms.testing import Faults, GatewayEmulator

pytestmark = pytest.mark.anyio


def client_for(emulator: GatewayEmulator) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        transport=emulator.transport(),
        base_url="http://gateway.test",
        retry=RetryPolicy.testing(attempts=6, reconcile_queries=2),
    )


def test_the_client_is_a_request_sender() -> None:
    assert isinstance(client_for(GatewayEmulator()), RequestSender)


def test_the_client_keeps_the_id_ledger_a_run_relies_on() -> None:
    # Without it a run would send a caller's climsgid the client already used as it is.
    client = client_for(GatewayEmulator())
    assert isinstance(client, IdLedger)
    assert not isinstance(FakeSender(), IdLedger)


async def test_a_mixed_campaign_is_delivered_exactly_once() -> None:
    emulator = GatewayEmulator()
    messages = list(demo_messages(3_000))
    async with client_for(emulator) as client:
        run = send_bulk(client, messages, rate=None)
        results = await collect(run)
    assert sorted(r.index for r in results) == list(range(3_000))
    assert all(r.state is DeliveryState.ACCEPTED and r.apimsgid for r in results)
    assert committed(emulator) == Counter(m.to for m in messages)
    assert emulator.recorder.duplicates() == {}
    report = run.report()
    stats = emulator.statistics()
    assert report.requests == stats.commits
    # 1,500 of one text in 600s, 750 personalised, 450 unicode, 300 long (3 parts each).
    assert report.requests == 3 + 750 + 1 + 1
    assert report.parts == stats.parts == 2_700 + 300 * 3
    by_index = {r.index: r for r in results}
    assert by_index[2_999].parts == 3 and by_index[0].parts == 1


async def test_faults_are_reconciled_without_duplicates() -> None:
    faults = Faults(seed=3, drop_after_commit=0.1, drop_before_commit=0.1, err901_after_commit=0.05)
    emulator = GatewayEmulator(faults=faults)
    messages = [*demo_messages(600)]
    async with client_for(emulator) as client:
        run = send_bulk(client, messages, rate=None, concurrency=8)
        results = await collect(run)
    assert sorted(r.index for r in results) == list(range(600))
    counts = committed(emulator)
    assert max(counts.values()) == 1  # never twice
    accepted = {r.to for r in results if r.ok}
    assert accepted <= set(counts)
    assert emulator.statistics().faults  # the faults did happen
    report = run.report()
    # A request found by its climsgid after a lost reply answers for its first recipient
    # only: the others are of unknown outcome (never resent), not counted as accepted.
    assert report.accepted == len(accepted) and report.accepted + report.unknown == 600
    assert report.accepted >= 200


async def test_blocked_numbers_are_rejected_in_their_group() -> None:
    emulator = GatewayEmulator()
    messages = [Message(f"2782000{i:04d}", "Hello all") for i in range(10)]
    emulator.blocked.add(messages[3].to)
    async with client_for(emulator) as client:
        run = send_bulk(client, messages, rate=None)
        results = {r.index: r for r in await collect(run)}
    assert results[3].state is DeliveryState.REJECTED and results[3].error_code == 121
    assert sum(r.ok for r in results.values()) == 9
    assert run.report().requests == 1 and run.report().failed_by_code == {121: 1}


async def test_running_out_of_credit_stops_the_run() -> None:
    emulator = GatewayEmulator()
    emulator.set_credits(25)
    messages = [Message(f"2782000{i:04d}", f"Hello {i}") for i in range(400)]
    results: list[BulkResult] = []
    async with client_for(emulator) as client:
        run = send_bulk(client, messages, rate=None, concurrency=1)
        with pytest.raises(CreditError):
            async with run:
                async for result in run:
                    results.append(result)
    report = run.report()
    assert report.accepted == 25 == emulator.statistics().messages
    assert report.failed_by_code == {301: 1}
    assert report.not_sent == 400 - 26 and report.cancelled
    assert sorted(r.index for r in results) == list(range(400)) and report.total == 400


async def test_err_130_pauses_the_pool_until_the_time_named() -> None:
    # A whole second is named, so +1 could be only milliseconds away when the first send
    # arrives on a loaded machine; +3 leaves the pool at least two seconds of refusals.
    until = int(time.time()) + 3
    emulator = GatewayEmulator(faults=Faults(err130_until=until))
    messages = [Message(f"2782000{i:04d}", f"Hello {i}") for i in range(20)]
    async with client_for(emulator) as client:
        results = await collect(send_bulk(client, messages, rate=None, concurrency=4))
    assert all(r.ok for r in results) and len(results) == 20
    assert emulator.statistics().faults["err130"] >= 1
    assert min(m.time for m in emulator.recorder.messages) >= until
    assert committed(emulator) == Counter(m.to for m in messages)


class ThrottleWatch(httpx.AsyncBaseTransport):
    """The emulator's transport, noting on ``clock`` when each sendmsg left and how it was
    answered; after ``limit_after`` answers the account hits its MT limit for 3 seconds."""

    def __init__(self, emulator: GatewayEmulator, clock: VirtualClock, limit_after: int) -> None:
        self._inner = emulator.transport()
        self._emulator = emulator
        self._clock = clock
        self._limit_after = limit_after
        self.until: float | None = None  # the limit's end, on ``clock``
        self.events: list[tuple[str, float]] = []  # ("sent" | "ok" | "130", clock time)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/sendmsg"):
            return await self._inner.handle_async_request(request)
        now = self._clock.current_time()
        if any(kind == "130" for kind, _ in self.events):
            assert self.until is not None
            # Fail at once (a client waiting in real time would take minutes to finish).
            assert now >= self.until, f"a request left at {now} during the limit"
        self.events.append(("sent", now))
        response = await self._inner.handle_async_request(request)
        body = await response.aread()
        self.events.append(("130" if body.startswith(b"ERR: 130") else "ok", now))
        if self.until is None and len(self.events) == 2 * self._limit_after:
            until = int(self._clock.wall_time()) + 3
            self.until = until - self._clock.wall_time() + now
            self._emulator.faults = Faults(err130_until=until)
        return response


@pytest.mark.parametrize(("rate", "concurrency"), [(10.0, 1), (10.0, 16), (None, 16)])
async def test_err_130_pauses_every_request_of_the_pool_until_its_time(
    rate: float | None, concurrency: int
) -> None:
    clock = VirtualClock(wall_start=1_700_000_000.0)
    emulator = GatewayEmulator(clock=clock.wall_time)
    watch = ThrottleWatch(emulator, clock, limit_after=5)
    # The client's own policy would wait out a 130 (up to 300 s) in the worker that got it,
    # while the other workers kept sending into the limit: the bulk run must not let it.
    retry = RetryPolicy(
        attempts=6, backoff_initial=0.0, backoff_max=0.0, jitter=0.0, reconcile_schedule=(0.0,)
    )
    messages = [Message(f"2782000{i:04d}", f"Hello {i}") for i in range(60)]
    client = AsyncClient(
        1234,
        "demo",
        "demo",
        transport=watch,
        base_url="http://gateway.test",
        retry=retry,
        clock=clock.wall_time,
    )
    async with client:
        run = send_bulk(client, messages, rate=rate, concurrency=concurrency, clock=clock)
        results = await collect(run)
    assert sorted(r.index for r in results) == list(range(60))
    assert all(r.ok for r in results)
    assert emulator.recorder.duplicates() == {}
    assert committed(emulator) == Counter(m.to for m in messages)  # each exactly once
    assert watch.until is not None
    refused = [i for i, (kind, _) in enumerate(watch.events) if kind == "130"]
    assert refused and emulator.statistics().faults["err130"] == len(refused)
    if rate is not None:
        assert len(refused) == 1  # the workers waiting for their slots never sent
    # Each refused request is sent once more, nothing else twice.
    assert sum(kind == "sent" for kind, _ in watch.events) == 60 + len(refused)
    # From the first refusal on, no request of the pool leaves before the limit's end, and
    # the pool resumes at it (the client did not wait on its own).
    later = [at for kind, at in watch.events[refused[0] :] if kind == "sent"]
    assert min(later) == pytest.approx(watch.until)
    assert emulator.statistics().messages == 60


async def test_a_stopped_run_resumes_from_its_journal(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.db"
    emulator = GatewayEmulator()
    messages = list(demo_messages(1_500))
    async with client_for(emulator) as client:
        first = send_bulk(client, messages, rate=5_000.0, journal=journal)
        async with first:
            async for result in first:
                if result.index >= 400:
                    first.stop()
        assert 0 < first.report().accepted < 1_500
        second = send_bulk(client, messages, rate=None, journal=journal)
        results = await collect(second)
    assert sorted(r.index for r in results) == list(range(1_500))
    assert all(r.ok for r in results)
    assert second.report().resumed == first.report().accepted
    assert committed(emulator) == Counter(m.to for m in messages)
