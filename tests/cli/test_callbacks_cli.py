"""``asms callbacks``: authentication warnings, the store option, and logs without the secret."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from helpers.cli import start, start_receiver

from asms._cli.callbacks import callbacks


def test_refuses_a_public_address_without_authentication() -> None:
    result = CliRunner().invoke(callbacks, ["--host", "0.0.0.0", "--port", "0"], env={})
    assert result.exit_code == 2
    assert "without authentication" in result.output
    assert "--insecure-no-auth" in result.output
    assert not Path(os.environ["XDG_STATE_HOME"]).exists()  # a refused start makes no store


def test_store_and_journal_are_exclusive(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        callbacks,
        ["--port", "0", "--store", str(tmp_path / "a"), "--journal", str(tmp_path / "b")],
        env={},
    )
    assert result.exit_code == 2
    assert "--store or --journal" in result.output


def test_unusable_store_path_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(
        callbacks, ["--port", "0", "--store", str(blocker / "sub" / "cb.sqlite3")], env={}
    )
    assert result.exit_code == 2
    assert "no such folder" in result.output  # "file" is a file: nothing is created there


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop the receiver; its output (read from the file objects, which may hold buffered
    lines already: communicate() would bypass them)."""
    process.terminate()
    process.wait(20)
    assert process.stdout is not None and process.stderr is not None
    return process.stdout.read(), process.stderr.read()


def test_access_log_hides_the_secret_and_the_store_survives_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "callbacks.sqlite3"
    form = {"apiMsgId": "b" * 32, "to": "27821234567", "status": "004", "timestamp": "1"}
    outputs = []
    for _ in range(2):
        process, port = start_receiver(
            "--secret-path", "hook-9q1z", "--access-log", "--store", str(store)
        )
        try:
            base = f"http://127.0.0.1:{port}"
            assert httpx.post(f"{base}/hook-9q1z/status", data=form).status_code == 200
            assert httpx.get(f"{base}/hook-9q1z/nowhere").status_code == 404
        finally:
            out, err = _stop(process)
        outputs.append((out, err))
    (first_out, first_err), (second_out, second_err) = outputs
    assert len(first_out.splitlines()) == 1  # handled by the first process
    assert second_out == ""  # a replay after the restart: acknowledged, not handled again
    for err in (first_err, second_err):
        assert "hook-9q1z" not in err
        assert "/***/status" in err  # the access log line, redacted
        assert "Logging error" not in err  # uvicorn's formatter got its five arguments
        assert "/nowhere" in err  # the refused path is logged
        assert "Warning: handled events" not in err


def test_warns_without_authentication_or_with_no_store(monkeypatch: pytest.MonkeyPatch) -> None:
    # --no-store beats ASMS_CALLBACK_STORE (the environment) and creates no file.
    monkeypatch.setenv("ASMS_CALLBACK_STORE", "/nonexistent-asms/callbacks.sqlite3")
    process, port = start_receiver("--no-store")
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/elsewhere").status_code == 404
    finally:
        _, err = _stop(process)
    assert "Warning: no authentication" in err
    assert "Warning: handled events are remembered in memory only" in err
    assert "recorded in" not in err


def test_the_default_store_is_the_users_file_and_survives_a_restart(tmp_path: Path) -> None:
    # Hermetic: the conftest fixture points XDG_STATE_HOME at this test's tmp dir.
    state = Path(os.environ["XDG_STATE_HOME"])
    assert state == tmp_path / "state" and not state.exists()
    store = state / "asms" / "callbacks.sqlite3"
    form = {"apiMsgId": "c" * 32, "to": "27821234567", "status": "004", "timestamp": "1"}
    outputs = []
    for _ in range(2):
        process, port = start_receiver()
        try:
            assert httpx.post(f"http://127.0.0.1:{port}/status", data=form).status_code == 200
        finally:
            outputs.append(_stop(process))
    (first_out, first_err), (second_out, second_err) = outputs
    assert len(first_out.splitlines()) == 1
    assert second_out == ""  # the restarted receiver knew the event: not handled again
    for err in (first_err, second_err):
        assert f"Handled events are recorded in {store}" in err
        assert "Warning: handled events" not in err
    assert store.is_file()
    assert stat.S_IMODE((state / "asms").stat().st_mode) == 0o700


def test_the_store_file_comes_from_asms_callback_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "own" / "cb.sqlite3"
    monkeypatch.setenv("ASMS_CALLBACK_STORE", str(store))
    process, port = start_receiver()
    try:  # answered: it is serving, past its start-up lines
        assert httpx.get(f"http://127.0.0.1:{port}/elsewhere").status_code == 404
    finally:
        _, err = _stop(process)
    assert f"Handled events are recorded in {store}" in err
    assert store.is_file() and not (tmp_path / "state").exists()


@pytest.mark.parametrize("other", [["--store", "cb.sqlite3"], ["--journal", "j.db"]])
def test_no_store_and_a_store_are_exclusive(other: list[str]) -> None:
    result = CliRunner().invoke(callbacks, ["--port", "0", "--no-store", *other], env={})
    assert result.exit_code == 2
    assert "--no-store or --store/--journal" in result.output


