"""A unit: the messages of one request, as submitted, and its journal in Redis.

A unit's ``payload`` is what grouping made of the input (one text, its options and caller
``climsgid``, and up to 600 ``(index, number)`` pairs); its message rows are the rows of
the SQLite journal (:mod:`asms._bulk.journal`), one hash field each, so that both stores
walk one state machine (``pending`` → ``inflight`` → ``accepted`` / ``rejected`` /
``unknown``) and settle an interrupted request by one rule
(:func:`asms._bulk.journal.reconcile`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any, Final, cast

from .._bulk.grouping import Item
from .._bulk.journal import (
    UNRESOLVED,
    JournalRow,
    JournalState,
    RowTuple,
    UnresolvedRequest,
    found_row,
    retried_on_resume,
)
from .._exceptions import ASMSError
from .._models import Message, SendOptions
from .store import CampaignStore, Claim

__all__ = [
    "LeaseLostError",
    "UnitJournal",
    "decode_payload",
    "decode_rows",
    "encode_unit",
    "open_items",
    "row_field",
    "settled_counts",
]

_ROW: Final = "r"  # a message row's field: "r" and the message's index


class LeaseLostError(ASMSError):
    """The unit's lease was taken over by another worker: this one must not write or send."""


def row_field(index: int) -> str:
    """The unit hash field holding message ``index``'s row."""
    return f"{_ROW}{index}"


def _options(options: SendOptions) -> dict[str, Any]:
    return {
        f.name: getattr(options, f.name)
        for f in dataclasses.fields(options)
        if getattr(options, f.name) is not None
    }


