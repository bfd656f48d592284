"""The SQLite journal behind resumable bulk runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from asms._bulk.grouping import Item
from asms._bulk.journal import (
    Journal,
    JournalMismatchError,
    fingerprint,
    journal_rows,
    result_rows,
    stored_result,
)
from asms._bulk.report import DeliveryState, make_result
from asms._clock import VirtualClock
from asms._models import Message, SendOptions
from asms._retry import NOT_SENT, OUTCOME_UNKNOWN

pytestmark = pytest.mark.anyio


def items(count: int, text: str = "hi") -> list[Item]:
    out = []
    for i in range(count):
        message = Message(f"2782{i:07d}", text)
        out.append(Item(i, message, fingerprint(message)))
    return out


def test_fingerprint_is_stable_and_discriminating() -> None:
    a = Message("27820000001", "hello", SendOptions(callback=3))
    assert fingerprint(a) == fingerprint(Message("27820000001", "hello", SendOptions(callback=3)))
    assert len(fingerprint(a)) == 8
    assert fingerprint(a) == fingerprint(Message("27820000001", "hello", a.options, ref="x"))
    different = [
        Message("27820000002", "hello", a.options),
        Message("27820000001", "hello!", a.options),
        Message("27820000001", "hello", SendOptions(callback=2)),
        Message("27820000001", "hello", a.options, climsgid="abc"),
    ]
    assert len({fingerprint(m) for m in different} | {fingerprint(a)}) == 5
    # Python's hash() is salted per process; the digest must not be.
    assert fingerprint(Message("1234567", "x")).hex() == fingerprint(Message("1234567", "x")).hex()


async def test_opens_in_wal_mode_with_the_chosen_sync(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        assert journal.path == str(path)
        assert "durability='process'" in repr(journal)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT value FROM asms_meta WHERE key='schema'").fetchone()[0] == "1"
    db.close()
    async with Journal(path, durability="power"):
        pass
    with pytest.raises(ValueError):
        Journal(path, durability="disk")  # type: ignore[arg-type]


async def test_unsupported_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE asms_meta SET value='99' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(JournalMismatchError):
        async with Journal(path):
            pass


async def test_closed_journal_refuses_work(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    with pytest.raises(RuntimeError):
        await journal.rows(0, 10)
    with pytest.raises(RuntimeError):
        await journal.write([])


async def test_write_then_read_rows(tmp_path: Path) -> None:
    clock = VirtualClock(wall_start=1_000.0)
    group = items(5)
    async with Journal(tmp_path / "j.db") as journal:
        await journal.write(journal_rows(group, "inflight", "req1", clock))
        rows = await journal.rows(0, 3)
        assert sorted(rows) == [0, 1, 2]
        assert rows[1].state == "inflight"
        assert rows[1].request_climsgid == "req1"
        assert rows[1].fingerprint == group[1].fingerprint
        assert rows[1].updated == 1_000.0
        results = [
            make_result(group[0], "req1", "api0", None, None, 2),
            make_result(group[1], "req1", None, 105, "Invalid destination address"),
            make_result(group[2], "req1", None, OUTCOME_UNKNOWN, "outcome unknown"),
            make_result(group[3], None, None, NOT_SENT, "not sent"),
        ]
        await journal.write(result_rows(results, group, "req1", clock))
        rows = await journal.rows(0, 10)
        assert [rows[i].state for i in range(5)] == [
            "accepted",
            "rejected",
            "unknown",
            "pending",
            "inflight",
        ]
        assert rows[0].apimsgid == "api0" and rows[0].parts == 2
        assert rows[1].error_code == 105
        assert rows[3].request_climsgid is None
        assert await journal.counts() == {
            "accepted": 1,
            "rejected": 1,
            "unknown": 1,
            "pending": 1,
            "inflight": 1,
        }


async def test_unresolved_and_resolve(tmp_path: Path) -> None:
    clock = VirtualClock(wall_start=1_000.0)
    group = items(6)
    async with Journal(tmp_path / "j.db") as journal:
        await journal.write(journal_rows(group[:3], "inflight", "reqA", clock))
        await journal.write(journal_rows(group[3:4], "unknown", "reqB", clock))
        await journal.write(journal_rows(group[4:], "accepted", "reqC", clock))
        unresolved = await journal.unresolved()
        assert [(u.climsgid, u.messages, u.first_index) for u in unresolved] == [
            ("reqA", 3, 0),
            ("reqB", 1, 3),
        ]
        await journal.resolve("reqA", accepted=True, apimsgid="api-first")
        await journal.resolve("reqB", accepted=False)
        rows = await journal.rows(0, 6)
        # Found: the look-up names a message, not its recipient; all three stay unknown.
        assert [rows[i].state for i in range(6)] == ["unknown"] * 3 + ["pending"] + ["accepted"] * 2
        assert rows[0].apimsgid is None and rows[1].apimsgid is None
        assert rows[3].request_climsgid is None
        assert [(u.climsgid, u.messages, u.first_index) for u in await journal.unresolved()] == [
            ("reqA", 3, 0)
        ]


async def test_concurrent_writes_are_grouped_and_all_committed(tmp_path: Path) -> None:
    clock = VirtualClock()
    group = items(400)
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        async with anyio.create_task_group() as tg:
            for i in range(0, 400, 4):
                tg.start_soon(journal.write, journal_rows(group[i : i + 4], "inflight", "r", clock))
        assert len(await journal.rows(0, 1000)) == 400
    # Committed: a separate connection sees every row.
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 400
    db.close()


async def test_survives_reopening(tmp_path: Path) -> None:
    clock = VirtualClock()
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.write(journal_rows(items(3), "inflight", "r", clock))
    async with Journal(path) as journal:
        assert len(await journal.rows(0, 10)) == 3


async def test_stored_results_on_resume(tmp_path: Path) -> None:
    clock = VirtualClock()
    group = items(7)
    async with Journal(tmp_path / "j.db") as journal:
        results = [
            make_result(group[0], "q", "api0", None, None, 3),
            make_result(group[1], "q", None, 105, "Invalid destination address"),
            make_result(group[2], "q", None, 301, "No credit left"),
            make_result(group[3], "q", None, 901, "Internal error"),
            make_result(group[4], "q", None, 1, "Authentication failed"),
        ]
        await journal.write(result_rows(results, group, "q", clock))
        await journal.write(journal_rows(group[5:6], "inflight", "q2", clock))
        await journal.write(journal_rows(group[6:7], "pending", None, clock))
        rows = await journal.rows(0, 10)

    accepted = stored_result(rows[0], group[0].message)
    assert accepted is not None
    assert accepted.state is DeliveryState.ACCEPTED and accepted.resumed
    assert (accepted.apimsgid, accepted.climsgid, accepted.parts) == ("api0", "q", 3)
    assert accepted.index == 0

    rejected = stored_result(rows[1], group[1].message)
    assert rejected is not None
    assert rejected.state is DeliveryState.REJECTED and rejected.error_code == 105

    # Account-level or transient refusals are tried again by a resumed run.
    for i in (2, 3, 4):
        assert stored_result(rows[i], group[i].message) is None

    unknown = stored_result(rows[5], group[5].message)
    assert unknown is not None and unknown.state is DeliveryState.UNKNOWN
    assert unknown.error_code == OUTCOME_UNKNOWN and not unknown.ok

    assert stored_result(rows[6], group[6].message) is None
