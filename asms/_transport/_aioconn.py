"""One keep-alive HTTP/1.1 connection as a native asyncio protocol (the asyncio backend's path).

anyio's socket stream costs more than the rest of an exchange on a warm connection: it pauses
and resumes reading around every receive (an epoll_ctl pair per request) and adds
cancel-shielded checkpoints. Here the request goes out with one synchronous
``transport.write()``, the socket is read continuously into the connection's
:class:`ResponseReader` from ``data_received``, and the request's task waits on one future
that is resolved when the response is whole. The interface and the exceptions are those of
:class:`asms._transport._connection.Connection`, which trio (and any other backend) keeps using.
"""

from __future__ import annotations

import asyncio
import ipaddress
import select
import ssl
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, cast

import anyio

from .._compat import httpx
from ._http11 import COALESCE_LIMIT as _COALESCE_LIMIT
from ._http11 import DEFAULT_REPLY_LIMITS, ReplyLimits, ResponseReader, chunk_frame

if TYPE_CHECKING:
    from ._deadlines import Deadline, DeadlineKeeper
    from .base import Exchange, Origin

try:
    from sniffio import current_async_library
except ImportError:  # pragma: no cover - trio requires sniffio: without it, only asyncio runs

    def current_async_library() -> str:
        return "asyncio"


__all__ = ["AsyncioConnection", "on_asyncio", "open_asyncio_connection"]

# Larger bodies are handed to the transport in slices, so its buffer (a copy) stays bounded.
_SLICE = 256 * 1024
_POLL = getattr(select, "poll", None)
_POLLIN = getattr(select, "POLLIN", 1)


def on_asyncio() -> bool:
    """Whether the running async library is asyncio (so :class:`AsyncioConnection` applies)."""
    return current_async_library() == "asyncio"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _describe(what: str, exc: BaseException | None) -> str:
    detail = str(exc) if exc is not None else ""
    return f"{what}: {detail}" if detail else what


async def open_asyncio_connection(
    origin: Origin,
    ssl_context: ssl.SSLContext | None,
    connect_timeout: float | None,
    reply_limits: ReplyLimits = DEFAULT_REPLY_LIMITS,
) -> AsyncioConnection:
    """Connect with ``loop.create_connection`` (for https, handshake and verify as configured).

    asyncio sets ``TCP_NODELAY`` on every TCP transport it creates.
    """
    scheme, raw_host, port = origin
    host = raw_host.decode("ascii")
    loop = asyncio.get_running_loop()
    conn = AsyncioConnection(origin, loop, reply_limits)
    tls: ssl.SSLContext | bool | None = None
    if scheme == b"https":
        tls = ssl_context if ssl_context is not None else True  # True: a default context
    try:
        with anyio.fail_after(connect_timeout):
            await loop.create_connection(
                lambda: conn,
                host,
                port,
                ssl=tls,
                server_hostname=host if tls is not None else None,
                # As anyio.connect_tcp does, for a name with several addresses. An address has
                # one: asyncio would still run its race (tasks and waits) around the connect.
                happy_eyeballs_delay=None if _is_address(host) else 0.25,
            )
    except TimeoutError:
        raise httpx.ConnectTimeout("timed out while connecting") from None
    except OSError as exc:  # includes ssl.SSLError and name resolution errors
        raise httpx.ConnectError(_describe("connection failed", exc)) from exc
    return conn


