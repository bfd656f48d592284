"""S8, the workers' part: 4 worker processes share one 100 msg/s account limit through Redis.

One run: a private ``redis-server``, the emulator in its own process, ``--workers``
:class:`asms.CampaignWorker` processes (``python -m benchmarks._s8 --worker``, the lease
``--lease`` seconds) and a campaign of personalised texts (one recipient per request, so every
request shows the shared schedule) large enough to outlast the run. ``--kill-at`` seconds after
the campaign is submitted one worker is killed with SIGKILL. The verdict comes from the
emulator's own records: the arrival time of every ``sendmsg`` request it accepted
(``GET /_emulator/requests``, the gateway's clock, which is this host's ``time.time()``).

Per run: the mean rate of the sum over ``[first arrival, + duration)``, the most recipients in
any 1 s and any 100 ms window of it, and the recovery after the kill: seconds from the kill to
the first 1 s window holding 99 % of the target again. To tell the schedule from what happens
after it, each worker also logs when each slot it was granted was due and when each request
left (the same windows are computed over those), how late it woke for its slot and how long
it took from the grant to the send (the journal row is written to Redis in between).

``python -m benchmarks._s8 --duration 60 --reps 3`` prints median/min/max over the reps and the
bounds; ``--json`` prints one JSON line instead (for the harness); ``--keep DIR`` keeps each
run's raw times.
"""

from __future__ import annotations

import argparse
import bisect
import contextvars
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._clients import API
from ._harness import PY, ROOT, Series, server
from ._ratebench import windows

#: The bounds the run is judged by: mean rate within 1 %, one message over per window.
RATE_TOLERANCE = 0.01


def _personalised(count: int) -> Any:
    import asms

    # Distinct texts: consecutive messages never group, every request has one recipient.
    return (asms.Message(str(27830000000 + i), f"Your code is {i:07d}") for i in range(count))


# -- the worker process ------------------------------------------------------------------------


_GRANTED: contextvars.ContextVar[float | None] = contextvars.ContextVar("granted", default=None)
_BOOKING: contextvars.ContextVar[Any] = contextvars.ContextVar("booking", default=None)


def _log_departures(path: Path) -> None:
    """Append ``time.time()`` and the recipient count of every request this process sends
    (when it leaves, after the limiter) to ``path``, a line each, flushed at once (a worker
    killed with SIGKILL keeps its lines)."""
    import asms

    log = path.open("a", buffering=1)
    send = asms.AsyncClient.send_request

    async def logged(self: Any, messages: Any, **options: Any) -> Any:
        now = time.time()
        log.write(f"{now:.6f} {len(messages)}\n")
        if (granted := _GRANTED.get()) is not None:
            after.write(f"{now - granted:.6f}\n")  # from the grant to the send
        return await send(self, messages, **options)

    after = path.with_suffix(".after").open("a", buffering=1)

    asms.AsyncClient.send_request = logged  # type: ignore[method-assign]

    # How late each grant of the shared limiter wakes its caller (local clock): a late wake
    # sends that request late while the next slots keep their time, so they bunch.
    acquire = asms.RedisRateLimiter.acquire

    async def timed(self: Any, tokens: int = 1) -> float:
        due = await acquire(self, tokens)
        woke = time.time()
        _GRANTED.set(woke)  # the same task sends the request next
        wakes.write(f"{woke:.6f} {tokens}\n")
        late.write(f"{self.clock.current_time() - due:.6f}\n")
        booking = _BOOKING.get()
        if booking is not None:  # when the last slot was due, on Redis's clock
            slots.write(f"{(booking.server_now + booking.wait_us) / 1e6:.6f} {tokens}\n")
        return due

    async def booked(self: Any, tokens: int) -> Any:
        booking = await reserve(self, tokens)
        _BOOKING.set(booking)  # acquire awaits this in the caller's task: it sees it
        return booking

    reserve = asms.RedisRateLimiter._reserve
    asms.RedisRateLimiter._reserve = booked  # type: ignore[method-assign]
    slots = path.with_suffix(".slots").open("a", buffering=1)
    wakes = path.with_suffix(".wakes").open("a", buffering=1)

    late = path.with_suffix(".late").open("a", buffering=1)
    asms.RedisRateLimiter.acquire = timed  # type: ignore[method-assign]


