"""The campaign worker: takes units from the account's queue, sends them, settles them.

Several workers, in one process or many, on one host or several, share the queue (a Redis
Stream read through one consumer group), the account's rate (:class:`asms.RedisRateLimiter`)
and the units' state. The promises of a single bulk run hold across them:

* **A unit is sent only by the holder of its lease, under its fence.** Claiming a unit raises
  its ``attempt``; every write of the holder (the journal row before a request leaves, the
  outcome after) is refused once another worker claimed it, and a refused write before a
  request means the request is not sent. The holder renews its lease every third of it.
* **Any doubt is reconciled before a resend.** A unit taken over from another worker, or
  found with requests whose outcome was not written, has each such request looked up by its
  ``climsgid`` (:func:`asms._bulk.journal.reconcile`, the SQLite journal's rule) first.
* **Every message ends settled**: accepted, rejected or unknown (never resent blindly); a
  unit that keeps failing goes to the dead-letter stream with its reason.

Redis down: the worker stops sending (no unit can be claimed, no slot booked), says so,
tries again with a growing wait and goes on when Redis is back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from .._bulk.grouping import Group, Item
from .._bulk.journal import reconcile
from .._bulk.report import BulkResult, Tally
from .._bulk.requests import Requester, request_limit
from .._clock import MICROSECONDS as _US
from .._clock import Clock, SystemClock
from .._config import (
    DEFAULT_LEASE,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_RECONCILE_GRACE,
    DEFAULT_REDIS_TIMEOUT,
    DEFAULT_WORKER_CONCURRENCY,
    PLATFORM_WIRES,
    WORKER_READ_BLOCK_MS,
    WORKER_REAP_INTERVAL,
    WORKER_RETRY_FIRST,
    WORKER_RETRY_MAX,
)
from .._exceptions import ASMSError, GatewayError, RedisError, TransportError, ValidationError
from .._limiter import Limiter, RateLimiterStatistics
from .._models import Message, SendResult, StatusInfo
from .._redis.connection import connect, redis_location
from .._redis.ratelimit import RedisRateLimiter, account_rate
from .metrics import WorkerMetrics
from .store import CampaignStore, Claim, Entry
from .units import (
    LeaseLostError,
    UnitJournal,
    decode_payload,
    decode_rows,
    open_items,
    row_field,
    settled_counts,
)

if TYPE_CHECKING:
    from .._client import AsyncClient

__all__ = ["CampaignWorker"]

log = logging.getLogger("asms.worker")


@dataclass(eq=False)
class _Held:
    """A unit this worker holds."""

    claim: Claim
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    requesters: list[Requester] = field(default_factory=list)
    lost: bool = False
    ending: bool = False  # being settled or handed back: no more heartbeats


class _MeteredSender:
    """The client as the bulk pipeline sees it, with each request timed for the metrics."""

    def __init__(self, client: AsyncClient, metrics: WorkerMetrics, clock: Clock) -> None:
        self._client = client
        self._metrics = metrics
        self._clock = clock
        self._retry = client._retry
        self.limiter = client.limiter
        self.max_recipients = client.max_recipients
        self.journal_owner = client.journal_owner

    async def send_request(
        self, messages: Sequence[Message], *, wait_throttled: bool = True
    ) -> Sequence[SendResult]:
        metrics = self._metrics
        metrics.request_started()
        started = self._clock.current_time()
        try:
            return await self._client.send_request(messages, wait_throttled=wait_throttled)
        finally:
            metrics.request_finished(self._clock.current_time() - started)

    async def query_climsgid(self, climsgid: str) -> StatusInfo | None:
        return await self._client.query_climsgid(climsgid)

    def _unused_climsgid(self, climsgid: str) -> str:
        return self._client._unused_climsgid(climsgid)

    def _reserve_climsgid(self, climsgid: str) -> None:
        self._client._reserve_climsgid(climsgid)


class _MeteredLimiter:
    """A limiter whose waits the metrics see."""

    def __init__(self, limiter: Limiter, metrics: WorkerMetrics) -> None:
        self._limiter = limiter
        self._metrics = metrics

    @property
    def rate(self) -> float:
        return self._limiter.rate

    @property
    def clock(self) -> Clock:
        return self._limiter.clock

    async def acquire(self, tokens: int = 1) -> float:
        clock = self._limiter.clock
        started = clock.current_time()
        try:
            return await self._limiter.acquire(tokens)
        finally:
            self._metrics.observe_limiter_wait(clock.current_time() - started)

    def pause_until(self, deadline: float) -> None:
        self._limiter.pause_until(deadline)

    def pause_for(self, seconds: float) -> None:
        self._limiter.pause_for(seconds)

    def statistics(self) -> RateLimiterStatistics:
        return self._limiter.statistics()


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(name, "must be a positive integer", value)
    return value


def _positive_seconds(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(name, "must be a positive number of seconds", value)
    return float(value)


class CampaignWorker:
    """Sends the campaigns queued for ``account`` (:func:`asms.submit_campaign`) through
    ``client``, sharing the account's rate with every other worker through Redis.

    ``async with anyio.create_task_group() as tg: tg.start_soon(worker.run)`` runs it inside a
    service; :meth:`stop` makes it stop taking units, finish or hand back what it holds, and
    return. ``rate`` (recipients per second, the account's) and ``burst`` are shared by all
    processes of the account, as :class:`asms.RedisRateLimiter` shares them; ``None`` takes
    the rate stored in Redis. ``concurrency`` units are sent at once. ``lease`` (seconds) is
    how long a unit stays this worker's without a heartbeat; ``max_deliveries`` how often a
    unit may be taken or tried before it goes to the dead-letter stream (a try that could
    not reach the gateway at all is not counted: the unit waits for it). A unit taken over
    from another worker has its requests looked up ``reconcile_grace`` seconds after their
    latest write at the earliest (the gateway may show a message late). ``metrics`` (a
    :class:`asms.WorkerMetrics`) counts what the worker does; a new one by default.

    The client's own retries are turned off for the requests the worker sends (it resends
    only under its lease, after reconciling); the client's limiter, if it has one, is waited
    for as well.
    """

    def __init__(
        self,
        client: AsyncClient,
        redis_url: str,
        *,
        account: str,
        rate: float | None = None,
        burst: int = 1,
        concurrency: int = DEFAULT_WORKER_CONCURRENCY,
        lease: float = DEFAULT_LEASE,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        reconcile_grace: float = DEFAULT_RECONCILE_GRACE,
        name: str | None = None,
        metrics: WorkerMetrics | None = None,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
    ) -> None:
        self._location = redis_location(redis_url)
        if rate is not None:
            _positive_seconds("rate", rate)  # a positive finite number, as a rate must be
        if client.wire in PLATFORM_WIRES:
            # A unit taken over after its worker died must be looked up by climsgid before
            # anything is resent; the Platform has no such lookup.
            raise ValidationError(
                "client",
                f"campaign workers need a legacy wire (http, soap, soap-rpc): the {client.wire}"
                " wire cannot look a message up by climsgid, which taking a unit over needs",
            )
        self._client = client
        self._url = redis_url
        self._account = account
        self._rate = rate
        self._burst = _positive_int("burst", burst)
        self._concurrency = _positive_int("concurrency", concurrency)
        self._lease = _positive_seconds("lease", lease)
        self._max_deliveries = _positive_int("max_deliveries", max_deliveries)
        if (
            isinstance(reconcile_grace, bool)
            or not isinstance(reconcile_grace, int | float)
            or not 0 <= reconcile_grace < math.inf
        ):
            raise ValidationError("reconcile_grace", "must be a number of seconds, at least 0")
        self._grace = float(reconcile_grace)
        self._timeout = _positive_seconds("timeout", timeout)
        if name is not None and (not isinstance(name, str) or not name.isprintable() or not name):
            raise ValidationError("name", "must be a non-empty printable string")
        self.name: str = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.metrics: WorkerMetrics = metrics if metrics is not None else WorkerMetrics()
        self._clock: Clock = SystemClock()
        self._stopping = False
        self._stop_event: anyio.Event | None = None
        self._held: dict[str, _Held] = {}
        self._free = self._concurrency
        self._slot_freed: anyio.Event | None = None
        self._refusal: ASMSError | None = None
        self._tally = Tally()
        self._sender: AsyncClient | None = None
        self._running = False
        self._ran = False

    def __repr__(self) -> str:
        return f"CampaignWorker({self._location!r}, name={self.name!r})"

    @property
    def lease(self) -> float:
        """Seconds a unit stays this worker's without a heartbeat."""
        return self._lease

    def _stopped(self) -> bool:
        # A method, not the attribute: it changes while a loop awaits.
        return self._stopping

    def stop(self) -> None:
        """Stop taking units; the ones held are finished (the requests in flight) or handed
        back, then :meth:`run` returns. Idempotent."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        for held in list(self._held.values()):
            for requester in held.requesters:
                requester.stopping("not sent: the worker was stopped")

    # -- running ---------------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Send until :meth:`stop`; Redis down is waited out (with a warning). An account the
        gateway refuses, or an account rate changed in Redis under the worker (the
        ``ValidationError`` of ``rate``), ends the run with that error once the units are
        handed back."""
        if self._running:
            raise RuntimeError("this CampaignWorker is already running")
        if self._ran:
            raise RuntimeError("a CampaignWorker runs once: make a new one to run again")
        self._running = self._ran = True
        self._stop_event = anyio.Event()
        if self._stopped():
            self._stop_event.set()
        started = False
        wait = WORKER_RETRY_FIRST
        try:
            while not self._stopped():
                try:
                    async with self._session() as store_and_limiter:
                        if wait > WORKER_RETRY_FIRST:
                            # Said after any failure, the first connection's too: whoever read
                            # "unreachable" learns that the worker got through.
                            log.warning("Redis at %s is back: sending again", self._location)
                        if not started:
                            started = True
                            task_status.started()
                        wait = WORKER_RETRY_FIRST
                        await self._work(*store_and_limiter)
                except (RedisError, BaseExceptionGroup) as raised:
                    exc = _redis_failure(raised)
                    if exc is None:
                        raise
                    if self._stopped():
                        break
                    log.warning("%s; the worker sends nothing, retrying in %.1fs", exc, wait)
                    with anyio.move_on_after(wait):
                        await self._stop_event.wait()
                    wait = min(WORKER_RETRY_MAX, wait * 2)
            if not started:
                task_status.started()
        finally:
            self._running = False
        if self._refusal is not None:
            raise self._refusal

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[CampaignStore, Limiter]]:
        async with connect(self._url, command_timeout=self._timeout) as redis:
            store = CampaignStore(redis, self._account)
            await store.prepare()
            rate, burst = self._rate, self._burst
            if rate is None:
                stored = await account_rate(self._url, self._account, timeout=self._timeout)
                if stored is None:
                    raise ValidationError(
                        "rate", "no rate is stored for the account in Redis: give one"
                    )
                rate, burst = stored
                # Kept for the next connection: a Redis that comes back empty gets it again.
                self._rate, self._burst = stored
            await self._check_gateway(store)
            shared = RedisRateLimiter(
                self._url, self._account, rate=rate, burst=burst, timeout=self._timeout
            )
            async with shared as limiter:
                yield store, limiter

    async def _check_gateway(self, store: CampaignStore) -> None:
        # A unit taken over is looked up on the gateway of the worker taking it: a worker
        # sending elsewhere would find nothing and send it again. One gateway per account.
        ours = self._client.journal_owner.get("gateway", "")
        stored = await store.gateway(ours)
        if stored != ours:
            raise ValidationError(
                "base_url",
                f"the account's workers send through {stored}; this one through {ours}: every "
                "worker of an account must use one gateway (a unit taken over is looked up where "
                "it was sent)",
            )

    async def _work(self, store: CampaignStore, limiter: Limiter) -> None:
        metered = _MeteredLimiter(limiter, self.metrics)
        try:
            async with anyio.create_task_group() as units:
                async with anyio.create_task_group() as loops:
                    loops.start_soon(self._read, store, metered, units)
                    loops.start_soon(self._reap, store, metered, units)
                    loops.start_soon(self._beat, store)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout):
                try:
                    await store.beat(self.name, 0)
                except RedisError:
                    pass

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the worker is stopped meanwhile."""
        assert self._stop_event is not None
        with anyio.move_on_after(seconds):
            await self._stop_event.wait()

    # -- taking units ----------------------------------------------------------------------

    async def _wait_free(self) -> int:
        while self._free <= 0:
            self._slot_freed = anyio.Event()
            await self._slot_freed.wait()
        return self._free

    def _take(self, store: CampaignStore, limiter: Limiter, units: Any, entry: Entry) -> None:
        self._free -= 1
        units.start_soon(self._handle, store, limiter, entry)

    async def _read(self, store: CampaignStore, limiter: Limiter, units: Any) -> None:
        while not self._stopped():
            free = await self._wait_free()
            if self._stopped():
                return
            entries = await store.read(self.name, free, WORKER_READ_BLOCK_MS)
            for entry in entries:
                self._take(store, limiter, units, entry)

    async def _reap(self, store: CampaignStore, limiter: Limiter, units: Any) -> None:
        idle_ms = math.ceil(self._lease * 1000)
        while not self._stopped():
            await self._pause(WORKER_REAP_INTERVAL)
            cursor = "0-0"
            while not self._stopped() and self._free > 0:
                cursor, entries = await store.reclaim(self.name, idle_ms, self._free, cursor)
                for entry in entries:
                    if entry.id in self._held:
                        continue  # ours already (an idle entry we still work on)
                    self._take(store, limiter, units, entry)
                if cursor == "0-0":
                    break

    async def _beat(self, store: CampaignStore) -> None:
        # Beats until the worker stopped and holds nothing more: a unit being finished after
        # stop() keeps its lease.
        lease_us = math.ceil(self._lease * _US)
        ttl_ms = math.ceil(self._lease * 1000)
        every = self._lease / 3
        while not (self._stopped() and not self._held):
            await store.beat(self.name, ttl_ms)
            for held in list(self._held.values()):
                if held.lost or held.ending:
                    continue
                if not await store.extend(held.claim, self.name, lease_us):
                    self._lose(held)
            due = self._clock.current_time() + every
            while not (self._stopped() and not self._held):
                left = due - self._clock.current_time()
                if left <= 0:
                    break
                await self._pause(min(left, 0.1) if self._stopped() else left)

    def _lose(self, held: _Held) -> None:
        held.lost = True
        log.warning(
            "unit %d of campaign %r was taken over by another worker: this one lets it go",
            held.claim.entry.unit,
            held.claim.entry.campaign,
        )
        held.scope.cancel()

    # -- one unit --------------------------------------------------------------------------

    async def _handle(self, store: CampaignStore, limiter: Limiter, entry: Entry) -> None:
        held: _Held | None = None
        try:
            lease_us = math.ceil(self._lease * _US)
            claimed = await store.claim(entry, self.name, lease_us)
            if isinstance(claimed, str):
                if claimed in ("gone", "done"):
                    await store.forget([entry.id])
                return  # "busy": another worker's lease is live
            held = _Held(claimed)
            self._held[entry.id] = held
            with held.scope:
                await self._process(store, limiter, held, lease_us)
        except LeaseLostError:
            if held is not None and not held.lost:
                self._lose(held)
        except RedisError as exc:
            # The unit stays as Redis last saw it; its lease runs out and a worker takes it
            # over (reconciling first). The loops meet the same failure and wait for Redis.
            log.warning("unit %d of campaign %r left: %s", entry.unit, entry.campaign, exc)
        except Exception:
            # A unit this worker cannot handle must not take the worker down: it goes back,
            # and after max_deliveries takes it goes to the dead-letter stream.
            log.exception("unit %d of campaign %r failed", entry.unit, entry.campaign)
            if held is not None and not held.lost:
                await self._release(store, held.claim, None)
        finally:
            if held is not None:
                self._held.pop(entry.id, None)
            self._free += 1
            if self._slot_freed is not None:
                self._slot_freed.set()

    async def _process(
        self, store: CampaignStore, limiter: Limiter, held: _Held, lease_us: int
    ) -> None:
        claim = held.claim
        try:
            items = decode_payload(claim.payload)
            # A row that cannot be read may stand for a request that left: never resend.
            rows = decode_rows(claim.fields)
        except (ValueError, TypeError, KeyError) as exc:
            await self._unreadable(store, claim, exc)
            return
        journal = UnitJournal(store, claim, self.name, lease_us, rows)
        if claim.previous != "queued":
            self.metrics.unit_reclaimed()
            log.warning(
                "unit %d of campaign %r taken over (attempt %d; held by %s before): its "
                "requests in doubt are looked up before anything is resent",
                claim.entry.unit,
                claim.entry.campaign,
                claim.attempt,
                claim.previous_owner or "nobody",
            )
        sender = _MeteredSender(self._sending_client(), self.metrics, self._clock)
        # Whether the last look-ups left requests in doubt because the gateway could not be
        # reached: they are looked up again once it can be, not settled as unknown.
        unanswered = False
        if await journal.unresolved():
            # Any doubt means every earlier request is looked up before anything is resent.
            unanswered = await self._reconcile(journal, sender, self._grace)
        tries = claim.deliveries
        reason = ""
        outages = 0  # waits in a row for an unreachable gateway (not counted as tries)
        while True:
            todo = open_items(journal.rows, items)
            held.ending = True
            if not todo and not (unanswered and await journal.unresolved()):
                await self._settle(store, claim, journal, items)
                return
            if self._stopped() or self._refusal is not None:
                await self._release(store, claim, journal)
                return
            if not todo:
                held.ending = False
                outages += 1
                what = "requests in doubt could not be looked up, the gateway could not be reached"
                await self._wait_for_gateway(claim, outages, what, "looking again in %.1f s")
                if not self._stopped():
                    unanswered = await self._reconcile(journal, sender, 0.0)
                continue
            if tries > self._max_deliveries:
                reason = reason or f"taken {claim.deliveries} times without being settled"
                await self._dead(store, claim, journal, items, f"{tries - 1} tries: {reason}")
                return
            held.ending = False
            try:
                results, unreachable = await self._send(sender, limiter, held, journal, todo)
            except ValidationError as exc:
                if exc.field != "rate":
                    raise
                # The account's rate was changed in Redis under this worker (replace_rate):
                # it can book no slot at the rate it was given. Not the unit's fault: what is
                # left of it goes back untried, and the worker stops, as for a refused account.
                self._halt(exc, "the account's rate changed")
                continue
            if await journal.unresolved():
                unanswered = await self._reconcile(journal, sender, 0.0)
            if not open_items(journal.rows, items):
                continue
            if self._stopped() or self._refusal is not None:
                continue
            if unreachable:
                # Nothing left: the gateway is down or not reachable from here, which says
                # nothing against the unit. It waits for the gateway, its tries untouched,
                # instead of reaching the dead-letter stream in an outage of seconds.
                outages += 1
                what = f"the gateway could not be reached ({_reason(results)})"
                again = "trying again in %.1f s (not counted as a try)"
                await self._wait_for_gateway(claim, outages, what, again)
                continue
            outages = 0
            tries += 1
            reason = _reason(results)
            wait = min(WORKER_RETRY_MAX, WORKER_RETRY_FIRST * 2 ** max(0, tries - 2))
            await self._pause(wait)

    async def _wait_for_gateway(self, claim: Claim, outages: int, what: str, again: str) -> None:
        """The growing pause before a unit's next look at a gateway it could not reach (the
        ``outages``-th in a row), said in the log: ``what`` happened, when it is tried
        ``again`` (a format of the seconds)."""
        wait = min(WORKER_RETRY_MAX, WORKER_RETRY_FIRST * 2 ** (outages - 1))
        unit, campaign = claim.entry.unit, claim.entry.campaign
        log.warning("unit %d of campaign %r: %s; " + again, unit, campaign, what, wait)
        await self._pause(wait)

    def _sending_client(self) -> AsyncClient:
        # The worker resends only under its lease, after reconciling: the client must not
        # resend on its own (a resend by a worker frozen past its lease would go out twice).
        if self._sender is None:
            retry = dataclasses.replace(self._client._retry, attempts=1)
            self._sender = self._client.with_options(retry=retry)
        return self._sender

    async def _send(
        self,
        sender: _MeteredSender,
        limiter: Limiter,
        held: _Held,
        journal: UnitJournal,
        todo: list[Item],
    ) -> tuple[list[BulkResult], bool]:
        """The results of one try at ``todo``, and whether every request of it never left
        because the gateway could not be reached."""
        requester = Requester(
            sender,
            limiter=limiter,
            journal=journal,
            clock=self._clock,
            tally=self._tally,
            refused=self._refused,
            # A caller's climsgid may have gone out in another campaign or process, which this
            # client cannot know: a look-up of it could find that message and call this one
            # accepted. Each request carries an id derived from it (its first 16 characters).
            derive_ids=True,
        )
        held.requesters.append(requester)
        if self._stopped():
            requester.stopping("not sent: the worker was stopped")
        results: list[BulkResult] = []
        try:
            size = request_limit(sender)
            for start in range(0, len(todo), size):
                got = await requester.process(Group(todo[start : start + size]))
                results.extend(got)
                self.metrics.count_results(got)
        finally:
            held.requesters.remove(requester)
        return results, 0 < requester.tried == requester.unreachable

    async def _reconcile(self, journal: UnitJournal, sender: _MeteredSender, grace: float) -> bool:
        """Look up the unit's requests in doubt; whether a look-up found the gateway
        unreachable (a request it left in doubt may be settled once it is back)."""
        retry = self._client._retry
        unreachable = False

        async def lookup(climsgid: str) -> StatusInfo | None:
            nonlocal unreachable
            try:
                return await sender.query_climsgid(climsgid)
            except TransportError as exc:
                if exc.sent is False:
                    unreachable = True
                raise

        settled = await reconcile(
            journal,
            lookup,
            clock=self._clock,
            grace=grace,
            schedule=retry.reconcile_schedule,
            concurrency=4,
        )
        if settled:
            self.metrics.unit_reconciled()
        return unreachable

    def _refused(self, error: GatewayError, reason: str) -> None:
        # The gateway refused the account (a wrong password, no credit): every other request
        # would be refused too.
        self._halt(error, "the gateway refused the account")

    def _halt(self, error: ASMSError, why: str) -> None:
        """Stop for ``error``, which every unit would meet: the units go back unsettled, and
        run() raises it."""
        if self._refusal is None:
            self._refusal = error
            log.error("%s: %s; the worker stops", why, error)
        self.stop()

    # -- ending a unit ---------------------------------------------------------------------

    async def _settle(
        self, store: CampaignStore, claim: Claim, journal: UnitJournal, items: list[Item]
    ) -> None:
        counts = settled_counts(journal.rows, items)
        with anyio.CancelScope(shield=True):
            if not await store.settle(claim, self.name, counts, journal.take_deferred()):
                raise LeaseLostError("the unit's lease was taken over by another worker")
        self.metrics.unit_settled()

    async def _dead(
        self,
        store: CampaignStore,
        claim: Claim,
        journal: UnitJournal,
        items: list[Item],
        reason: str,
    ) -> None:
        accepted, rejected, unknown = settled_counts(journal.rows, items)
        dead = len(open_items(journal.rows, items))
        why = f"dead-lettered after {reason}"
        log.warning("unit %d of campaign %r %s", claim.entry.unit, claim.entry.campaign, why)
        # A dead message keeps a row saying why (its results export shows it).
        now = self._clock.wall_time()
        rows = journal.take_deferred()
        for it in open_items(journal.rows, items):
            old = journal.rows.get(it.index)
            code = None if old is None else old.error_code
            rows[row_field(it.index)] = _dead_row(code, why, now)
        with anyio.CancelScope(shield=True):
            done = await store.dead_letter(
                claim,
                self.name,
                (accepted, rejected - _rejected_open(journal, items), unknown, dead),
                why,
                rows,
            )
            if not done:
                raise LeaseLostError("the unit's lease was taken over by another worker")
        self.metrics.unit_dead()

    async def _unreadable(self, store: CampaignStore, claim: Claim, exc: Exception) -> None:
        # Not something a retry can mend: its messages are dead at once.
        fields = await store.unit(claim.entry.campaign, claim.entry.unit)
        size = int(fields.get("n", 0))
        why = f"its messages cannot be read: {type(exc).__name__}: {exc}"
        log.error("unit %d of campaign %r %s", claim.entry.unit, claim.entry.campaign, why)
        with anyio.CancelScope(shield=True):
            await store.dead_letter(claim, self.name, (0, 0, 0, size), why, {})
        self.metrics.unit_dead()

    async def _release(
        self, store: CampaignStore, claim: Claim, journal: UnitJournal | None
    ) -> None:
        untouched = journal is not None and all(
            row.state == "pending" for row in journal.rows.values()
        )
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout):
            try:
                if journal is not None:
                    await journal.flush()
                await store.release(
                    claim, self.name, math.ceil(self._lease * 1000), untouched=untouched
                )
            except RedisError:
                pass  # the lease runs out instead, and another worker takes the unit then


def _redis_failure(raised: BaseException) -> RedisError | None:
    """The Redis failure ``raised`` comes down to (alone or in task groups); None when it
    holds anything else."""
    if isinstance(raised, RedisError):
        return raised
    if isinstance(raised, BaseExceptionGroup):
        found = [_redis_failure(e) for e in raised.exceptions]
        if found and all(f is not None for f in found):
            return found[0]
    return None


def _reason(results: Sequence[BulkResult]) -> str:
    for result in results:
        if result.error_description:
            # asms's own codes (unknown, not sent) are negative: the description says it all.
            code = (
                "" if (result.error_code or 0) <= 0 else f"ERR {int(result.error_code or 0):03d}: "
            )
            return f"{code}{result.error_description}"
    return "no result"


def _rejected_open(journal: UnitJournal, items: list[Item]) -> int:
    # Rejected messages that count as open (the refusal may pass) are counted as dead.
    return sum(
        1
        for it in open_items(journal.rows, items)
        if (row := journal.rows.get(it.index)) is not None and row.state == "rejected"
    )


def _dead_row(code: int | None, why: str, now: float) -> str:
    return json.dumps(["dead", None, None, code, why, 1, now], separators=(",", ":"))
