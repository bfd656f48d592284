"""Every request its own climsgid, and duplicates beyond the lookup window reported.

A lookup by ``climsgid`` must only ever find the request it asks about: a caller's id shared
by several requests made a lost request look accepted. And a resend after a lookup that
concluded "missing" must be checked again later, so a gateway slower than the grace
schedule cannot turn it into a silent duplicate. Counts are checked against the emulator's
own records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from helpers.emulator import committed

from asms._client import AsyncClient
from asms._config import RetryPolicy
from asms._models import Message, SendResult
from asms._sending import attempt_climsgid, derived_climsgid
from asms.testing import EmulatorTransport, FakeClock, Faults, GatewayEmulator

pytestmark = pytest.mark.anyio


def number(i: int) -> str:
    return f"2782{i:07d}"


def client(emu: GatewayEmulator, retry: RetryPolicy | None = None) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        retry=retry or RetryPolicy.testing(),
    )


async def test_a_shared_caller_id_loses_nothing_when_one_request_is_dropped() -> None:
    """1,000 messages under one caller id: a 600- and a 400-recipient request; whichever
    reaches the gateway second is dropped before it commits. Its lookup must not find the
    other request: it is resent, and every message is sent exactly once.
    """
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(script=(None, "drop_before_commit")))
    messages = [Message(number(i), "Spring sale", climsgid="spring2026") for i in range(1000)]
    async with client(emu) as c:
        run = c.send_bulk(messages, rate=None)
        async with run:
            results = [r async for r in run]
    assert emu.statistics().faults == {"drop_before_commit": 1}
    assert committed(emu) == Counter(m.to for m in messages)  # each exactly once
    assert len(results) == 1000 and all(r.ok for r in results)
    ids = Counter(r.climsgid for r in results)
    assert sorted(ids.values()) == [400, 600]
    # The caller's id verbatim on its first request; the other one derived from it.
    assert "spring2026" in ids
    (other,) = set(ids) - {"spring2026"}
    assert other.startswith("spring2026") and len(other) == 32
    # Each result names the request that really carried its message.
    by_id = {cid: {m.to for m in emu.recorder.messages_for(cid)} for cid in ids}
    assert all(r.to in by_id[r.climsgid or ""] for r in results)


async def test_two_messages_to_one_number_under_one_caller_id_are_both_sent() -> None:
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(script=(None, "drop_before_commit")))
    messages = [Message(number(1), "Hi", climsgid="order7") for _ in range(2)]
    async with client(emu) as c:
        run = c.send_bulk(messages, rate=None, concurrency=1)
        async with run:
            results = sorted([r async for r in run], key=lambda r: r.index)
    assert emu.statistics().commits == 2  # both were sent, once each
    assert [r.ok for r in results] == [True, True]
    assert results[0].climsgid == "order7" and results[1].climsgid != "order7"
    assert emu.recorder.committed("order7") == 1
    assert emu.recorder.committed(results[1].climsgid or "") == 1


async def test_a_resumed_run_never_reuses_a_caller_id(tmp_path: object) -> None:
    """The first run sends the caller's id verbatim; a run on the same journal must not."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    journal = tmp_path / "j.db"
    emu = GatewayEmulator(clock=FakeClock())
    first = [Message(number(1), "A", climsgid="camp1")]
    second = [*first, Message(number(2), "A", climsgid="camp1")]

    async def interrupted() -> AsyncIterator[Message]:
        yield first[0]
        await anyio.sleep_forever()  # the run is stopped before its input ends

    async with client(emu) as c:
        async with c.send_bulk(interrupted(), rate=None, journal=journal, linger=0) as run:
            done = await anext(aiter(run))
    assert done.climsgid == "camp1"
    async with client(emu) as c:
        # The first run was stopped, so its campaign is unfinished and this run resumes it.
        async with c.send_bulk(second, rate=None, journal=journal) as run:
            again = sorted([r async for r in run], key=lambda r: r.index)
    assert again[0].resumed and again[0].climsgid == "camp1"
    assert not again[1].resumed and again[1].ok
    assert again[1].climsgid != "camp1" and (again[1].climsgid or "").startswith("camp1")
    assert emu.recorder.duplicates() == {}


