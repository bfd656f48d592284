"""The bulk-send journal: one SQLite row per input message, so a rerun resumes.

A message's row is written (and committed) *before* its request leaves — state ``inflight``
with the request's ``climsgid`` — and again after the outcome is known. A rerun of the same
input with the same journal therefore knows, for every message, whether it was accepted or
rejected (skip it), never attempted (send it), or possibly sent (ask the gateway about the
request's ``climsgid`` before anything is resent; see docs/protocol.md "Idempotency").

Messages are keyed by their position in the input; a fingerprint of the message (number,
text, options, climsgid) is stored with it, followed by a short digest of each of those
fields, and a rerun whose input differs at a position the journal knows is refused with
:class:`JournalMismatchError` naming the fields that differ (a journal written before the
field digests knows only that the message differs).

**One run at a time.** An open journal is owned by whoever opened it (see
:mod:`asms._bulk.lock`): a second opener, in this process or another, gets
:class:`JournalLockedError` naming the holder (pid, host, since when). The lock dies with
its holder's process, so the journal of a crashed run is free at once.

**Campaign.** A journal holds one campaign: an ``id`` made when the journal is created, the
``name`` given with ``Journal(path, campaign=...)`` (a later run naming another campaign is
refused with :class:`JournalMismatchError`), and whether it *finished*: a run read its
input to the end without being stopped, and no message is left that a rerun would send or
look up (every one accepted or finally rejected). A new run on a finished journal is refused
with :class:`JournalFinishedError` — reusing last week's journal would otherwise report last
week's results and send nothing. ``Journal(path, replay=True)`` is the explicit opt-in to
read it again: the run sends nothing and looks nothing up, every message gets the result the
journal stored (``resumed``), or ``not_sent`` when it has none.

**Owner.** A journal records the account and gateway its first run sent through
(:func:`journal_owner`: a digest of the API id and user — never the password — and the
base URL's ``scheme://host:port/path``), and a later run through another account or
gateway is refused with :class:`JournalMismatchError` naming both: the requests the earlier
run left in flight can only be looked up on the account and gateway that got them, so a
resume elsewhere would send them again. A journal from before owners were recorded takes
the first one a run brings, and so does one none of whose messages reached a gateway (a
first run refused for a mistyped user); a sender that exposes no owner is not checked.

**Resuming.** A run that was stopped or died may have left requests whose outcome it did not
learn; the gateway may still be working on them, and may show a message to a look-up only
some time after accepting it. So the run that resumes waits ``grace`` seconds counted from
when the earlier run *stopped* — recorded at its end, or, when it died without saying so, its
last heartbeat (refreshed every ``HEARTBEAT_INTERVAL`` seconds while it runs) plus that
interval — and then asks about each request on the live run's reconciliation schedule
(``RetryPolicy.reconcile_schedule``): a request is sent again only when the last answer is
"unknown client message id" (104); any other failure of a look-up leaves it unknown, never
resent.

Durability: WAL mode with ``synchronous=NORMAL`` (the default ``durability="process"``)
survives the sending process being killed at any point (SIGKILL included), since a commit
is in the operating system's cache when it returns; it does not survive a power loss or a
kernel crash. ``durability="power"`` (``synchronous=FULL``) fsyncs every commit and does.

SQLite is blocking, so every statement runs in a worker thread. Writes from concurrent
requests share a commit: whoever gets the lock commits everything queued so far. The rows of
a request (:func:`journal_rows`, :func:`result_rows`) go in as one statement over a JSON
array, not nine parameters a row; pass those lists to :meth:`Journal.write` as they are (a
copy is written a row at a time, to the same effect).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from .._clock import Clock
from .._codes import ErrorCategory, ErrorCode
from .._config import HEARTBEAT_INTERVAL, MAX_CAMPAIGN_NAME
from .._exceptions import (
    ASMSError,
    JournalError,
    JournalFinishedError,
    JournalMismatchError,
    ValidationError,
)
from .._models import Message, StatusInfo
from .._platform_codes import category_of, one_api_error
from .._retry import OUTCOME_UNKNOWN
from .grouping import Item
from .lock import OwnerLock
from .report import BulkResult, DeliveryState, make_result

__all__ = [
    "FOUND_OTHERS",
    "HEARTBEAT_INTERVAL",
    "Journal",
    "JournalCampaign",
    "JournalMismatchError",
    "JournalRow",
    "JournalState",
    "JournalWriter",
    "Reconcilable",
    "RowTuple",
    "UNRESOLVED",
    "UnresolvedRequest",
    "check_journal",
    "compare_input",
    "differing_fields",
    "differing_stored",
    "found_row",
    "fingerprint",
    "journal_owner",
    "journal_rows",
    "reconcile",
    "result_rows",
    "retried_on_resume",
    "same_message",
    "same_stored",
    "stored_fingerprint",
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


Owner = dict[str, str]
"""Who a journal's requests went through: ``account`` and ``gateway`` (see journal_owner)."""
_OWNER_KEYS: Final = ("account", "gateway")


