"""The bulk-send journal: one SQLite row per input message, so a rerun resumes.

A message's row is written (and committed) *before* its request leaves — state ``inflight``
with the request's ``climsgid`` — and again after the outcome is known. A rerun of the same
input with the same journal therefore knows, for every message, whether it was accepted or
rejected (skip it), never attempted (send it), or possibly sent (ask the gateway about the
request's ``climsgid`` before anything is resent; see PROTOCOL.md "Idempotency").

Messages are keyed by their position in the input; a fingerprint of the message (number,
text, options, climsgid) is stored with it, and a rerun whose input differs at a position
the journal knows is refused with :class:`JournalMismatchError`.

Durability: WAL mode with ``synchronous=NORMAL`` (the default ``durability="process"``)
survives the sending process being killed at any point (SIGKILL included), since a commit
is in the operating system's cache when it returns; it does not survive a power loss or a
kernel crash. ``durability="power"`` (``synchronous=FULL``) fsyncs every commit and does.

SQLite is blocking, so every statement runs in a worker thread. Writes from concurrent
requests are committed in groups: whoever gets the lock commits everything queued so far.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

import anyio
import anyio.to_thread

from ._batching import Item
from ._codes import ErrorCategory, ErrorCode
from ._exceptions import ASMSError
from ._models import Message, StatusInfo
from ._ratelimit import Clock
from ._report import BulkResult, DeliveryState, make_result
from ._retry import OUTCOME_UNKNOWN

__all__ = [
    "Journal",
    "JournalMismatchError",
    "JournalRow",
    "JournalState",
    "fingerprint",
    "journal_rows",
    "reconcile",
    "result_rows",
    "stored_result",
]

T = TypeVar("T")

JournalState = Literal["pending", "inflight", "accepted", "rejected", "unknown"]
UNRESOLVED: Final = ("inflight", "unknown")
SCHEMA_VERSION: Final = "1"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS asms_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    idx INTEGER PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    state TEXT NOT NULL,
    request_climsgid TEXT,
    apimsgid TEXT,
    error_code INTEGER,
    error_description TEXT,
    parts INTEGER NOT NULL DEFAULT 1,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_unresolved ON messages (request_climsgid)
    WHERE state IN ('inflight', 'unknown');
"""
_COLUMNS: Final = (
    "idx, fingerprint, state, request_climsgid, apimsgid, error_code, error_description, "
    "parts, updated"
)

# One row as written: the columns above, in order.
RowTuple = tuple[int, bytes, str, str | None, str | None, int | None, str | None, int, float]


class JournalMismatchError(ASMSError, ValueError):
    """The input given to a resumed run differs from the one the journal recorded."""


def fingerprint(message: Message) -> bytes:
    """A stable 8-byte digest of what makes a message itself (not its ``ref``)."""
    # dataclass reprs are deterministic across processes, unlike hash().
    key = repr((message.to, message.text, message.options, message.climsgid))
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()


@dataclass(frozen=True, slots=True)
class JournalRow:
    """What the journal knows about the message at ``index``."""

    index: int
    fingerprint: bytes
    state: JournalState
    request_climsgid: str | None
    apimsgid: str | None
    error_code: int | None
    error_description: str | None
    parts: int
    updated: float


@dataclass(frozen=True, slots=True)
class UnresolvedRequest:
    """A request whose outcome the journal does not know."""

    climsgid: str
    messages: int
    first_index: int
    updated: float  # unix time of its latest write


class _Batch:
    __slots__ = ("committed", "rows")

    def __init__(self) -> None:
        self.rows: list[RowTuple] = []
        self.committed = False


