"""The journal's owner lock (``asms._bulk.lock``) where mutation testing found it unguarded:
the sidecar's name and mode, what it says about its holder, the errors when it cannot be
opened, and platforms without ``O_CLOEXEC``.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import asms._bulk.lock as lock_module
from asms._bulk.lock import OwnerLock
from asms._exceptions import JournalError, JournalLockedError


def holder_of(journal: Path) -> JournalLockedError:
    """The refusal a second opener of ``journal`` gets."""
    with pytest.raises(JournalLockedError) as info:
        OwnerLock(str(journal)).acquire()
    return info.value


def test_the_lock_is_the_journals_sidecar_describing_its_holder(tmp_path: Path) -> None:
    journal = tmp_path / "j.db"
    owner = OwnerLock(str(journal))
    owner.acquire()
    try:
        assert owner.held and owner.path == f"{journal}.lock"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["j.db.lock"]
        details = json.loads((tmp_path / "j.db.lock").read_text())
        assert details["pid"] == os.getpid() and details["host"] == socket.gethostname()
        error = holder_of(journal)
        assert (error.pid, error.host) == (os.getpid(), socket.gethostname())
    finally:
        owner.release()
    again = OwnerLock(str(journal))
    again.acquire()  # released: free for the next opener
    again.release()


def test_the_sidecar_is_created_rw_r__r__(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        owner = OwnerLock(str(tmp_path / "j.db"))
        owner.acquire()
    finally:
        os.umask(umask)
    owner.release()
    assert (tmp_path / "j.db.lock").stat().st_mode & 0o777 == 0o644


class _UTCPlus9(datetime):
    """A machine whose local time is UTC+9, at 2026-12-05 15:04:05 UTC."""

    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        utc = datetime(2026, 12, 5, 15, 4, 5, tzinfo=UTC)
        if tz is None:
            return utc.astimezone(timezone(timedelta(hours=9))).replace(tzinfo=None)
        assert tz is UTC
        return utc


def test_the_holder_says_since_when_in_utc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock_module, "datetime", _UTCPlus9)
    owner = OwnerLock(str(tmp_path / "j.db"))
    owner.acquire()
    try:
        assert holder_of(tmp_path / "j.db").since == "2026-12-05T15:04:05Z"
    finally:
        owner.release()


def test_holder_details_of_the_wrong_types_are_not_reported(tmp_path: Path) -> None:
    journal = tmp_path / "j.db"
    owner = OwnerLock(str(journal))
    owner.acquire()
    try:
        # A holder that wrote something else (another version, a hand edit).
        (tmp_path / "j.db.lock").write_text(json.dumps({"pid": "12", "host": 3, "since": 4}))
        error = holder_of(journal)
        assert (error.pid, error.host, error.since) == (None, None, None)
        assert "another process (it has not said which yet)" in str(error)
    finally:
        owner.release()


def test_a_sidecar_that_cannot_be_created_is_a_journal_error(tmp_path: Path) -> None:
    journal = str(tmp_path / "missing" / "j.db")
    with pytest.raises(JournalError) as info:
        OwnerLock(journal).acquire()
    assert type(info.value) is JournalError and info.value.path == journal
    assert str(info.value) == f"cannot open the journal {journal}: No such file or directory"


def test_an_os_error_without_text_is_named_by_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> int:
        raise PermissionError  # no errno, no strerror

    monkeypatch.setattr(os, "open", refuse)
    journal = str(tmp_path / "j.db")
    with pytest.raises(JournalError) as info:
        OwnerLock(journal).acquire()
    assert str(info.value) == f"cannot open the journal {journal}: PermissionError"


def test_the_lock_works_where_the_os_has_no_o_cloexec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "O_CLOEXEC", raising=False)
    journal = tmp_path / "j.db"
    owner = OwnerLock(str(journal))
    owner.acquire()
    try:
        assert json.loads((tmp_path / "j.db.lock").read_text())["pid"] == os.getpid()
        assert holder_of(journal).pid == os.getpid()
    finally:
        owner.release()
