"""Reading a campaign back: its counts per state (:func:`campaign_status`) and one result per
input message (:func:`campaign_results`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from .._bulk.grouping import Item
from .._bulk.journal import FOUND_OTHERS, JournalRow
from .._bulk.report import BulkResult, make_result
from .._clock import MICROSECONDS as _US
from .._config import DEFAULT_REDIS_TIMEOUT
from .._exceptions import CampaignError, CampaignNotFoundError
from .._models import NOT_SENT
from .._redis.connection import connect
from .._retry import OUTCOME_UNKNOWN
from .store import CampaignStore, check_campaign_name
from .units import decode_payload, decode_rows

__all__ = ["CampaignStatus", "campaign_results", "campaign_status"]

_STATES: Final = ("queued", "sending", "accepted", "rejected", "unknown", "dead")


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    """A campaign's messages per state, as Redis holds them.

    ``queued``: waiting for a worker; ``sending``: held by a worker, or handed back and
    waiting to be taken over; ``accepted``, ``rejected``, ``unknown`` (it may have gone out:
    never resent blindly), ``dead`` (in the dead-letter stream). ``rate`` is the achieved
    rate, settled messages per second between the first claim and the latest settlement
    (Redis's clock; None before any); ``workers`` the account's live workers; ``submitted``
    whether the whole input was stored.
    """

    campaign: str
    total: int
    queued: int
    sending: int
    accepted: int
    rejected: int
    unknown: int
    dead: int
    rate: float | None
    workers: int
    submitted: bool

    @property
    def settled(self) -> bool:
        """Every message has its final state (the input was all stored)."""
        return self.submitted and self.queued == 0 and self.sending == 0

    def as_dict(self) -> dict[str, object]:
        """The status as JSON-ready values (``asms campaign status --json``)."""
        return {
            "campaign": self.campaign,
            "total": self.total,
            "queued": self.queued,
            "sending": self.sending,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "unknown": self.unknown,
            "dead": self.dead,
            "rate": self.rate,
            "workers": self.workers,
            "submitted": self.submitted,
            "settled": self.settled,
        }


@asynccontextmanager
async def _opened(
    redis_url: str, name: str, account: str, answer_timeout: float
) -> AsyncIterator[tuple[CampaignStore, dict[str, str]]]:
    """The account's store and the campaign's hash, for the block;
    :class:`asms.CampaignNotFoundError` when there is no such campaign."""
    async with connect(redis_url, command_timeout=answer_timeout) as redis:
        store = CampaignStore(redis, account)
        meta = await store.campaign(name)
        if not meta:
            raise CampaignNotFoundError(name)
        yield store, meta


async def campaign_status(
    redis_url: str,
    campaign: str,
    *,
    account: str,
    timeout: float = DEFAULT_REDIS_TIMEOUT,  # noqa: ASYNC109 (seconds for each answer of Redis)
) -> CampaignStatus:
    """The counts of ``campaign`` (:class:`CampaignStatus`); :class:`asms.CampaignNotFoundError`
    when the account has no such campaign."""
    name = check_campaign_name(campaign)
    async with _opened(redis_url, name, account, timeout) as (store, meta):
        workers, _now = await store.live_workers()
    counts = {state: max(0, int(meta.get(state, 0))) for state in _STATES}
    settled = counts["accepted"] + counts["rejected"] + counts["unknown"] + counts["dead"]
    rate: float | None = None
    first, last = meta.get("first_sent"), meta.get("last_settled")
    if first is not None and last is not None and settled:
        span = (int(last) - int(first)) / _US
        rate = settled / span if span > 0 else None
    submitted = "complete" in meta
    total = int(meta["total"]) if "total" in meta else sum(counts.values())
    return CampaignStatus(name, total, rate=rate, workers=workers, submitted=submitted, **counts)


def _result_of(item: Item, row: JournalRow | None, unit_state: str) -> BulkResult:
    """A message's result from its row (the SQLite journal's rule, :func:`stored_result`)."""
    if row is None or row.state == "pending":
        reason = "not sent yet: " + ("queued" if unit_state in ("queued", "staged") else "held")
        if unit_state == "dead":
            reason = "not sent: dead-lettered"
        return make_result(item, None, None, NOT_SENT, reason)
    climsgid = row.request_climsgid
    if row.state == "accepted":
        return make_result(item, climsgid, row.apimsgid, None, None, row.parts)
    if row.state == "rejected":
        return make_result(
            item, climsgid, None, row.error_code or 0, row.error_description, row.parts
        )
    if str(row.state) == "dead":
        return make_result(item, None, None, NOT_SENT, row.error_description, row.parts)
    reason = row.error_description or "outcome unknown"
    if unit_state != "done" and row.state == "inflight":
        reason = "outcome unknown: a request is in flight"
    elif reason != FOUND_OTHERS and not reason.startswith("outcome unknown"):
        reason = f"outcome unknown: {reason}"
    return make_result(item, climsgid, None, OUTCOME_UNKNOWN, reason, row.parts)


async def campaign_results(
    redis_url: str,
    campaign: str,
    *,
    account: str,
    timeout: float = DEFAULT_REDIS_TIMEOUT,  # noqa: ASYNC109 (seconds for each answer of Redis)
) -> AsyncGenerator[BulkResult, None]:
    """One :class:`asms.BulkResult` per input message of ``campaign``, in input order: as
    settled, or ``not_sent`` ("not sent yet") / ``unknown`` while it is still being sent.
    :class:`asms.CampaignNotFoundError` when the account has no such campaign."""
    name = check_campaign_name(campaign)
    async with _opened(redis_url, name, account, timeout) as (store, meta):
        units = int(meta.get("units", 0))
        for number in range(units):
            fields = await store.unit(name, number)
            if not fields:
                continue
            rows = decode_rows(fields, strict=False)
            state = fields.get("state", "")
            try:
                items = decode_payload(fields.get("payload", ""))
            except (ValueError, TypeError, KeyError) as exc:
                raise CampaignError(
                    f"unit {number} of campaign {name!r} cannot be read ({type(exc).__name__}): "
                    "its messages have no results to export"
                ) from None
            for item in items:
                yield _result_of(item, rows.get(item.index), state)
