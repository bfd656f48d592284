"""The asyncio-native connection (``asms._transport._aioconn``): what only it does.

The behaviour it shares with the anyio-stream connection is covered on both backends by
``test_transport.py``; these tests look at flow control, the flags that replace socket polls,
timers, cancellation and TLS on asyncio, where the native protocol is used.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
import trustme
from helpers.scripted_server import Peer, Server, answer_all, fetch, serve

from asms._transport import AsyncTransport
from asms._transport._aioconn import AsyncioConnection, open_asyncio_connection
from asms._transport._connection import Connection

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # The native protocol exists on asyncio only; trio keeps the anyio-stream connection.
    return "asyncio"


def origin_of(server: Server) -> tuple[bytes, bytes, int]:
    return (server.scheme.encode(), b"127.0.0.1", server.port)


def post_head(server: Server, body: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n" % (
        server.port,
        len(body),
    )


async def post(
    conn: AsyncioConnection,
    server: Server,
    body: bytes = b"x",
    *,
    write: float | None = None,
    read: float | None = None,
) -> Any:
    return await conn.exchange(
        post_head(server, body),
        body,
        None,
        chunked=False,
        head_only=False,
        write_timeout=write,
        read_timeout=read,
    )


def idle_connections(transport: AsyncTransport) -> list[Any]:
    return [conn for state in transport._pool._origins.values() for conn in state.idle]


def active_connections(transport: AsyncTransport) -> list[Any]:
    return [conn for state in transport._pool._origins.values() for conn in state.active]


async def until(condition: Any) -> None:
    with anyio.fail_after(5):
        while not condition():  # noqa: ASYNC110 (the protocol's flags have no event)
            await anyio.sleep(0.01)


async def silent(peer: Peer) -> None:
    await peer.read_request()
    await anyio.sleep_forever()


async def deaf(peer: Peer) -> None:
    await peer.stream.receive()
    await anyio.sleep_forever()


# --- which connection, socket options ---------------------------------------------------------


def test_asyncio_gets_the_native_protocol_and_trio_the_anyio_stream() -> None:
    async def kind_of_connection() -> type:
        async with serve() as server, AsyncTransport() as transport:
            await fetch(transport, "GET", server.url)
            (conn,) = idle_connections(transport)
            return type(conn)

    assert anyio.run(kind_of_connection, backend="asyncio") is AsyncioConnection
    assert anyio.run(kind_of_connection, backend="trio") is Connection


async def test_tcp_nodelay_is_set() -> None:
    async with serve() as server:
        conn = await open_asyncio_connection(origin_of(server), None, 5)
        try:
            sock = conn._transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            status, _, content, _, _ = await post(conn, server)
            assert (status, content) == (200, b"POST /")
        finally:
            await conn.aclose()


async def test_an_address_connects_without_a_race_and_a_name_with_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Happy Eyeballs is for a name with several addresses; an address is connected directly
    (asyncio would still wrap its one connect in a race of tasks)."""
    loop = asyncio.get_running_loop()
    delays: list[object] = []
    original = loop.create_connection

    async def recording(*args: Any, **kwargs: Any) -> Any:
        delays.append(kwargs.get("happy_eyeballs_delay"))
        return await original(*args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", recording)
    async with serve() as server:
        for host in (b"127.0.0.1", b"localhost"):
            conn = await open_asyncio_connection((b"http", host, server.port), None, 5)
            try:
                status, _, content, _, _ = await post(conn, server)
                assert (status, content) == (200, b"POST /")
            finally:
                await conn.aclose()
    assert delays == [None, 0.25]


# --- flow control ---------------------------------------------------------------------------


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The transport's buffered bytes each time it told a connection to pause writing."""
    seen: list[int] = []
    original = AsyncioConnection.pause_writing

    def recording(self: AsyncioConnection) -> None:
        seen.append(self._transport.get_write_buffer_size())
        original(self)

    monkeypatch.setattr(AsyncioConnection, "pause_writing", recording)
    return seen


def reader_after_pause(pauses: list[int]) -> Any:
    """A server that reads nothing until the client's transport has paused, then everything."""

    async def handler(peer: Peer) -> None:
        await until(lambda: pauses)
        while (request := await peer.read_request()) is not None:
            await peer.respond(b"%d" % len(request.body))

    return handler


async def test_large_body_waits_for_the_slow_reader(pauses: list[int]) -> None:
    payload = bytes(range(256)) * (64 * 1024)  # 16 MiB: more than the socket buffers hold
    async with serve(reader_after_pause(pauses)) as server:
        async with AsyncTransport() as transport:
            response = await fetch(transport, "POST", server.url, content=payload)
    assert response.content == b"%d" % len(payload)
    assert server.requests[0].body == payload
    # The body went out slice by slice as the buffer drained, not copied whole into it.
    assert pauses
    assert max(pauses) <= 1024 * 1024  # a bounded part of the 16 MiB, however large the body


async def test_streamed_body_is_chunked_and_waits_for_the_slow_reader(
    pauses: list[int],
) -> None:
    part = b"z" * (256 * 1024)

    async def parts() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield part

    async with serve(reader_after_pause(pauses)) as server:
        async with AsyncTransport() as transport:
            response = await fetch(transport, "POST", server.url, content=parts())
    assert response.content == b"%d" % (64 * len(part))
    (received,) = server.requests
    assert received.headers["transfer-encoding"] == "chunked"
    assert received.body == part * 64
    assert pauses


# --- what arrives between requests ------------------------------------------------------------


async def test_bytes_arriving_while_idle_make_the_connection_unusable() -> None:
    go = anyio.Event()

    async def chatty_later(peer: Peer) -> None:
        await peer.read_request()
        await peer.respond()
        await go.wait()
        await peer.send(b"HTTP/1.1 200 OK\r\n")  # unsolicited
        await answer_all(peer)

    async with serve(chatty_later) as server, AsyncTransport() as transport:
        await fetch(transport, "POST", server.url, content=b"first")
        (conn,) = idle_connections(transport)
        assert conn.keep_alive and not conn.is_readable()
        go.set()
        await until(lambda: not conn.keep_alive)
        assert conn.is_readable()
        response = await fetch(transport, "POST", server.url, content=b"second")
    assert response.status_code == 200
    assert [r.body for r in server.requests] == [b"first", b"second"]
    assert server.connections == 2


async def test_eof_while_idle_is_seen_and_nothing_is_written_after_it() -> None:
    # The server half-closes and keeps reading: a request written to the stale connection
    # would show up on it.
    async def half_close(peer: Peer) -> None:
        if await peer.read_request() is None:
            return
        await peer.respond()
        if peer.server.connections == 1:
            await peer.stream.send_eof()  # type: ignore[attr-defined]
        await answer_all(peer)

    async with serve(half_close) as server, AsyncTransport() as transport:
        await fetch(transport, "POST", server.url, content=b"first")
        (conn,) = idle_connections(transport)
        await until(lambda: not conn.keep_alive)
        assert conn.is_readable()
        await fetch(transport, "POST", server.url, content=b"second")
    assert [r.body for r in server.requests] == [b"first", b"second"]  # none twice
    assert server.connections == 2


async def test_request_on_a_connection_the_server_closed_is_not_written() -> None:
    async def half_close(peer: Peer) -> None:
        await peer.read_request()
        await peer.respond()
        await peer.stream.send_eof()  # type: ignore[attr-defined]
        await answer_all(peer)

    async with serve(half_close) as server:
        conn = await open_asyncio_connection(origin_of(server), None, 5)
        try:
            await post(conn, server, b"first")
            await until(lambda: not conn.keep_alive)  # the event loop has seen the EOF
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await post(conn, server, b"second")
            assert not conn.response_started
            await anyio.sleep(0.05)  # the server would have a second request by now
        finally:
            await conn.aclose()
    assert [r.body for r in server.requests] == [b"first"]


# --- failures -------------------------------------------------------------------------------


async def test_cancelled_mid_response_the_connection_is_discarded() -> None:
    async def partial_then_normal(peer: Peer) -> None:
        if peer.server.connections > 1:
            await answer_all(peer)
            return
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        if await peer.read_request() is None:  # the client closed the connection
            peer.server.closed.set()

    async with serve(partial_then_normal) as server, AsyncTransport() as transport:
        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch, transport, "POST", server.url)
            await until(lambda: active_connections(transport))
            (conn,) = active_connections(transport)
            await until(lambda: conn.response_started)
            tg.cancel_scope.cancel()
        stats = transport.statistics()
        assert (stats.connections, stats.active, stats.idle) == (0, 0, 0)
        assert not conn.keep_alive
        await server.closed.wait()
        response = await fetch(transport, "POST", server.url, content=b"again")
    assert response.content == b"POST /"
    assert server.connections == 2


