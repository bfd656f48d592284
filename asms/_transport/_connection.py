"""One keep-alive HTTP/1.1 connection over an anyio byte stream."""

from __future__ import annotations

import math
import select
import ssl
from collections.abc import AsyncIterable

import anyio
import anyio.abc

from .._compat import httpx
from ._aioconn import AsyncioConnection, on_asyncio, open_asyncio_connection
from ._deadlines import DeadlineKeeper
from ._http11 import COALESCE_LIMIT as _COALESCE_LIMIT
from ._http11 import DEFAULT_REPLY_LIMITS, ReplyLimits, ResponseReader, chunk_frame
from .base import Exchange, Origin

__all__ = ["AnyConnection", "Connection", "open_connection"]

_RECEIVE_SIZE = 64 * 1024
_DEADLINE_SLACK = 0.005  # seconds

_STREAM_ERRORS = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    OSError,  # includes ssl.SSLError
)
_POLL = getattr(select, "poll", None)
_POLLIN = getattr(select, "POLLIN", 1)


def _describe(what: str, exc: BaseException) -> str:
    # OS and TLS errors say what went wrong; anyio's resource errors usually say nothing.
    cause = exc if isinstance(exc, OSError) else exc.__cause__
    detail = str(cause) if cause is not None else ""
    return f"{what}: {detail}" if detail else what


async def open_connection(
    origin: Origin,
    ssl_context: ssl.SSLContext | None,
    connect_timeout: float | None,
    reply_limits: ReplyLimits = DEFAULT_REPLY_LIMITS,
) -> AnyConnection:
    """Connect (and for https, handshake with verification as configured).

    On asyncio the connection is a native protocol (far cheaper per request than an anyio
    stream); on any other backend it runs over an anyio byte stream. ``reply_limits`` is
    (largest body, largest head) of a reply, in bytes.
    """
    if on_asyncio():
        return await open_asyncio_connection(origin, ssl_context, connect_timeout, reply_limits)
    scheme, raw_host, port = origin
    host = raw_host.decode("ascii")
    try:
        with anyio.fail_after(connect_timeout):
            if scheme == b"https":
                # Not "standard compatible": many servers close without a TLS close_notify,
                # and every body here is framed by Content-Length or chunking anyway.
                stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                    host,
                    port,
                    tls=True,
                    ssl_context=ssl_context,
                    tls_hostname=host,
                    tls_standard_compatible=False,
                )
            else:
                stream = await anyio.connect_tcp(host, port)
    except TimeoutError:
        raise httpx.ConnectTimeout("timed out while connecting") from None
    except _STREAM_ERRORS as exc:
        raise httpx.ConnectError(_describe("connection failed", exc)) from exc
    return Connection(origin, stream, reply_limits)


