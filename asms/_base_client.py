"""The machinery under `AsyncClient`: shared state, sessions and one request/answer."""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, TypeVar

import anyio
import anyio.abc

from ._codes import ErrorCode
from ._compat import httpx
from ._config import ClientOptions, Credentials, RetryPolicy
from ._exceptions import (
    ASMSError,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    SessionError,
    ThrottledError,
    TransportError,
)
from ._logging import logger
from ._optable import OPERATIONS, Operation
from ._replies import StatusReply, expect_ok, expect_session, expect_status
from ._retry import Counters, Found, GaveUp, Mode, run
from ._sending import TextCache
from ._session import Session, copy_transport_error
from ._transport import reply_too_large
from ._wire import (
    MAX_REPLY_BYTES,
    Params,
    SendPrepared,
    Wire,
    gateway_time,
    map_transport_error,
    roundtrip,
    roundtrip_headers,
    roundtrip_prepared,
)

__all__ = ["MAX_REMEMBERED_CLIMSGIDS", "R", "_ClientBase", "_Shared", "_State"]

R = TypeVar("R")

_OPS: Final = OPERATIONS
_QUERYMSG: Final = OPERATIONS["querymsg"]
_AUTH_FAILED: Final = ErrorCode.AUTHENTICATION_FAILED
#: Session refusals one request may meet in a row before it gives up.
_MAX_REFUSALS: Final = 16
#: Caller ``climsgid``s a client remembers having sent (about 10 MB at most). Beyond it every
#: caller id gets a derived one: an id no longer remembered might have been sent before.
MAX_REMEMBERED_CLIMSGIDS: Final = 100_000


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class _Shared:
    """What a client and the copies ``with_options`` makes share: the transport (pool),
    sessions, counters and the keep-alive task.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport
        self.transport_entered = False
        self.sessions: dict[Credentials, Session] = {}
        self.counters = Counters()
        self.state = _State.UNOPENED
        self.task_group: anyio.abc.TaskGroup | None = None
        self.keepalive: anyio.CancelScope | None = None
        #: Caller ``climsgid``s sent by ``send()``, the pushes and bulk runs (``_SendCommands``).
        self.climsgids: set[str] = set()
        self.climsgids_full = False
        #: Request ids ``send_bulk`` already made unique (and journaled): ``send_batch`` sends
        #: each once as given instead of checking it against ``climsgids`` again.
        self.reserved_climsgids: set[str] = set()


class _ClientBase:
    """State and the exchange every command of `AsyncClient` goes through."""

    _clock: Callable[[], float]
    _options: ClientOptions
    _shared: _Shared
    _owner: bool
    _closed: bool
    _wire: Wire
    _texts: TextCache
    _transport: httpx.AsyncBaseTransport
    _send_prepared: SendPrepared | None
    _counters: Counters
    _retry: RetryPolicy
    _retry_no_throttle_wait: RetryPolicy
    _auth_params: dict[str, str]
    _session: Session

    def _state(self) -> _State:
        return _State.CLOSED if self._closed else self._shared.state

    def _ensure_open(self) -> None:
        if self._closed or self._shared.state is _State.CLOSED:
            raise ClientClosedError("the client is closed")

    # -- one exchange ------------------------------------------------------------------------

    def _authenticate_with(self, credentials: Credentials) -> Callable[[], Awaitable[str]]:
        auth_op = OPERATIONS["auth"]
        params = credentials.params()

        async def authenticate() -> str:
            self._ensure_open()
            status, content = await self._exchange(auth_op, {}, params)
            return expect_session(self._wire.unwrap(status, content))

        return authenticate

    async def _exchange(
        self, op: Operation, params: Params, auth: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """One HTTP exchange for ``op``: status and body (no retries, no session logic)."""
        wire = self._wire
        send = self._send_prepared
        prepared = None if send is None else wire.prepare(op, params, auth)
        self._counters.requests += 1
        logger.debug("request %s over %s", op.name, self._options.wire)
        if prepared is None:
            status, content = await roundtrip(self._transport, wire.build(op, params, auth))
        else:
            assert send is not None
            status, content = await roundtrip_prepared(send, wire.origin, prepared, wire.timeouts)
        logger.debug("reply to %s: HTTP %d, %d bytes", op.name, status, len(content))
        return status, content

    async def _call(self, op: Operation, params: Params, parse: Callable[[bytes | str], R]) -> R:
        """Send one request and parse its answer, handling the session: a refused session
        (003, 005, or 001 for a request that carried one) is renewed and the request sent
        again (it was refused: safe). The policy's ``reauth_limit`` bounds the ``auth`` calls
        one request makes itself; picking up a session another request just renewed is free
        (when sessions expire while many requests are in flight, a request may be refused
        several times in a row without anything being wrong).
        """
        if self._closed or self._shared.state is _State.CLOSED:  # _ensure_open(), inline
            raise ClientClosedError("the client is closed")
        wire = self._wire
        session = self._session if self._options.session else None
        reauths = refusals = 0
        retried_001 = False
        while True:
            generation = -1
            if session is None:
                auth = self._auth_params
            else:
                # The usual case, a live session, without awaiting the session's lock path.
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
            if debug:  # names only: parameter values may be credentials or a session id
                logger.debug("request %s over %s", op.name, self._options.wire)
            if prepared is None:
                request = wire.build(op, params, auth)
                status, headers, content = await roundtrip_headers(self._transport, request)
            else:
                # roundtrip_prepared(), inline: one coroutine fewer on every request.
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
            body = wire.unwrap(status, content)
            if session is None:
                try:
                    return parse(body)
                except ThrottledError as exc:
                    exc.gateway_time = gateway_time(headers)
                    raise
            session.touch()
            try:
                return parse(body)
            except ThrottledError as exc:
                # The time it names is the gateway's: so is the "now" to measure it from.
                exc.gateway_time = gateway_time(headers)
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

    async def _ping(self, session: Session, session_id: str, generation: int) -> None:
        self._counters.pings += 1
        status, content = await self._exchange(_OPS["ping"], {}, {"session_id": session_id})
        try:
            expect_ok(self._wire.unwrap(status, content))
        except (SessionError, AuthenticationError):
            session.invalidate(generation)  # the next request authenticates again
            raise
        session.touch()
