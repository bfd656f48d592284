"""``asms demo-redis`` / ``make demo-redis``: the distributed mode, all on this machine.

Starts a private ``redis-server`` (a free loopback port, a temporary directory, no
persistence), the gateway emulator in its own process (as ``asms demo`` does) and three
``asms worker`` processes whose credentials point at the emulator; submits the mixed
campaign of ``asms demo`` to Redis (:func:`asms.submit_campaign`), follows it with a live bar
until every message is settled, stops the workers with SIGTERM (each must exit 0), and
prints the report with what the emulator itself committed: every message once, none twice.

Every child runs in the demo's process group: a Ctrl-C at the terminal reaches them all, and
the demo stops whatever is still running (workers, then the emulator, then Redis) before it
exits, so nothing is left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final

import anyio
import click

from .._config import (
    DEFAULT_DEMO_COUNT,
    DEFAULT_DEMO_RATE,
    DEFAULT_DEMO_WORKERS,
    DEMO_API_ID,
    DEMO_PASSWORD,
    DEMO_USER,
    PLATFORM_WIRES,
)
from ._common import ConfigError, FiniteFloat
from .demo import _free_port, admin, demo_messages, emulator_process

__all__ = [
    "REDIS_MISSING",
    "DemoRedisOutcome",
    "demo_redis",
    "redis_process",
    "run_demo_redis",
    "stop_processes",
    "worker_env",
    "worker_processes",
]

REDIS_MISSING: Final = (
    "redis-server is not installed, and the demo runs its own: `make demo-redis` installs "
    "it (as root), or install it yourself: sudo apt-get install -y redis-server"
)
CAMPAIGN: Final = "demo"
EXIT_INTERRUPTED: Final = 130
_START_TIMEOUT: Final = 10.0
_STOP_TIMEOUT: Final = 15.0  # a worker finishes the requests in flight before it exits
_POLL: Final = 0.2
_LOG_TAIL: Final = 1500


@dataclass(frozen=True, slots=True)
class DemoRedisOutcome:
    """What the demo measured: Redis's counts, the emulator's commits, the workers' exits."""

    total: int
    accepted: int
    rejected: int
    unknown: int
    not_sent: int  # dead or never sent
    parts: int
    requests: int  # sendmsg requests the emulator answered
    committed: int  # recipients the emulator accepted
    duplicates: int  # copies the emulator committed beyond the first of a message
    rate: float | None  # achieved msg/s, Redis's clock
    worker_exits: tuple[int | None, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """Every message accepted and committed exactly once, every worker exited 0."""
        return (
            self.accepted == self.total == self.committed
            and self.duplicates == 0
            and all(code == 0 for code in self.worker_exits)
        )


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-_LOG_TAIL:].strip()
    except OSError:
        return ""


def stop_processes(
    processes: Sequence[subprocess.Popen[bytes]], *, timeout: float = _STOP_TIMEOUT
) -> list[int | None]:
    """SIGTERM every process still running, wait up to ``timeout`` for all, SIGKILL the rest;
    the exit codes (None for a process that had to be killed)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    codes: list[int | None] = []
    for process in processes:
        try:
            codes.append(process.wait(max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            codes.append(None)
    return codes


@contextmanager
def redis_process(directory: Path) -> Iterator[str]:
    """Run ``redis-server`` on a free loopback port (no persistence, files in
    ``directory``); yield its URL. Missing: :class:`ConfigError` with how to install it."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ConfigError(REDIS_MISSING)
    port = _free_port()
    log = directory / "redis.log"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory), "--logfile", str(log),
         "--daemonize", "no"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {_tail(log) or '(no log)'}")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_processes([process])


