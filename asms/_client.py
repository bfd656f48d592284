"""``asms.AsyncClient``: every gateway command, typed, the same on all three wires."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import replace
from types import TracebackType
from typing import Any, Final, Literal, Self

import anyio
import anyio.abc

from ._base_client import _Shared, _State
from ._batch import Batch
from ._bulk.journal import Journal, journal_owner
from ._bulk.ratelimit import Clock as RateClock
from ._bulk.report import BulkStatistics
from ._bulk.run import BulkRun
from ._bulk.run import send_bulk as _send_bulk
from ._clientquery import _QueryCommands
from ._clientsend import _SendCommands
from ._compat import httpx
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    ClientOptions,
    Credentials,
    ProfileName,
    RetryPolicy,
    WireName,
    base_url_from,
    plain_http_to_remote,
    timeout_from,
)
from ._exceptions import ValidationError
from ._logging import configure_from_env, install_redaction, logger, register_secret
from ._models import DEFAULT_OPTIONS, Message, SendOptions
from ._retry import ClientStatistics
from ._sending import TextCache, check_climsgid, prepare_text
from ._session import Session
from ._transport import make_transport
from ._wire import make_wire

__all__ = ["AsyncClient"]

#: Idle seconds before the keep-alive task pings (the gateway forgets a session after 900).
DEFAULT_PING_INTERVAL: Final = 600.0
_PING_POLL: Final = 5.0
#: Seconds closing the pool may take once the caller is cancelled (it is shielded).
_CLOSE_TIMEOUT: Final = 5.0


class AsyncClient(_SendCommands, _QueryCommands):
    """An async client for the Clickatell legacy gateway (HTTP, SOAP doc/literal, SOAP RPC).

    ``async with asms.AsyncClient(api_id, user, password) as client:
    await client.send("Hello", to="27821234567")``

    **Parameters** (keyword-only after the credentials):

    * ``wire``: ``"http"`` (default), ``"soap"`` (document/literal) or ``"soap-rpc"``.
    * ``base_url``: ``https://api.clickatell.com``. Plain ``http://`` sends the password in
      clear, so it is refused (``ValidationError``) for a host other than this machine
      (``localhost``, 127.0.0.0/8, ``::1``) unless ``insecure_http=True``; a ``transport``
      you pass decides itself where requests go, so the rule does not apply to it.
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
        profile: ProfileName = "default",
        session: bool = True,
        max_parts: int = 3,
        ping_interval: float = DEFAULT_PING_INTERVAL,
        proxy: str | httpx.URL | httpx.Proxy | None = None,
        verify: ssl.SSLContext | bool | str = True,
        clock: Callable[[], float] | None = None,
        insecure_http: bool = False,
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
            url = options.base_url
            if plain_http_to_remote(url.scheme, url.host) and insecure_http is not True:
                raise ValidationError(
                    "base_url",
                    "plain http:// to a remote host would send the password in clear; "
                    "use https://, or pass insecure_http=True",
                    f"http://{url.host}",
                )
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
        self._texts = TextCache(self._wire, options.max_parts)
        self._transport = shared.transport
        # asms's own transport takes requests already serialized: no httpx.Request per call.
        self._send_prepared = getattr(shared.transport, "send_prepared", None)
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

    @property
    def wire(self) -> WireName:
        return self._options.wire

    @property
    def journal_owner(self) -> dict[str, str]:
        """Who a bulk run's journal records as its owner: a digest of this client's API id
        and user, and its base URL (see :func:`asms._bulk.journal.journal_owner`). A journal is
        resumed only through the same owner; its requests in flight are known there only."""
        credentials, url = self._options.credentials, self._options.base_url
        return journal_owner(credentials.api_id, credentials.user, str(url))

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
        # Shielded so a cancelled caller still closes the pool, with a deadline so that a
        # transport whose close never returns cannot hang a Ctrl-C.
        with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
            await shared.transport.aclose()

    def statistics(self) -> ClientStatistics:
        """Counters of this client and its ``with_options`` copies."""
        auth_calls = sum(s.auth_calls for s in self._shared.sessions.values())
        return self._counters.snapshot(auth_calls)

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
