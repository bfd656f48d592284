"""The core's fast paths against their plain twins: results written through a writable twin,
Message's hand-written constructor, and the system clock read through the loop's own time."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import pickle
from typing import Any

import anyio
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from asms._bulk.report import BulkResult
from asms._clock import SystemClock
from asms._exceptions import ValidationError
from asms._fast import accepted_results, make_send_result, writable_twin
from asms._models import DEFAULT_OPTIONS, Message, SendOptions, SendResult

# -- results written through a writable twin ---------------------------------------------------


def _refusal(target: object) -> type[BaseException] | None:
    try:
        target.extra = 1  # type: ignore[attr-defined]
    except Exception as exc:
        return type(exc)
    return None


def assert_same_result(made: SendResult, built: SendResult, *, same_ref: bool = True) -> None:
    assert type(made) is SendResult
    assert made == built
    assert hash(made) == hash(built)
    assert repr(made) == repr(built)
    assert dataclasses.astuple(made) == dataclasses.astuple(built)
    assert dataclasses.asdict(made) == dataclasses.asdict(built)
    for f in dataclasses.fields(SendResult):
        assert getattr(made, f.name) == getattr(built, f.name), f.name
    if same_ref:
        assert made.ref is built.ref
    replaced = dataclasses.replace(made, apimsgid="other", parts=9)
    assert type(replaced) is SendResult
    assert replaced == dataclasses.replace(built, apimsgid="other", parts=9)
    assert made.state is built.state and made.ok is built.ok
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.to = "27829999999"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.apimsgid = None  # type: ignore[misc]
    # An attribute that is no field: refused alike (how depends on the Python version).
    assert _refusal(made) is _refusal(built) is not None
    assert made == built  # untouched by the refused writes


_refs: st.SearchStrategy[Any] = st.one_of(st.none(), st.integers(), st.text(max_size=3))


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(0, 12),
    climsgid=st.one_of(st.none(), st.text("abc123", min_size=1, max_size=6)),
    parts=st.integers(1, 4),
    with_refs=st.booleans(),
    refs=st.lists(_refs, min_size=12, max_size=12),
)
def test_accepted_results_are_the_constructors(
    count: int, climsgid: str | None, parts: int, with_refs: bool, refs: list[Any]
) -> None:
    to = [f"2782{i:07d}" for i in range(count)]
    apimsgids = [f"id{i:x}" for i in range(count)]
    made = accepted_results(to, apimsgids, climsgid, parts, refs if with_refs else None)
    built = [
        SendResult(to[i], apimsgids[i], climsgid, None, None, parts, refs[i] if with_refs else None)
        for i in range(count)
    ]
    assert made == built
    for one, other in zip(made, built, strict=True):
        assert_same_result(one, other)
        assert_same_result(pickle.loads(pickle.dumps(one)), other, same_ref=False)


def test_accepted_results_pickle_round_trip() -> None:
    [made] = accepted_results(["27820000001"], ["abc"], "C1", 2, [("row", 1)])
    back = pickle.loads(pickle.dumps(made))
    built = SendResult("27820000001", "abc", "C1", None, None, 2, ("row", 1))
    assert_same_result(back, built, same_ref=False)
    assert back.ref == ("row", 1)
    assert copy.copy(made) == made and copy.deepcopy(made) == made


def test_make_send_result_is_the_constructor() -> None:
    made = make_send_result("27820000001", None, "C1", 105, "Invalid Destination Address", 1, 7)
    assert_same_result(
        made, SendResult("27820000001", None, "C1", 105, "Invalid Destination Address", 1, 7)
    )


def test_writable_twin_has_the_same_slots() -> None:
    twin = writable_twin(SendResult)
    assert twin.__slots__ == SendResult.__slots__  # type: ignore[attr-defined]
    assert twin.__bases__ == (object,)
    assert writable_twin(SendResult) is twin


def test_writable_twin_refuses_a_subclass() -> None:
    with pytest.raises(TypeError, match="BulkResult"):
        writable_twin(BulkResult)


@dataclasses.dataclass(frozen=True, slots=True)
class _Checked:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


@dataclasses.dataclass(frozen=True)
class _Unslotted:
    value: int


def test_writable_twin_refuses_a_class_that_checks_its_fields() -> None:
    with pytest.raises(TypeError, match="__post_init__"):
        writable_twin(_Checked)
    with pytest.raises(TypeError, match="__post_init__"):
        writable_twin(SendOptions)


def test_writable_twin_refuses_message_and_its_own_init() -> None:
    with pytest.raises(TypeError, match="__init__"):
        writable_twin(Message)


def test_writable_twin_refuses_a_class_without_slots() -> None:
    with pytest.raises(TypeError, match="slotted"):
        writable_twin(_Unslotted)


# -- Message's hand-written constructor ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "rule", "value"),
    [
        ({"to": 27821234567}, "to", "must be a phone number string", 27821234567),
        ({"to": None}, "to", "must be a phone number string", None),
        ({"to": b"27821234567"}, "to", "must be a phone number string", b"27821234567"),
        ({"to": ""}, "to", "must be a phone number string", ""),
        ({"to": "   "}, "to", "must be a phone number string", "   "),
        ({"to": "\t\n"}, "to", "must be a phone number string", "\t\n"),
        ({"text": None}, "text", "must be a string", None),
        ({"text": 5}, "text", "must be a string", 5),
        ({"text": b"hi"}, "text", "must be a string", b"hi"),
        ({"text": ""}, "text", "must not be empty (or give data= for binary)", None),
        ({"climsgid": ""}, "climsgid", "must be 1-32 characters of [A-Za-z0-9]", None),
        ({"climsgid": "a" * 33}, "climsgid", "must be 1-32 characters of [A-Za-z0-9]", None),
        ({"climsgid": "ab-c"}, "climsgid", "must be 1-32 characters of [A-Za-z0-9]", None),
        ({"climsgid": "abc\n"}, "climsgid", "must be 1-32 characters of [A-Za-z0-9]", None),
        ({"climsgid": "é"}, "climsgid", "must be 1-32 characters of [A-Za-z0-9]", None),
        ({"climsgid": 12}, "climsgid", "must be 1-32 characters of [A-Za-z0-9]", None),
    ],
)
def test_message_refuses_each_bad_field(
    kwargs: dict[str, Any], field: str, rule: str, value: object
) -> None:
    given_fields: dict[str, Any] = {"to": "27821234567", "text": "hi", **kwargs}
    with pytest.raises(ValidationError) as caught:
        Message(**given_fields)
    assert (caught.value.field, caught.value.rule, caught.value.value) == (field, rule, value)
    if field == "to" or rule == "must be a string":  # the value is shown
        assert str(caught.value) == f"{field}: {rule} (got {value!r})"
    else:
        assert str(caught.value) == f"{field}: {rule}"
    # Positionally, the same refusal.
    args = [given_fields["to"], given_fields["text"], DEFAULT_OPTIONS, given_fields.get("climsgid")]
    with pytest.raises(ValidationError) as again:
        Message(*args)
    assert str(again.value) == str(caught.value)


def test_message_checks_its_fields_in_order() -> None:
    with pytest.raises(ValidationError) as caught:
        Message("", 5, climsgid="-")  # type: ignore[arg-type]
    assert caught.value.field == "to"
    with pytest.raises(ValidationError) as caught:
        Message("27821234567", 5, climsgid="-")  # type: ignore[arg-type]
    assert caught.value.field == "text"
    with pytest.raises(ValidationError) as caught:
        Message("27821234567", "", climsgid="-")
    assert caught.value.field == "text"


def test_message_empty_text_with_data_is_allowed() -> None:
    options = SendOptions(data="0011", binary=True)
    message = Message("27821234567", options=options)
    assert (message.text, message.options) == ("", options)


def test_message_keyword_and_positional_construction_agree() -> None:
    options = SendOptions(callback=3)
    by_keyword = Message(to="27821234567", text="hi", options=options, climsgid="C1", ref=[1])
    by_position = Message("27821234567", "hi", options, "C1", [1])
    assert by_keyword == by_position
    assert repr(by_keyword) == repr(by_position)
    for message in (by_keyword, by_position):
        assert (message.to, message.text, message.options, message.climsgid, message.ref) == (
            "27821234567",
            "hi",
            options,
            "C1",
            [1],
        )
    default = Message("27821234567", "hi")
    assert (default.options, default.climsgid, default.ref) == (DEFAULT_OPTIONS, None, None)
    assert default.options is DEFAULT_OPTIONS
    assert Message.create("27821234567", "hi", callback=3, climsgid="C1", ref=[1]) == by_keyword
    assert by_keyword.with_climsgid("C2") == Message("27821234567", "hi", options, "C2")
    assert by_keyword.with_climsgid("C2").ref == [1]


def test_message_to_is_kept_as_given() -> None:
    assert Message(" +27 82 123 4567 ", "hi").to == " +27 82 123 4567 "


def test_message_replace_copy_pickle() -> None:
    message = Message("27821234567", "hi", SendOptions(callback=3), "C1", ref={"row": 4})
    replaced = dataclasses.replace(message, text="bye")
    assert type(replaced) is Message
    assert (replaced.to, replaced.text, replaced.options, replaced.climsgid, replaced.ref) == (
        "27821234567",
        "bye",
        SendOptions(callback=3),
        "C1",
        {"row": 4},
    )
    with pytest.raises(ValidationError) as caught:
        dataclasses.replace(message, climsgid="not valid")
    assert caught.value.field == "climsgid"
    with pytest.raises(ValidationError):
        dataclasses.replace(message, to=" ")
    shallow = copy.copy(message)
    assert shallow == message and shallow.ref is message.ref
    deep = copy.deepcopy(message)
    assert deep == message and deep.ref == message.ref and deep.ref is not message.ref
    back = pickle.loads(pickle.dumps(message))
    assert type(back) is Message
    assert back == message and back.ref == {"row": 4} and repr(back) == repr(message)
    assert dataclasses.asdict(message)["text"] == "hi"


def test_message_equality_and_hash_ignore_ref() -> None:
    one = Message("27821234567", "hi", ref=1)
    other = Message("27821234567", "hi", ref=[2])  # an unhashable ref is fine
    assert one == other and hash(one) == hash(other)
    assert one != Message("27821234567", "hi", climsgid="C1", ref=1)
    assert one != Message("27821234568", "hi", ref=1)
    assert len({one, other, Message("27821234567", "ho")}) == 2


def test_message_is_frozen() -> None:
    message = Message("27821234567", "hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.to = "27820000000"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.ref = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del message.text
    assert _refusal(message) is _refusal(Message("27821234567", "hi")) is not None
    assert message == Message("27821234567", "hi")


# -- the system clock --------------------------------------------------------------------------

_TOLERANCE = 1e-3


@pytest.mark.anyio
async def test_system_clock_reads_the_event_loop_clock() -> None:
    clock = SystemClock()
    read = clock.reader()
    for _ in range(3):
        before = anyio.current_time()
        now = clock.current_time()
        via_reader = read()
        after = anyio.current_time()
        assert before - _TOLERANCE <= now <= after + _TOLERANCE
        assert before - _TOLERANCE <= via_reader <= after + _TOLERANCE
        assert now <= via_reader + _TOLERANCE
        await anyio.sleep(0.01)


@pytest.mark.anyio
async def test_system_clock_sleep_until_reaches_its_deadline() -> None:
    clock = SystemClock()
    deadline = clock.current_time() + 0.02
    await clock.sleep_until(deadline)
    assert clock.current_time() >= deadline - _TOLERANCE
    assert anyio.current_time() >= deadline - _TOLERANCE


@pytest.mark.anyio
async def test_system_clock_reader_in_a_worker_task_agrees_too() -> None:
    clock = SystemClock()
    seen: list[tuple[float, float, float]] = []

    async def worker() -> None:
        read = clock.reader()
        await anyio.sleep(0.005)
        seen.append((anyio.current_time(), read(), anyio.current_time()))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(worker)
    for before, now, after in seen:
        assert before - _TOLERANCE <= now <= after + _TOLERANCE


async def _agreement() -> list[tuple[float, float, float, float]]:
    clock = SystemClock()
    read = clock.reader()
    seen = []
    for _ in range(3):
        before = anyio.current_time()
        seen.append((before, clock.current_time(), read(), anyio.current_time()))
        await anyio.sleep(0.005)
    return seen


def _assert_agree(seen: list[tuple[float, float, float, float]]) -> None:
    for before, now, via_reader, after in seen:
        assert before - _TOLERANCE <= now <= after + _TOLERANCE
        assert before - _TOLERANCE <= via_reader <= after + _TOLERANCE


def test_system_clock_under_plain_asyncio_run() -> None:
    # anyio.run marks the loop as asyncio's for sniffio; a plain asyncio.run does not, and
    # then the clock is read from the loop directly.
    _assert_agree(asyncio.run(_agreement()))


def test_system_clock_under_plain_trio_run() -> None:
    _assert_agree(trio.run(_agreement))
