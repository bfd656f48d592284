"""The bulk pipeline's fast paths: the work and result queues, Grouper.fill, results built by
writing their slots, Tally.count_all, the client's own request function, the drain timeout."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from helpers.bulk_fakes import FakeSender, personalised, same_text
from helpers.emulator import committed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asms._bulk.grouping import Group, Grouper, InputFailed, Item, ResultQueue, WorkQueue
from asms._bulk.report import (
    BulkResult,
    DeliveryState,
    Tally,
    accepted_bulk_results,
    make_result,
)
from asms._bulk.run import send_bulk
from asms._client import AsyncClient
from asms._codes import ErrorCode
from asms._config import RetryPolicy
from asms._models import NOT_SENT, OUTCOME_UNKNOWN, Message, SendOptions, SendResult
from asms.testing import GatewayEmulator

pytestmark = pytest.mark.anyio


# -- WorkQueue -------------------------------------------------------------------------------


async def test_work_queue_is_fifo() -> None:
    queue: WorkQueue[int] = WorkQueue(5, consumers=1)
    for i in range(5):
        await queue.put(i)
    assert [await queue.get() for _ in range(5)] == [0, 1, 2, 3, 4]


async def test_work_queue_put_waits_when_full_and_resumes_after_a_get() -> None:
    queue: WorkQueue[int] = WorkQueue(2, consumers=1)
    await queue.put(1)
    await queue.put(2)
    done = anyio.Event()

    async def third() -> None:
        await queue.put(3)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(third)
        await anyio.wait_all_tasks_blocked()
        assert not done.is_set()
        assert await queue.get() == 1
        await done.wait()
    assert [await queue.get(), await queue.get()] == [2, 3]


async def test_work_queue_get_waits_when_empty() -> None:
    queue: WorkQueue[str] = WorkQueue(2, consumers=1)
    got: list[str | None] = []

    async def getter() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        await queue.put("x")
    assert got == ["x"]


async def test_work_queue_close_drains_then_gives_none() -> None:
    queue: WorkQueue[int] = WorkQueue(3, consumers=1)
    await queue.put(1)
    await queue.put(2)
    queue.close()
    assert [await queue.get(), await queue.get(), await queue.get()] == [1, 2, None]
    assert await queue.get() is None
    with pytest.raises(anyio.ClosedResourceError):
        await queue.put(3)


async def test_work_queue_close_wakes_a_waiting_getter_with_none() -> None:
    queue: WorkQueue[int] = WorkQueue(3, consumers=1)
    got: list[int | None] = []

    async def getter() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        queue.close()
    assert got == [None]


async def test_work_queue_puts_fail_once_every_consumer_is_done() -> None:
    queue: WorkQueue[int] = WorkQueue(1, consumers=2)
    await queue.put(0)
    failures: list[BaseException] = []

    async def waiting_put() -> None:
        try:
            await queue.put(1)
        except anyio.BrokenResourceError as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiting_put)
        await anyio.wait_all_tasks_blocked()
        queue.consumer_done()
        await anyio.wait_all_tasks_blocked()
        assert failures == []  # one consumer is still taking
        queue.consumer_done()
    assert len(failures) == 1
    with pytest.raises(anyio.BrokenResourceError):
        await queue.put(2)


async def test_work_queue_a_cancelled_waiting_get_loses_nothing() -> None:
    queue: WorkQueue[str] = WorkQueue(2, consumers=2)
    first: list[str | None] = []
    second: list[str | None] = []
    scope = anyio.CancelScope()

    async def cancelled_getter() -> None:
        with scope:
            first.append(await queue.get())

    async def getter() -> None:
        second.append(await queue.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancelled_getter)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        await queue.put("item")
    assert first == []
    assert second == ["item"]


async def test_work_queue_a_get_cancelled_as_its_item_arrives_passes_it_on() -> None:
    # The put wakes the first getter, which is cancelled before it runs: whichever of the two
    # takes the item, it is taken exactly once and the other getter is not left waiting.
    queue: WorkQueue[str] = WorkQueue(2, consumers=2)
    got: list[str | None] = []
    scope = anyio.CancelScope()

    async def cancelled_getter() -> None:
        with scope:
            got.append(await queue.get())

    async def getter() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancelled_getter)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        await queue.put("item")
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        assert got == ["item"]  # taken before anything else happens to the queue
        queue.close()
    assert sorted(got, key=repr) == sorted(["item", None], key=repr)


async def test_work_queue_a_cancelled_waiting_put_adds_nothing() -> None:
    queue: WorkQueue[int] = WorkQueue(1, consumers=1)
    await queue.put(1)
    scope = anyio.CancelScope()

    async def cancelled_put() -> None:
        with scope:
            await queue.put(2)

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancelled_put)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()
    assert scope.cancelled_caught
    queue.close()
    assert [await queue.get(), await queue.get()] == [1, None]


async def test_work_queue_a_put_waiting_after_a_cancelled_one_resumes_on_a_get() -> None:
    queue: WorkQueue[int] = WorkQueue(1, consumers=1)
    await queue.put(1)
    scope = anyio.CancelScope()
    done = anyio.Event()

    async def cancelled_put() -> None:
        with scope:
            await queue.put(2)

    async def put() -> None:
        await queue.put(3)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancelled_put)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(put)
        await anyio.wait_all_tasks_blocked()
        assert await queue.get() == 1
        await anyio.wait_all_tasks_blocked()
        assert done.is_set()  # the get made room for the live put, not the cancelled one
    queue.close()
    assert [await queue.get(), await queue.get()] == [3, None]


@pytest.mark.parametrize("capacity", [1, 3, 50])
async def test_work_queue_each_item_goes_to_exactly_one_of_many_getters(capacity: int) -> None:
    queue: WorkQueue[int] = WorkQueue(capacity, consumers=8)
    taken: list[list[int]] = [[] for _ in range(8)]

    async def consumer(mine: list[int]) -> None:
        while (item := await queue.get()) is not None:
            mine.append(item)
            await anyio.lowlevel.checkpoint()
        queue.consumer_done()

    async with anyio.create_task_group() as tg:
        for mine in taken:
            tg.start_soon(consumer, mine)
        await anyio.wait_all_tasks_blocked()
        for i in range(200):
            await queue.put(i)
        queue.close()
    assert sorted(i for mine in taken for i in mine) == list(range(200))
    for mine in taken:
        assert mine == sorted(mine)  # FIFO as seen by each consumer


async def test_work_queue_each_put_wakes_one_waiting_getter() -> None:
    queue: WorkQueue[int] = WorkQueue(10, consumers=5)
    got: list[int | None] = []

    async def getter() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        for i in range(3):
            await queue.put(i)
        await anyio.wait_all_tasks_blocked()
        assert sorted(got, key=repr) == [0, 1, 2]  # three getters woke, two still wait
        await queue.put(3)
        await queue.put(4)
    assert sorted(got, key=repr) == [0, 1, 2, 3, 4]


# -- ResultQueue -----------------------------------------------------------------------------


def test_result_queue_capacity_grows_with_the_largest_put() -> None:
    queue: ResultQueue[int] = ResultQueue(2)
    assert queue.offer([1])
    assert queue.offer([2])
    assert not queue.offer([3])  # 2 puts of 1
    assert queue.take() == 1
    assert queue.offer([10, 11, 12])  # room now; the largest put is 3: capacity 6
    assert queue.offer([13, 14])
    assert not queue.offer([15])
    assert [queue.take() for _ in range(6)] == [2, 10, 11, 12, 13, 14]
    assert queue.take() is None


async def test_result_queue_put_grows_the_capacity_too() -> None:
    queue: ResultQueue[int] = ResultQueue(1)
    await queue.put([1, 2, 3, 4])
    assert queue.take() == 1
    assert queue.offer([5])  # capacity is 4 now
    assert not queue.offer([6])


async def test_result_queue_a_waiting_put_resumes_after_take() -> None:
    queue: ResultQueue[int] = ResultQueue(1)
    assert queue.offer([1])
    done = anyio.Event()

    async def writer() -> None:
        await queue.put([2])
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        await anyio.wait_all_tasks_blocked()
        assert not done.is_set()
        assert queue.take() == 1
        await done.wait()
    assert queue.take() == 2
    assert queue.take() is None


async def test_result_queue_discard_drops_queued_and_later_items() -> None:
    queue: ResultQueue[int] = ResultQueue(1)
    assert queue.offer([1])
    done = anyio.Event()

    async def writer() -> None:
        await queue.put([2])
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        await anyio.wait_all_tasks_blocked()
        queue.discard()
        await done.wait()  # the waiting writer is released
    assert queue.discarding
    assert queue.take() is None
    assert queue.offer([3, 4, 5])
    await queue.put([6])
    assert queue.take() is None


async def test_result_queue_wait_readable() -> None:
    queue: ResultQueue[int] = ResultQueue(4)
    answers: list[bool] = []

    async def reader() -> None:
        answers.append(await queue.wait_readable())

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        assert answers == []
        assert queue.offer([1])
    assert answers == [True]
    queue.close()
    assert await queue.wait_readable()  # closed, but an item is left
    assert queue.take() == 1
    assert not await queue.wait_readable()

    closing: ResultQueue[int] = ResultQueue(4)

    async def reader_of_closing() -> None:
        answers.append(await closing.wait_readable())

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader_of_closing)
        await anyio.wait_all_tasks_blocked()
        closing.close()
    assert answers == [True, False]


@pytest.mark.parametrize("writers", [2, 3, 7])
async def test_result_queue_every_waiting_writer_resumes(writers: int) -> None:
    queue: ResultQueue[int] = ResultQueue(1)
    assert queue.offer([-1])
    finished: list[int] = []
    taken: list[int] = []

    async def writer(i: int) -> None:
        await queue.put([i])
        finished.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(writers):
            tg.start_soon(writer, i)
        await anyio.wait_all_tasks_blocked()
        assert finished == []
        while len(taken) < writers + 1:
            assert await queue.wait_readable()
            item = queue.take()
            assert item is not None
            taken.append(item)
            await anyio.wait_all_tasks_blocked()
    assert sorted(finished) == list(range(writers))
    assert sorted(taken) == list(range(-1, writers))


# -- Grouper.fill ----------------------------------------------------------------------------

_OPTIONS = [SendOptions(), SendOptions(callback=3)]
_message = st.builds(
    Message,
    to=st.sampled_from(["27820000001", "27820000002", "27820000003", "27820000004"]),
    text=st.sampled_from(["a", "b"]),
    options=st.sampled_from(_OPTIONS),
    climsgid=st.sampled_from([None, None, "C1"]),
    ref=st.integers(0, 3),
)


def _shape(groups: Sequence[Group | None]) -> list[list[tuple[int, Message, Any]]]:
    out = []
    for group in groups:
        assert group is not None
        out.append([(item.index, item.message, item.message.ref) for item in group.items])
    return out


def _one_by_one(messages: Sequence[Message], limit: int) -> list[Group]:
    grouper = Grouper(limit)
    groups = [g for i, m in enumerate(messages) if (g := grouper.add(Item(i, m))) is not None]
    last = grouper.flush()
    return groups if last is None else [*groups, last]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    messages=st.lists(_message, max_size=30),
    limit=st.integers(1, 5),
    pauses=st.lists(st.integers(0, 4), max_size=10),
)
def test_fill_groups_as_add_does(messages: list[Message], limit: int, pauses: list[int]) -> None:
    # ``pauses``: how many messages each call may read before taking() turns false (a run's
    # producer stops to hand its groups on), then reading goes on as long as it likes.
    grouper = Grouper(limit)
    source = _Counted(messages)
    groups: list[Group] = []
    index = 0
    budgets = iter(pauses)
    while True:
        budget = next(budgets, None)
        stop = source.read + (len(messages) if budget is None else budget)
        group, index = grouper.fill(source, index, partial(_before, source, stop))
        if group is not None:
            groups.append(group)
            continue
        if budget is None:
            break
    last = grouper.flush()
    if last is not None:
        groups.append(last)
    assert index == source.read == len(messages)
    assert _shape(groups) == _shape(_one_by_one(messages, limit))


def _before(source: _Counted, stop: int) -> bool:
    return source.read < stop


class _Counted(Iterator[object]):
    def __init__(self, items: Sequence[object]) -> None:
        self.items = list(items)
        self.read = 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> object:
        if self.read >= len(self.items):
            raise StopIteration
        item = self.items[self.read]
        self.read += 1
        return item


def test_fill_stops_reading_when_taking_turns_false() -> None:
    messages = same_text(10)
    source = _Counted(messages)
    grouper = Grouper(5)
    group, index = grouper.fill(source, 0, lambda: source.read < 3)
    assert (group, index, source.read) == (None, 3, 3)
    assert grouper.pending == 3
    group, index = grouper.fill(source, index, lambda: False)
    assert (group, index, source.read) == (None, 3, 3)
    group, index = grouper.fill(source, index, lambda: True)
    assert group is not None and index == 5 == source.read
    assert [item.index for item in group.items] == [0, 1, 2, 3, 4]
    assert [item.message for item in group.items] == messages[:5]


class _Failing(Iterator[object]):
    def __init__(self, items: Sequence[object], error: Exception) -> None:
        self.items = list(items)
        self.error = error

    def __iter__(self) -> _Failing:
        return self

    def __next__(self) -> object:
        if self.items:
            return self.items.pop(0)
        raise self.error


def test_fill_an_input_that_raises_keeps_what_was_read() -> None:
    messages = same_text(2)
    error = OSError("disk gone")
    grouper = Grouper(5)
    with pytest.raises(InputFailed) as caught:
        grouper.fill(_Failing(messages, error), 0, lambda: True)
    assert caught.value.read == 2
    assert caught.value.error is error
    assert grouper.pending == 2
    left = grouper.flush()
    assert left is not None
    assert [(i.index, i.message) for i in left.items] == [(0, messages[0]), (1, messages[1])]


def test_fill_an_input_that_gives_a_non_message() -> None:
    messages = same_text(1)
    grouper = Grouper(5)
    with pytest.raises(InputFailed) as caught:
        grouper.fill(iter([messages[0], "27820000009"]), 0, lambda: True)
    assert caught.value.read == 1
    assert isinstance(caught.value.error, TypeError)
    assert grouper.pending == 1
    left = grouper.flush()
    assert left is not None and [i.message for i in left.items] == messages


def test_fill_an_input_that_fails_after_a_group_was_handed_out() -> None:
    first, second = Message("27820000001", "a"), Message("27820000002", "b")
    source = _Failing([first, second], ValueError("bad row"))
    grouper = Grouper(5)
    group, index = grouper.fill(source, 0, lambda: True)
    assert group is not None and [i.message for i in group.items] == [first]
    assert index == 2
    with pytest.raises(InputFailed) as caught:
        grouper.fill(source, index, lambda: True)
    assert caught.value.read == 2
    assert isinstance(caught.value.error, ValueError)
    left = grouper.flush()
    assert left is not None and [(i.index, i.message) for i in left.items] == [(1, second)]


# -- results built by writing their slots -------------------------------------------------------


def _state(code: int | None) -> DeliveryState:
    if code is None:
        return DeliveryState.ACCEPTED
    if code == OUTCOME_UNKNOWN:
        return DeliveryState.UNKNOWN
    if code == NOT_SENT:
        return DeliveryState.NOT_SENT
    return DeliveryState.REJECTED


def assert_same(made: object, built: object) -> None:
    assert type(made) is type(built)
    assert made == built
    assert repr(made) == repr(built)
    assert hash(made) == hash(built)
    for f in dataclasses.fields(built):  # type: ignore[arg-type]
        assert getattr(made, f.name) == getattr(built, f.name), f.name
        assert type(getattr(made, f.name)) is type(getattr(built, f.name)), f.name
    assert made.ref is built.ref  # type: ignore[attr-defined]


_codes = st.sampled_from(
    [None, OUTCOME_UNKNOWN, NOT_SENT, 1, 105, ErrorCode(114), ErrorCode(301), 999]
)
_refs: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.integers(), st.text(max_size=3), st.builds(list)
)


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, 10**6),
    ref=_refs,
    climsgid=st.one_of(st.none(), st.text("abc123", min_size=1, max_size=5)),
    apimsgid=st.one_of(st.none(), st.text("abc123", min_size=1, max_size=5)),
    code=_codes,
    description=st.one_of(st.none(), st.text(max_size=5)),
    parts=st.integers(1, 4),
    resumed=st.booleans(),
    duplicate=st.booleans(),
)
def test_make_result_is_the_constructor(
    index: int,
    ref: Any,
    climsgid: str | None,
    apimsgid: str | None,
    code: int | None,
    description: str | None,
    parts: int,
    resumed: bool,
    duplicate: bool,
) -> None:
    message = Message("+27 82 000 0001", "hi", ref=ref)
    made = make_result(
        Item(index, message),
        climsgid,
        apimsgid,
        code,
        description,
        parts,
        resumed=resumed,
        duplicate=duplicate,
    )
    built = BulkResult(
        message.to,
        apimsgid,
        climsgid,
        code,
        description,
        parts,
        message.ref,
        duplicate,
        state=_state(code),
        index=index,
        resumed=resumed,
    )
    assert_same(made, built)
    assert made.state is built.state and made.ok is built.ok


def test_make_result_defaults() -> None:
    item = Item(7, Message("27820000001", "hi", ref="r"))
    made = make_result(item, "C1", "api1", None, None)
    assert_same(made, BulkResult("27820000001", "api1", "C1", ref="r", index=7))


@settings(max_examples=100, deadline=None)
@given(
    refs=st.lists(_refs, min_size=1, max_size=12),
    start=st.integers(0, 1000),
    parts=st.integers(1, 3),
)
def test_accepted_bulk_results_are_the_constructors(
    refs: list[Any], start: int, parts: int
) -> None:
    items = [
        Item(start + 3 * i, Message(f"2782{i:07d}", "hi", ref=ref)) for i, ref in enumerate(refs)
    ]
    apimsgids = [f"id{i}" for i in range(len(items))]
    made = accepted_bulk_results(items, apimsgids, "C9", parts)
    built = [
        BulkResult(
            item.message.to,
            apimsgids[i],
            "C9",
            None,
            None,
            parts,
            item.message.ref,
            False,
            state=DeliveryState.ACCEPTED,
            index=item.index,
            resumed=False,
        )
        for i, item in enumerate(items)
    ]
    assert len(made) == len(built)
    for one, other in zip(made, built, strict=True):
        assert_same(one, other)


_result = st.builds(
    lambda index, code, parts, resumed, duplicate: make_result(
        Item(index, Message("27820000001", "hi")),
        "C1",
        "api" if code is None else None,
        code,
        None if code is None else "why",
        parts,
        resumed=resumed,
        duplicate=duplicate,
    ),
    st.integers(0, 100),
    _codes,
    st.integers(1, 4),
    st.booleans(),
    st.booleans(),
)


def _counters(tally: Tally) -> dict[str, object]:
    skip = {"latency"}
    return {f.name: getattr(tally, f.name) for f in dataclasses.fields(tally) if f.name not in skip}


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(_result, max_size=8), max_size=6))
def test_count_all_counts_as_count_does(batches: list[list[BulkResult]]) -> None:
    one_by_one, all_at_once = Tally(), Tally()
    for batch in batches:
        for result in batch:
            one_by_one.count(result)
        all_at_once.count_all(batch)
    assert _counters(all_at_once) == _counters(one_by_one)
    assert all_at_once.completed == one_by_one.completed


# -- the client's own request function steps aside for an override ---------------------------


def _client_kwargs(emulator: GatewayEmulator) -> dict[str, Any]:
    return {
        "transport": emulator.transport(),
        "base_url": "http://gateway.test",
        "retry": RetryPolicy.testing(attempts=6, reconcile_queries=2),
    }


def _messages(count: int) -> list[Message]:
    # Spelled as callers write them: the results must carry them as given.
    spelled = ["+27 82 {0:03d} {1:04d}", "2782{0:03d}{1:04d}", "+2782{0:03d}{1:04d}"]
    out = []
    for i in range(count):
        to = spelled[i % 3].format(i // 1000, i % 10_000)
        out.append(Message(to, "same text" if i % 4 else f"personal {i}", ref=("row", i)))
    return out


def _normalised(to: str) -> str:
    return to.replace(" ", "").lstrip("+")


class RecordingClient(AsyncClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[list[str]] = []

    async def send_request(
        self, messages: Sequence[Message], *, wait_throttled: bool = True
    ) -> Any:
        self.requests.append([m.to for m in messages])
        return await super().send_request(messages, wait_throttled=wait_throttled)


async def test_a_subclass_overriding_send_request_is_called_by_send_bulk() -> None:
    emulator = GatewayEmulator()
    messages = _messages(40)
    async with RecordingClient(1234, "demo", "demo", **_client_kwargs(emulator)) as client:
        results = [r async for r in _iterate(client.send_bulk(messages, rate=None))]
    assert sorted(r.index for r in results) == list(range(40))
    assert all(r.state is DeliveryState.ACCEPTED for r in results)
    assert sorted(to for request in client.requests for to in request) == sorted(
        m.to for m in messages
    )
    assert committed(emulator) == Counter(_normalised(m.to) for m in messages)


async def test_an_instance_whose_send_request_was_replaced_has_it_called() -> None:
    emulator = GatewayEmulator()
    messages = _messages(40)
    calls: list[list[str]] = []
    async with AsyncClient(1234, "demo", "demo", **_client_kwargs(emulator)) as client:
        original = client.send_request

        async def replaced(
            request: Sequence[Message], *, wait_throttled: bool = True
        ) -> Sequence[SendResult]:
            calls.append([m.to for m in request])
            return await original(request, wait_throttled=wait_throttled)

        client.send_request = replaced  # type: ignore[method-assign, assignment]
        results = [r async for r in _iterate(client.send_bulk(messages, rate=None))]
    assert sorted(r.index for r in results) == list(range(40))
    assert all(r.state is DeliveryState.ACCEPTED for r in results)
    assert sorted(to for call in calls for to in call) == sorted(m.to for m in messages)
    assert committed(emulator) == Counter(_normalised(m.to) for m in messages)


async def test_the_plain_client_sends_each_once_and_keeps_to_and_ref_as_given() -> None:
    emulator = GatewayEmulator()
    messages = _messages(1_500)
    async with AsyncClient(1234, "demo", "demo", **_client_kwargs(emulator)) as client:
        run = client.send_bulk(messages, rate=None, concurrency=4)
        results = [r async for r in _iterate(run)]
    assert sorted(r.index for r in results) == list(range(1_500))
    assert committed(emulator) == Counter(_normalised(m.to) for m in messages)
    assert emulator.recorder.duplicates() == {}
    for result in results:
        message = messages[result.index]
        assert result.state is DeliveryState.ACCEPTED and result.apimsgid
        assert result.to == message.to
        assert result.ref is message.ref
    assert run.report().accepted == 1_500


async def _iterate(run: Any) -> Any:
    async with run:
        async for result in run:
            yield result


# -- the drain timeout -------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [2, 4])
@pytest.mark.parametrize("group_size", [1, 5])
async def test_drain_timeout_with_every_worker_stuck(concurrency: int, group_size: int) -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        await anyio.sleep_forever()

    sender = FakeSender(hook=hook)
    messages = personalised(60) if group_size == 1 else same_text(60)
    run = send_bulk(
        sender,
        iter(messages),
        rate=None,
        concurrency=concurrency,
        group_size=group_size,
        drain_timeout=0.05,
    )
    results: list[BulkResult] = []
    async with run:
        while len(sender.calls) < concurrency:
            await anyio.lowlevel.checkpoint()
        run.stop()
        async for result in run:
            results.append(result)
    total = run.report().total
    assert sorted(r.index for r in results) == list(range(total))
    in_flight = {to for call in sender.calls for to in call.numbers}
    assert len(sender.calls) == concurrency
    unknown = [r for r in results if r.state is DeliveryState.UNKNOWN]
    assert {r.to for r in unknown} == in_flight
    assert len(unknown) == concurrency * group_size
    for result in unknown:
        assert "cancelled in flight" in (result.error_description or "")
    rest = [r for r in results if r.state is not DeliveryState.UNKNOWN]
    assert all(r.state is DeliveryState.NOT_SENT for r in rest)
    assert len(rest) == total - concurrency * group_size
    report = run.report()
    assert (report.unknown, report.not_sent, report.accepted) == (len(unknown), len(rest), 0)
