"""Campaigns on Redis in one process: submit, workers, status, results, fencing."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter

import anyio
import pytest

import asms
from asms import AsyncClient, Message, RetryPolicy
from asms._campaign import worker as worker_module
from asms._campaign.store import CampaignStore
from asms._campaign.units import UnitJournal
from asms._redis.connection import connect
from asms.testing import DEFAULT_INTEGRATION, Faults, GatewayEmulator

pytestmark = pytest.mark.anyio


def client_for(emulator: GatewayEmulator, **changes: object) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        transport=emulator.transport(),
        base_url="http://gateway.test",
        retry=dataclasses.replace(RetryPolicy.testing(), **changes),  # type: ignore[arg-type]
    )


def mixed(count: int) -> list[Message]:
    """Runs of a few texts, as a campaign mixes them."""
    return [Message(f"2782{i:07d}", f"text {i // 7 % 5}") for i in range(count)]


async def run_workers(
    emulator: GatewayEmulator,
    redis_url: str,
    account: str,
    campaign: str,
    *,
    workers: int = 2,
    rate: float = 5000.0,
    **options: object,
) -> None:
    """Run ``workers`` workers until the campaign is settled."""
    async with anyio.create_task_group() as tg:
        running = []
        for _ in range(workers):
            client = client_for(emulator)
            await tg.start(_run_one, client, redis_url, account, rate, options, running)
        with anyio.fail_after(60):
            while not (await asms.campaign_status(redis_url, campaign, account=account)).settled:  # noqa: ASYNC110 (Redis is polled, as a user would)
                await anyio.sleep(0.05)
        for worker in running:
            worker.stop()


async def _run_one(
    client: AsyncClient,
    redis_url: str,
    account: str,
    rate: float,
    options: dict[str, object],
    running: list[asms.CampaignWorker],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    async with client:
        worker = asms.CampaignWorker(
            client,
            redis_url,
            account=account,
            rate=rate,
            **options,  # type: ignore[arg-type]
        )
        running.append(worker)
        await worker.run(task_status=task_status)


async def test_a_campaign_is_sent_once_by_two_workers(redis_url: str, account: str) -> None:
    emulator = GatewayEmulator()
    messages = mixed(300)
    submitted = await asms.submit_campaign(redis_url, "spring", messages, account=account)
    # Runs of 7 same-text messages: 43 units.
    assert (submitted.messages, submitted.units) == (300, 43)
    assert (submitted.added_messages, submitted.added_units) == (300, 43)
    await run_workers(emulator, redis_url, account, "spring")
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert len(sent) == 300 and set(sent.values()) == {1}
    status = await asms.campaign_status(redis_url, "spring", account=account)
    assert status.as_dict() | {"rate": None, "workers": 0} == {
        "campaign": "spring",
        "total": 300,
        "queued": 0,
        "sending": 0,
        "accepted": 300,
        "rejected": 0,
        "unknown": 0,
        "dead": 0,
        "rate": None,
        "workers": 0,
        "submitted": True,
        "settled": True,
    }
    results = [r async for r in asms.campaign_results(redis_url, "spring", account=account)]
    assert [r.index for r in results] == list(range(300))
    assert [r.to for r in results] == [m.to for m in messages]
    assert all(r.state is asms.DeliveryState.ACCEPTED and r.apimsgid for r in results)


async def test_submitting_again_adds_nothing(redis_url: str, account: str) -> None:
    messages = mixed(50)
    first = await asms.submit_campaign(redis_url, "again", messages, account=account)
    second = await asms.submit_campaign(redis_url, "again", messages, account=account)
    assert (first.added_messages, second.added_messages, second.messages) == (50, 0, 50)
    other = [*messages[:20], Message("27999999999", "changed"), *messages[21:]]
    with pytest.raises(asms.CampaignMismatchError, match="input position 14"):
        await asms.submit_campaign(redis_url, "again", other, account=account)
    with pytest.raises(asms.CampaignMismatchError, match="50 messages"):
        await asms.submit_campaign(redis_url, "again", messages[:49], account=account)
    status = await asms.campaign_status(redis_url, "again", account=account)
    assert (status.total, status.queued) == (50, 50)


async def test_a_bad_item_queues_nothing(redis_url: str, account: str) -> None:
    items: list[object] = [*mixed(700), "not a message"]
    with pytest.raises(TypeError, match=r"submit_campaign\(\) takes asms.Message items, not str"):
        await asms.submit_campaign(redis_url, "bad", items, account=account)  # type: ignore[arg-type]
    status = await asms.campaign_status(redis_url, "bad", account=account)
    assert (status.queued, status.submitted) == (0, False)
    # The corrected input replaces what the failed one staged.
    fixed = await asms.submit_campaign(redis_url, "bad", mixed(10), account=account)
    assert (fixed.messages, fixed.added_messages) == (10, 10)


async def test_unknown_campaign(redis_url: str, account: str) -> None:
    with pytest.raises(asms.CampaignNotFoundError):
        await asms.campaign_status(redis_url, "nope", account=account)


async def test_a_taken_over_unit_cannot_be_settled_by_its_old_holder(
    redis_url: str, account: str
) -> None:
    await asms.submit_campaign(redis_url, "fence", mixed(3), account=account)
    async with connect(redis_url) as redis:
        store = CampaignStore(redis, account)
        entries = await store.read("old", 10, 100)
        assert len(entries) == 1
        old = await store.claim(entries[0], "old", 1_000)  # a lease of 1 ms
        assert not isinstance(old, str) and old.attempt == 1
        await anyio.sleep(0.01)
        new = await store.claim(entries[0], "new", 60_000_000)
        assert not isinstance(new, str) and new.attempt == 2
        assert not await store.write(old, "old", 60_000_000, {"r0": "[]"})
        assert not await store.extend(old, "old", 60_000_000)
        assert not await store.settle(old, "old", (3, 0, 0), {})
        assert await store.settle(new, "new", (3, 0, 0), {})
    status = await asms.campaign_status(redis_url, "fence", account=account)
    assert (status.accepted, status.sending, status.queued) == (3, 0, 0)


def personal(count: int, prefix: str = "2783") -> list[Message]:
    """One text per message: a unit each."""
    return [Message(f"{prefix}{i:07d}", f"hello {i}") for i in range(count)]


async def test_lost_replies_are_looked_up_before_any_resend(redis_url: str, account: str) -> None:
    emulator = GatewayEmulator(faults=Faults(seed=7, drop_after_commit=0.3))
    await asms.submit_campaign(redis_url, "lossy", personal(120), account=account)
    await run_workers(emulator, redis_url, account, "lossy", reconcile_grace=0.0)
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert len(sent) == 120 and set(sent.values()) == {1}
    status = await asms.campaign_status(redis_url, "lossy", account=account)
    assert (status.accepted, status.unknown, status.rejected, status.dead) == (120, 0, 0, 0)


async def test_a_unit_that_keeps_failing_goes_to_the_dead_letter_stream(
    redis_url: str, account: str
) -> None:
    emulator = GatewayEmulator(faults=Faults(err901_before_commit=1.0))
    await asms.submit_campaign(redis_url, "poison", personal(2), account=account)
    await run_workers(emulator, redis_url, account, "poison", workers=1, max_deliveries=2)
    assert not emulator.recorder.messages
    status = await asms.campaign_status(redis_url, "poison", account=account)
    assert (status.dead, status.accepted, status.rejected, status.settled) == (2, 0, 0, True)
    results = [r async for r in asms.campaign_results(redis_url, "poison", account=account)]
    assert [r.state for r in results] == [asms.DeliveryState.NOT_SENT] * 2
    assert all("dead-lettered" in (r.error_description or "") for r in results)
    assert all("901" in (r.error_description or "") for r in results)
    async with connect(redis_url) as redis:
        store = CampaignStore(redis, account)
        entries = await store.redis._client.xrange(store.keys.dead)
    assert sorted(e.field_values["u"] for e in entries) == ["0", "1"]
    assert all("901" in e.field_values["reason"] for e in entries)


async def test_a_gateway_outage_does_not_use_up_a_units_tries(
    redis_url: str, account: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: every try that could not reach the gateway counted, and a unit went to the
    # dead-letter stream after max_deliveries of them (an outage of about 12 s by default).
    monkeypatch.setattr(worker_module, "WORKER_RETRY_FIRST", 0.01)
    monkeypatch.setattr(worker_module, "WORKER_RETRY_MAX", 0.02)
    emulator = GatewayEmulator(faults=Faults(connect_error=1.0))
    await asms.submit_campaign(redis_url, "outage", personal(3), account=account)

    def outage_waits() -> int:
        return sum("could not be reached" in r.getMessage() for r in caplog.records)

    async with anyio.create_task_group() as tg:
        running: list[asms.CampaignWorker] = []
        options: dict[str, object] = {"max_deliveries": 2}
        await tg.start(_run_one, client_for(emulator), redis_url, account, 5000.0, options, running)
        with anyio.fail_after(30):
            # Each of the three units meets the outage more often than it may be tried.
            while outage_waits() < 3 * 4:  # noqa: ASYNC110 (the log is polled)
                await anyio.sleep(0.01)
        assert not emulator.recorder.messages
        status = await asms.campaign_status(redis_url, "outage", account=account)
        assert (status.dead, status.accepted) == (0, 0)
        emulator.faults = Faults()  # the gateway is back
        with anyio.fail_after(30):
            while not (await asms.campaign_status(redis_url, "outage", account=account)).settled:  # noqa: ASYNC110
                await anyio.sleep(0.02)
        running[0].stop()
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert len(sent) == 3 and set(sent.values()) == {1}
    status = await asms.campaign_status(redis_url, "outage", account=account)
    assert (status.accepted, status.dead, status.unknown, status.rejected) == (3, 0, 0, 0)


async def test_a_request_in_doubt_is_looked_up_again_after_an_outage(
    redis_url: str, account: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The reply to the only request is lost after the gateway took the message, then every
    # look-up of it finds the gateway unreachable. Before: the unit was settled with its
    # message unknown for good; now it is looked up again once the gateway answers.
    monkeypatch.setattr(worker_module, "WORKER_RETRY_FIRST", 0.01)
    monkeypatch.setattr(worker_module, "WORKER_RETRY_MAX", 0.02)
    lookups = len(RetryPolicy.testing().reconcile_schedule)
    faults = Faults(
        commands=frozenset({"sendmsg", "querymsg"}),
        script=("drop_after_commit", *["connect_error"] * (6 * lookups)),
    )
    emulator = GatewayEmulator(faults=faults)
    await asms.submit_campaign(redis_url, "doubt", personal(1), account=account)
    await run_workers(emulator, redis_url, account, "doubt", workers=1, reconcile_grace=0.0)
    assert sum("could not be looked up" in r.getMessage() for r in caplog.records) >= 2
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert list(sent.values()) == [1]
    status = await asms.campaign_status(redis_url, "doubt", account=account)
    assert (status.accepted, status.unknown, status.dead) == (1, 0, 0)
    [result] = [r async for r in asms.campaign_results(redis_url, "doubt", account=account)]
    assert result.state is asms.DeliveryState.ACCEPTED and result.apimsgid


async def test_a_unit_taken_over_is_looked_up_not_resent(redis_url: str, account: str) -> None:
    emulator = GatewayEmulator()
    await asms.submit_campaign(redis_url, "ghost", personal(1), account=account)
    async with connect(redis_url) as redis, client_for(emulator) as client:
        store = CampaignStore(redis, account)
        (entry,) = await store.read("ghost", 1, 100)
        claim = await store.claim(entry, "ghost", 300_000)  # a 0.3 s lease, never renewed
        assert not isinstance(claim, str)
        journal = UnitJournal(store, claim, "ghost", 300_000, {})
        await journal.write([(0, b"", "inflight", "a" * 32, None, None, None, 1, time.time())])
        # The request left and the gateway took it; then the worker died.
        await client.send("hello 0", "27830000000", climsgid="a" * 32)
    await run_workers(
        emulator, redis_url, account, "ghost", workers=1, lease=0.3, reconcile_grace=0.5
    )
    assert Counter(m.to for m in emulator.recorder.messages) == {"27830000000": 1}
    results = [r async for r in asms.campaign_results(redis_url, "ghost", account=account)]
    assert results[0].state is asms.DeliveryState.ACCEPTED and results[0].climsgid == "a" * 32


async def test_a_stopped_worker_hands_its_units_back(redis_url: str, account: str) -> None:
    emulator = GatewayEmulator()
    await asms.submit_campaign(redis_url, "handover", personal(200), account=account)
    async with client_for(emulator) as client:
        worker = asms.CampaignWorker(client, redis_url, account=account, rate=200.0)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            await anyio.sleep(0.3)
            worker.stop()
    first = len(emulator.recorder.messages)
    assert 0 < first < 200
    status = await asms.campaign_status(redis_url, "handover", account=account)
    assert status.accepted == first and status.sending == 0
    await run_workers(emulator, redis_url, account, "handover", rate=200.0)
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert len(sent) == 200 and set(sent.values()) == {1}


async def test_a_refused_account_loses_nothing(redis_url: str, account: str) -> None:
    emulator = GatewayEmulator()
    await asms.submit_campaign(redis_url, "password", personal(30), account=account)
    wrong = AsyncClient(
        1234,
        "demo",
        "wrong",
        transport=emulator.transport(),
        base_url="http://gateway.test",
        retry=RetryPolicy.testing(),
    )
    async with wrong:
        worker = asms.CampaignWorker(wrong, redis_url, account=account, rate=5000.0)
        with pytest.raises(asms.AuthenticationError):
            await worker.run()
    status = await asms.campaign_status(redis_url, "password", account=account)
    assert (status.rejected, status.accepted, status.dead) == (0, 0, 0)
    assert status.queued + status.sending == 30
    await run_workers(emulator, redis_url, account, "password")
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert len(sent) == 30 and set(sent.values()) == {1}
    status = await asms.campaign_status(redis_url, "password", account=account)
    assert (status.accepted, status.rejected) == (30, 0)


async def test_a_unit_whose_stored_rows_cannot_be_read_is_dead_at_once(
    redis_url: str, account: str
) -> None:
    emulator = GatewayEmulator()
    await asms.submit_campaign(redis_url, "corrupt", personal(2), account=account)
    async with connect(redis_url) as redis:
        store = CampaignStore(redis, account)
        await store.redis._client.hset(store.keys.unit("corrupt", 0), {"r0": "{not json"})
    await run_workers(emulator, redis_url, account, "corrupt", workers=1, max_deliveries=3)
    # Its message may have left: it is never resent, and never taken again and again.
    assert Counter(m.to for m in emulator.recorder.messages) == {"27830000001": 1}
    status = await asms.campaign_status(redis_url, "corrupt", account=account)
    assert (status.dead, status.accepted) == (1, 1)
    results = [r async for r in asms.campaign_results(redis_url, "corrupt", account=account)]
    assert [r.state for r in results] == [
        asms.DeliveryState.UNKNOWN,
        asms.DeliveryState.ACCEPTED,
    ]


async def test_results_of_a_unit_whose_messages_cannot_be_read(
    redis_url: str, account: str
) -> None:
    await asms.submit_campaign(redis_url, "payload", personal(2), account=account)
    async with connect(redis_url) as redis:
        store = CampaignStore(redis, account)
        await store.redis._client.hset(store.keys.unit("payload", 1), {"payload": "[]"})
    with pytest.raises(asms.CampaignError, match="unit 1 of campaign 'payload' cannot be read"):
        async for _ in asms.campaign_results(redis_url, "payload", account=account):
            pass


async def test_two_submissions_at_once_queue_one_input_whole(redis_url: str, account: str) -> None:
    first = [Message(f"2784{i:07d}", f"AAA {i}") for i in range(300)]
    second = [Message(f"2784{i:07d}", f"BBB {i}") for i in range(300)]
    won: list[list[Message]] = []
    refused: list[asms.CampaignError] = []

    async def submit(messages: list[Message]) -> None:
        try:
            done = await asms.submit_campaign(redis_url, "race", messages, account=account)
        except asms.CampaignError as exc:
            refused.append(exc)
        else:
            assert done.added_messages == 300
            won.append(messages)

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, first)
        tg.start_soon(submit, second)
    assert len(won) == 1 and len(refused) == 1
    assert "being submitted by another process" in str(refused[0])
    lost = second if won[0] is first else first
    # The stored campaign is the winner's, whole: the same input adds nothing, the other differs.
    again = await asms.submit_campaign(redis_url, "race", won[0], account=account)
    assert (again.messages, again.added_messages) == (300, 0)
    with pytest.raises(asms.CampaignMismatchError, match="input position 0"):
        await asms.submit_campaign(redis_url, "race", lost, account=account)
    async with connect(redis_url) as redis:
        store = CampaignStore(redis, account)
        payloads = [(await store.unit("race", n))["payload"] for n in range(300)]
    prefix = won[0][0].text[:3]
    assert all(f'"text":"{prefix} ' in payload for payload in payloads)


async def test_a_campaign_is_submitted_only_once_every_unit_is_queued(
    redis_url: str, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = GatewayEmulator()
    original = CampaignStore.queue
    queued = 0

    async def dies_after_one_batch(self: CampaignStore, *args: object) -> tuple[int, int]:
        nonlocal queued
        if queued:
            raise KeyboardInterrupt  # the submitting process dies half-way through queueing
        queued += 1
        return await original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(CampaignStore, "queue", dies_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        await asms.submit_campaign(redis_url, "half", personal(200), account=account)
    monkeypatch.setattr(CampaignStore, "queue", original)
    status = await asms.campaign_status(redis_url, "half", account=account)
    assert (status.total, status.queued, status.submitted, status.settled) == (
        200,
        64,
        False,
        False,
    )
    again = await asms.submit_campaign(redis_url, "half", personal(200), account=account)
    assert again.added_messages == 136
    await run_workers(emulator, redis_url, account, "half")
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert len(sent) == 200 and set(sent.values()) == {1}


async def test_a_climsgid_reused_by_another_campaign_is_never_taken_for_this_one(
    redis_url: str, account: str
) -> None:
    emulator = GatewayEmulator()
    first = [Message("27980000001", "first campaign", climsgid="zzz")]
    await asms.submit_campaign(redis_url, "x1", first, account=account)
    await run_workers(emulator, redis_url, account, "x1", workers=1)
    emulator.faults = Faults(script=("drop_before_commit",))
    second = [Message("27980000002", "second campaign", climsgid="zzz")]
    await asms.submit_campaign(redis_url, "x2", second, account=account)
    await run_workers(emulator, redis_url, account, "x2", workers=1, reconcile_grace=0.0)
    assert Counter(m.to for m in emulator.recorder.messages) == {
        "27980000001": 1,
        "27980000002": 1,
    }
    (x1,) = [r async for r in asms.campaign_results(redis_url, "x1", account=account)]
    (x2,) = [r async for r in asms.campaign_results(redis_url, "x2", account=account)]
    assert x2.accepted and x2.apimsgid != x1.apimsgid
    assert x2.climsgid is not None and x2.climsgid.startswith("zzz") and x2.climsgid != "zzz"


async def test_every_worker_of_an_account_uses_one_gateway(redis_url: str, account: str) -> None:
    emulator = GatewayEmulator()
    await asms.submit_campaign(redis_url, "gw", personal(5), account=account)
    await run_workers(emulator, redis_url, account, "gw", workers=1)
    elsewhere = AsyncClient(
        1234, "demo", "demo", transport=emulator.transport(), base_url="http://other.test"
    )
    async with elsewhere:
        worker = asms.CampaignWorker(elsewhere, redis_url, account=account, rate=5000.0)
        with pytest.raises(asms.ValidationError, match="base_url: the account's workers send"):
            await worker.run()


async def test_a_platform_client_cannot_be_a_campaign_worker(redis_url: str, account: str) -> None:
    # Taking a unit over needs a lookup by climsgid, which the Platform wires do not have.
    key = DEFAULT_INTEGRATION.key
    platform = AsyncClient(
        api_key=key, transport=GatewayEmulator().transport(), base_url="http://p"
    )
    with pytest.raises(asms.ValidationError, match="client: campaign workers need a legacy wire"):
        asms.CampaignWorker(platform, redis_url, account=account, rate=10.0)


async def test_bad_campaign_input_is_refused(redis_url: str, account: str) -> None:
    with pytest.raises(asms.ValidationError, match="at least one message"):
        await asms.submit_campaign(redis_url, "empty", [], account=account)
    for name in ("x:u:0", "a*", "b[1]"):
        with pytest.raises(asms.ValidationError, match="must not contain"):
            await asms.submit_campaign(redis_url, name, personal(1), account=account)
    # A short name with a tab was said to be too long (a stranger's trial).
    for name in ("tab\tname", "two\nlines"):
        with pytest.raises(asms.ValidationError, match="must be printable: no tab, line break"):
            await asms.submit_campaign(redis_url, name, personal(1), account=account)
    with pytest.raises(asms.ValidationError, match="must be at most 200 characters"):
        await asms.submit_campaign(redis_url, "n" * 201, personal(1), account=account)


async def test_a_worker_runs_once(redis_url: str, account: str) -> None:
    async with client_for(GatewayEmulator()) as client:
        worker = asms.CampaignWorker(client, redis_url, account=account, rate=100.0)
        worker.stop()
        await worker.run()
        with pytest.raises(RuntimeError, match="runs once"):
            await worker.run()


async def test_a_rate_changed_under_a_worker_stops_it_and_loses_nothing(
    redis_url: str, account: str
) -> None:
    # A stranger's trial: replace_rate=True while a worker ran at the old rate made every unit
    # it took fail with a traceback, and units went to the dead-letter stream, never sent.
    emulator = GatewayEmulator()
    await asms.submit_campaign(redis_url, "rerated", personal(400), account=account)
    raised: list[BaseException] = []
    async with client_for(emulator) as client:
        worker = asms.CampaignWorker(client, redis_url, account=account, rate=300.0)

        async def running(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            try:
                await worker.run(task_status=task_status)
            except asms.ValidationError as exc:
                raised.append(exc)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                await tg.start(running)
                await anyio.sleep(0.3)
                async with asms.RedisRateLimiter(
                    redis_url, account, rate=5000.0, replace_rate=True
                ):
                    pass
    # It stopped by itself, saying why, with its units handed back.
    assert len(raised) == 1
    assert str(raised[0]).startswith("rate: the account's processes share rate=5000")
    status = await asms.campaign_status(redis_url, "rerated", account=account)
    assert status.dead == 0 and status.sending == 0
    assert 0 < status.accepted < 400
    await run_workers(emulator, redis_url, account, "rerated", rate=5000.0)
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert len(sent) == 400 and set(sent.values()) == {1}
    status = await asms.campaign_status(redis_url, "rerated", account=account)
    assert (status.accepted, status.dead) == (400, 0)
