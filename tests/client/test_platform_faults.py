"""Never twice on the Platform wires: seeded faults, exact counts, status callbacks.

The platform cannot look a message up by its ``clientMessageId``. So, unlike the legacy
wires, a reply lost after the request left is never resent: the message ends unknown, and a
status callback (which carries the ``clientMessageId`` and the number) settles it later. A
request the platform provably did not take — the connection closed before the request was
sent, HTTP 503 ("please retry"), its rate limit — is sent again, exactly once more.

Each test sends 1,000 single-recipient messages, 50 at a time, and checks every message
against the emulator's own records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from asms import AsyncClient, CallbackReceiver, DeliveryState, Message, RetryPolicy, SendResult
from asms._config import DEMO_API_KEY
from asms.testing import (
    EmulatorTransport,
    FakeClock,
    Faults,
    GatewayEmulator,
    Integration,
    Lifecycle,
    running_emulator,
)
from asms.testing._callbacks import CallbackDispatcher

pytestmark = pytest.mark.anyio

MESSAGES = 1_000
CONCURRENCY = 50
WIRES = ("platform", "one-api")
# Replies lost after the commit, connections closed before it, and the ERR equivalents:
# HTTP 503 before the commit (sent again), HTTP 500 after it (unknown, never resent).
MIXED = {
    "drop_after_commit": 0.10,
    "drop_before_commit": 0.05,
    "err901_before_commit": 0.03,
    "err901_after_commit": 0.03,
}
AFTER = ("drop_after_commit", "err901_after_commit")
BEFORE = ("drop_before_commit", "err901_before_commit")


def number(i: int) -> str:
    return f"2782{i:07d}"


def platform_client(wire: str, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", RetryPolicy.testing())
    return AsyncClient(api_key=DEMO_API_KEY, wire=wire, **kwargs)  # type: ignore[arg-type]


async def send_all(c: AsyncClient) -> dict[int, SendResult]:
    results: dict[int, SendResult] = {}
    limiter = anyio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with limiter:
            [results[i]] = await c.send(f"Message {i}", to=number(i))

    async with anyio.create_task_group() as group:
        for i in range(MESSAGES):
            group.start_soon(one, i)
    return results


def check_each_message(emu: GatewayEmulator, results: dict[int, SendResult]) -> int:
    """Every message taken at most once, and reported as what happened; returns how many
    ended unknown (each of them taken exactly once: a lost reply, never a lost message)."""
    recorder = emu.recorder
    assert recorder.duplicates() == {}
    assert len(results) == MESSAGES
    unknown = 0
    for i, result in results.items():
        assert result.climsgid is not None
        assert recorder.committed(result.climsgid) == 1, (i, result)
        [message] = recorder.messages_for(result.climsgid)
        assert message.to == number(i)
        if result.state is DeliveryState.UNKNOWN:
            unknown += 1
            assert result.apimsgid is None
        else:
            assert result.state is DeliveryState.ACCEPTED, result
            assert result.apimsgid == message.apimsgid
    return unknown


@pytest.mark.parametrize("wire", WIRES)
async def test_mixed_faults_nothing_twice_nothing_lost(wire: str) -> None:
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(seed=11, **MIXED))
    async with platform_client(
        wire, base_url="http://gateway", transport=EmulatorTransport(emu)
    ) as c:
        results = await send_all(c)
        stats = c.statistics()
    unknown = check_each_message(emu, results)
    injected = emu.statistics().faults
    after = sum(injected.get(kind, 0) for kind in AFTER)
    before = sum(injected.get(kind, 0) for kind in BEFORE)
    assert after > 50 and before > 30  # the seeded rates really applied
    # Lost after the commit: unknown, never resent. Refused before it: sent once more.
    assert unknown == after
    assert emu.statistics().commits == MESSAGES
    assert stats.resent == before
    assert stats.attempts == MESSAGES + before
    assert stats.given_up == after
    assert stats.reconciled_found == stats.reconciled_missing == 0  # no lookups here


@pytest.mark.parametrize("wire", WIRES)
async def test_lost_replies_over_a_socket_are_never_resent(wire: str) -> None:
    faults = Faults(seed=5, drop_after_commit=0.10, err901_after_commit=0.03)
    emu = GatewayEmulator(faults=faults)
    with running_emulator(emu) as base_url:
        async with platform_client(wire, base_url=base_url) as c:
            results = await send_all(c)
            stats = c.statistics()
    unknown = check_each_message(emu, results)
    injected = emu.statistics().faults
    assert unknown == sum(injected.get(kind, 0) for kind in AFTER) > 0
    assert stats.resent == 0


@pytest.mark.parametrize("wire", WIRES)
async def test_the_rate_limit_is_waited_out_and_sent_once_more(
    wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The platform's refusal names no time: the client waits PLATFORM_THROTTLE_PAUSE (made
    # short here) and sends again; the refused request was not taken, so once more is safe.
    import asms._wire.platform as platform_wire
    import asms._wire.platform_replies as platform_replies

    monkeypatch.setattr(platform_wire, "PLATFORM_THROTTLE_PAUSE", 0.01)
    monkeypatch.setattr(platform_replies, "PLATFORM_THROTTLE_PAUSE", 0.01)
    clock = FakeClock()
    emu = GatewayEmulator(clock=clock, faults=Faults(err130_once=int(clock()) + 60))
    policy = RetryPolicy(backoff_initial=0.0, jitter=0.0, reconcile_schedule=(0.0,))
    async with platform_client(
        wire, base_url="http://gateway", transport=EmulatorTransport(emu), retry=policy
    ) as c:
        [result] = await c.send("Hello", to=number(1))
        stats = c.statistics()
    assert result.ok, result
    assert emu.statistics().requests == 2
    assert emu.statistics().messages == 1
    assert stats.resent == 1
    assert emu.recorder.duplicates() == {}


async def test_status_callbacks_settle_every_lost_reply(tmp_path: Path) -> None:
    """The emulator's status callbacks reach a receiver storing into a bulk journal's file;
    a rerun of the campaign on that journal then knows every message, having sent nothing."""
    store = tmp_path / "campaign.db"
    receiver = CallbackReceiver(store=str(store))
    clock = FakeClock()
    dispatcher = CallbackDispatcher(
        clock, lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver))
    )
    hook = Integration(key=DEMO_API_KEY, callback_url="http://receiver/status")
    emu = GatewayEmulator(
        clock=clock,
        callbacks=dispatcher,
        lifecycle=Lifecycle(queued=1, delivery=4),
        integrations=[hook],
        faults=Faults(seed=3, drop_after_commit=0.10, drop_before_commit=0.05),
    )
    count = MESSAGES // 4  # every status of every message goes through the receiver
    messages = [Message(number(i), f"Hello {i}") for i in range(count)]

    async def campaign() -> list[Any]:
        async with (
            platform_client(
                "platform", base_url="http://gateway", transport=EmulatorTransport(emu)
            ) as c,
            c.send_bulk(messages, rate=None, journal=str(store)) as run,
        ):
            return [r async for r in run]

    first = await campaign()
    lost = emu.statistics().faults["drop_after_commit"]
    assert sum(r.state is DeliveryState.UNKNOWN for r in first) == lost > 0
    for step in (0, 1, 4):  # queued, delivered to the gateway, received
        emu.advance(step)
        await dispatcher.deliver_due()
    await dispatcher.aclose()
    requests = emu.statistics().requests
    second = await campaign()
    assert emu.statistics().requests == requests  # nothing sent again
    assert all(r.state is DeliveryState.ACCEPTED for r in second)
    by_climsgid = {}
    for r in second:
        [message] = [
            m for m in emu.recorder.messages_for(r.climsgid) if m.to == r.to.removeprefix("+")
        ]
        by_climsgid[r.index] = message.apimsgid
        assert r.apimsgid == message.apimsgid
    assert emu.recorder.duplicates() == {}
    assert emu.statistics().messages == count