async def _serve_worker(
    redis_url: str, base_url: str, account: str, rate: float, lease: float, departures: str
) -> None:
    import anyio

    import asms

    if departures:
        _log_departures(Path(departures))
    async with asms.AsyncClient(
        API["api_id"], API["user"], API["password"], base_url=base_url
    ) as client:
        worker = asms.CampaignWorker(client, redis_url, account=account, rate=rate, lease=lease)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with anyio.create_task_group() as tasks:
                await tasks.start(worker.run)
                print("ready", flush=True)
                async for _ in signals:
                    worker.stop()
                    break


# -- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """What one run measured (times on the gateway's clock)."""

    rate: float
    max_1s: int
    max_100ms: int
    recovery: float | None  # None: no kill
    min_1s_after_kill: int | None
    messages: int
    duplicates: int
    worker_exits: list[int | None]
    # The same windows over the times the requests left the workers (after the limiter):
    # what the shared schedule itself did, before the network and the gateway's queue.
    sent_max_1s: int
    sent_max_100ms: int
    # And over the slots the shared limiter granted (when each was due on Redis's clock,
    # this host's time.time()): the schedule alone.
    slot_max_1s: int
    slot_max_100ms: int
    # And over the moments the granted callers woke (before the journal row's write): what
    # the departures would be if nothing stood between the grant and the send.
    wake_max_1s: int
    wake_max_100ms: int


def _count(times: Sequence[float], start: float, end: float) -> int:
    return bisect.bisect_left(times, end) - bisect.bisect_left(times, start)


def recovery(times: Sequence[float], killed: float, rate: float, horizon: float) -> float | None:
    """Seconds from ``killed`` to the first 1 s window (tried every 10 ms, up to ``horizon``
    after it) holding at least ``(1 - RATE_TOLERANCE) * rate`` arrivals: when the sum runs
    at the target again. None: never within ``horizon``."""
    need = math.floor(rate * (1 - RATE_TOLERANCE))
    for step in range(round(horizon / 0.01) + 1):
        start = killed + step * 0.01
        if _count(times, start, start + 1.0) >= need:
            return step * 0.01
    return None


def _times(paths: Any) -> list[float]:
    """The times of lines ``time count``, each repeated ``count`` times, sorted."""
    return sorted(
        float(line.split()[0])
        for path in paths
        for line in path.read_text().splitlines()
        for _ in range(int(line.split()[1]))
    )


def _floats(paths: Any) -> list[float]:
    return sorted(float(word) for path in paths for word in path.read_text().split())


def _quantiles(label: str, values: Sequence[float]) -> None:
    if not values:
        return

    def pick(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1e3

    print(
        f"    {label} (ms): p50 {pick(0.5):.2f}  p99 {pick(0.99):.2f}  max {values[-1] * 1e3:.2f}"
        f"  over 10 ms: {sum(x > 0.01 for x in values)} of {len(values)}",
        file=sys.stderr,
    )


def _wait_ready(process: subprocess.Popen[str], deadline: float) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"a worker did not start (exit {process.wait()}); see its stderr")
    if time.monotonic() > deadline:
        raise RuntimeError("the workers took too long to start")


