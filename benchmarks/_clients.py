"""Client contenders, each run in its own process by the harness.

``python -m benchmarks._clients CONTENDER --url URL --requests N --connections C
--recipients R`` sends N ``sendmsg`` POSTs (R recipients each) with C concurrent
connections and prints one JSON line: requests, messages, seconds, cpu_seconds, errors.

Every contender builds its request per call (the encoding is part of what a client costs) and
checks each reply's first bytes, so a contender that fails requests cannot look fast.

The ``*-platform`` contenders send the Platform SMS REST request instead (``POST /messages``,
JSON ``{"content","to":[...],"clientMessageId"}``, the key in ``Authorization``) and decode
each JSON reply, checking every entry's ``accepted``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import itertools
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

API = {"api_id": "1234", "user": "demo", "password": "demo"}
TEXT = "Hello from the benchmark"
#: The integration API key the Platform contenders send (the sink takes any).
KEY = "benchmark-integration-key"


def numbers(count: int, offset: int = 0) -> list[str]:
    return [str(27820000000 + offset + i) for i in range(count)]


def cheap_body(to: list[str], session_id: str) -> bytes:
    # Commas, digits and the fixed text need no escaping beyond spaces.
    return (
        "session_id=" + session_id + "&to=" + ",".join(to) + "&text=" + TEXT.replace(" ", "+")
    ).encode()


async def _pool(total: int, conc: int, one: Callable[[int], Awaitable[bool]]) -> int:
    """Run ``one(i)`` for i in range(total) on ``conc`` workers; return the error count."""
    counter = iter(range(total))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            if not await one(i):
                errors += 1

    await asyncio.gather(*(worker() for _ in range(conc)))
    return errors


# -- contenders --------------------------------------------------------------------------


async def run_httpx(url: str, total: int, conc: int, recips: int) -> int:
    import httpx

    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        sid = (await client.post("/http/auth", data=API)).text.split()[1]
        to = numbers(recips)

        async def one(i: int) -> bool:
            r = await client.post(
                "/http/sendmsg", data={"session_id": sid, "to": ",".join(to), "text": TEXT}
            )
            return r.content.startswith(b"ID:")

        return await _pool(total, conc, one)


async def run_aiohttp(url: str, total: int, conc: int, recips: int) -> int:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        async with session.post("/http/auth", data=API) as r:
            sid = (await r.text()).split()[1]
        to = numbers(recips)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}

        async def one(i: int) -> bool:
            async with session.post(
                "/http/sendmsg", data=cheap_body(to, sid), headers=headers
            ) as resp:
                return (await resp.read()).startswith(b"ID:")

        return await _pool(total, conc, one)


async def run_handwritten(url: str, total: int, conc: int, recips: int) -> int:
    """The practical limit: asyncio streams, keep-alive, prebuilt head, Content-Length only."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    to = numbers(recips)
    head = (
        "POST /http/sendmsg HTTP/1.1\r\nHost: {h}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {n}\r\n\r\n"
    )
    auth = urlencode(API).encode()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"POST /http/auth HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
        f"application/x-www-form-urlencoded\r\nContent-Length: {len(auth)}\r\n\r\n".encode()
        + auth
    )
    sid = (await _read_reply(reader)).split()[1].decode()
    writer.close()
    counter = iter(range(total))
    errors = 0

    async def conn() -> None:
        nonlocal errors
        r, w = await asyncio.open_connection(host, port)
        for _ in counter:
            body = cheap_body(to, sid)
            w.write(head.format(h=host, n=len(body)).encode() + body)
            if not (await _read_reply(r)).startswith(b"ID:"):
                errors += 1
        w.close()

    await asyncio.gather(*(conn() for _ in range(conc)))
    return errors


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return await reader.readexactly(length)


async def run_asms(url: str, total: int, conc: int, recips: int, *, read_all: bool = False) -> int:
    """``client.send`` per request; the check is ``results.ok`` (every reply line was matched
    to its recipient while parsing) or, with ``read_all``, every ``SendResult`` object."""
    import httpx

    import asms

    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    to = numbers(recips)
    async with asms.AsyncClient(
        API["api_id"], API["user"], API["password"], base_url=url, limits=limits
    ) as client:

        async def one(i: int) -> bool:
            results = await client.send(TEXT, to=to)
            return results.ok and len(results) == recips

        async def one_reading_all(i: int) -> bool:
            results = await client.send(TEXT, to=to)
            return sum(r.ok for r in results) == recips

        return await _pool(total, conc, one_reading_all if read_all else one)


