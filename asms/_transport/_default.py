"""The default transport: keep-alive HTTP/1.1 under the httpx API, on asyncio or trio."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from .._compat import httpx
from .._config import MAX_HEAD_BYTES, MAX_REPLY_BYTES, TRANSPORT_LIMITS
from .._exceptions import ValidationError
from ._deadlines import DeadlineKeeper
from ._http11 import build_head, framing
from ._pool import ConnectionPool, PoolStatistics
from ._proxy import env_proxy
from ._stock import StockTransport
from ._tls import CertTypes, VerifyTypes, create_ssl_context
from .base import DEFAULT_PORTS as _DEFAULT_PORTS
from .base import Exchange, Origin

__all__ = ["AsyncTransport", "make_transport", "request_was_sent"]

# Methods a server must tolerate receiving twice (RFC 9110 §9.2.2).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_SENT_ATTRIBUTE = "_asms_request_sent"
_NO_TIMEOUTS: dict[str, Any] = {}
TRANSPORT_ENV = "ASMS_TRANSPORT"  # "httpx" (or "stock"): make_transport() picks stock httpx


async def _async_chunks(
    stream: httpx.SyncByteStream | httpx.AsyncByteStream,
) -> AsyncIterator[bytes]:
    if isinstance(stream, httpx.AsyncByteStream):
        async for chunk in stream:
            yield chunk
    else:  # a request built with a sync iterable: iterate it in place
        for chunk in stream:
            yield chunk


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body already in memory, as one chunk.

    Like ``httpx.ByteStream``, but iterating it asynchronously creates no async generator
    (asyncio registers each one with the loop): part of the cost of ``Response.aread()``.
    """

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        return iter((self._body,))

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _OneChunk(self._body)


class _OneChunk:
    __slots__ = ("_body",)

    def __init__(self, body: bytes | None) -> None:
        self._body = body

    def __aiter__(self) -> _OneChunk:
        return self

    async def __anext__(self) -> bytes:
        body = self._body
        if body is None:
            raise StopAsyncIteration
        self._body = None
        return body


def _mark(exc: BaseException, sent: bool | None) -> BaseException:
    setattr(exc, _SENT_ATTRIBUTE, sent)
    return exc


def request_was_sent(exc: BaseException) -> bool | None:
    """Whether the request behind a failure reached the server.

    ``False``: it never left (connect error or timeout, pool timeout, refused locally), so
    resending cannot duplicate it. ``True``: part of a response arrived, so the server has it.
    ``None``: unknown (a write or read failed or timed out after bytes went out); the server
    may have acted on it. The ``__cause__`` chain is followed, so exceptions that wrap an
    httpx error answer too. Works for this transport and for stock httpx.
    """
    seen: BaseException | None = exc
    while seen is not None:
        marked = getattr(seen, _SENT_ATTRIBUTE, ...)
        if marked is not ...:
            return marked  # type: ignore[no-any-return]
        if isinstance(
            seen,
            httpx.ConnectError
            | httpx.ConnectTimeout
            | httpx.PoolTimeout
            | httpx.UnsupportedProtocol
            | httpx.LocalProtocolError,
        ):
            return False
        if isinstance(seen, httpx.TransportError):
            return None
        seen = seen.__cause__
    return None


