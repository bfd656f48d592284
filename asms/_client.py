"""``asms.AsyncClient``: every gateway command, typed, the same on all three wires.

The public surface: each command checks its arguments and hands the work to the mechanics
in ``_base_client.BaseClient`` (sessions, the exchange, retries, splitting).
"""

from __future__ import annotations

import ssl
import time
import warnings
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Literal, Self, TypedDict, Unpack

import anyio

from ._base_client import BaseClient, ClientBatchCalls, ClientState, Shared
from ._batch import Batch
from ._bulk.journal import journal_owner
from ._bulk.options import BULK_KEYWORDS, BulkOptions, check_keywords
from ._bulk.run import BulkRun
from ._bulk.run import send_bulk as _send_bulk
from ._codes import ErrorCode, MessageStatus
from ._compat import httpx
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_LIMITS,
    DEFAULT_MAX_PARTS,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PLATFORM_URL,
    DEFAULT_TIMEOUT,
    PLATFORM_WIRES,
    ApiKey,
    ClientOptions,
    Credentials,
    ProfileName,
    RetryPolicy,
    WireName,
    base_url_from,
    plain_http_to_remote,
    timeout_from,
)
from ._exceptions import (
    MessageLookupError,
    ReplyParseError,
    UnsupportedCommandError,
    ValidationError,
)
from ._limiter import Limiter
from ._logging import configure_from_env, install_redaction, register_secret
from ._models import (
    DEFAULT_OPTIONS,
    Balance,
    Charge,
    Coverage,
    Message,
    SendOptions,
    SendResult,
    StatusInfo,
)
from ._optable import MAX_CONCAT, OPERATIONS
from ._replies import expect_charge, expect_coverage, expect_credit, expect_ok, expect_status
from ._results import SendResults
from ._retry import ClientStatistics
from ._sending import (
    attempt_climsgid,
    check_climsgid,
    normalize_one,
    normalize_recipients,
    one_key,
    op_options,
    prepare_text,
)
from ._transport import make_transport

__all__ = ["AsyncClient", "SendKeywords"]

#: Seconds closing the pool may take once the caller is cancelled (it is shielded).
_CLOSE_TIMEOUT: Final = 5.0

_OPS: Final = OPERATIONS
_SENDMSG: Final = OPERATIONS["sendmsg"]
_QUERYMSG: Final = OPERATIONS["querymsg"]


class SendKeywords(TypedDict, total=False):
    """The keyword options of :meth:`AsyncClient.send`: those of :class:`SendOptions`.

    For type checkers and IDEs only (a misspelt option is caught before running); at run
    time they arrive as a plain dict, as before, and ``SendOptions`` checks the values.
    """

    from_: str | None
    mo: bool | None
    callback: int | None
    deliv_ack: bool | None
    concat: int | None
    deliv_time: int | None
    scheduled_time: int | datetime | None
    queue: int | None
    escalate: bool | None
    max_credits: float | None
    req_feat: int | None
    validity: int | None
    unicode: bool | None
    msg_type: str | None
    udh: str | None
    data: str | None
    binary: bool | None


