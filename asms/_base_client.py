"""The mechanics under `AsyncClient`: state, sessions, one request and its answer, sending.

`BaseClient` is what every public command of :class:`asms.AsyncClient` (``_client.py``, the
surface) goes through: the state a client and its ``with_options`` copies share, sessions
and the keep-alive loop, the exchange with the transport, requests sent (split when longer
than the wire allows) with retries and reconciliation, and the bookkeeping of the caller's
``climsgid``s. `ClientBatchCalls` is the narrow part of it a `Batch` uses.

The two methods every request goes through are written for speed; they sit in one fenced
section at the end of `BaseClient`, each next to its plain twin (see there).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final, TypeVar

import anyio
import anyio.abc

from ._codes import ErrorCode
from ._compat import httpx
from ._config import DEFAULT_THROTTLE_PAUSE, ApiKey, ClientOptions, Credentials, RetryPolicy
from ._exceptions import (
    ASMSError,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    GatewayError,
    SessionError,
    ThrottledError,
    TransportError,
)
from ._limiter import PREPAID, Limiter
from ._logging import IN_FLIGHT, logger
from ._models import new_climsgid
from ._optable import OPERATIONS, Operation
from ._replies import StatusReply, expect_ok, expect_session, expect_status
from ._results import SendResults
from ._retry import (
    NOT_SENT,
    OUTCOME_UNKNOWN,
    AttemptIds,
    Counters,
    Found,
    GaveUp,
    Mode,
    recover,
    run,
)
from ._sending import (
    SendReply,
    TextCache,
    all_results,
    check_climsgid,
    chunk_climsgid,
    chunks,
    derived_climsgid,
    found_results,
    match_replies,
    normalize_recipients,
    op_options,
    parse_send,
)
from ._session import Session, copy_transport_error
from ._transport import PreparedTransport, reply_too_large
from ._wire import (
    MAX_REPLY_BYTES,
    Params,
    SendPrepared,
    Wire,
    gateway_time,
    make_wire,
    map_transport_error,
    roundtrip,
    roundtrip_headers,
    roundtrip_prepared,
)

__all__ = [
    "MAX_REMEMBERED_CLIMSGIDS",
    "BaseClient",
    "ClientBatchCalls",
    "ClientState",
    "R",
    "Shared",
]

R = TypeVar("R")

_QUERYMSG: Final = OPERATIONS["querymsg"]
_AUTH_FAILED: Final = ErrorCode.AUTHENTICATION_FAILED
#: Session refusals one request may meet in a row before it gives up.
_MAX_REFUSALS: Final = 16
#: Caller ``climsgid``s a client remembers having sent (about 10 MB at most). Beyond it every
#: caller id gets a derived one: an id no longer remembered might have been sent before.
MAX_REMEMBERED_CLIMSGIDS: Final = 100_000
#: Longest the keep-alive loop sleeps between looks at its sessions.
_PING_POLL: Final = 5.0


class ClientState(enum.Enum):
    """Where a client is in its life: not entered yet, entered (``async with``), closed."""

    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class Shared:
    """What a client and the copies ``with_options`` makes share: the transport (pool),
    sessions, counters and the keep-alive task.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport
        self.transport_entered = False
        self.sessions: dict[Credentials | ApiKey, Session] = {}
        self.counters = Counters()
        self.state = ClientState.UNOPENED
        self.task_group: anyio.abc.TaskGroup | None = None
        self.keepalive: anyio.CancelScope | None = None
        #: Caller ``climsgid``s sent by ``send()``, the pushes and bulk runs.
        self.climsgids: set[str] = set()
        self.climsgids_full = False
        #: Request ids ``send_bulk`` already made unique (and journaled): ``send_request``
        #: sends each once as given instead of checking it against ``climsgids`` again.
        self.reserved_climsgids: set[str] = set()