class Journal:
    """A SQLite journal file. Use ``async with Journal(path) as journal:``."""

    def __init__(
        self, path: str | os.PathLike[str], *, durability: Literal["process", "power"] = "process"
    ) -> None:
        if durability not in ("process", "power"):
            raise ValueError("durability must be 'process' or 'power'")
        self._path = os.fspath(path)
        self._durability = durability
        self._db: sqlite3.Connection | None = None
        self._lock = anyio.Lock()
        self._batch = _Batch()

    @property
    def path(self) -> str:
        return self._path

    async def __aenter__(self) -> Journal:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        if self._db is None:
            self._db = await anyio.to_thread.run_sync(self._connect)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OSError(f"cannot put the journal {self._path!r} in WAL mode")
            sync = "FULL" if self._durability == "power" else "NORMAL"
            db.execute(f"PRAGMA synchronous = {sync}")
            db.executescript(_SCHEMA)
            found = db.execute("SELECT value FROM asms_meta WHERE key = 'schema'").fetchone()
            if found is None:
                db.execute("INSERT INTO asms_meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif found[0] != SCHEMA_VERSION:
                raise JournalMismatchError(f"journal schema {found[0]!r} is not supported")
        except BaseException:
            db.close()
            raise
        return db

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            async with self._lock:
                await anyio.to_thread.run_sync(db.close)

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        if db is None:
            raise RuntimeError("the journal is not open")
        async with self._lock:
            return await anyio.to_thread.run_sync(func, db)

    # -- reading ---------------------------------------------------------------------------

    async def rows(self, start: int, stop: int) -> dict[int, JournalRow]:
        """The rows for input positions ``start <= index < stop``."""

        def query(db: sqlite3.Connection) -> dict[int, JournalRow]:
            cursor = db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE idx >= ? AND idx < ?", (start, stop)
            )
            return {row[0]: JournalRow(*row) for row in cursor}

        return await self._run(query)

    async def unresolved(self) -> list[UnresolvedRequest]:
        """Requests that may have reached the gateway without their outcome being written."""

        def query(db: sqlite3.Connection) -> list[UnresolvedRequest]:
            cursor = db.execute(
                "SELECT request_climsgid, COUNT(*), MIN(idx), MAX(updated) FROM messages "
                "WHERE state IN ('inflight', 'unknown') GROUP BY request_climsgid "
                "ORDER BY MIN(idx)"
            )
            return [UnresolvedRequest(*row) for row in cursor]

        return await self._run(query)

    async def counts(self) -> dict[str, int]:
        """Messages per state."""

        def query(db: sqlite3.Connection) -> dict[str, int]:
            cursor = db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state")
            return dict(cursor)

        return await self._run(query)

    # -- writing ---------------------------------------------------------------------------

    async def resolve(self, climsgid: str, *, accepted: bool, apimsgid: str | None = None) -> None:
        """Settle an unresolved request: the gateway knows it (accepted) or does not (pending)."""
        now = time.time()

        def update(db: sqlite3.Connection) -> None:
            if accepted:
                db.execute(
                    "UPDATE messages SET state = 'accepted', apimsgid = ?, error_code = NULL, "
                    "error_description = NULL, updated = ? "
                    "WHERE request_climsgid = ? AND state IN ('inflight', 'unknown')",
                    (apimsgid, now, climsgid),
                )
            else:
                db.execute(
                    "UPDATE messages SET state = 'pending', request_climsgid = NULL, updated = ? "
                    "WHERE request_climsgid = ? AND state IN ('inflight', 'unknown')",
                    (now, climsgid),
                )

        await self._run(update)

    async def write(self, rows: Sequence[RowTuple]) -> None:
        """Write rows and return once they are committed (grouped with concurrent writes)."""
        if self._db is None:
            raise RuntimeError("the journal is not open")
        batch = self._batch
        batch.rows.extend(rows)
        async with self._lock:
            if batch.committed:
                return
            # First of this batch to get the lock: commit everything queued so far. If we
            # are cancelled after the commit ran, the next writer of the batch replays it;
            # replaying INSERT OR REPLACE of the same rows is harmless.
            if self._batch is batch:
                self._batch = _Batch()
            db = self._db
            if db is None:
                raise RuntimeError("the journal is not open")
            await anyio.to_thread.run_sync(_commit, db, batch.rows)
            batch.committed = True

    def __repr__(self) -> str:
        return f"Journal({self._path!r}, durability={self._durability!r})"


