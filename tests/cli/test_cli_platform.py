"""``asms send/bulk/status/balance`` with ``ASMS_API_KEY``: the Platform wires, against the
emulator's Platform endpoints over a real socket.

Every run is a Platform account (``KEY``) unless a test sets the legacy variables too; the
key is the canary no output may show. Each refusal is one line and exit 2, with nothing
sent (the emulator saw no request at all).
"""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers.cli import ENV, PASSWORD, cli_account, make_cli, read_results, start
from helpers.emulator import committed

from asms._cli import cli
from asms._cli._common import _resolve_settings
from asms._cli._sendstop import Request, SendOutcome, unknown_lines
from asms._config import DEFAULT_BASE_URL, DEFAULT_PLATFORM_URL
from asms.testing import Faults, GatewayEmulator, Integration, Lifecycle

KEY = "cli-platform-key-7c2e90"
OTHER_KEY = "cli-other-integration-55aa"
LEGACY_UNSET: dict[str, str | None] = dict.fromkeys(ENV)


@pytest.fixture
def emulator() -> GatewayEmulator:
    # The legacy account ENV names, and two integration keys on it.
    return GatewayEmulator(
        accounts=[cli_account(credits=500.0)],
        integrations=[Integration(key=KEY), Integration(key=OTHER_KEY)],
        lifecycle=Lifecycle(queued=0.05, delivery=0.05),
        seed=7,
    )


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(base_url: str, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    for name in ("ASMS_BASE_URL", "ASMS_WIRE", "ASMS_API_KEY", *ENV):
        monkeypatch.delenv(name, raising=False)

    def run(
        *args: str | Path, env: Mapping[str, str | None] | None = None, **options: object
    ) -> Result:
        variables: dict[str, str | None] = {
            **LEGACY_UNSET,
            "ASMS_API_KEY": KEY,
            "ASMS_BASE_URL": base_url,
            **(env or {}),
        }
        result = CliRunner().invoke(make_cli(), [str(a) for a in args], env=variables, **options)
        for secret in (KEY, OTHER_KEY, PASSWORD):
            assert secret not in result.output
        assert "Traceback" not in result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


def refused(result: Result) -> str:
    """The one line of a refusal (exit 2), its whitespace folded."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return " ".join(result.output.split())


def nothing_sent(emulator: GatewayEmulator) -> None:
    assert emulator.recorder.messages == []
    assert emulator.recorder.arrivals == []  # not even a balance probe


def commands_seen(emulator: GatewayEmulator) -> set[str]:
    return {m.command for m in emulator.recorder.messages}


# -- the wire follows the account -----------------------------------------------------------


def test_balance_with_a_key(invoke: Invoke, emulator: GatewayEmulator) -> None:
    for wire in (None, "platform", "one-api"):
        chosen = () if wire is None else ("--wire", wire)
        result = invoke("balance", *chosen)
        assert result.exit_code == 0, result.output
        assert "Credits: 500.00 ZAR" in result.output
        expected = {"credits": 500.0, "currency": "ZAR"}
        assert json.loads(invoke("balance", "--json", *chosen).output) == expected
        asked = {command for _, command, _ in emulator.recorder.arrivals[-2:]}
        assert asked == {"one-api:balance" if wire == "one-api" else "platform:balance"}


@pytest.mark.parametrize(
    ("choice", "command"),
    [((), "platform:send"), (("--wire", "one-api"), "one-api:send")],
)
def test_send_with_a_key_goes_over_the_platform(
    invoke: Invoke, emulator: GatewayEmulator, choice: tuple[str, ...], command: str
) -> None:
    result = invoke(
        "send", "+27 82 123 4567", "27821234568", "-t", "Grüße, ça va? Привет",
        "--from", "27820000001", "--json", *choice,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["to"] for r in records] == ["27821234567", "27821234568"]
    assert all(r["accepted"] and r["apimsgid"] for r in records)
    assert commands_seen(emulator) == {command}
    texts = {m.to: m.text for m in emulator.recorder.messages}
    # UTF-8 as it is: no hex, no unicode flag, nothing lost on the way.
    assert texts == dict.fromkeys(["27821234567", "27821234568"], "Grüße, ça va? Привет")


def test_a_rejected_recipient_on_each_platform_wire(
    invoke: Invoke, emulator: GatewayEmulator
) -> None:
    emulator.blocked.add("27821234569")
    for wire in ("platform", "one-api"):
        result = invoke("send", "27821234567,27821234569", "-t", "Hi", "--wire", wire)
        assert result.exit_code == 1, result.output
        assert "1 of 2 accepted" in result.output
    assert [m.to for m in emulator.recorder.messages] == ["27821234567"] * 2


@pytest.mark.parametrize("wire", ["platform", "one-api"])
def test_status_by_apimsgid(invoke: Invoke, wire: str) -> None:
    sent = json.loads(invoke("send", "27821234567", "-t", "Hi", "--json", "--wire", wire).output)
    apimsgid = sent[0]["apimsgid"]
    time.sleep(0.3)  # past the emulator's short lifecycle: delivered
    result = invoke("status", apimsgid, "--wire", wire)
    assert result.exit_code == 0, result.output
    assert f"{apimsgid}: 004 Received by recipient (final)" in " ".join(result.output.split())
    record = json.loads(invoke("status", apimsgid, "--json", "--wire", wire).output)
    assert record == {
        "apimsgid": apimsgid,
        "status": 4,
        "description": "Received by recipient",
        "final": True,
    }


def test_status_of_an_unknown_apimsgid_is_one_line(invoke: Invoke) -> None:
    result = invoke("status", "0123456789abcdef0123456789abcdef")
    assert result.exit_code == 1
    assert "103" in result.output and len(result.output.strip().splitlines()) == 1


def test_the_default_base_url_follows_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ASMS_BASE_URL", "ASMS_WIRE", "ASMS_API_KEY", *ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ASMS_API_KEY", KEY)
    assert _resolve_settings(None, None, None, False, 5.0).base_url == DEFAULT_PLATFORM_URL
    assert _resolve_settings(None, None, "one-api", False, 5.0).base_url == DEFAULT_PLATFORM_URL
    assert _resolve_settings(None, None, "http", False, 5.0).base_url == DEFAULT_BASE_URL
    given = _resolve_settings(None, "https://proxy.example/sms/", None, False, 5.0)
    assert (given.base_url, given.wire) == ("https://proxy.example/sms", "platform")
    monkeypatch.setenv("ASMS_BASE_URL", "https://other.example")
    assert _resolve_settings(None, None, None, False, 5.0).base_url == "https://other.example"
    assert KEY not in repr(_resolve_settings(None, None, None, False, 5.0))


def test_a_key_from_an_env_file(invoke: Invoke, tmp_path: Path) -> None:
    env_file = tmp_path / "asms.env"
    env_file.write_text(f"export ASMS_API_KEY='{KEY}'\n")
    result = invoke("balance", "--env-file", env_file, env={"ASMS_API_KEY": None})
    assert result.exit_code == 0, result.output


def test_the_key_over_plain_http_to_a_remote_host_is_refused(
    invoke: Invoke, emulator: GatewayEmulator
) -> None:
    text = refused(invoke("balance", "--base-url", "http://sms.example.com"))
    assert "plain http://" in text and "--insecure-http" in text
    nothing_sent(emulator)


def test_a_base_url_of_the_other_kind_of_gateway_is_refused(invoke: Invoke) -> None:
    # Left over from the other account: the legacy gateway has no /messages, and the key
    # must not go there (nor the password to the Platform).
    text = refused(invoke("balance", env={"ASMS_BASE_URL": "https://api.clickatell.com"}))
    assert "is Clickatell's legacy gateway, but the platform wire talks to" in text
    assert DEFAULT_PLATFORM_URL in text
    text = refused(
        invoke("balance", "--base-url", DEFAULT_PLATFORM_URL, env={**ENV, "ASMS_API_KEY": None})
    )
    assert "is Clickatell's Platform, but the http wire talks to" in text


# -- which account: the rules ---------------------------------------------------------------


def test_both_accounts_set_is_refused_until_a_wire_chooses(
    invoke: Invoke, emulator: GatewayEmulator
) -> None:
    both = {**ENV, "ASMS_API_KEY": KEY}
    text = refused(invoke("send", "27821234567", "-t", "Hi", env=both))
    assert "both ASMS_API_KEY" in text and "ASMS_API_ID, ASMS_USER, ASMS_PASSWORD" in text
    assert "--wire" in text and "does not guess" in text
    nothing_sent(emulator)
    # A wire named on the command line or in ASMS_WIRE chooses the account.
    for to, choice, env in (
        ("27821234567", ("--wire", "platform"), both),
        ("27821234568", (), {**both, "ASMS_WIRE": "http"}),
        ("27821234569", ("--wire", "one-api"), both),
    ):
        assert invoke("send", to, "-t", "Hi", *choice, env=env).exit_code == 0
    sent = {m.to: m.command for m in emulator.recorder.messages}
    assert sent == {
        "27821234567": "platform:send",
        "27821234568": "sendmsg",
        "27821234569": "one-api:send",
    }


def test_one_legacy_variable_with_the_key_is_refused_too(
    invoke: Invoke, emulator: GatewayEmulator
) -> None:
    text = refused(invoke("balance", env={"ASMS_USER": "demo"}))
    assert "both ASMS_API_KEY" in text and "ASMS_USER" in text
    nothing_sent(emulator)


def test_a_platform_wire_without_a_key(invoke: Invoke, emulator: GatewayEmulator) -> None:
    for env in ({**ENV, "ASMS_API_KEY": None}, {**ENV, "ASMS_API_KEY": ""}):
        text = refused(invoke("balance", "--wire", "one-api", env=env))
        assert text.startswith("Error: missing environment variable ASMS_API_KEY")
        assert "--wire one-api is a Platform wire" in text
        assert "legacy wires only" in text
    text = refused(invoke("balance", env={**ENV, "ASMS_API_KEY": None, "ASMS_WIRE": "platform"}))
    assert "ASMS_WIRE=platform is a Platform wire" in text
    nothing_sent(emulator)


def test_a_legacy_wire_with_only_a_key(invoke: Invoke, emulator: GatewayEmulator) -> None:
    for wire in ("http", "soap", "soap-rpc"):
        text = refused(invoke("balance", "--wire", wire))
        assert "missing environment variables ASMS_API_ID, ASMS_USER, ASMS_PASSWORD" in text
        assert f"--wire {wire} is a legacy wire" in text
        assert "ASMS_API_KEY works on the Platform wires only" in text
    nothing_sent(emulator)


def test_neither_account_names_both_kinds(invoke: Invoke, emulator: GatewayEmulator) -> None:
    text = refused(invoke("balance", env={"ASMS_API_KEY": None}))
    assert "ASMS_API_ID, ASMS_USER, ASMS_PASSWORD" in text and "ASMS_API_KEY" in text
    nothing_sent(emulator)


def test_a_wrong_key_is_an_authentication_error(
    invoke: Invoke, emulator: GatewayEmulator, tmp_path: Path
) -> None:
    wrong = "not-the-key-3f9a1c"
    for wire in ("platform", "one-api"):
        result = invoke("balance", "--wire", wire, env={"ASMS_API_KEY": wrong})
        text = refused(result)
        assert "authentication failed" in text and "check ASMS_API_KEY" in text
        assert "ASMS_PASSWORD" not in text
        assert wrong not in text
    # A bulk run writes every row (rejected, 108) and ends as refused credentials do.
    source = write_csv(tmp_path / "c.csv", 2)
    result = invoke("bulk", source, "-q", env={"ASMS_API_KEY": wrong})
    assert result.exit_code == 2 and "check ASMS_API_KEY" in result.output
    rows = read_results(tmp_path / "c.results.csv")
    assert len(rows) == 2 and ("rejected", "108") in [(r["status"], r["error_code"]) for r in rows]
    assert {r["status"] for r in rows} <= {"rejected", "not_sent"}  # the run stops at 108
    assert emulator.recorder.messages == []


def test_a_malformed_key_is_refused_without_showing_it(
    invoke: Invoke, emulator: GatewayEmulator
) -> None:
    for key, hint in (("two words", False), (KEY + " ", True), ("ключ-ключ", False)):
        text = refused(invoke("send", "27821234567", "-t", "Hi", env={"ASMS_API_KEY": key}))
        assert text.startswith("Error: bad ASMS_API_KEY (from the environment or --env-file)")
        assert key.strip() not in text
        assert ("a space or line break copied with it?" in text) is hint
    nothing_sent(emulator)


def test_a_misspelt_wire(invoke: Invoke, emulator: GatewayEmulator) -> None:
    result = invoke("balance", "--wire", "plattform")
    assert result.exit_code == 2
    assert "'platform', 'one-api'" in result.output
    text = refused(invoke("balance", env={"ASMS_WIRE": "oneapi"}))
    assert "ASMS_WIRE must be one of http, soap, soap-rpc, platform, one-api" in text
    nothing_sent(emulator)


# -- what the platform does not have --------------------------------------------------------


LACKING: list[tuple[tuple[str, ...], str]] = [
    (("coverage", "27821234567"), "asms coverage is not available on the platform wire"),
    (
        ("status", "--climsgid", "order42"),
        "asms status --climsgid is not available on the platform wire",
    ),
    (
        ("status", "0123456789abcdef0123456789abcdef", "--charge", "--wire", "one-api"),
        "asms status --charge is not available on the one-api wire",
    ),
    (
        ("send", "27821234567", "-t", "Hi", "--callback", "3"),
        "--callback is not available on the platform wire",
    ),
    (
        ("send", "27821234567", "-t", "Hi", "--deliv-ack"),
        "--deliv-ack is not available on the platform wire",
    ),
    (
        ("send", "27821234567", "-t", "Hi", "--deliv-time", "10"),
        "--deliv-time is not available on the platform wire: use --scheduled-time",
    ),
    (
        ("send", "27821234567", "-t", "Hi", "--max-credits", "2"),
        "--max-credits is not available on the platform wire",
    ),
    (
        ("send", "27821234567", "-t", "Hi", "--validity", "30", "--wire", "one-api"),
        "--validity is not available on the one-api wire",
    ),
    (("worker", "--redis", "redis://127.0.0.1:1/0"), "asms worker is not available"),
]
"""Commands and flags the Platform wires do not have, and what their refusal says."""


def test_a_command_the_platform_lacks_is_one_line(
    invoke: Invoke, emulator: GatewayEmulator
) -> None:
    for args, expected in LACKING:
        text = refused(invoke(*args))
        assert expected in text, text
    assert "(ASMS_API_KEY is set, which selects that wire; it needs a legacy account" in text
    # Chosen by ASMS_WIRE with a legacy account at hand: the refusal says what chose it.
    legacy = {**ENV, "ASMS_API_KEY": None, "ASMS_WIRE": "platform"}
    text = refused(invoke("coverage", "27821234567", env=legacy))
    assert "(ASMS_WIRE=platform selects it; it needs a legacy account" in text
    nothing_sent(emulator)


def test_bulk_options_the_platform_lacks(
    invoke: Invoke, emulator: GatewayEmulator, tmp_path: Path
) -> None:
    rows = write_csv(tmp_path / "c.csv", 3)
    results = tmp_path / "c.results.csv"
    results.write_text("kept\n")
    text = refused(invoke("bulk", rows, "--callback", "3"))
    assert "--callback is not available on the platform wire" in text
    text = refused(invoke("bulk", rows, "--redis", "redis://127.0.0.1:1/0", "--campaign", "x"))
    assert "asms bulk --redis is not available on the platform wire" in text
    assert "legacy gateway only" in text
    text = refused(invoke("campaign", "status", "x", "--redis", "redis://127.0.0.1:1/0"))
    assert "ASMS_API_KEY (a Platform account) is set" in text
    assert results.read_text() == "kept\n"
    nothing_sent(emulator)


def test_a_row_with_an_option_the_platform_lacks_is_not_sent(
    invoke: Invoke, emulator: GatewayEmulator, tmp_path: Path
) -> None:
    source = tmp_path / "c.csv"
    source.write_text("to,text,queue\n27821234567,Hello,\n27821234568,Hello,2\n")
    result = invoke("bulk", source, "-q")
    assert result.exit_code == 1, result.output
    rows = {r["to"]: r for r in read_results(tmp_path / "c.results.csv")}
    assert rows["27821234567"]["status"] == "accepted"
    assert rows["27821234568"]["status"] == "not_sent"
    assert "queue" in rows["27821234568"]["error_description"]
    assert committed(emulator) == {"27821234567": 1}


@pytest.mark.parametrize(
    ("wire", "fault"), [("platform", "drop_after_commit"), ("one-api", "err901_after_commit")]
)
def test_a_send_whose_reply_was_lost_is_unknown_and_not_resent(
    invoke: Invoke, emulator: GatewayEmulator, wire: str, fault: str
) -> None:
    emulator.faults = Faults(script=(fault,))
    result = invoke("send", "27821234567,27821234568", "-t", "Hi", "--wire", wire, "--json")
    assert result.exit_code == 1
    note, output = result.output.split("\n", 1)
    records = json.loads(output)
    assert [r["error_code"] for r in records] == [-1, -1]
    assert all(r["error_description"].startswith("outcome unknown") for r in records)
    climsgid = records[0]["climsgid"]
    folded = " ".join(note.split())
    assert "cannot look a message up by climsgid" in folded and climsgid in folded
    assert committed(emulator) == {"27821234567": 1, "27821234568": 1}  # once, not again


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_an_interrupted_send_on_the_platform_names_no_climsgid_lookup() -> None:
    from asms.testing import running_emulator

    emulator = GatewayEmulator(
        accounts=[cli_account(credits=10.0)],
        integrations=[Integration(key=KEY)],
        faults=Faults(latency=5.0),
    )
    with running_emulator(emulator) as url:
        process = start(
            "send", "27821234567", "-t", "Hi", base_url=url, env={"ASMS_API_KEY": KEY},
            account=False,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while emulator.statistics().messages < 1:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    folded = " ".join(err.split())
    assert "outcome unknown: climsgid" in folded and "(to 27821234567)" in folded
    assert "cannot look it up by climsgid" in folded
    assert "asms status --climsgid" not in folded
    assert KEY not in err


def test_the_redis_demo_workers_never_inherit_a_platform_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from asms._cli.demo_redis import worker_env

    monkeypatch.setenv("ASMS_API_KEY", KEY)
    monkeypatch.setenv("ASMS_WIRE", "one-api")
    env = worker_env("http://127.0.0.1:9")
    assert "ASMS_API_KEY" not in env and "ASMS_WIRE" not in env
    assert env["ASMS_BASE_URL"] == "http://127.0.0.1:9" and env["ASMS_API_ID"]
    monkeypatch.setenv("ASMS_WIRE", "soap")
    assert worker_env("http://127.0.0.1:9")["ASMS_WIRE"] == "soap"


def test_unknown_requests_of_an_interrupted_send_name_no_climsgid_lookup() -> None:
    outcome = SendOutcome(requests=[Request("abc123", ["27821234567", "27821234568"])])
    legacy = unknown_lines(outcome, "http")
    assert legacy == [
        "outcome unknown: climsgid abc123 (to 27821234567 and 1 more); check with "
        "`asms status --climsgid abc123` before sending again"
    ]
    (line,) = unknown_lines(outcome, "one-api")
    assert line.startswith("outcome unknown: climsgid abc123 (to 27821234567 and 1 more)")
    assert "asms status --climsgid" not in line
    assert "cannot look it up by climsgid" in line and "status callback" in line


# -- bulk -----------------------------------------------------------------------------------


def write_csv(path: Path, rows: int, text: str = "Hello {i}", encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "text"])
        for i in range(rows):
            writer.writerow([f"2782000{i:04d}", text.format(i=i)])
    return path


def test_a_latin1_csv_on_the_platform_wire(
    invoke: Invoke, emulator: GatewayEmulator, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "c.csv", 3, text="Café naïve {i}", encoding="latin-1")
    text = refused(invoke("bulk", source))
    assert "is not valid utf-8" in text and "--encoding latin-1" in text
    nothing_sent(emulator)
    result = invoke("bulk", source, "--encoding", "latin-1", "--wire", "one-api", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(m.text for m in emulator.recorder.messages) == [
        f"Café naïve {i}" for i in range(3)
    ]


def test_bulk_dry_run_counts_parts_as_the_platform_does(
    invoke: Invoke, emulator: GatewayEmulator, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "c.csv", 2, text="Привет {i}")
    result = invoke("bulk", source, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "UCS-2" in result.output and "2 messages, 2 parts" in result.output
    nothing_sent(emulator)


def test_bulk_dry_run_names_the_rows_the_platform_would_refuse(
    invoke: Invoke, emulator: GatewayEmulator, tmp_path: Path
) -> None:
    source = tmp_path / "c.csv"
    source.write_text(
        "to,text,queue,unicode,validity\n"
        "27821234567,Hello,,,\n"
        "27821234568,Hello,2,,\n"
        "27821234569,Hi,,1,\n"
        "27821234570,Hi,,,30\n"
    )
    platform = " ".join(invoke("bulk", source, "--dry-run").output.split())
    assert "valid messages 2 invalid rows 2" in platform
    assert "row 2: queue: is not available on the platform wire" in platform
    assert "row 3: unicode: is not available on the platform wire" in platform
    one_api = " ".join(invoke("bulk", source, "--dry-run", "--wire", "one-api").output.split())
    assert "valid messages 1 invalid rows 3" in one_api
    assert "row 4: validity: is not available on the one-api wire" in one_api
    nothing_sent(emulator)


@pytest.fixture
def lossy(emulator: GatewayEmulator) -> GatewayEmulator:
    # Request 1 and 3: committed, reply lost; request 4: refused with 503 before the commit
    # (resent); its resend: committed, reply lost.
    emulator.faults = Faults(
        script=("drop_after_commit", None, "err901_after_commit", "err901_before_commit"),
    )
    return emulator


@pytest.mark.parametrize("wire", ["platform", "one-api"])
def test_bulk_journal_lost_replies_end_unknown_and_a_rerun_sends_nothing_twice(
    invoke: Invoke, lossy: GatewayEmulator, tmp_path: Path, wire: str
) -> None:
    source = write_csv(tmp_path / "c.csv", 8)
    results = tmp_path / "out.csv"
    journal = tmp_path / "j.db"
    args = ("bulk", source, "-o", results, "--journal", journal, "--concurrency", "1")
    first = invoke(*args, "--wire", wire)
    assert first.exit_code == 1, first.output
    assert " ".join(first.output.split()).count("outcome unknown 2") == 1
    rows = {r["to"]: r for r in read_results(results)}
    unknown = {to for to, r in rows.items() if r["status"] == "unknown"}
    assert unknown == {"27820000000", "27820000002"}
    assert all(rows[to]["apimsgid"] == "" for to in unknown)
    assert {r["status"] for to, r in rows.items() if to not in unknown} == {"accepted"}
    # Every message reached the platform once: the lost replies were never resent, the
    # 503 was (it had not been taken).
    assert committed(lossy) == {f"2782000{i:04d}": 1 for i in range(8)}
    requests = len(lossy.recorder.arrivals)

    again = invoke(*args, "--wire", wire)
    assert again.exit_code == 1, again.output
    assert committed(lossy) == {f"2782000{i:04d}": 1 for i in range(8)}
    assert len(lossy.recorder.arrivals) == requests + 1  # the balance probe only
    rows_again = {r["to"]: r for r in read_results(results)}
    assert {to for to, r in rows_again.items() if r["status"] == "unknown"} == unknown
    assert {to: r["apimsgid"] for to, r in rows_again.items()} == {
        to: r["apimsgid"] for to, r in rows.items()
    }


def test_bulk_journal_keeps_no_key_and_refuses_another_account(
    invoke: Invoke, lossy: GatewayEmulator, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "c.csv", 4)
    results = tmp_path / "out.csv"
    journal = tmp_path / "j.db"
    args = ("bulk", source, "-o", results, "--journal", journal, "-q", "--concurrency", "1")
    assert invoke(*args, "--wire", "one-api").exit_code == 1  # two unknown: not finished
    with sqlite3.connect(journal) as db:
        dump = "\n".join(db.iterdump())
    assert KEY not in dump
    written = results.read_text()
    # Its requests in flight are known to that account only: another key, or the legacy
    # account of the same emulator, must not resume it.
    for env in ({"ASMS_API_KEY": OTHER_KEY}, {**ENV, "ASMS_API_KEY": None}):
        text = refused(invoke(*args, env=env))
        assert "another" in text, text
    assert results.read_text() == written
    assert committed(lossy) == {f"2782000{i:04d}": 1 for i in range(4)}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_bulk_interrupted_on_the_platform_resumes_without_sending_twice(
    tmp_path: Path,
) -> None:
    from asms.testing import running_emulator

    rows = 60
    source = write_csv(tmp_path / "c.csv", rows)
    results = tmp_path / "out.csv"
    journal = tmp_path / "j.db"
    # Replies come 0.6 s after the commit: requests are in flight when the signals come.
    emulator = GatewayEmulator(
        accounts=[cli_account(credits=1_000.0)],
        integrations=[Integration(key=KEY)],
        faults=Faults(latency=0.6),
    )
    env = {"ASMS_API_KEY": KEY}
    args = ("bulk", str(source), "-o", str(results), "--journal", str(journal), "--rate", "200")
    with running_emulator(emulator) as url:
        process = start(*args, base_url=url, env=env, account=False)
        deadline = time.monotonic() + 30
        while emulator.statistics().messages < 5:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)  # the second one interrupts what is in flight
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert KEY not in err and "Traceback" not in err
        assert "cannot look a message up by climsgid" in " ".join(err.split())
        first = committed(emulator)
        states = {r["to"]: r["status"] for r in read_results(results)}
        assert "unknown" in states.values()

        emulator.faults = Faults()
        resumed = start(*args, base_url=url, env=env, account=False)
        _, err = resumed.communicate(timeout=30)
        assert resumed.returncode in (0, 1), err
        assert KEY not in err
        final = committed(emulator)
    assert set(final.values()) == {1}  # nothing twice
    assert set(final) >= set(first)
    rows_after = {r["to"]: r for r in read_results(results)}
    assert len(rows_after) == rows
    for to, state in states.items():
        if state == "unknown":
            # Never resent: still unknown on the rerun (the platform cannot be asked).
            assert rows_after[to]["status"] == "unknown"
    for to, row in rows_after.items():
        assert row["status"] in ("accepted", "unknown"), row
        assert (row["status"] == "accepted") <= (to in final)
    not_read = {to for to in rows_after if to not in states}
    assert not_read <= set(final)  # the rows the first run never read were sent now


# -- secrets and help -----------------------------------------------------------------------


def test_a_debug_log_never_shows_the_key(base_url: str) -> None:
    # A key the emulator refuses: the request is logged and so is the refusal.
    key = "wrong-key-9d8c7b6a"
    process = start(
        "send", "27821234567", "-t", "Hi", "--wire", "one-api",
        base_url=base_url, env={"ASMS_API_KEY": key, "ASMS_LOG": "debug"}, account=False,
    )  # fmt: skip
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "DEBUG" in err and "authentication failed" in err
    assert key not in out + err


@pytest.mark.parametrize("command", [(), ("send",), ("bulk",), ("status",), ("balance",)])
def test_help_names_the_api_key(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "ASMS_API_KEY" in result.output
    if command:
        assert "one-api" in result.output


def test_a_one_api_status_without_a_legacy_twin_is_named() -> None:
    from asms._cli.commands import _status_description
    from asms._codes import MessageStatus
    from asms._platform_codes import OneApiStatus

    assert _status_description(OneApiStatus.EMULATED) == "Emulated"
    assert _status_description(MessageStatus.MESSAGE_QUEUED) == "Message queued"
    assert _status_description(77) is None


def test_a_results_file_that_takes_no_writes_is_refused_before_sending(
    invoke: Invoke, emulator: GatewayEmulator, tmp_path: Path
) -> None:
    # /dev/full: every write fails (a full disk). Before, the run sent every message, then
    # died with a traceback when the results were written: their results were lost.
    source = write_csv(tmp_path / "in.csv", 3)
    text = refused(invoke("bulk", source, "--results", "/dev/full", "-q"))
    assert "cannot write /dev/full: No space left on device" in text
    assert emulator.statistics().messages == 0  # nothing sent (the balance check only)


def test_results_that_stop_being_writable_stop_the_run(
    invoke: Invoke, emulator: GatewayEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills up mid-run: sending stops, and the journal keeps what was sent.
    from asms._cli import _rows

    written: list[int] = []
    real = _rows.ResultsWriter._write

    def write(self: _rows.ResultsWriter, row: object) -> None:
        written.append(1)
        if len(written) > 3:  # the header and two rows, then the disk is full
            self.error = OSError(28, "No space left on device")
            return
        real(self, row)  # type: ignore[arg-type]

    monkeypatch.setattr(_rows.ResultsWriter, "_write", write)
    source = write_csv(tmp_path / "in.csv", 400, text="Hello")  # two 200-recipient requests
    journal = tmp_path / "run.db"
    result = invoke(
        "bulk",
        source,
        "--journal",
        journal,
        "--results",
        tmp_path / "out.csv",
        "-q",
        "--concurrency",
        "1",
    )
    text = refused(result)
    assert "No space left on device; the run stopped" in text
    assert f"the journal {journal} keeps every result" in text
    assert emulator.statistics().messages < 400  # it did stop sending
    assert emulator.recorder.duplicates() == {}