class AsyncTransport(httpx.AsyncBaseTransport):
    """A keep-alive HTTP/1.1 connection pool for httpx, on asyncio or trio.

    On asyncio each connection is a native ``asyncio.Protocol`` (one ``write()`` per request,
    read continuously, one future per response); on trio an anyio byte stream.

    Request timeouts come from ``request.extensions["timeout"]`` as httpx sets them
    (connect/read/write/pool; a missing key means no limit). Read and write timeouts are
    kept by one task while the transport is entered (``async with``; ``httpx.AsyncClient``
    enters its transport), and fire up to 0.1 s late; otherwise by a cancel scope per request,
    which costs more. Failures are httpx exceptions; :func:`request_was_sent` tells the ones
    that prove the request never left.

    Replies are capped while they are read: a head (status line and headers) longer than
    ``max_head_bytes``, or a body longer than ``max_reply_bytes`` (announced by
    ``Content-Length``, or as a chunked or close-delimited body arrives), fails with
    ``asms.ReplyParseError`` as soon as that shows, and its connection is closed, never
    reused. The request was sent and answered, so its outcome is unknown.

    A reused connection is checked before anything is written to it; if the server has
    closed it meanwhile, the request goes out on another connection (or, with
    ``retries_on_stale=False``, fails with ``httpx.ConnectError``). When a reused connection
    dies after the request was written but before any byte of the response, only idempotent
    methods with an in-memory body are retried, once, on a new connection: a POST may have
    been acted on and is left to the caller. Responses are read whole (no streaming).
    """

    def __init__(
        self,
        *,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        limits: httpx.Limits = TRANSPORT_LIMITS,
        retries_on_stale: bool = True,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        max_head_bytes: int = MAX_HEAD_BYTES,
    ) -> None:
        _check_limit("max_reply_bytes", max_reply_bytes)
        _check_limit("max_head_bytes", max_head_bytes)
        self._tls_options = (verify, cert, trust_env)
        self._ssl_context = verify if isinstance(verify, ssl.SSLContext) and cert is None else None
        self._retries_on_stale = retries_on_stale
        self._pool = ConnectionPool(
            limits,
            self._get_ssl_context,
            replace_stale=retries_on_stale,
            reply_limits=(max_reply_bytes, max_head_bytes),
        )
        self._keeper = DeadlineKeeper()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._entered = 0

    def __repr__(self) -> str:
        return f"<AsyncTransport {self._pool!r}>"

    def _get_ssl_context(self) -> ssl.SSLContext:
        # Built on the first https connection: loading a CA bundle takes tens of
        # milliseconds that a client of a plain-http gateway (or emulator) need not spend.
        if self._ssl_context is None:
            verify, cert, trust_env = self._tls_options
            self._ssl_context = create_ssl_context(verify, cert, trust_env=trust_env)
        return self._ssl_context

    def statistics(self) -> PoolStatistics:
        """Connection counts, overall and per origin."""
        return self._pool.statistics()

    async def __aenter__(self) -> AsyncTransport:
        """Start the task that keeps read/write timeouts (cheaper than a scope each).

        Without it (transport not entered) each request uses a cancel scope instead. Enter
        and exit in the same task, as with any task group; ``httpx.AsyncClient`` does.
        Nested entries (a client entering an entered transport) share the one task.
        """
        self._entered += 1
        if self._entered == 1:
            group = anyio.create_task_group()
            await group.__aenter__()
            try:
                await group.start(self._keeper.run)
            except BaseException:
                self._entered -= 1
                self._keeper.stop()
                await group.__aexit__(None, None, None)
                raise
            self._task_group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()  # also stops the keeper, so the group below has no task left
        self._entered -= 1
        if self._entered == 0 and self._task_group is not None:
            group, self._task_group = self._task_group, None
            # Not handed the exception in flight: a task group would wrap it in a group.
            await group.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Close every connection; requests still in flight fail. Any task may call it."""
        with anyio.CancelScope(shield=True):
            await self._pool.aclose()
        # Only the keeper is cancelled, never the task group's scope: the code of the task
        # that entered the transport runs inside that scope.
        self._keeper.stop()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return its whole response (httpx's transport API).

        What ``httpx.AsyncClient`` calls. Failures are httpx exceptions, marked for
        :func:`request_was_sent`; a reply over the caps raises ``asms.ReplyParseError``.
        """
        status, headers, content, reason, version = await self.send_raw(request)
        # The body is already in memory; a stream (rather than ``content=``) is what httpx
        # expects from a transport: the client reads it, decodes any Content-Encoding and
        # records ``response.elapsed`` when it closes it. Direct callers use ``aread()``.
        return httpx.Response(
            status,
            headers=headers,
            stream=_Body(content),
            extensions={"http_version": version, "reason_phrase": reason},
        )

    async def send_raw(self, request: httpx.Request) -> Exchange:
        """Send ``request``; return (status, raw headers, body, reason, HTTP version).

        The hot path under :meth:`handle_async_request`, for callers that need no
        ``httpx.Response`` (building one costs more than the whole exchange on a warm
        connection). The body is as received: no ``Content-Encoding`` is undone.
        """
        url = request.url
        scheme = url.raw_scheme
        default_port = _DEFAULT_PORTS.get(scheme)
        if default_port is None:
            raise _mark(httpx.UnsupportedProtocol("only http and https URLs are supported"), False)
        origin: Origin = (scheme, url.raw_host, url.port or default_port)
        method = request.method
        raw_headers = request.headers.raw
        chunked = False
        try:
            body: bytes | None = request.content
            stream = None
        except httpx.RequestNotRead:
            body = None
            stream = _async_chunks(request.stream)
        if stream is not None or body:
            # Requests that httpx built carry their framing header; others get one here.
            framed = framing(raw_headers)
            if stream is not None:
                chunked = framed != b"length"
                if framed is None:
                    raw_headers = [*raw_headers, (b"Transfer-Encoding", b"chunked")]
            elif framed is None and body:
                raw_headers = [*raw_headers, (b"Content-Length", b"%d" % len(body))]
        try:
            head = build_head(method, url, raw_headers)
        except httpx.LocalProtocolError as exc:
            raise _mark(exc, False) from None
        timeouts: Mapping[str, Any] = request.extensions.get("timeout") or _NO_TIMEOUTS
        return await self.send_prepared(
            origin, method, head, body, timeouts, stream=stream, chunked=chunked
        )

    async def send_prepared(
        self,
        origin: Origin,
        method: str,
        head: bytes,
        body: bytes | None,
        timeouts: Mapping[str, Any],
        *,
        stream: AsyncIterable[bytes] | None = None,
        chunked: bool = False,
    ) -> Exchange:
        """Send a request whose head is already serialized; return as :meth:`send_raw` does.

        For callers that build the same few request heads over and over (the asms wires):
        ``head`` must be a complete, well-formed HTTP/1.1 request head (request line,
        ``Host``, the body's ``Content-Length`` or ``Transfer-Encoding``, the blank line);
        ``origin`` is ``(scheme, host, port)`` with scheme ``b"http"`` or ``b"https"``;
        ``timeouts`` is a dict as in httpx's ``request.extensions["timeout"]``. A body given
        as ``stream`` is sent after the head (chunk-framed when ``chunked``).
        """
        pool = self._pool
        fresh = False
        while True:
            conn = None if fresh else pool.take(origin)
            if conn is None:
                try:
                    conn = await pool.acquire(
                        origin,
                        pool_timeout=timeouts.get("pool"),
                        connect_timeout=timeouts.get("connect"),
                        fresh=fresh,
                    )
                except httpx.TransportError as exc:
                    _mark(exc, False)  # no byte of this request was written anywhere
                    raise
            reused = conn.requests > 0
            try:
                result = await conn.exchange(
                    head,
                    body,
                    stream,
                    chunked=chunked,
                    head_only=method == "HEAD",
                    write_timeout=timeouts.get("write"),
                    read_timeout=timeouts.get("read"),
                    keeper=self._keeper,
                )
            except BaseException as exc:
                await pool.discard(conn)
                if not isinstance(exc, httpx.TransportError):
                    raise
                started = conn.response_started
                if (
                    reused
                    and not fresh
                    and not started
                    and isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError)
                    and self._retries_on_stale
                    and method in _IDEMPOTENT
                    and stream is None
                ):
                    fresh = True
                    continue
                _mark(exc, True if started else None)
                raise
            doomed = pool.put(conn)
            if doomed:
                await pool.close_all(doomed)
            return result


