"""A minimal, fast gateway sink: raw asyncio + httptools, keep-alive, gateway reply lines.

It exists so that client benchmarks measure clients, not the server: it parses just enough of
each request (path, Content-Length, the ``to`` list) to answer with the right reply lines, and
caches the per-recipient tails so a 600-line reply is one ``bytes.join`` (the sink's core must
not be what limits a 600-recipient benchmark).

The Platform wires' sends (``POST /messages``, ``POST /v1/message``) get the platform's
current JSON the same way: HTTP 202, one entry per number of the request's ``to`` list, found
with a regular expression rather than a JSON parser, the entries' tails cached per list.

Run: ``python -m benchmarks._sink --port 0`` prints ``PORT <n>`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import sys
from urllib.parse import unquote_to_bytes

import httptools  # type: ignore[import-untyped]

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
_JSON_HEAD = (
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
)
_ids = itertools.count(1)


def _msg_id() -> bytes:
    return b"%032x" % next(_ids)


def _to_list(body: bytes) -> bytes:
    for pair in body.split(b"&"):
        if pair.startswith(b"to="):
            return unquote_to_bytes(pair[3:])
    return b""


# Per ``to`` list: each line's tail after the request's id prefix (line number, `` To: ``,
# the number). The same list comes request after request in a benchmark.
_TAILS: dict[bytes, list[bytes]] = {}


def _tails(to: bytes) -> list[bytes]:
    tails = _TAILS.get(to)
    if tails is None:
        if len(_TAILS) >= 64:
            _TAILS.clear()
        tails = [b"%016x To: %s" % (i, r) for i, r in enumerate(to.split(b","))]
        _TAILS[to] = tails
    return tails


def reply_for(path: bytes, body: bytes) -> bytes:
    """The gateway reply to one request (only what the benchmarks send).

    A multi-recipient reply gives each line a 32-character id unique to the request and
    line: 16 hex digits counting requests, then 16 counting lines. Built as one join.
    """
    if path.endswith(b"/auth"):
        return b"OK: " + _msg_id()
    if path.endswith((b"/ping", b"/endbatch")):
        return b"OK:"
    if path.endswith(b"/querymsg"):
        return b"ID: " + _msg_id() + b" Status: 003"
    if path.endswith(b"/getbalance"):
        return b"Credit: 1000000.0"
    to = _to_list(body)
    if b"," not in to:
        return b"ID: " + _msg_id()
    prefix = b"ID: %016x" % next(_ids)
    return prefix + (b"\n" + prefix).join(_tails(to))


# The numbers of a Platform SMS body (``"to":["2782...",...]``) and of a One API body (one
# ``"to":"2782..."`` per message): what the benchmarks send, not a general JSON reader.
_PLATFORM_TO = re.compile(rb'"to"\s*:\s*\[([^\]]*)\]')
_ONE_API_TO = re.compile(rb'"to"\s*:\s*"([^"]*)"')
_ENTRY_HEAD = b'{"apiMessageId":"'
_PLATFORM_TAIL = (
    b'%016x","accepted":true,"to":"%s","errorCode":null,"error":null,"errorDescription":null}'
)
_ONE_API_TAIL = b'%016x","accepted":true,"to":"%s","error":null}'
_NO_NUMBERS = (
    b'{"messages":[],"errorCode":101,"error":"Invalid or missing parameters.",'
    b'"errorDescription":null}'
)
# Per wire and ``to`` list: each entry's tail after the request's 16-digit id prefix.
_JSON_TAILS: dict[tuple[bool, bytes], list[bytes]] = {}


def _json_tails(one_api: bool, to: bytes) -> list[bytes]:
    tails = _JSON_TAILS.get((one_api, to))
    if tails is None:
        if len(_JSON_TAILS) >= 64:
            _JSON_TAILS.clear()
        numbers = [n.strip().strip(b'"') for n in to.split(b",")]
        tail = _ONE_API_TAIL if one_api else _PLATFORM_TAIL
        tails = [tail % (i, n) for i, n in enumerate(numbers)]
        _JSON_TAILS[one_api, to] = tails
    return tails


def json_reply_for(path: bytes, body: bytes) -> bytes:
    """The platform's 202 answer to one send: Platform SMS (current form, top-level error
    keys null) for ``/messages``, One API for ``/v1/message``; ids as in :func:`reply_for`."""
    one_api = path.endswith(b"/v1/message")
    if one_api:
        to = b",".join(_ONE_API_TO.findall(body))
    else:
        found = _PLATFORM_TO.search(body)
        to = found.group(1).strip() if found else b""
    if not to:
        return _NO_NUMBERS
    entry = _ENTRY_HEAD + b"%016x" % next(_ids)
    entries = entry + (b"," + entry).join(_json_tails(one_api, to))
    if one_api:
        return b'{"messages":[' + entries + b'],"error":null}'
    return b'{"messages":[' + entries + b'],"errorCode":null,"error":null,"errorDescription":null}'


class _Protocol(asyncio.Protocol):
    __slots__ = ("_body", "_parser", "_path", "_query", "_transport")

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._body: list[bytes] = []
        self._path = b""
        self._query = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self._path, _, self._query = url.partition(b"?")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body = self._query or b"".join(self._body)
        self._body.clear()
        assert self._transport is not None
        if self._path.endswith((b"/messages", b"/v1/message")):
            reply = json_reply_for(self._path, body)
            self._transport.write((_JSON_HEAD % len(reply)) + reply)
        else:
            reply = reply_for(self._path, body)
            self._transport.write((_HEAD % len(reply)) + reply)
        if not self._parser.should_keep_alive():
            self._transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, host, port, backlog=1024, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