async def test_timers_keep_timeouts_without_the_keeper() -> None:
    async with serve(silent) as server:
        conn = await open_asyncio_connection(origin_of(server), None, 5)
        with pytest.raises(httpx.ReadTimeout, match="timed out while reading the response"):
            await post(conn, server, write=5, read=0.1)
        assert conn.is_readable() and not conn.keep_alive

    async with serve(deaf) as server:
        conn = await open_asyncio_connection(origin_of(server), None, 5)
        # Deaf only once its handler waits to read: until then, the server's anyio stream
        # reads whatever arrives (and would take the whole body in).
        await until(lambda: server.connections == 1)
        with pytest.raises(httpx.WriteTimeout, match="timed out while sending the request"):
            await post(conn, server, b"x" * (64 * 1024 * 1024), write=0.2, read=5)
        assert conn.is_readable()


async def test_timers_of_finished_requests_are_cancelled() -> None:
    async with serve() as server:
        conn = await open_asyncio_connection(origin_of(server), None, 5)
        try:
            await post(conn, server, write=0.05, read=0.05)  # one timer serves both
            await post(conn, server, write=0.05, read=0.08)  # one timer each
            await anyio.sleep(0.2)  # past every deadline: none of them may fire now
            assert conn.keep_alive and not conn.is_readable()
            status, _, content, _, _ = await post(conn, server)
        finally:
            await conn.aclose()
    assert (status, content) == (200, b"POST /")
    assert server.connections == 1


