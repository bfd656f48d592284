"""One run at a time per journal: an exclusive lock on the sidecar file ``<journal>.lock``.

Two runs on one journal would both find the same messages unsent and send them twice, so
whoever opens a journal first owns it until it closes it; any other opener (another process,
or another ``Journal`` object in the same process: the lock belongs to an open file, not to a
process) is refused with :class:`JournalLockedError` naming the holder.

The lock is an operating-system lock (``flock``; ``msvcrt.locking`` on Windows), which the
system releases when its holder's process ends, however it ends (SIGKILL included). A dead
holder's lock is therefore simply free: taking it over needs no guess about whether the
holder still lives and leaves no window in which two openers could both win. The file's
content only describes the holder (pid, host, since when) for the error message; the file is
never deleted, since deleting a lock file others may be waiting on reopens that window.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import UTC, datetime
from typing import Final

from .._exceptions import JournalError, JournalLockedError

__all__ = ["OwnerLock"]

_DETAILS_LIMIT: Final = 4096  # bytes of holder details read back; the lock byte lies beyond


class OwnerLock:
    """The exclusive lock of the journal at ``journal_path`` (held between acquire/release)."""

    __slots__ = ("_fd", "journal_path", "path")

    def __init__(self, journal_path: str) -> None:
        self.journal_path = journal_path
        self.path = journal_path + ".lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`JournalLockedError` (:class:`JournalError` when the
        lock file cannot be created: a missing directory, no permission)."""
        if self._fd is not None:
            return
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            # O_CLOEXEC: a child process must not inherit (and so prolong) the lock.
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise JournalError(
                self.journal_path, f"cannot open the journal {self.journal_path}: {reason}"
            ) from None
        try:
            if not _try_lock(fd):
                pid, host, since = _read_holder(fd)
                raise JournalLockedError(self.journal_path, pid=pid, host=host, since=since)
            since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            details = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since})
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, details.encode())
        except BaseException:
            os.close(fd)  # releases the lock if it was taken
            raise
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (a no-op when not held)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _read_holder(fd: int) -> tuple[int | None, str | None, str | None]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, _DETAILS_LIMIT)
        details = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError):
        # The holder has just taken the lock and not written its details yet.
        return None, None, None
    if not isinstance(details, dict):
        return None, None, None
    pid = details.get("pid")
    host = details.get("host")
    since = details.get("since")
    return (
        pid if isinstance(pid, int) else None,
        host if isinstance(host, str) else None,
        since if isinstance(since, str) else None,
    )


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        # A locked region cannot be read by others on Windows: lock a byte past the details.
        os.lseek(fd, _DETAILS_LIMIT, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
