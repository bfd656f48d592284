"""A campaign's Redis side: the queue, the units and the counters of one account.

:class:`CampaignStore` is the one object the rest of :mod:`asms._campaign` asks; every state
change is one of the Lua scripts of :mod:`asms._redis.campaign_scripts`, run on an open
:class:`asms._redis.connection.RedisConnection`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .._config import MAX_CAMPAIGN_NAME
from .._exceptions import CampaignError, ValidationError
from .._redis import campaign_scripts as lua
from .._redis.connection import LuaScript, RedisConnection
from .._redis.keys import GROUP, AccountKeys

__all__ = ["Claim", "CampaignStore", "Entry", "Submission", "check_campaign_name"]

_NOT_IN_NAMES: Final = ":*?[]\\"
_MAX_NAME: Final = MAX_CAMPAIGN_NAME  # (the name is part of its keys)


def check_campaign_name(name: object) -> str:
    """``name`` if it can name a campaign, else :class:`asms.ValidationError`."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("campaign", "must be a non-empty name")
    if len(name) > _MAX_NAME:
        raise ValidationError("campaign", f"must be at most {_MAX_NAME} characters", name[:40])
    if not name.isprintable():
        raise ValidationError(
            "campaign", "must be printable: no tab, line break or other control character", name
        )
    if any(char in name for char in _NOT_IN_NAMES):
        # ':' separates the parts of a key (a name 'x:u:0' would be unit 0 of 'x'); the
        # others would make the name a pattern in a key scan.
        raise ValidationError("campaign", "must not contain any of : * ? [ ] \\", name[:40])
    return name


@dataclass(frozen=True, slots=True)
class Submission:
    """One submission of a campaign: while it stores and queues the units, it holds the
    campaign (for ``hold_us`` from each step), and another submission is refused."""

    campaign: str
    token: str
    hold_us: int

    @property
    def args(self) -> list[int | str]:
        """The scripts' first arguments."""
        return [self.token, self.hold_us]

    def held(self, reply: Any) -> Any:
        """``reply``, unless it says another submission holds the campaign."""
        if isinstance(reply, int) and reply == -2:
            raise CampaignError(
                f"campaign {self.campaign!r} is being submitted by another process right now: "
                "submit it again once that one has finished (or after it stopped for "
                f"{self.hold_us // 1_000_000} s)"
            )
        return reply


@dataclass(frozen=True, slots=True)
class Entry:
    """A stream entry: which unit of which campaign it asks to send."""

    id: str
    campaign: str
    unit: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A unit this worker now holds under ``attempt`` (the fencing token)."""

    entry: Entry
    attempt: int
    previous: str  # its state before the claim: "queued" the first time
    deliveries: int
    previous_owner: str
    fields: dict[str, str]  # the unit's hash as the claim left it

    @property
    def payload(self) -> str:
        """The unit's messages, as submitted."""
        return self.fields.get("payload", "")