def _check_limit(field: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(field, "must be a positive number of bytes", value)


def make_transport(
    *,
    url: httpx.URL | str | None = None,
    proxy: httpx.Proxy | httpx.URL | str | None = None,
    use_stock: bool | None = None,
    trust_env: bool = True,
    verify: VerifyTypes = True,
    cert: CertTypes | None = None,
    limits: httpx.Limits = TRANSPORT_LIMITS,
    retries_on_stale: bool = True,
    max_reply_bytes: int = MAX_REPLY_BYTES,
) -> httpx.AsyncBaseTransport:
    """The transport for requests to ``url``: ours, or stock httpx where ours falls short.

    Stock ``httpx.AsyncHTTPTransport`` is chosen when ``use_stock`` is set or a proxy
    applies: ``proxy``, or with ``trust_env`` the ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``
    variables unless ``NO_PROXY`` exempts the host of ``url``. ``use_stock=None`` reads
    the ``ASMS_TRANSPORT`` environment variable (``httpx`` selects stock), so a whole
    program, or test suite, can be switched without code changes.

    Either way, reply bodies longer than ``max_reply_bytes`` are refused while they are read
    (``asms.ReplyParseError``), and so are reply heads longer than 64 KiB (ours) or httpcore's
    own limit of 100 KiB (stock).
    """
    _check_limit("max_reply_bytes", max_reply_bytes)
    if use_stock is None:
        use_stock = os.environ.get(TRANSPORT_ENV, "").strip().lower() in {"httpx", "stock"}
    if proxy is None and trust_env:
        proxy = env_proxy(url)
    if proxy is None and not use_stock:
        return AsyncTransport(
            verify=verify,
            cert=cert,
            trust_env=trust_env,
            limits=limits,
            retries_on_stale=retries_on_stale,
            max_reply_bytes=max_reply_bytes,
        )
    # An SSL context keeps httpx 0.28 from warning about str ``verify`` / ``cert``.
    context = create_ssl_context(verify, cert, trust_env=trust_env)
    return StockTransport(
        verify=context,
        limits=limits,
        proxy=proxy,
        trust_env=trust_env,
        max_reply_bytes=max_reply_bytes,
    )
