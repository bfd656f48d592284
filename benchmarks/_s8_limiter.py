"""S8, the limiter part: ``asms.RedisRateLimiter`` alone against one private ``redis-server``.

* **throughput**: reservations per second through one Redis, with ``k`` concurrent callers in
  each of 1 or 4 processes, at a rate nobody reaches (1e6/s), so the figure is what the
  round trips allow, not the limit;
* **round trip**: µs per reservation of one caller, one after the other, beside a plain
  ``PING`` through coredis on the same machine (the floor any Redis command pays).

The harness (:func:`limiter_part`) starts the server on the server core and the callers on
the other cores. ``python -m benchmarks._s8_limiter callers|roundtrip ...`` is one process of
a measurement; it prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._harness import PY, ROOT, SERVER_CPU, Series, free_port, ratio, wait_port

SCENARIO = "S8"
RATE = 1_000_000.0  # unreachable: every reservation is granted at once
PROCESSES = (1, 4)
NO_REDIS = "redis-server is not installed (Debian: apt-get install redis-server)"
#: (callers per process, seconds per run, sequential reservations per round-trip run)
SIZES = {"quick": ((1, 16, 64), 2.0, 2_000), "full": ((1, 16, 64), 5.0, 10_000)}

# -- one process of a measurement --------------------------------------------------------


async def _callers(
    url: str, account: str, callers: int, start: float, seconds: float
) -> dict[str, Any]:
    import anyio

    import asms

    done = 0
    errors = 0
    async with asms.RedisRateLimiter(url, account, rate=RATE) as limiter:
        await limiter.acquire()  # connected, script loaded: not part of the measurement
        await anyio.sleep(max(0.0, start - time.time()))
        t0, cpu0 = time.perf_counter(), time.process_time()
        deadline = t0 + seconds

        async def caller() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                try:
                    await limiter.acquire()
                except asms.RedisError:
                    errors += 1
                else:
                    done += 1

        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(caller)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"reservations": done, "seconds": elapsed, "cpu_seconds": cpu, "errors": errors}


async def _roundtrip(url: str, account: str, count: int) -> dict[str, Any]:
    import coredis

    import asms

    async with asms.RedisRateLimiter(url, account, rate=RATE) as limiter:
        for _ in range(200):  # warm-up
            await limiter.acquire()
        t0 = time.perf_counter()
        for _ in range(count):
            await limiter.acquire()
        reserve = time.perf_counter() - t0
    client: coredis.Redis[str] = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        for _ in range(200):
            await client.ping()
        t0 = time.perf_counter()
        for _ in range(count):
            await client.ping()
        ping = time.perf_counter() - t0
    return {"reserve_us": reserve / count * 1e6, "ping_us": ping / count * 1e6, "errors": 0}


def main() -> None:
    import anyio

    parser = argparse.ArgumentParser(prog="python -m benchmarks._s8_limiter")
    parser.add_argument("what", choices=["callers", "roundtrip"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--callers", type=int, default=1)
    parser.add_argument("--start", type=float, default=0.0, help="unix time to begin at")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--count", type=int, default=2_000)
    args = parser.parse_args()
    if args.what == "callers":
        out = anyio.run(_callers, args.url, args.account, args.callers, args.start, args.seconds)
    else:
        out = anyio.run(_roundtrip, args.url, args.account, args.count)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


# -- the harness side ----------------------------------------------------------------------


def _client_cpus() -> list[str]:
    """``taskset`` arguments keeping the callers off the server's core (when there are two)."""
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return []
    others = [cpu for cpu in available if cpu != SERVER_CPU]
    if SERVER_CPU is None or not others:
        return []
    return ["taskset", "-c", ",".join(map(str, others))]


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A private ``redis-server`` (no persistence) on a free port, on the server core."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(NO_REDIS)
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", str(directory), "--daemonize", "no"]  # fmt: skip
    if SERVER_CPU is not None:
        cmd = ["taskset", "-c", str(SERVER_CPU), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run_parallel(commands: Sequence[list[str]], timeout: float) -> list[dict[str, Any]]:
    """Start every command at once; the last JSON line of each (``ok`` False on failure)."""
    procs = [
        subprocess.Popen(
            [*_client_cpus(), PY, "-m", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    results: list[dict[str, Any]] = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            results.append({"ok": False, "error": f"timed out after {timeout}s"})
            continue
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = (err or out).strip().splitlines()[-3:]
            results.append({"ok": False, "error": " | ".join(tail) or f"exit {proc.returncode}"})
            continue
        result: dict[str, Any] = json.loads(lines[-1])
        result["ok"] = not result.get("errors")
        if not result["ok"]:
            result["error"] = f"{result['errors']} failed reservations"
        results.append(result)
    return results


def _throughput(
    url: str, processes: int, callers: int, seconds: float
) -> tuple[float | None, float | None, str]:
    """One run: reservations per second of all processes together, client CPU µs each."""
    account = f"bench-{uuid.uuid4().hex[:8]}"  # a fresh schedule for every run
    start = time.time() + 1.5  # every process connected by then
    args = ["benchmarks._s8_limiter", "callers", "--url", url, "--account", account,
            "--callers", str(callers), "--start", str(start),
            "--seconds", str(seconds)]  # fmt: skip
    results = _run_parallel([args] * processes, timeout=seconds + 60)
    failed = [str(r.get("error")) for r in results if not r.get("ok")]
    if failed:
        return None, None, "; ".join(failed)
    done = sum(r["reservations"] for r in results)
    per_second = sum(r["reservations"] / r["seconds"] for r in results)
    cpu_us = sum(r["cpu_seconds"] for r in results) / done * 1e6 if done else None
    return per_second, cpu_us, ""


def limiter_part(profile_name: str, reps: int) -> tuple[list[Series], dict[str, float | None]]:
    """The limiter's series of S8 (the 4-worker campaign part is measured beside it)."""
    callers_list, seconds, count = SIZES.get(profile_name, SIZES["full"])
    series: list[Series] = []
    ratios: dict[str, float | None] = {}
    by: dict[tuple[int, int], Series] = {}
    for processes in PROCESSES:
        for callers in callers_list:
            params = {"processes": processes, "callers": callers, "rate": RATE}
            s = Series(SCENARIO, "RedisRateLimiter.acquire", params, "reservations/s")
            by[processes, callers] = s
            series.append(s)
    reserve = Series(SCENARIO, "RedisRateLimiter.acquire", {"sequential": count}, "µs each")
    ping = Series(SCENARIO, "coredis PING", {"sequential": count}, "µs each")
    series += [reserve, ping]
    if shutil.which("redis-server") is None:
        for s in series:
            s.add(None, error=NO_REDIS)
        return series, ratios
    with tempfile.TemporaryDirectory(prefix="asms-s8-") as tmp, redis_server(Path(tmp)) as url:
        for _ in range(reps):
            # In turns, as the client scenarios: a slow spell falls on every series alike.
            for (processes, callers), s in by.items():
                value, cpu_us, error = _throughput(url, processes, callers, seconds)
                s.add(value, cpu_us=cpu_us, error=error)
            account = f"bench-{uuid.uuid4().hex[:8]}"
            args = ["benchmarks._s8_limiter", "roundtrip", "--url", url,
                    "--account", account, "--count", str(count)]  # fmt: skip
            [r] = _run_parallel([args], timeout=600)
            error = "" if r.get("ok") else str(r.get("error"))
            reserve.add(r.get("reserve_us"), error=error)
            ping.add(r.get("ping_us"), error=error)
    ratios["S8 reservation / PING round trip"] = ratio(reserve, ping)
    top = max(callers_list)
    ratios[f"S8 4 processes / 1 process, {top} callers each"] = ratio(by[4, top], by[1, top])
    return series, ratios


if __name__ == "__main__":
    main()
