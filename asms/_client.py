"""``asms.AsyncClient``: every gateway command, typed, the same on all three wires."""

from __future__ import annotations

import enum
import os
import ssl
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar

import anyio
import anyio.abc

from ._batch import Batch
from ._bulk import BulkRun
from ._bulk import send_bulk as _send_bulk
from ._codes import ErrorCode
from ._compat import httpx
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    ClientOptions,
    Credentials,
    Profile,
    RetryPolicy,
    WireName,
    base_url_from,
    timeout_from,
)
from ._exceptions import (
    ASMSError,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    GatewayError,
    ReplyParseError,
    SessionError,
    TransportError,
    ValidationError,
)
from ._journal import Journal
from ._logging import configure_from_env, install_redaction, logger, register_secret
from ._models import (
    DEFAULT_OPTIONS,
    Balance,
    Charge,
    Coverage,
    Message,
    SendOptions,
    SendResult,
    StatusInfo,
    new_climsgid,
)
from ._optable import OPERATIONS, Operation
from ._ratelimit import Clock as RateClock
from ._replies import (
    StatusReply,
    expect_charge,
    expect_coverage,
    expect_credit,
    expect_ok,
    expect_session,
    expect_status,
)
from ._report import BulkStatistics
from ._retry import (
    NOT_SENT,
    OUTCOME_UNKNOWN,
    ClientStatistics,
    Counters,
    Found,
    GaveUp,
    Mode,
    run,
)
from ._sending import (
    all_results,
    check_climsgid,
    chunk_climsgid,
    chunks,
    found_results,
    match_replies,
    normalize_one,
    normalize_recipients,
    one_key,
    op_options,
    parse_send,
    prepare_text,
)
from ._session import Session
from ._transport import make_transport
from ._wire import Params, make_wire, roundtrip

__all__ = ["AsyncClient"]

R = TypeVar("R")

_OPS: Final = OPERATIONS
_SENDMSG: Final = OPERATIONS["sendmsg"]
_QUERYMSG: Final = OPERATIONS["querymsg"]
_AUTH_FAILED: Final = ErrorCode.AUTHENTICATION_FAILED
#: Idle seconds before the keep-alive task pings (the gateway forgets a session after 900).
DEFAULT_PING_INTERVAL: Final = 600.0
_PING_POLL: Final = 5.0
#: Session refusals one request may meet in a row before it gives up.
_MAX_REFUSALS: Final = 16


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


