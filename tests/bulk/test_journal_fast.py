"""The journal's fast paths answer what their plain twins do (the rule of ``asms._fast``).

Fingerprints: journals written by every earlier version hold the plain twins' bytes, so the
fast functions must give the same bytes for every message, whatever came before it (the fast
path keeps the reprs of the last text, options and climsgid). Writes: rows written as one
statement (``journal_rows``, ``result_rows``) leave the table exactly as rows written a row
at a time with ``INSERT OR REPLACE`` do, over new rows and over rows that exist.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asms._bulk import journal as journal_module
from asms._bulk.grouping import Item
from asms._bulk.journal import (
    Journal,
    RowTuple,
    _batch,
    _commit,
    differing_fields,
    differing_stored,
    fingerprint,
    journal_rows,
    plain_field_digests,
    plain_fingerprint,
    plain_stored_fingerprint,
    result_rows,
    same_message,
    same_stored,
    stored_fingerprint,
)
from asms._bulk.report import BulkResult, DeliveryState
from asms._clock import VirtualClock
from asms._models import DEFAULT_OPTIONS, Message, SendOptions

WALL = 1_800_000_000.123456


class Shouting(str):
    """A text whose repr is its own: equal to a plain string, never keyed like one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Shouting(" + str.__repr__(self).upper() + ")"


OPTIONS = [
    DEFAULT_OPTIONS,
    SendOptions(),
    SendOptions(callback=3),
    SendOptions(from_="Acme", unicode=True, validity=60),
    SendOptions(max_credits=1),
    SendOptions(max_credits=1.0),  # equal to the one before, another repr
    SendOptions(max_credits=-0.0),
]

any_text = st.text(st.characters(blacklist_categories=()), min_size=1, max_size=40)
texts = st.one_of(
    st.sampled_from(["Hello", "Hëllo wörld 😀", "a\ud800b", "line\nbreak 'quoted' \"x\""]),
    any_text,
    any_text.map(Shouting),
)
numbers = st.one_of(
    st.from_regex(r"\+?[0-9]{8,15}", fullmatch=True),
    any_text.filter(str.strip),
)
climsgids = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9]{1,32}", fullmatch=True))
messages = st.builds(
    Message,
    numbers,
    texts,
    st.sampled_from(OPTIONS),
    climsgids,
)


def copied(message: Message) -> Message:
    """The same message made of equal, not identical, strings."""
    text = message.text
    fresh = type(text)("".join(text)) if type(text) is not str else "".join(list(text))
    climsgid = None if message.climsgid is None else "".join(list(message.climsgid))
    return Message(message.to, fresh, message.options, climsgid)


def assert_twins(message: Message) -> None:
    assert stored_fingerprint(message) == plain_stored_fingerprint(message)
    assert fingerprint(message) == plain_fingerprint(message)
    assert stored_fingerprint(message)[8:] == plain_field_digests(message)


@settings(max_examples=400, deadline=None)
@given(st.lists(messages, min_size=1, max_size=12), st.data())
def test_fingerprints_are_their_plain_twins_whatever_came_before(
    campaign: list[Message], data: st.DataObject
) -> None:
    # Repeats (the same objects and equal copies) are what the fast path keeps between calls.
    order = data.draw(st.lists(st.sampled_from(campaign), max_size=20))
    for message in [*campaign, *order, *map(copied, order)]:
        assert_twins(message)
    assert [stored_fingerprint(m) for m in campaign] == [
        plain_stored_fingerprint(m) for m in campaign
    ]


@settings(max_examples=200, deadline=None)
@given(messages, messages)
def test_same_message_and_differing_fields_are_their_plain_twins(
    recorded: Message, given_now: Message
) -> None:
    stored = plain_stored_fingerprint(recorded)
    assert same_message(stored, given_now) == (stored[:8] == plain_fingerprint(given_now))
    assert same_message(stored[:8], given_now) == same_message(stored, given_now)
    mine, theirs = plain_field_digests(given_now), stored[8:]
    expected = tuple(
        name
        for i, name in enumerate(("number", "text", "options", "climsgid"))
        if mine[2 * i : 2 * i + 2] != theirs[2 * i : 2 * i + 2]
    )
    assert differing_fields(stored, given_now) == expected
    assert differing_fields(stored[:8], given_now) == ()
    # The forms for a fingerprint made already answer the same.
    mine_stored = plain_stored_fingerprint(given_now)
    assert same_stored(stored, mine_stored) == same_message(stored, given_now)
    assert same_stored(stored[:8], mine_stored) == same_message(stored, given_now)
    assert differing_stored(stored, mine_stored) == expected
    assert differing_stored(stored[:8], mine_stored) == ()