class AsyncClient(BaseClient):
    """An async client for Clickatell: the legacy gateway (HTTP, SOAP doc/literal, SOAP RPC)
    and the Platform (Platform SMS REST, One API).

    ``async with asms.AsyncClient(api_id, user, password) as client:
    await client.send("Hello", to="27821234567")`` — or, for an account made on the portal
    since 2016, ``asms.AsyncClient(api_key=KEY)``.

    **Parameters** (keyword-only after the credentials):

    * ``api_key``: a Platform integration API key, instead of ``api_id``/``user``/
      ``password``; the client then speaks the Platform SMS REST API (``wire="platform"``)
      or the One API (``wire="one-api"``). These wires have ``send``, ``send_message``,
      ``send_request``, ``send_bulk``, ``query`` (by ``apimsgid``) and ``balance``; every
      other command raises :class:`UnsupportedCommandError`. They cannot look a message up
      by ``climsgid``, so a send whose reply is lost is never resent: its results are
      ``OUTCOME_UNKNOWN`` until a status callback (which carries the ``climsgid``) or
      ``query(apimsgid)`` settles it (docs/protocol.md, "The Platform wires").
    * ``wire``: ``"http"`` (default), ``"soap"`` (document/literal) or ``"soap-rpc"``;
      with ``api_key``: ``"platform"`` (default) or ``"one-api"``.
    * ``base_url``: ``https://api.clickatell.com`` (with ``api_key``:
      ``https://platform.clickatell.com``). Plain ``http://`` sends the password in
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
    * ``limiter``: a :class:`Limiter` (:class:`RateLimiter` in this process,
      :class:`RedisRateLimiter` shared by every process of the account) that every request
      carrying messages waits for first: it takes one slot per recipient (a 600-recipient
      request takes 600), each resend again; queries take none. An ``ERR 130`` this client
      meets pauses the limiter until the time the gateway named, so everything sharing it
      waits (a pause beyond the retry policy's ``throttle_max_wait`` is not made). A bulk
      run on this client keeps the limiter's rate: see :meth:`send_bulk`. Default: none.

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
        api_key: str | ApiKey | None = None,
        wire: WireName | None = None,
        base_url: str | httpx.URL | None = None,
        method: Literal["POST", "GET"] = "POST",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        retry: RetryPolicy | None = None,
        country_code: str | int | None = None,
        profile: ProfileName = "default",
        session: bool = True,
        max_parts: int = DEFAULT_MAX_PARTS,
        ping_interval: float = DEFAULT_PING_INTERVAL,
        proxy: str | httpx.URL | httpx.Proxy | None = None,
        verify: ssl.SSLContext | bool | str = True,
        clock: Callable[[], float] | None = None,
        insecure_http: bool = False,
        limiter: Limiter | None = None,
    ) -> None:
        account: Credentials | ApiKey
        if api_key is not None:
            if credentials is not None or api_id is not None or user is not None or password:
                raise ValidationError(
                    "api_key", "give either api_key or api_id, user and password, not both"
                )
            account = api_key if isinstance(api_key, ApiKey) else ApiKey(api_key)
            register_secret(account.key)
            wire = "platform" if wire is None else wire
            if wire not in PLATFORM_WIRES:
                raise ValidationError(
                    "wire",
                    "an API key works on the Platform wires only ('platform', 'one-api'); "
                    "the legacy wires need api_id, user and password",
                    wire,
                )
            session = False
        elif credentials is None:
            if api_id is None or user is None or password is None:
                raise ValidationError(
                    "credentials", "give api_id, user and password (or api_key= for the Platform)"
                )
            account = Credentials(str(api_id), user, password)
        elif not isinstance(credentials, Credentials):
            raise ValidationError("credentials", "must be an asms.Credentials")
        elif api_id is not None or user is not None or password is not None:
            # Which account would pay? Neither is picked silently.
            raise ValidationError(
                "credentials", "give either api_id, user and password or credentials=, not both"
            )
        else:
            account = credentials
        if wire is None:
            wire = "http"
        elif isinstance(account, Credentials) and wire in PLATFORM_WIRES:
            raise ValidationError(
                "api_key", f"the {wire} wire needs an integration API key (api_key=)"
            )
        if base_url is None:
            base_url = DEFAULT_PLATFORM_URL if wire in PLATFORM_WIRES else DEFAULT_BASE_URL
        if not isinstance(limits, httpx.Limits):
            raise ValidationError("limits", "must be an httpx.Limits")
        if clock is not None and not callable(clock):
            raise ValidationError("clock", "must be a function returning seconds")
        if proxy is not None and not isinstance(proxy, str | httpx.URL | httpx.Proxy):
            raise ValidationError("proxy", "must be a URL (str or httpx.URL) or an httpx.Proxy")
        if limiter is not None and not isinstance(limiter, Limiter):
            raise ValidationError(
                "limiter", "must be an asms.Limiter (asms.RateLimiter, asms.RedisRateLimiter)"
            )
        if isinstance(account, Credentials):
            for secret in (account.api_id, account.user, account.password):
                register_secret(secret)
        install_redaction()
        configure_from_env()
        options = ClientOptions(
            credentials=account,
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
                    "plain http:// to a remote host would send the password (or API key) in "
                    "clear; "
                    "use https://, or pass insecure_http=True",
                    f"http://{url.host}",
                )
            transport = make_transport(
                url=options.base_url, proxy=proxy, verify=verify, limits=limits
            )
        elif not isinstance(transport, httpx.AsyncBaseTransport):
            raise ValidationError("transport", "must be an httpx.AsyncBaseTransport")
        self._clock = time.time if clock is None else clock
        self._limiter = limiter
        self._setup(options, Shared(transport), owner=True)

    # -- lifecycle --------------------------------------------------------------------------

    def __repr__(self) -> str:
        url = self._options.base_url
        shown = f"{url.scheme}://{url.netloc.decode('ascii')}{url.path.rstrip('/')}"
        who = "api_key" if isinstance(self._options.credentials, ApiKey) else "api_id"
        return (
            f"<AsyncClient {who}=*** wire={self._options.wire!r} base_url={shown!r} "
            f"state={self._state().value!r}>"
        )

    @property
    def wire(self) -> WireName:
        """The wire this client speaks: ``"http"``, ``"soap"``, ``"soap-rpc"``,
        ``"platform"`` or ``"one-api"``."""
        return self._options.wire

    def _legacy_only(self, command: str, hint: str = "") -> None:
        """Refuse a command the Platform wires do not have, before anything is sent."""
        wire = self._options.wire
        if wire in PLATFORM_WIRES:
            raise UnsupportedCommandError(command, wire, hint)

    @property
    def journal_owner(self) -> dict[str, str]:
        """Who a bulk run's journal records as its owner: a digest of this client's API id
        and user, and its base URL (see :func:`asms._bulk.journal.journal_owner`). A journal is
        resumed only through the same owner; its requests in flight are known there only."""
        credentials, url = self._options.credentials, self._options.base_url
        if isinstance(credentials, ApiKey):
            # Digested like an API id and user: the key itself is never stored.
            return journal_owner("api-key", credentials.key, str(url))
        return journal_owner(credentials.api_id, credentials.user, str(url))

    @property
    def country_code(self) -> str | int | None:
        """The country code national numbers (``0…``) are completed with; None: none."""
        return self._options.country_code

    @property
    def limiter(self) -> Limiter | None:
        """The :class:`Limiter` every request carrying messages waits for; None: none."""
        return self._limiter

    @property
    def max_recipients(self) -> int:
        """Recipients one request carries on this client's wire; more are split."""
        return self._wire.max_recipients

    @property
    def closed(self) -> bool:
        """Whether the client is closed (it then refuses work)."""
        return self._state() is ClientState.CLOSED

    def with_options(self, **changes: Any) -> AsyncClient:
        """A client with some options changed, sharing this one's pool and sessions.

        Accepts ``wire``, ``method``, ``timeout``, ``retry``, ``country_code``, ``profile``,
        ``session``, ``max_parts``, ``ping_interval``, ``credentials``. The copy keeps this
        client's ``limiter`` (the same object). Closing the copy does not close the pool;
        closing the original does.
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
        copy._limiter = self._limiter
        copy._setup(options, self._shared, owner=False)
        return copy

    async def __aenter__(self) -> Self:
        """Open the pool and start the keep-alive task (the original client only)."""
        self._ensure_open()
        shared = self._shared
        if self._owner and shared.state is ClientState.UNOPENED:
            shared.state = ClientState.OPENED
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
        """Close the client (see :meth:`aclose`) and, for the original, leave the pool."""
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
        shared.state = ClientState.CLOSED
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

    # -- sending -----------------------------------------------------------------------------

    async def send(
        self,
        text: str,
        to: str | Iterable[str],
        *,
        climsgid: str | None = None,
        **options: Unpack[SendKeywords],
    ) -> SendResults:
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
        :meth:`send_request`).

        ``climsgid`` is used as given the first time this client (or a client
        ``with_options`` made from it) sends it. A ``climsgid`` it has sent before gets a
        derived one (its first 16 characters plus random hex): a lookup after a failed
        attempt must find this request's message, never the earlier one's. The client
        remembers up to 100,000 ids; past that, every id you give gets a derived
        one. Each result's ``climsgid`` is the id really used. Across
        processes (or separate clients), reusing an id remains your responsibility.
        """
        self._ensure_open()
        opts = SendOptions.from_kwargs(options) if options else DEFAULT_OPTIONS
        if opts.scheduled_time is not None:
            opts.check_schedule(self._clock())
        recipients = normalize_recipients(to, self._options.country_code)
        if climsgid is not None:
            check_climsgid(climsgid)
            climsgid = self._unused_climsgid(climsgid)
        prepared = self._texts(text, opts)
        return await self._send_split(
            _SENDMSG, prepared.params, recipients, climsgid, prepared.parts
        )

    async def send_message(self, message: Message) -> SendResult:
        """Send one :class:`Message`; its ``climsgid`` (or a new one) and ``ref`` come back."""
        if not isinstance(message, Message):
            raise ValidationError(
                "message", f"must be an asms.Message, not {type(message).__name__}"
            )
        return (await self.send_request([message]))[0]

    async def send_request(
        self, messages: Sequence[Message], *, wait_throttled: bool = True
    ) -> SendResults:
        """Send messages sharing text and options in ONE request (the bulk sender's unit).

        Every message must have the same ``text`` and ``options``; at most
        :attr:`max_recipients` messages. The request carries one ``climsgid``: the messages'
        own when they give one (they must then all give the same), else a new one. As with
        :meth:`send`, an id this client already sent gets a derived one (the result's
        ``climsgid`` says which): a reused id would let the lookup after a lost reply find the
        earlier message. Results
        come back in message order with each message's ``ref``; per-recipient failures are
        data as in :meth:`send`. After an attempt of unknown outcome that the gateway turns
        out to have accepted, a single message gets the ``apimsgid`` the lookup returns;
        several are all of unknown outcome (``error_code`` ``OUTCOME_UNKNOWN``): the lookup
        names a message but not its recipient, and any of them, the first included, may
        have been refused on its own.

        An ``ERR 130`` (MT limit reached until a time) is waited out, up to the retry
        policy's ``throttle_max_wait``. With ``wait_throttled=False`` it comes back at once
        as every message's result (``error_code`` 130, the description ending in the
        timestamp): for a caller that pauses all its requests until then, as ``send_bulk``
        does.
        """
        self._ensure_open()
        given: object = messages  # checked as whatever a caller passed
        if isinstance(given, str | bytes) or not isinstance(given, Sequence):
            raise ValidationError("messages", "must be a list of asms.Message", given)
        if not messages:
            return SendResults()
        first = messages[0]
        if not isinstance(first, Message):
            raise _not_a_message(0, first)
        climsgid = first.climsgid
        text, opts = first.text, first.options
        for position, m in enumerate(messages):
            if m is first:
                continue
            if not isinstance(m, Message):
                raise _not_a_message(position, m)
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
        return await self._send_messages(messages, climsgid, wait_throttled=wait_throttled)

    async def _send_messages(
        self,
        messages: Sequence[Message],
        climsgid: str | None,
        *,
        wait_throttled: bool,
        warn_interrupted: bool = True,
    ) -> SendResults:
        """The request of :meth:`send_request` once its messages are known to share text,
        options and ``climsgid`` (the request's id is taken only when nothing is left to
        refuse)."""
        first = messages[0]
        if first.options.scheduled_time is not None:
            first.options.check_schedule(self._clock())
        # As a list, so that a clean one is checked and joined once (asms._numbers).
        recipients = normalize_recipients([m.to for m in messages], self._options.country_code)
        prepared = self._texts(first.text, first.options)
        return await self._send_request(
            _SENDMSG,
            prepared.params,
            recipients,
            self._request_climsgid(climsgid),
            prepared.parts,
            [m.ref for m in messages],
            wait_throttled=wait_throttled,
            warn_interrupted=warn_interrupted,
        )

    def _run_request_function(
        self,
    ) -> Callable[[Sequence[Message], str], Awaitable[SendResults]] | None:
        """What ``send_bulk`` calls for each request instead of :meth:`send_request`, or
        None when a subclass or the instance replaced ``send_request`` (it must then be
        the one called)."""
        if type(self).send_request is not AsyncClient.send_request or "send_request" in vars(self):
            return None
        return self._send_run_request

    async def _send_run_request(self, messages: Sequence[Message], climsgid: str) -> SendResults:
        """:meth:`send_request` with ``wait_throttled=False`` for a request of a bulk run,
        which made ``messages`` share text, options and caller ids (its grouping), kept them
        within :attr:`max_recipients`, and reserved ``climsgid`` (journaled, never sent) as
        the request's. So nothing is checked again per message, and the messages are not
        copied to carry the id."""
        self._ensure_open()
        # An interrupted request is the run's to report (an unknown result, the journal).
        return await self._send_messages(
            messages, climsgid, wait_throttled=False, warn_interrupted=False
        )

    async def send_batch(
        self, messages: Sequence[Message], *, wait_throttled: bool = True
    ) -> SendResults:
        """Deprecated: the old name of :meth:`send_request`, removed in the next release.

        "Batch" names the gateway's template API (:meth:`batch`) only.
        """
        warnings.warn(
            "AsyncClient.send_batch is deprecated: use send_request",
            DeprecationWarning,
            stacklevel=2,
        )
        return await self.send_request(messages, wait_throttled=wait_throttled)

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
    ) -> SendResults:
        """A WAP Service Indication push (``si_push``); results as for :meth:`send`."""
        self._legacy_only("si_push")
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
    ) -> SendResults:
        """An MMS notification push (``ind_push``); results as for :meth:`send`."""
        self._legacy_only("ind_push")
        fields = {
            "mms_subject": mms_subject,
            "mms_class": mms_class,
            "mms_expire": mms_expire,
            "mms_from": mms_from,
            "mms_url": mms_url,
        }
        return await self._push(_OPS["ind_push"], to, {**fields, **options}, climsgid)

    # -- queries and account -----------------------------------------------------------------

    async def query(
        self, apimsgid: str | None = None, *, climsgid: str | None = None
    ) -> StatusInfo:
        """A message's status (``querymsg``) by ``apimsgid`` or ``climsgid``.

        On the Platform wires by ``apimsgid`` only (``UnsupportedCommandError`` for a
        ``climsgid``); the status is the legacy :class:`MessageStatus` of the same meaning
        where there is one (see ``asms._platform_codes``).
        """
        if climsgid is not None:
            self._legacy_only("query by climsgid", "the platform looks messages up by apimsgid")
        params = op_options(_QUERYMSG, one_key(apimsgid, climsgid))
        reply = await self._read(_QUERYMSG, params, expect_status)
        # The One API's status answer does not name the message: it is the one asked about.
        return StatusInfo(reply.apimsgid or params.get("apimsgid", ""), reply.status)

    async def query_climsgid(self, climsgid: str) -> StatusInfo | None:
        """A request's status by the ``climsgid`` it was first sent with; None when the
        gateway knows neither it nor any of its resends.

        A resend after a lookup that concluded "missing" carries an id of its own, derived
        from the request's (``asms._sending.attempt_climsgid``): a journal that recorded the
        request's id settles an interrupted request with this. Raises
        :class:`MessageLookupError` when a lookup fails otherwise, or answers "message
        unknown" (which may mean "not reported yet"): not proof of absence.
        """
        self._legacy_only("query_climsgid", "the platform looks messages up by apimsgid")
        check_climsgid(climsgid)
        ids = [climsgid]
        ids += [attempt_climsgid(climsgid, n) for n in range(1, self._retry.attempts)]
        for one in ids:
            try:
                status = await self.query(climsgid=one)
            except MessageLookupError as exc:
                if exc.code == ErrorCode.UNKNOWN_CLIENT_MESSAGE_ID:
                    continue
                raise
            if status.status == MessageStatus.MESSAGE_UNKNOWN:
                raise MessageLookupError(ErrorCode.UNKNOWN_CLIENT_MESSAGE_ID, "status 001")
            return status
        return None

    async def delete(
        self, apimsgid: str | None = None, *, climsgid: str | None = None
    ) -> StatusInfo:
        """Stop a message still queued at the gateway (``delmsg``); its status after."""
        self._legacy_only("delete")
        op = _OPS["delmsg"]
        params = op_options(op, one_key(apimsgid, climsgid))
        reply = await self._read(op, params, expect_status)
        return StatusInfo(reply.apimsgid, reply.status)

    async def charge(self, apimsgid: str | None = None, *, climsgid: str | None = None) -> Charge:
        """What a message cost and its status (``getmsgcharge``)."""
        self._legacy_only("charge")
        op = _OPS["getmsgcharge"]
        params = op_options(op, one_key(apimsgid, climsgid))
        reply = await self._read(op, params, expect_charge)
        return Charge(reply.apimsgid, reply.charge, reply.status)

    async def balance(self) -> Balance:
        """The account's credits (``getbalance``)."""
        reply = await self._read(_OPS["getbalance"], {}, expect_credit)
        return Balance(reply.credit, reply.currency)

    async def route_coverage(self, msisdn: str) -> Coverage:
        """Whether messages to a number's prefix are routed, and their charge."""
        self._legacy_only("route_coverage")
        op = _OPS["routeCoverage"]
        number = normalize_one(msisdn, self._options.country_code)
        reply = await self._read(op, {"msisdn": number}, expect_coverage)
        return Coverage(number, reply.supported, reply.charge, reply.text)

    async def token_pay(self, token: str) -> float:
        """Redeem a 16-digit voucher; the credits it added. Never resent when in doubt."""
        self._legacy_only("token_pay")
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
        self._legacy_only("ping", "the platform has no sessions")
        if not self._options.session:
            raise ValidationError("session", "ping needs a session (session=True)")
        session_id, generation = await self._session.current()
        await self._ping(self._session, session_id, generation)

    # -- bulk sending -------------------------------------------------------------------------

    def send_bulk(
        self,
        messages: Iterable[Message] | AsyncIterable[Message],
        **options: Unpack[BulkOptions],
    ) -> BulkRun:
        """Send a campaign at ``rate`` recipients per second; one result per input message.

        Usage::

            async with client.send_bulk(messages, rate=100, journal="campaign.db") as run:
                async for result in run:
                    ...
            print(run.report())

        Consecutive messages with the same text and options share one request. With a
        ``journal``, rerunning the same input resumes: accepted messages are skipped and
        interrupted requests are looked up by ``climsgid`` before anything is resent. The
        Platform wires cannot look a request up: there an interrupted request's messages stay
        unknown, never resent, until a status callback recorded in the journal's file (a
        :class:`CallbackReceiver` with ``store=`` that file) settles them on a rerun.

        **Keywords** (each may be left out; the defaults live in ``asms._config``):

        * ``rate``: recipients per second (a 600-recipient request counts 600); ``None``: as
          fast as ``concurrency`` allows. Default: 100.
        * ``burst``: recipients that may go at once after an idle moment (and at start-up).
          Default: 1.
        * ``concurrency``: requests in flight at most; default: enough to keep ``rate`` with
          a 250 ms round trip (8 to 64).
        * ``journal``: a SQLite file (or a :class:`Journal`) that makes the run resumable;
          the run owns it while it runs (see :class:`Journal`: one run at a time, a finished
          campaign is refused unless replayed). A :class:`Journal` the run opened, it closes.
        * ``group_size``: recipients per request at most (default: the wire's limit; 1 turns
          grouping off).
        * ``progress``: called with a :class:`BulkStatistics` after each request.
        * ``clock``: the clock the rate is kept on (a :class:`VirtualClock` in tests).
        * ``limiter``: a ready :class:`Limiter` to keep the rate instead of one the run
          makes from ``rate`` and ``burst`` (which must then be left out): a
          :class:`RedisRateLimiter` shares one account's limit with other processes, a
          :class:`RateLimiter` with other runs of this process.

        On a client made with a ``limiter``, a run given none of ``rate``, ``burst`` and
        ``limiter`` keeps the client's limiter (:attr:`BulkRun.limiter` is it). A run given
        its own waits for both, its own first: it may go slower than the client's limit,
        never faster. The run waits for a request's slots itself (where a stopped run can
        still give up) and the client does not take them again; a resend the client makes
        takes the client limiter's slots anew, as any request carrying messages does.
        * ``drain_timeout``: seconds a stopped run waits for the requests in flight.
          Default: 10.
        * ``linger``: seconds a partial group waits for more messages from a slow async
          input. Default: 0.05.
        * ``reconcile_grace``: seconds a resumed run waits, counted from when the interrupted
          run stopped (or last gave a sign of life), before asking the gateway about the
          requests it left without an outcome (on this client's
          ``RetryPolicy.reconcile_schedule``). Default: 5.
        """
        check_keywords(options, BULK_KEYWORDS, "AsyncClient.send_bulk")
        self._ensure_open()
        return _send_bulk(self, messages, **options)

    # -- the batch (template) API -------------------------------------------------------------

    def batch(self, template: str, **options: Any) -> Batch:
        """``async with client.batch("Hi #field1#", from_="Shop") as b:`` — ``startbatch``
        on entry, ``endbatch`` on exit; ``await b.send_item(to, ["Ann"])``,
        ``await b.quick_send(to=[...])``.
        """
        self._ensure_open()
        self._legacy_only("batch", "the platform has no batch (template) API")
        climsgid = options.pop("climsgid", None)
        opts = SendOptions.from_kwargs(options) if options else DEFAULT_OPTIONS
        prepared = prepare_text(self._wire, template, opts, max_parts=MAX_CONCAT, field="template")
        params = dict(prepared.params)
        if climsgid is not None:
            check_climsgid(climsgid)
            params["climsgid"] = climsgid
        if "#field" in template and opts.concat is None:
            # Fields make the text longer than the template: allow up to max_parts.
            params["concat"] = str(max(prepared.parts, self._options.max_parts))
        unicode = params.get("unicode") == "1"
        return Batch(ClientBatchCalls(self), params, unicode=unicode, parts=prepared.parts)


def _not_a_message(position: int, item: object) -> ValidationError:
    return ValidationError(
        "messages", f"item {position} is {type(item).__name__}, not an asms.Message"
    )