class Connection:
    """A connection and the parser of its responses; used by one request at a time."""

    __slots__ = (
        "_fd",
        "_poller",
        "_reader",
        "_sock",
        "_stream",
        "idle_since",
        "origin",
        "requests",
    )

    def __init__(
        self,
        origin: Origin,
        stream: anyio.abc.ByteStream,
        reply_limits: ReplyLimits = DEFAULT_REPLY_LIMITS,
    ) -> None:
        self.origin = origin
        self._stream = stream
        self._sock = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        self._reader = ResponseReader(*reply_limits)
        self._poller: select.poll | None = None  # kept: one poll object per connection
        self._fd = -1
        self.idle_since = 0.0
        self.requests = 0

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        origin = f"{scheme.decode()}://{host.decode()}:{port}"
        return f"<Connection {origin} requests={self.requests}>"

    @property
    def keep_alive(self) -> bool:
        """Whether the last response left the connection fit for another request."""
        reader = self._reader
        return reader.complete and reader.keep_alive and not reader.junk

    @property
    def response_started(self) -> bool:
        """Whether any byte of the current response has arrived."""
        return self._reader.received > 0

    def is_readable(self) -> bool:
        """Whether an idle connection has something to read, which makes it unusable.

        Between requests an HTTP/1.1 server has nothing to say, so readability means EOF
        (it closed the idle connection), a reset, or stray bytes. Checked without blocking
        on the raw socket before a connection is reused: detecting staleness *before*
        writing is what makes replacing the connection safe even for a POST. anyio leaves an
        idle socket unread on both backends (asyncio pauses reading between receives), so
        the socket shows the truth; EOF stays readable even after it has been seen once.
        """
        sock = self._sock
        if sock is None:
            return False
        try:
            fd = sock.fileno()
            if fd < 0:
                return True
            if _POLL is None:
                return bool(select.select([fd], [], [], 0)[0])
            poller = self._poller
            if poller is None or fd != self._fd:
                poller = self._poller = _POLL()
                poller.register(fd, _POLLIN)
                self._fd = fd
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    async def aclose(self) -> None:
        # Forceful: no TLS close_notify round trip, and safe inside a cancelled scope.
        await anyio.aclose_forcefully(self._stream)

    async def exchange(
        self,
        head: bytes,
        body: bytes | None,
        stream: AsyncIterable[bytes] | None,
        *,
        chunked: bool,
        head_only: bool,
        write_timeout: float | None,
        read_timeout: float | None,
        keeper: DeadlineKeeper | None = None,
    ) -> Exchange:
        """Send one request and read its whole response.

        Timeouts are kept by ``keeper`` when it runs, else by a cancel scope.
        """
        self.requests += 1
        reader = self._reader
        reader.reset(head_only=head_only)
        if keeper is None or not keeper.running:
            if write_timeout is None and read_timeout is None:
                await self._write(head, body, stream, chunked)
                await self._read(reader)
            else:
                await self._scoped_exchange(
                    head, body, stream, chunked, write_timeout, read_timeout
                )
            return reader.status, reader.headers, reader.content, reader.reason, reader.http_version

        # The hot path, so the usual small request is written and read inline here.
        deadline = None if write_timeout is None else keeper.arm(self, write_timeout)
        written = False
        try:
            tick = keeper.now
            if stream is None and (body is None or len(body) <= _COALESCE_LIMIT):
                try:
                    await self._stream.send(head + body if body else head)
                except _STREAM_ERRORS as exc:
                    raise httpx.WriteError(_describe("connection lost while sending", exc)) from exc
            else:
                await self._write(head, body, stream, chunked)
            written = True
            if read_timeout is None:
                if deadline is not None:
                    deadline.done = True
                    deadline = None
            elif deadline is None or read_timeout != write_timeout or keeper.now != tick:
                # Equal timeouts and a write done within one tick of the keeper (the usual
                # small request): the write's deadline serves for the read too.
                if deadline is not None:
                    deadline.done = True
                deadline = keeper.arm(self, read_timeout)
            receive = self._stream.receive
            while not reader.complete:
                try:
                    data = await receive(_RECEIVE_SIZE)
                except anyio.EndOfStream:
                    reader.feed_eof()
                    break
                except _STREAM_ERRORS as exc:
                    raise httpx.ReadError(_describe("connection lost while reading", exc)) from exc
                reader.feed(data)
        except Exception:
            if deadline is not None and deadline.expired:
                # The keeper closed the connection: whatever broke, the cause is the timeout.
                if written:
                    raise httpx.ReadTimeout("timed out while reading the response") from None
                raise httpx.WriteTimeout("timed out while sending the request") from None
            raise
        finally:
            if deadline is not None:
                deadline.done = True
        return reader.status, reader.headers, reader.content, reader.reason, reader.http_version

    async def _scoped_exchange(
        self,
        head: bytes,
        body: bytes | None,
        stream: AsyncIterable[bytes] | None,
        chunked: bool,
        write_timeout: float | None,
        read_timeout: float | None,
    ) -> None:
        written = False
        start = anyio.current_time()
        write_deadline = math.inf if write_timeout is None else start + write_timeout
        with anyio.CancelScope(deadline=write_deadline) as scope:
            await self._write(head, body, stream, chunked)
            written = True
            read_deadline = (
                math.inf if read_timeout is None else anyio.current_time() + read_timeout
            )
            # Moving the deadline reschedules a timer. When the write took no time (the usual
            # small request) and both timeouts are equal, keep the first deadline: the read
            # timeout then ends at most _DEADLINE_SLACK early.
            if not 0 <= read_deadline - write_deadline <= _DEADLINE_SLACK:
                scope.deadline = read_deadline
            await self._read(self._reader)
        if scope.cancelled_caught:
            if written:
                raise httpx.ReadTimeout("timed out while reading the response")
            raise httpx.WriteTimeout("timed out while sending the request")

    async def _write(
        self,
        head: bytes,
        body: bytes | None,
        stream: AsyncIterable[bytes] | None,
        chunked: bool,
    ) -> None:
        send = self._stream.send
        try:
            if stream is None:
                if not body:
                    await send(head)
                elif len(body) <= _COALESCE_LIMIT:
                    await send(head + body)
                else:
                    await send(head)
                    await send(body)
                return
            await send(head)
            async for chunk in stream:
                if chunk:
                    await send(chunk_frame(chunk) if chunked else chunk)
            if chunked:
                await send(chunk_frame(b""))
        except _STREAM_ERRORS as exc:
            raise httpx.WriteError(_describe("connection lost while sending", exc)) from exc

    async def _read(self, reader: ResponseReader) -> None:
        receive = self._stream.receive
        while not reader.complete:
            try:
                data = await receive(_RECEIVE_SIZE)
            except anyio.EndOfStream:
                reader.feed_eof()
                return
            except _STREAM_ERRORS as exc:
                raise httpx.ReadError(_describe("connection lost while reading", exc)) from exc
            reader.feed(data)


# What open_connection() returns: both classes offer the pool the same interface.
AnyConnection = Connection | AsyncioConnection
