"""What a new user met outside ``asms bulk``: signals, pipes and flag errors of the commands.

The signal tests run the command as a real process (``python -m asms``) and signal it once
it has shown it is running; the gateway is the emulator served over a socket.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asms.testing import Account, Faults, GatewayEmulator, running_emulator

PASSWORD = "trial-secret-5c1e"
ENV = {"ASMS_API_ID": "1234", "ASMS_USER": "demo", "ASMS_PASSWORD": PASSWORD}
ROOT = Path(__file__).resolve().parent.parent

posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
BOTH = pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])


def start(*args: str, url: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, **ENV}
    env.pop("ASMS_WIRE", None)
    if url is not None:
        env["ASMS_BASE_URL"] = url
    return subprocess.Popen(
        [sys.executable, "-m", "asms", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def wait_for_line(stream: object, pattern: str) -> re.Match[str]:
    """Read ``stream`` until a line matches (the command said it is running)."""
    seen = []
    for line in stream:  # type: ignore[attr-defined]
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} in {seen}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until_open(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not port_open(port):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- finding 10: asms send interrupted while its request is in flight ---------------------


@posix
@BOTH
def test_an_interrupted_send_names_the_climsgid_in_flight(sig: signal.Signals, status: int) -> None:
    account = Account(api_id=1234, user="demo", password=PASSWORD, credits=1000.0)
    # The reply comes 30 s after the commit: the request is in flight when the signal comes.
    emulator = GatewayEmulator(accounts=[account], faults=Faults(latency=30), recorder="messages")
    with running_emulator(emulator) as url:
        process = start("send", "27821234567", "--text", "hello", url=url)
        deadline = time.monotonic() + 60
        while emulator.statistics().messages < 1:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(sig)
        out, err = process.communicate(timeout=30)
        committed = list(emulator.recorder.messages)
    assert process.returncode == status, err
    assert len(committed) == 1
    climsgid = committed[0].climsgid
    assert climsgid
    lines = err.strip().splitlines()
    assert lines == [
        f"outcome unknown: climsgid {climsgid} (to 27821234567); check with "
        f"`asms status --climsgid {climsgid}` before sending again"
    ]
    assert "Aborted" not in err and "Traceback" not in err
    assert PASSWORD not in err + out


@posix
def test_an_interrupted_send_lists_each_request_not_answered() -> None:
    account = Account(api_id=1234, user="demo", password=PASSWORD, credits=10_000.0)
    emulator = GatewayEmulator(accounts=[account], faults=Faults(latency=30), recorder="messages")
    numbers = [f"2782{i:07d}" for i in range(700)]  # two requests of at most 600
    with running_emulator(emulator) as url:
        process = start("send", ",".join(numbers), "--text", "hi", "--climsgid", "run7", url=url)
        deadline = time.monotonic() + 60
        while emulator.statistics().messages < 700:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    lines = sorted(err.strip().splitlines())
    assert lines == [
        "outcome unknown: climsgid run7c0 (to 27820000000 and 599 more); check with "
        "`asms status --climsgid run7c0` before sending again",
        "outcome unknown: climsgid run7c1 (to 27820000600 and 99 more); check with "
        "`asms status --climsgid run7c1` before sending again",
    ]


def test_status_looks_a_message_up_by_climsgid() -> None:
    from click.testing import CliRunner

    from asms._cli import cli

    account = Account(api_id=1234, user="demo", password=PASSWORD, credits=1000.0)
    emulator = GatewayEmulator(accounts=[account])
    with running_emulator(emulator) as url:
        env = {**ENV, "ASMS_BASE_URL": url}
        sent = CliRunner().invoke(
            cli, ["send", "27821234567", "-t", "x", "--climsgid", "q1"], env=env
        )
        assert sent.exit_code == 0, sent.output
        found = CliRunner().invoke(cli, ["status", "--climsgid", "q1", "--json"], env=env)
    assert found.exit_code == 0, found.output
    assert '"apimsgid"' in found.output


# -- findings 11 and 8: Ctrl-C and SIGTERM on the long-running commands -------------------


@posix
@BOTH
def test_the_emulator_stops_cleanly_on_a_signal(sig: signal.Signals, status: int) -> None:
    port = free_port()
    process = start("emulator", "--port", str(port))
    wait_for_line(process.stderr, r"asms emulator on")
    wait_until_open(port, process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    assert process.returncode == status, err
    assert "Aborted" not in err and "Traceback" not in err
    assert not port_open(port)


@posix
@BOTH
def test_the_callback_receiver_stops_cleanly_on_a_signal(
    sig: signal.Signals, status: int, tmp_path: Path
) -> None:
    process = start("callbacks", "--port", "0", "--store", str(tmp_path / "cb.sqlite3"))
    port = int(wait_for_line(process.stderr, r"Listening on http://127\.0\.0\.1:(\d+)").group(1))
    assert port_open(port)
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    assert process.returncode == status, err
    assert "Aborted" not in err and "Traceback" not in err
    assert not port_open(port)


@posix
@BOTH
def test_the_demo_stops_its_emulator_on_a_signal(sig: signal.Signals, status: int) -> None:
    process = start("demo", "--count", "1000000", "--rate", "500")
    port = int(wait_for_line(process.stdout, r"emulator at http://127\.0\.0\.1:(\d+)").group(1))
    assert port_open(port)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert "Aborted" not in err and "Traceback" not in err
    # The emulator child is gone with its parent: nothing listens on its port any more.
    assert not port_open(port)
