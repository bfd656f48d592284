"""``CallbackStore``: which callback events were handled, in SQLite, shared by processes.

Every event goes through *claim → handler → done*:

* ``claim`` inserts the event's row in state ``claimed`` (with this store's owner id and
  the time) and commits before the handler runs. A row already ``done`` makes the callback a
  duplicate; a row claimed by another store and younger than ``claim_timeout`` makes it
  ``busy`` (the receiver answers 503 and the gateway retries later).
* ``done`` marks the row ``done`` once the handler returned; a handler failure deletes the
  claim instead, so the gateway's retry runs the handler again.
* A claim whose owner crashed (or was killed) is taken over by the first retry after
  ``claim_timeout``: the handler may then run a second time for that one event. That is
  the only way an event reaches a handler twice.

Rows are kept ``retention`` seconds after their last change (7 days by default, longer than
the gateway's retries) and then pruned; nothing is ever evicted to make room: when
``max_records`` rows exist, new events are refused (503, retried by the gateway) until
pruning frees space, so a flood of forged callbacks cannot push out a real event's record.

**Where.** A store is a SQLite file by default: ``$ASMS_CALLBACK_STORE`` when set, else
``$XDG_STATE_HOME/asms/callbacks.sqlite3``, else ``~/.local/state/asms/callbacks.sqlite3``
(:func:`default_store_path`); a missing directory is created private to the user (0700).
``":memory:"`` opts out: a store of this process only, forgotten when it ends.

**Accepted messages.** A status callback exists only for a message the gateway accepted, so
every status report that names a ``clientMessageId`` is also written down as "(climsgid,
recipient) was accepted as apimsgid" (``asms_callback_accepted``), whatever became of the
event itself (new, repeated, stale), and whatever the status (a message that failed later
was still taken by the gateway). :meth:`CallbackStore.accepted` reads it back: a bulk
journal sharing the file resolves from it the messages whose send had an unknown outcome
(a reply lost on the Platform wires, which cannot be asked by ``clientMessageId``). These
rows follow the same rules as the events': pruned ``retention`` seconds after they were last
seen, at most ``max_records`` of them, never evicted (a new one beyond the cap is answered
503 and retried).

The tables (``asms_callback_events``, ``asms_callback_accepted``, ``asms_callback_meta``)
can live in their own file or in a bulk journal file next to the journal's tables; the
journal's tables are never read or written here. The file is in WAL mode with a busy
timeout, so several processes (uvicorn workers) can share it. SQLite blocks, so statements
run in a worker thread, and claims from concurrent requests are committed together in one
transaction.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Final, Literal

import anyio
import anyio.to_thread

from .._config import (
    DEFAULT_CALLBACK_RETENTION,
    DEFAULT_CLAIM_TIMEOUT,
    DEFAULT_MAX_CALLBACK_RECORDS,
)
from .._exceptions import ValidationError

__all__ = ["MEMORY", "CallbackStore", "ClaimOutcome", "default_store_path"]

logger = logging.getLogger("asms.callbacks")

ClaimOutcome = Literal["new", "duplicate", "stale", "busy", "full"]
Op = Callable[[sqlite3.Connection], object]
Accepted = tuple[str, str, str]  # (climsgid, recipient, apimsgid)

MEMORY: Final = ":memory:"
"""The path of a store kept in this process's memory only (no file)."""
_PRUNE_EVERY: Final = 60.0
_PRUNE_CHUNK: Final = 10_000
_READ_CHUNK: Final = 500  # ids per IN (...) query, under SQLite's variable limit
_RECORDS: Final = "records"
_ACCEPTED: Final = "accepted"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS asms_callback_events (
    key TEXT PRIMARY KEY,
    grp TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS asms_callback_events_claimed ON asms_callback_events (grp)
    WHERE state = 'claimed';
CREATE INDEX IF NOT EXISTS asms_callback_events_updated ON asms_callback_events (updated);
CREATE TABLE IF NOT EXISTS asms_callback_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO asms_callback_meta
    SELECT 'records', COUNT(*) FROM asms_callback_events;
CREATE TABLE IF NOT EXISTS asms_callback_accepted (
    climsgid TEXT NOT NULL,
    apimsgid TEXT NOT NULL,
    recipient TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (climsgid, apimsgid)
);
CREATE INDEX IF NOT EXISTS asms_callback_accepted_updated ON asms_callback_accepted (updated);
INSERT OR IGNORE INTO asms_callback_meta
    SELECT 'accepted', COUNT(*) FROM asms_callback_accepted;
"""


def default_store_path() -> str:
    """The default store file: ``$ASMS_CALLBACK_STORE`` when set, else
    ``$XDG_STATE_HOME/asms/callbacks.sqlite3``, else ``~/.local/state/asms/callbacks.sqlite3``.

    Read when a store is made, so a receiver started with another environment uses another
    file. Per user: every receiver of one user shares it unless given another.
    """
    given = os.environ.get("ASMS_CALLBACK_STORE")
    if given:
        return given
    # XDG: a relative $XDG_STATE_HOME is invalid and must be ignored.
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "asms", "callbacks.sqlite3")


def make_store_file(path: str) -> None:
    """Create store file ``path`` and its directory if missing, readable by its user only
    (the store lists the user's messages and numbers; SQLite gives its side files the same
    mode); an existing one is left as it is."""
    if path == MEMORY:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


class _Transaction:
    """The operations queued to run together in one SQLite transaction (a group commit)."""

    __slots__ = ("error", "ops", "ran", "results")

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.results: list[object] = []
        self.ran = False
        self.error: BaseException | None = None


class CallbackStore:
    """The handled-events table of one SQLite file (``":memory:"``: this process only).

    Args:
        path: the SQLite file; created (with its directory, 0700) if missing. A bulk journal
            file may be given. ``None``: :func:`default_store_path`, read now.
        retention: seconds a record is kept after its last change.
        max_records: records kept at most; beyond it new events are refused, not evicted.
        claim_timeout: seconds after which another process may take over an unfinished
            claim (its owner is presumed dead); handlers should finish well within it.
        clock: unix seconds (``time.time``), for retention and claim ages.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        retention: float = DEFAULT_CALLBACK_RETENTION,
        max_records: int = DEFAULT_MAX_CALLBACK_RECORDS,
        claim_timeout: float = DEFAULT_CLAIM_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not retention > 0 or not claim_timeout > 0:
            raise ValidationError("retention", "retention and claim_timeout must be > 0")
        if max_records < 1:
            raise ValidationError("max_records", "must be >= 1")
        self._path = default_store_path() if path is None else os.fspath(path)
        self._retention = retention
        self._max_records = max_records
        self._claim_timeout = claim_timeout
        self._clock = clock
        self._owner = uuid.uuid4().hex
        self._db: sqlite3.Connection | None = None
        self._lock = anyio.Lock()
        self._queued = _Transaction()
        self._next_prune = 0.0

    @property
    def path(self) -> str:
        """The SQLite file, or ``":memory:"`` for a store in this process's memory."""
        return self._path

    def __repr__(self) -> str:
        return f"CallbackStore({self._path!r})"

    async def __aenter__(self) -> CallbackStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open the file (creating it and its directory if missing); opening an open store
        does nothing. Every operation opens a closed store first, so calling this is only
        needed to fail early, at startup, on a path that cannot be opened."""
        async with self._lock:
            if self._db is None:
                self._db = await anyio.to_thread.run_sync(self._connect)

    def _connect(self) -> sqlite3.Connection:
        make_store_file(self._path)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            if self._path != ":memory:":
                mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise OSError(f"cannot put the callback store {self._path!r} in WAL mode")
            db.execute("PRAGMA synchronous = NORMAL")
            try:
                db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except BaseException:
            db.close()
            raise
        return db

    async def aclose(self) -> None:
        """Close the connection (a store in memory loses its records); the next operation
        opens it again."""
        async with self._lock:
            db, self._db = self._db, None
            if db is not None:
                await anyio.to_thread.run_sync(db.close)

    async def records(self) -> int:
        """How many event records the store holds (its own count, kept in step with the
        rows; the accepted messages are counted apart)."""
        count = await self._execute(_count)
        assert isinstance(count, int)
        return count

    # -- the claim protocol --------------------------------------------------------------

    async def claim(
        self,
        key: str,
        group: str,
        *,
        stale_key: str | None = None,
        accepted: Accepted | None = None,
    ) -> ClaimOutcome:
        """Claim ``key`` for handling. ``group``: events handled one at a time across
        processes (other claims of the group in progress elsewhere make this ``busy``).
        ``stale_key``: when that record exists, the event is ``stale`` (not handled).
        ``accepted``: (climsgid, recipient, apimsgid) the event proves accepted, recorded
        in the same commit whatever the outcome (``full`` when there is no room for it)."""
        now = self._clock()
        owner, cutoff, limit = self._owner, now - self._claim_timeout, self._max_records
        if accepted is not None:
            climsgid, recipient, apimsgid = accepted
            accepted = (climsgid, _digits_only(recipient), apimsgid)

        def op(db: sqlite3.Connection) -> ClaimOutcome:
            if accepted is not None and not _accept(db, accepted, now, limit):
                return "full"
            row = db.execute(
                "SELECT state, owner, updated FROM asms_callback_events WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and row[0] == "done":
                return "duplicate"
            if stale_key is not None and _exists(db, stale_key):
                return "stale"
            busy = db.execute(
                "SELECT 1 FROM asms_callback_events WHERE grp = ? AND state = 'claimed' "
                "AND owner != ? AND updated > ? LIMIT 1",
                (group, owner, cutoff),
            ).fetchone()
            if busy is not None:
                return "busy"
            if row is None:
                if _count(db) >= limit:
                    return "full"
                _add(db, 1)
            db.execute(
                "INSERT OR REPLACE INTO asms_callback_events VALUES (?, ?, 'claimed', ?, ?)",
                (key, group, owner, now),
            )
            return "new"

        return await self._execute(op)  # type: ignore[return-value]

    async def done(self, key: str, *, also: tuple[tuple[str, str], ...] = ()) -> None:
        """The handler of ``key`` returned; ``also``: (key, group) records made with it."""
        now, owner = self._clock(), self._owner

        def op(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE asms_callback_events SET state = 'done', updated = ? WHERE key = ?",
                (now, key),
            )
            for extra, group in also:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO asms_callback_events VALUES (?, ?, 'done', ?, ?)",
                    (extra, group, owner, now),
                )
                _add(db, cursor.rowcount)

        await self._execute(op)

    async def release(self, key: str) -> None:
        """The handler of ``key`` failed: forget the claim so a retry handles it again."""
        owner = self._owner

        def op(db: sqlite3.Connection) -> None:
            cursor = db.execute(
                "DELETE FROM asms_callback_events WHERE key = ? AND owner = ? "
                "AND state = 'claimed'",
                (key, owner),
            )
            _add(db, -cursor.rowcount)

        await self._execute(op)

    async def record(self, key: str, group: str) -> ClaimOutcome:
        """Record ``key`` as done with no handler: ``new``, ``duplicate`` or ``full``."""
        now, owner, limit = self._clock(), self._owner, self._max_records

        def op(db: sqlite3.Connection) -> ClaimOutcome:
            if _exists(db, key):
                return "duplicate"
            if _count(db) >= limit:
                return "full"
            db.execute(
                "INSERT INTO asms_callback_events VALUES (?, ?, 'done', ?, ?)",
                (key, group, owner, now),
            )
            _add(db, 1)
            return "new"

        return await self._execute(op)  # type: ignore[return-value]

    # -- accepted messages ------------------------------------------------------------------

    async def accepted(self, climsgid: str) -> dict[str, str]:
        """The messages sent under ``climsgid`` that the gateway accepted, as far as status
        callbacks told: recipient (digits only, no ``+``) -> ``apimsgid``.

        A report that named no recipient (the One API's status updates do not) is left out;
        :meth:`accepted_messages` lists it. Should one recipient have two ids (the message
        was taken twice), the first recorded is given. Empty when nothing is known (no
        callback yet, or its record is older than ``retention``).
        """
        return {
            recipient: apimsgid
            for apimsgid, recipient in (await self._accepted_rows(climsgid))
            if recipient
        }

    async def accepted_messages(self, climsgid: str) -> dict[str, str]:
        """Every accepted message sent under ``climsgid``: ``apimsgid`` -> recipient
        (digits only; ``""`` when its status callback named none)."""
        return dict(await self._accepted_rows(climsgid))

    async def accepted_many(self, climsgids: Iterable[str]) -> dict[str, dict[str, str]]:
        """:meth:`accepted` for many ids in one read (a journal resuming many unknown
        sends): climsgid -> (recipient -> ``apimsgid``); an id with nothing known is left
        out."""
        wanted = list(dict.fromkeys(climsgids))

        def op(db: sqlite3.Connection) -> dict[str, dict[str, str]]:
            found: dict[str, dict[str, str]] = {}
            for start in range(0, len(wanted), _READ_CHUNK):
                chunk = wanted[start : start + _READ_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT climsgid, apimsgid, recipient FROM asms_callback_accepted "
                    f"WHERE recipient != '' AND climsgid IN ({marks}) "
                    "ORDER BY created DESC, apimsgid DESC",
                    chunk,
                )
                for climsgid, apimsgid, recipient in rows:
                    found.setdefault(str(climsgid), {})[str(recipient)] = str(apimsgid)
            return found

        result = await self._execute(op)
        assert isinstance(result, dict)
        return result

    async def _accepted_rows(self, climsgid: str) -> list[tuple[str, str]]:
        def op(db: sqlite3.Connection) -> list[tuple[str, str]]:
            # Newest first, so that in a dict the first recorded id of a recipient wins.
            rows = db.execute(
                "SELECT apimsgid, recipient FROM asms_callback_accepted WHERE climsgid = ? "
                "ORDER BY created DESC, apimsgid DESC",
                (climsgid,),
            ).fetchall()
            return [(str(apimsgid), str(recipient)) for apimsgid, recipient in rows]

        rows = await self._execute(op)
        assert isinstance(rows, list)
        return rows

    # -- group commit ----------------------------------------------------------------------

    async def _execute(self, op: Op) -> object:
        if self._db is None:
            await self.open()
        transaction = self._queued
        index = len(transaction.ops)
        transaction.ops.append(op)
        try:
            async with self._lock:
                if not transaction.ran:
                    # The first caller to get the lock runs everything queued so far, in one
                    # transaction. The thread is not abandoned on cancellation, so ``ran``
                    # is always set before anyone else looks.
                    if self._queued is transaction:
                        self._queued = _Transaction()
                    db = self._db
                    if db is None:
                        raise RuntimeError("the callback store is closed")
                    await anyio.to_thread.run_sync(self._run, db, transaction)
        except BaseException:
            if not transaction.ran:
                # Cancelled while waiting for the lock: whoever runs the transaction must
                # not commit an operation nobody awaits (a claim or record with no handler).
                transaction.ops[index] = _nothing
            raise
        if transaction.error is not None:
            raise transaction.error
        return transaction.results[index]

    def _run(self, db: sqlite3.Connection, transaction: _Transaction) -> None:
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                now = self._clock()
                if now >= self._next_prune:
                    self._prune(db, now)
                transaction.results = [op(db) for op in transaction.ops]
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except Exception as exc:
            logger.error("callback store %r failed: %s", self._path, exc)
            transaction.error = exc
        finally:
            transaction.ran = True

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        cutoff = now - self._retention
        cursor = db.execute(
            "DELETE FROM asms_callback_events WHERE key IN (SELECT key FROM "
            "asms_callback_events WHERE updated < ? LIMIT ?)",
            (cutoff, _PRUNE_CHUNK),
        )
        events = cursor.rowcount
        _add(db, -events)
        cursor = db.execute(
            "DELETE FROM asms_callback_accepted WHERE rowid IN (SELECT rowid FROM "
            "asms_callback_accepted WHERE updated < ? LIMIT ?)",
            (cutoff, _PRUNE_CHUNK),
        )
        accepted = cursor.rowcount
        _add(db, -accepted, _ACCEPTED)
        # A full chunk means more may be due: look again on the next transaction.
        more = max(events, accepted) >= _PRUNE_CHUNK
        self._next_prune = now if more else now + _PRUNE_EVERY


def _nothing(db: sqlite3.Connection) -> None:
    return None


def _exists(db: sqlite3.Connection, key: str) -> bool:
    found = db.execute("SELECT 1 FROM asms_callback_events WHERE key = ?", (key,)).fetchone()
    return found is not None


def _count(db: sqlite3.Connection, counter: str = _RECORDS) -> int:
    row = db.execute("SELECT value FROM asms_callback_meta WHERE key = ?", (counter,)).fetchone()
    return int(row[0]) if row is not None else 0


def _add(db: sqlite3.Connection, delta: int, counter: str = _RECORDS) -> None:
    if delta:
        db.execute(
            "UPDATE asms_callback_meta SET value = value + ? WHERE key = ?", (delta, counter)
        )


def _digits_only(number: str) -> str:
    """A phone number as digits only (``+27 82 ...`` -> ``2782...``)."""
    return "".join(c for c in number if c.isascii() and c.isdigit())


def _accept(db: sqlite3.Connection, accepted: Accepted, now: float, limit: int) -> bool:
    """Record (or refresh) an accepted message; False when it is new and there is no room."""
    climsgid, recipient, apimsgid = accepted
    cursor = db.execute(
        "UPDATE asms_callback_accepted SET updated = ?, "
        "recipient = CASE WHEN recipient = '' THEN ? ELSE recipient END "
        "WHERE climsgid = ? AND apimsgid = ?",
        (now, recipient, climsgid, apimsgid),
    )
    if cursor.rowcount:
        return True
    if _count(db, _ACCEPTED) >= limit:
        return False
    db.execute(
        "INSERT INTO asms_callback_accepted VALUES (?, ?, ?, ?, ?)",
        (climsgid, apimsgid, recipient, now, now),
    )
    _add(db, 1, _ACCEPTED)
    return True