def worker_env(base_url: str) -> dict[str, str]:
    """This process's environment for a demo worker: the demo account at ``base_url``.

    A Platform key (``ASMS_API_KEY``) or a Platform ``ASMS_WIRE`` in the caller's shell is
    left out: the distributed mode speaks the legacy gateway only, and with both kinds of
    account set a worker would refuse to guess.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name != "ASMS_API_KEY" and not (name == "ASMS_WIRE" and value in PLATFORM_WIRES)
    }
    env.update(
        {
            "ASMS_API_ID": str(DEMO_API_ID),
            "ASMS_USER": DEMO_USER,
            "ASMS_PASSWORD": DEMO_PASSWORD,
            "ASMS_BASE_URL": base_url,
        }
    )
    return env


@contextmanager
def worker_processes(
    count: int, redis_url: str, base_url: str, rate: float, directory: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run ``count`` ``asms worker`` processes for the demo account (its credentials in
    their environment, the gateway the emulator at ``base_url``); each logs to
    ``worker-N.log`` in ``directory``. Those still running at the end are stopped."""
    env = worker_env(base_url)
    command = [sys.executable, "-m", "asms", "worker", "--redis", redis_url, "--rate", f"{rate:g}"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for number in range(1, count + 1):
            with open(directory / f"worker-{number}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(
                        command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                    )
                )
        yield processes
    finally:
        stop_processes(processes)


class _Followed(Exception):
    """A worker ended while the campaign was not settled."""


async def _follow(
    redis_url: str,
    count: int,
    workers: Sequence[subprocess.Popen[bytes]],
    directory: Path,
    console: Any,
) -> Any:
    """Submit the campaign, show its progress until it is settled; its last status."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from .._campaign.status import campaign_status
    from .._campaign.submit import submit_campaign

    account = str(DEMO_API_ID)
    submitted = await submit_campaign(redis_url, CAMPAIGN, demo_messages(count), account=account)
    console.print(
        f"campaign {CAMPAIGN!r}: {submitted.messages:,} messages in {submitted.units:,} units "
        f"queued on Redis; the workers share them"
    )
    progress = Progress(
        TextColumn("[bold blue]sending"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6,.0f} msg/s"),
        TextColumn("[green]{task.fields[ok]:,} ok[/] [red]{task.fields[failed]:,} failed"),
        TextColumn("{task.fields[workers]} workers"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("send", total=count, rate=0.0, ok=0, failed=0, workers=0)
        while True:
            status = await campaign_status(redis_url, CAMPAIGN, account=account)
            done = status.accepted + status.rejected + status.unknown + status.dead
            progress.update(
                task,
                completed=done,
                rate=status.rate or 0.0,
                ok=status.accepted,
                failed=done - status.accepted,
                workers=status.workers,
            )
            if status.settled:
                return status
            for number, process in enumerate(workers, 1):
                if process.poll() is not None:
                    log = _tail(directory / f"worker-{number}.log")
                    raise _Followed(
                        f"worker {number} exited ({process.returncode}) before the campaign "
                        f"was settled; its log:\n{log}"
                    )
            await anyio.sleep(_POLL)


async def _tally(redis_url: str) -> tuple[int, int, int, int, int]:
    """(accepted, rejected, unknown, not sent, parts) from every message's result."""
    from .._bulk.report import Tally
    from .._campaign.status import campaign_results

    tally = Tally()
    async for result in campaign_results(redis_url, CAMPAIGN, account=str(DEMO_API_ID)):
        tally.count(result)
    return tally.accepted, tally.rejected, tally.unknown, tally.not_sent, tally.parts