class AsyncClient:
    """An async client for the Clickatell legacy gateway (HTTP, SOAP doc/literal, SOAP RPC).

    ``async with asms.AsyncClient(api_id, user, password) as client:
    await client.send("Hello", to="27821234567")``

    **Parameters** (keyword-only after the credentials):

    * ``wire``: ``"http"`` (default), ``"soap"`` (document/literal) or ``"soap-rpc"``.
    * ``base_url``: ``https://api.clickatell.com``; plain ``http://`` only if you give it.
    * ``method``: ``"POST"`` (default) or ``"GET"`` (HTTP with a session only).
    * ``transport``: any ``httpx.AsyncBaseTransport`` (``asms.testing``'s plugs in here);
      default: asms's keep-alive pool, or stock httpx when a ``proxy`` applies.
    * ``timeout``: seconds or an ``httpx.Timeout``; ``limits``: an ``httpx.Limits``.
    * ``retry``: a :class:`RetryPolicy`; ``country_code``: for national numbers (``0…``).
    * ``profile``: ``"default"`` or ``"v2.3.8"`` (recipient limits per request).
    * ``session``: True (default) authenticates once and sends the session id; False sends
      the credentials with every request instead.
    * ``max_parts``: longest text accepted when ``concat`` is not given (default 3).
    * ``ping_interval``: idle seconds before the keep-alive task (running while the client
      is entered with ``async with``) pings the session; ``clock``: unix time source.

    A closed client refuses work (``ClientClosedError``). ``with_options()`` returns a
    client that shares this one's pool, sessions and counters.
    """

    def __init__(
        self,
        api_id: str | int | None = None,
        user: str | None = None,
        password: str | None = None,
        *,
        credentials: Credentials | None = None,
        wire: WireName = "http",
        base_url: str | httpx.URL = DEFAULT_BASE_URL,
        method: Literal["POST", "GET"] = "POST",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        retry: RetryPolicy | None = None,
        country_code: str | int | None = None,
        profile: Profile = "default",
        session: bool = True,
        max_parts: int = 3,
        ping_interval: float = DEFAULT_PING_INTERVAL,
        proxy: str | httpx.URL | httpx.Proxy | None = None,
        verify: ssl.SSLContext | bool | str = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if credentials is None:
            if api_id is None or user is None or password is None:
                raise ValidationError("credentials", "give api_id, user and password")
            credentials = Credentials(str(api_id), user, password)
        elif not isinstance(credentials, Credentials):
            raise ValidationError("credentials", "must be an asms.Credentials")
        for secret in (credentials.api_id, credentials.user, credentials.password):
            register_secret(secret)
        install_redaction()
        configure_from_env()
        options = ClientOptions(
            credentials=credentials,
            wire=wire,
            base_url=base_url_from(base_url),
            method=method,
            timeout=timeout_from(timeout),
            retry=RetryPolicy() if retry is None else retry,
            country_code=country_code,
            profile=profile,
            session=session,
            max_parts=max_parts,
            ping_interval=ping_interval,
        )
        if transport is None:
            transport = make_transport(
                url=options.base_url, proxy=proxy, verify=verify, limits=limits
            )
        elif not isinstance(transport, httpx.AsyncBaseTransport):
            raise ValidationError("transport", "must be an httpx.AsyncBaseTransport")
        self._clock = time.time if clock is None else clock
        self._setup(options, _Shared(transport), owner=True)

    def _setup(self, options: ClientOptions, shared: _Shared, *, owner: bool) -> None:
        self._options = options
        self._shared = shared
        self._owner = owner
        self._closed = False
        self._wire = make_wire(options)
        self._transport = shared.transport
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

    # -- lifecycle --------------------------------------------------------------------------

    def __repr__(self) -> str:
        url = self._options.base_url
        shown = f"{url.scheme}://{url.netloc.decode('ascii')}{url.path.rstrip('/')}"
        return (
            f"<AsyncClient api_id=*** wire={self._options.wire!r} base_url={shown!r} "
            f"state={self._state().value!r}>"
        )

    def _state(self) -> _State:
        return _State.CLOSED if self._closed else self._shared.state

    @property
    def wire(self) -> WireName:
        return self._options.wire

    @property
    def max_recipients(self) -> int:
        """Recipients one request carries on this client's wire; more are split."""
        return self._wire.max_recipients

    @property
    def closed(self) -> bool:
        return self._state() is _State.CLOSED

    def with_options(self, **changes: Any) -> AsyncClient:
        """A client with some options changed, sharing this one's pool and sessions.

        Accepts ``wire``, ``method``, ``timeout``, ``retry``, ``country_code``, ``profile``,
        ``session``, ``max_parts``, ``ping_interval``, ``credentials``. Closing the copy
        does not close the pool; closing the original does.
        """
        self._ensure_open()
        allowed = {f for f in ClientOptions.__dataclass_fields__ if f != "base_url"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValidationError(sorted(unknown)[0], "cannot be changed by with_options()")
        if "timeout" in changes:
            changes["timeout"] = timeout_from(changes["timeout"])
        credentials = changes.get("credentials")
        if credentials is not None:
            if not isinstance(credentials, Credentials):
                raise ValidationError("credentials", "must be an asms.Credentials")
            for secret in (credentials.api_id, credentials.user, credentials.password):
                register_secret(secret)
        options = replace(self._options, **changes)
        copy = AsyncClient.__new__(AsyncClient)
        copy._clock = self._clock
        copy._setup(options, self._shared, owner=False)
        return copy

    async def __aenter__(self) -> Self:
        self._ensure_open()
        shared = self._shared
        if self._owner and shared.state is _State.UNOPENED:
            shared.state = _State.OPENED
            # Entered like httpx.AsyncClient does: our transport then enforces deadlines from
            # one background task instead of a cancel scope per request.
            await shared.transport.__aenter__()
            shared.transport_entered = True
            group = anyio.create_task_group()
            await group.__aenter__()
            shared.task_group = group
            try:
                await group.start(self._keepalive)
            except BaseException:
                group.cancel_scope.cancel()
                await group.__aexit__(None, None, None)
                await shared.transport.__aexit__(None, None, None)
                shared.transport_entered = False
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        shared = self._shared
        group = shared.task_group if self._owner else None
        await self.aclose()
        if group is not None:
            # The task group is left in the task that entered it (trio insists).
            shared.task_group = None
            await group.__aexit__(None, None, None)
        if self._owner and shared.transport_entered:
            shared.transport_entered = False
            # Not inside a shielding scope: the transport leaves its own task group here.
            await shared.transport.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Close the client; the original also stops the keep-alive task and closes the pool."""
        if self._closed:
            return
        self._closed = True
        if not self._owner:
            return
        shared = self._shared
        shared.state = _State.CLOSED
        if shared.keepalive is not None:
            shared.keepalive.cancel()
        with anyio.CancelScope(shield=True):
            await shared.transport.aclose()

    def _ensure_open(self) -> None:
        if self._state() is _State.CLOSED:
            raise ClientClosedError("the client is closed")

    def statistics(self) -> ClientStatistics:
        """Counters of this client and its ``with_options`` copies."""
        auth_calls = sum(s.auth_calls for s in self._shared.sessions.values())
        return self._counters.snapshot(auth_calls)

    # -- one exchange ------------------------------------------------------------------------

    def _authenticate_with(self, credentials: Credentials) -> Callable[[], Awaitable[str]]:
        auth_op = OPERATIONS["auth"]
        params = credentials.params()

        async def authenticate() -> str:
            self._ensure_open()
            request = self._wire.build(auth_op, {}, params)
            self._counters.requests += 1
            status, content = await roundtrip(self._transport, request)
            return expect_session(self._wire.unwrap(status, content))

        return authenticate

    async def _call(self, op: Operation, params: Params, parse: Callable[[bytes | str], R]) -> R:
        """Send one request and parse its answer, handling the session: a refused session
        (003, 005, or 001 for a request that carried one) is renewed and the request sent
        again (it was refused: safe). The policy's ``reauth_limit`` bounds the ``auth`` calls
        one request makes itself; picking up a session another request just renewed is free
        (when sessions expire while many requests are in flight, a request may be refused
        several times in a row without anything being wrong).
        """
        self._ensure_open()
        wire = self._wire
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
            request = wire.build(op, params, auth)
            self._counters.requests += 1
            status, content = await roundtrip(self._transport, request)
            body = wire.unwrap(status, content)
            if session is None:
                return parse(body)
            session.touch()
            try:
                return parse(body)
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
            error = type(exc)(str(exc), sent=False)
            error.retryable = exc.retryable
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

    # -- sending -----------------------------------------------------------------------------

    async def send(
        self,
        text: str,
        to: str | Iterable[str],
        *,
        climsgid: str | None = None,
        **options: Any,
    ) -> list[SendResult]:
        """Send ``text`` to one or many recipients; one :class:`SendResult` per recipient.

        ``to`` is a number, a comma list or an iterable of numbers. ``options`` are the
        ``sendmsg`` options (``from_``/``from``, ``callback``, ``concat``, ``msg_type``,
        ``udh``, ``data``, …). Unicode, long and binary messages are detected and encoded
        for the wire; ``concat`` is set to the parts needed unless given.

        Per-recipient outcomes are data, never raises: an ``apimsgid``, a gateway error
        code, ``OUTCOME_UNKNOWN`` (-1: retries spent, the gateway may have the message; look
        it up by ``climsgid``) or ``NOT_SENT`` (-2: it provably never left). A gateway
        ``ERR`` refusing the whole request becomes every recipient's error. Raised are only
        problems of the call as a whole, where nothing was accepted: ``ValidationError``
        (before sending), ``AuthenticationError``, ``TLSError``, a non-retryable
        ``HTTPStatusError``, ``SOAPFault``, ``ClientClosedError``.

        More recipients than one request carries are split into requests sent concurrently;
        each gets its own ``climsgid`` (``climsgid`` + ``c<n>`` when you gave one, see
        :meth:`send_batch`).
        """
        self._ensure_open()
        opts = SendOptions.from_kwargs(options) if options else DEFAULT_OPTIONS
        opts.check_schedule(self._clock())
        recipients = normalize_recipients(to, self._options.country_code)
        if climsgid is not None:
            check_climsgid(climsgid)
        prepared = prepare_text(self._wire, text, opts, max_parts=self._options.max_parts)
        return await self._send_split(
            _SENDMSG, prepared.params, recipients, climsgid, prepared.parts
        )

    async def send_message(self, message: Message) -> SendResult:
        """Send one :class:`Message`; its ``climsgid`` (or a new one) and ``ref`` come back."""
        return (await self.send_batch([message]))[0]

    async def send_batch(
        self, messages: Sequence[Message], *, wait_throttled: bool = True
    ) -> list[SendResult]:
        """Send messages sharing text and options in ONE request (the bulk sender's unit).

        Every message must have the same ``text`` and ``options``; at most
        :attr:`max_recipients` messages. The request carries one ``climsgid``: the messages'
        own when they give one (they must then all give the same), else a new one. Results
        come back in message order with each message's ``ref``; per-recipient failures are
        data as in :meth:`send`. After an attempt of unknown outcome that the gateway turns
        out to have accepted, the first recipient gets the ``apimsgid`` the lookup returns
        and the others "accepted, id unknown" (``apimsgid=None``, ``error_code=None``).

        An ``ERR 130`` (MT limit reached until a time) is waited out, up to the retry
        policy's ``throttle_max_wait``. With ``wait_throttled=False`` it comes back at once
        as every message's result (``error_code`` 130, the description ending in the
        timestamp): for a caller that pauses all its requests until then, as ``send_bulk``
        does.
        """
        self._ensure_open()
        if not messages:
            return []
        first = messages[0]
        climsgid = first.climsgid
        text, opts = first.text, first.options
        for m in messages:
            if m is first:
                continue
            if m.text != text or (m.options is not opts and m.options != opts):
                raise ValidationError("messages", "must share text and options")
            if m.climsgid != climsgid:
                if climsgid is not None and m.climsgid is not None:
                    raise ValidationError("climsgid", "messages of one request share one")
                climsgid = climsgid or m.climsgid
        if len(messages) > self._wire.max_recipients:
            raise ValidationError(
                "messages", f"at most {self._wire.max_recipients} per request on this wire"
            )
        first.options.check_schedule(self._clock())
        cc = self._options.country_code
        recipients = [normalize_one(m.to, cc) for m in messages]
        prepared = prepare_text(
            self._wire, first.text, first.options, max_parts=self._options.max_parts
        )
        return await self._send_request(
            _SENDMSG,
            prepared.params,
            recipients,
            climsgid or new_climsgid(),
            prepared.parts,
            [m.ref for m in messages],
            wait_throttled=wait_throttled,
        )

    async def _send_split(
        self,
        op: Operation,
        params: Mapping[str, str],
        recipients: list[str],
        climsgid: str | None,
        parts: int,
        *,
        reconcile: bool = True,
    ) -> list[SendResult]:
        groups = chunks(recipients, self._wire.max_recipients)
        count = len(groups)
        base = climsgid or ""
        if count == 1:
            cid = (base or new_climsgid()) if reconcile else climsgid
            return await self._send_request(op, params, groups[0], cid, parts, reconcile=reconcile)
        logger.debug("%s to %d recipients in %d requests", op.name, len(recipients), count)
        slots: list[list[SendResult]] = [[] for _ in groups]
        errors: list[ASMSError] = []

        async def one(index: int) -> None:
            cid: str | None = chunk_climsgid(base, index, count) if base else new_climsgid()
            if not reconcile:
                cid = climsgid  # batch items carry the batch's id, if any
            try:
                slots[index] = await self._send_request(
                    op, params, groups[index], cid, parts, reconcile=reconcile
                )
            except ASMSError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(one, index)
        if errors:
            raise errors[0]
        return [result for slot in slots for result in slot]

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
    ) -> list[SendResult]:
        """One request (at most the wire's recipient limit) with retries, and with
        reconciliation by ``climsgid`` unless ``reconcile`` is off (batch items: their
        ``climsgid`` belongs to the batch, so an unknown outcome cannot be looked up).
        Without ``wait_throttled`` an ``ERR 130`` is every recipient's result at once.
        """
        full: dict[str, str | Sequence[str]] = dict(params)
        full["to"] = recipients
        if reconcile:
            assert climsgid is not None
            full["climsgid"] = climsgid
            cid = climsgid
        error: ASMSError
        try:
            outcome = await run(
                lambda: self._call(op, full, parse_send),
                mode="send" if reconcile else "write",
                policy=self._retry if wait_throttled else self._retry_no_throttle_wait,
                counters=self._counters,
                lookup=(lambda: self._lookup(cid)) if reconcile else None,
                clock=self._clock,
            )
        except GaveUp as exc:
            code = NOT_SENT if exc.sent is False else OUTCOME_UNKNOWN
            what = "not sent" if exc.sent is False else "outcome unknown"
            note = f"{what} after {self._retry.attempts} attempts: {exc.last}"
            logger.info("%s climsgid=%s: %s", op.name, climsgid, note)
            return all_results(recipients, climsgid, code, note, parts, refs)
        except GatewayError as exc:
            if isinstance(exc, AuthenticationError):
                error = exc
            else:
                return all_results(recipients, climsgid, exc.code, exc.description, parts, refs)
        else:
            if isinstance(outcome, Found):
                return found_results(recipients, climsgid, outcome.reply, parts, refs)
            return match_replies(recipients, outcome, climsgid, parts, refs)
        raise error

    # -- push messages ----------------------------------------------------------------------

    async def si_push(
        self,
        to: str | Iterable[str],
        *,
        si_id: str,
        si_url: str,
        si_text: str,
        climsgid: str | None = None,
        **options: Any,
    ) -> list[SendResult]:
        """A WAP Service Indication push (``si_push``); results as for :meth:`send`."""
        return await self._push(
            _OPS["si_push"],
            to,
            {"si_id": si_id, "si_url": si_url, "si_text": si_text, **options},
            climsgid,
        )

    async def ind_push(
        self,
        to: str | Iterable[str],
        *,
        mms_subject: str,
        mms_class: str | int,
        mms_expire: str | int,
        mms_from: str,
        mms_url: str,
        climsgid: str | None = None,
        **options: Any,
    ) -> list[SendResult]:
        """An MMS notification push (``ind_push``); results as for :meth:`send`."""
        fields = {
            "mms_subject": mms_subject,
            "mms_class": mms_class,
            "mms_expire": mms_expire,
            "mms_from": mms_from,
            "mms_url": mms_url,
        }
        return await self._push(_OPS["ind_push"], to, {**fields, **options}, climsgid)

    async def _push(
        self,
        op: Operation,
        to: str | Iterable[str],
        options: Mapping[str, Any],
        climsgid: str | None,
    ) -> list[SendResult]:
        self._ensure_open()
        params = op_options(op, options, exclude=("to", "climsgid"))
        recipients = normalize_recipients(to, self._options.country_code)
        if climsgid is not None:
            check_climsgid(climsgid)
        return await self._send_split(op, params, recipients, climsgid, 1)

    # -- bulk sending -------------------------------------------------------------------------

    def send_bulk(
        self,
        messages: Iterable[Message] | AsyncIterable[Message],
        *,
        rate: float | None = 100.0,
        burst: int = 1,
        concurrency: int | None = None,
        journal: str | os.PathLike[str] | Journal | None = None,
        group_size: int | None = None,
        progress: Callable[[BulkStatistics], object] | None = None,
        clock: RateClock | None = None,
        drain_timeout: float = 10.0,
        linger: float = 0.05,
        reconcile_grace: float = 5.0,
    ) -> BulkRun:
        """Send a campaign at ``rate`` recipients per second; one result per input message.

        Usage::

            async with client.send_bulk(messages, rate=100, journal="campaign.db") as run:
                async for result in run:
                    ...
            print(run.report())

        Consecutive messages with the same text and options share one request. With a
        ``journal``, rerunning the same input resumes: accepted messages are skipped and
        interrupted requests are looked up by ``climsgid`` before anything is resent.
        """
        self._ensure_open()
        return _send_bulk(
            self,
            messages,
            rate=rate,
            burst=burst,
            concurrency=concurrency,
            journal=journal,
            group_size=group_size,
            progress=progress,
            clock=clock,
            drain_timeout=drain_timeout,
            linger=linger,
            reconcile_grace=reconcile_grace,
        )

    # -- the batch (template) API -------------------------------------------------------------

    def batch(self, template: str, **options: Any) -> Batch:
        """``async with client.batch("Hi #field1#", from_="Shop") as b:`` — ``startbatch``
        on entry, ``endbatch`` on exit; ``await b.send_item(to, ["Ann"])``,
        ``await b.quick_send(to=[...])``.
        """
        self._ensure_open()
        climsgid = options.pop("climsgid", None)
        opts = SendOptions.from_kwargs(options) if options else DEFAULT_OPTIONS
        prepared = prepare_text(self._wire, template, opts, max_parts=35, field="template")
        params = dict(prepared.params)
        if climsgid is not None:
            check_climsgid(climsgid)
            params["climsgid"] = climsgid
        if "#field" in template and opts.concat is None:
            # Fields make the text longer than the template: allow up to max_parts.
            params["concat"] = str(max(prepared.parts, self._options.max_parts))
        unicode = params.get("unicode") == "1"
        return Batch(self, params, unicode=unicode, parts=prepared.parts)

    # -- queries and account -----------------------------------------------------------------

    async def query(
        self, apimsgid: str | None = None, *, climsgid: str | None = None
    ) -> StatusInfo:
        """A message's status (``querymsg``) by ``apimsgid`` or ``climsgid``."""
        params = op_options(_QUERYMSG, one_key(apimsgid, climsgid))
        reply = await self._read(_QUERYMSG, params, expect_status)
        return StatusInfo(reply.apimsgid, reply.status)

    async def delete(
        self, apimsgid: str | None = None, *, climsgid: str | None = None
    ) -> StatusInfo:
        """Stop a message still queued at the gateway (``delmsg``); its status after."""
        op = _OPS["delmsg"]
        params = op_options(op, one_key(apimsgid, climsgid))
        reply = await self._read(op, params, expect_status)
        return StatusInfo(reply.apimsgid, reply.status)

    async def charge(self, apimsgid: str | None = None, *, climsgid: str | None = None) -> Charge:
        """What a message cost and its status (``getmsgcharge``)."""
        op = _OPS["getmsgcharge"]
        params = op_options(op, one_key(apimsgid, climsgid))
        reply = await self._read(op, params, expect_charge)
        return Charge(reply.apimsgid, reply.charge, reply.status)

    async def balance(self) -> Balance:
        """The account's credits (``getbalance``)."""
        reply = await self._read(_OPS["getbalance"], {}, expect_credit)
        return Balance(reply.credit)

    async def route_coverage(self, msisdn: str) -> Coverage:
        """Whether messages to a number's prefix are routed, and their charge."""
        op = _OPS["routeCoverage"]
        number = normalize_one(msisdn, self._options.country_code)
        reply = await self._read(op, {"msisdn": number}, expect_coverage)
        return Coverage(number, reply.supported, reply.charge, reply.text)

    async def token_pay(self, token: str) -> float:
        """Redeem a 16-digit voucher; the credits it added. Never resent when in doubt."""
        op = _OPS["token_pay"]
        params = op_options(op, {"token": token})
        value = await self._run(op, params, expect_ok, "write")
        try:
            return float(value)
        except ValueError:
            raise ReplyParseError("token_pay answer without a number of credits") from None

    async def ping(self) -> None:
        """Extend the session (``ping``); authenticates first if there is no session."""
        self._ensure_open()
        if not self._options.session:
            raise ValidationError("session", "ping needs a session (session=True)")
        session_id, generation = await self._session.current()
        await self._ping(self._session, session_id, generation)

    async def _ping(self, session: Session, session_id: str, generation: int) -> None:
        request = self._wire.build(_OPS["ping"], {}, {"session_id": session_id})
        self._counters.requests += 1
        self._counters.pings += 1
        status, content = await roundtrip(self._transport, request)
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
