"""Product bugs the stateful machine (tests/bulk/test_stateful.py) found, each pinned down.

A request found by its ``climsgid`` after a lost answer: the gateway's look-up names one
message, not its recipient. When the request's first recipient was refused on its own (a
blocked number), the message found is another recipient's, so calling the first recipient
"accepted" with that id was a lie about a message the gateway never took. Counts come from
the emulator's own records.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from helpers.emulator import committed

from asms._bulk.journal import Journal
from asms._bulk.run import send_bulk
from asms._client import AsyncClient
from asms._config import RetryPolicy
from asms._models import DeliveryState, Message, SendResult
from asms.testing import EmulatorTransport, FakeClock, Faults, GatewayEmulator

pytestmark = pytest.mark.anyio

BLOCKED = "27820000001"
OPEN = "27820000002"


def client(emu: GatewayEmulator) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        retry=RetryPolicy.testing(),
    )


def claims_the_gateway_took(emu: GatewayEmulator, result: SendResult) -> bool:
    """Accepted, and (when it names an id) under an id the gateway gave this recipient."""
    if result.state is not DeliveryState.ACCEPTED:
        return False
    ids = {m.apimsgid for m in emu.recorder.messages if m.to == result.to}
    return result.apimsgid is None or result.apimsgid in ids


async def test_a_found_request_whose_first_recipient_was_refused_accepts_nobody() -> None:
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(script=("err901_after_commit",)))
    emu.blocked.add(BLOCKED)
    async with client(emu) as c:
        results = await c.send("Hi", to=[BLOCKED, OPEN])
    assert committed(emu) == Counter({OPEN: 1})
    assert emu.statistics().requests_by_command["sendmsg"] == 1  # looked up, never resent
    assert [r.to for r in results] == [BLOCKED, OPEN]
    # The look-up found OPEN's message; it cannot say whose: neither is called accepted.
    assert [r.state for r in results] == [DeliveryState.UNKNOWN, DeliveryState.UNKNOWN]
    assert [r.apimsgid for r in results] == [None, None]


async def test_a_found_single_recipient_request_is_accepted_with_its_id() -> None:
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(script=("err901_after_commit",)))
    async with client(emu) as c:
        (result,) = await c.send("Hi", to=[OPEN])
    assert committed(emu) == Counter({OPEN: 1})
    assert result.state is DeliveryState.ACCEPTED
    assert result.apimsgid == emu.recorder.messages[0].apimsgid


async def test_a_resumed_run_does_not_accept_a_refused_first_recipient(tmp_path: Path) -> None:
    """A run died after the gateway took its request [BLOCKED, OPEN] (only OPEN committed);
    the resumed run finds the request by its climsgid, twice."""
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(script=("drop_after_commit",)))
    emu.blocked.add(BLOCKED)
    messages = [Message(BLOCKED, "Hi", ref=0), Message(OPEN, "Hi", ref=1)]
    path = tmp_path / "j.db"
    async with client(emu) as c:
        # The first run's only request loses its answer and its look-ups fail: unknown,
        # left in the journal for the next run to settle.
        emu.faults = Faults(script=("drop_after_commit", "err901_before_commit"))
        first = send_bulk(c, messages, rate=None, journal=path, reconcile_schedule=[0.0])
        async with first:
            earlier = [r async for r in first]
        assert [r.state for r in earlier] == [DeliveryState.UNKNOWN] * 2
        emu.faults = Faults()
        for _ in range(2):
            run = send_bulk(
                c, messages, rate=None, journal=path, reconcile_grace=0.0, reconcile_schedule=[0.0]
            )
            async with run:
                results = sorted([r async for r in run], key=lambda r: r.index)
            assert committed(emu) == Counter({OPEN: 1})  # nothing resent
            assert not any(claims_the_gateway_took(emu, r) for r in results[:1])
            assert [r.state for r in results] == [DeliveryState.UNKNOWN] * 2
    async with Journal(path) as journal:
        assert len(await journal.unresolved()) == 1  # still asked about by the next run


# A caller's climsgid reused by one client across bulk runs (or between send() and a run):
# the later request's lookup after a lost attempt found the earlier message and reported the
# new one accepted under the earlier id, though the gateway never took it.


async def bulk(c: AsyncClient, messages: list[Message]) -> list[SendResult]:
    run = send_bulk(c, messages, rate=None)
    async with run:
        return sorted([r async for r in run], key=lambda r: r.index)


async def test_a_second_run_with_a_used_caller_id_is_not_found_by_the_first() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        first = await bulk(c, [Message("27820000003", "Spring", climsgid="own0")])
        emu.faults = Faults(script=("drop_before_commit",))
        second = await bulk(c, [Message(OPEN, "Summer", climsgid="own0")])
    assert [r.climsgid for r in first] == ["own0"]
    assert committed(emu) == Counter({"27820000003": 1, OPEN: 1})  # the dropped one resent
    (result,) = second
    assert result.climsgid != "own0" and claims_the_gateway_took(emu, result)
    (summer,) = [m for m in emu.recorder.messages if m.to == OPEN]
    assert result.apimsgid in (None, summer.apimsgid)


async def test_a_run_after_send_with_the_same_caller_id_is_not_found_by_it() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        (sent,) = await c.send("Spring", to="27820000003", climsgid="own0")
        emu.faults = Faults(script=("drop_before_commit",))
        (result,) = await bulk(c, [Message(OPEN, "Summer", climsgid="own0")])
    assert sent.climsgid == "own0"
    assert committed(emu) == Counter({"27820000003": 1, OPEN: 1})
    assert result.climsgid != "own0" and claims_the_gateway_took(emu, result)


async def test_send_after_a_run_with_the_same_caller_id_is_not_found_by_it() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        (ran,) = await bulk(c, [Message("27820000003", "Spring", climsgid="own0")])
        emu.faults = Faults(script=("drop_before_commit",))
        (result,) = await c.send("Summer", to=OPEN, climsgid="own0")
    assert ran.climsgid == "own0"
    assert committed(emu) == Counter({"27820000003": 1, OPEN: 1})
    assert result.climsgid != "own0" and claims_the_gateway_took(emu, result)
