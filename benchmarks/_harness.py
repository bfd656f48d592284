"""Process plumbing and statistics for the benchmark harness.

Servers and clients run in their own processes, pinned to separate cores when the machine has
two or more, so that a client is never measured while sharing its core with the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
#: clickatell-platform (S6P) has a directory of its own in the venv: it installs a top-level
#: package ``clickatell``, as clickatell 0.1.2 (S6) does (``make bench-deps``).
PLATFORM_PACKAGE_DIR = Path(sys.prefix) / "clickatell-platform"


def cores() -> tuple[int | None, int | None]:
    """(server core, client core), or (None, None) on a one-core machine."""
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return None, None
    if len(available) < 2:
        return None, None
    return available[0], available[1]


SERVER_CPU, CLIENT_CPU = cores()


def _pin_args(cpu: int | None) -> list[str]:
    return [] if cpu is None else ["--cpu", str(cpu)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextlib.contextmanager
def server(kind: str, *, extra: Sequence[str] = ()) -> Iterator[str]:
    """Start the sink (``"sink"``) or the emulator (``"emulator"``) on its own core."""
    port = free_port()
    if kind == "sink":
        cmd = [PY, "-m", "benchmarks._sink", "--port", str(port), *_pin_args(SERVER_CPU)]
    else:
        cmd = [PY, "-m", "asms", "emulator", "--host", "127.0.0.1", "--port", str(port), *extra]
        if SERVER_CPU is not None:
            cmd = ["taskset", "-c", str(SERVER_CPU), *cmd]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_json(args: Sequence[str], *, timeout: float = 600, cwd: Path = ROOT) -> dict[str, Any]:
    """Run a module in a fresh process pinned to the client core; parse its last JSON line.

    ``cwd`` is the source tree whose ``asms`` and ``benchmarks`` the process imports (``-m`` puts
    it first on ``sys.path``): another commit's worktree measures that commit's code.
    """
    cmd = [PY, "-m", *args]
    if CLIENT_CPU is not None:
        cmd = ["taskset", "-c", str(CLIENT_CPU), *cmd]
    try:
        done = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout}s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"ok": False, "error": " | ".join(tail) or f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(lines[-1])
    result.setdefault("ok", not result.get("errors"))
    if result.get("errors"):
        result["ok"] = False
        result["error"] = f"{result['errors']} failed requests"
    return result


@dataclass
class Series:
    """Repeated measurements of one contender in one configuration."""

    scenario: str
    contender: str
    params: dict[str, Any]
    unit: str
    values: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.values)

    def add(self, value: float | None, *, cpu_us: float | None = None, error: str = "") -> None:
        if error or value is None:
            self.failures.append(error or "no value")
            return
        self.values.append(value)
        if cpu_us is not None:
            self.cpu_us.append(cpu_us)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "contender": self.contender,
            "params": self.params,
            "unit": self.unit,
            "ok": self.ok,
            "runs": len(self.values) + len(self.failures),
            "values": self.values,
            "failures": self.failures,
        }
        if self.values:
            out |= {
                "median": statistics.median(self.values),
                "min": min(self.values),
                "max": max(self.values),
            }
        if self.cpu_us:
            out["cpu_us_median"] = statistics.median(self.cpu_us)
            out["cpu_us"] = self.cpu_us
        return out


def ratio(a: Series, b: Series) -> float | None:
    """median(a) / median(b), refused (None) unless every run of both succeeded."""
    if not (a.ok and b.ok):
        return None
    return statistics.median(a.values) / statistics.median(b.values)


def cpu_ratio(a: Series, b: Series) -> float | None:
    """median CPU µs per request of a / that of b, refused (None) unless every run of both
    succeeded and recorded its CPU time."""
    if not (a.ok and b.ok and a.cpu_us and b.cpu_us):
        return None
    return statistics.median(a.cpu_us) / statistics.median(b.cpu_us)


def machine() -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
        for found in metadata.distributions(name=name, path=[str(PLATFORM_PACKAGE_DIR)]):
            return str(found.version)
        return "not installed"

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "server_cpu": SERVER_CPU,
        "client_cpu": CLIENT_CPU,
        "versions": {
            n: version(n)
            for n in (
                "asms",
                "httpx",
                "aiohttp",
                "anyio",
                "lxml",
                "zeep",
                "uvicorn",
                "httptools",
                "clickatell",
                "clickatell-platform",
            )
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def dump(series: Sequence[Series], ratios: dict[str, float | None], path: Path) -> dict[str, Any]:
    doc = {
        "machine": machine(),
        "series": [s.summary() for s in series],
        "ratios": ratios,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str))
    return doc


__all__ = ["Series", "asdict", "cpu_ratio", "dump", "ratio", "run_json", "server"]