def test_derived_and_attempt_ids_are_valid_unique_and_keep_the_callers_prefix() -> None:
    derived = {derived_climsgid("spring2026") for _ in range(1000)}
    assert len(derived) == 1000
    assert all(d.startswith("spring2026") and len(d) == 32 and d.isalnum() for d in derived)
    long = "A" * 32
    assert derived_climsgid(long).startswith("A" * 16) and len(derived_climsgid(long)) == 32
    attempts = [attempt_climsgid("order7", n) for n in (1, 2, 3)]
    assert len(set(attempts)) == 3 and all(a.startswith("order7") for a in attempts)
    assert attempt_climsgid("order7", 1) == attempt_climsgid("order7", 1)  # derivable later
    assert attempt_climsgid("order7", 1) != attempt_climsgid("order8", 1)


# -- duplicates beyond the lookup window ---------------------------------------------------

#: Lookups 50 ms and 100 ms after a failure; the gateway shows a message 150 ms after it
#: accepted it. So every lost reply's first lookups say "missing" and it is resent; the
#: recheck after the resend (another 100 ms) sees the earlier attempt.
SCHEDULE = (0.05, 0.05)
LAG = 0.15


async def test_duplicates_beyond_the_window_are_detected_and_counted() -> None:
    faults = Faults(seed=3, drop_after_commit=0.25, querymsg_visibility_delay=LAG)
    emu = GatewayEmulator(faults=faults)  # on the real clock, like the lag
    policy = RetryPolicy(reconcile_schedule=SCHEDULE, backoff_initial=0.0, jitter=0.0)
    results: dict[int, SendResult] = {}
    async with client(emu, policy) as c:

        async def one(i: int) -> None:
            [results[i]] = await c.send(f"Message {i}", to=number(i))

        async with anyio.create_task_group() as group:
            for i in range(100):
                group.start_soon(one, i)
        stats = c.statistics()
    twice = {n for n, count in committed(emu).items() if count == 2}
    assert max(committed(emu).values()) <= 2
    assert emu.statistics().faults["drop_after_commit"] > 0
    assert len(twice) > 0  # the lag did make duplicates: the scenario is exercised
    assert stats.duplicates_detected == len(twice)
    assert {r.to for r in results.values() if r.duplicate} == twice
    assert all(r.ok for r in results.values())
    # A duplicate's result names the attempt it reports, which the gateway really holds.
    for r in results.values():
        if r.duplicate:
            assert r.to in {m.to for m in emu.recorder.messages_for(r.climsgid or "")}


async def test_bulk_reports_duplicates_beyond_the_window() -> None:
    faults = Faults(seed=4, drop_after_commit=0.25, querymsg_visibility_delay=LAG)
    emu = GatewayEmulator(faults=faults)
    policy = RetryPolicy(reconcile_schedule=SCHEDULE, backoff_initial=0.0, jitter=0.0)
    messages = [Message(number(i), f"Hello {i}") for i in range(100)]  # one request each
    async with client(emu, policy) as c:
        run = c.send_bulk(messages, rate=None, concurrency=50)
        async with run:
            results = [r async for r in run]
            stats = run.statistics()
        report = run.report()
    twice = {n for n, count in committed(emu).items() if count == 2}
    assert len(twice) > 0
    assert report.duplicates_detected == stats.duplicates_detected == len(twice)
    assert {r.to for r in results if r.duplicate} == twice
    assert all(r.ok for r in results) and report.accepted == 100


async def test_a_run_after_send_with_one_caller_id_journals_the_id_it_sends(
    tmp_path: Path,
) -> None:
    """send() used "promo1"; a journaled run given "promo1" whose reply is lost sends a
    derived id and reports its own message's apimsgid, never the earlier message's."""
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(script=(None, "drop_after_commit")))
    async with client(emu) as c:
        (first,) = await c.send("Hello", number(1), climsgid="promo1")
        run = c.send_bulk(
            [Message(number(2), "Promo", climsgid="promo1")],
            rate=None,
            journal=tmp_path / "run.db",
        )
        async with run:
            (result,) = [r async for r in run]
    assert emu.statistics().faults == {"drop_after_commit": 1}
    assert result.ok and result.climsgid not in {None, "promo1"}
    (sent,) = emu.recorder.messages_for(result.climsgid or "")
    assert sent.to == number(2)
    assert result.apimsgid == sent.apimsgid != first.apimsgid
    assert emu.statistics().commits == 2
