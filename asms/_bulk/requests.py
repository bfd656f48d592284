"""One request of a bulk run: rate tokens, journal before and after, the send, its outcome."""

from __future__ import annotations

import functools
import inspect
import math
import sys
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Protocol, runtime_checkable

import anyio

from .._clock import Clock
from .._codes import ErrorCategory, ErrorCode, MessageStatus
from .._config import (
    BULK_ROUND_TRIP,
    DEFAULT_REQUEST_LIMIT,
    DEFAULT_THROTTLE_PAUSE,
    MAX_BULK_CONCURRENCY,
    MAX_THROTTLED,
    MIN_BULK_CONCURRENCY,
    PLATFORM_WIRES,
    RetryPolicy,
)
from .._exceptions import (
    ASMSError,
    GatewayError,
    MessageLookupError,
    ThrottledError,
    TransportError,
    ValidationError,
    error_for,
)
from .._limiter import PREPAID
from .._models import Message, SendResult, StatusInfo, new_climsgid
from .._results import SendResults
from .._retry import NOT_SENT, OUTCOME_UNKNOWN
from .._sending import derived_climsgid
from .grouping import Group, Item
from .journal import JournalWriter, journal_rows, result_rows
from .ratelimit import Limiter, RateLimiter
from .report import BulkResult, DeliveryState, Tally, accepted_bulk_results, make_result

__all__ = [
    "CANCELLED_IN_FLIGHT",
    "IdLedger",
    "RequestSender",
    "Requester",
    "default_concurrency",
    "owner_of",
    "request_function",
    "request_limit",
]

_ERR_130: Final = ErrorCode.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL
#: Why a request interrupted by the drain timeout has an unknown outcome.
CANCELLED_IN_FLIGHT: Final = "outcome unknown: cancelled in flight"

RequestOutcome = tuple[list[BulkResult], list[Item]]
"""What one request of a group came to: final results, and the items to send again."""

SendRequest = Callable[[Sequence[Message]], Awaitable[Sequence[SendResult]]]
"""A sender's ``send_request``, ready for a run to call."""

SendRunRequest = Callable[[Sequence[Message], str], Awaitable[Sequence[SendResult]]]
"""A client's request function for runs: the messages, and the request's reserved climsgid."""


@runtime_checkable
class IdLedger(Protocol):
    """What a sender that remembers the ``climsgid`` of every request it sent (``AsyncClient``)
    offers a bulk run beyond :class:`RequestSender`: package-private, declared here so that the
    run checks it once instead of looking methods up by name.

    A caller's id the sender already used is derived (else the lookup after a lost reply would
    find the earlier message); an id the run journaled before sending is reserved, so the sender
    sends it as it is; and the sender's retry policy sets how patiently a resumed run asks.
    """

    _retry: RetryPolicy

    def _unused_climsgid(self, climsgid: str) -> str: ...

    def _reserve_climsgid(self, climsgid: str) -> None: ...


@runtime_checkable
class RequestSender(Protocol):
    """What :func:`send_bulk` needs from a client (``AsyncClient`` provides it).

    ``send_request`` sends messages that share text and options as ONE gateway request, using
    the ``climsgid`` they all carry as the request's; it returns one result per message, in
    order (a per-recipient ``ERR`` as data; ``error_code`` ``OUTCOME_UNKNOWN``/``NOT_SENT``
    when it gave up). It may raise :class:`GatewayError` for a refusal of the whole request
    and :class:`TransportError`/:class:`ProtocolError` when it gave up.

    Looked up when present: ``max_recipients`` (or ``request_limit``), the recipients one
    request may carry (default 600); ``query(climsgid=…)`` (``querymsg``, raising
    :class:`MessageLookupError` 104 for an unknown id) or ``query_climsgid(climsgid)``
    (``None`` for an unknown id), which a journaled run needs to settle interrupted requests.
    A ``wait_throttled`` keyword of ``send_request`` is passed ``False``: an ``ERR 130`` must
    come back at once (raised as :class:`ThrottledError` or as results with code 130), since
    the run pauses ALL its requests until the time it names, by the gateway's clock: the
    ``gateway_time`` of the error (results may carry it as ``.throttled``), else the run's
    clock. ``throttle_max_wait`` (seconds, default 300) bounds that pause; beyond it the
    refused messages are rejected with 130. ``limiter`` (a :class:`Limiter`, the account's
    that the sender waits for itself) is waited for by the run before each request instead,
    and the sender is told (:data:`asms._limiter.PREPAID`) not to take those slots again.
    ``journal_owner`` (a ``dict[str, str]`` with
    ``account`` and ``gateway``, as :func:`asms._bulk.journal.journal_owner` makes it) is
    recorded in a run's journal, and a journal recorded under another is refused; a sender
    without one is not checked.

    A sender whose method still has the old name, ``send_batch``, is used for one more
    release, with a :class:`DeprecationWarning` when a run starts.
    """

    async def send_request(self, messages: Sequence[Message], /) -> Sequence[SendResult]:
        """Send ``messages`` as one gateway request; one result per message, in order."""
        ...