def journal_owner(api_id: str, user: str, base_url: str) -> Owner:
    """The owner a journal records for a run through this account and gateway.

    The account is a digest of the API id and user (both count as credentials here; the
    password is left out so that changing it does not orphan a journal); the gateway is the
    base URL as ``scheme://host:port/path``, the port made explicit so that ``https://h``
    and ``https://h:443`` are the same gateway.
    """
    digest = hashlib.blake2b(f"{api_id}\0{user}".encode(), digest_size=6).hexdigest()
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    gateway = f"{scheme}://{host}" + ("" if port is None else f":{port}")
    return {"account": digest, "gateway": gateway + parts.path.rstrip("/")}


def _describe_owner(owner: Owner) -> str:
    return f"account {owner.get('account', '?')} at {owner.get('gateway', '?')}"


def _check_owner(db: sqlite3.Connection, path: str, owner: Owner | None) -> Owner:
    """What of ``owner`` the journal is to record (adopt); raises when it holds another.

    A journal none of whose messages reached a gateway (a run refused for a mistyped user,
    say) takes the new owner: there is nothing to look up or resend elsewhere.
    """
    if owner is None:
        return {}
    meta = _meta(db)
    recorded = {key: meta[f"owner_{key}"] for key in _OWNER_KEYS if f"owner_{key}" in meta}
    differs = [key for key in _OWNER_KEYS if key in recorded and recorded[key] != owner.get(key)]
    if differs and _reached_gateway(db):
        raise JournalMismatchError(
            f"the journal {path} was written by a run through "
            f"{_describe_owner(recorded)}, not {_describe_owner(owner)} (another "
            f"{' and '.join(differs)}); its requests in flight can only be looked up there. "
            "Resume it with the account and base URL that started it, or use a new journal",
            path,
        )
    new = [key for key in _OWNER_KEYS if key in owner and recorded.get(key) != owner[key]]
    return {f"owner_{key}": owner[key] for key in new}


def _reached_gateway(db: sqlite3.Connection) -> bool:
    """Whether a message of the journal is, or may be, known to the gateway: accepted, in
    flight, unknown, or rejected for good (a refusal a resumed run retries, such as a
    refused account, is not: it is sent again anyway)."""
    found = db.execute(
        "SELECT 1 FROM messages WHERE state IN ('accepted', 'inflight', 'unknown') LIMIT 1"
    ).fetchone()
    if found is not None:
        return True
    codes = db.execute("SELECT DISTINCT error_code FROM messages WHERE state = 'rejected'")
    return any(not retried_on_resume(code) for (code,) in codes)


def plain_fingerprint(message: Message) -> bytes:
    """A stable 8-byte digest of what makes a message itself (not its ``ref``): the plain
    twin of :func:`fingerprint`, which must answer the same bytes for every message."""
    # dataclass reprs are deterministic across processes, unlike hash().
    key = repr((message.to, message.text, message.options, message.climsgid))
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()


# What a run stores per message: the fingerprint, then a 2-byte digest of each of these
# fields, so that a refusal can say what changed (a journal from before stores 8 bytes).
FIELDS: Final = ("number", "text", "options", "climsgid")
_FINGERPRINT: Final = 8


def plain_field_digests(message: Message) -> bytes:
    """The plain twin of the field digests :func:`stored_fingerprint` appends."""
    fields = (message.to, message.text, message.options, message.climsgid)
    return b"".join(
        hashlib.blake2b(repr(f).encode("utf-8", "surrogatepass"), digest_size=2).digest()
        for f in fields
    )


def plain_stored_fingerprint(message: Message) -> bytes:
    """The plain twin of :func:`stored_fingerprint`."""
    return plain_fingerprint(message) + plain_field_digests(message)


# The fast path. Journals written by every earlier version hold these bytes, so the fast
# functions must answer exactly what their plain twins do (tests/bulk/test_journal_fingerprint.py
# holds them equal). The key is repr((to, text, options, climsgid)), which is
# "(" + repr(to) + ", " + repr(text) + ", " + repr(options) + ", " + repr(climsgid) + ")"
# for any four objects; a campaign repeats its text, options and climsgid (often as the same
# objects), so their reprs and digests are kept from the message before and only the
# number's are made per message. UTF-8 with surrogatepass encodes code point by code point,
# so the pieces' encodings concatenate to the whole key's.
_ENCODING: Final = "utf-8"
_ERRORS: Final = "surrogatepass"
_KEY_HASH: Final = hashlib.blake2b(digest_size=_FINGERPRINT)
_FIELD_HASH: Final = hashlib.blake2b(digest_size=2)


def _field(value: object) -> tuple[object, bytes, bytes]:
    """``value`` with its repr (encoded) and that repr's 2-byte digest."""
    encoded = repr(value).encode(_ENCODING, _ERRORS)
    digest = _FIELD_HASH.copy()
    digest.update(encoded)
    return value, encoded, digest.digest()


def _same(value: object, seen: object) -> bool:
    """Whether ``value`` has the repr of ``seen``, known without making it: the same object
    (the fields of a message are immutable), or equal exact strings (a subclass may have a
    repr of its own; equal numbers or dataclasses may not have equal reprs)."""
    return value is seen or (type(value) is str and type(seen) is str and value == seen)


class _Tail:
    """What follows the number in a message's key, and its fields' digests after the
    number's: made for one (text, options, climsgid) and kept while messages repeat it."""

    __slots__ = ("climsgid", "digests", "key", "options", "text")

    def __init__(
        self,
        text: tuple[object, bytes, bytes],
        options: tuple[object, bytes, bytes],
        climsgid: tuple[object, bytes, bytes],
    ) -> None:
        self.text, self.options, self.climsgid = text, options, climsgid
        self.key = b", " + text[1] + b", " + options[1] + b", " + climsgid[1] + b")"
        self.digests = text[2] + options[2] + climsgid[2]


