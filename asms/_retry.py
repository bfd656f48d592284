"""Retries that never send a message twice.

The gateway has no duplicate protection: a repeated ``sendmsg`` is a repeated SMS. So a failed
attempt is resent blindly only when it provably never left (connect error, connect or pool
timeout). When its outcome is unknown (read timeout, connection lost after writing, 5xx,
truncated reply, ``ERR 901``), the message is looked up by its ``climsgid`` on a grace
schedule first, and resent only when the gateway still does not know it at the end of it.
``ERR 130`` waits until the time it names; everything else is final.

Such a resend carries a ``climsgid`` of its own (:func:`asms._sending.attempt_climsgid`):
a gateway slower to show a message than the schedule waits would otherwise make the resend
a silent duplicate. Every later lookup asks for every attempt's id, and once the request is
settled the attempts concluded "missing" are looked up once more on the same schedule: one
found then was accepted too, a duplicate, counted and reported (``Found.duplicates``,
:attr:`AttemptIds.duplicates`), or, when the request was given up, the message it carried.

The first attempt runs outside tenacity (a tenacity loop costs more than a whole request);
tenacity drives the recovery after a failure.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import anyio
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from ._codes import ErrorCode
from ._config import RetryPolicy
from ._exceptions import (
    ASMSError,
    AuthenticationError,
    GatewayError,
    InternalGatewayError,
    ProtocolError,
    SessionError,
    SOAPFault,
    ThrottledError,
    TransportError,
)
from ._logging import logger
from ._models import NOT_SENT, OUTCOME_UNKNOWN
from ._replies import StatusReply
from ._sending import attempt_climsgid

__all__ = [
    "NOT_SENT",
    "OUTCOME_UNKNOWN",
    "AttemptIds",
    "ClientStatistics",
    "Counters",
    "Found",
    "GaveUp",
    "Mode",
    "run",
]

T = TypeVar("T")


#: ``"read"``: no side effects, retried on every retryable failure. ``"send"``: a message
#: with a ``climsgid`` to reconcile. ``"write"``: side effects but no way to look them up, so
#: only failures that prove the request never left are retried.
Mode = Literal["read", "send", "write"]


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """Counters of a client (and the clients ``with_options`` made from it).

    ``requests``: every HTTP request sent. ``attempts``: tries of commands (first tries and
    resends, auth/ping/lookups excluded). ``reconciled_found`` / ``reconciled_missing``:
    lookups after an attempt of unknown outcome that found the message / concluded it was
    never accepted. ``resent``: tries after the first. ``given_up``: requests abandoned.
    ``duplicates_detected``: recipients found accepted twice (a resend after a lookup that
    concluded "missing", whose earlier attempt showed up later); each such result has
    ``duplicate=True``.
    """

    requests: int = 0
    attempts: int = 0
    reconciled_found: int = 0
    reconciled_missing: int = 0
    resent: int = 0
    given_up: int = 0
    auth_calls: int = 0
    pings: int = 0
    duplicates_detected: int = 0


class Counters:
    """The mutable counters behind :class:`ClientStatistics`."""

    __slots__ = (
        "attempts",
        "duplicates_detected",
        "given_up",
        "pings",
        "reconciled_found",
        "reconciled_missing",
        "requests",
        "resent",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.attempts = 0
        self.reconciled_found = 0
        self.reconciled_missing = 0
        self.resent = 0
        self.given_up = 0
        self.pings = 0
        self.duplicates_detected = 0

    def snapshot(self, auth_calls: int) -> ClientStatistics:
        return ClientStatistics(
            requests=self.requests,
            attempts=self.attempts,
            reconciled_found=self.reconciled_found,
            reconciled_missing=self.reconciled_missing,
            resent=self.resent,
            given_up=self.given_up,
            auth_calls=auth_calls,
            pings=self.pings,
            duplicates_detected=self.duplicates_detected,
        )


@dataclass(frozen=True, slots=True)
class Found:
    """An attempt of unknown outcome turned out accepted: the gateway's lookup answer, and
    the ``climsgid`` of the attempt it found.
    """

    reply: StatusReply
    climsgid: str


class AttemptIds:
    """The ``climsgid`` of each attempt of one request (``mode="send"``).

    ``current`` is the id the next (or latest) attempt carries; the attempt closure reads it.
    ``suspects`` are ids of attempts of unknown outcome whose lookup concluded "missing";
    ``duplicates`` counts those found accepted after all, besides the one reported.
    """

    __slots__ = ("current", "duplicates", "first", "resends", "suspects")

    def __init__(self, first: str) -> None:
        self.first = first
        self.current = first
        self.resends = 0
        self.suspects: list[str] = []
        self.duplicates = 0

    def renew(self) -> None:
        """The current attempt was concluded "missing": the next one gets a new id."""
        self.suspects.append(self.current)
        self.resends += 1
        self.current = attempt_climsgid(self.first, self.resends)


class GaveUp(Exception):
    """The retry budget is spent. ``sent`` is False when the request provably never left,
    None when the gateway may have accepted it. Internal: the client turns it into results.
    """

    def __init__(self, last: ASMSError, sent: bool | None) -> None:
        super().__init__(str(last))
        self.last = last
        self.sent = sent


class _Kind(enum.Enum):
    RESEND = "resend"  # refused or never left: safe to send again
    AMBIGUOUS = "ambiguous"  # may have been accepted
    THROTTLED = "throttled"  # refused until a time
    FINAL = "final"


def _kind(exc: BaseException, throttle_wait: float | None) -> _Kind:
    if isinstance(exc, TransportError):
        if not exc.retryable:
            return _Kind.FINAL
        return _Kind.RESEND if exc.sent is False else _Kind.AMBIGUOUS
    if isinstance(exc, SOAPFault):
        return _Kind.FINAL  # the envelope itself was refused: resending will not help
    if isinstance(exc, ProtocolError | _StillUnknown):
        return _Kind.AMBIGUOUS
    if isinstance(exc, InternalGatewayError):
        return _Kind.AMBIGUOUS  # 901 may come after the message was committed
    if isinstance(exc, ThrottledError):
        return _Kind.THROTTLED if throttle_wait is not None else _Kind.FINAL
    if isinstance(exc, SessionError):
        # Still refused after renewing the session (sessions expiring faster than requests
        # get through): refused means not accepted, so sending again later is safe.
        return _Kind.RESEND
    return _Kind.FINAL


class _StillUnknown(ASMSError):
    """A lookup could not tell whether the message was accepted (it failed itself)."""


class _Missing(enum.Enum):
    MISSING = "missing"
    UNKNOWN = "unknown"


async def _look(lookup: Callable[[str], Awaitable[StatusReply]], climsgid: str) -> _Answer:
    try:
        return await lookup(climsgid)
    except AuthenticationError:
        raise
    except GatewayError as exc:
        # Only "unknown client message id" says the gateway lacks it; any other refusal
        # (901, a lookup limit…) says nothing about the message.
        missing = exc.code == ErrorCode.UNKNOWN_CLIENT_MESSAGE_ID
        return _Missing.MISSING if missing else _Missing.UNKNOWN
    except ASMSError as exc:
        logger.debug("lookup failed: %s", type(exc).__name__)
        return _Missing.UNKNOWN


_Answer = StatusReply | _Missing


async def _reconcile(
    lookup: Callable[[str], Awaitable[StatusReply]],
    ids: AttemptIds,
    policy: RetryPolicy,
    counters: Counters,
) -> Found | _Missing:
    """Ask for the request on the grace schedule, by every attempt's id (the latest first).

    "Missing" needs the last answer for every id to be "unknown client message id": the
    gateway may show a message only some time after it accepted it. An attempt found then
    is the one reported; any other found in the same round is a duplicate.
    """
    pending = [ids.current, *ids.suspects]
    answers: dict[str, _Answer] = {}
    for delay in policy.reconcile_schedule:
        await anyio.sleep(delay)
        for climsgid in pending:
            answers[climsgid] = await _look(lookup, climsgid)
        found = [(c, a) for c, a in answers.items() if isinstance(a, StatusReply)]
        if found:
            counters.reconciled_found += 1
            climsgid, reply = found[0]
            ids.suspects = [c for c in pending if c != climsgid and c not in dict(found)]
            ids.duplicates += len(found) - 1
            return Found(reply, climsgid)
    if all(a is _Missing.MISSING for a in answers.values()):
        counters.reconciled_missing += 1
        return _Missing.MISSING
    return _Missing.UNKNOWN


async def _recheck(
    lookup: Callable[[str], Awaitable[StatusReply]], ids: AttemptIds, policy: RetryPolicy
) -> list[Found]:
    """Look the attempts concluded "missing" up once more, on the schedule again: each one
    found now was accepted after all (those left stay in ``ids.suspects``).
    """
    found: list[Found] = []
    left = list(ids.suspects)
    for delay in policy.reconcile_schedule:
        if not left:
            break
        await anyio.sleep(delay)
        for climsgid in list(left):
            answer = await _look(lookup, climsgid)
            if isinstance(answer, StatusReply):
                left.remove(climsgid)
                found.append(Found(answer, climsgid))
    ids.suspects = left
    return found


class _Recovery(Generic[T]):
    """State of one request's recovery after its first attempt failed."""

    def __init__(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        mode: Mode,
        policy: RetryPolicy,
        counters: Counters,
        lookup: Callable[[str], Awaitable[StatusReply]] | None,
        ids: AttemptIds | None,
        clock: Callable[[], float],
    ) -> None:
        self.attempt = attempt
        self.mode = mode
        self.policy = policy
        self.counters = counters
        self.lookup = lookup
        self.ids = ids
        self.clock = clock
        self.ambiguous = False

    def throttle_wait(self, exc: BaseException) -> float | None:
        """Seconds to wait for an ``ERR 130``, by the gateway's clock (see
        :meth:`ThrottledError.pause`); None when it names no time or when the pause is
        beyond ``throttle_max_wait``: then the refusal is final and its description says so.
        """
        if not isinstance(exc, ThrottledError):
            return None
        wait = exc.pause(self.clock())
        if wait is None:
            return None
        limit = self.policy.throttle_max_wait
        if wait <= limit:
            return wait
        if limit > 0:  # 0: the caller waits itself (a bulk run's pool)
            exc.not_waited(wait, limit)
        return None

    def kind(self, exc: BaseException) -> _Kind:
        kind = _kind(exc, self.throttle_wait(exc))
        if kind is _Kind.AMBIGUOUS:
            if self.mode == "read":
                return _Kind.RESEND
            if self.mode == "write":
                return _Kind.FINAL
        return kind

    def should_retry(self, exc: BaseException) -> bool:
        return isinstance(exc, ASMSError) and self.kind(exc) is not _Kind.FINAL

    def wait(self, exc: BaseException | None, number: int) -> float:
        """The pause before the next step (``number`` counts the steps of this recovery)."""
        if exc is None:
            return 0.0
        kind = self.kind(exc)
        if kind is _Kind.THROTTLED:
            return self.throttle_wait(exc) or 0.0
        if kind is _Kind.AMBIGUOUS:
            return 0.0  # the reconciliation schedule does the waiting
        policy = self.policy
        growth: float = 2.0 ** (number - 1)
        backoff = min(policy.backoff_max, policy.backoff_initial * growth)
        return backoff + random.uniform(0.0, policy.jitter)

    def tenacity_wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        exc: BaseException | None = outcome.exception() if outcome is not None else None
        return float(self.wait(exc, int(state.attempt_number) + 1))

    async def step(self) -> T | Found:
        """Reconcile the previous attempt if it may have been accepted, else send again."""
        if self.ambiguous:
            assert self.lookup is not None and self.ids is not None
            verdict = await _reconcile(self.lookup, self.ids, self.policy, self.counters)
            if isinstance(verdict, Found):
                return verdict
            if verdict is _Missing.UNKNOWN:
                raise _StillUnknown("the gateway could not say whether it has the message")
            self.ids.renew()
            self.ambiguous = False
        self.counters.attempts += 1
        self.counters.resent += 1
        try:
            return await self.attempt()
        except ASMSError as exc:
            self.ambiguous = self.kind(exc) is _Kind.AMBIGUOUS
            raise

    async def settled(self, outcome: T | Found) -> T | Found:
        """The request is settled: look the attempts concluded "missing" up once more."""
        ids = self.ids
        if ids is not None and ids.suspects and self.lookup is not None:
            ids.duplicates += len(await _recheck(self.lookup, ids, self.policy))
        return outcome

    async def give_up(self, last: ASMSError) -> Found:
        """The budget is spent: one last look-up (it never resends), else give up."""
        self.counters.given_up += 1
        ids = self.ids
        sent: bool | None
        if self.ambiguous and self.lookup is not None and ids is not None:
            verdict = await _reconcile(self.lookup, ids, self.policy, self.counters)
            if isinstance(verdict, Found):
                self.counters.given_up -= 1
                settled = await self.settled(verdict)
                assert isinstance(settled, Found)
                return settled
            # "missing": it never arrived, a later resend is safe (unless a recheck below
            # finds an attempt after all).
            sent = False if verdict is _Missing.MISSING else None
            ids.suspects.append(ids.current)
        else:
            never_left = isinstance(last, TransportError) and last.sent is False
            refused = isinstance(last, ThrottledError | SessionError)
            sent = False if never_left or refused else None
        if ids is not None and ids.suspects and self.lookup is not None:
            found = await _recheck(self.lookup, ids, self.policy)
            if found:
                # An attempt concluded "missing" was accepted after all: that is the
                # message's outcome, and any other found is its duplicate.
                self.counters.given_up -= 1
                ids.duplicates += len(found) - 1
                return found[0]
        raise GaveUp(last, sent)


