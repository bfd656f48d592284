"""Replies are capped while they are read, on asms's transport (asyncio protocol and anyio
stream connections) and on stock httpx (``ASMS_TRANSPORT=httpx``).

A raw blocking-socket server in a thread floods the client with an endless reply and counts
the bytes it manages to write before the client closes the connection: that count is what
proves the client stopped reading at the cap (plus what socket buffers hold), and
tracemalloc's peak proves the client never held much more than the cap.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from asms import ProtocolError, ReplyParseError, ValidationError
from asms._client import AsyncClient
from asms._config import RetryPolicy
from asms._retry import OUTCOME_UNKNOWN, _Kind, _kind
from asms._transport import (
    MAX_HEAD_BYTES,
    MAX_REPLY_BYTES,
    TRANSPORT_ENV,
    AsyncTransport,
    make_transport,
)
from asms._transport._http11 import ResponseReader
from asms._transport._stock import STOCK_HEAD_LIMIT, StockTransport
from asms._wire import roundtrip

pytestmark = pytest.mark.anyio

TIMEOUT = httpx.Timeout(10.0)
KiB = 1024
MiB = 1024 * KiB
# What the server asks of its own send buffer (the kernel doubles it).
SERVER_SNDBUF = 64 * KiB
# The largest read the client makes at once (asyncio's transport reads up to 256 KiB).
CLIENT_READ = 256 * KiB
# Where the server gives up on its own: more than any correct client lets through.
SERVER_DEADLINE = 20.0  # seconds, per connection


def _receive_buffer_max() -> int:
    """The most the client's kernel may hold unread for one TCP socket."""
    try:
        with open("/proc/sys/net/ipv4/tcp_rmem") as limits:
            return int(limits.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 8 * MiB


# Bytes a server can write beyond what the client read before it closed: the client's
# receive buffer, the server's send buffer, one read of the client in progress.
SLACK = _receive_buffer_max() + 2 * SERVER_SNDBUF + CLIENT_READ + 64 * KiB


# --- servers on raw sockets in a thread ---------------------------------------------------------


def read_request(conn: socket.socket, deadline: float, paths: list[str] | None = None) -> bool:
    """Read one request (head and Content-Length body); False if the client went away.

    Its path is appended to ``paths``."""
    data = b""
    while b"\r\n\r\n" not in data:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            more = conn.recv(64 * KiB)
        except OSError:
            return False
        if not more or len(data) > MiB:
            return False
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    if paths is not None:
        paths.append(head.split(b" ", 2)[1].decode())
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        try:
            more = conn.recv(64 * KiB)
        except OSError:
            return False
        if not more:
            return False
        body += more
    return True


class ThreadServer:
    """Accepts connections on 127.0.0.1 in a thread and hands each to :meth:`handle`."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/reply"
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # shut down
                return
            with conn:
                self.handle(conn, time.monotonic() + SERVER_DEADLINE)

    def handle(self, conn: socket.socket, deadline: float) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        self._thread.join(SERVER_DEADLINE + 5)
        self._listener.close()
        assert not self._thread.is_alive()


class Flood(ThreadServer):
    """Answers a request with ``head`` followed by ``filler`` again and again.

    Stops writing when the client closes the connection, after ``limit`` bytes, or after
    ``SERVER_DEADLINE`` seconds, whichever comes first; ``written`` counts the bytes the
    kernel accepted, per connection.
    """

    def __init__(self, head: bytes, filler: bytes, limit: int) -> None:
        super().__init__()
        self.head = head
        self.filler = memoryview(filler)
        self.limit = limit
        self.written: list[int] = []
        self.stopped_by_client: list[bool] = []
        self.paths: list[str] = []

    def handle(self, conn: socket.socket, deadline: float) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SERVER_SNDBUF)
        written = 0
        by_client = False
        if read_request(conn, deadline, self.paths):
            pending = memoryview(self.head)
            while written < self.limit and time.monotonic() < deadline:
                if not pending:
                    pending = self.filler
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    sent = conn.send(pending[: self.limit - written])
                except TimeoutError:
                    break
                except OSError:  # reset or broken pipe: the client closed the connection
                    by_client = True
                    break
                written += sent
                pending = pending[sent:]
        self.written.append(written)
        self.stopped_by_client.append(by_client)


class Scripted(ThreadServer):
    """Answers requests with the given replies in turn; closes after a ``Connection: close``."""

    def __init__(self, replies: list[bytes]) -> None:
        super().__init__()
        self.replies = replies
        self.connections = 0

    def handle(self, conn: socket.socket, deadline: float) -> None:
        self.connections += 1
        while self.replies and read_request(conn, deadline):
            reply = self.replies.pop(0)
            try:
                conn.sendall(reply)
            except OSError:
                return
            if b"\r\nConnection: close\r\n" in reply:
                return


# The four floods: (head, filler) of an endless reply, and the limit it must be refused at.
def _header_lines() -> bytes:
    line = b"X-Padding: " + b"a" * 51 + b"\r\n"  # 64 bytes
    return line * 1024


FLOODS: dict[str, tuple[bytes, bytes]] = {
    "content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 300000000\r\n\r\n",
        b"x" * (64 * KiB),
    ),
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"10000\r\n" + b"x" * (64 * KiB) + b"\r\n",
    ),
    "endless-header-line": (b"HTTP/1.1 200 OK\r\nX-Endless: ", b"a" * (64 * KiB)),
    "endless-header-lines": (b"HTTP/1.1 200 OK\r\n", _header_lines()),
}


@pytest.fixture(params=["asms", "asms-unentered", "stock"])
def kind(request: pytest.FixtureRequest) -> str:
    """asms's transport, entered (timeouts kept by one task) or not (per-request scopes or
    timers), and stock httpx as ``ASMS_TRANSPORT=httpx`` selects it."""
    return str(request.param)


def select_transport(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the environment so that ``make_transport()`` picks the transport ``kind`` names."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    if kind == "stock":
        monkeypatch.setenv(TRANSPORT_ENV, "httpx")
    else:
        monkeypatch.delenv(TRANSPORT_ENV, raising=False)


@contextlib.asynccontextmanager
async def transport_of(
    kind: str, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> AsyncIterator[httpx.AsyncBaseTransport]:
    select_transport(kind, monkeypatch)
    transport = make_transport(**options)
    assert isinstance(transport, StockTransport if kind == "stock" else AsyncTransport)
    if kind == "asms-unentered":
        try:
            yield transport
        finally:
            await transport.aclose()
        return
    async with transport:
        yield transport


def request(method: str, url: str, **kw: Any) -> httpx.Request:
    return httpx.Request(method, url, extensions={"timeout": TIMEOUT.as_dict()}, **kw)


def open_connections(transport: httpx.AsyncBaseTransport) -> int:
    if isinstance(transport, AsyncTransport):
        return transport.statistics().connections
    assert isinstance(transport, StockTransport)
    return len(transport._pool.connections)


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of traced allocations inside the block, in bytes (filled in at its end)."""
    result: list[int] = []
    tracemalloc.start()
    try:
        yield result
    finally:
        result.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