def sender_limiter(sender: RequestSender) -> Limiter | None:
    """The limiter ``sender`` waits for before each request (``AsyncClient(limiter=...)``);
    None when it has none."""
    found = getattr(sender, "limiter", None)
    return found if isinstance(found, Limiter) else None


def request_limit(sender: RequestSender) -> int:
    """Recipients one request of ``sender`` may carry."""
    found = getattr(sender, "max_recipients", None) or getattr(sender, "request_limit", None)
    return int(found or DEFAULT_REQUEST_LIMIT)


def owner_of(sender: RequestSender) -> dict[str, str] | None:
    """The account and gateway ``sender`` sends through, for its journal; None: not told."""
    found = getattr(sender, "journal_owner", None)
    if isinstance(found, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in found.items()
    ):
        return dict(found)
    return None


def request_function(sender: RequestSender) -> SendRequest:
    """``sender.send_request``, told not to wait out ERR 130 itself when it can be.

    A sender with only the old ``send_batch`` gets a :class:`DeprecationWarning` (once, here,
    when the run is made) and its ``send_batch`` is used.
    """
    send: SendRequest | None = getattr(sender, "send_request", None)
    if send is None and hasattr(sender, "send_batch"):
        warnings.warn(
            f"{type(sender).__name__}.send_batch() is deprecated as the method send_bulk()"
            " calls: name it send_request() (send_batch is no longer looked up in the next"
            " release)",
            DeprecationWarning,
            stacklevel=_caller_outside_asms(),
        )
        send = sender.send_batch
    if send is None:
        send = sender.send_request  # the AttributeError a sender without it always got
    try:
        keywords = inspect.signature(send).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return send
    if "wait_throttled" in keywords:
        # A sender that waited would hold one worker while the others kept sending into
        # the limit; the pool's pause stops them all.
        takes_keyword: Callable[..., Awaitable[Sequence[SendResult]]] = send
        return functools.partial(takes_keyword, wait_throttled=False)
    return send