def _print_campaign_report(console: Any, outcome: DemoRedisOutcome) -> None:
    from rich.table import Table

    table = Table(title="campaign report", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    exits = ", ".join("killed" if code is None else str(code) for code in outcome.worker_exits)
    rows = [
        ("messages", f"{outcome.total:,}"),
        ("accepted", f"{outcome.accepted:,}"),
        ("rejected", f"{outcome.rejected:,}"),
        ("outcome unknown", f"{outcome.unknown:,}"),
        ("not sent (dead-lettered)", f"{outcome.not_sent:,}"),
        ("parts", f"{outcome.parts:,}"),
        ("gateway requests", f"{outcome.requests:,}"),
        ("achieved rate", "-" if outcome.rate is None else f"{outcome.rate:,.1f} msg/s"),
        ("workers' exit statuses (SIGTERM)", exits),
        ("committed by the emulator", f"{outcome.committed:,}"),
        ("sent twice (same number and text)", f"{outcome.duplicates:,}"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    if outcome.ok:
        verdict = f"[green]every message accepted exactly once[/]: {outcome.duplicates} sent twice"
    else:
        verdict = "[red]MISMATCH[/]"
    console.print(f"{verdict}; demo finished in {outcome.seconds:.1f} s")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM as Ctrl-C: the children are stopped on the way out, never orphaned.
    raise KeyboardInterrupt


def run_demo_redis(
    count: int = DEFAULT_DEMO_COUNT,
    rate: float = DEFAULT_DEMO_RATE,
    workers: int = DEFAULT_DEMO_WORKERS,
    *,
    console: Any = None,
) -> int:
    """Run the demo (blocking): 0 when every message was accepted exactly once and every
    worker exited 0, 1 otherwise, 130 when interrupted (every child stopped first)."""
    from rich.console import Console

    console = console if console is not None else Console()
    started = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ExitStack() as stack:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="asms-")))
            console.print("starting redis-server (private, no persistence) ...")
            redis_url = stack.enter_context(redis_process(directory))
            console.print("starting the gateway emulator (python -m asms emulator) ...")
            base_url = stack.enter_context(emulator_process())
            console.print(
                f"[bold]asms demo-redis[/]: {count:,} messages at {rate:,.0f} msg/s shared by "
                f"{workers} worker processes (asms worker), Redis at {redis_url}, the gateway "
                f"emulator at {base_url}"
            )
            processes = stack.enter_context(
                worker_processes(workers, redis_url, base_url, rate, directory)
            )
            try:
                status = anyio.run(_follow, redis_url, count, processes, directory, console)
            except _Followed as exc:
                console.print(f"[red]{exc}[/]")
                return 1
            console.print("settled: stopping the workers (SIGTERM) ...")
            exits = tuple(stop_processes(processes))
            accepted, rejected, unknown, not_sent, parts = anyio.run(_tally, redis_url)
            totals = admin(base_url, "statistics")
            outcome = DemoRedisOutcome(
                total=status.total,
                accepted=accepted,
                rejected=rejected,
                unknown=unknown,
                not_sent=not_sent,
                parts=parts,
                requests=int(totals["requests_by_command"].get("sendmsg", 0)),
                committed=int(totals["messages"]),
                duplicates=int(totals["extra_messages"]),
                rate=status.rate,
                worker_exits=exits,
                seconds=time.perf_counter() - started,
            )
        _print_campaign_report(console, outcome)
        return 0 if outcome.ok else 1
    except KeyboardInterrupt:
        console.print("interrupted: the workers, the emulator and redis-server were stopped")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("demo-redis")
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=DEFAULT_DEMO_COUNT,
    show_default=True,
    help="Messages in the campaign.",
)
@click.option(
    "--rate",
    type=FiniteFloat(min=0, min_open=True),
    default=DEFAULT_DEMO_RATE,
    show_default=True,
    help="Messages per second, the account's, shared by all the workers.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=DEFAULT_DEMO_WORKERS,
    show_default=True,
    help="Worker processes (asms worker).",
)
def demo_redis(count: int, rate: float, workers: int) -> None:
    """Run a campaign through Redis and worker processes, all on this machine.

    Starts a private redis-server, the gateway emulator and the asms worker processes,
    queues the asms demo campaign on Redis, follows it to the end and checks with the
    emulator that every message was sent exactly once. Needs redis-server (Debian's
    package). Exits 0 when every message was accepted exactly once.
    """
    raise SystemExit(run_demo_redis(count, rate, workers))