_last_tail = _Tail(_field(""), _field(None), _field(None))


def _fingerprint_tail(message: Message) -> _Tail:
    tail = _last_tail  # read once: another thread may replace it, never change it
    text, options, climsgid = message.text, message.options, message.climsgid
    if text is tail.text[0] and options is tail.options[0] and climsgid is tail.climsgid[0]:
        return tail
    return _new_tail(tail, text, options, climsgid)


def _new_tail(tail: _Tail, text: str, options: object, climsgid: str | None) -> _Tail:
    global _last_tail
    same_text = _same(text, tail.text[0])
    same_options = options is tail.options[0]
    same_climsgid = _same(climsgid, tail.climsgid[0])
    if same_text and same_options and same_climsgid:
        return tail
    tail = _Tail(
        tail.text if same_text else _field(text),
        tail.options if same_options else _field(options),
        tail.climsgid if same_climsgid else _field(climsgid),
    )
    _last_tail = tail
    return tail


def fingerprint(message: Message) -> bytes:
    """A stable 8-byte digest of what makes a message itself (not its ``ref``)."""
    return stored_fingerprint(message)[:_FINGERPRINT]


def stored_fingerprint(message: Message) -> bytes:
    """What a run records for ``message``: :func:`fingerprint` and its fields' digests."""
    tail = _fingerprint_tail(message)
    number = repr(message.to).encode(_ENCODING, _ERRORS)
    key = _KEY_HASH.copy()
    key.update(b"(" + number + tail.key)
    digest = _FIELD_HASH.copy()
    digest.update(number)
    return key.digest() + digest.digest() + tail.digests


def same_message(recorded: bytes, message: Message) -> bool:
    """Whether ``recorded`` (a stored fingerprint, or a bare one) is ``message``'s."""
    return same_stored(recorded, stored_fingerprint(message))


def same_stored(recorded: bytes, stored: bytes) -> bool:
    """:func:`same_message` for a message whose :func:`stored_fingerprint` is ``stored``
    (made already: a run makes it for every message it reads)."""
    return recorded[:_FINGERPRINT] == stored[:_FINGERPRINT]


def differing_fields(recorded: bytes, message: Message) -> tuple[str, ...]:
    """Which of :data:`FIELDS` of ``message`` differ from the recorded one's (``()``: not
    known, the journal stored a bare fingerprint)."""
    return differing_stored(recorded, stored_fingerprint(message))


def differing_stored(recorded: bytes, stored: bytes) -> tuple[str, ...]:
    """:func:`differing_fields` for a message whose :func:`stored_fingerprint` is ``stored``."""
    theirs = recorded[_FINGERPRINT:]
    if len(theirs) != 2 * len(FIELDS):
        return ()
    mine = stored[_FINGERPRINT:]
    return tuple(
        name
        for i, name in enumerate(FIELDS)
        if theirs[2 * i : 2 * i + 2] != mine[2 * i : 2 * i + 2]
    )


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


@dataclass(frozen=True, slots=True)
class JournalCampaign:
    """What a journal holds: its campaign's identity, whether it finished, its messages.

    ``created`` and ``finished`` are unix times (``finished`` is ``None`` until a run
    finished the campaign); ``counts`` maps a message state to its number of messages.
    """

    id: str
    name: str | None
    created: float
    finished: float | None
    counts: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """``campaign 'spring' (id 1a2b3c4d5e6f), finished 2026-12-05 10:00:00 UTC: …``"""
        named = (
            f"campaign {self.name!r} (id {self.id[:12]})"
            if self.name
            else (f"campaign {self.id[:12]}")
        )
        if self.finished is not None:
            named += f", finished {_utc(self.finished)}"
        held = ", ".join(f"{n:,} {state}" for state, n in sorted(self.counts.items()))
        return f"{named}: {held or 'no messages'}"