def run_once(
    *,
    duration: float,
    rate: float,
    workers: int,
    lease: float,
    kill_at: float | None,
    keep: Path | None = None,
) -> Run:
    """One measured run (see the module docstring)."""
    import anyio
    import httpx

    import asms
    from asms._cli.demo_redis import redis_process, stop_processes

    account = f"s8-{uuid.uuid4().hex[:8]}"
    # Enough for the whole window and what follows the kill (lease + 5 s of recovery window).
    count = math.ceil(rate * (duration + lease + 15))
    with tempfile.TemporaryDirectory(prefix="asms-s8-") as tmp:
        with (
            redis_process(Path(tmp)) as redis_url,
            server("emulator", extra=["--credits", "1000000000"]) as base_url,
        ):
            command = [
                PY, "-m", "benchmarks._s8", "--worker", "--redis", redis_url, "--url", base_url,
                "--account", account, "--rate", str(rate), "--lease", str(lease),
            ]  # fmt: skip
            logs = [Path(tmp) / f"departures-{i}.txt" for i in range(workers)]
            procs = [
                subprocess.Popen(
                    [*command, "--departures", str(log)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for log in logs
            ]
            try:
                deadline = time.monotonic() + 30
                for proc in procs:
                    _wait_ready(proc, deadline)
                anyio.run(
                    lambda: asms.submit_campaign(
                        redis_url, "s8", _personalised(count), account=account
                    )
                )
                submitted = time.time()
                killed: float | None = None
                if kill_at is not None:
                    time.sleep(max(0.0, submitted + kill_at - time.time()))
                    os.kill(procs[0].pid, signal.SIGKILL)
                    killed = time.time()  # the emulator's clock is this host's time.time()
                time.sleep(max(0.0, submitted + duration + lease + 7 - time.time()))
                with httpx.Client(base_url=base_url, timeout=60) as admin:
                    got = admin.get(
                        "/_emulator/requests", params={"command": "sendmsg", "limit": count + 10}
                    ).json()
                    stats = admin.get("/_emulator/statistics").json()
            finally:
                exits = stop_processes(procs)
            left = _times(logs)
            due = _times(log.with_suffix(".slots") for log in logs)
            woken = _times(log.with_suffix(".wakes") for log in logs)
            lateness = _floats(log.with_suffix(".late") for log in logs)
            grant_to_send = _floats(log.with_suffix(".after") for log in logs)
    _quantiles("grant wake-up lateness", lateness)
    _quantiles("grant to send (the journal row's write)", grant_to_send)
    # One recipient per request: each accepted request's arrival is one message's.
    times = sorted(r["time"] for r in got["requests"] if r["error"] is None)
    if not times:
        raise RuntimeError("the emulator recorded no message")
    first = times[0]
    window = [t for t in times if t < first + duration]
    sent = [t for t in left if left[0] <= t < left[0] + duration]
    granted = [t for t in due if due[0] <= t < due[0] + duration]
    awake = [t for t in woken if woken[0] <= t < woken[0] + duration]
    after = None
    took = None
    if killed is not None:
        took = recovery(times, killed, rate, lease + 5)
        starts = [killed + i * 0.01 for i in range(round((lease + 5) / 0.01) + 1)]
        after = min(_count(times, s, s + 1.0) for s in starts)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        raw = {
            "killed": killed,
            "arrivals": times,
            "departures": left,
            "slots": due,
            "wakes": woken,
            "lateness": lateness,
            "grant_to_send": grant_to_send,
        }
        (keep / f"s8-{int(first)}.json").write_text(json.dumps(raw))
    return Run(
        rate=len(window) / duration,
        max_1s=windows(window, 1.0),
        max_100ms=windows(window, 0.1),
        recovery=took,
        min_1s_after_kill=after,
        messages=len(window),
        duplicates=int(stats["extra_messages"]),
        # The killed worker shows -9; the others must have exited 0.
        worker_exits=exits,
        sent_max_1s=windows(sent, 1.0),
        sent_max_100ms=windows(sent, 0.1),
        slot_max_1s=windows(granted, 1.0),
        slot_max_100ms=windows(granted, 0.1),
        wake_max_1s=windows(awake, 1.0),
        wake_max_100ms=windows(awake, 0.1),
    )


# -- the series --------------------------------------------------------------------------------


def s8_workers(
    reps: int,
    duration: float = 60.0,
    *,
    rate: float = 100.0,
    workers: int = 4,
    lease: float = 5.0,
    kill_at: float | None = 30.0,
    keep: Path | None = None,
) -> list[Series]:
    """The workers' series of S8 (``reps`` runs), as the harness's :class:`Series`."""
    params = {"workers": workers, "target": rate, "seconds": duration, "lease": lease}
    series = {
        key: Series("S8", f"{workers} CampaignWorker processes", params, unit)
        for key, unit in (
            ("rate", "msg/s (sum)"),
            ("max1s", "max per 1 s window"),
            ("max100ms", "max per 100 ms window"),
            ("recovery", "s to the target after SIGKILL"),
            ("sent1s", "max per 1 s window, departures"),
            ("sent100ms", "max per 100 ms window, departures"),
            ("slot1s", "max per 1 s window, slots granted"),
            ("slot100ms", "max per 100 ms window, slots granted"),
            ("wake1s", "max per 1 s window, grants woken"),
            ("wake100ms", "max per 100 ms window, grants woken"),
        )
    }
    for _ in range(reps):
        try:
            run = run_once(
                duration=duration,
                rate=rate,
                workers=workers,
                lease=lease,
                kill_at=kill_at,
                keep=keep,
            )
        except Exception as exc:  # one failed run is a failure of every series, shown
            for s in series.values():
                s.add(None, error=f"{type(exc).__name__}: {exc}")
            continue
        error = ""
        if run.duplicates:
            error = f"{run.duplicates} messages sent twice"
        elif any(code not in (0, -signal.SIGKILL) for code in run.worker_exits):
            error = f"worker exit statuses {run.worker_exits}"
        series["rate"].add(run.rate, error=error)
        series["max1s"].add(run.max_1s, error=error)
        series["max100ms"].add(run.max_100ms, error=error)
        if kill_at is not None:
            series["recovery"].add(run.recovery, error=error)
        series["sent1s"].add(run.sent_max_1s, error=error)
        series["sent100ms"].add(run.sent_max_100ms, error=error)
        series["slot1s"].add(run.slot_max_1s, error=error)
        series["slot100ms"].add(run.slot_max_100ms, error=error)
        series["wake1s"].add(run.wake_max_1s, error=error)
        series["wake100ms"].add(run.wake_max_100ms, error=error)
        print(f"    run: {run}", file=sys.stderr, flush=True)
    return [s for s in series.values() if s.values or s.failures]


#: Measured seconds per run of the harness's profiles (the kill comes at half of them).
DURATIONS = {"quick": 20.0, "full": 60.0}


def workers_part(profile_name: str, reps: int) -> list[Series]:
    """The workers' series of S8 for the harness (``python -m benchmarks --scenario S8``)."""
    duration = DURATIONS[profile_name]
    return s8_workers(reps, duration, kill_at=duration / 2)


def bounds(rate: float, lease: float) -> dict[str, tuple[float, float]]:
    """What each series must stay within (unit: the series')."""
    return {
        "msg/s (sum)": (rate * (1 - RATE_TOLERANCE), rate * (1 + RATE_TOLERANCE)),
        "max per 1 s window": (0, rate + 1),
        "max per 100 ms window": (0, rate / 10 + 1),
        "s to the target after SIGKILL": (0, lease + 1),
        "max per 1 s window, departures": (0, rate + 1),
        "max per 100 ms window, departures": (0, rate / 10 + 1),
        "max per 1 s window, slots granted": (0, rate + 1),
        "max per 100 ms window, slots granted": (0, rate / 10 + 1),
        "max per 1 s window, grants woken": (0, rate + 1),
        "max per 100 ms window, grants woken": (0, rate / 10 + 1),
    }


def _report(series: list[Series], rate: float, lease: float) -> bool:
    limits = bounds(rate, lease)
    good = True
    for s in series:
        summary = s.summary()
        low, high = limits[s.unit]
        if not s.ok:
            print(f"{s.unit:32} FAILED: {'; '.join(s.failures)}")
            good = False
            continue
        inside = low <= summary["min"] and summary["max"] <= high
        good &= inside
        print(
            f"{s.unit:32} median {summary['median']:8.2f}  min {summary['min']:8.2f}  "
            f"max {summary['max']:8.2f}  bounds [{low:g}, {high:g}]  "
            f"{'ok' if inside else 'OUT OF BOUNDS'}  values {summary['values']}"
        )
    return good


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._s8", description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0, help="the account's msg/s")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--lease", type=float, default=5.0, help="the workers' lease (s)")
    parser.add_argument(
        "--kill-at", type=float, help="SIGKILL one worker then (s; default: half the duration)"
    )
    parser.add_argument("--no-kill", action="store_true", help="kill no worker")
    parser.add_argument("--json", action="store_true", help="one JSON line of the series")
    parser.add_argument(
        "--keep", type=Path, help="write each run's raw times (JSON) into this directory"
    )
    # The worker process (started by a run).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--account", help=argparse.SUPPRESS)
    parser.add_argument("--departures", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        import anyio

        anyio.run(
            _serve_worker,
            args.redis,
            args.url,
            args.account,
            args.rate,
            args.lease,
            args.departures,
        )
        return 0
    kill_at = None if args.no_kill else (args.kill_at or args.duration / 2)
    series = s8_workers(
        args.reps,
        args.duration,
        rate=args.rate,
        workers=args.workers,
        lease=args.lease,
        kill_at=kill_at,
        keep=args.keep,
    )
    if args.json:
        json.dump([s.summary() for s in series], sys.stdout)
        sys.stdout.write("\n")
        return 0 if all(s.ok for s in series) else 1
    print(
        f"S8 workers: {args.workers} processes, {args.rate:g} msg/s shared, {args.duration:g} s, "
        f"lease {args.lease:g} s, SIGKILL of one at {kill_at} s, {args.reps} reps"
    )
    return 0 if _report(series, args.rate, args.lease) else 1


if __name__ == "__main__":
    sys.exit(main())
