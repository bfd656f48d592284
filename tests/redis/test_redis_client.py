"""AsyncClient(limiter=RedisRateLimiter(...)): plain clients of several processes keep one
account's schedule, and an ERR 130 one of them meets holds all of them."""

from __future__ import annotations

import dataclasses
import time

import anyio
import pytest
from helpers.redis_bookings import Recorder, check_schedule

import asms
from asms import AsyncClient, Message, RetryPolicy
from asms.testing import Faults, GatewayEmulator

pytestmark = pytest.mark.anyio


def client_for(emulator: GatewayEmulator, limiter: asms.Limiter, **changes: object) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        transport=emulator.transport(),
        base_url="http://gateway.test",
        retry=dataclasses.replace(RetryPolicy.testing(), **changes),  # type: ignore[arg-type]
        limiter=limiter,
    )


async def test_two_plain_clients_share_one_account_limit(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    emulator = GatewayEmulator()

    async def sender(name: str) -> None:
        async with (
            asms.RedisRateLimiter(redis_url, account, rate=400.0) as limiter,
            client_for(emulator, limiter) as client,
            anyio.create_task_group() as tg,
        ):
            for i in range(30):
                tg.start_soon(client.send, f"hello {i}", f"27829{name}{i:04d}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(sender, "1")
        tg.start_soon(sender, "2")
    assert len(emulator.recorder.messages) == 60
    assert [booking.tokens for booking in recorder.granted()] == [1] * 60
    bookings = recorder.bookings()
    assert len({booking.connection for booking in bookings}) == 2
    check_schedule(bookings, 400.0, 1)


async def test_a_600_recipient_send_books_600_slots(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    emulator = GatewayEmulator()
    async with (
        asms.RedisRateLimiter(redis_url, account, rate=10_000.0) as limiter,
        client_for(emulator, limiter) as client,
    ):
        results = await client.send("to many", [f"2783000{i:04d}" for i in range(600)])
        assert len(results) == 600
        await client.balance()  # a query books nothing
        assert limiter.statistics().tokens_granted == 600
    assert [booking.tokens for booking in recorder.bookings()] == [600]


async def test_err_130_met_by_one_client_holds_another_until_the_time_named(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    until = int(time.time()) + 3  # at least two whole seconds of refusals, even when loaded
    throttled = GatewayEmulator(faults=Faults(err130_until=until))
    other = GatewayEmulator()  # the same account, reached by another process

    async def first() -> None:
        async with (
            asms.RedisRateLimiter(redis_url, account, rate=200.0) as limiter,
            client_for(throttled, limiter, throttle_max_wait=10.0) as client,
        ):
            [refused] = await client.send_request(
                [Message("27831000001", "hi")], wait_throttled=False
            )
            assert refused.error_code == 130
            # The limiter's task writes the pause to Redis at once; this request waits it out.
            [result] = await client.send("hello", "27831000003")
            assert result.ok

    async def second() -> None:
        async with (
            asms.RedisRateLimiter(redis_url, account, rate=200.0) as limiter,
            client_for(other, limiter, throttle_max_wait=10.0) as client,
        ):
            [result] = await client.send("hello", "27831000002")
            assert result.ok

    def shared() -> bool:  # the pause reached Redis
        return recorder.count("pause") > 0

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await recorder.until(shared)
            tg.start_soon(second)
    assert throttled.statistics().faults["err130"] == 1
    assert [m.time >= until for m in throttled.recorder.messages] == [True]
    assert [m.time >= until for m in other.recorder.messages] == [True]  # never told by its gateway