def test_access_log_hides_a_2017_status_callbacks_api_key(tmp_path: Path) -> None:
    # The Platform's 2017 status callbacks carry the integration's API key in the query.
    query = {
        "apiKey": "k3y-of-the-integration",
        "messageId": "d" * 32,
        "clientMessageId": "c1",
        "to": "27821234567",
        "status": "RECEIVED_BY_RECIPIENT",
        "timestamp": "1764930000000",
    }
    process, port = start_receiver(
        "--secret-path", "hook-9q1z", "--access-log", "--store", str(tmp_path / "s.db")
    )
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/hook-9q1z/status", params=query)
        assert reply.status_code == 200
    finally:
        _, err = _stop(process)
    assert "k3y-of-the-integration" not in err
    assert "apiKey=***" in err


def test_a_journal_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "campaign.db"
    result = CliRunner().invoke(callbacks, ["--port", "0", "--journal", str(missing)], env={})
    assert result.exit_code == 2
    assert "no such folder" in result.output
    assert not missing.parent.exists()


def _status_form(n: int) -> dict[str, str]:
    return {"apiMsgId": f"{n:032x}", "to": "27821234567", "status": "004", "timestamp": "1"}


def _post(port: int, n: int) -> int | None:
    """The receiver's answer to status event ``n``; None when it no longer listens."""
    try:
        return httpx.post(f"http://127.0.0.1:{port}/status", data=_status_form(n)).status_code
    except httpx.TransportError:
        return None


def _handled_after_a_restart(store: Path, n: int) -> bool:
    """Whether a new receiver on ``store`` handles (prints) event ``n``: it was not recorded
    as handled before."""
    process, port = start_receiver("--store", str(store))
    try:
        assert _post(port, n) == 200
    finally:
        out, _ = _stop(process)
    return f"{n:032x}" in out


@pytest.mark.parametrize("as_json", [True, False])
def test_events_are_not_recorded_when_the_output_is_closed(tmp_path: Path, as_json: bool) -> None:
    # Before: `asms callbacks | head -1` answered 200 and recorded every later event as
    # handled without printing it: lost for good (the gateway does not send it again).
    store = tmp_path / "callbacks.sqlite3"
    if as_json:
        process, port = start_receiver("--store", str(store))
    else:  # the console's lines
        process = start("callbacks", "--port", "0", "--store", str(store), account=False)
        assert process.stderr is not None
        found = re.search(r"127\.0\.0\.1:(\d+)", process.stderr.readline())
        assert found is not None
        port = int(found.group(1))
    assert process.stdout is not None
    assert _post(port, 1) == 200
    assert f"{1:032x}" in process.stdout.readline()
    process.stdout.close()  # the reader goes away, as `| head -1` does
    answers = [_post(port, n) for n in (2, 3)]
    assert answers[0] == 503 and answers[1] in (503, None)
    assert process.wait(20) is not None  # it stopped: nobody reads its events
    assert _handled_after_a_restart(store, 2)


def test_count_refuses_events_beyond_it(tmp_path: Path) -> None:
    # Before: --count N handled (and recorded) every event that arrived before it stopped,
    # printing more than N: a reader trusting N lost the others.
    store = tmp_path / "callbacks.sqlite3"
    process, port = start_receiver("--store", str(store), "--count", "1")
    assert process.stdout is not None
    assert _post(port, 1) == 200
    assert _post(port, 2) in (503, None)
    out, _ = process.communicate(timeout=20)
    assert f"{1:032x}" in out and f"{2:032x}" not in out
    assert _handled_after_a_restart(store, 2)


def test_the_access_log_hides_a_percent_encoded_secret_segment() -> None:
    # `/%73%33cr3t/` reaches the `s3cr3t` route: it was logged as it came, secret and all.
    from asms._cli.callbacks import _Redact

    redact = _Redact("s3cr3t")
    assert (
        redact._mask('"POST /%73%33cr3t/status HTTP/1.1" 200') == '"POST /***/status HTTP/1.1" 200'
    )
    assert (
        redact._mask('"GET /s3cr3tx/status?a=%20b HTTP/1.1"') == '"GET /***/status?a=%20b HTTP/1.1"'
    )
    # A long query is kept whole (its masking scans each segment once).
    line = '"GET /s3cr3t/status?apiMsgId=x&pad=' + "a" * 60_000 + ' HTTP/1.1"'
    assert redact._mask(line) == line.replace("/s3cr3t/", "/***/")


def test_a_given_store_in_a_missing_folder_is_refused_and_a_new_store_is_private(
    tmp_path: Path,
) -> None:
    # Before: --store /typo/dir/x.db made /typo (0755) and dir, and started an empty store;
    # and the file, which lists the user's numbers, was readable by everyone (0644).
    missing = tmp_path / "typo" / "dir" / "x.db"
    result = CliRunner().invoke(callbacks, ["--port", "0", "--store", str(missing)], env={})
    assert result.exit_code == 2 and "no such folder" in result.output
    assert not (tmp_path / "typo").exists()
    store = tmp_path / "cb.sqlite3"
    process, port = start_receiver("--store", str(store))
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/elsewhere").status_code == 404
    finally:
        _stop(process)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_callback_fields_cannot_forge_output_or_send_terminal_escapes() -> None:
    from asms._cli.callbacks import _safe_field as _shown

    assert _shown("2782\n1234567") == "2782\\n1234567"
    assert _shown("evil\x1b[2Jfake") == "evil\\x1b[2Jfake"
    assert _shown("café") == "café"