async def run_asms_read_all(url: str, total: int, conc: int, recips: int) -> int:
    return await run_asms(url, total, conc, recips, read_all=True)


# -- the Platform SMS REST wire (POST /messages, JSON) -------------------------------------

_PLATFORM_HEADERS = {
    "Authorization": KEY,
    "Content-Type": "application/json",
    "Accept": "application/json",
}
_climsgids = itertools.count(1)


def platform_body(to: list[str]) -> bytes:
    """What asms sends: compact JSON, a client message id per request."""
    document = {"content": TEXT, "to": to, "clientMessageId": f"bench{next(_climsgids):x}"}
    return json.dumps(document, separators=(",", ":")).encode()


def platform_accepted(reply: bytes, recips: int) -> bool:
    """The reply decoded: one entry per recipient, each ``accepted``."""
    entries = json.loads(reply)["messages"]
    return len(entries) == recips and all(entry["accepted"] is True for entry in entries)


async def run_aiohttp_platform(url: str, total: int, conc: int, recips: int) -> int:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        to = numbers(recips)

        async def one(i: int) -> bool:
            async with session.post(
                "/messages", data=platform_body(to), headers=_PLATFORM_HEADERS
            ) as resp:
                return platform_accepted(await resp.read(), recips)

        return await _pool(total, conc, one)


async def run_handwritten_platform(url: str, total: int, conc: int, recips: int) -> int:
    """As :func:`run_handwritten`, on the Platform wire (no session to open)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    to = numbers(recips)
    head = (
        f"POST /messages HTTP/1.1\r\nHost: {host}\r\nAuthorization: {KEY}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
        "Content-Length: %d\r\n\r\n"
    ).encode()
    counter = iter(range(total))
    errors = 0

    async def conn() -> None:
        nonlocal errors
        r, w = await asyncio.open_connection(host, port)
        for _ in counter:
            body = platform_body(to)
            w.write(head % len(body) + body)
            if not platform_accepted(await _read_reply(r), recips):
                errors += 1
        w.close()

    await asyncio.gather(*(conn() for _ in range(conc)))
    return errors


async def run_asms_platform(
    url: str, total: int, conc: int, recips: int, *, read_all: bool = False
) -> int:
    """As :func:`run_asms`, on the Platform wire (``AsyncClient(api_key=..., wire="platform")``)."""
    import httpx

    import asms

    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    to = numbers(recips)
    async with asms.AsyncClient(api_key=KEY, wire="platform", base_url=url, limits=limits) as c:

        async def one(i: int) -> bool:
            results = await c.send(TEXT, to=to)
            return results.ok and len(results) == recips

        async def one_reading_all(i: int) -> bool:
            results = await c.send(TEXT, to=to)
            return sum(r.ok for r in results) == recips

        return await _pool(total, conc, one_reading_all if read_all else one)


async def run_asms_platform_read_all(url: str, total: int, conc: int, recips: int) -> int:
    return await run_asms_platform(url, total, conc, recips, read_all=True)


CONTENDERS: dict[str, Callable[[str, int, int, int], Awaitable[int]]] = {
    "asms": run_asms,
    "asms-read-all": run_asms_read_all,
    "httpx": run_httpx,
    "aiohttp": run_aiohttp,
    "handwritten": run_handwritten,
    "asms-platform": run_asms_platform,
    "asms-platform-read-all": run_asms_platform_read_all,
    "aiohttp-platform": run_aiohttp_platform,
    "handwritten-platform": run_handwritten_platform,
}


_IMPORTS: dict[str, tuple[str, ...]] = {
    "asms": ("httpx", "asms"),
    "asms-read-all": ("httpx", "asms"),
    "httpx": ("httpx",),
    "aiohttp": ("aiohttp",),
    "handwritten": (),
    "asms-platform": ("httpx", "asms"),
    "asms-platform-read-all": ("httpx", "asms"),
    "aiohttp-platform": ("aiohttp",),
    "handwritten-platform": (),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=sorted(CONTENDERS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--recipients", type=int, default=1)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    run = CONTENDERS[args.contender]
    # Import the contender's libraries before the clock starts: throughput, not import time.
    for module in _IMPORTS[args.contender]:
        importlib.import_module(module)
    cpu0, t0 = time.process_time(), time.perf_counter()
    errors = asyncio.run(run(args.url, args.requests, args.connections, args.recipients))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    json.dump(
        {
            "contender": args.contender,
            "requests": args.requests,
            "messages": args.requests * args.recipients,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "errors": errors,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