async def test_reset_while_waiting_is_a_read_error() -> None:
    async def reset(peer: Peer) -> None:
        await peer.read_request()
        raw = peer.stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await peer.close()

    async with serve(reset) as server:
        conn = await open_asyncio_connection(origin_of(server), None, 5)
        with pytest.raises(httpx.ReadError, match="connection lost while reading") as caught:
            await post(conn, server)
    assert isinstance(caught.value.__cause__, ConnectionError)


async def test_reset_while_the_body_is_being_sent_is_a_write_error() -> None:
    async def reset_after_a_bite(peer: Peer) -> None:
        await peer.stream.receive()
        raw = peer.stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await peer.close()

    async with serve(reset_after_a_bite) as server:
        conn = await open_asyncio_connection(origin_of(server), None, 5)
        with pytest.raises(httpx.WriteError, match="connection lost while sending"):
            await post(conn, server, b"x" * (64 * 1024 * 1024))


async def test_aclose_is_forceful_idempotent_and_works_when_cancelled() -> None:
    async def until_eof(peer: Peer) -> None:
        await answer_all(peer)
        peer.server.closed.set()

    async with serve(until_eof) as server:
        conn = await open_asyncio_connection(origin_of(server), None, 5)
        await post(conn, server)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await conn.aclose()
            await conn.aclose()
        await server.closed.wait()
        assert conn.is_readable() and not conn.keep_alive
        with pytest.raises(httpx.WriteError):
            await post(conn, server)


async def test_connection_refused_and_connect_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(httpx.ConnectError, match="connection failed"):
        await open_asyncio_connection((b"http", b"127.0.0.1", port), None, 5)

    with socket.socket() as listener:  # a full accept queue: the handshake never completes
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        fillers = []
        try:
            for _ in range(8):  # Linux accepts backlog + 1 connections, then drops SYNs
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(address)
                fillers.append(filler)
            with pytest.raises(httpx.ConnectTimeout, match="timed out while connecting"):
                await open_asyncio_connection((b"http", b"127.0.0.1", address[1]), None, 0.2)
        finally:
            for filler in fillers:
                filler.close()


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_tls_verified_keep_alive_and_close_delimited_body(ca: trustme.CA) -> None:
    async def keep_then_close_delimited(peer: Peer) -> None:
        await peer.read_request()
        await peer.respond(b"first")
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\n\r\nsecond")  # ends at the close (no close_notify)
        await peer.close()

    async with serve(keep_then_close_delimited, tls=server_context(ca, "127.0.0.1")) as server:
        conn = await open_asyncio_connection(origin_of(server), client_context(ca), 5)
        try:
            sock = conn._transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert conn._transport.get_extra_info("peercert") is not None
            first = await post(conn, server)
            assert conn.keep_alive
            second = await post(conn, server)
            assert not conn.keep_alive
        finally:
            await conn.aclose()
    assert (first[2], second[2]) == (b"first", b"second")


async def test_tls_wrong_host_name_and_untrusted_certificate_are_refused(
    ca: trustme.CA,
) -> None:
    async with serve(tls=server_context(ca, "gateway.example")) as server:
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await open_asyncio_connection(origin_of(server), client_context(ca), 5)
    async with serve(tls=server_context(ca, "127.0.0.1")) as server:
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await open_asyncio_connection(origin_of(server), ssl.create_default_context(), 5)
    assert server.requests == []


async def test_failures_leave_nothing_for_asyncio_to_report(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Resets, EOFs, aborts and cancellations are the protocol's business, not the loop's.
    async def reset(peer: Peer) -> None:
        await peer.read_request()
        raw = peer.stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await peer.close()

    async def garbage(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"NOT HTTP AT ALL\r\n\r\n")
        await anyio.sleep_forever()

    for handler in (silent, reset, garbage):
        async with serve(handler) as server, AsyncTransport() as transport:
            with anyio.move_on_after(0.2):
                try:
                    await fetch(transport, "POST", server.url, content=b"x")
                except httpx.TransportError:
                    pass
    await asyncio.sleep(0.01)  # let any connection_lost() callbacks run
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