async def run(
    attempt: Callable[[], Awaitable[T]],
    *,
    mode: Mode,
    policy: RetryPolicy,
    counters: Counters,
    lookup: Callable[[str], Awaitable[StatusReply]] | None = None,
    ids: AttemptIds | None = None,
    clock: Callable[[], float],
) -> T | Found:
    """Run ``attempt`` until it succeeds, fails for good, or the policy's budget is spent.

    Returns the attempt's result, or :class:`Found` when an attempt of unknown outcome was
    found accepted by ``lookup`` (called with a ``climsgid``). Final failures are raised as
    they are; a spent budget raises :class:`GaveUp`. ``mode="send"`` needs ``lookup`` and
    ``ids``, whose ``current`` id ``attempt`` must send; duplicates found are counted in
    ``ids.duplicates`` (the caller counts them per recipient).
    """
    counters.attempts += 1
    try:
        return await attempt()
    except ASMSError as exc:
        first = exc
    return await recover(
        first,
        attempt,
        mode=mode,
        policy=policy,
        counters=counters,
        lookup=lookup,
        ids=ids,
        clock=clock,
    )


async def recover(
    first: ASMSError,
    attempt: Callable[[], Awaitable[T]],
    *,
    mode: Mode,
    policy: RetryPolicy,
    counters: Counters,
    lookup: Callable[[str], Awaitable[StatusReply]] | None = None,
    ids: AttemptIds | None = None,
    clock: Callable[[], float],
) -> T | Found:
    """:func:`run` after its first attempt (counted by the caller) failed with ``first``.

    For hot paths that make the first attempt inline and need this only on failure.
    """
    if mode == "send" and lookup is not None and ids is None:
        raise ValueError("mode='send' needs the attempts' ids")
    recovery = _Recovery(
        attempt, mode=mode, policy=policy, counters=counters, lookup=lookup, ids=ids, clock=clock
    )
    kind = recovery.kind(first)
    if kind is _Kind.FINAL:
        if mode == "write" and _kind(first, None) is _Kind.AMBIGUOUS:
            counters.given_up += 1
            raise GaveUp(first, None)
        raise first
    recovery.ambiguous = kind is _Kind.AMBIGUOUS
    logger.debug("attempt failed (%s), recovering", type(first).__name__)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts - 1) | stop_after_delay(policy.timeout),
        wait=recovery.tenacity_wait,
        retry=retry_if_exception(recovery.should_retry),
        sleep=anyio.sleep,
        reraise=True,
    )
    last: ASMSError = first
    if policy.attempts > 1:
        await anyio.sleep(recovery.wait(first, 1))
        try:
            async for state in retrying:
                with state:
                    return await recovery.settled(await recovery.step())
        except ASMSError as exc:
            last = exc
            if not recovery.should_retry(exc):
                if mode == "write" and _kind(exc, None) is _Kind.AMBIGUOUS:
                    counters.given_up += 1
                    raise GaveUp(exc, None) from None
                raise
    return await recovery.give_up(last)