def test_equal_options_of_another_repr_are_keyed_by_their_own() -> None:
    one, other = SendOptions(max_credits=1), SendOptions(max_credits=1.0)
    assert one == other and repr(one) != repr(other)
    a, b = Message("27820000001", "Hi", one), Message("27820000001", "Hi", other)
    assert stored_fingerprint(a) != stored_fingerprint(b)
    assert differing_fields(stored_fingerprint(a), b) == ("options",)
    for message in (a, b, a, b):
        assert_twins(message)


def test_an_equal_text_of_another_repr_is_keyed_by_its_own() -> None:
    plain, shouting = Message("27820000001", "hi"), Message("27820000001", Shouting("hi"))
    for message in (plain, shouting, plain, shouting):
        assert_twins(message)
    assert differing_fields(stored_fingerprint(plain), shouting) == ("text",)


def test_a_campaign_of_one_text_matches_the_twins_across_many_numbers() -> None:
    text = "Spring offer: 20 % off, reply STOP to opt out"
    campaign = [Message(f"2782{i:07d}", text, climsgid=None) for i in range(2000)]
    fresh_texts = [Message(m.to, "".join(list(text))) for m in campaign[:200]]
    for message in [*campaign, *fresh_texts]:
        assert_twins(message)
    # A journal written by an earlier version holds the plain bytes: a resumed run agrees.
    assert all(same_message(plain_stored_fingerprint(m), m) for m in campaign)
    assert journal_module.FIELDS == ("number", "text", "options", "climsgid")


# -- writes -----------------------------------------------------------------------------


