"""Micro benchmark: single-recipient POSTs through stock httpx, asms's transport and aiohttp.

A raw asyncio + httptools sink server runs in a subprocess on 127.0.0.1 answering every POST
with ``ID: <32 hex>`` on a keep-alive connection. With two or more cores the server is pinned
to core 0 and the client to core 1. Each client sends N requests over C concurrent
connections; the script prints requests per second, the median of R runs.

    .venv/bin/python benchmarks/transport_micro.py [--requests 20000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
import httptools

FORM = b"api_id=1234567&user=bench&password=secret&to=27999000001&text=Hello+world"
HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


# --- server (subprocess) -------------------------------------------------------------------


class _Sink(asyncio.Protocol):
    counter = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_complete(self) -> None:
        _Sink.counter += 1
        body = b"ID: %032x" % _Sink.counter
        self.transport.write(  # type: ignore[attr-defined]
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%b"
            % (len(body), body)
        )


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Sink, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # runs until the parent closes stdin
    server.close()


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {core})


# --- clients -------------------------------------------------------------------------------


Result = tuple[float, float]  # requests per second, client CPU microseconds per request


async def _drive(n: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> Result:
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    start, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as tg:  # anyio: the same driver on asyncio and trio
        for _ in range(concurrency):
            tg.start_soon(worker)
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6


async def bench_httpx_stock(url: str, n: int, c: int) -> Result:
    import httpx

    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(limits=limits) as client:

        async def one() -> None:
            response = await client.post(url, content=FORM, headers=HEADERS)
            assert response.content.startswith(b"ID: ")

        await one()
        return await _drive(n, c, one)


async def bench_asms_transport(url: str, n: int, c: int) -> Result:
    import httpx

    from asms._transport import AsyncTransport

    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    timeout = httpx.Timeout(10.0).as_dict()
    target = httpx.URL(url)  # parsed once, as a client on a hot path would
    async with AsyncTransport(limits=limits) as transport:

        async def one() -> None:
            request = httpx.Request(
                "POST", target, content=FORM, headers=HEADERS, extensions={"timeout": timeout}
            )
            response = await transport.handle_async_request(request)
            assert (await response.aread()).startswith(b"ID: ")

        await one()
        return await _drive(n, c, one)


async def bench_asms_raw(url: str, n: int, c: int) -> Result:
    import httpx

    from asms._transport import AsyncTransport

    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    timeout = httpx.Timeout(10.0).as_dict()
    target = httpx.URL(url)
    async with AsyncTransport(limits=limits) as transport:

        async def one() -> None:
            request = httpx.Request(
                "POST", target, content=FORM, headers=HEADERS, extensions={"timeout": timeout}
            )
            _, _, body, _, _ = await transport.send_raw(request)
            assert body.startswith(b"ID: ")

        await one()
        return await _drive(n, c, one)


async def bench_httpx_client_asms(url: str, n: int, c: int) -> Result:
    import httpx

    from asms._transport import AsyncTransport

    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(transport=AsyncTransport(limits=limits)) as client:

        async def one() -> None:
            response = await client.post(url, content=FORM, headers=HEADERS)
            assert response.content.startswith(b"ID: ")

        await one()
        return await _drive(n, c, one)


async def bench_aiohttp(url: str, n: int, c: int) -> Result:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(url, data=FORM, headers=HEADERS) as response:
                assert (await response.read()).startswith(b"ID: ")

        await one()
        return await _drive(n, c, one)


async def bench_asms_raw_trio(url: str, n: int, c: int) -> Result:
    return await bench_asms_raw(url, n, c)  # run by main() on trio


CLIENTS = {
    "httpx-stock": ("(a) httpx 0.28 AsyncClient.post, stock transport", bench_httpx_stock),
    "asms-transport": (
        "(b) httpx.Request + AsyncTransport.handle_async_request",
        bench_asms_transport,
    ),
    "asms-raw": ("(b') httpx.Request + AsyncTransport.send_raw", bench_asms_raw),
    "asms-raw-trio": ("(b'') the same as (b') on trio", bench_asms_raw_trio),
    "aiohttp": ("(c) aiohttp ClientSession.post", bench_aiohttp),
    "httpx-client-asms": (
        "(d) httpx AsyncClient.post over AsyncTransport",
        bench_httpx_client_asms,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated subset")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _pin(0)
        asyncio.run(_serve())
        return

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/http/sendmsg"
        _pin(1)
        print(f"{args.requests} POSTs, {args.concurrency} connections, median of {args.runs}")
        names = args.clients.split(",")
        results: dict[str, list[Result]] = {name: [] for name in names}
        # Interleaved runs: on a shared, noisy machine a slow spell then hits every client.
        for _ in range(args.runs):
            for name in names:
                bench = CLIENTS[name][1]
                backend = "trio" if name.endswith("-trio") else "asyncio"
                run = anyio.run(bench, url, args.requests, args.concurrency, backend=backend)
                results[name].append(run)
        for name in names:
            rate = statistics.median(r[0] for r in results[name])
            cpu = statistics.median(r[1] for r in results[name])
            best = min(r[1] for r in results[name])
            print(
                f"{CLIENTS[name][0]:58} {rate:9,.0f} req/s   client CPU/req "
                f"median {cpu:6.1f} µs, best {best:6.1f} µs"
            )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