def encode_unit(items: Sequence[Item]) -> tuple[str, str]:
    """A group's payload (JSON) and its fingerprint (what a resubmit must match)."""
    first = items[0].message
    payload = json.dumps(
        {
            "text": first.text,
            "options": _options(first.options),
            "climsgid": first.climsgid,
            "to": [[it.index, it.message.to] for it in items],
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return payload, hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def decode_payload(payload: str) -> list[Item]:
    """The messages of a unit, with their input positions."""
    data = json.loads(payload)
    options = SendOptions(**data["options"])
    text, climsgid = data["text"], data["climsgid"]
    return [Item(int(index), Message(to, text, options, climsgid)) for index, to in data["to"]]


def decode_rows(fields: dict[str, str], *, strict: bool = True) -> dict[int, JournalRow]:
    """The message rows among a unit hash's fields. A row that cannot be read raises
    ValueError, or, not ``strict``, reads as unknown."""
    rows: dict[int, JournalRow] = {}
    for name, value in fields.items():
        if name.startswith(_ROW) and name[1:].isdigit():
            index = int(name[1:])
            try:
                state, climsgid, apimsgid, code, description, parts, updated = json.loads(value)
            except (ValueError, TypeError):
                if strict:
                    raise ValueError(f"the row of message {index} cannot be read") from None
                state, climsgid, apimsgid, code, parts, updated = (
                    "unknown",
                    None,
                    None,
                    None,
                    1,
                    0.0,
                )
                description = "outcome unknown: its row in Redis cannot be read"
            rows[index] = JournalRow(
                index, b"", state, climsgid, apimsgid, code, description, parts, updated
            )
    return rows


def _encode_row(row: JournalRow) -> str:
    return json.dumps(
        [
            row.state,
            row.request_climsgid,
            row.apimsgid,
            row.error_code,
            row.error_description,
            row.parts,
            row.updated,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )


class UnitJournal:
    """The journal of the unit a worker holds: the rows the bulk pipeline writes (before a
    request leaves, and with its outcome) go to Redis under the unit's fence.

    A write the fence refuses raises :class:`LeaseLostError`: the request it comes before is
    not sent. ``lease_us`` is how far each write extends the lease.
    """

    def __init__(
        self,
        store: CampaignStore,
        claim: Claim,
        worker: str,
        lease_us: int,
        rows: dict[int, JournalRow],
    ) -> None:
        self._store = store
        self._claim = claim
        self._worker = worker
        self._lease_us = lease_us
        self.rows = rows
        self._deferred: dict[str, str] = {}
        # Rows written before this claim: the unit was tried before, so every request of this
        # claim gets an id of its own (see Requester._climsgid).
        self._earlier = bool(rows)

    @property
    def claim(self) -> Claim:
        """The claim this journal writes under."""
        return self._claim

    async def counts(self) -> dict[str, int]:
        """Messages per state of earlier claims (empty: the unit's first try)."""
        if not self._earlier:
            return {}
        counted: dict[str, int] = {}
        for row in self.rows.values():
            counted[row.state] = counted.get(row.state, 0) + 1
        return counted

    async def write(self, rows: Sequence[RowTuple]) -> None:
        """Write rows, fenced; :class:`LeaseLostError` when the unit is no longer ours.

        Rows written before a request leaves (``inflight``) reach Redis before this returns;
        outcomes wait for the next such write or for the unit's end (:meth:`take_deferred`),
        saving a round trip per request. Lost with a crash in between, an outcome is found
        again by looking its request up.
        """
        written = {r[0]: JournalRow(*cast(Any, r)) for r in rows}
        fields = {row_field(i): _encode_row(row) for i, row in written.items()}
        if all(row.state != "inflight" for row in written.values()):
            self._deferred.update(fields)
            self.rows.update(written)
            return
        pending, self._deferred = self._deferred, {}
        if not await self._store.write(self._claim, self._worker, self._lease_us, pending | fields):
            raise LeaseLostError("the unit's lease was taken over by another worker")
        self.rows.update(written)

    def take_deferred(self) -> dict[str, str]:
        """The rows not written yet, to write with the unit's settlement."""
        pending, self._deferred = self._deferred, {}
        return pending

    async def flush(self) -> None:
        """Write the rows not written yet (before the unit is handed back)."""
        pending = self.take_deferred()
        if pending and not await self._store.write(
            self._claim, self._worker, self._lease_us, pending
        ):
            raise LeaseLostError("the unit's lease was taken over by another worker")

    async def unresolved(self) -> list[UnresolvedRequest]:
        """Requests that may have reached the gateway without their outcome being written."""
        found: dict[str, list[JournalRow]] = {}
        for row in self.rows.values():
            if row.state in UNRESOLVED and row.request_climsgid:
                found.setdefault(row.request_climsgid, []).append(row)
        return [
            UnresolvedRequest(
                climsgid,
                len(rows),
                min(r.index for r in rows),
                max(r.updated for r in rows),
            )
            for climsgid, rows in sorted(found.items(), key=lambda kv: kv[1][0].index)
        ]

    async def resolve(self, climsgid: str, *, accepted: bool, apimsgid: str | None = None) -> None:
        """Settle an unresolved request as the SQLite journal does (:func:`found_row`)."""
        now = time.time()
        request_rows = [r for r in self.rows.values() if r.request_climsgid == climsgid]
        changed: list[RowTuple] = []
        for row in request_rows:
            if row.state not in UNRESOLVED:
                continue
            if accepted:
                state, found_id, code, description = found_row(len(request_rows), apimsgid)
                changed.append(
                    (row.index, b"", state, climsgid, found_id, code, description, row.parts, now)
                )
            else:
                changed.append((row.index, b"", "pending", None, None, None, None, row.parts, now))
        if changed:
            await self.write(changed)


def settled_counts(rows: dict[int, JournalRow], items: Sequence[Item]) -> tuple[int, int, int]:
    """Accepted, rejected and unknown messages of a unit by its rows (final ones only)."""
    accepted = rejected = unknown = 0
    for it in items:
        row = rows.get(it.index)
        state: JournalState | None = row.state if row is not None else None
        if state == "accepted":
            accepted += 1
        elif state == "rejected":
            rejected += 1
        elif state in UNRESOLVED:
            unknown += 1
    return accepted, rejected, unknown


def open_items(rows: dict[int, JournalRow], items: Sequence[Item]) -> list[Item]:
    """The unit's messages still to send: never tried, back to pending, or refused for a
    reason that may have passed (the rule of a resumed SQLite journal)."""
    todo: list[Item] = []
    for it in items:
        row = rows.get(it.index)
        if row is None or row.state == "pending":
            todo.append(it)
        elif row.state == "rejected" and retried_on_resume(row.error_code):
            todo.append(it)
    return todo