class CampaignStore:
    """The Redis keys and scripts of one account's campaigns."""

    __slots__ = ("_scripts", "keys", "redis")

    def __init__(self, redis: RedisConnection, account: str) -> None:
        self.redis = redis
        self.keys = AccountKeys(account)
        self._scripts: dict[str, LuaScript] = {}

    def _script(self, name: str) -> LuaScript:
        script = self._scripts.get(name)
        if script is None:
            script = self.redis.script(name.lower(), getattr(lua, name))
            self._scripts[name] = script
        return script

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[int | str]) -> Any:
        return await self.redis.run(self._script(name), keys, args)

    # -- submitting ------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Make the queue and its consumer group (idempotent)."""
        await self.redis.create_group(self.keys.queue, GROUP)

    async def stage(
        self,
        campaign: str,
        campaign_id: str,
        submission: Submission,
        units: Sequence[tuple[int, int, str, str]],
    ) -> int | None:
        """Store ``units`` (number, messages, payload, fingerprint) not stored yet, unqueued;
        the first unit stored before with another fingerprint, if any."""
        keys = self.keys
        args: list[int | str] = [*submission.args, campaign, campaign_id]
        for number, size, payload, fp in units:
            args += [number, size, payload, fp]
        unit_keys = [keys.unit(campaign, u[0]) for u in units]
        reply = submission.held(
            await self._run("SUBMIT", [keys.campaign(campaign), keys.campaigns, *unit_keys], args)
        )
        differs = int(reply)
        return differs if differs >= 0 else None

    async def queue(
        self, campaign: str, submission: Submission, units: Sequence[int]
    ) -> tuple[int, int]:
        """Queue the staged units among ``units``: how many units and messages."""
        keys = self.keys
        unit_keys = [keys.unit(campaign, u) for u in units]
        reply = submission.held(
            await self._run(
                "QUEUE",
                [keys.campaign(campaign), keys.queue, *unit_keys],
                [*submission.args, campaign, *units],
            )
        )
        return int(reply[0]), int(reply[1])

    async def finish_submit(
        self, campaign: str, submission: Submission, messages: int, units: int
    ) -> tuple[int, int] | None:
        """Record the campaign's size; the size recorded before when it differs."""
        reply = submission.held(
            await self._run(
                "FINISH_SUBMIT",
                [self.keys.campaign(campaign)],
                [*submission.args, messages, units],
            )
        )
        if isinstance(reply, list | tuple):
            return int(reply[0]), int(reply[1])
        return None

    async def complete(self, campaign: str, submission: Submission) -> None:
        """Every unit is queued: the campaign is submitted."""
        submission.held(
            await self._run("COMPLETE", [self.keys.campaign(campaign)], submission.args)
        )

    async def let_go(self, campaign: str, submission: Submission) -> None:
        """A submission that stopped lets another take the campaign at once."""
        await self._run("LET_GO", [self.keys.campaign(campaign)], [submission.token])

    # -- taking units ----------------------------------------------------------------------

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """Entries never delivered yet, for ``consumer``."""
        found = await self.redis.read_group(
            self.keys.queue, GROUP, consumer, count=count, block_ms=block_ms
        )
        return [e for e in (_entry(i, f) for i, f in found) if e is not None]

    async def reclaim(
        self, consumer: str, min_idle_ms: int, count: int, start: str = "0-0"
    ) -> tuple[str, list[Entry]]:
        """Entries idle for ``min_idle_ms`` (their holder stopped beating), now ``consumer``'s,
        and the cursor to go on from ("0-0": the end)."""
        cursor, found, _deleted = await self.redis.autoclaim(
            self.keys.queue, GROUP, consumer, min_idle_ms=min_idle_ms, start=start, count=count
        )
        return cursor, [e for e in (_entry(i, f) for i, f in found) if e is not None]

    async def forget(self, entry_ids: Sequence[str]) -> None:
        """Ack and delete entries whose unit is settled or gone."""
        await self.redis.ack_delete(self.keys.queue, GROUP, entry_ids)

    async def claim(self, entry: Entry, worker: str, lease_us: int) -> Claim | str:
        """Take ``entry``'s unit: a :class:`Claim`, or why not ("gone", "done", "busy")."""
        keys = self.keys
        reply = await self._run(
            "CLAIM",
            [keys.unit(entry.campaign, entry.unit), keys.campaign(entry.campaign)],
            [worker, lease_us],
        )
        if reply[0] != "claimed":
            return str(reply[0])
        flat = [str(value) for value in reply[5]]
        return Claim(
            entry=entry,
            attempt=int(reply[1]),
            previous=str(reply[2]),
            deliveries=int(reply[3]),
            previous_owner=str(reply[4]),
            fields=dict(zip(flat[::2], flat[1::2], strict=True)),
        )

    # -- fenced writes ---------------------------------------------------------------------

    async def write(
        self, claim: Claim, worker: str, lease_us: int, rows: Mapping[str, str]
    ) -> bool:
        """Write message rows under ``claim``'s fence (extending the lease); False: lost."""
        entry = claim.entry
        args: list[int | str] = [worker, claim.attempt, lease_us]
        for name, value in rows.items():
            args += [name, value]
        return bool(await self._run("WRITE", [self.keys.unit(entry.campaign, entry.unit)], args))

    async def extend(self, claim: Claim, worker: str, lease_us: int) -> bool:
        """The owner's heartbeat for ``claim``; False: the unit is no longer ours."""
        entry = claim.entry
        keys = self.keys
        args: list[int | str] = [worker, claim.attempt, lease_us, GROUP, entry.id, worker]
        return bool(
            await self._run("EXTEND", [keys.unit(entry.campaign, entry.unit), keys.queue], args)
        )

    async def settle(
        self,
        claim: Claim,
        worker: str,
        counts: tuple[int, int, int],
        rows: Mapping[str, str],
    ) -> bool:
        """The unit is done (accepted, rejected, unknown messages): False, writing nothing,
        when it is no longer ours."""
        entry = claim.entry
        keys = self.keys
        args: list[int | str] = [worker, claim.attempt, GROUP, entry.id, *counts]
        for name, value in rows.items():
            args += [name, value]
        unit_keys = [keys.unit(entry.campaign, entry.unit), keys.campaign(entry.campaign)]
        return bool(await self._run("SETTLE", [*unit_keys, keys.queue], args))

    async def dead_letter(
        self,
        claim: Claim,
        worker: str,
        counts: tuple[int, int, int, int],
        reason: str,
        rows: Mapping[str, str],
    ) -> bool:
        """The unit goes to the dead-letter stream (accepted, rejected, unknown, dead
        messages); False when it is no longer ours."""
        entry = claim.entry
        keys = self.keys
        args: list[int | str] = [worker, claim.attempt, GROUP, entry.id, *counts]
        args += [reason, entry.campaign, entry.unit]
        for name, value in rows.items():
            args += [name, value]
        unit_keys = [keys.unit(entry.campaign, entry.unit), keys.campaign(entry.campaign)]
        return bool(await self._run("DEAD", [*unit_keys, keys.queue, keys.dead], args))

    async def release(self, claim: Claim, worker: str, idle_ms: int, *, untouched: bool) -> bool:
        """Hand ``claim``'s unit back for another worker to take at once."""
        entry = claim.entry
        keys = self.keys
        args: list[int | str] = [worker, claim.attempt, GROUP, entry.id, worker, idle_ms]
        args.append("1" if untouched else "0")
        unit_keys = [keys.unit(entry.campaign, entry.unit), keys.campaign(entry.campaign)]
        return bool(await self._run("RELEASE_UNIT", [*unit_keys, keys.queue], args))

    # -- workers and reading back ----------------------------------------------------------

    async def gateway(self, ours: str) -> str:
        """The gateway the account's workers send through (``ours`` if none is stored yet)."""
        return str(await self._run("GATEWAY", [self.keys.limit], [ours]))

    async def beat(self, worker: str, ttl_ms: int) -> None:
        """This worker is alive for ``ttl_ms`` more (0: it leaves)."""
        await self._run("BEAT", [self.keys.workers], [worker, ttl_ms])

    async def live_workers(self) -> tuple[int, int]:
        """Workers whose heartbeat is live, and Redis's time (µs)."""
        reply = await self._run("WORKERS", [self.keys.workers], [])
        return int(reply[0]), int(reply[1])

    async def campaign(self, name: str) -> dict[str, str]:
        """A campaign's hash (empty: no such campaign)."""
        return await self.redis.hash(self.keys.campaign(name))

    async def unit(self, campaign: str, unit: int) -> dict[str, str]:
        """A unit's hash (empty: no such unit)."""
        return await self.redis.hash(self.keys.unit(campaign, unit))


def _entry(entry_id: str, fields: Mapping[str, str]) -> Entry | None:
    try:
        return Entry(entry_id, fields["c"], int(fields["u"]))
    except (KeyError, ValueError):
        return None  # not one of ours: left alone
