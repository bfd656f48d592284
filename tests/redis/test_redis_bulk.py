"""send_bulk with a RedisRateLimiter: runs of several clients keep one account's schedule."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter

import anyio
import pytest
from helpers.emulator import committed
from helpers.redis_bookings import Recorder, check_schedule

import asms
from asms import AsyncClient, Message, RetryPolicy
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


async def test_two_clients_share_one_account_limit(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    emulator = GatewayEmulator()
    batches = [
        [Message(to=f"4477009{run}{i:04d}", text=f"hello {i}") for i in range(40)]
        for run in range(2)
    ]
    reports: list[asms.BulkReport] = []
    granted: list[int] = []

    async def campaign(messages: list[Message]) -> None:
        async with (
            client_for(emulator) as client,
            asms.RedisRateLimiter(redis_url, account, rate=400.0) as limiter,
            client.send_bulk(messages, limiter=limiter) as run,
        ):
            assert run.limiter is limiter
            reports.append(await run.finish())
            granted.append(limiter.statistics().tokens_granted)

    async with anyio.create_task_group() as tg:
        for messages in batches:
            tg.start_soon(campaign, messages)
    assert [report.accepted for report in reports] == [40, 40]
    assert committed(emulator) == Counter(m.to for batch in batches for m in batch)
    assert emulator.recorder.duplicates() == {}
    assert granted == [40, 40]
    assert sum(booking.tokens for booking in recorder.granted()) == 80
    bookings = recorder.bookings()
    assert len({booking.connection for booking in bookings}) == 2
    check_schedule(bookings, 400.0, 1)


async def test_a_grouped_request_costs_one_token_per_recipient(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    emulator = GatewayEmulator()
    messages = [Message(to=f"44770090{i:04d}", text="the same for all") for i in range(30)]
    async with (
        client_for(emulator) as client,
        asms.RedisRateLimiter(redis_url, account, rate=1000.0) as limiter,
    ):
        async with client.send_bulk(messages, limiter=limiter) as run:
            report = await run.finish()
    assert report.accepted == 30
    bookings = recorder.bookings()
    assert [booking.tokens for booking in bookings] == [30]  # one request to 30 recipients


async def test_err_130_in_one_process_holds_the_others_until_the_time_named(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    until = int(time.time()) + 3  # at least two whole seconds of refusals, even when loaded
    throttled = GatewayEmulator(faults=Faults(err130_until=until))
    other = GatewayEmulator()  # the same account, reached by another process
    policy = dataclasses.replace(RetryPolicy.testing(), throttle_max_wait=10.0)
    reports: dict[str, asms.BulkReport] = {}

    async def campaign(name: str, emulator: GatewayEmulator) -> None:
        messages = [Message(f"27820{name}{i:04d}", f"Hello {i}") for i in range(10)]
        async with (
            AsyncClient(1234, "demo", "demo", transport=emulator.transport(), retry=policy) as c,
            asms.RedisRateLimiter(redis_url, account, rate=200.0) as limiter,
            c.send_bulk(messages, limiter=limiter) as run,
        ):
            reports[name] = await run.finish()

    def shared() -> bool:  # the pause reached Redis (the limiter's task writes it at once)
        return recorder.count("pause") > 0

    async with anyio.create_task_group() as tg:
        tg.start_soon(campaign, "1", throttled)
        await recorder.until(shared)
        tg.start_soon(campaign, "2", other)
    assert reports["1"].accepted == reports["2"].accepted == 10
    assert throttled.statistics().faults["err130"] >= 1
    assert min(m.time for m in throttled.recorder.messages) >= until
    assert min(m.time for m in other.recorder.messages) >= until  # never told by its gateway