# --- floods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flood", list(FLOODS))
async def test_endless_reply_is_refused_at_the_cap(
    kind: str, flood: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    head, filler = FLOODS[flood]
    is_head = flood.startswith("endless-header")
    if is_head:
        cap = STOCK_HEAD_LIMIT if kind == "stock" else MAX_HEAD_BYTES
        what = "reply head larger than"
    else:
        cap = MAX_REPLY_BYTES
        what = "reply larger than"
    bound = cap + SLACK
    with Flood(head, filler, limit=bound + 16 * MiB) as server:
        async with transport_of(kind, monkeypatch) as transport:
            with peak_memory() as peak, pytest.raises(ReplyParseError) as caught:
                await roundtrip(transport, request("POST", server.url, content=b"to=27999000001"))
            # Refused and dropped: nothing is left open to reuse.
            assert open_connections(transport) == 0
    assert str(caught.value) == f"{what} {cap} bytes"
    # The request went out and an answer came: its outcome is unknown, so it is reconciled
    # before any resend, never resent blindly.
    assert isinstance(caught.value, ProtocolError)
    assert _kind(caught.value, None) is _Kind.AMBIGUOUS
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert server.stopped_by_client == [True]  # the client closed; the server never ran out
    assert len(head) < server.written[0] <= bound
    # The client holds at most the cap and one read beyond it (plus its own small change).
    assert peak[0] <= cap + CLIENT_READ + 2 * MiB


async def test_refused_reply_leaves_the_transport_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    head, filler = FLOODS["chunked"]
    with Flood(head, filler, limit=MAX_REPLY_BYTES + SLACK + 16 * MiB) as server:
        async with transport_of("asms", monkeypatch) as transport:
            with pytest.raises(ReplyParseError):
                await roundtrip(transport, request("GET", server.url))
            with pytest.raises(ReplyParseError):
                await roundtrip(transport, request("GET", server.url))
    assert server.stopped_by_client == [True, True]  # a new connection for the second request


async def test_a_send_answered_by_a_flood_is_reconciled_never_resent(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    head, filler = FLOODS["chunked"]
    with Flood(head, filler, limit=MAX_REPLY_BYTES + SLACK + 16 * MiB) as server:
        select_transport(kind, monkeypatch)  # the client makes its own transport
        base_url = f"http://127.0.0.1:{server.port}"
        policy = RetryPolicy.testing(attempts=3)
        async with AsyncClient(1234, "u", "p", session=False, base_url=base_url, retry=policy) as c:
            results = await c.send("Hi", to=["27999000001"])
    assert [r.error_code for r in results] == [OUTCOME_UNKNOWN]
    sends = [path for path in server.paths if path.endswith("/sendmsg")]
    assert len(sends) == 1  # the outcome is unknown: looked up, never sent again
    assert len(server.paths) > 1 and all(p.endswith("/querymsg") for p in server.paths[1:])
    assert server.stopped_by_client == [True] * len(server.paths)


# --- the limits exactly ------------------------------------------------------------------------

SMALL = 1000


def _length_reply(size: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"y" * size


def _chunked_reply(size: int) -> bytes:
    chunks = b"".join(b"64\r\n" + b"y" * 100 + b"\r\n" for _ in range(size // 100))
    rest = size % 100
    if rest:
        chunks += b"%x\r\n" % rest + b"y" * rest + b"\r\n"
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


def _close_delimited_reply(size: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * size


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
async def test_a_body_of_exactly_the_cap_is_read_one_byte_more_is_refused(
    kind: str, framing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = {"length": _length_reply, "chunked": _chunked_reply, "close": _close_delimited_reply}
    reply = build[framing]
    async with transport_of(kind, monkeypatch, max_reply_bytes=SMALL) as transport:
        # Through httpx's client: the error comes out of the transport as it is.
        client = httpx.AsyncClient(transport=transport, timeout=TIMEOUT)
        with Scripted([reply(SMALL)]) as server:
            response = await client.get(server.url)
        assert response.content == b"y" * SMALL
        kept = open_connections(transport)
        with Scripted([reply(SMALL + 1)]) as server:
            with pytest.raises(ReplyParseError, match=f"^reply larger than {SMALL} bytes$"):
                await client.get(server.url)
        assert open_connections(transport) <= kept  # the refused reply's connection is gone


async def test_a_head_of_exactly_the_cap_is_read_one_byte_more_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def reply(head_size: int) -> bytes:
        start = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: "
        end = b"\r\n\r\n"
        return start + b"p" * (head_size - len(start) - len(end)) + end + b"OK"

    async with transport_of("asms", monkeypatch) as transport:
        with Scripted([reply(MAX_HEAD_BYTES), reply(MAX_HEAD_BYTES + 1)]) as server:
            status, content = await roundtrip(transport, request("GET", server.url))
            assert (status, content) == (200, b"OK")
            with pytest.raises(ReplyParseError, match=f"^reply head larger than {MAX_HEAD_BYTES}"):
                await roundtrip(transport, request("GET", server.url))


async def test_head_reply_announcing_a_huge_body_is_not_refused(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with transport_of(kind, monkeypatch, max_reply_bytes=SMALL) as transport:
        with Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 300000000\r\n\r\n"]) as server:
            response = await transport.handle_async_request(request("HEAD", server.url))
            await response.aread()
    assert response.status_code == 200 and response.content == b""


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "4000000"])
def test_limits_must_be_positive_byte_counts(value: Any) -> None:
    rule = "must be a positive number of bytes"
    with pytest.raises(ValidationError) as refused:
        AsyncTransport(max_reply_bytes=value)
    assert (refused.value.field, refused.value.rule) == ("max_reply_bytes", rule)
    with pytest.raises(ValidationError) as refused:
        AsyncTransport(max_head_bytes=value)
    assert (refused.value.field, refused.value.rule) == ("max_head_bytes", rule)
    with pytest.raises(ValidationError) as refused:
        make_transport(max_reply_bytes=value)
    assert (refused.value.field, refused.value.rule) == ("max_reply_bytes", rule)


# --- the reader alone ----------------------------------------------------------------------------


def _feed_in_pieces(reader: ResponseReader, data: bytes, size: int) -> ResponseReader:
    reader.reset(head_only=False)
    for start in range(0, len(data), size):
        reader.feed(data[start : start + size])
    return reader


@pytest.mark.parametrize("piece", [7, 4096, 1 << 30])
def test_reader_limits_hold_whatever_the_chunking(piece: int) -> None:
    head_limit, body_limit = 4096, 100_000
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"  # counts towards the head
    start = interim + b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Pad: "
    end = b"\r\n\r\n"

    def reply(head_size: int, body_size: int) -> bytes:
        fixed = len(start % body_size) + len(end)
        return start % body_size + b"p" * (head_size - fixed) + end + b"b" * body_size

    # A refused reply's connection is dropped: each reply gets a new reader here.
    reader = _feed_in_pieces(
        ResponseReader(body_limit, head_limit), reply(head_limit, body_limit), piece
    )
    assert reader.complete and reader.keep_alive and reader.content == b"b" * body_limit
    with pytest.raises(ReplyParseError, match=r"^reply head larger than 4096 bytes$"):
        _feed_in_pieces(ResponseReader(body_limit, head_limit), reply(head_limit + 1, 10), piece)
    reader = ResponseReader(body_limit, head_limit)
    with pytest.raises(ReplyParseError, match=r"^reply larger than 100000 bytes$"):
        _feed_in_pieces(reader, reply(200, body_limit + 1), piece)
    assert (reader.complete, reader.keep_alive) == (False, False)


def test_reader_takes_a_head_and_a_large_body_in_one_chunk() -> None:
    reader = ResponseReader()
    body = b"z" * (3 * MAX_HEAD_BYTES)
    reader.reset(head_only=False)
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert reader.complete and reader.content == body


def test_reader_refuses_a_chunked_body_once_its_parts_pass_the_cap() -> None:
    reader = ResponseReader(1000)
    reader.reset(head_only=False)
    reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    reader.feed(b"3e8\r\n" + b"c" * 1000 + b"\r\n")  # exactly the cap so far: fine
    with pytest.raises(ReplyParseError, match=r"^reply larger than 1000 bytes$"):
        reader.feed(b"1\r\nc\r\n")