def _commit(db: sqlite3.Connection, rows: list[RowTuple]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            f"INSERT OR REPLACE INTO messages ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", rows
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


# Rejections a resumed run sends again (the condition may have passed); others are final.
_RETRY_ON_RESUME: Final = frozenset(
    {
        ErrorCategory.AUTHENTICATION,
        ErrorCategory.SESSION,
        ErrorCategory.THROTTLED,
        ErrorCategory.INTERNAL,
    }
)
_STATE_OF: Final[dict[DeliveryState, JournalState]] = {
    DeliveryState.ACCEPTED: "accepted",
    DeliveryState.REJECTED: "rejected",
    DeliveryState.UNKNOWN: "unknown",
    DeliveryState.NOT_SENT: "pending",
}


def journal_rows(
    items: Sequence[Item], state: JournalState, climsgid: str | None, clock: Clock
) -> list[RowTuple]:
    """Rows putting ``items`` in ``state`` (e.g. ``inflight`` under request ``climsgid``)."""
    now = clock.wall_time()
    return [(it.index, it.fingerprint, state, climsgid, None, None, None, 1, now) for it in items]


def result_rows(
    results: Sequence[BulkResult], items: Sequence[Item], climsgid: str, clock: Clock
) -> list[RowTuple]:
    """Rows recording the outcome of a request; "not sent" puts a message back to pending."""
    now = clock.wall_time()
    fingerprints = {it.index: it.fingerprint for it in items}
    rows: list[RowTuple] = []
    for r in results:
        state = _STATE_OF[r.state]
        request = None if state == "pending" else climsgid
        code = None if r.error_code is None else int(r.error_code)
        rows.append(
            (
                r.index,
                fingerprints[r.index],
                state,
                request,
                r.apimsgid,
                code,
                r.error_description,
                r.parts,
                now,
            )
        )
    return rows


def stored_result(row: JournalRow, message: Message) -> BulkResult | None:
    """What a resumed run yields for a message without sending it; None: send it."""
    state = row.state
    item = Item(row.index, message, row.fingerprint)
    if state == "accepted":
        return make_result(
            item, row.request_climsgid, row.apimsgid, None, None, row.parts, resumed=True
        )
    if state == "rejected":
        code = ErrorCode.coerce(row.error_code or 0)
        if isinstance(code, ErrorCode) and (
            code.category in _RETRY_ON_RESUME or code == ErrorCode.NO_CREDIT_LEFT
        ):
            return None
        return make_result(
            item, row.request_climsgid, None, code, row.error_description, row.parts, resumed=True
        )
    if state in UNRESOLVED:
        # The reconciliation could not settle it (the look-up failed): never resend blindly.
        reason = "outcome unknown: the gateway could not be asked about its request"
        return make_result(
            item, row.request_climsgid, None, OUTCOME_UNKNOWN, reason, row.parts, resumed=True
        )
    return None


async def reconcile(
    journal: Journal,
    query: Callable[[str], Awaitable[StatusInfo | None]],
    *,
    clock: Clock,
    grace: float,
    concurrency: int,
) -> int:
    """Settle the requests an earlier run left without an outcome; return how many.

    Each is looked up by its ``climsgid``: known to the gateway → its messages are accepted;
    unknown (``None``, the gateway's 104) → they go back to pending and will be sent; a
    failed look-up leaves them unresolved (reported as unknown, never resent blindly).
    """
    unresolved = await journal.unresolved()
    if not unresolved:
        return 0
    wait = max(req.updated for req in unresolved) + grace - clock.wall_time()
    if wait > 0:
        # The gateway may still be working on a request the interrupted run wrote.
        await clock.sleep_until(clock.current_time() + wait)
    limiter = anyio.CapacityLimiter(concurrency)
    settled = 0

    async def settle(req: UnresolvedRequest) -> None:
        nonlocal settled
        async with limiter:
            try:
                status = await query(req.climsgid)
            except ASMSError:
                return
        if status is None:
            await journal.resolve(req.climsgid, accepted=False)
        else:
            # The answer names one recipient's id: exact only for a single recipient.
            apimsgid = status.apimsgid if req.messages == 1 else None
            await journal.resolve(req.climsgid, accepted=True, apimsgid=apimsgid)
        settled += 1

    async with anyio.create_task_group() as tg:
        for req in unresolved:
            tg.start_soon(settle, req)
    return settled