def _caller_outside_asms() -> int:
    """The ``stacklevel`` that makes a warning name the first caller outside asms."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("asms."):
        frame = frame.f_back
        level += 1
    return level


def throttle_bound(sender: RequestSender) -> float:
    """The longest ``ERR 130`` pause a run makes: ``sender.throttle_max_wait`` when it has
    one, else the default of :class:`RetryPolicy`."""
    found = getattr(sender, "throttle_max_wait", None)
    if isinstance(found, int | float) and not isinstance(found, bool) and found >= 0:
        return float(found)
    return RetryPolicy().throttle_max_wait


def default_concurrency(rate: float | None) -> int:
    """Requests in flight needed to keep ``rate`` single-recipient sends per second going.

    The limiter never lets a late request catch up (beyond ``burst``): a slot nobody was
    ready to use is lost. So enough workers must be waiting for slots while others wait
    for replies: rate × round trip, within sane bounds.
    """
    if rate is None or math.isinf(rate):
        return MAX_BULK_CONCURRENCY
    return max(MIN_BULK_CONCURRENCY, min(MAX_BULK_CONCURRENCY, math.ceil(rate * BULK_ROUND_TRIP)))


class Requester:
    """Sends groups for a run. ``refused`` is the run's: called on a refusal of the account,
    with the error to raise and the reason the messages left unsent get.

    The exchange itself (journal "inflight", the request, journal outcome) is shielded from
    outside cancellation, so a cancelled run still learns and records what it sent; only
    :meth:`cancel_requests` (the run's drain timeout) interrupts it.
    """

    def __init__(
        self,
        sender: RequestSender,
        *,
        limiter: Limiter,
        journal: JournalWriter | None,
        clock: Clock,
        tally: Tally,
        refused: Callable[[GatewayError, str], None],
        derive_ids: bool = False,
    ) -> None:
        self._sender = sender
        # Every caller-given climsgid derived, not only on a resume: for senders that share
        # an account with processes whose ids this one cannot know (a campaign's workers).
        self._derive = derive_ids
        # The sender's own limiter: the run takes its slots (once per request, where a
        # stopped run can give up) and tells the sender they are taken.
        self._account = sender_limiter(sender)
        self._also = None if self._account is limiter else self._account
        self._ledger = sender if isinstance(sender, IdLedger) else None
        self._send = request_function(sender)
        # A client's own request function for runs (asms.AsyncClient), which takes the
        # request's climsgid beside the messages instead of in a copy of each of them.
        run_function = getattr(sender, "_run_request_function", None)
        self._send_run: SendRunRequest | None = run_function() if callable(run_function) else None
        # The clock's cheapest reading, taken in the run's event loop (SystemClock.reader).
        self._now: Callable[[], float] | None = None
        self._limiter = limiter
        # The in-process limiter can grant a due slot without awaiting; a shared one needs a
        # round trip to Redis for every grant, so it has no such shortcut.
        self._try_acquire = limiter.try_acquire if isinstance(limiter, RateLimiter) else None
        self.journal = journal
        self._clock = clock
        self._tally = tally
        self._refused_account = refused
        self._stopping = False
        self.stop_reason = "not sent: the run was stopped"
        self._waiting: set[anyio.CancelScope] = set()
        #: The longest ERR 130 pause of the run; a longer one rejects the messages instead.
        self.throttle_max_wait = throttle_bound(sender)
        self._exchanges: set[anyio.CancelScope] = set()
        #: Requests tried, and of them those that never left because the gateway could not
        #: be reached (a campaign worker does not count a try that met only an outage).
        self.tried = 0
        self.unreachable = 0
        # Caller-given climsgids this run sent verbatim: one per distinct id (see _attempt).
        self._verbatim: set[str] = set()
        self._resuming: bool | None = None  # whether the journal has an earlier run's rows
        self._resume_check = anyio.Lock()
        # A client's session opener, until a session was had (see _wait_for_session).
        opener = getattr(sender, "_open_session", None)
        self._session_ready: Callable[[], Awaitable[None]] | None = (
            opener if callable(opener) else None
        )

    @property
    def can_lookup(self) -> bool:
        """Whether the sender can look a request up by its climsgid: not on the Platform
        wires, whose interrupted requests stay unknown (never resent) until a status
        callback settles them."""
        return getattr(self._sender, "wire", None) not in PLATFORM_WIRES

    async def lookup(self, climsgid: str) -> StatusInfo | None:
        """A request's status by its climsgid; None when the gateway does not know it."""
        sender: Any = self._sender
        if hasattr(sender, "query_climsgid"):
            found: StatusInfo | None = await sender.query_climsgid(climsgid)
            return found
        if not hasattr(sender, "query"):
            raise MessageLookupError(0, "this sender cannot look requests up")
        try:
            status: StatusInfo = await sender.query(climsgid=climsgid)
        except MessageLookupError as exc:
            if exc.code == ErrorCode.UNKNOWN_CLIENT_MESSAGE_ID:
                return None
            raise
        if status.status == MessageStatus.MESSAGE_UNKNOWN:
            # "Message unknown" may also mean "reporting is delayed": not proof of absence.
            raise MessageLookupError(ErrorCode.UNKNOWN_CLIENT_MESSAGE_ID, "status 001")
        return status

    def stopping(self, reason: str | None = None) -> None:
        """No new request from now on; requests waiting for their rate slot give up."""
        if reason is not None and not self._stopping:
            self.stop_reason = reason
        self._stopping = True
        for scope in list(self._waiting):
            scope.cancel()

    def cancel_requests(self) -> None:
        """Interrupt the requests in flight (their outcome becomes unknown)."""
        for scope in list(self._exchanges):
            scope.cancel()

    async def process(
        self, group: Group, worker: anyio.CancelScope | None = None
    ) -> list[BulkResult]:
        """Send a group until every message has a final result (``worker``: see
        :meth:`_attempt`)."""
        done: list[BulkResult] = []
        items = group.items
        while items:
            if self._stopping:
                return done + self.unsent(items)
            if self._session_ready is not None and not await self._wait_for_session():
                return done + self.unsent(items)
            if self._try_acquire is None or not self._try_acquire(len(items)):
                with anyio.CancelScope() as waiting:
                    self._waiting.add(waiting)
                    try:
                        await self._limiter.acquire(len(items))
                    finally:
                        self._waiting.discard(waiting)
                if waiting.cancelled_caught:
                    return done + self.unsent(items)
            if self._also is not None and not await self._wait_for(self._also, len(items)):
                return done + self.unsent(items)
            if worker is None:
                outcome = await self._attempt(group, items)
            else:
                # _attempt for a worker, inline (a frame fewer for every request to pass
                # through): the worker's own scope shielded for the exchange. Interrupted, it
                # ends the worker's wait, and the run settles the group (its ``sent`` says how).
                if self.journal is not None and self._resuming is None:
                    await self._check_resuming()
                climsgid = self._climsgid(items[0].message.climsgid)
                worker.shield = True
                self._exchanges.add(worker)
                try:
                    outcome = await self._exchange(group, items, climsgid)
                finally:
                    self._exchanges.discard(worker)
                    worker.shield = False
            if outcome is None:
                # One bad message must not sink its whole group: try them one by one.
                for item in items:
                    done.extend(await self.process(Group([item]), worker))
                return done
            results, items = outcome
            done.extend(results)
        return done

    async def _wait_for_session(self) -> bool:
        """Wait until the sender has a session (when it uses one); False when the run
        stopped meanwhile.

        Before the first rate slots are taken: a request that took them and then queued
        for the session under way would leave after an ERR 130 the session's first request
        met, sending into the limit the run had paused for. Failing to open one is left to
        the requests, which meet the failure again and report it as they always do.
        """
        ready = self._session_ready
        assert ready is not None
        with anyio.CancelScope() as waiting:
            self._waiting.add(waiting)
            try:
                await ready()
            except ASMSError:
                pass
            finally:
                self._waiting.discard(waiting)
        self._session_ready = None
        return not waiting.cancelled_caught

    async def _wait_for(self, limiter: Limiter, slots: int) -> bool:
        """Wait for ``slots`` of ``limiter``; False when the run stopped meanwhile."""
        with anyio.CancelScope() as waiting:
            self._waiting.add(waiting)
            try:
                await limiter.acquire(slots)
            finally:
                self._waiting.discard(waiting)
        return not waiting.cancelled_caught

    def _request(self, items: list[Item], climsgid: str) -> Awaitable[Sequence[SendResult]]:
        """The sender's request for ``items`` under ``climsgid``, ready to await."""
        send_run = self._send_run
        if send_run is not None:
            return send_run([it.message for it in items], climsgid)
        return self._send(
            [
                it.message
                if it.message.climsgid == climsgid
                else it.message.with_climsgid(climsgid)
                for it in items
            ]
        )

    async def _send_prepaid(self, items: list[Item], climsgid: str) -> Sequence[SendResult]:
        """Send through a sender with its own limiter, whose slots the run took already."""
        token = PREPAID.set(self._account)
        try:
            return await self._request(items, climsgid)
        finally:
            PREPAID.reset(token)

    async def _check_resuming(self) -> None:
        """Whether the journal holds an earlier run's rows (see :meth:`_climsgid`): asked
        once, before this run's first request writes anything (rows then are an earlier
        run's)."""
        assert self.journal is not None
        async with self._resume_check:
            if self._resuming is None:
                self._resuming = bool(await self.journal.counts())

    def _climsgid(self, given: str | None) -> str:
        """The id of a new request: every request of a run has its own.

        A caller's id goes out verbatim on the first request of the run carrying it, unless
        the client sent it before; every further request carrying it (the rest of its group,
        a repeated number, a retry after ERR 130) gets a derived one, so a lookup never finds
        another request. A run resuming a journal derives them all: the interrupted run may
        have used them (:meth:`_check_resuming` must have answered by then).
        """
        if given is None:
            climsgid = new_climsgid()
        elif self._resuming or self._derive or given in self._verbatim:
            climsgid = derived_climsgid(given)
        else:
            self._verbatim.add(given)
            # A client remembers the ids it sent (send(), the pushes, earlier runs): one it
            # sent before is derived, or this request's lookup would find that earlier message.
            if self._ledger is not None:
                climsgid = self._ledger._unused_climsgid(given)
            else:
                climsgid = given
        # The journal records this id before the request leaves: the client must send it as
        # it is, not check it again (it is already among the ids it remembers).
        if self._ledger is not None:
            self._ledger._reserve_climsgid(climsgid)
        return climsgid

    async def _attempt(self, group: Group, items: list[Item]) -> RequestOutcome | None:
        """One request for ``items``: journal "inflight", the send, journal the outcome, all
        shielded from outside cancellation (only :meth:`cancel_requests` interrupts it; an
        interrupted one comes back as results). None: a message was refused locally, send
        them one by one. A run's workers do the same in :meth:`process` under their own
        scope (one per worker, not one per request)."""
        if self.journal is not None and self._resuming is None:
            await self._check_resuming()
        climsgid = self._climsgid(items[0].message.climsgid)
        outcome: RequestOutcome | None = None
        with anyio.CancelScope(shield=True) as scope:
            self._exchanges.add(scope)
            try:
                outcome = await self._exchange(group, items, climsgid)
            finally:
                self._exchanges.discard(scope)
        if scope.cancelled_caught:
            # Interrupted by the drain timeout: the journal keeps it "inflight" if it was.
            if group.sent:
                return self.unknown(items, climsgid, CANCELLED_IN_FLIGHT), []
            return self.unsent(items), []
        return outcome

    async def _exchange(
        self, group: Group, items: list[Item], climsgid: str
    ) -> RequestOutcome | None:
        journal = self.journal
        tally = self._tally
        now = self._now
        if now is None:
            reader = getattr(self._clock, "reader", None)
            now = self._now = reader() if callable(reader) else self._clock.current_time
        if journal is not None:
            # Committed before the request leaves: a crash from here on is reconciled.
            await journal.write(journal_rows(items, "inflight", climsgid, self._clock))
        group.sent, group.climsgid = True, climsgid
        self.tried += 1
        tally.requests += 1
        tally.recipients += len(items)
        tally.in_flight += 1
        started = now()
        answer: Sequence[SendResult] = ()
        failure: ASMSError | None = None
        try:
            if self._account is None:
                answer = await self._request(items, climsgid)
            else:
                answer = await self._send_prepaid(items, climsgid)
        except ASMSError as exc:
            failure = exc
        finally:
            tally.in_flight -= 1
            tally.latency.add(now() - started)
        if failure is None:
            if getattr(answer, "unreachable", None) is not None:
                self.unreachable += 1
            results, retry = self._answered(group, items, climsgid, answer)
        elif isinstance(failure, ValidationError) and len(items) > 1:
            group.sent = False
            return None
        else:
            results, retry = self._refused(group, items, climsgid, failure)
        if journal is not None and results:
            await journal.write(result_rows(results, items, climsgid, self._clock))
        if retry:
            group.sent = False  # the rest was refused (ERR 130): nothing of it went out
        return results, retry

    def _refused(
        self, group: Group, items: list[Item], climsgid: str, exc: ASMSError
    ) -> RequestOutcome:
        """Results for a request the sender raised on."""
        if isinstance(exc, ThrottledError) and group.throttled < MAX_THROTTLED:
            group.sent = False  # refused: nothing went out
            if self._pause(exc):
                group.throttled += 1
                return [], items
            # Beyond the run's bound: rejected with 130 below, its description says why.
        if isinstance(exc, GatewayError):
            group.sent = False
            self._check_account(exc.code, exc.description)
            return [make_result(it, climsgid, None, exc.code, exc.description) for it in items], []
        if isinstance(exc, ValidationError):
            group.sent = False
            return self.unsent(items, f"not sent: refused locally ({exc})"), []
        if isinstance(exc, TransportError) and exc.sent is False:
            group.sent = False
            self.unreachable += 1
            return self.unsent(items, f"not sent: {type(exc).__name__} (it never left)"), []
        # Transport or protocol failure of unknown outcome that the sender gave up on.
        return self.unknown(items, climsgid, f"outcome unknown: {type(exc).__name__}"), []

    def _answered(
        self, group: Group, items: list[Item], climsgid: str, answer: Sequence[SendResult]
    ) -> RequestOutcome:
        if isinstance(answer, SendResults):
            columns = answer.accepted_columns()
            if columns is not None and len(columns[0]) == len(items):
                apimsgids, used, parts = columns
                # a resend may have carried an id of its own
                return accepted_bulk_results(items, apimsgids, used or climsgid, parts), []
        results: list[BulkResult] = []
        retry: list[Item] = []
        throttled: SendResult | None = None
        # The sender's own refusal, when it turned one into results: it knows the gateway's
        # clock, and its code (130; a Platform wire's rate limit is 43) marks the refused.
        refusal = getattr(answer, "throttled", None)
        refused_code = refusal.code if isinstance(refusal, ThrottledError) else _ERR_130
        for position, item in enumerate(items):
            got = answer[position] if position < len(answer) else None
            if got is None:
                results.extend(self.unknown([item], climsgid, "outcome unknown: no answer"))
            elif (
                got.error_code == _ERR_130 or got.error_code == refused_code
            ) and group.throttled < MAX_THROTTLED:
                throttled = got
                retry.append(item)
            else:
                result = make_result(
                    item,
                    got.climsgid or climsgid,  # a resend may have carried an id of its own
                    got.apimsgid,
                    got.error_code,
                    got.error_description,
                    got.parts,
                    duplicate=got.duplicate,
                )
                results.append(result)
                if result.state is DeliveryState.REJECTED and got.error_code is not None:
                    self._check_account(got.error_code, got.error_description or "")
        if throttled is not None:
            if not isinstance(refusal, ThrottledError):
                refusal = ThrottledError(_ERR_130, throttled.error_description or "")
            if self._pause(refusal):
                group.throttled += 1
            else:
                results.extend(
                    make_result(
                        it, climsgid, None, refusal.code, refusal.description, throttled.parts
                    )
                    for it in retry
                )
                retry = []
        return results, retry

    def _pause(self, exc: ThrottledError) -> bool:
        """ERR 130: no request from the whole pool until the time the gateway named, measured
        on the gateway's clock (:meth:`ThrottledError.pause`). False, pausing nothing, when
        that is beyond :attr:`throttle_max_wait`: the refused messages are then rejected.
        """
        wait = exc.pause(self._clock.wall_time())
        if wait is None:
            wait = DEFAULT_THROTTLE_PAUSE
        if wait > self.throttle_max_wait:
            exc.not_waited(wait, self.throttle_max_wait)
            return False
        self._limiter.pause_for(wait)
        return True

    def _check_account(self, code: ErrorCode | int, description: str) -> None:
        # A refusal of the account, not of the message: stop sending rather than burn
        # through the rest of the input collecting the same answer.
        known = ErrorCode.coerce(code)
        if isinstance(known, ErrorCode) and (
            known.category is ErrorCategory.AUTHENTICATION or known == ErrorCode.NO_CREDIT_LEFT
        ):
            self._refused_account(
                error_for(known, description or known.description),
                f"not sent: the gateway refused the account (ERR {known:03d})",
            )

    def unsent(self, items: Sequence[Item], reason: str | None = None) -> list[BulkResult]:
        """``not_sent`` results for ``items``: for ``reason``, or why the run stopped."""
        why = reason or self.stop_reason
        return [make_result(it, None, None, NOT_SENT, why) for it in items]

    def unknown(
        self, items: Sequence[Item], climsgid: str | None, reason: str = "outcome unknown"
    ) -> list[BulkResult]:
        """``unknown`` results for ``items``, whose request ``climsgid`` may have left."""
        return [make_result(it, climsgid, None, OUTCOME_UNKNOWN, reason) for it in items]
