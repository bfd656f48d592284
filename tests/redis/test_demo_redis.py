"""``asms demo-redis`` end to end: its own redis-server, emulator and three ``asms worker``
processes; the report counted from the emulator's records; nothing left running afterwards,
also when it is stopped (SIGINT, SIGTERM) in the middle, or redis-server is missing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Wide enough that rich never wraps a line the tests read.
_ENV = {**os.environ, "COLUMNS": "250", "TERM": "dumb"}
_REDIS = re.compile(r"redis://127\.0\.0\.1:(\d+)/0")
_EMULATOR = re.compile(r"http://127\.0\.0\.1:(\d+)")


def _demo(
    *args: str, env: dict[str, str] | None = None, session: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "asms", "demo-redis", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or _ENV,
        start_new_session=session,
    )


def _report(output: str) -> dict[str, str]:
    """The report table's rows, label -> value."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│┃").split("│")]
        if len(cells) == 2 and cells[0]:
            rows[cells[0]] = cells[1]
    return rows


def _running_with(*needles: str) -> list[str]:
    """Command lines of the processes still running that contain any of ``needles``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        command = raw.replace(b"\0", b" ").decode(errors="replace")
        if state != "Z" and any(needle in command for needle in needles):
            found.append(command)
    return found


def _children_of(output: str) -> tuple[str, ...]:
    """What identifies the demo's children on a command line: Redis's and the emulator's
    ports (the workers name the Redis URL, redis-server shows its address)."""
    redis_port = _REDIS.search(output)
    emulator_port = _EMULATOR.search(output)
    assert redis_port is not None and emulator_port is not None, output
    return (f"127.0.0.1:{redis_port.group(1)}", f"--port {emulator_port.group(1)}")


def test_demo_redis_sends_every_message_once_and_leaves_nothing_running() -> None:
    demo = _demo("--count", "300", "--rate", "3000")
    out, err = demo.communicate(timeout=180)
    assert demo.returncode == 0, out + err
    report = _report(out)
    assert report["messages"] == "300"
    assert report["accepted"] == "300"
    assert report["rejected"] == "0"
    assert report["outcome unknown"] == "0"
    assert report["not sent (dead-lettered)"] == "0"
    assert report["committed by the emulator"] == "300"
    assert report["sent twice (same number and text)"] == "0"
    assert report["workers' exit statuses (SIGTERM)"] == "0, 0, 0"
    assert "every message accepted exactly once: 0 sent twice" in out
    assert _running_with(*_children_of(out)) == []


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint-demo-alone", "sigint-process-group", "sigterm-demo-alone"],
)
def test_demo_redis_interrupted_stops_every_child(signum: int, group: bool) -> None:
    # group: Ctrl-C at a terminal, which signals the demo and its children at once.
    demo = _demo("--count", "20000", "--rate", "200", session=group)
    assert demo.stdout is not None
    seen = ""
    for line in demo.stdout:
        seen += line
        if "queued on Redis" in line:
            break
    else:
        pytest.fail(
            f"the campaign was never queued: {seen}{demo.stderr.read() if demo.stderr else ''}"
        )
    children = _children_of(seen)
    assert len(_running_with(*children)) == 5  # redis-server, the emulator, three workers
    if group:
        os.killpg(demo.pid, signum)
    else:
        demo.send_signal(signum)
    out, err = demo.communicate(timeout=60)
    assert demo.returncode == 130, seen + out + err
    assert "interrupted: the workers, the emulator and redis-server were stopped" in out
    assert _running_with(*children) == []


def test_demo_redis_without_redis_server_says_how_to_install_it(tmp_path: Path) -> None:
    demo = _demo("--count", "10", env={**_ENV, "PATH": str(tmp_path)})
    out, err = demo.communicate(timeout=60)
    assert demo.returncode == 2
    assert "redis-server is not installed" in err
    assert "sudo apt-get install -y redis-server" in err
    assert "starting the gateway emulator" not in out