def _utc(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class _Rows(list[RowTuple]):
    """Rows of one write whose ``updated`` is ``now`` for all: ``Journal.write`` passes
    them to SQLite as a few values (the rows as one JSON text) instead of nine parameters
    per row (see ``_statement``). Made only by journal_rows and result_rows, whose
    attributes hold what every row holds; rows appended later make it a plain list again."""

    __slots__ = ("made", "now")
    made: int
    now: float


class _NewRows(_Rows):
    """Rows putting messages in ``state`` under request ``climsgid`` (journal_rows)."""

    __slots__ = ("climsgid", "state")
    climsgid: str | None
    state: str


class _Accepted(_Rows):
    """Rows of a request's messages all accepted, without an error (result_rows)."""

    __slots__ = ("climsgid",)
    climsgid: str


# Fewer rows than this are written with parameters: a statement over JSON costs more to
# start than it saves per row.
_ONE_STATEMENT: Final = 4


# A write's rows go in one statement, an upsert: a row that exists gets every column of the
# new one, as INSERT OR REPLACE would give it, without deleting and reinserting it. The rows
# are a JSON array (their fingerprints concatenated in a blob, 16 bytes each; ``updated``
# bound as the float it is, not read back from JSON text).
_UPSERT: Final = (
    " WHERE true ON CONFLICT (idx) DO UPDATE SET fingerprint = excluded.fingerprint, "
    "state = excluded.state, request_climsgid = excluded.request_climsgid, "
    "apimsgid = excluded.apimsgid, error_code = excluded.error_code, "
    "error_description = excluded.error_description, parts = excluded.parts, "
    "updated = excluded.updated"
)
_FP: Final = "substr(?1, key * 16 + 1, 16)"
_NEW_SQL: Final = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT value, {_FP}, ?2, ?3, NULL, NULL, NULL, 1, ?4 "
    "FROM json_each(?5)" + _UPSERT
)
_NEW_RUN_SQL: Final = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT ?5 + key, {_FP}, ?2, ?3, NULL, NULL, NULL, 1, "
    "?4 FROM json_each(?6)" + _UPSERT
)
_ACCEPTED_RUN_SQL: Final = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT ?5 + key, {_FP}, 'accepted', ?2, value, NULL, "
    "NULL, ?6, ?3 FROM json_each(?4)" + _UPSERT
)
_ACCEPTED_SQL: Final = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT value ->> 0, {_FP}, 'accepted', ?2, "
    "value ->> 1, NULL, NULL, value ->> 2, ?3 FROM json_each(?4)" + _UPSERT
)
_ROWS_SQL: Final = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT value ->> 0, {_FP}, value ->> 1, value ->> 2, "
    "value ->> 3, value ->> 4, value ->> 5, value ->> 6, ?2 FROM json_each(?3)" + _UPSERT
)
_REPLACE_SQL: Final = f"INSERT OR REPLACE INTO messages ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
_FINGERPRINT_SIZE: Final = 16
_encode_json: Final = json.JSONEncoder(
    ensure_ascii=False, check_circular=False, allow_nan=False, separators=(",", ":")
).encode


def _fingerprints(rows: list[RowTuple]) -> bytes | None:
    """The rows' fingerprints in one blob; None unless each is 16 bytes."""
    fingerprints = [row[1] for row in rows]
    if set(map(type, fingerprints)) != {bytes}:
        return None
    if set(map(len, fingerprints)) != {_FINGERPRINT_SIZE}:
        return None
    return b"".join(fingerprints)


