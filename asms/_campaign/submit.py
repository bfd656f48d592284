"""Submitting a campaign: its messages grouped into units and queued on the account's stream."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Final

import anyio

from .._bulk.grouping import Group, Grouper, Item, checked
from .._config import DEFAULT_REDIS_TIMEOUT, DEFAULT_REQUEST_LIMIT, SUBMIT_HOLD
from .._exceptions import CampaignMismatchError, RedisError, ValidationError
from .._models import Message
from .._redis.connection import connect
from .store import CampaignStore, Submission, check_campaign_name
from .units import encode_unit

__all__ = ["CampaignSubmission", "submit_campaign"]

# Units per round trip while staging, and per queueing step.
_BATCH: Final = 64


@dataclass(frozen=True, slots=True)
class CampaignSubmission:
    """What :func:`submit_campaign` stored: the campaign's ``messages`` in ``units`` (one
    request each), and how many of them this call added (0 when it was all there already)."""

    campaign: str
    messages: int
    units: int
    added_messages: int
    added_units: int


async def _each(messages: Iterable[Message] | AsyncIterable[Message]) -> AsyncIterator[Message]:
    if isinstance(messages, AsyncIterable):
        async for message in messages:
            yield message
    else:
        for message in messages:
            yield message


async def submit_campaign(
    redis_url: str,
    campaign: str,
    messages: Iterable[Message] | AsyncIterable[Message],
    *,
    account: str,
    request_limit: int = DEFAULT_REQUEST_LIMIT,
    timeout: float = DEFAULT_REDIS_TIMEOUT,  # noqa: ASYNC109 (seconds for each answer of Redis)
) -> CampaignSubmission:
    """Queue a campaign on Redis for the workers of ``account`` (:class:`CampaignWorker`).

    The messages are grouped as ``send_bulk`` groups them (consecutive messages with the same
    text, options and ``climsgid`` share a request of up to ``request_limit`` recipients);
    each group is one unit of the queue. Nothing is queued until the whole input is stored, so
    an input that fails half-way (a bad item) sends nothing. Submitting the same campaign again
    adds nothing twice: units already stored are kept, and an input that differs from them is
    refused with :class:`asms.CampaignMismatchError`. While one submission of a campaign is
    under way, another is refused with :class:`asms.CampaignError` (a submission that died
    lets go after ``SUBMIT_HOLD`` seconds); a campaign counts as submitted only once every unit
    is queued. An empty input is refused. Redis unreachable: :class:`asms.RedisError`.
    """
    name = check_campaign_name(campaign)
    if isinstance(request_limit, bool) or not isinstance(request_limit, int):
        raise ValidationError("request_limit", "must be an integer", request_limit)
    if not 1 <= request_limit <= DEFAULT_REQUEST_LIMIT:
        raise ValidationError(
            "request_limit", f"must be from 1 to {DEFAULT_REQUEST_LIMIT}", request_limit
        )
    async with connect(redis_url, command_timeout=timeout) as redis:
        store = CampaignStore(redis, account)
        await store.prepare()
        campaign_id = uuid.uuid4().hex
        submission = Submission(name, uuid.uuid4().hex, math.ceil(SUBMIT_HOLD * 1_000_000))
        try:
            grouper = Grouper(request_limit)
            batch: list[tuple[int, int, str, str]] = []
            first_index: dict[int, int] = {}
            units = total = 0

            async def stage() -> None:
                differs = await store.stage(name, campaign_id, submission, batch)
                if differs is not None:
                    raise CampaignMismatchError(
                        f"campaign {name!r} was submitted before with other messages: they "
                        f"differ in the request starting at input position {first_index[differs]} "
                        f"(unit {differs}); nothing of this input was queued",
                        first_index[differs],
                    )
                batch.clear()
                first_index.clear()

            def add(group: Group) -> None:
                nonlocal units
                payload, fp = encode_unit(group.items)
                batch.append((units, len(group.items), payload, fp))
                first_index[units] = group.items[0].index
                units += 1

            async for message in _each(messages):
                group = grouper.add(Item(total, checked(message, "submit_campaign()", total)))
                total += 1
                if group is not None:
                    add(group)
                    if len(batch) >= _BATCH:
                        await stage()
            last = grouper.flush()
            if last is not None:
                add(last)
            if batch:
                await stage()
            if not total:
                raise ValidationError("messages", "a campaign needs at least one message")
            known = await store.finish_submit(name, submission, total, units)
            if known is not None:
                raise CampaignMismatchError(
                    f"campaign {name!r} was submitted before with {known[0]} messages in "
                    f"{known[1]} units; this input has {total} in {units}: nothing of it was queued"
                )
            added_units = added_messages = 0
            for start in range(0, units, _BATCH):
                queued = await store.queue(
                    name, submission, list(range(start, min(units, start + _BATCH)))
                )
                added_units += queued[0]
                added_messages += queued[1]
            await store.complete(name, submission)
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(timeout):
                try:
                    await store.let_go(name, submission)
                except RedisError:
                    pass  # it lets go by itself after SUBMIT_HOLD
            raise
    return CampaignSubmission(name, total, units, added_messages, added_units)
