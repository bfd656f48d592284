"""A text holding half a UTF-16 pair (a lone surrogate: what undecodable input bytes become
in Python) is refused before anything is sent, on every wire, with the field and the rule;
in a bulk run it is that message's result, not the run's failure."""

from __future__ import annotations

import pytest

import asms
from asms import AsyncClient, DeliveryState, Message
from asms.testing import DEFAULT_INTEGRATION, EmulatorTransport, GatewayEmulator

pytestmark = pytest.mark.anyio

BAD = "caf\udce9"  # b"caf\xe9" read as UTF-8 with surrogateescape


def client(emulator: GatewayEmulator, wire: str) -> AsyncClient:
    transport = EmulatorTransport(emulator)
    if wire in ("platform", "one-api"):
        return AsyncClient(
            api_key=DEFAULT_INTEGRATION.key, wire=wire, transport=transport, base_url="http://g"
        )
    return AsyncClient(1234, "demo", "demo", wire=wire, transport=transport, base_url="http://g")


@pytest.mark.parametrize("wire", ["http", "soap", "soap-rpc", "platform", "one-api"])
async def test_a_lone_surrogate_is_refused_before_sending(wire: str) -> None:
    emulator = GatewayEmulator()
    async with client(emulator, wire) as c:
        with pytest.raises(asms.ValidationError) as info:
            await c.send(BAD, to="27821234567")
        # A whole pair, and text outside the BMP, are fine.
        results = await c.send("smile \U0001f600", to="27821234568")
    assert info.value.field == "text" and "not valid Unicode" in str(info.value)
    assert results.ok
    assert [m.to for m in emulator.recorder.messages] == ["27821234568"]


@pytest.mark.parametrize("wire", ["http", "platform"])
async def test_in_a_bulk_run_it_is_one_message_not_sent(wire: str, tmp_path: object) -> None:
    emulator = GatewayEmulator()
    messages = [Message("27821234567", "fine"), Message("27821234568", BAD)]
    messages.append(Message("27821234569", "fine too"))
    async with client(emulator, wire) as c:
        async with c.send_bulk(messages, rate=None, journal=f"{tmp_path}/j.db") as run:
            results = sorted([r async for r in run], key=lambda r: r.index)
    assert [r.state for r in results] == [
        DeliveryState.ACCEPTED,
        DeliveryState.NOT_SENT,
        DeliveryState.ACCEPTED,
    ]
    assert "not valid Unicode" in (results[1].error_description or "")
    assert sorted(m.to for m in emulator.recorder.messages) == ["27821234567", "27821234569"]


@pytest.mark.parametrize("wire", ["http", "soap"])
async def test_push_fields_refuse_it_too(wire: str) -> None:
    # Before: si_push raised a raw UnicodeEncodeError. (count_parts stays total: it counts
    # what it is given, tests/core/test_encoding.py.)
    emulator = GatewayEmulator()
    async with client(emulator, wire) as c:
        with pytest.raises(asms.ValidationError) as info:
            await c.si_push("27821234567", si_id="1", si_url="http://x", si_text=BAD)
    assert info.value.field == "si_text"
    assert not emulator.recorder.messages
