"""A run used the wrong way says so: bad keyword values and inputs are refused before
anything is read or sent (a ValidationError naming the field), a non-Message item is named
by its position, and iterating a run after its ``async with`` block has ended is an error
instead of an empty iteration (all found by a stranger's trial)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers.bulk_fakes import FakeSender, personalised

import asms
from asms._bulk.run import send_bulk

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate", 0),
        ("rate", -1.0),
        ("rate", math.nan),
        ("rate", "100"),
        ("rate", True),
        ("burst", 0),
        ("burst", None),
        ("burst", 2.5),
        ("concurrency", 0),
        ("concurrency", "4"),
        ("group_size", 0),
        ("group_size", False),
        ("journal", 123),
        ("progress", "print"),
        ("drain_timeout", -1),
        ("linger", math.inf),
        ("reconcile_grace", "5"),
    ],
)
async def test_a_bad_keyword_value_is_refused_naming_it(field: str, value: Any) -> None:
    sender = FakeSender()
    with pytest.raises(asms.ValidationError, match=f"^{field}: ") as caught:
        send_bulk(sender, personalised(3), **{field: value})
    assert isinstance(caught.value, ValueError)  # as the ValueErrors it replaced were
    assert sender.calls == []


@pytest.mark.parametrize("rate", [math.inf, Fraction(5000), 5000])
async def test_good_values_at_the_edges_are_taken(rate: Any) -> None:
    # Any real number (a Fraction stands for NumPy's scalars, which are not floats either).
    sender = FakeSender()
    async with send_bulk(
        sender, personalised(3), rate=rate, burst=1, drain_timeout=0, linger=Fraction(0)
    ) as run:
        assert [r.state for r in [r async for r in run]] == [asms.DeliveryState.ACCEPTED] * 3


@pytest.mark.parametrize("messages", [None, 5, "27820000001", b"x"])
async def test_an_input_that_is_not_messages_is_refused(messages: Any) -> None:
    with pytest.raises(asms.ValidationError, match=r"^messages: must be an iterable"):
        send_bulk(FakeSender(), messages)


async def test_a_non_message_item_is_named_by_its_position(tmp_path: Path) -> None:
    def mixed() -> Iterator[object]:
        yield from personalised(5)
        yield {"to": "27820000099", "text": "hi"}

    sender = FakeSender()
    seen = 0
    with pytest.raises(TypeError, match=r"not dict \(input item 5, counted from 0\)"):
        async with send_bulk(sender, mixed(), journal=tmp_path / "j.db") as run:  # type: ignore[arg-type]
            async for _ in run:
                seen += 1
    assert seen == 5 and sender.recipients == 5


async def test_an_async_input_names_the_position_too() -> None:
    async def mixed() -> Any:
        for message in personalised(3):
            yield message
        yield "27820000099"

    with pytest.raises(TypeError, match=r"not str \(input item 3, counted from 0\)"):
        async with send_bulk(FakeSender(), mixed()) as run:
            async for _ in run:
                pass


async def test_iterating_after_the_block_is_an_error_not_an_empty_run() -> None:
    sender = FakeSender()
    async with send_bulk(sender, personalised(300)) as run:
        pass
    with pytest.raises(RuntimeError, match="ended with its `async with` block"):
        await run.__anext__()
    read = 0
    async with send_bulk(FakeSender(), personalised(300)) as run:
        async for _ in run:
            read += 1
            if read == 10:
                break
    with pytest.raises(RuntimeError, match=r"counted in run\.report\(\)"):
        async for _ in run:
            pass
    assert run.report().total >= 10
