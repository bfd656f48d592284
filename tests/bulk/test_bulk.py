"""send_bulk: rate, grouping, exactly one result per message, errors, stopping, backpressure."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence

import anyio
import pytest
from helpers.bulk_fakes import FakeSender, numbers, personalised, same_text
from helpers.bulk_runs import collect, max_in_window

from asms._bulk.report import BulkResult, BulkStatistics, DeliveryState
from asms._bulk.run import RequestSender, send_bulk
from asms._clock import VirtualClock
from asms._exceptions import (
    AuthenticationError,
    ConnectError,
    ParameterError,
    ReadTimeout,
    ThrottledError,
    ValidationError,
)
from asms._models import Message, SendOptions, SendResult
from asms._retry import NOT_SENT, OUTCOME_UNKNOWN

pytestmark = pytest.mark.anyio


def assert_one_result_each(results: Sequence[BulkResult], count: int) -> None:
    assert sorted(r.index for r in results) == list(range(count))


def test_fake_sender_is_a_request_sender() -> None:
    assert isinstance(FakeSender(), RequestSender)


# -- rate ----------------------------------------------------------------------------------


async def test_10000_messages_at_100_per_second_take_100_seconds() -> None:
    clock = VirtualClock()
    sender = FakeSender(clock=clock)
    run = send_bulk(sender, iter(personalised(10_000)), rate=100.0, clock=clock)
    results = await collect(run)

    assert_one_result_each(results, 10_000)
    assert all(r.state is DeliveryState.ACCEPTED for r in results)
    assert len(sender.calls) == 10_000
    times = [call.time for call in sender.calls]
    assert times[-1] - times[0] == pytest.approx(100.0, rel=0.01)
    assert clock.current_time() == pytest.approx(100.0, rel=0.01)
    assert max_in_window(times, 1.0) <= 101
    assert max_in_window(times, 0.1) <= 11
    report = run.report()
    assert report.duration == pytest.approx(100.0, rel=0.01)
    assert report.achieved_rate == pytest.approx(100.0, rel=0.01)
    assert report.requests == 10_000 and report.recipients == 10_000


async def test_rate_counts_recipients_not_requests() -> None:
    clock = VirtualClock()
    sender = FakeSender(clock=clock)
    run = send_bulk(sender, same_text(1_000), rate=100.0, group_size=100, clock=clock)
    results = await collect(run)
    assert_one_result_each(results, 1_000)
    assert len(sender.calls) == 10
    # Each 100-recipient request goes when its 100th slot is due: 0.99 s, 1.99 s, ...
    assert [c.time for c in sender.calls] == pytest.approx([0.99 + i for i in range(10)])


async def test_burst_lets_that_many_go_at_start() -> None:
    clock = VirtualClock()
    sender = FakeSender(clock=clock)
    await collect(send_bulk(sender, personalised(20), rate=10.0, burst=5, clock=clock))
    times = [c.time for c in sender.calls]
    assert times[:5] == [0.0] * 5
    assert times[5:] == pytest.approx([0.1 * i for i in range(1, 16)])


# -- grouping -------------------------------------------------------------------------------


async def test_20000_messages_in_600_recipient_groups() -> None:
    sender = FakeSender()
    results = await collect(send_bulk(sender, iter(same_text(20_000)), rate=None))
    assert_one_result_each(results, 20_000)
    assert len(sender.calls) <= 40
    assert max(len(c.numbers) for c in sender.calls) == 600
    assert sender.gateway.delivered() == Counter(dict.fromkeys(numbers(20_000), 1))
    expected = numbers(20_000)
    assert all(r.ref == r.index and r.to == expected[r.index] for r in results)


async def test_groups_follow_text_options_climsgid_and_limit() -> None:
    opts = SendOptions(callback=3)
    messages = [
        *[Message(n, "A") for n in numbers(5)],
        *[Message(n, "A", opts) for n in numbers(3, 100)],
        Message("27829999999", "A", opts, climsgid="mine1"),
        Message("27829999998", "A", opts, climsgid="mine1"),
        Message("27829999997", "A", opts, climsgid="mine2"),
        *[Message(n, "B") for n in numbers(7, 200)],
    ]
    sender = FakeSender(max_recipients=4)
    results = await collect(send_bulk(sender, messages, rate=None, concurrency=1))
    assert_one_result_each(results, len(messages))
    assert [len(c.numbers) for c in sender.calls] == [4, 1, 3, 2, 1, 4, 3]
    assert [c.climsgid for c in sender.calls[3:5]] == ["mine1", "mine2"]
    # Every recipient of a request reports that request's climsgid.
    by_number = {r.to: r for r in results}
    for call in sender.calls:
        assert {by_number[n].climsgid for n in call.numbers} == {call.climsgid}


async def test_a_repeated_number_starts_a_new_request() -> None:
    messages = [Message("27820000001", "x"), Message("27820000002", "x")] * 3
    sender = FakeSender()
    results = await collect(send_bulk(sender, messages, rate=None, concurrency=1))
    assert_one_result_each(results, 6)
    assert [len(c.numbers) for c in sender.calls] == [2, 2, 2]


async def test_group_size_one_turns_grouping_off() -> None:
    sender = FakeSender()
    await collect(send_bulk(sender, same_text(10), rate=None, group_size=1))
    assert len(sender.calls) == 10
    with pytest.raises(ValueError):
        send_bulk(sender, [], group_size=0)


# -- inputs ---------------------------------------------------------------------------------


async def test_async_iterable_input() -> None:
    async def source() -> AsyncIterator[Message]:
        for message in same_text(1_500):
            yield message

    sender = FakeSender()
    # A long linger: a slow machine must not flush a partial group while the source runs.
    results = await collect(send_bulk(sender, source(), rate=None, linger=60.0))
    assert_one_result_each(results, 1_500)
    assert [len(c.numbers) for c in sender.calls] == [600, 600, 300]


async def test_slow_async_input_sends_a_partial_group_after_linger() -> None:
    released = anyio.Event()

    async def source() -> AsyncIterator[Message]:
        for message in same_text(3):
            yield message
        await released.wait()
        for message in same_text(3, text="later"):
            yield message

    sender = FakeSender()
    async with send_bulk(sender, source(), rate=None, linger=0.01) as run:
        first = [await anext(run) for _ in range(3)]  # arrives without the rest of the input
        released.set()
        rest = [r async for r in run]
    assert_one_result_each(first + rest, 6)
    assert [len(c.numbers) for c in sender.calls] == [3, 3]


async def test_empty_input() -> None:
    run = send_bulk(FakeSender(), [], rate=None)
    assert await collect(run) == []
    report = run.report()
    assert report.total == 0 and report.requests == 0
    assert report.latency_p50 is None


async def test_input_that_is_not_messages_fails_after_the_rest_is_sent() -> None:
    sender = FakeSender()
    results: list[BulkResult] = []
    with pytest.raises(TypeError, match=r"asms\.Message"):
        async with send_bulk(sender, [*personalised(3), "27820000009"], rate=None) as run:  # type: ignore[list-item]
            async for result in run:
                results.append(result)
    assert_one_result_each(results, 3)
    assert all(r.ok for r in results)


async def test_failing_async_input_fails_after_the_rest_is_sent() -> None:
    async def source() -> AsyncIterator[Message]:
        for message in personalised(4):
            yield message
        raise OSError("database went away")

    results: list[BulkResult] = []
    with pytest.raises(OSError, match="database went away"):
        async with send_bulk(FakeSender(), source(), rate=None) as run:
            async for result in run:
                results.append(result)
    assert_one_result_each(results, 4)


# -- backpressure and memory ----------------------------------------------------------------


async def test_a_stalled_consumer_stops_the_input_being_read() -> None:
    pulled = 0

    def source() -> Iterator[Message]:
        nonlocal pulled
        for message in personalised(100_000):
            pulled += 1
            yield message

    sender = FakeSender()
    async with send_bulk(sender, source(), rate=None, concurrency=2) as run:
        await anext(run)
        for _ in range(50):
            await anyio.lowlevel.checkpoint()
        stalled_at = pulled
        for _ in range(50):
            await anyio.lowlevel.checkpoint()
        assert pulled == stalled_at  # nothing moves while we do not read
        assert pulled < 20  # workers + queues, not the input size
        run.stop()
    assert run.report().total == pulled


# -- results and reporting ------------------------------------------------------------------


async def test_result_fields_and_report() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> list[SendResult] | None:
        if messages[0].text == "bad":
            return [
                SendResult(m.to, None, m.climsgid, 105, "Invalid destination address", 1, m.ref)
                for m in messages
            ]
        return None

    messages = [*same_text(4), Message("27821111111", "bad", ref="x")]
    sender = FakeSender(hook=hook)
    run = send_bulk(sender, messages, rate=None)
    results = await collect(run)
    by_index = {r.index: r for r in results}
    good = by_index[0]
    assert good.ok and good.accepted and good.state is DeliveryState.ACCEPTED
    assert good.apimsgid and good.climsgid == sender.calls[0].climsgid and good.ref == 0
    assert not good.resumed and good.parts == 1
    bad = by_index[4]
    assert not bad.ok and bad.state is DeliveryState.REJECTED
    assert bad.error_code == 105 and bad.ref == "x"
    report = run.report()
    assert (report.total, report.accepted, report.sent, report.rejected) == (5, 4, 4, 1)
    assert dict(report.failed_by_code) == {105: 1}
    assert report.parts == 4 and report.credits == 4.0
    assert report.requests == 2 and not report.cancelled
    assert "105×1" in str(report)
    assert dict(report.rows())["accepted"] == "4"


async def test_progress_hook_and_statistics() -> None:
    seen: list[BulkStatistics] = []
    sender = FakeSender()
    run = send_bulk(sender, personalised(30), rate=None, progress=seen.append)
    async with run:
        first = run.statistics()
        assert first.completed == 0
        async for _ in run:
            pass
    assert seen[-1].completed == 30 and seen[-1].input_done
    assert [s.completed for s in seen] == sorted(s.completed for s in seen)
    stats = run.statistics()
    assert (stats.read, stats.accepted, stats.requests, stats.requests_in_flight) == (30, 30, 30, 0)


# -- errors ---------------------------------------------------------------------------------


async def test_err_130_pauses_the_whole_pool_until_its_time() -> None:
    clock = VirtualClock(wall_start=1_000_000.0)
    throttled = False

    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        nonlocal throttled
        if not throttled and len(sender.calls) == 5:
            throttled = True
            until = int(clock.wall_time()) + 30
            raise ThrottledError(130, f"Maximum MT limit exceeded until {until}")
        return None

    sender = FakeSender(clock=clock, hook=hook)
    run = send_bulk(sender, personalised(20), rate=10.0, clock=clock)
    results = await collect(run)
    assert all(r.ok for r in results)
    assert_one_result_each(results, 20)
    times = [c.time for c in sender.calls]
    assert times[4] == pytest.approx(0.4)  # refused "until" the wall time of clock 30.0
    # Nothing is sent between the refusal and its time; then the schedule resumes.
    assert times[5:] == pytest.approx([30.0 + 0.1 * i for i in range(16)])
    assert len(sender.calls) == 21
    assert sum(sender.gateway.delivered().values()) == 20


async def test_err_130_per_recipient_resends_only_those() -> None:
    clock = VirtualClock(wall_start=1_000_000.0)

    async def hook(sender: FakeSender, messages: Sequence[Message]) -> list[SendResult] | None:
        if len(sender.calls) == 1:
            committed = sender.gateway.commit(messages[:2])
            until = int(clock.wall_time()) + 10
            refused = [
                SendResult(m.to, None, m.climsgid, 130, f"limit until {until}", 1, m.ref)
                for m in messages[2:]
            ]
            return committed + refused
        return None

    sender = FakeSender(clock=clock, hook=hook)
    results = await collect(send_bulk(sender, same_text(5), rate=None, clock=clock))
    assert all(r.ok for r in results)
    assert [len(c.numbers) for c in sender.calls] == [5, 3]
    assert sender.calls[1].time == pytest.approx(10.0)
    assert sum(sender.gateway.delivered().values()) == 5


async def test_whole_request_refusal_rejects_its_messages() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        if messages[0].text == "B":
            raise ParameterError(101, "Invalid or missing parameters")
        return None

    messages = [*[Message(n, "A") for n in numbers(3)], *[Message(n, "B") for n in numbers(3)]]
    run = send_bulk(FakeSender(hook=hook), messages, rate=None)
    results = await collect(run)
    assert sorted(r.state.value for r in results) == ["accepted"] * 3 + ["rejected"] * 3
    assert run.report().failed_by_code == {101: 3}


async def test_account_refusal_stops_sending_and_is_raised_after_every_result() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        if len(sender.calls) == 3:
            raise AuthenticationError(1, "Authentication failed")
        return None

    sender = FakeSender(hook=hook)
    run = send_bulk(sender, iter(personalised(1_000)), rate=None, concurrency=1)
    results: list[BulkResult] = []
    with pytest.raises(AuthenticationError):
        async with run:
            async for result in run:
                results.append(result)
    report = run.report()
    assert len(sender.calls) == 3
    assert report.accepted == 2 and report.failed_by_code == {1: 1}
    assert report.not_sent == 997 and report.cancelled
    assert report.total == 1_000
    assert_one_result_each(results, 1_000)
    unsent = [r for r in results if r.state is DeliveryState.NOT_SENT]
    assert len(unsent) == 997 and all(r.error_code == NOT_SENT for r in unsent)
    assert all("ERR 001" in (r.error_description or "") for r in unsent)


async def test_transport_failures_unknown_and_never_left() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        if messages[0].text.endswith("1"):
            raise ReadTimeout("read timed out")
        if messages[0].text.endswith("2"):
            raise ConnectError("connection refused")
        return None

    run = send_bulk(FakeSender(hook=hook), personalised(3), rate=None)
    results = {r.index: r for r in await collect(run)}
    assert results[0].ok
    assert results[1].state is DeliveryState.UNKNOWN and results[1].error_code == OUTCOME_UNKNOWN
    assert results[1].climsgid  # the id to look it up by later
    assert results[2].state is DeliveryState.NOT_SENT and results[2].error_code == NOT_SENT
    report = run.report()
    assert (report.accepted, report.unknown, report.not_sent) == (1, 1, 1)


async def test_sender_outcome_markers_become_states() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> list[SendResult]:
        m0, m1 = messages
        return [
            SendResult(m0.to, None, m0.climsgid, OUTCOME_UNKNOWN, "gave up", 1),
            SendResult(m1.to, None, m1.climsgid, NOT_SENT, "never left", 1),
        ]

    results = await collect(send_bulk(FakeSender(hook=hook), same_text(2), rate=None))
    assert {r.index: r.state for r in results} == {
        0: DeliveryState.UNKNOWN,
        1: DeliveryState.NOT_SENT,
    }


async def test_a_locally_refused_message_does_not_sink_its_group() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        if any(m.to == "27820000002" for m in messages):
            raise ValidationError("to", "not a valid number")
        return None

    sender = FakeSender(hook=hook)
    results = {r.index: r for r in await collect(send_bulk(sender, same_text(5), rate=None))}
    assert [results[i].state for i in range(5)] == [DeliveryState.ACCEPTED] * 2 + [
        DeliveryState.NOT_SENT
    ] + [DeliveryState.ACCEPTED] * 2
    assert "refused locally" in (results[2].error_description or "")
    assert sum(sender.gateway.delivered().values()) == 4


async def test_an_unexpected_sender_error_stops_and_is_raised() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        if len(sender.calls) == 2:
            raise RuntimeError("bug in the sender")
        return None

    results: list[BulkResult] = []
    run = send_bulk(FakeSender(hook=hook), iter(personalised(100)), rate=None, concurrency=1)
    with pytest.raises(RuntimeError, match="bug in the sender"):
        async with run:
            async for result in run:
                results.append(result)
    report = run.report()
    assert (
        len(results) == report.total == report.completed if hasattr(report, "completed") else True
    )
    assert report.accepted == 1 and report.unknown == 1
    assert report.accepted + report.unknown + report.not_sent == report.total


# -- stopping -------------------------------------------------------------------------------


async def test_stop_yields_the_rest_as_not_sent() -> None:
    clock = VirtualClock()
    sender = FakeSender(clock=clock)
    run = send_bulk(sender, iter(personalised(10_000)), rate=100.0, clock=clock)
    results: list[BulkResult] = []
    async with run:
        async for result in run:
            results.append(result)
            if len(results) == 10:
                run.stop()
    report = run.report()
    assert report.cancelled
    assert len(results) == report.total < 100
    assert_one_result_each(results, report.total)
    accepted = [r for r in results if r.ok]
    assert len(accepted) == len(sender.calls) == report.accepted
    assert all(r.error_code == NOT_SENT for r in results if not r.ok)
    assert clock.current_time() < 1.0


async def test_breaking_out_counts_the_rest_in_the_report() -> None:
    sender = FakeSender()
    run = send_bulk(sender, iter(personalised(10_000)), rate=None, concurrency=4)
    async with run:
        async for result in run:
            if result.index >= 5:
                break
    report = run.report()
    assert report.cancelled
    assert report.accepted == len(sender.calls)
    assert report.accepted + report.not_sent == report.total < 10_000


async def test_cancellation_lets_requests_in_flight_finish() -> None:
    gate = anyio.Event()

    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        await gate.wait()
        return None

    sender = FakeSender(hook=hook)
    run = send_bulk(sender, iter(personalised(1_000)), rate=None, concurrency=3)
    with anyio.CancelScope() as outer:
        async with run:
            while len(sender.calls) < 3:
                await anyio.lowlevel.checkpoint()
            outer.cancel()
            gate.set()
            await anyio.sleep_forever()
    report = run.report()
    assert report.accepted == 3  # the three in flight completed during the drain
    assert report.accepted + report.not_sent == report.total
    assert sum(sender.gateway.delivered().values()) == 3


async def test_drain_timeout_bounds_requests_in_flight() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        await anyio.sleep_forever()

    sender = FakeSender(hook=hook)
    run = send_bulk(sender, personalised(50), rate=None, concurrency=2, drain_timeout=0.05)
    results: list[BulkResult] = []
    async with run:
        while len(sender.calls) < 2:
            await anyio.lowlevel.checkpoint()
        run.stop()
        async for result in run:
            results.append(result)
    assert_one_result_each(results, run.report().total)
    states = Counter(r.state for r in results)
    assert states[DeliveryState.UNKNOWN] == 2
    assert states[DeliveryState.NOT_SENT] == len(results) - 2
    unknown = [r for r in results if r.state is DeliveryState.UNKNOWN]
    assert "cancelled in flight" in (unknown[0].error_description or "")


async def test_a_failing_progress_hook_stops_the_run_and_is_raised() -> None:
    def hook(stats: BulkStatistics) -> None:
        if stats.completed >= 3:
            raise ZeroDivisionError("bad hook")

    run = send_bulk(FakeSender(), iter(personalised(1_000)), rate=None, progress=hook)
    with pytest.raises(ZeroDivisionError):
        async with run:
            async for _ in run:
                pass
    report = run.report()
    assert report.cancelled and report.total < 1_000
    assert report.accepted + report.not_sent + report.unknown == report.total


async def test_finish_runs_to_the_end() -> None:
    sender = FakeSender()
    async with send_bulk(sender, personalised(25), rate=None) as run:
        report = await run.finish()
    assert report.total == report.accepted == len(sender.calls) == 25


# -- misuse ---------------------------------------------------------------------------------


async def test_iterating_outside_the_context_is_an_error() -> None:
    run = send_bulk(FakeSender(), personalised(1))
    with pytest.raises(RuntimeError, match="async with"):
        await anext(run)


async def test_a_run_is_used_once() -> None:
    run = send_bulk(FakeSender(), personalised(1), rate=None)
    await collect(run)
    with pytest.raises(RuntimeError):
        async with run:
            pass


@pytest.mark.parametrize("concurrency", [0, -1, True])
def test_invalid_concurrency(concurrency: int) -> None:
    with pytest.raises(ValueError):
        send_bulk(FakeSender(), [], concurrency=concurrency)
