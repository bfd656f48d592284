"""``asms bulk`` as a real process against the emulator over a socket.

The acceptance tests of the command: a 10,000-row CSV gives a results file with one row per
input row; a run killed with SIGKILL and rerun with the same ``--journal`` completes the
campaign without the gateway committing any message twice.
"""

from __future__ import annotations

import csv
import io
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers.cli import PASSWORD, cli_result, read_results, start
from helpers.emulator import committed
from rich.console import Console

from asms.testing import GatewayEmulator

ROWS = 10_000
FIRST_NUMBER = 27_820_000_000


def write_campaign(path: Path, rows: int = ROWS) -> Path:
    """Unique numbers; runs of one shared text (sent grouped) and personalised texts (alone)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "text", "callback"])
        for i in range(rows):
            personal = i % 50 == 0
            text = f"Your code is {i:05d}" if personal else f"Spring offer, wave {i // 1000}"
            writer.writerow([str(FIRST_NUMBER + i), text, "1" if personal else ""])
    return path


def test_ten_thousand_rows_give_ten_thousand_results(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    campaign = write_campaign(tmp_path / "campaign.csv")
    results = tmp_path / "results.csv"
    process = start(
        "bulk", str(campaign), "--results", str(results), "--rate", "5000", base_url=base_url
    )
    out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    assert PASSWORD not in out + err
    rows = read_results(results)
    assert len(rows) == ROWS
    assert sorted(int(r["row"]) for r in rows) == list(range(1, ROWS + 1))
    for r in rows:
        assert r["to"] == str(FIRST_NUMBER + int(r["row"]) - 1)
        assert r["status"] == "accepted"
        assert len(r["apimsgid"]) == 32
    assert f"{ROWS:,} rows" in err
    counts = committed(emulator)
    assert len(counts) == ROWS
    assert set(counts.values()) == {1}
    # Shared texts went grouped: far fewer requests than messages.
    assert emulator.statistics().commits < ROWS // 5


def test_killed_run_resumes_from_the_journal_without_duplicates(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    campaign = write_campaign(tmp_path / "campaign.csv")
    results = tmp_path / "results.csv"
    journal = tmp_path / "campaign.db"
    args = (str(campaign), "--results", str(results), "--journal", str(journal))
    args += ("--rate", "2000")

    first = start("bulk", *args, base_url=base_url)
    deadline = time.monotonic() + 60
    while emulator.statistics().messages < 1_500:
        assert first.poll() is None, first.communicate()[1]
        assert time.monotonic() < deadline, "the first run made no progress"
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    sent_before = emulator.statistics().messages
    assert sent_before < ROWS, "the kill came too late to test anything"
    assert max(committed(emulator).values()) == 1

    second = start("bulk", *args, base_url=base_url)
    _, err = second.communicate(timeout=90)
    # 0, or 1 when the kill cut off the reply to a committed multi-recipient request: the
    # lookup then names only one message, so its other recipients stay unknown (never resent).
    assert second.returncode in (0, 1), err
    flat = " ".join(err.split())
    assert "resumed from journal" in flat
    counts = committed(emulator)
    assert len(counts) == ROWS, "some messages were never sent"
    duplicated = {to: n for to, n in counts.items() if n > 1}
    assert duplicated == {}
    assert emulator.recorder.duplicates() == {}
    rows = read_results(results)
    assert len(rows) == ROWS
    assert sorted(int(r["row"]) for r in rows) == list(range(1, ROWS + 1))
    unknown = [r for r in rows if r["status"] != "accepted"]
    assert {r["status"] for r in unknown} <= {"unknown"}
    assert all("found by its climsgid" in r["error_description"] for r in unknown)
    assert (second.returncode == 1) == bool(unknown)

    before = emulator.statistics().commits
    if unknown:
        # Unfinished: a rerun only looks the unknown ones up again, and sends nothing.
        again = start("bulk", *args, base_url=base_url)
        _, err = again.communicate(timeout=90)
        assert again.returncode == 1, err
        assert emulator.statistics().commits == before
        return
    # The campaign finished: a third run is refused; replayed, it rewrites the results from
    # the journal and sends nothing at all.
    refused = start("bulk", *args, base_url=base_url)
    _, err = refused.communicate(timeout=90)
    assert refused.returncode == 2, err
    assert "finished" in err and "--replay" in err
    third = start("bulk", *args, "--replay", base_url=base_url)
    _, err = third.communicate(timeout=90)
    assert third.returncode == 0, err
    assert emulator.statistics().commits == before
    assert len(read_results(results)) == ROWS


# -- smaller runs in process -------------------------------------------------------------------


def test_invalid_and_rejected_rows_are_reported(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    emulator.blocked.add("27821000003")
    campaign = tmp_path / "mixed.csv"
    campaign.write_text(
        "to,text,from\n"
        "27821000001,Hello,Shop\n"
        "12,Too short a number,\n"
        "27821000003,Blocked at the gateway,\n"
        "27821000004,,\n"
        "27821000005,Bye,\n"
    )
    results = tmp_path / "out.csv"
    result = cli_result(
        base_url, "bulk", str(campaign), "-o", str(results), "--from", "Default", "--rate", "1000"
    )
    assert result.exit_code == 1, result.output
    rows = {int(r["row"]): r for r in read_results(results)}
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert rows[1]["status"] == rows[5]["status"] == "accepted"
    assert rows[2]["status"] == rows[4]["status"] == "invalid"
    assert "to" in rows[2]["error_description"]
    assert rows[3]["status"] == "rejected"
    assert rows[3]["error_code"] == "121"
    senders = {m.to: m.from_ for m in emulator.recorder.messages}
    assert senders == {"27821000001": "Shop", "27821000005": "Default"}


def test_a_wrong_password_is_said_in_one_line_and_every_row_is_written(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    campaign = tmp_path / "campaign.csv"
    lines = ["to,text"] + [f"2782100{i:04d},Hello {i}" for i in range(50)]
    campaign.write_text("\n".join(lines) + "\n")
    results = tmp_path / "out.csv"
    args = ["bulk", str(campaign), "-o", str(results), "--rate", "1000"]
    result = cli_result(base_url, *args, env={"ASMS_PASSWORD": "not-the-password"})
    assert result.exit_code == 2, result.output
    said = [line for line in result.output.splitlines() if "authentication failed" in line]
    assert len(said) == 1 and said[0].startswith("Error: authentication failed (ERR 001")
    assert "not-the-password" not in result.output
    rows = read_results(results)
    assert sorted(int(r["row"]) for r in rows) == list(range(1, 51))
    states = Counter(r["status"] for r in rows)
    assert set(states) == {"rejected", "not_sent"}
    tried = [r for r in rows if r["status"] == "rejected"]
    assert {r["error_code"] for r in tried} == {"001"}
    assert states["not_sent"] == 50 - len(tried)
    refused = "not sent: the gateway refused the account (ERR 001)"
    assert {r["error_description"] for r in rows if r["status"] == "not_sent"} == {refused}
    assert emulator.statistics().messages == 0
    assert "50 rows" in result.output


def test_default_results_path_and_quiet(tmp_path: Path, base_url: str) -> None:
    campaign = write_campaign(tmp_path / "small.csv", rows=20)
    result = cli_result(base_url, "bulk", str(campaign), "--quiet", "--rate", "1000")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert len(read_results(tmp_path / "small.results.csv")) == 20


def test_journal_of_another_input_is_refused(tmp_path: Path, base_url: str) -> None:
    journal = tmp_path / "j.db"
    first = write_campaign(tmp_path / "a.csv", rows=5)
    ok = cli_result(base_url, "bulk", str(first), "--journal", str(journal))
    assert ok.exit_code == 0, ok.output
    other = tmp_path / "b.csv"
    other.write_text("to,text\n27829999999,Something else\n")
    args = ["bulk", str(other), "--journal", str(journal), "--replay"]
    refused = cli_result(base_url, *args)
    assert refused.exit_code == 2, refused.output
    assert "another input" in refused.output


def test_progress_bar_on_a_terminal(
    tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asms._cli.bulk as bulk_module

    screen = io.StringIO()

    def terminal() -> Console:
        return Console(file=screen, force_terminal=True, width=120)

    monkeypatch.setattr(bulk_module, "err_console", terminal)
    campaign = write_campaign(tmp_path / "small.csv", rows=120)
    result = cli_result(base_url, "bulk", str(campaign), "--rate", "2000")
    assert result.exit_code == 0, result.output
    shown = screen.getvalue()
    assert "sending" in shown
    assert "120/120" in shown


@pytest.mark.parametrize("wire", ["soap", "soap-rpc"])
def test_bulk_over_soap(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator, wire: str
) -> None:
    campaign = write_campaign(tmp_path / "small.csv", rows=120)
    results = tmp_path / "out.csv"
    result = cli_result(
        base_url, "bulk", str(campaign), "-o", str(results), "--wire", wire, "--rate", "2000"
    )
    assert result.exit_code == 0, result.output
    assert {r["status"] for r in read_results(results)} == {"accepted"}
    assert len(committed(emulator)) == 120


def test_group_size_sends_each_shared_text_message_alone(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    # One text for 30 rows: one request without --group-size, 30 with --group-size 1 (what a
    # One API campaign needs for its status callbacks to settle each message).
    campaign = tmp_path / "same.csv"
    campaign.write_text("to,text\n" + "".join(f"{FIRST_NUMBER + i},Same\n" for i in range(30)))
    before = emulator.statistics().commits
    args = ["bulk", str(campaign), "--quiet", "--rate", "1000", "--group-size", "1"]
    result = cli_result(base_url, *args)
    assert result.exit_code == 0, result.output
    assert emulator.statistics().commits - before == 30
    assert len(read_results(tmp_path / "same.results.csv")) == 30
