"""A journal is owned by one run at a time; unusable journal files fail in one clear line."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest
from helpers.bulk_fakes import FakeGateway, FakeSender, numbers, personalised

import asms
from asms._bulk.run import send_bulk
from asms._exceptions import ASMSError, JournalError, JournalLockedError

pytestmark = pytest.mark.anyio

# Holds the journal's lock in another process until it is killed.
HOLDER = """
import sys, anyio
from asms._bulk.journal import Journal

async def main():
    async with Journal(sys.argv[1]):
        print("locked", flush=True)
        await anyio.sleep(60)

anyio.run(main)
"""


def child_env() -> dict[str, str]:
    # The child imports the same asms as the test (the checkout under test).
    root = str(Path(asms.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": root}


async def test_a_second_journal_in_the_same_process_is_refused_naming_the_holder(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    async with asms.Journal(path):
        with pytest.raises(JournalLockedError) as info:
            async with asms.Journal(path):
                pass
    error = info.value
    assert isinstance(error, ASMSError) and isinstance(error, asms.JournalError)
    assert error.pid == os.getpid()
    assert error.host == socket.gethostname()
    assert error.since is not None and error.since.endswith("Z")
    assert f"process {os.getpid()}" in str(error) and str(path) in str(error)
    # Released on close: the next opener gets it.
    async with asms.Journal(path):
        pass


async def test_two_runs_on_one_journal_never_send_twice(tmp_path: Path) -> None:
    path = tmp_path / "dual.db"
    gateway = FakeGateway()
    messages = personalised(40)
    first_sender, second_sender = FakeSender(gateway), FakeSender(gateway)
    first = send_bulk(first_sender, messages, rate=None, journal=path)
    async with first:
        second = send_bulk(second_sender, messages, rate=None, journal=path)
        with pytest.raises(JournalLockedError):
            async with second:
                pass
        results = [r async for r in first]
    assert second_sender.calls == [] and second_sender.queries == []
    assert len(results) == 40 and all(r.ok for r in results)
    assert gateway.delivered() == Counter(dict.fromkeys(numbers(40), 1))


def test_a_lock_held_by_another_process_is_refused_and_taken_over_once_it_dies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"

        async def opens() -> None:
            async with asms.Journal(path) as journal:
                assert await journal.counts() == {}

        with pytest.raises(JournalLockedError) as info:
            anyio.run(opens)
        assert info.value.pid == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        anyio.run(opens)  # the dead holder's lock is free, no clean-up needed
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


async def test_durability_reaches_the_connection(tmp_path: Path) -> None:
    # PRAGMA synchronous: 1 = NORMAL, 2 = FULL (every commit forced to disk).
    for durability, expected in (("process", 1), ("power", 2)):
        async with asms.Journal(tmp_path / f"{durability}.db", durability=durability) as j:
            db = j._db
            assert db is not None
            assert db.execute("PRAGMA synchronous").fetchone()[0] == expected


async def test_unusable_files_raise_one_journal_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(JournalError) as info:
        async with asms.Journal(garbage):
            pass
    assert str(garbage) in str(info.value) and "not a database" in str(info.value)
    # Refused, it holds no lock.
    garbage.write_bytes(b"")
    async with asms.Journal(garbage):
        pass

    missing = tmp_path / "no" / "such" / "dir" / "j.db"
    with pytest.raises(JournalError) as info:
        async with asms.Journal(missing):
            pass
    assert "No such file or directory" in str(info.value)
    assert not missing.parent.exists()


async def test_a_journal_without_a_campaign_id_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE asms_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO asms_meta VALUES ('schema', '1')")
    db.commit()
    db.close()
    async with asms.Journal(path) as journal:
        campaign = await journal.campaign()
    assert len(campaign.id) == 32 and campaign.finished is None and campaign.name is None
