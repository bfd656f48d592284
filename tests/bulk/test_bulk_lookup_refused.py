"""A bulk request whose reply was lost, and whose lookup the gateway then refused for the
account (frozen): its messages are unknown, and a rerun on the journal once the account works
looks them up instead of sending them again.

Before, the refusal was raised as for a request refused outright: the messages were recorded
``rejected``, and the rerun sent them a second time."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest
from helpers.emulator import FrozenAfterFirstSend

import asms
from asms import AsyncClient, DeliveryState, Message
from asms.testing import EmulatorTransport, GatewayEmulator

pytestmark = pytest.mark.anyio


async def test_the_rerun_looks_the_message_up_and_sends_nothing_twice(tmp_path: Path) -> None:
    emulator = GatewayEmulator()
    journal = str(tmp_path / "campaign.db")
    messages = [Message(f"2782{i:07d}", f"Hello {i}") for i in range(5)]
    first: list[asms.BulkResult] = []
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        transport=FrozenAfterFirstSend(emulator, lose_reply=True),
        base_url="http://gateway.test",
        limits=httpx.Limits(max_connections=1),
    ) as client:
        with pytest.raises(asms.AuthenticationError):  # the next request meets the refusal
            async with client.send_bulk(messages, rate=None, concurrency=1, journal=journal) as run:
                async for result in run:
                    first.append(result)
    states = {r.index: r.state for r in first}
    assert states[0] is DeliveryState.UNKNOWN
    emulator.update_account(1234, frozen=False)
    async with AsyncClient(
        1234, "demo", "demo", transport=EmulatorTransport(emulator), base_url="http://gateway.test"
    ) as client:
        run = client.send_bulk(
            messages, rate=None, journal=asms.Journal(journal), reconcile_grace=0
        )
        async with run:
            again = {r.index: r async for r in run}
    assert all(r.state is DeliveryState.ACCEPTED for r in again.values())
    assert again[0].resumed  # looked up, not sent again
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert len(sent) == 5 and set(sent.values()) == {1}
