"""A caller's climsgid reused across separate ``send()`` calls of one client (issue 13).

The lookup after a failed attempt asks for the request's climsgid; were the second request
to carry the first one's id, that lookup would find the FIRST message and report the second
accepted under its apimsgid, never sent. So a client sends an id as given only once, and
gives a reused one a derived id. Counts are the emulator's own records.
"""

from __future__ import annotations

from collections import Counter

import anyio
import pytest
from helpers.emulator import committed

from asms import _base_client
from asms._client import AsyncClient
from asms._config import RetryPolicy
from asms.testing import EmulatorTransport, FakeClock, Faults, GatewayEmulator

pytestmark = pytest.mark.anyio

A, B, C = "27820000001", "27820000002", "27820000003"


def client(emu: GatewayEmulator) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        retry=RetryPolicy.testing(),
    )


def by_apimsgid(emu: GatewayEmulator) -> dict[str, str]:
    return {m.apimsgid: m.to for m in emu.recorder.messages}


@pytest.mark.parametrize(
    "fault",
    [
        "err901_after_commit",
        "err901_before_commit",
        "drop_after_commit",
        "drop_before_commit",
        "truncated_reply",
    ],
)
async def test_a_reused_id_whose_request_faults_is_sent_and_reported_truthfully(
    fault: str,
) -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        first = (await c.send("One", to=A, climsgid="order42"))[0]
        emu.faults = Faults(script=(fault,))
        second = (await c.send("Two", to=B, climsgid="order42"))[0]
    assert emu.statistics().faults == {fault: 1}
    assert committed(emu) == Counter({A: 1, B: 1})  # both once: none lost, none twice
    assert first.climsgid == "order42" and first.ok
    assert second.ok and second.apimsgid is not None
    assert by_apimsgid(emu)[second.apimsgid] == B  # its own message, not the first one's
    assert second.climsgid != "order42" and second.climsgid.startswith("order42")
    sent_ids = {m.to: m.climsgid for m in emu.recorder.messages}
    assert sent_ids[A] == "order42"
    assert sent_ids[B] == second.climsgid


async def test_the_id_really_used_is_reported_and_a_reported_id_is_not_reused() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        r1 = (await c.send("One", to=A, climsgid="X1"))[0]
        r2 = (await c.send("Two", to=B, climsgid="X1"))[0]
        # Passing back the id a result reported is a reuse too.
        r3 = (await c.send("Three", to=C, climsgid=r2.climsgid))[0]
    ids = [r1.climsgid, r2.climsgid, r3.climsgid]
    assert r1.climsgid == "X1" and len(set(ids)) == 3
    assert {m.to: m.climsgid for m in emu.recorder.messages} == {A: ids[0], B: ids[1], C: ids[2]}
    assert committed(emu) == Counter({A: 1, B: 1, C: 1})


async def test_with_options_copies_share_the_memory() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        await c.send("One", to=A, climsgid="shared1")
        copy = c.with_options(country_code="27")
        emu.faults = Faults(script=("err901_after_commit",))
        r = (await copy.send("Two", to=B, climsgid="shared1"))[0]
    assert r.ok and r.climsgid != "shared1"
    assert by_apimsgid(emu)[r.apimsgid or ""] == B
    assert committed(emu) == Counter({A: 1, B: 1})


async def test_concurrent_sends_with_one_id_get_different_ids() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    numbers = [f"2782000{i:04d}" for i in range(10)]
    results: list[str] = []
    async with client(emu) as c:

        async def one(number: str) -> None:
            results.append((await c.send("Hi", to=number, climsgid="same"))[0].climsgid or "")

        async with anyio.create_task_group() as tg:
            for n in numbers:
                tg.start_soon(one, n)
    assert len(set(results)) == 10 and results.count("same") == 1
    assert committed(emu) == Counter(numbers)
    assert len({m.climsgid for m in emu.recorder.messages}) == 10


async def test_a_split_send_under_a_reused_id_gets_new_request_ids() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        many = [f"2783{i:07d}" for i in range(c.max_recipients + 1)]
        await c.send("One", to=many, climsgid="big")
        emu.faults = Faults(script=("err901_after_commit", "err901_after_commit"))
        again = await c.send("Two", to=many, climsgid="big")
    first_ids = {m.climsgid for m in emu.recorder.messages if m.text == "One"}
    second_ids = {m.climsgid for m in emu.recorder.messages if m.text == "Two"}
    assert first_ids == {"bigc0", "bigc1"}
    assert len(second_ids) == 2 and not first_ids & second_ids
    # (A 600-recipient request whose reply is lost is "accepted" for the recipient the
    # lookup names and "unknown" for the rest: what matters here is the ids and counts.)
    assert {r.climsgid for r in again} == second_ids and len(again) == len(many)
    assert Counter(m.text for m in emu.recorder.messages) == Counter(
        {"One": len(many), "Two": len(many)}
    )


async def test_sends_without_an_id_remember_nothing() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        for n in (A, B, C):
            await c.send("Hi", to=n)
        assert c._shared.climsgids == set()


async def test_beyond_the_memory_every_given_id_is_derived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_base_client, "MAX_REMEMBERED_CLIMSGIDS", 2)
    emu = GatewayEmulator(clock=FakeClock())
    numbers = [f"2782000{i:04d}" for i in range(5)]
    async with client(emu) as c:
        used = [
            (await c.send("Hi", to=n, climsgid=f"id{i}"))[0].climsgid for i, n in enumerate(numbers)
        ]
        again = (await c.send("Hi", to=A, climsgid="id4"))[0].climsgid
        assert len(c._shared.climsgids) <= 2
    assert used[:3] == ["id0", "id1", "id2"]  # the third fills the memory, unrecorded
    assert used[3] != "id3" and used[3] and used[3].startswith("id3")
    assert used[4] != "id4" and again != "id4" and again != used[4]
    assert len(set(used) | {again}) == 6
    assert len(emu.recorder.messages) == 6


@pytest.mark.parametrize("fault", ["drop_before_commit", "err901_before_commit"])
async def test_send_request_with_a_reused_id_is_sent_and_reported_truthfully(fault: str) -> None:
    """The request-level call keeps the same rule as send(); send_bulk's own ids (made
    unique and journaled before the request) still go out exactly as the run chose them."""
    from asms import Message

    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        first = (await c.send_request([Message(A, "One", climsgid="batch7")]))[0]
        emu.faults = Faults(script=(fault,))
        second = await c.send_message(Message(B, "Two", climsgid="batch7"))
    assert committed(emu) == Counter({A: 1, B: 1})
    assert first.climsgid == "batch7" and first.ok
    assert second.ok and by_apimsgid(emu)[second.apimsgid or ""] == B
    assert second.climsgid != "batch7" and (second.climsgid or "").startswith("batch7")


async def test_send_bulk_ids_go_out_as_the_run_chose_them() -> None:
    from asms import Message

    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu) as c:
        await c.send("Earlier", to=C, climsgid="camp9")
        messages = [Message(n, "Same", climsgid="camp9") for n in (A, B)]
        async with c.send_bulk(messages, rate=None) as run:
            results = [r async for r in run]
    sent = {m.to: m.climsgid for m in emu.recorder.messages}
    assert committed(emu) == Counter({A: 1, B: 1, C: 1})
    assert sent[C] == "camp9" and sent[A] == sent[B] != "camp9"
    assert {r.climsgid for r in results} == {sent[A]}
    assert all(r.ok for r in results)
