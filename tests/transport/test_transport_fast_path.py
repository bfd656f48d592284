"""The transport's fast path against its plain twins (the pairs are listed in
``asms._transport``'s docstring): every way of sending a request gives the same exchange.

The reference is the plainest way there is: ``handle_async_request`` on an anyio-stream
connection of a transport that is not entered, without timeouts. Every other combination of
seam (``send_raw``, ``send_prepared``), connection (the asyncio-native one), timeout keeping
(the keeper task of an entered transport, a cancel scope per request) must answer the same.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import sniffio
from helpers.scripted_server import Peer, request, serve

from asms._transport import AsyncTransport, Exchange
from asms._transport._default import _Body
from asms._transport._http11 import build_head

pytestmark = pytest.mark.anyio

# Replies as they go over the wire, each answering the request for its index; the last item
# says whether the server closes the connection after it (a close-delimited body).
REPLIES: list[tuple[str, list[bytes], bool]] = [
    ("POST", [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"], False),
    (
        "POST",
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5\r\nhel",
            b"lo\r\n6\r\n world\r\n0\r\n\r\n",
        ],
        False,
    ),
    (
        "POST",
        [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"],
        False,
    ),
    ("POST", [b"HTTP/1.1 204 No Content\r\nX-B: 2\r\n\r\n"], False),
    ("HEAD", [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"], True),
    ("POST", [b"HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\nnah"], True),
    ("POST", [b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n", b"ab", b"cd", b"ef"], False),
    ("GET", [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil ", b"closed"], True),
]
BODY = b"to=27999000001&text=hi"
TIMEOUTS = httpx.Timeout(5.0)
NO_TIMEOUTS = httpx.Timeout(None)


async def _script(peer: Peer) -> None:
    while (received := await peer.read_request()) is not None:
        _, parts, close = REPLIES[int(received.path.strip("/"))]
        for part in parts:
            await peer.send(part)
            await anyio.lowlevel.checkpoint()
        if close:
            return


async def _exchanges(url: str, seam: str, entered: bool, timeouts: httpx.Timeout) -> list[Any]:
    transport = AsyncTransport()
    results: list[Any] = []
    async with AsyncExitStack() as stack:
        if entered:
            await stack.enter_async_context(transport)
        else:
            stack.push_async_callback(transport.aclose)
        for index, (method, _, _) in enumerate(REPLIES):
            body = b"" if method in ("GET", "HEAD") else BODY
            built = request(method, f"{url}/{index}", timeouts, content=body)
            exchange: Exchange
            if seam == "plain":
                response = await transport.handle_async_request(built)
                content = await response.aread()
                exchange = (
                    response.status_code,
                    response.headers.raw,
                    content,
                    response.extensions["reason_phrase"],
                    response.extensions["http_version"],
                )
            elif seam == "raw":
                exchange = await transport.send_raw(built)
            else:
                url_ = built.url
                origin = (url_.raw_scheme, url_.raw_host, url_.port or 80)
                head = build_head(method, url_, built.headers.raw)
                exchange = await transport.send_prepared(
                    origin, method, head, body or None, timeouts.as_dict()
                )
            results.append(exchange)
    return results


@pytest.mark.parametrize("seam", ["plain", "raw", "prepared"])
# The asyncio-native connection exists on asyncio only: trio has the anyio-stream one alone.
@pytest.mark.parametrize(
    ("anyio_backend", "connection"),
    [("asyncio", "asyncio-native"), ("asyncio", "anyio-stream"), ("trio", "anyio-stream")],
)
@pytest.mark.parametrize("entered", [True, False], ids=["keeper", "scope"])
@pytest.mark.parametrize("timeouts", [TIMEOUTS, NO_TIMEOUTS], ids=["timeouts", "none"])
async def test_every_path_gives_the_plain_exchange(
    seam: str,
    connection: str,
    entered: bool,
    timeouts: httpx.Timeout,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert connection == "anyio-stream" or sniffio.current_async_library() == "asyncio"
    async with serve(_script) as server:
        with monkeypatch.context() as plain:
            plain.setattr("asms._transport._connection.on_asyncio", lambda: False)
            expected = await _exchanges(server.url, "plain", False, NO_TIMEOUTS)
        if connection == "anyio-stream":
            monkeypatch.setattr("asms._transport._connection.on_asyncio", lambda: False)
        actual = await _exchanges(server.url, seam, entered, timeouts)
    assert [status for status, *_ in expected] == [200, 200, 201, 204, 200, 404, 200, 200]
    assert expected[1][2] == b"hello world" and expected[7][2] == b"until closed"
    assert actual == expected


def test_one_chunk_body_is_httpx_byte_stream() -> None:
    for body in (b"", b"x", b"to=27999000001&text=hi" * 100):
        assert list(_Body(body)) == list(httpx.ByteStream(body))


async def test_one_chunk_body_async_is_httpx_byte_stream() -> None:
    for body in (b"", b"x", b"to=27999000001&text=hi" * 100):
        assert [chunk async for chunk in _Body(body)] == [
            chunk async for chunk in httpx.ByteStream(body)
        ]
