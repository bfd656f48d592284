"""Bulk sending: a rate-limited, journaled worker pool over an (async) iterable of messages.

    async with client.send_bulk(messages, rate=100.0) as run:
        async for result in run:
            ...
    print(run.report())

Pipeline (memory bounded, backpressure end to end)::

    input ─▶ producer ─────────────▶ work stream ─▶ N workers ─────────────▶ results ─▶ you
             (journal look-up,        (bounded)     (rate tokens, journal,    (bounded)
              grouping)                              sender.send_request)

Every message read from the input gets exactly one result. Accounting does not rely on
the happy path: a group handed towards the workers stays registered until its results are
settled, and whatever is left when the pipeline ends (stopped, cancelled, failed) is
settled then: "not sent", or "outcome unknown" if its request may have left.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Final, Unpack

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from .._clock import Clock, SystemClock
from .._config import (
    DEFAULT_BULK_BURST,
    DEFAULT_BULK_RATE,
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_LINGER,
    DEFAULT_RECONCILE_GRACE,
    RetryPolicy,
)
from .._exceptions import GatewayError, ValidationError
from .._models import OUTCOME_UNKNOWN, Message
from .grouping import (
    Group,
    Grouper,
    InputBuffer,
    InputFailed,
    Item,
    ResultQueue,
    WorkQueue,
    checked,
    read_ahead,
)
from .journal import (
    UNRESOLVED,
    Journal,
    JournalMismatchError,
    JournalRow,
    differing_stored,
    reconcile,
    same_stored,
    stored_fingerprint,
    stored_result,
)
from .options import RUN_KEYWORDS, RunOptions, check_keywords, check_values
from .ratelimit import Limiter, RateLimiter
from .report import BulkReport, BulkResult, BulkStatistics, Tally, make_result
from .requests import (
    CANCELLED_IN_FLIGHT,
    IdLedger,
    Requester,
    RequestSender,
    default_concurrency,
    owner_of,
    request_limit,
    sender_limiter,
)
from .settle import CallbackSettlement

__all__ = ["BulkRun", "RequestSender", "send_bulk"]

_PREFETCH: Final = 1024  # journal rows read per look-up
_CHECKPOINT_EVERY: Final = 64  # results taken without a cancellation check at most
_INPUT_AHEAD: Final = 256  # messages read ahead from an async input
_RESUMED_DELIVERY: Final = 256  # results read back from the journal, delivered together


def send_bulk(
    sender: RequestSender,
    messages: Iterable[Message] | AsyncIterable[Message],
    **options: Unpack[RunOptions],
) -> BulkRun:
    """Send ``messages`` at ``rate`` recipients per second; see :class:`BulkRun`.

    The keywords are :class:`~asms._bulk.options.RunOptions`: those of
    ``AsyncClient.send_bulk`` and ``reconcile_schedule``.
    """
    return BulkRun(sender, messages, **options)


#: Why a resumed run on a Platform wire still reports a message unknown.
_NO_CALLBACK_YET: Final = (
    "outcome unknown: the platform cannot be asked whether it took the message, and no"
    " status callback for it is recorded in the journal's file (asms callbacks --journal)"
)


class BulkRun:
    """A bulk send: an async context manager, and inside it an async iterator of results.

    Iterate inside ``async with`` to receive one :class:`BulkResult` per input message, in
    completion order. Leaving the block early (``break``, an exception, cancellation) stops
    the run: no new request starts, requests in flight get up to ``drain_timeout`` to finish,
    and the messages left are counted in :meth:`report` as not sent (or of unknown outcome).
    :meth:`stop` does the same while you keep iterating, and then those results are yielded.

    A refusal of the account (an authentication error, or ERR 301 no credit) stops sending
    too, but the rest of the input is still read: every input message gets its result (the
    ones tried rejected with the gateway's code, the others ``not_sent`` naming the refusal),
    and then the refusal is raised (:class:`AuthenticationError`, :class:`CreditError`), as
    any failure of the run is raised after the results of the messages read.
    """

    def __init__(
        self,
        sender: RequestSender,
        messages: Iterable[Message] | AsyncIterable[Message],
        **options: Unpack[RunOptions],
    ) -> None:
        """Prepare the run (nothing is read or sent before ``async with``); the keywords are
        :class:`~asms._bulk.options.RunOptions`, defaults from :mod:`asms._config`."""
        check_keywords(options, RUN_KEYWORDS, "send_bulk")
        check_values(options)
        if isinstance(messages, str | bytes) or not isinstance(messages, Iterable | AsyncIterable):
            raise ValidationError(
                "messages", "must be an iterable or async iterable of asms.Message", messages
            )
        given = options.get("limiter")
        if given is not None and ("rate" in options or "burst" in options):
            raise ValueError(
                "send_bulk takes either limiter= or rate=/burst=, not both: "
                "a given limiter keeps its own rate"
            )
        if given is not None and not isinstance(given, Limiter):
            raise TypeError("limiter must be a Limiter (asms.RateLimiter, asms.RedisRateLimiter)")
        if given is None and not ("rate" in options or "burst" in options):
            # A client made with a limiter keeps the account's rate for its runs too.
            given = sender_limiter(sender)
        # The checked values as the plain numbers the run computes with (a caller's may be
        # any real number: a Fraction, NumPy's scalars).
        rate = given.rate if given is not None else options.get("rate", DEFAULT_BULK_RATE)
        rate = None if rate is None else float(rate)
        concurrency = options.get("concurrency")
        concurrency = None if concurrency is None else int(concurrency)
        group_size = options.get("group_size")
        group_size = None if group_size is None else int(group_size)
        journal = options.get("journal")
        clock = options.get("clock")
        if concurrency is None:
            concurrency = default_concurrency(rate)
        limit = request_limit(sender)
        if group_size is not None:
            limit = min(limit, group_size)
        self._sender = sender
        self._source = messages
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._limiter: Limiter = (
            given
            if given is not None
            else RateLimiter(
                math.inf if rate is None else rate,
                burst=int(options.get("burst", DEFAULT_BULK_BURST)),
                clock=self._clock,
            )
        )
        self._concurrency = concurrency
        self._grouper = Grouper(limit)
        self._journal_path = None if isinstance(journal, Journal) else journal
        self._journal: Journal | None = journal if isinstance(journal, Journal) else None
        self._progress = options.get("progress")
        self._drain_timeout = float(options.get("drain_timeout", DEFAULT_DRAIN_TIMEOUT))
        self._linger = float(options.get("linger", DEFAULT_LINGER))
        self._grace = float(options.get("reconcile_grace", DEFAULT_RECONCILE_GRACE))
        self._schedule = _reconcile_schedule(sender, options.get("reconcile_schedule"))
        self._close_journal = False  # the run opened the journal, so it closes it
        self._earlier_end: float | None = None  # when the run before this one stopped
        self._input_ended = False

        self._tally = Tally()
        self._requester = Requester(
            sender,
            limiter=self._limiter,
            journal=self._journal,
            clock=self._clock,
            tally=self._tally,
            refused=self._account_refused,
        )
        self._results: ResultQueue[BulkResult] = ResultQueue(max(2, concurrency))
        # What the pipeline settled when it ended, delivered after the queue's last result.
        self._leftovers: list[BulkResult] = []
        self._tail: Iterator[BulkResult] | None = None
        self._checkpoints = 0
        self._resumed: list[BulkResult] = []
        self._open: dict[int, Group] = {}  # groups handed out and not yet settled
        self._stopping = False
        self._read_rest = False  # stopped, yet still reading the input (account refused)
        # A stopped run sends nothing, so it need not settle an earlier run's requests now:
        # what stays unresolved in the journal is settled by the next run.
        self._reconciling = anyio.CancelScope()
        # Opened on the first unknown message of a wire without lookups (a resume).
        self._settlement: CallbackSettlement | None = None
        self._failure: Exception | None = None
        self._failure_raised = False
        self._reader_scope: anyio.CancelScope | None = None
        self._done = anyio.Event()
        self._tg: TaskGroup | None = None
        self._entered = False
        self._exited = False

    # -- public ----------------------------------------------------------------------------

    def statistics(self) -> BulkStatistics:
        """A live snapshot of the run's counters (what ``progress`` is called with)."""
        return self._tally.snapshot(self._clock.current_time())

    def report(self) -> BulkReport:
        """The summary so far (final once the run has ended)."""
        return self._tally.report(self._clock.current_time())

    @property
    def limiter(self) -> Limiter:
        """The run's rate limiter: the one given as ``limiter``, else the client's own
        (``AsyncClient(limiter=...)``) when no ``rate`` or ``burst`` was given, else the one
        it made (its ``statistics()`` show the pace and any ERR 130 pause)."""
        return self._limiter

    async def finish(self) -> BulkReport:
        """Run to the end without keeping the results; return the final report.

        ``async with client.send_bulk(messages) as run: report = await run.finish()``
        """
        async for _ in self:
            pass
        return self.report()

    def stop(self, reason: str | None = None, *, drain: bool = True) -> None:
        """Stop taking new messages; requests in flight finish (within ``drain_timeout``).

        Messages read but not sent come out as ``not_sent`` results. ``drain=False`` also
        interrupts the requests in flight now (a second Ctrl-C): their messages come out as
        ``unknown``. Results keep coming until every message read has one.
        """
        self._read_rest = False
        self._reconciling.cancel()
        if self._reader_scope is not None:
            self._reader_scope.cancel()
        self._halt(reason)
        if not drain:
            self._requester.cancel_requests()

    def _halt(self, reason: str | None) -> None:
        """No new request from now on; the watchdog bounds the wait for those in flight."""
        if self._stopping:
            return
        self._stopping = True
        self._tally.cancelled = True
        self._requester.stopping(reason)
        if self._tg is not None and not self._done.is_set():
            self._tg.start_soon(self._watchdog)

    def _account_refused(self, error: GatewayError, reason: str) -> None:
        # Every later request would be refused as well, so none is made. The rest of the
        # input is still read so that each message gets its result ("not sent", naming the
        # refusal); the refusal itself is raised after the last result, like a failure.
        if self._failure is None:
            self._failure = error
        if not self._stopping:
            self._read_rest = True
        self._halt(reason)

    def _taking_input(self) -> bool:
        return self._read_rest or not self._stopping

    async def __aenter__(self) -> BulkRun:
        if self._entered:
            raise RuntimeError("a BulkRun can only be used once")
        self._entered = True
        if self._journal_path is not None:
            self._journal = Journal(self._journal_path)
        journal = self._journal
        if journal is not None:
            self._close_journal = not journal.is_open
            await journal.open()
            try:
                # Refuses a finished campaign; must read the earlier run's end before this
                # run's heartbeat overwrites it.
                self._earlier_end = await journal.start_run(
                    self._clock.wall_time(), owner_of(self._sender)
                )
            except BaseException:
                if self._close_journal:
                    with anyio.CancelScope(shield=True):
                        await journal.aclose()
                raise
            self._requester.journal = journal
        self._tally.started = self._clock.current_time()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        tg.start_soon(self._main)
        if journal is not None and not journal.replay:
            tg.start_soon(self._keep_alive, journal)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg = self._tg
        assert tg is not None
        self._exited = True
        try:
            if not self._done.is_set():
                # Left early: nobody reads results any more; they are only counted.
                self._results.discard()
                self.stop()
                with anyio.CancelScope(shield=True) as scope:
                    scope.deadline = anyio.current_time() + self._drain_timeout + 5.0
                    await self._done.wait()
                if not self._done.is_set():
                    self._requester.cancel_requests()
                    tg.cancel_scope.cancel()
        finally:
            try:
                # The body's own exception is not the task group's business: it propagates
                # from here unchanged instead of being wrapped in an exception group.
                await tg.__aexit__(None, None, None)
            finally:
                if self._journal is not None:
                    with anyio.CancelScope(shield=True):
                        await self._end_journal(self._journal, quiet=exc is not None)
        if exc is None and self._failure is not None and not self._failure_raised:
            self._failure_raised = True
            raise self._failure

    def __aiter__(self) -> AsyncIterator[BulkResult]:
        return self

    async def __anext__(self) -> BulkResult:
        if self._tg is None or self._exited:
            if self._exited:
                raise RuntimeError(
                    "the run ended with its `async with` block: iterate inside it (results"
                    " not read there are counted in run.report())"
                )
            raise RuntimeError("iterate inside `async with client.send_bulk(...) as run:`")
        self._checkpoints += 1
        if self._checkpoints >= _CHECKPOINT_EVERY:
            # A reader that always finds a result waiting never waits; it must still notice
            # its cancellation now and then.
            self._checkpoints = 0
            await anyio.lowlevel.checkpoint_if_cancelled()
        result = self._results.take()
        if result is not None:
            return result
        return await self._next_waiting()

    async def _next_waiting(self) -> BulkResult:
        while True:
            if self._tail is not None:
                result = next(self._tail, None)
                if result is not None:
                    return result
                if self._failure is not None and not self._failure_raised:
                    self._failure_raised = True
                    raise self._failure
                raise StopAsyncIteration
            await anyio.lowlevel.checkpoint_if_cancelled()
            if not await self._results.wait_readable():
                leftovers, self._leftovers = self._leftovers, []
                self._tail = iter(leftovers)
                continue
            found = self._results.take()
            if found is not None:
                return found

    # -- pipeline --------------------------------------------------------------------------

    async def _main(self) -> None:
        work: WorkQueue[Group] = WorkQueue(self._concurrency, self._concurrency)
        try:
            if (
                self._journal is not None
                and not self._journal.replay
                and self._requester.can_lookup
            ):
                with self._reconciling:
                    await reconcile(
                        self._journal,
                        self._requester.lookup,
                        clock=self._clock,
                        grace=self._grace,
                        schedule=self._schedule,
                        concurrency=self._concurrency,
                        earlier_end=self._earlier_end,
                    )
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._produce, work, tg)
                for _ in range(self._concurrency):
                    tg.start_soon(self._work, work)
        except Exception as exc:
            self._fail(exc)
        finally:
            work.close()
            self._sweep()
            self._tally.finished = self._clock.current_time()
            self._tally.input_done = True
            self._results.close()
            self._done.set()
            self._report_progress()

    async def _keep_alive(self, journal: Journal) -> None:
        # The heartbeat a resumed run counts its grace from, should this process die.
        while True:
            with anyio.move_on_after(journal.heartbeat_interval):
                await self._done.wait()
            if self._done.is_set():
                return
            try:
                await journal.beat(self._clock.wall_time())
            except Exception as exc:
                self._fail(exc)
                return

    def _complete(self) -> bool:
        """The whole input was read and every message got a final result."""
        tally = self._tally
        return (
            self._input_ended
            and not self._stopping
            and self._failure is None
            and tally.unknown == 0
            and tally.not_sent == 0
        )

    async def _end_journal(self, journal: Journal, *, quiet: bool) -> None:
        try:
            if not journal.replay:
                await journal.end_run(self._clock.wall_time(), complete=self._complete())
        except Exception:
            # Unrecorded, the end counts as a crash: a resumed run then waits from the last
            # heartbeat (safe). The body's own exception matters more than this one.
            if not quiet:
                raise
        finally:
            if self._settlement is not None:
                await self._settlement.aclose()
            if self._close_journal:
                await journal.aclose()

    def _fail(self, exc: Exception) -> None:
        while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        if self._failure is None:
            self._failure = exc
        self.stop(f"not sent: the run failed ({type(exc).__name__})")

    async def _watchdog(self) -> None:
        # Shielded: it must outlive an outside cancellation of the run to bound the drain.
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._drain_timeout):
                await self._done.wait()
                return
            self._requester.cancel_requests()

    def _sweep(self) -> None:
        """Settle what the pipeline did not: partial group, queued and in-flight groups."""
        leftover = self._grouper.flush()
        if leftover is not None:
            self._open[id(leftover)] = leftover
        for group in list(self._open.values()):
            if group.sent:
                # Sent, and left without an outcome: its worker's request was interrupted
                # by the drain timeout (cancel_requests), or the run itself was cancelled.
                results = self._requester.unknown(group.items, group.climsgid, CANCELLED_IN_FLIGHT)
            else:
                results = self._requester.unsent(group.items)
            self._leftovers.extend(self._settle(group, results))
        if self._resumed:
            self._leftovers.extend(self._count(self._resumed))
            self._resumed = []
        if self._results.discarding:
            self._leftovers.clear()

    def _settle(self, group: Group, results: list[BulkResult]) -> list[BulkResult]:
        """Count a group's results (exactly once: it leaves the registry)."""
        if self._open.pop(id(group), None) is None:
            return []  # already settled elsewhere
        return self._count(results)

    def _count(self, results: list[BulkResult]) -> list[BulkResult]:
        self._tally.count_all(results)
        return results

    async def _deliver(self, results: list[BulkResult]) -> None:
        if not results:
            return
        if not self._results.offer(results):
            try:
                await self._results.put(results)
            except BaseException:
                self._leftovers.extend(results)
                raise
        self._report_progress()

    def _report_progress(self) -> None:
        if self._progress is not None:
            try:
                self._progress(self.statistics())
            except Exception as exc:
                self._progress = None
                self._fail(exc)

    # -- producer --------------------------------------------------------------------------

    async def _produce(self, send: WorkQueue[Group], tg: TaskGroup) -> None:
        try:
            try:
                source = self._source
                if isinstance(source, AsyncIterable):
                    buffer = InputBuffer(_INPUT_AHEAD)
                    self._reader_scope = anyio.CancelScope()
                    if not self._taking_input():
                        self._reader_scope.cancel()
                    tg.start_soon(read_ahead, source, buffer, self._reader_scope)
                    await self._consume(None, buffer, send)
                    if buffer.failure is not None:
                        self._input_failed(buffer.failure)
                else:
                    await self._consume(iter(source), None, send)
                self._input_ended = True  # or stopped or failed: _complete() tells them apart
                await self._flush(send)
            finally:
                send.close()
        except Exception as exc:
            # Stop gracefully: what is in flight finishes and is journaled.
            self._fail(exc)

    def _input_failed(self, exc: Exception) -> None:
        # The input ended with an error: what was read is still sent, then it is raised.
        if self._failure is None:
            self._failure = exc

    async def _flush(self, send: WorkQueue[Group]) -> None:
        group = self._grouper.flush()
        if group is not None:
            await self._dispatch(group, send)
        await self._deliver_resumed()

    async def _next_buffered(self, buffer: InputBuffer, send: WorkQueue[Group]) -> Message | None:
        grouper = self._grouper
        while self._taking_input():
            if len(buffer):
                return buffer.pop()
            if buffer.closed:
                return None
            await self._deliver_resumed()
            if grouper.pending:
                # The input is slow: give the partial group ``linger`` to fill, then send it.
                with anyio.move_on_after(self._linger):
                    await buffer.wait_readable()
                if not len(buffer) and not buffer.closed:
                    group = grouper.flush()
                    if group is not None:
                        await self._dispatch(group, send)
                continue
            await buffer.wait_readable()
        return None

    async def _consume(
        self,
        iterator: Iterator[Message] | None,
        buffer: InputBuffer | None,
        send: WorkQueue[Group],
    ) -> None:
        journal = self._journal
        grouper = self._grouper
        tally = self._tally
        # Without a journal, and from a journal's last row on, there is nothing to look up
        # or compare per message: a plain input is read a group at a time (the fingerprints
        # made in _dispatch).
        end = -1
        if iterator is not None and (journal is None or not journal.replay):
            end = 0 if journal is None else await journal.recorded_end()
        rows: dict[int, JournalRow] = {}
        rows_end = 0
        while self._taking_input():
            if 0 <= end <= tally.read:
                assert iterator is not None
                if self._resumed:
                    await self._deliver_resumed()
                try:
                    group, tally.read = grouper.fill(iterator, tally.read, self._taking_input)
                except InputFailed as failed:
                    tally.read = failed.read
                    self._input_failed(failed.error)
                    return
                if group is None:
                    return
                await self._dispatch(group, send)
                continue
            if buffer is not None:
                message = await self._next_buffered(buffer, send)
            else:
                assert iterator is not None
                try:
                    got = next(iterator, _EXHAUSTED)
                    if got is _EXHAUSTED:
                        return
                    message = checked(got, position=tally.read)
                except Exception as exc:
                    self._input_failed(exc)
                    return
            if message is None:
                return
            item = Item(tally.read, message)
            tally.read += 1
            if journal is not None:
                item.fingerprint = stored_fingerprint(message)
                if item.index >= rows_end:
                    await self._deliver_resumed()
                    rows = await journal.rows(item.index, item.index + _PREFETCH)
                    rows_end = item.index + _PREFETCH
                row = rows.pop(item.index, None)
                if row is not None:
                    if not same_stored(row.fingerprint, item.fingerprint):
                        why = "not sent: the journal recorded another message here"
                        self._resumed.extend(self._requester.unsent([item], why))
                        fields = differing_stored(row.fingerprint, item.fingerprint)
                        what = " and ".join(fields) or "number, text or options"
                        verb = "differs" if len(fields) == 1 else "differ"
                        raise JournalMismatchError(
                            f"message {item.index} is not the one this journal recorded"
                            f" there: its {what} {verb}, so the journal was written for"
                            " another input or with another option for every message (a"
                            " resumed run needs the same input, in the same order, with the"
                            " same options)"
                        )
                    stored = stored_result(row, message)
                    if stored is not None and row.state in UNRESOLVED:
                        stored = await self._settled_by_callback(journal, row, item) or stored
                    if stored is not None:
                        self._resumed.append(stored)
                        if len(self._resumed) >= _RESUMED_DELIVERY:
                            await self._deliver_resumed()
                        continue
                if journal.replay:
                    why = "not sent: replaying a journal that has no final result for it"
                    self._resumed.extend(self._requester.unsent([item], why))
                    if len(self._resumed) >= _RESUMED_DELIVERY:
                        await self._deliver_resumed()
                    continue
            group = grouper.add(item)
            if group is not None:
                await self._dispatch(group, send)

    async def _settled_by_callback(
        self, journal: Journal, row: JournalRow, item: Item
    ) -> BulkResult | None:
        """An unknown message of a wire without lookups: accepted, and written to the journal
        so, when a recorded status callback shows it was (see :mod:`asms._bulk.settle`);
        else still unknown, saying what would settle it. None on a wire with lookups."""
        climsgid = row.request_climsgid
        if self._requester.can_lookup or climsgid is None:
            return None
        if self._settlement is None:
            country_code = getattr(self._sender, "country_code", None)
            self._settlement = CallbackSettlement(journal.path, country_code)
        size = await journal.request_size(climsgid)
        apimsgid = await self._settlement.apimsgid(climsgid, item.message.to, messages=size)
        if apimsgid is None:
            return make_result(
                item, climsgid, None, OUTCOME_UNKNOWN, _NO_CALLBACK_YET, row.parts, resumed=True
            )
        now = self._clock.wall_time()
        accepted = (item.index, row.fingerprint, "accepted", climsgid, apimsgid, None, None)
        await journal.write([(*accepted, row.parts, now)])
        return make_result(item, climsgid, apimsgid, None, None, row.parts, resumed=True)

    async def _deliver_resumed(self) -> None:
        if self._resumed:
            results, self._resumed = self._resumed, []
            await self._deliver(self._count(results))

    async def _dispatch(self, group: Group, send: WorkQueue[Group]) -> None:
        if self._journal is not None:
            for item in group.items:
                if not item.fingerprint:  # read a group at a time (Grouper.fill)
                    item.fingerprint = stored_fingerprint(item.message)
        self._open[id(group)] = group
        if self._stopping:
            await self._deliver(self._settle(group, self._requester.unsent(group.items)))
        else:
            await send.put(group)

    # -- workers ---------------------------------------------------------------------------

    async def _work(self, work: WorkQueue[Group]) -> None:
        requester = self._requester
        tally = self._tally
        try:
            while True:
                # Shielded while a request is in flight; the drain timeout cancels it then,
                # which leaves the group to _sweep() and this worker to take the next (the
                # scope catches its own cancellation, and the loop makes a new one).
                with anyio.CancelScope() as scope:
                    while (group := await work.get()) is not None:
                        if self._stopping:
                            results = requester.unsent(group.items)
                        else:
                            try:
                                results = await requester.process(group, scope)
                            except Exception as exc:
                                self._fail(exc)
                                if group.sent:
                                    results = requester.unknown(group.items, group.climsgid)
                                else:
                                    results = requester.unsent(group.items)
                        # _settle and _deliver, inline: once per request.
                        if self._open.pop(id(group), None) is not None:
                            tally.count_all(results)
                            if results:
                                if not self._results.offer(results):
                                    await self._deliver(results)
                                elif self._progress is not None:
                                    self._report_progress()
                    return
        finally:
            work.consumer_done()


_EXHAUSTED: Final = object()


def _reconcile_schedule(sender: RequestSender, given: Sequence[float] | None) -> tuple[float, ...]:
    if given is not None:
        return RetryPolicy(reconcile_schedule=tuple(given)).reconcile_schedule  # validates
    # The client's own policy, so a resumed run asks as patiently as its live runs do.
    policy = sender._retry if isinstance(sender, IdLedger) else RetryPolicy()
    return policy.reconcile_schedule
