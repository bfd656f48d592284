"""Load test of the gateway emulator: single-recipient sendmsg POSTs per second over uvicorn.

Starts ``asms emulator`` in a subprocess pinned to one core and drives it from this process,
pinned to another, with a minimal asyncio HTTP/1.1 client (keep-alive, N connections, one
request in flight per connection). Prints requests per second per run and their median, the
server's CPU time per request (what a dedicated core would sustain, whatever else the machine
is doing), and checks through the admin API that every message was committed exactly once.

    .venv/bin/python benchmarks/emulator_load.py [--requests 20000] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlencode

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def baseline_app(scope: dict[str, object], receive: object, send: object) -> None:
    """The cheapest possible ASGI answer: uvicorn's own ceiling on this machine right now."""
    if scope["type"] != "http":
        return
    while (await receive())["more_body"]:  # type: ignore[operator]
        pass
    await send(BASELINE_START)  # type: ignore[operator]
    await send(BASELINE_BODY)  # type: ignore[operator]


BASELINE_REPLY = b"ID: 0123456789abcdef0123456789abcdef"
BASELINE_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/html"), (b"content-length", b"%d" % len(BASELINE_REPLY))],
}
BASELINE_BODY = {"type": "http.response.body", "body": BASELINE_REPLY}


def serve_baseline(port: int) -> None:
    import uvicorn

    uvicorn.run(
        baseline_app,
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        http="httptools",
        lifespan="off",
        proxy_headers=False,
        server_header=False,
    )


def start_server(port: int, core: int | None, baseline: bool = False) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "asms",
        "emulator",
        "--port",
        str(port),
        "--recorder",
        "totals",
        "--retention",
        "100000",
    ]
    if baseline:
        command = [sys.executable, __file__, "--serve-baseline", str(port)]
    if core is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(core), *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if baseline:
                socket.create_connection((HOST, port), timeout=1).close()
            else:
                admin(port, "clock")
            return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("the emulator exited during startup") from None
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the emulator did not start")


def server_cpu(process: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    import psutil

    proc = psutil.Process(process.pid)
    targets = [proc, *proc.children(recursive=True)]  # taskset execs in place; be safe
    return sum(t.cpu_times().user + t.cpu_times().system for t in targets)


def admin(port: int, path: str, data: dict[str, object] | None = None) -> dict[str, object]:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(
        f"http://{HOST}:{port}/_emulator/{path}",
        data=body,
        method="GET" if data is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def build_request(port: int) -> bytes:
    form = urlencode(
        {"api_id": "1234", "user": "demo", "password": "demo", "to": "27821234567", "text": "Hi"}
    ).encode()
    head = (
        f"POST /http/sendmsg HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(form)}\r\n\r\n"
    ).encode()
    return head + form


async def worker(port: int, request: bytes, remaining: list[int], ok: list[int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while remaining[0] > 0:
            remaining[0] -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if body.startswith(b"ID: "):
                ok[0] += 1
    finally:
        writer.close()


async def run_load(port: int, requests: int, connections: int) -> tuple[float, int]:
    request = build_request(port)
    remaining = [requests]
    ok = [0]
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(connections):
            group.create_task(worker(port, request, remaining, ok))
    elapsed = time.perf_counter() - started
    return requests / elapsed, ok[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip measuring a bare uvicorn app first"
    )
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return

    cores = os.cpu_count() or 1
    pin = cores > 1
    if pin:
        os.sched_setaffinity(0, {args.client_core})
    if not args.no_baseline:
        port = free_port()
        server = start_server(port, args.server_core if pin else None, baseline=True)
        try:
            asyncio.run(run_load(port, 2_000, args.connections))
            rate, _ = asyncio.run(run_load(port, args.requests, args.connections))
            print(f"baseline (bare uvicorn app, same settings): {rate:,.0f} req/s")
        finally:
            server.terminate()
            server.wait(timeout=10)
    port = free_port()
    server = start_server(port, args.server_core if pin else None)
    try:
        asyncio.run(run_load(port, 2_000, args.connections))  # warm-up
        admin(port, "recorder/reset", {})
        rates = []
        costs = []
        for run in range(args.runs):
            cpu_before = server_cpu(server)
            rate, ok = asyncio.run(run_load(port, args.requests, args.connections))
            cost = (server_cpu(server) - cpu_before) / args.requests * 1e6
            rates.append(rate)
            costs.append(cost)
            print(
                f"run {run + 1}: {rate:,.0f} req/s ({ok} accepted of {args.requests}); "
                f"server CPU {cost:.1f} us/request"
            )
        stats = admin(port, "statistics")
        expected = args.requests * args.runs
        print(
            f"median {statistics.median(rates):,.0f} single-recipient sendmsg POSTs/s "
            f"({args.connections} connections; server on core {args.server_core if pin else '-'},"
            f" client on core {args.client_core if pin else '-'})"
        )
        cost = statistics.median(costs)
        print(
            f"server CPU {cost:.1f} us/request: {1e6 / cost:,.0f} req/s on a dedicated core "
            f"(load average now {os.getloadavg()[0]:.1f} on {cores} cores)"
        )
        print(f"emulator committed {stats['commits']} of {expected} messages")
        if stats["commits"] != expected:
            raise SystemExit("the emulator did not commit every message exactly once")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
