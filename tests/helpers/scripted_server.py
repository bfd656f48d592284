"""A scripted HTTP/1.1 server on 127.0.0.1 for the transport tests: each accepted
connection is handed to a handler that reads requests and writes whatever bytes the test
wants, so every reply shape (and every misbehaviour) can be produced on demand."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import httptools
import httpx
from anyio.streams.tls import TLSListener

TIMEOUT = httpx.Timeout(5.0)
"""The timeouts of a ``request`` unless it is given others."""


@dataclass
class Received:
    """One whole request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _RequestParser:
    """Server-side request parsing with httptools (the client side is what is under test)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.done: list[Received] = []
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        self.done.append(Received(method, self._url.decode(), self._headers, b"".join(self._body)))
        self._url, self._headers, self._body = b"", {}, []


class Peer:
    """The server's side of one accepted connection."""

    def __init__(self, stream: anyio.abc.ByteStream, server: Server) -> None:
        self.stream = stream
        self.server = server
        self._parser = _RequestParser()

    async def read_request(self) -> Received | None:
        """The next whole request, or None when the client closed the connection."""
        while not self._parser.done:
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return None
            self._parser.parser.feed_data(data)
        request = self._parser.done.pop(0)
        self.server.requests.append(request)
        self.server.notify()
        return request

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def respond(self, body: bytes = b"OK", status: str = "200 OK", headers: str = "") -> None:
        await self.send(
            f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body
        )

    async def close(self) -> None:
        await anyio.aclose_forcefully(self.stream)


Handler = Callable[[Peer], Awaitable[None]]


@dataclass
class Server:
    """A running scripted server: where it listens and what it has seen so far."""

    scheme: str = "http"
    port: int = 0
    connections: int = 0
    requests: list[Received] = field(default_factory=list)
    closed: anyio.Event = field(default_factory=anyio.Event)
    _watches: list[tuple[Callable[[], bool], anyio.Event]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def notify(self) -> None:
        for condition, event in self._watches:
            if condition():
                event.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until the server's counts satisfy ``condition``."""
        event = anyio.Event()
        self._watches.append((condition, event))
        self.notify()
        with anyio.fail_after(5):
            await event.wait()


async def answer_all(peer: Peer) -> None:
    """Keep-alive: answer every request with its path."""
    while (request := await peer.read_request()) is not None:
        await peer.respond(f"{request.method} {request.path}".encode())


@asynccontextmanager
async def serve(
    handler: Handler = answer_all, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    """A server on a free port of 127.0.0.1 (TLS with ``tls``) running ``handler`` for each
    connection until the block ends."""
    listener: anyio.abc.Listener[Any] = await anyio.create_tcp_listener(
        local_host="127.0.0.1", local_port=0
    )
    server = Server(
        scheme="https" if tls else "http",
        port=listener.extra(anyio.abc.SocketAttribute.local_port),
    )
    if tls is not None:
        listener = TLSListener(listener, tls, standard_compatible=False)

    async def on_connection(stream: anyio.abc.ByteStream) -> None:
        server.connections += 1
        server.notify()
        peer = Peer(stream, server)
        try:
            await handler(peer)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await anyio.aclose_forcefully(stream)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, on_connection)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


def request(method: str, url: str, timeout: httpx.Timeout = TIMEOUT, **kw: Any) -> httpx.Request:
    """An ``httpx.Request`` carrying ``timeout`` the way a client would."""
    return httpx.Request(method, url, extensions={"timeout": timeout.as_dict()}, **kw)


async def fetch(
    transport: httpx.AsyncBaseTransport, method: str, url: str, **kw: Any
) -> httpx.Response:
    """One request straight through ``transport``, its body read."""
    response = await transport.handle_async_request(request(method, url, **kw))
    await response.aread()
    return response