def _statement(rows: list[RowTuple]) -> tuple[str, tuple[object, ...]] | None:
    """One statement writing ``rows`` (a write of journal_rows or result_rows); None: they
    are written a row at a time."""
    if not isinstance(rows, _Rows) or len(rows) != rows.made or not rows:
        return None
    blob = _fingerprints(rows)
    if blob is None:
        return None
    indexes = [row[0] for row in rows]
    if set(map(type, indexes)) != {int}:
        return None
    # Consecutive positions (a group of a same-text campaign): the first, and a count.
    first = indexes[0]
    run = indexes == list(range(first, first + len(indexes)))
    if isinstance(rows, _NewRows):
        if run:
            count = "[" + "0," * (len(indexes) - 1) + "0]"
            return _NEW_RUN_SQL, (blob, rows.state, rows.climsgid, rows.now, first, count)
        text = "[" + ",".join(map(str, indexes)) + "]"
        return _NEW_SQL, (blob, rows.state, rows.climsgid, rows.now, text)
    made: tuple[str, tuple[object, ...]]
    if isinstance(rows, _Accepted):
        parts = {row[7] for row in rows}
        if run and len(parts) == 1 and set(map(type, parts)) == {int}:
            text = _encode_json([row[4] for row in rows])
            made = (_ACCEPTED_RUN_SQL, (blob, rows.climsgid, rows.now, text, first, parts.pop()))
        else:
            text = _encode_json([(row[0], row[4], row[7]) for row in rows])
            made = (_ACCEPTED_SQL, (blob, rows.climsgid, rows.now, text))
    else:
        text = _encode_json([(r[0], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows])
        made = (_ROWS_SQL, (blob, rows.now, text))
    # SQLite's JSON functions end a string at a NUL character; a parameter holds it whole.
    return None if "\\u0000" in text else made


class _Commit:
    """Rows written by concurrent requests, committed together by whichever comes first:
    the writes in the order they came."""

    __slots__ = ("committed", "writes")

    def __init__(self) -> None:
        self.writes: list[tuple[str, tuple[object, ...]] | list[RowTuple]] = []
        self.committed = False

    def add(self, rows: Sequence[RowTuple]) -> None:
        # Made here, in the writer's task: rows the caller changes later are not written.
        made = _statement(rows) if isinstance(rows, _Rows) else None
        if made is not None:
            self.writes.append(made)
        elif self.writes and isinstance(self.writes[-1], list):
            self.writes[-1].extend(rows)  # rows a row at a time: one executemany
        else:
            self.writes.append(list(rows))


class Journal:
    """A SQLite journal file. Use ``async with Journal(path) as journal:``.

    * ``durability``: ``"process"`` survives the process being killed, ``"power"`` also a
      power loss (every commit is forced to disk).
    * ``campaign``: the campaign's name; a journal recorded under another name is refused
      (:class:`JournalMismatchError`). A journal without a name takes this one.
    * ``replay``: a run on this journal sends nothing and looks nothing up: it re-emits the
      stored results (the way to read a finished campaign's results again).

    Opening takes the journal's lock for this object until :meth:`aclose`
    (:class:`JournalLockedError` if another run holds it); an unusable file (not a journal,
    unreadable, read-only, in a missing directory) raises :class:`JournalError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Literal["process", "power"] = "process",
        campaign: str | None = None,
        replay: bool = False,
    ) -> None:
        if durability not in ("process", "power"):
            raise ValueError("durability must be 'process' or 'power'")
        if campaign is not None and (
            not isinstance(campaign, str)
            or not campaign.strip()
            or len(campaign) > MAX_CAMPAIGN_NAME
        ):
            raise ValidationError("campaign", f"must be 1-{MAX_CAMPAIGN_NAME} characters", campaign)
        self._path = os.fspath(path)
        self._durability = durability
        self._campaign = campaign
        self._replay = bool(replay)
        self._db: sqlite3.Connection | None = None
        self._owner = OwnerLock(self._path)
        self._lock = anyio.Lock()
        self._pending = _Commit()
        self._committing: anyio.Event | None = None  # set when the commit under way ends
        self.heartbeat_interval = HEARTBEAT_INTERVAL

    @property
    def path(self) -> str:
        """The journal file's path."""
        return self._path

    @property
    def replay(self) -> bool:
        """Whether a run on this journal only re-emits the stored results."""
        return self._replay

    @property
    def is_open(self) -> bool:
        """Whether the journal is open (and its lock held by this object)."""
        return self._db is not None

    async def __aenter__(self) -> Journal:
        """Open the journal (see :meth:`open`)."""
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the journal (see :meth:`aclose`)."""
        await self.aclose()

    async def open(self) -> None:
        """Take the journal's lock and open the file, creating it if need be (a no-op when
        open already): :class:`JournalLockedError` if another run holds it,
        :class:`JournalError` when the file cannot be used as a journal."""
        if self._db is None:
            self._db = await anyio.to_thread.run_sync(self._open_blocking)

    def _open_blocking(self) -> sqlite3.Connection:
        # The lock first: nothing about the file may be trusted (or written) before this
        # object owns it.
        self._owner.acquire()
        try:
            return self._connect()
        except sqlite3.Error as exc:
            self._owner.release()
            raise JournalError(self._path, f"cannot use {self._path} as a journal: {exc}") from None
        except BaseException:
            self._owner.release()
            raise

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(self._path, f"cannot put the journal {self._path} in WAL mode")
            sync = "FULL" if self._durability == "power" else "NORMAL"
            db.execute(f"PRAGMA synchronous = {sync}")
            db.executescript(_SCHEMA)
            meta = _meta(db)
            found = meta.get("schema")
            if found is None:
                db.execute("INSERT INTO asms_meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif found != SCHEMA_VERSION:
                raise JournalMismatchError(f"journal schema {found!r} is not supported", self._path)
            if "campaign_id" not in meta:
                # A new journal, or one from before campaigns were recorded.
                _set(db, campaign_id=uuid.uuid4().hex, created=repr(time.time()))
            name = meta.get("campaign_name")
            if self._campaign is not None:
                if name is None:
                    _set(db, campaign_name=self._campaign)
                elif name != self._campaign:
                    raise JournalMismatchError(
                        f"the journal {self._path} holds campaign {name!r}, not {self._campaign!r}",
                        self._path,
                    )
        except BaseException:
            db.close()
            raise
        return db

    async def aclose(self) -> None:
        """Close the file and release the lock (a no-op when closed already)."""
        db, self._db = self._db, None
        if db is not None:
            async with self._lock:
                await anyio.to_thread.run_sync(db.close)
        self._owner.release()

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

    async def request_size(self, climsgid: str) -> int:
        """How many messages the request ``climsgid`` carried (settled or not)."""

        def query(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT COUNT(*) FROM messages WHERE request_climsgid = ?", (climsgid,)
            ).fetchone()
            return int(row[0])

        return await self._run(query)

    async def counts(self) -> dict[str, int]:
        """Messages per state."""
        return await self._run(_counts)

    async def recorded_end(self) -> int:
        """One past the last input position with a row (0: none): from there on a run
        finds no row, so it need not look any up (nor compare fingerprints)."""

        def query(db: sqlite3.Connection) -> int:
            last = db.execute("SELECT MAX(idx) FROM messages").fetchone()[0]
            return 0 if last is None else int(last) + 1

        return await self._run(query)

    async def campaign(self) -> JournalCampaign:
        """The campaign this journal holds."""
        return await self._run(_campaign_of)

    # -- runs ------------------------------------------------------------------------------

    async def start_run(self, now: float, owner: Owner | None = None) -> float | None:
        """Begin a bulk run; return when the run before it stopped (unix time; None: never).

        Refuses a finished campaign (:class:`JournalFinishedError`) unless ``replay``, and a
        journal whose requests went through another account or gateway than ``owner``
        (:class:`JournalMismatchError`; see :func:`journal_owner`; ``None``: not checked). A
        replaying run writes nothing, so it leaves the earlier run's record alone.
        """
        path, replay, interval = self._path, self._replay, self.heartbeat_interval

        def start(db: sqlite3.Connection) -> float | None:
            campaign = _campaign_of(db)
            if replay:
                return None
            if campaign.finished is not None:
                raise finished_error(path, campaign)
            adopt = _check_owner(db, path, owner)
            meta = _meta(db)
            ended = _earlier_end(meta)
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM asms_meta WHERE key = 'stopped'")
                _set(db, alive=repr(now), alive_interval=repr(interval), **adopt)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return ended

        return await self._run(start)

    async def beat(self, now: float) -> None:
        """The running bulk send's heartbeat: it was alive at ``now``."""
        await self._run(lambda db: _set(db, alive=repr(now)))

    async def end_run(self, now: float, *, complete: bool) -> bool:
        """Record that the run stopped at ``now``; ``complete``: it read its whole input and
        every message got a final result. Returns whether the campaign is now finished (also
        nothing in the journal is left to send or look up)."""

        def end(db: sqlite3.Connection) -> bool:
            finished = complete and _nothing_left(db)
            values = {"alive": repr(now), "stopped": repr(now)}
            if finished:
                values["finished"] = repr(now)
            _set(db, **values)
            return finished

        return await self._run(end)

    # -- writing ---------------------------------------------------------------------------

    async def resolve(self, climsgid: str, *, accepted: bool, apimsgid: str | None = None) -> None:
        """Settle an unresolved request: the gateway knows it (``accepted``) or does not
        (its messages go back to pending).

        A request found by its ``climsgid`` is settled as a live run settles it
        (``found_results``): the look-up names one message but not its recipient. A request
        of one message is accepted with ``apimsgid``. In a request of several, any one may
        have been refused on its own (the first included, and the message found is then
        another's), so all stay ``unknown``: never resent, reported as unknown.
        """
        now = time.time()

        def update(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                if accepted:
                    _settle_found(db, climsgid, apimsgid, now)
                else:
                    db.execute(
                        "UPDATE messages SET state = 'pending', request_climsgid = NULL, "
                        "updated = ? WHERE request_climsgid = ? AND state IN ('inflight', "
                        "'unknown')",
                        (now, climsgid),
                    )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        await self._run(update)

    async def write(self, rows: Sequence[RowTuple]) -> None:
        """Write rows and return once they are committed (in one commit with concurrent writes)."""
        if self._db is None:
            raise RuntimeError("the journal is not open")
        pending = self._pending
        pending.add(rows)
        while not pending.committed:
            under_way = self._committing
            if under_way is not None:
                # Our rows are in that commit or will go in the next: every writer waiting
                # wakes at once when it ends (queued on the lock instead, they would be let
                # through one per turn of the event loop, each only to find its rows written).
                await under_way.wait()
                continue
            # The first writer to find no commit under way commits everything queued so far.
            # If it is cancelled after the commit ran, a writer of the same commit replays it;
            # writing the same rows again is harmless (an INSERT of rows that exist falls
            # back to replacing them).
            self._committing = done = anyio.Event()
            try:
                async with self._lock:  # the connection's other users (reads, heartbeats)
                    # Taken now, not before the lock: rows added meanwhile go in it too.
                    if self._pending is pending:
                        self._pending = _Commit()
                    db = self._db
                    if db is None:
                        raise RuntimeError("the journal is not open")
                    await anyio.to_thread.run_sync(_commit, db, pending)
                pending.committed = True
            finally:
                self._committing = None
                done.set()

    def __repr__(self) -> str:
        return f"Journal({self._path!r}, durability={self._durability!r})"


def check_journal(
    path: str | os.PathLike[str],
    *,
    campaign: str | None = None,
    replay: bool = False,
    owner: Owner | None = None,
) -> JournalCampaign:
    """Open the journal at ``path`` and close it again: what a run on it would find.

    Raises what opening it and starting a run on it would raise (:class:`JournalError` and
    its subclasses), without writing anything but a new journal's identity. For a caller
    that must not touch anything else (a results file) before the journal is known usable.
    """
    journal = Journal(path, campaign=campaign, replay=replay)
    db = journal._open_blocking()
    try:
        found = _campaign_of(db)
        if not replay and found.finished is None:
            _check_owner(db, journal.path, owner)
    finally:
        db.close()
        journal._owner.release()
    if found.finished is not None and not replay:
        raise finished_error(journal.path, found)
    return found


@dataclass(frozen=True, slots=True)
class InputDifference(Generic[T]):
    """How an input differs from what a journal recorded: the tag of the first message
    recorded otherwise and which of its :data:`FIELDS` differ, which fields differ in any
    message, how many recorded messages differ, out of how many compared (fields are
    empty when the journal does not know them)."""

    first: T
    fields: tuple[str, ...]
    all_fields: frozenset[str]
    differing: int
    compared: int


def compare_input(
    path: str | os.PathLike[str], messages: Iterable[tuple[Message, T]]
) -> InputDifference[T] | None:
    """Compare an input with the messages the journal at ``path`` recorded, position by
    position (``messages``: each message with a tag of the caller's, e.g. its CSV row).

    Reads only as far as the journal recorded: for a caller that must know, before it
    touches anything (a results file), that a run on this input would not be refused
    halfway for a mismatch. ``None``: every recorded message is the one given.
    """
    journal = Journal(path)
    db = journal._open_blocking()
    try:
        recorded = db.execute("SELECT idx, fingerprint FROM messages ORDER BY idx")
        current = recorded.fetchone()
        first: tuple[T, tuple[str, ...]] | None = None
        fields: set[str] = set()
        differing = compared = 0
        for index, (message, tag) in enumerate(messages):
            while current is not None and current[0] < index:
                current = recorded.fetchone()
            if current is None:
                break
            if current[0] != index:
                continue
            compared += 1
            if not same_message(current[1], message):
                differing += 1
                these = differing_fields(current[1], message)
                fields.update(these)
                if first is None:
                    first = (tag, these)
    finally:
        db.close()
        journal._owner.release()
    if first is None:
        return None
    return InputDifference(first[0], first[1], frozenset(fields), differing, compared)


def finished_error(path: str, campaign: JournalCampaign) -> JournalFinishedError:
    """The refusal of a run on a finished ``campaign``: how to start anew or replay it."""
    return JournalFinishedError(
        path,
        f"the journal {path} holds a finished {campaign.describe()}; nothing was sent. "
        "Use a new journal for a new campaign, or replay this one (Journal(..., replay=True))"
        " to emit its stored results again without sending",
        campaign,
    )


def _meta(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM asms_meta"))


def _set(db: sqlite3.Connection, **values: str) -> None:
    db.executemany("INSERT OR REPLACE INTO asms_meta VALUES (?, ?)", list(values.items()))


def _counts(db: sqlite3.Connection) -> dict[str, int]:
    return dict(db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state"))


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _campaign_of(db: sqlite3.Connection) -> JournalCampaign:
    meta = _meta(db)
    return JournalCampaign(
        id=meta.get("campaign_id", ""),
        name=meta.get("campaign_name"),
        created=_float(meta.get("created")) or 0.0,
        finished=_float(meta.get("finished")),
        counts=_counts(db),
    )


def _earlier_end(meta: dict[str, str]) -> float | None:
    """When the last run on the journal stopped: its own record, or its last sign of life."""
    stopped = _float(meta.get("stopped"))
    if stopped is not None:
        return stopped
    alive = _float(meta.get("alive"))
    if alive is None:
        return None  # a journal from before heartbeats: only its rows' times are known
    # It died without saying so, at most one interval after its last heartbeat.
    return alive + (_float(meta.get("alive_interval")) or HEARTBEAT_INTERVAL)


def _nothing_left(db: sqlite3.Connection) -> bool:
    """No message a rerun would send or look up."""
    open_rows = db.execute(
        "SELECT COUNT(*) FROM messages WHERE state IN ('pending', 'inflight', 'unknown')"
    ).fetchone()[0]
    if open_rows:
        return False
    codes = db.execute("SELECT DISTINCT error_code FROM messages WHERE state = 'rejected'")
    return not any(retried_on_resume(code) for (code,) in codes)


FOUND_OTHERS: Final = (
    "outcome unknown: the request was found by its climsgid, but not this recipient's line"
)
"""Why a found request's other recipients are ``unknown`` (the live run's words too)."""


def found_row(
    request_rows: int, apimsgid: str | None
) -> tuple[JournalState, str | None, int | None, str | None]:
    """What an unresolved message becomes when its request was found by its ``climsgid``:
    state, apimsgid, error code and description. ``request_rows`` counts all the request's
    messages, settled or not: the look-up names a message, not its recipient, so only a
    request of one message can be called accepted (``found_results``)."""
    if request_rows == 1:
        return "accepted", apimsgid, None, None
    return "unknown", None, int(OUTCOME_UNKNOWN), FOUND_OTHERS


def _settle_found(db: sqlite3.Connection, climsgid: str, apimsgid: str | None, now: float) -> None:
    rows = db.execute(
        "SELECT COUNT(*) FROM messages WHERE request_climsgid = ?", (climsgid,)
    ).fetchone()[0]
    state, found_id, code, description = found_row(rows, apimsgid)
    db.execute(
        "UPDATE messages SET state = ?, apimsgid = ?, error_code = ?, error_description = ?, "
        "updated = ? WHERE request_climsgid = ? AND state IN ('inflight', 'unknown')",
        (state, found_id, code, description, now, climsgid),
    )


def _batch(rows: Sequence[RowTuple]) -> _Commit:
    """A commit of ``rows`` alone."""
    batch = _Commit()
    batch.add(rows)
    return batch


def _commit(db: sqlite3.Connection, batch: _Commit) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        for write in batch.writes:
            if isinstance(write, list):
                db.executemany(_REPLACE_SQL, write)
            else:
                db.execute(*write)
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


def retried_on_resume(error_code: int | None) -> bool:
    """Whether a message rejected with ``error_code`` is sent again by a resumed run (the
    refusal may have passed: the account, the session, a throttle, the gateway itself)."""
    code = ErrorCode.coerce(error_code or 0)
    if not isinstance(code, ErrorCode):
        # A Platform wire's own code (the legacy one is stored where there is one): the One
        # API's rate limit (43) and "please retry" (19) pass as a throttle and 901 do.
        return category_of(one_api_error(code)) in _RETRY_ON_RESUME
    return code.category in _RETRY_ON_RESUME or code == ErrorCode.NO_CREDIT_LEFT


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
    rows: list[RowTuple] = [
        (it.index, it.fingerprint, state, climsgid, None, None, None, 1, now) for it in items
    ]
    if len(rows) < _ONE_STATEMENT:
        return rows
    tagged = _NewRows(rows)
    tagged.made, tagged.now, tagged.state, tagged.climsgid = len(rows), now, state, climsgid
    return tagged


def result_rows(
    results: Sequence[BulkResult], items: Sequence[Item], climsgid: str, clock: Clock
) -> list[RowTuple]:
    """Rows recording the outcome of a request; "not sent" puts a message back to pending."""
    now = clock.wall_time()
    if len(results) == len(items) >= _ONE_STATEMENT:
        # The common answer: every message accepted, in the order of the items.
        accepted = DeliveryState.ACCEPTED
        rows: list[RowTuple] = [
            (r.index, it.fingerprint, "accepted", climsgid, r.apimsgid, None, None, r.parts, now)
            for r, it in zip(results, items, strict=True)
            if r.state is accepted
            and r.index == it.index
            and r.error_code is None
            and r.error_description is None
        ]
        if len(rows) == len(results):
            accepted_rows = _Accepted(rows)
            accepted_rows.made, accepted_rows.now, accepted_rows.climsgid = len(rows), now, climsgid
            return accepted_rows
    fingerprints = {it.index: it.fingerprint for it in items}
    rows = []
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
    if len(rows) < _ONE_STATEMENT:
        return rows
    tagged = _Rows(rows)
    tagged.made, tagged.now = len(rows), now
    return tagged


def stored_result(row: JournalRow, message: Message) -> BulkResult | None:
    """What a resumed run yields for a message without sending it; None: send it."""
    state = row.state
    item = Item(row.index, message, row.fingerprint)
    if state == "accepted":
        return make_result(
            item, row.request_climsgid, row.apimsgid, None, None, row.parts, resumed=True
        )
    if state == "rejected":
        if retried_on_resume(row.error_code):
            return None
        code = ErrorCode.coerce(row.error_code or 0)
        return make_result(
            item, row.request_climsgid, None, code, row.error_description, row.parts, resumed=True
        )
    if state in UNRESOLVED:
        # The reconciliation could not settle it (the look-up failed): never resend blindly.
        reason = "outcome unknown: the gateway could not be asked about its request"
        if row.error_description == FOUND_OTHERS:
            reason = FOUND_OTHERS  # it was asked, and found the request without this line
        return make_result(
            item, row.request_climsgid, None, OUTCOME_UNKNOWN, reason, row.parts, resumed=True
        )
    return None


class Reconcilable(Protocol):
    """A journal whose unresolved requests :func:`reconcile` settles: the SQLite
    :class:`Journal`, or a campaign unit's journal in Redis."""

    async def unresolved(self) -> list[UnresolvedRequest]:
        """Requests that may have reached the gateway without their outcome being written."""
        ...

    async def resolve(self, climsgid: str, *, accepted: bool, apimsgid: str | None = None) -> None:
        """Settle an unresolved request: found (``accepted``) or unknown to the gateway."""
        ...


class JournalWriter(Protocol):
    """What a bulk run's requests write to: rows before a request leaves and with its
    outcome, and whether earlier rows exist."""

    async def write(self, rows: Sequence[RowTuple]) -> None:
        """Write rows; return once they are durable."""
        ...

    async def counts(self) -> dict[str, int]:
        """Messages per state."""
        ...


async def reconcile(
    journal: Reconcilable,
    query: Callable[[str], Awaitable[StatusInfo | None]],
    *,
    clock: Clock,
    grace: float,
    schedule: Sequence[float],
    concurrency: int,
    earlier_end: float | None = None,
) -> int:
    """Settle the requests an earlier run left without an outcome; return how many.

    First ``grace`` seconds pass, counted from when the earlier run stopped
    (``earlier_end``, see :meth:`Journal.start_run`) or from the request's latest write,
    whichever is later: the gateway may still be working on a request it got just before the
    stop. Then each request is looked up by its ``climsgid`` after each delay of
    ``schedule``, as a live run does: found → a one-message request is accepted, a larger
    one's messages are unknown (stop asking; see :meth:`Journal.resolve`); the *last*
    answer is "unknown" (``None``, the gateway's 104) → they go back to pending and will
    be sent; any other outcome of the last look-up (an error, a status that proves
    nothing) leaves them unresolved (reported as unknown, never resent blindly).
    """
    unresolved = await journal.unresolved()
    if not unresolved:
        return 0
    start = max(req.updated for req in unresolved)
    if earlier_end is not None:
        start = max(start, earlier_end)
    wait = start + grace - clock.wall_time()
    if wait > 0:
        await clock.sleep_until(clock.current_time() + wait)
    limiter = anyio.CapacityLimiter(concurrency)
    settled = 0

    async def settle(req: UnresolvedRequest) -> None:
        nonlocal settled
        missing = False
        for delay in schedule:
            await clock.sleep_until(clock.current_time() + delay)
            try:
                async with limiter:
                    status = await query(req.climsgid)
            except ASMSError:
                missing = False
                continue
            if status is not None:
                # The answer names a message, not its recipient (see Journal.resolve).
                await journal.resolve(req.climsgid, accepted=True, apimsgid=status.apimsgid)
                settled += 1
                return
            missing = True
        if missing:
            await journal.resolve(req.climsgid, accepted=False)
            settled += 1

    async with anyio.create_task_group() as tg:
        for req in unresolved:
            tg.start_soon(settle, req)
    return settled
