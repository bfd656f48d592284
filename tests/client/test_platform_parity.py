"""The same commands on all five wires give the same typed results.

The scenario of ``test_client_commands.test_every_command_gives_the_same_result_on_every_wire``,
restricted to the commands the Platform wires have, runs against a fresh emulator in the same
state on each wire: the legacy three with the demo account's credentials, the Platform two
with its integration key. Ids, states, error codes, part counts, statuses and balances must
be equal; only the error *texts* are each wire's own.
"""

from __future__ import annotations

from typing import Any

import pytest

from asms import (
    AsyncClient,
    Balance,
    BulkResult,
    ErrorCode,
    Message,
    MessageStatus,
    RetryPolicy,
    SendResult,
    SendResults,
    StatusInfo,
    UnsupportedCommandError,
)
from asms._config import DEMO_API_KEY
from asms.testing import EmulatorTransport, FakeClock, GatewayEmulator

pytestmark = pytest.mark.anyio

LEGACY = ("http", "soap", "soap-rpc")
PLATFORM = ("platform", "one-api")
# Unroutable (114): a refusal every wire can say (the One API has no "blocked" code).
UNROUTED = "447700900123"


def client(emu: GatewayEmulator, wire: str) -> AsyncClient:
    common: dict[str, Any] = {
        "base_url": "http://gateway",
        "transport": EmulatorTransport(emu),
        "retry": RetryPolicy.testing(),
        "wire": wire,
    }
    if wire in PLATFORM:
        return AsyncClient(api_key=DEMO_API_KEY, **common)
    # Without a session: an auth call would draw an id from the emulator's generator first,
    # and the Platform wires have none, so the messages' ids would differ.
    return AsyncClient(1234, "demo", "demo", session=False, **common)


def typed(value: Any) -> Any:
    """What must be equal across wires: everything but the error texts."""
    if isinstance(value, SendResults | list):
        return [typed(v) for v in value]
    if isinstance(value, SendResult):
        climsgid, apimsgid = value.climsgid, value.apimsgid
        if climsgid and climsgid.startswith("A5"):
            # Split by each wire's limit (600, 300, 200 recipients): "A5", or "A5c0", "A5c1"…
            # sent concurrently, so which request got which ids depends on their arrival.
            climsgid, apimsgid = "A5", "accepted" if apimsgid else None
        return (value.to, apimsgid, climsgid, value.error_code, value.parts, value.ref)
    if isinstance(value, BulkResult):
        return (value.index, value.to, value.apimsgid, value.state, value.error_code, value.parts)
    return value


async def scenario(wire: str) -> list[Any]:
    """Every command the Platform wires have, once, against a fresh emulator."""
    emu = GatewayEmulator(clock=FakeClock(), seed=5)
    emu.set_route("4477", None)
    out: list[Any] = []
    async with client(emu, wire) as c:
        out.append(await c.send("Hello", to="27821234567", climsgid="A1"))
        out.append(await c.send("Hi all", to=["27821234567", UNROUTED], climsgid="A2"))
        out.append(await c.send("x" * 200, to="27821234567", climsgid="A3"))
        out.append(await c.send("日本語", to="27821234567", climsgid="A4"))
        out.append(await c.send("Hi", to=[f"2782{i:07d}" for i in range(450)], climsgid="A5"))
        out.append(await c.send_message(Message("27821234568", "One", climsgid="A6", ref=7)))
        out.append(
            await c.send_request(
                [
                    Message("27821234569", "Two", climsgid="A7", ref=1),
                    Message(UNROUTED, "Two", climsgid="A7", ref=2),
                ]
            )
        )
        apimsgid = out[0][0].apimsgid
        assert apimsgid is not None
        out.append(await c.query(apimsgid))
        emu.advance(10)  # through the lifecycle: delivered
        out.append(await c.query(apimsgid))
        out.append(await c.balance())
        messages = [Message(f"2783{i:07d}", "Bulk", climsgid=f"B{i}") for i in range(5)]
        async with c.send_bulk(messages, rate=None) as run:
            out.append(sorted([r async for r in run], key=lambda r: r.index))
    return out


async def test_the_platform_commands_give_the_same_results_on_all_five_wires() -> None:
    raw = {wire: await scenario(wire) for wire in LEGACY + PLATFORM}
    split_ids = {wire: sorted(r.apimsgid for r in out[4]) for wire, out in raw.items()}
    assert all(ids == split_ids["http"] for ids in split_ids.values())
    results = {wire: [typed(x) for x in out] for wire, out in raw.items()}
    http = results["http"]
    for wire in ("soap", "soap-rpc", *PLATFORM):
        for index, (got, expected) in enumerate(zip(results[wire], http, strict=True)):
            assert got == expected, (wire, index)
    # The scenario reaches what it means to: a refusal per recipient, statuses, a balance.
    assert http[1][1][3] == ErrorCode.CANNOT_ROUTE_MESSAGE
    assert http[6][1][3] == ErrorCode.CANNOT_ROUTE_MESSAGE
    assert isinstance(http[7], StatusInfo) and isinstance(http[9], Balance)
    assert http[8].status == MessageStatus.RECEIVED_BY_RECIPIENT
    assert len(http[4]) == 450


@pytest.mark.parametrize("wire", PLATFORM)
async def test_commands_the_platform_lacks_send_nothing(wire: str) -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu, wire) as c:
        calls = [
            lambda: c.route_coverage("27821234567"),
            lambda: c.charge("0" * 32),
            lambda: c.delete("0" * 32),
            lambda: c.token_pay("1234567890123456"),
            lambda: c.ping(),
            lambda: c.query(climsgid="A1"),
            lambda: c.query_climsgid("A1"),
            lambda: c.si_push("27821234567", si_id="1", si_url="http://e", si_text="t"),
        ]
        for call in calls:
            with pytest.raises(UnsupportedCommandError, match=f"on the {wire} wire"):
                await call()
        with pytest.raises(UnsupportedCommandError):
            c.batch("Dear #field1#")
    assert emu.statistics().requests == 0