class AsyncioConnection(asyncio.Protocol):
    """A connection and the parser of its responses; used by one request at a time.

    Flags rather than syscalls describe the socket: ``_gone`` once the transport can no
    longer carry a request (EOF, lost, or closed here), ``_broken`` once the connection must
    not be reused (also stray bytes while idle, or a failed exchange).
    """

    __slots__ = (
        "_active",
        "_broken",
        "_closed",
        "_eof",
        "_error",
        "_gone",
        "_loop",
        "_lost_exc",
        "_paused",
        "_poller",
        "_reader",
        "_timed_out",
        "_transport",
        "_waiter",
        "idle_since",
        "origin",
        "requests",
    )

    def __init__(
        self,
        origin: Origin,
        loop: asyncio.AbstractEventLoop,
        reply_limits: ReplyLimits = DEFAULT_REPLY_LIMITS,
    ) -> None:
        self.origin = origin
        self._loop = loop
        # Set by connection_made() before open_asyncio_connection() hands the connection out;
        # typed as always set so the hot path needs no check.
        self._transport: asyncio.Transport = cast(asyncio.Transport, None)
        self._reader = ResponseReader(*reply_limits)
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None  # from parsing the response, raised by exchange()
        self._lost_exc: BaseException | None = None
        self._active = False  # a request is waiting for its response
        self._broken = self._gone = self._closed = self._eof = False
        self._paused = False  # the transport's write buffer is over its high-water mark
        self._timed_out = False
        self._poller: select.poll | None = None
        self.idle_since = 0.0
        self.requests = 0

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        origin = f"{scheme.decode()}://{host.decode()}:{port}"
        return f"<AsyncioConnection {origin} requests={self.requests}>"

    @property
    def keep_alive(self) -> bool:
        """Whether the last response left the connection fit for another request."""
        reader = self._reader
        return reader.complete and reader.keep_alive and not reader.junk and not self._broken

    @property
    def response_started(self) -> bool:
        """Whether any byte of the current response has arrived."""
        return self._reader.received > 0

    def is_readable(self) -> bool:
        """Whether the idle connection has had EOF, a reset or stray bytes (so is unusable).

        The protocol callbacks flag what the event loop has seen. What it has not seen yet
        (it arrived during the current iteration of the loop, whose read callbacks may run
        after this task) is still waiting in the kernel: one non-blocking poll shows it, so
        a server's close is caught before a request is written, as on the anyio path.
        """
        # is_closing(): a TLS transport hears of a lost connection one callback before its
        # protocol does, and the socket (whose fd number may be reused) is already closed.
        if self._broken or self._transport.is_closing():
            return True
        poller = self._poller
        if poller is None:
            return False
        try:
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    async def aclose(self) -> None:
        # Forceful and without an await: safe inside a cancelled scope.
        self._close()

    def _close(self) -> None:
        self._broken = self._gone = True
        self._active = False
        if not self._closed:
            self._closed = True
            if self._transport is not None:  # always, once connected
                self._transport.abort()
        self._wake()

    def _expire(self) -> None:  # a timer of this connection's request came due
        self._timed_out = True
        self._close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # the request -------------------------------------------------------------------------

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

        Timeouts are kept by ``keeper`` when it runs, else by a timer of the event loop; on
        expiry the connection is closed, which ends the wait at once.
        """
        self.requests += 1
        reader = self._reader
        reader.reset(head_only=head_only)
        if self._broken:
            raise self._unusable()
        if keeper is not None and not keeper.running:
            keeper = None
        loop = self._loop
        deadline: Deadline | None = None
        timer: asyncio.TimerHandle | None = None
        written = False
        self._active = True
        try:
            if write_timeout is not None:
                if keeper is not None:
                    deadline = keeper.arm(self, write_timeout)
                else:
                    timer = loop.call_at(loop.time() + write_timeout, self._expire)
            if stream is None and (body is None or len(body) <= _COALESCE_LIMIT):
                self._transport.write(head + body if body else head)
                waited = self._paused
                if waited:
                    await self._drain()
            else:
                await self._write(head, body, stream, chunked)
                waited = True
            written = True
            # Equal timeouts and a write that did not wait (the usual small request): no time
            # has passed, so the write's deadline serves for the read too.
            if read_timeout != write_timeout or waited:
                if deadline is not None:
                    deadline.done = True
                    deadline = None
                if timer is not None:
                    timer.cancel()
                    timer = None
                if read_timeout is not None:
                    if keeper is not None:
                        deadline = keeper.arm(self, read_timeout)
                    else:
                        timer = loop.call_at(loop.time() + read_timeout, self._expire)
            while self._active:  # the callbacks clear it when the response ends either way
                waiter = self._waiter = loop.create_future()
                await waiter
            if not reader.complete:
                raise self._read_failure()
        except BaseException as exc:
            # Failed, timed out or cancelled: whatever was under way leaves the connection
            # in an unknown state.
            self._broken = True
            self._active = False
            if isinstance(exc, Exception) and (
                self._timed_out or (deadline is not None and deadline.expired)
            ):
                # The connection was closed for the timeout: whatever broke, that is the cause.
                if written:
                    raise httpx.ReadTimeout("timed out while reading the response") from None
                raise httpx.WriteTimeout("timed out while sending the request") from None
            raise
        finally:
            if deadline is not None:
                deadline.done = True
            if timer is not None:
                timer.cancel()
        return reader.status, reader.headers, reader.content, reader.reason, reader.http_version

    async def _write(
        self,
        head: bytes,
        body: bytes | None,
        stream: AsyncIterable[bytes] | None,
        chunked: bool,
    ) -> None:
        send = self._send
        send(head)
        if stream is None:
            if body:
                view = memoryview(body)
                for start in range(0, len(view), _SLICE):
                    send(view[start : start + _SLICE])
                    if self._paused:
                        await self._drain()
            return
        async for chunk in stream:
            if chunk:
                send(chunk_frame(chunk) if chunked else chunk)
                if self._paused:
                    await self._drain()
        if chunked:
            send(chunk_frame(b""))
        if self._paused:
            await self._drain()

    def _send(self, data: bytes | memoryview) -> None:
        # A closed transport drops writes silently: fail instead.
        if self._gone:
            raise self._write_failure()
        self._transport.write(data)

    async def _drain(self) -> None:
        """Wait until the transport's buffer is back under its low-water mark."""
        while self._paused:
            if self._gone:
                raise self._write_failure()
            waiter = self._waiter = self._loop.create_future()
            await waiter
        if self._gone:
            raise self._write_failure()

    def _write_failure(self) -> httpx.WriteError:
        error = httpx.WriteError(_describe("connection lost while sending", self._lost_exc))
        error.__cause__ = self._lost_exc
        return error

    def _read_failure(self) -> Exception:
        if self._error is not None:
            return self._error
        error = httpx.ReadError(_describe("connection lost while reading", self._lost_exc))
        error.__cause__ = self._lost_exc
        return error

    def _unusable(self) -> Exception:
        """Why a request cannot start on a connection already known to be unusable."""
        if self._closed or self._lost_exc is not None:
            return self._write_failure()
        if self._gone:  # the server closed it: what writing and then reading would show
            return httpx.RemoteProtocolError("server disconnected without sending a response")
        return httpx.RemoteProtocolError("unexpected data from the server before the request")

    # asyncio protocol callbacks ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")  # the TCP socket, under TLS too
        if _POLL is not None and sock is not None:
            # The fd is closed only when the transport calls connection_lost(), which sets
            # _broken first: a reused fd number is never polled.
            self._poller = _POLL()
            self._poller.register(sock.fileno(), _POLLIN)

    def data_received(self, data: bytes) -> None:
        if not self._active:
            # Between requests an HTTP/1.1 server has nothing to say: the connection is spoilt.
            self._broken = True
            if not self._gone:
                self._transport.pause_reading()
            return
        reader = self._reader
        try:
            reader.feed(data)
        except Exception as exc:  # malformed or too large; raised in the request's task
            self._error = exc
            # Nothing more of this reply is wanted: drop the connection now, so the socket
            # stops being read into memory while the request's task wakes up.
            self._close()
            return
        if reader.complete:
            self._active = False
            self._wake()

    def eof_received(self) -> bool | None:
        self._eof = self._gone = self._broken = True
        if self._active:
            self._end_of_response()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone = self._broken = True
        self._lost_exc = exc
        if self._active:
            if exc is None and not self._closed and not self._eof:
                self._end_of_response()  # a close without an EOF seen first: the same thing
            else:
                self._active = False
        self._wake()

    def _end_of_response(self) -> None:
        try:
            self._reader.feed_eof()  # completes a close-delimited body
        except Exception as exc:
            self._error = exc
        self._active = False
        self._wake()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()
