"""What a new user met outside ``asms bulk``: signals, pipes and flag errors of the commands.

The signal tests run the command as a real process (``python -m asms``) and signal it once
it has shown it is running; the gateway is the emulator served over a socket.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.cli import ENV, PASSWORD, cli_account, start
from helpers.net import free_port

from asms.testing import Faults, GatewayEmulator, running_emulator

posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
BOTH = pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])


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


# -- finding 10: asms send interrupted while its request is in flight ---------------------


@posix
@BOTH
def test_an_interrupted_send_names_the_climsgid_in_flight(sig: signal.Signals, status: int) -> None:
    account = cli_account(credits=1000.0)
    # The reply comes 30 s after the commit: the request is in flight when the signal comes.
    emulator = GatewayEmulator(accounts=[account], faults=Faults(latency=30), recorder="messages")
    with running_emulator(emulator) as url:
        process = start("send", "27821234567", "--text", "hello", base_url=url)
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
    account = cli_account(credits=10_000.0)
    emulator = GatewayEmulator(accounts=[account], faults=Faults(latency=30), recorder="messages")
    numbers = [f"2782{i:07d}" for i in range(700)]  # two requests of at most 600
    with running_emulator(emulator) as url:
        process = start(
            "send", ",".join(numbers), "--text", "hi", "--climsgid", "run7", base_url=url
        )
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

    account = cli_account(credits=1000.0)
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


# -- finding 11: a closed stdout, and a store that is not SQLite --------------------------


@posix
def test_send_into_a_closed_pipe_keeps_the_exit_status_and_shows_no_traceback() -> None:
    account = cli_account(credits=10_000.0)
    emulator = GatewayEmulator(accounts=[account])
    numbers = [f"2782{i:07d}" for i in range(1500)]  # more output than a pipe buffers
    with running_emulator(emulator) as url:
        process = start("send", ",".join(numbers), "--text", "x", base_url=url)
        assert process.stdout is not None
        # The reader is gone before the first line (`| head -0`): every write to stdout
        # fails, whenever the command makes it.
        process.stdout.close()
        err = process.stderr.read() if process.stderr else ""
        process.wait(timeout=60)
        committed = emulator.statistics().messages
    assert committed == 1500
    assert process.returncode == 0, err
    assert err == ""


def test_callbacks_refuses_a_store_that_is_not_sqlite(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from asms._cli import cli

    store = tmp_path / "notadb.csv"
    store.write_text("to,text\n27821234567,hello\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["callbacks", "--port", "0", "--store", str(store)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert str(store) in lines[0] and "not a database" in lines[0]
    assert "Listening" not in result.output
    assert store.read_text(encoding="utf-8") == "to,text\n27821234567,hello\n"


# -- findings 6 and 12: emulator flags, the access log, coverage's national numbers --------


def _one_error(args: list[str]) -> str:
    from click.testing import CliRunner

    from asms._cli.emulator import emulator

    result = CliRunner().invoke(emulator, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("drop_after_commit=abc", "Error: --fault drop_after_commit must be a number, got 'abc'"),
        ("latency=[1]", "Error: --fault latency must be a number, got [1]"),
        ("seed=1.5", "Error: --fault seed must be a whole number, got 1.5"),
        (
            "script=1",
            "Error: --fault script must be a list of fault kinds (or null), got 1",
        ),
        ("commands=[1]", "Error: --fault commands must be a list of command names, got [1]"),
    ],
)
def test_a_fault_of_the_wrong_type_is_named_with_the_type_it_needs(
    fault: str, expected: str
) -> None:
    assert _one_error(["--fault", fault]) == expected


@pytest.mark.parametrize("spec", ["bad", "x:demo:s3cr3t", "1234:demo", "1234::s3cr3t"])
def test_a_malformed_account_is_named_by_its_flag_without_its_password(spec: str) -> None:
    error = _one_error(["--account", spec])
    assert error.startswith("Error: --account: expected API_ID:USER:PASSWORD"), error
    assert "s3cr3t" not in error


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "99999"], "'--port': 99999 is not in the range 0<=x<=65535"),
        (["--port", "-1"], "'--port': -1 is not in the range 0<=x<=65535"),
        (["--retention", "-1"], "'--retention': -1 is not in the range x>=0"),
    ],
)
def test_out_of_range_emulator_numbers_state_the_range(args: list[str], expected: str) -> None:
    assert expected in _one_error(args)


def test_a_host_that_is_not_local_is_named_as_such() -> None:
    line = _one_error(["--host", "192.0.2.1", "--port", "0"])  # TEST-NET-1: never local
    assert line.startswith("Error: cannot listen on 192.0.2.1:0")
    assert "192.0.2.1 is not an address of this machine; give a local one with --host" in line
    assert "another emulator" not in line


def test_the_access_log_keeps_uvicorns_format_and_hides_the_whole_secret_segment() -> None:
    import logging

    from uvicorn.logging import AccessFormatter

    from asms._cli.callbacks import _Redact

    formatter = AccessFormatter(
        fmt='%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False
    )
    shown = []
    for path, status in (("/s3cr3t/status", 200), ("/s3cr3tsuffix/status", 401)):
        # The record as uvicorn's access logger makes it: five arguments.
        record = logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "POST", path, "1.1", status),
            None,
        )
        assert _Redact("s3cr3t").filter(record)
        shown.append(formatter.format(record))
    assert shown == [
        '127.0.0.1:5000 - "POST /***/status HTTP/1.1" 200 OK',
        '127.0.0.1:5000 - "POST /***/status HTTP/1.1" 401 Unauthorized',
    ]


def test_coverage_takes_the_country_code_its_error_asks_for() -> None:
    from click.testing import CliRunner

    from asms._cli import cli

    account = cli_account(credits=10.0)
    with running_emulator(GatewayEmulator(accounts=[account])) as url:
        env = {**ENV, "ASMS_BASE_URL": url}
        national = CliRunner().invoke(cli, ["coverage", "0821234567"], env=env)
        given = CliRunner().invoke(
            cli, ["coverage", "0821234567", "--country-code", "27", "--json"], env=env
        )
    assert national.exit_code == 2
    assert "pass --country-code" in national.output
    assert given.exit_code == 0, given.output
    assert '"msisdn": "27821234567"' in given.output


# -- finding 9: the emulator's callbacks reach asms callbacks as the README pairs them ----


@posix
def test_the_emulator_and_the_receiver_work_together_for_status_and_inbound() -> None:
    import json

    import httpx
    from click.testing import CliRunner

    from asms._cli import cli

    # Its store: the default file, in this test's own state directory (conftest).
    receiver = start("callbacks", "--port", "0", "--json", "--count", "3")
    port = int(wait_for_line(receiver.stderr, r"Listening on http://127\.0\.0\.1:(\d+)").group(1))
    gateway_port = free_port()
    # The status URL as `asms callbacks` prints it; nothing said about inbound messages.
    gateway = start(
        "emulator",
        "--port",
        str(gateway_port),
        "--fake-clock",
        "--account",
        f"1234:demo:{PASSWORD}",
        "--callback-url",
        f"http://127.0.0.1:{port}/status",
    )
    try:
        wait_until_open(gateway_port, gateway)
        base = f"http://127.0.0.1:{gateway_port}"
        env = {**ENV, "ASMS_BASE_URL": base}
        sent = CliRunner().invoke(
            cli, ["send", "27821234567", "-t", "Hi", "--callback", "3", "--json"], env=env
        )
        assert sent.exit_code == 0, sent.output
        apimsgid = json.loads(sent.output)[0]["apimsgid"]
        assert httpx.post(f"{base}/_emulator/clock/advance", json={"seconds": 60}).is_success
        mo = {"to": "27820000001", "from": "27829999999", "text": "STOP"}
        assert httpx.post(f"{base}/_emulator/mo", json=mo).is_success
        out, err = receiver.communicate(timeout=30)  # --count 3: it stops by itself
    finally:
        receiver.kill()
        gateway.terminate()
        _, gateway_err = gateway.communicate(timeout=30)
    assert receiver.returncode == 0, err
    assert "refused" not in err and "refused" not in gateway_err
    events = [json.loads(line) for line in out.splitlines()]
    statuses = [e for e in events if e["event"] == "status"]
    inbound = [e for e in events if e["event"] == "inbound"]
    assert [(e["apimsgid"], e["status"]) for e in statuses] == [(apimsgid, 3), (apimsgid, 4)]
    assert [(e["from"], e["to"], e["text"]) for e in inbound] == [
        ("27829999999", "27820000001", "STOP")
    ]
    assert f"inbound callbacks go to http://127.0.0.1:{port}/inbound" in gateway_err


def test_the_emulator_prints_a_callback_url_without_its_password() -> None:
    from asms._cli.emulator import _shown_url

    assert _shown_url("http://hooks:s3cret@127.0.0.1:18080/status") == (
        "http://hooks:***@127.0.0.1:18080/status"
    )
    assert _shown_url("http://127.0.0.1:18080/status") == "http://127.0.0.1:18080/status"