def table(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Every row with each value's SQLite type: what a later reader finds."""
    columns = (
        "idx, fingerprint, state, request_climsgid, apimsgid, error_code, error_description, "
        "parts, updated"
    ).split(", ")
    typed = ", ".join(f"typeof({c}), {c}" for c in columns)
    return db.execute(f"SELECT {typed} FROM messages ORDER BY idx").fetchall()


def written(tmp_path: Path, name: str, writes: Sequence[Sequence[RowTuple]]) -> Any:
    """The table after each of ``writes`` was committed on its own."""
    journal = Journal(tmp_path / f"{name}.db")
    db = journal._open_blocking()
    try:
        for rows in writes:
            _commit(db, _batch(rows))
        return table(db)
    finally:
        db.close()
        journal._owner.release()


def items(indexes: Sequence[int], legacy: bool = False) -> list[Item]:
    made = []
    for index in indexes:
        message = Message(f"2782{index:07d}", "Hi")
        made.append(Item(index, message, plain_stored_fingerprint(message)[: 8 if legacy else 16]))
    return made


def result(it: Item, state: DeliveryState, **fields: Any) -> BulkResult:
    code, description = fields.get("code"), fields.get("description")
    apimsgid, parts = fields.get("apimsgid"), fields.get("parts", 1)
    return BulkResult(
        it.message.to, apimsgid, "req", code, description, parts, None, False,
        state=state, index=it.index,
    )  # fmt: skip


STRANGE = ["", "ünïcödé 😀", 'quote " and \\ backslash \\u0000', "new\nline\ttab\x00nul", "💬" * 40]


def outcomes(group: list[Item]) -> list[list[BulkResult]]:
    accepted = [
        result(it, DeliveryState.ACCEPTED, apimsgid=STRANGE[i % 5] or None, parts=1 + i % 3)
        for i, it in enumerate(group)
    ]
    mixed = [
        result(it, state, apimsgid=None, code=code, description=STRANGE[i % 5], parts=2)
        for i, (it, state, code) in enumerate(
            zip(
                group,
                [
                    DeliveryState.REJECTED,
                    DeliveryState.UNKNOWN,
                    DeliveryState.NOT_SENT,
                    DeliveryState.ACCEPTED,
                ]
                * len(group),
                [114, 999, 1001, None] * len(group),
                strict=False,
            )
        )
    ]
    reversed_order = list(reversed(accepted))
    one_size = [result(it, DeliveryState.ACCEPTED, apimsgid=f"id{it.index}") for it in group]
    return [accepted, mixed, reversed_order, accepted[:1], one_size]


@pytest.mark.parametrize("legacy", [False, True], ids=["stored", "bare-fingerprints"])
def test_rows_written_in_one_statement_are_the_rows_written_one_by_one(
    tmp_path: Path, legacy: bool
) -> None:
    clock = VirtualClock(wall_start=WALL)
    group = items([3, 4, 5, 9, 10, 2_000_000_000], legacy)
    again = items([4, 9, 11, 12], legacy)
    writes: list[list[RowTuple]] = [journal_rows(group, "inflight", "req", clock)]
    for answer in outcomes(group):
        writes.append(result_rows(answer, group, "req", clock))
        writes.append(journal_rows(group, "inflight", "req2", clock))  # a retry: rows exist
    writes.append(journal_rows(again, "pending", None, clock))
    writes.append(result_rows(outcomes(again)[0], again, "req3", clock))
    # Each kind of write is one statement (a single row is written with parameters).
    kinds = [type(rows).__name__ for rows in writes]
    assert kinds == [
        *["_NewRows", "_Accepted", "_NewRows", "_Rows", "_NewRows", "_Rows", "_NewRows"],
        *["list", "_NewRows", "_Accepted", "_NewRows", "_NewRows", "_Accepted"],
    ]
    fast = written(tmp_path, "fast", writes)
    plain = written(tmp_path, "plain", [list(rows) for rows in writes])
    assert fast == plain
    assert len(fast) == 8
    assert {row[-1] for row in fast} == {WALL}  # a float written as itself


def test_each_write_leaves_the_table_as_the_plain_one(tmp_path: Path) -> None:
    clock = VirtualClock(wall_start=WALL)
    group = items(range(20))
    writes: list[list[RowTuple]] = [journal_rows(group, "inflight", "req", clock)]
    for answer in outcomes(group):
        writes.append(result_rows(answer, group, "req", clock))
    # Consecutive positions: their forms with the first position and a count.
    first, last = journal_module._statement(writes[0]), journal_module._statement(writes[-1])
    assert first is not None and first[0] == journal_module._NEW_RUN_SQL
    assert last is not None and last[0] == journal_module._ACCEPTED_RUN_SQL
    for n in range(1, len(writes) + 1):
        assert written(tmp_path, f"f{n}", writes[:n]) == written(
            tmp_path, f"p{n}", [list(rows) for rows in writes[:n]]
        )


def test_rows_added_to_a_write_after_it_was_made_are_written_too(tmp_path: Path) -> None:
    clock = VirtualClock(wall_start=WALL)
    rows = journal_rows(items([0, 1, 2, 3]), "inflight", "req", clock)
    extra = journal_rows(items([7]), "pending", None, clock)[0]
    rows.append(extra)
    assert [row[1] for row in written(tmp_path, "j", [rows])] == [0, 1, 2, 3, 7]


def test_a_write_that_cannot_be_encoded_fails_whole_as_the_plain_one_does(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(wall_start=WALL)
    group = items([0, 1, 2, 3])
    bad = [result(it, DeliveryState.REJECTED, code=114, description="a\ud800b") for it in group]
    journal = Journal(tmp_path / "j.db")
    db = journal._open_blocking()
    try:
        _commit(db, _batch(journal_rows(group, "inflight", "req", clock)))
        before = table(db)
        for rows in (
            result_rows(bad, group, "req", clock),
            list(result_rows(bad, group, "req", clock)),
        ):
            with pytest.raises(UnicodeEncodeError):
                _commit(db, _batch(rows))
            assert table(db) == before
    finally:
        db.close()
        journal._owner.release()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.text(st.characters(codec="utf-8"))),
        min_size=4,
        max_size=4,
    ),
    st.integers(1, 9),
)
def test_any_text_is_written_as_the_plain_rows_write_it(
    tmp_path_factory: pytest.TempPathFactory, strings: list[str | None], parts: int
) -> None:
    clock = VirtualClock(wall_start=WALL)
    group = items([0, 1, 2, 3])
    accepted = [
        result(it, DeliveryState.ACCEPTED, apimsgid=s, parts=parts)
        for it, s in zip(group, strings, strict=False)
    ]
    rejected = [
        result(it, DeliveryState.REJECTED, code=114, description=s, apimsgid=a)
        for it, s, a in zip(group, reversed(strings), strings, strict=True)
    ]
    writes = [
        journal_rows(group, "inflight", "req", clock),
        result_rows(accepted, group, "req", clock),
        result_rows(rejected, group, "req", clock),
    ]
    where = tmp_path_factory.mktemp("w")
    assert written(where, "fast", writes) == written(where, "plain", [list(r) for r in writes])


def test_recorded_end_is_one_past_the_last_row(tmp_path: Path) -> None:
    async def ends() -> list[int]:
        clock = VirtualClock(wall_start=WALL)
        found = []
        async with Journal(tmp_path / "j.db") as journal:
            found.append(await journal.recorded_end())
            await journal.write(journal_rows(items([0, 1, 2, 3]), "inflight", "a", clock))
            found.append(await journal.recorded_end())
            await journal.write(journal_rows(items([9]), "pending", None, clock))
            found.append(await journal.recorded_end())
        return found

    assert anyio.run(ends) == [0, 4, 10]