class BaseClient:
    """State, sessions and the exchange every command of `AsyncClient` goes through."""

    _clock: Callable[[], float]
    _options: ClientOptions
    _shared: Shared
    _owner: bool
    _closed: bool
    _wire: Wire
    _texts: TextCache
    _transport: httpx.AsyncBaseTransport
    _send_prepared: SendPrepared | None
    _limiter: Limiter | None = None
    _counters: Counters
    _retry: RetryPolicy
    _retry_no_throttle_wait: RetryPolicy
    _auth_params: dict[str, str]
    _session: Session

    def _setup(self, options: ClientOptions, shared: Shared, *, owner: bool) -> None:
        """Make this client one that sends with ``options`` through ``shared``; the
        ``owner`` (the client the caller built, not a ``with_options`` copy) closes it."""
        self._options = options
        self._shared = shared
        self._owner = owner
        self._closed = False
        self._wire = make_wire(options)
        self._texts = TextCache(self._wire, options.max_parts)
        transport = shared.transport
        self._transport = transport
        # asms's own transport takes requests already serialized: no httpx.Request per call.
        # Asked once here: an isinstance() against a protocol inspects the object each time.
        self._send_prepared = (
            transport.send_prepared if isinstance(transport, PreparedTransport) else None
        )
        self._counters = shared.counters
        self._retry = options.retry
        # For callers that schedule around ERR 130 themselves (the bulk pool pauses as a
        # whole): the refusal comes back at once instead of being waited out here.
        self._retry_no_throttle_wait = replace(options.retry, throttle_max_wait=0.0)
        self._auth_params = options.credentials.params()
        session = shared.sessions.get(options.credentials)
        if session is None:
            session = Session(self._authenticate_with(options.credentials), clock=self._clock)
            shared.sessions[options.credentials] = session
        self._session = session

    def _state(self) -> ClientState:
        return ClientState.CLOSED if self._closed else self._shared.state

    def _ensure_open(self) -> None:
        if self._closed or self._shared.state is ClientState.CLOSED:
            raise ClientClosedError("the client is closed")

    # -- sessions ----------------------------------------------------------------------------

    def _authenticate_with(self, credentials: Credentials | ApiKey) -> Callable[[], Awaitable[str]]:
        auth_op = OPERATIONS["auth"]
        params = credentials.params()

        async def authenticate() -> str:
            self._ensure_open()
            status, content = await self._exchange(auth_op, {}, params)
            return expect_session(self._wire.unwrap(status, content))

        return authenticate

    @staticmethod
    async def _session_for(session: Session, renew: int | None = None) -> tuple[str, int, bool]:
        """The session to use (renewed when ``renew`` names a refused generation).

        A failure to get one means the command itself never left: it is raised as a
        ``TransportError`` with ``sent=False`` (an ``AuthenticationError`` stays what it is),
        so the command is retried as "never sent" and not reconciled.
        """
        error: ASMSError
        try:
            if renew is None:
                return (*await session.current(), False)
            return await session.renew(renew)
        except AuthenticationError:
            raise
        except TransportError as exc:
            error = copy_transport_error(exc, sent=False)
        except ASMSError as exc:
            error = ConnectError(f"could not open a session: {exc}", sent=False)
        raise error

    async def _open_session(self) -> None:
        """Have a session when the client uses one (a bulk run's workers wait for it before
        taking rate slots); raises what opening it raised."""
        if self._options.session and self._session.current_id() is None:
            await self._session_for(self._session)

    async def _ping(self, session: Session, session_id: str, generation: int) -> None:
        self._counters.pings += 1
        status, content = await self._exchange(OPERATIONS["ping"], {}, {"session_id": session_id})
        try:
            expect_ok(self._wire.unwrap(status, content))
        except (SessionError, AuthenticationError):
            session.invalidate(generation)  # the next request authenticates again
            raise
        session.touch()

    async def _keepalive(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Ping every session that has been idle for ``ping_interval`` seconds.

        Runs in its own cancel scope, which ``aclose()`` cancels: cancelling the task
        group's would cancel the body of the caller's ``async with`` too.
        """
        with anyio.CancelScope() as scope:
            self._shared.keepalive = scope
            task_status.started()
            await self._keepalive_loop()

    async def _keepalive_loop(self) -> None:
        interval = self._options.ping_interval
        while True:
            wait = min(interval, _PING_POLL)
            for session in list(self._shared.sessions.values()):
                current = session.current_id()
                if current is None:
                    continue
                remaining = interval - session.idle_for()
                if remaining > 0:
                    wait = min(wait, remaining)
                    continue
                try:
                    await self._ping(session, *current)
                except Exception as exc:  # never let the pinger take the caller's task down
                    logger.info("keep-alive ping failed: %s", type(exc).__name__)
            await anyio.sleep(max(wait, 0.01))

    # -- one exchange ------------------------------------------------------------------------

    async def _exchange(
        self, op: Operation, params: Params, auth: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """One HTTP exchange for ``op``: status and body (no retries, no session logic)."""
        wire = self._wire
        send = self._send_prepared
        prepared = None if send is None else wire.prepare(op, params, auth)
        self._counters.requests += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("request %s", _described(op, params, self._options.wire))
        if prepared is None:
            status, content = await roundtrip(self._transport, wire.build(op, params, auth))
        else:
            assert send is not None
            status, content = await roundtrip_prepared(send, wire.origin, prepared, wire.timeouts)
        logger.debug("reply to %s: HTTP %d, %d bytes", op.name, status, len(content))
        return status, content

    async def _read(self, op: Operation, params: Params, parse: Callable[[bytes | str], R]) -> R:
        """A command without side effects: retried on any retryable failure."""
        return await self._run(op, params, parse, "read")

    async def _run(
        self, op: Operation, params: Params, parse: Callable[[bytes | str], R], mode: Mode
    ) -> R:
        error: ASMSError
        try:
            outcome = await run(
                lambda: self._call(op, params, parse),
                mode=mode,
                policy=self._retry,
                counters=self._counters,
                clock=self._clock,
            )
        except GaveUp as exc:
            error = exc.last
        else:
            assert not isinstance(outcome, Found)
            return outcome
        raise error

    async def _lookup(self, climsgid: str) -> StatusReply:
        return await self._call(_QUERYMSG, {"climsgid": climsgid}, expect_status)

    # -- the caller's climsgids --------------------------------------------------------------

    def _request_climsgid(self, climsgid: str | None) -> str:
        """The id of one ``send_request``: a new one, a reserved one as it is, or
        :meth:`_unused_climsgid` of the caller's."""
        if climsgid is None:
            return new_climsgid()
        reserved = self._shared.reserved_climsgids
        if climsgid in reserved:
            reserved.discard(climsgid)
            return climsgid
        return self._unused_climsgid(climsgid)

    def _reserve_climsgid(self, climsgid: str) -> None:
        """``send_bulk`` made ``climsgid`` unique and journaled it: send it once as given."""
        self._shared.reserved_climsgids.add(climsgid)

    def _unused_climsgid(self, climsgid: str) -> str:
        """The id a request given the caller's ``climsgid`` carries: as given the first time,
        a derived one once this client (or a ``with_options`` sibling) has sent it.

        Reusing it would make the lookup after a failed attempt find the earlier message and
        report this one accepted under its id, never sent. Checked and recorded before any
        await, so two concurrent sends with one id cannot both use it.
        """
        shared = self._shared
        if shared.climsgids_full:
            # Ids given since the set filled were never recorded: none can be trusted unused.
            return derived_climsgid(climsgid)
        seen = shared.climsgids
        if climsgid in seen:
            climsgid = derived_climsgid(climsgid)
        if len(seen) >= MAX_REMEMBERED_CLIMSGIDS:
            shared.climsgids_full = True
            logger.warning(
                "%d caller climsgids remembered: every further one gets a derived id",
                MAX_REMEMBERED_CLIMSGIDS,
            )
            return climsgid  # unrecorded, but every later id is derived: never reused
        # A derived id is remembered too: a caller may pass back the id a result reported.
        seen.add(climsgid)
        return climsgid

    def _remember_climsgids(self, climsgids: Iterable[str]) -> None:
        """Ids a split send used besides the caller's (``<id>c<n>``), while there is room."""
        seen = self._shared.climsgids
        for climsgid in climsgids:
            if len(seen) >= MAX_REMEMBERED_CLIMSGIDS:
                return
            seen.add(climsgid)

    # -- sending -----------------------------------------------------------------------------

    async def _send_split(
        self,
        op: Operation,
        params: Mapping[str, str],
        recipients: Sequence[str],
        climsgid: str | None,
        parts: int,
        *,
        reconcile: bool = True,
    ) -> SendResults:
        """Send to ``recipients`` in as many requests as the wire needs, concurrently.

        Each request gets its own ``climsgid`` (the caller's plus ``c<n>`` when it gave one)
        unless ``reconcile`` is off: batch items all carry the batch's.
        """
        if len(recipients) <= self._wire.max_recipients:
            # One request: the recipients as they are (not a slice: a list that
            # normalize_recipients joined already stays joined).
            cid = (climsgid or new_climsgid()) if reconcile else climsgid
            return await self._send_request(op, params, recipients, cid, parts, reconcile=reconcile)
        groups = chunks(recipients, self._wire.max_recipients)
        count = len(groups)
        base = climsgid or ""
        logger.debug("%s to %d recipients in %d requests", op.name, len(recipients), count)
        if base and reconcile:
            self._remember_climsgids(chunk_climsgid(base, i, count) for i in range(count))
        slots: list[SendResults] = [SendResults() for _ in groups]
        errors: list[tuple[int, ASMSError]] = []
        cids: list[str | None] = [
            climsgid
            if not reconcile  # batch items carry the batch's id, if any
            else chunk_climsgid(base, index, count)
            if base
            else new_climsgid()
            for index in range(count)
        ]

        async def one(index: int) -> None:
            try:
                slots[index] = await self._send_request(
                    op, params, groups[index], cids[index], parts, reconcile=reconcile
                )
            except ASMSError as exc:
                errors.append((index, exc))

        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(one, index)
        if len(errors) == count:
            # Every request refused: nothing went out or was accepted, as for one request.
            raise min(errors, key=lambda error: error[0])[1]
        for index, exc in errors:
            # Some requests were answered: their results must not be lost with this one's
            # refusal (a caller who saw only the exception would send them again).
            logger.warning(
                "%s: request %d of %d refused (%s: %s); the send returns every recipient's result",
                op.name,
                index + 1,
                count,
                type(exc).__name__,
                exc,
            )
            slots[index] = self._failed_request(exc, groups[index], cids[index], parts)
        return SendResults(result for slot in slots for result in slot)

    def _failed_request(
        self, exc: ASMSError, recipients: Sequence[str], climsgid: str | None, parts: int
    ) -> SendResults:
        """The results of one request of a split send that raised ``exc``."""
        if isinstance(exc, GatewayError):
            return self._refused(exc, recipients, climsgid, parts, None)
        if isinstance(exc, TransportError) and exc.sent is not False:
            code, what = OUTCOME_UNKNOWN, "outcome unknown"
        else:
            code, what = NOT_SENT, "not sent"
        note = f"{what}: {type(exc).__name__}: {exc}"
        return all_results(recipients, climsgid, code, note, parts, None)

    async def _push(
        self,
        op: Operation,
        to: str | Iterable[str],
        options: Mapping[str, Any],
        climsgid: str | None,
    ) -> SendResults:
        """``si_push`` or ``ind_push`` (``op``) with its own ``options``."""
        self._ensure_open()
        params = op_options(op, options, exclude=("to", "climsgid"))
        recipients = normalize_recipients(to, self._options.country_code)
        if climsgid is not None:
            check_climsgid(climsgid)
            climsgid = self._unused_climsgid(climsgid)
        return await self._send_split(op, params, recipients, climsgid, 1)

    def _settled(
        self,
        op: Operation,
        outcome: SendReply | Found,
        recipients: Sequence[str],
        climsgid: str | None,
        ids: AttemptIds | None,
        parts: int,
        refs: Sequence[Any] | None,
    ) -> SendResults:
        """The results of a request the gateway answered (or was found to have taken)."""
        if isinstance(outcome, Found):
            results = found_results(recipients, outcome.climsgid, outcome.reply, parts, refs)
        elif ids is None:
            return match_replies(recipients, outcome, climsgid, parts, refs)
        else:
            results = match_replies(recipients, outcome, ids.current, parts, refs)
        if ids is not None and ids.duplicates:
            results = self._duplicates(op, results, ids)
        return results

    def _gave_up(
        self,
        op: Operation,
        exc: GaveUp,
        recipients: Sequence[str],
        climsgid: str | None,
        parts: int,
        refs: Sequence[Any] | None,
    ) -> SendResults:
        """Every recipient's result once the retries are spent (``climsgid``: the last used)."""
        code = NOT_SENT if exc.sent is False else OUTCOME_UNKNOWN
        what = "not sent" if exc.sent is False else "outcome unknown"
        note = f"{what} after {self._retry.attempts} attempts: {exc.last}"
        if exc.sent is not False and not self._wire.lookups:
            # Given up at the first doubt: the platform cannot say whether it has the message.
            note = (
                f"outcome unknown: not sent again, as the {self._wire.name} wire cannot look"
                f" a message up by climsgid: {exc.last}"
            )
        logger.info("%s climsgid=%s: %s", op.name, climsgid, note)
        results = all_results(recipients, climsgid, code, note, parts, refs)
        if isinstance(exc.last, TransportError) and exc.last.sent is False:
            # Never reached the gateway at all (refused, unresolved, connect timeout): not a
            # request the gateway dropped and a lookup then found missing.
            results.unreachable = exc.last
        return results

    def _refused_in_doubt(
        self,
        op: Operation,
        exc: AuthenticationError,
        recipients: Sequence[str],
        climsgid: str | None,
        parts: int,
        refs: Sequence[Any] | None,
    ) -> SendResults:
        """The results of a request whose reply was lost and whose lookup the gateway then
        refused for the account: the request may have been accepted, so its recipients are
        unknown (raising, as for a refused request, would tell the caller nothing went out)."""
        note = (
            f"outcome unknown: the reply was lost, and the lookup was refused ({exc}); look"
            f" it up by climsgid once the account works, before sending it again"
        )
        logger.warning("%s climsgid=%s: %s", op.name, climsgid, note)
        return all_results(recipients, climsgid, OUTCOME_UNKNOWN, note, parts, refs)

    @staticmethod
    def _refused(
        exc: GatewayError,
        recipients: Sequence[str],
        climsgid: str | None,
        parts: int,
        refs: Sequence[Any] | None,
    ) -> SendResults:
        """Every recipient's result when the gateway refused the whole request."""
        refused = all_results(recipients, climsgid, exc.code, exc.description, parts, refs)
        if isinstance(exc, ThrottledError):
            refused.throttled = exc  # a caller pausing for it needs the gateway's clock
        return refused

    def _duplicates(self, op: Operation, results: SendResults, ids: AttemptIds) -> SendResults:
        """Mark the accepted recipients of a request the gateway accepted more than once."""
        marked = SendResults(replace(r, duplicate=True) if r.accepted else r for r in results)
        count = sum(r.duplicate for r in marked)
        self._counters.duplicates_detected += count
        logger.warning(
            "%s climsgid=%s: the gateway accepted it twice (an attempt looked up as missing"
            " showed up later): %d recipient(s) got it twice",
            op.name,
            ids.current,
            count,
        )
        return marked

    # -- the client's limiter ----------------------------------------------------------------

    async def _limited_call(
        self, limiter: Limiter, slots: int, op: Operation, params: Params
    ) -> SendReply:
        """A resend of a request through the client's limiter: every gateway request that
        carries messages takes its recipients' slots, a retry included."""
        await limiter.acquire(slots)
        return await self._call(op, params, parse_send)

    def _pause_limiter(self, limiter: Limiter, exc: ThrottledError) -> None:
        """ERR 130: the client's limiter (and so every client, run and process sharing it)
        grants nothing until the time the gateway named, measured on the gateway's clock, as
        a bulk run pauses its own. A pause beyond the retry policy's ``throttle_max_wait``
        is not made: the refusal is then final, so nothing waits for it."""
        wait = exc.pause(self._clock())
        if wait is None:
            wait = DEFAULT_THROTTLE_PAUSE
        if wait <= self._retry.throttle_max_wait:
            limiter.pause_for(wait)

    # == the fast path ======================================================================
    # Every request goes through _call, every sending request through _send_request: they are
    # written for speed (calls inlined, one coroutine fewer per request). Each is followed by
    # its plain twin, the straightforward code it stands for, which the client never calls:
    # tests/client/test_fast_path.py runs both on the same exchanges and holds them equal.
    # Change a fast method only together with its twin.

    async def _call(self, op: Operation, params: Params, parse: Callable[[bytes | str], R]) -> R:
        """Send one request and parse its answer, handling the session: a refused session
        (003, 005, or 001 for a request that carried one) is renewed and the request sent
        again (it was refused: safe). The policy's ``reauth_limit`` bounds the ``auth`` calls
        one request makes itself; picking up a session another request just renewed is free
        (when sessions expire while many requests are in flight, a request may be refused
        several times in a row without anything being wrong).

        Plain twin: :meth:`_call_plain`.
        """
        if self._closed or self._shared.state is ClientState.CLOSED:  # _ensure_open()
            raise ClientClosedError("the client is closed")
        wire = self._wire
        parse = wire.reader(op, parse)
        session = self._session if self._options.session else None
        reauths = refusals = 0
        retried_001 = False
        while True:
            generation = -1
            if session is None:
                auth = self._auth_params
            else:
                # A live session is used without awaiting _session_for().
                known = session.current_id()
                if known is None:
                    session_id, generation, _ = await self._session_for(session)
                else:
                    session_id, generation = known
                auth = {"session_id": session_id}
            send = self._send_prepared
            prepared = None if send is None else wire.prepare(op, params, auth)
            self._counters.requests += 1
            debug = logger.isEnabledFor(logging.DEBUG)
            if debug:  # no parameter values: they may be credentials or a session id
                logger.debug("request %s", _described(op, params, self._options.wire))
            if prepared is None:
                request = wire.build(op, params, auth)
                status, headers, content = await roundtrip_headers(self._transport, request)
            else:
                # roundtrip_prepared(), inline, keeping the headers.
                assert send is not None
                failure: TransportError | None = None
                try:
                    status, headers, content, _, _ = await send(
                        wire.origin, "POST", prepared[0], prepared[1], wire.timeouts
                    )
                except (httpx.HTTPError, OSError) as exc:
                    failure = map_transport_error(exc)
                if failure is not None:  # raised here: no context leads to the httpx error
                    raise failure
                if len(content) > MAX_REPLY_BYTES:
                    raise reply_too_large(MAX_REPLY_BYTES)
            if debug:
                logger.debug("reply to %s: HTTP %d, %d bytes", op.name, status, len(content))
            if session is None:
                try:
                    # Unwrapped inside: a Platform wire refuses HTTP 429 as a ThrottledError.
                    return parse(wire.unwrap(status, content))
                except ThrottledError as exc:
                    exc.gateway_time = gateway_time(headers)
                    if self._limiter is not None:
                        self._pause_limiter(self._limiter, exc)
                    raise
            body = wire.unwrap(status, content)
            session.touch()
            try:
                return parse(body)
            except ThrottledError as exc:
                # The time it names is the gateway's: so is the "now" to measure it from.
                exc.gateway_time = gateway_time(headers)
                if self._limiter is not None:
                    self._pause_limiter(self._limiter, exc)
                raise
            except (SessionError, AuthenticationError) as exc:
                if isinstance(exc, AuthenticationError):
                    if exc.code != _AUTH_FAILED or retried_001:
                        raise
                    retried_001 = True  # some gateways answer an expired session with 001
                refusals += 1
                if reauths >= self._retry.reauth_limit or refusals > _MAX_REFUSALS:
                    raise
                logger.debug("session refused (%03d): renewing it", exc.code)
            _, _, authenticated = await self._session_for(session, renew=generation)
            reauths += authenticated

    async def _call_plain(
        self, op: Operation, params: Params, parse: Callable[[bytes | str], R]
    ) -> R:
        """The plain twin of :meth:`_call`: the session always through :meth:`_session_for`,
        the request always built as an ``httpx.Request`` and sent by ``roundtrip_headers``."""
        self._ensure_open()
        wire = self._wire
        parse = wire.reader(op, parse)
        session = self._session if self._options.session else None
        reauths = refusals = 0
        retried_001 = False
        while True:
            generation = -1
            if session is None:
                auth = self._auth_params
            else:
                session_id, generation, _ = await self._session_for(session)
                auth = {"session_id": session_id}
            self._counters.requests += 1
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("request %s", _described(op, params, self._options.wire))
            request = wire.build(op, params, auth)
            status, headers, content = await roundtrip_headers(self._transport, request)
            logger.debug("reply to %s: HTTP %d, %d bytes", op.name, status, len(content))
            try:
                # Unwrapped inside: a Platform wire refuses HTTP 429 as a ThrottledError.
                body = wire.unwrap(status, content)
                if session is not None:
                    session.touch()
                return parse(body)
            except ThrottledError as exc:
                exc.gateway_time = gateway_time(headers)
                if self._limiter is not None:
                    self._pause_limiter(self._limiter, exc)
                raise
            except (SessionError, AuthenticationError) as exc:
                if session is None:
                    raise
                if isinstance(exc, AuthenticationError):
                    if exc.code != _AUTH_FAILED or retried_001:
                        raise
                    retried_001 = True
                refusals += 1
                if reauths >= self._retry.reauth_limit or refusals > _MAX_REFUSALS:
                    raise
                logger.debug("session refused (%03d): renewing it", exc.code)
            _, _, authenticated = await self._session_for(session, renew=generation)
            reauths += authenticated

    async def _send_request(
        self,
        op: Operation,
        params: Mapping[str, str],
        recipients: Sequence[str],
        climsgid: str | None,
        parts: int,
        refs: Sequence[Any] | None = None,
        *,
        reconcile: bool = True,
        wait_throttled: bool = True,
        warn_interrupted: bool = True,
    ) -> SendResults:
        """One request (at most the wire's recipient limit) with retries, and with
        reconciliation by ``climsgid`` unless ``reconcile`` is off (batch items: their
        ``climsgid`` belongs to the batch, so an unknown outcome cannot be looked up) or the
        wire cannot look messages up (the Platform wires: the request still carries its
        ``climsgid``, which status callbacks echo, and an attempt of unknown outcome is never
        resent: its recipients end ``OUTCOME_UNKNOWN``). Without ``wait_throttled`` an
        ``ERR 130`` is every recipient's result at once. Cancelled (or interrupted) once
        its first attempt began, it logs a WARNING with the ``climsgid`` that may have been
        accepted, unless ``warn_interrupted`` is off (a bulk run reports it as a result).

        Plain twin: :meth:`_send_request_plain`.
        """
        full: dict[str, str | Sequence[str]] = dict(params)
        full["to"] = recipients
        ids: AttemptIds | None = None
        if reconcile:
            assert climsgid is not None
            full["climsgid"] = climsgid
            if self._wire.lookups:
                ids = AttemptIds(climsgid)
        error: ASMSError
        first: ASMSError | None = None
        limiter = self._limiter
        lookups: _Lookups | None = None  # made on the retry path only

        def again() -> Awaitable[SendReply]:
            if ids is not None:
                full["climsgid"] = ids.current  # a new id after a "missing" verdict
            if limiter is not None:
                return self._limited_call(limiter, len(recipients), op, full)
            return self._call(op, full, parse_send)

        started = False
        try:
            if limiter is not None and PREPAID.get() is not limiter:
                await limiter.acquire(len(recipients))
            # run(), inline: the first attempt here, the retry machinery only when it fails.
            self._counters.attempts += 1
            started = warn_interrupted
            try:
                outcome: SendReply | Found = await self._call(op, full, parse_send)
            except ASMSError as exc:
                first = exc
            if first is not None:
                lookups = _Lookups(self._lookup)
                outcome = await recover(
                    first,
                    again,
                    mode="send" if ids is not None else "write",
                    policy=self._retry if wait_throttled else self._retry_no_throttle_wait,
                    counters=self._counters,
                    lookup=lookups.look if ids is not None else None,
                    ids=ids,
                    clock=self._clock,
                )
        except GaveUp as exc:
            used = climsgid if ids is None else ids.current
            return self._gave_up(op, exc, recipients, used, parts, refs)
        except GatewayError as exc:
            used = climsgid if ids is None else ids.current
            if not isinstance(exc, AuthenticationError):
                return self._refused(exc, recipients, used, parts, refs)
            if lookups is not None and lookups.refused:
                return self._refused_in_doubt(op, exc, recipients, used, parts, refs)
            error = exc
        except BaseException as exc:
            if started and not isinstance(exc, Exception):
                self._interrupted(
                    op, exc, len(recipients), climsgid if ids is None else ids.current
                )
            raise
        else:
            return self._settled(op, outcome, recipients, climsgid, ids, parts, refs)
        raise error

    def _interrupted(
        self, op: Operation, exc: BaseException, recipients: int, climsgid: str | None
    ) -> None:
        """Say which request a cancelled or interrupted send may have left accepted: the
        caller gets no result for it, and sending it again blindly may send it twice."""
        if climsgid is None:
            how = "it carried no climsgid to look it up by"
        elif self._wire.lookups:
            how = f"look it up (client.query_climsgid({climsgid!r})) before sending it again"
        else:
            how = f"its status callback names climsgid {climsgid}; do not send it again blindly"
        logger.warning(
            "%s %s with its request to %d recipient(s) in flight: the gateway may have"
            " accepted it; %s",
            op.name,
            "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else "interrupted",
            recipients,
            how,
            extra={IN_FLIGHT: climsgid},
        )

    async def _send_request_plain(
        self,
        op: Operation,
        params: Mapping[str, str],
        recipients: Sequence[str],
        climsgid: str | None,
        parts: int,
        refs: Sequence[Any] | None = None,
        *,
        reconcile: bool = True,
        wait_throttled: bool = True,
        warn_interrupted: bool = True,
    ) -> SendResults:
        """The plain twin of :meth:`_send_request`: every attempt through ``run()``, each
        sent by :meth:`_call_plain`."""
        full: dict[str, str | Sequence[str]] = dict(params)
        full["to"] = recipients
        ids: AttemptIds | None = None
        if reconcile:
            assert climsgid is not None
            full["climsgid"] = climsgid
            if self._wire.lookups:
                ids = AttemptIds(climsgid)
        error: ASMSError
        limiter = self._limiter
        # The first attempt's slots may have been taken by a bulk run already (PREPAID).
        prepaid = limiter is None or PREPAID.get() is limiter

        started = False

        async def attempt() -> SendReply:
            nonlocal prepaid, started
            if ids is not None:
                full["climsgid"] = ids.current  # a new id after a "missing" verdict
            if not prepaid:
                assert limiter is not None
                await limiter.acquire(len(recipients))
            prepaid = limiter is None
            started = warn_interrupted
            return await self._call_plain(op, full, parse_send)

        async def lookup(climsgid: str) -> StatusReply:
            return await self._call_plain(_QUERYMSG, {"climsgid": climsgid}, expect_status)

        lookups = _Lookups(lookup)
        try:
            outcome = await run(
                attempt,
                mode="send" if ids is not None else "write",
                policy=self._retry if wait_throttled else self._retry_no_throttle_wait,
                counters=self._counters,
                lookup=lookups.look if ids is not None else None,
                ids=ids,
                clock=self._clock,
            )
        except GaveUp as exc:
            used = climsgid if ids is None else ids.current
            return self._gave_up(op, exc, recipients, used, parts, refs)
        except GatewayError as exc:
            used = climsgid if ids is None else ids.current
            if not isinstance(exc, AuthenticationError):
                return self._refused(exc, recipients, used, parts, refs)
            if lookups.refused:
                return self._refused_in_doubt(op, exc, recipients, used, parts, refs)
            error = exc
        except BaseException as exc:
            if started and not isinstance(exc, Exception):
                self._interrupted(
                    op, exc, len(recipients), climsgid if ids is None else ids.current
                )
            raise
        else:
            return self._settled(op, outcome, recipients, climsgid, ids, parts, refs)
        raise error


class _Lookups:
    """A request's lookup function, noting whether the gateway refused the account while
    one ran: the request looked up may have been accepted."""

    __slots__ = ("_lookup", "refused")

    def __init__(self, lookup: Callable[[str], Awaitable[StatusReply]]) -> None:
        self._lookup = lookup
        self.refused = False

    async def look(self, climsgid: str) -> StatusReply:
        try:
            return await self._lookup(climsgid)
        except AuthenticationError:
            self.refused = True
            raise


def _described(op: Operation, params: Params, wire: str) -> str:
    """A request for the debug log: its command, wire, recipient count and climsgid (never
    another parameter's value: it may be a credential or a session id)."""
    described = f"{op.name} over {wire}"
    to = params.get("to")
    if to is not None:
        count = 1 if isinstance(to, str) else len(to)
        described += f", {count} recipient{'s' if count != 1 else ''}"
    climsgid = params.get("climsgid")
    if isinstance(climsgid, str):
        described += f", climsgid {climsgid}"
    return described


class ClientBatchCalls:
    """What a :class:`~asms.Batch` may ask of the client that opened it (the protocol
    ``asms._batch.BatchCalls``): the client's commands, without its insides."""

    __slots__ = ("_client",)

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    @property
    def country_code(self) -> str | int | None:
        """The client's country code, for national numbers."""
        return self._client._options.country_code

    async def read(self, op: Operation, params: Params, parse: Callable[[bytes | str], R]) -> R:
        """A command without side effects, retried on any retryable failure."""
        return await self._client._read(op, params, parse)

    async def send_items(
        self,
        op: Operation,
        params: Mapping[str, str],
        recipients: Sequence[str],
        climsgid: str | None,
        parts: int,
    ) -> SendResults:
        """Send to ``recipients`` (split as the wire needs), every request with the batch's
        ``climsgid``: never looked up after an attempt of unknown outcome."""
        return await self._client._send_split(
            op, params, recipients, climsgid, parts, reconcile=False
        )
