"""What a new user meets with ``asms bulk`` and ``asms send`` files and output (issue 14).

Bad input files are one line and exit 2, before anything is sent or the results file is
touched; results cells a spreadsheet would run as formulas are escaped; ids are never
wrapped; a run not on a terminal reports progress in lines; a journal mismatch names the
CSV row.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import ROOT
from helpers.cli import invoke, make_cli, one_line, read_results, run
from rich.console import Console

import asms._cli.bulk as bulk_module
import asms._cli.commands as commands_module
from asms.testing import GatewayEmulator

FIRST = 27_820_000_000


def latin1_campaign(path: Path, good_rows: int) -> Path:
    """``good_rows`` ASCII rows, then one row with an é in Latin-1 (not valid UTF-8)."""
    lines = [b"to,text\n"]
    lines += [b"%d,Hello number %d\n" % (FIRST + i, i) for i in range(good_rows)]
    lines.append(b"%d,Caf\xe9 opens at nine\n" % (FIRST + good_rows))
    path.write_bytes(b"".join(lines))
    return path


# -- item 5: encodings ---------------------------------------------------------------------


def test_a_latin1_file_is_refused_before_anything_is_sent(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    campaign = latin1_campaign(tmp_path / "in.csv", good_rows=6_000)
    results = tmp_path / "out.csv"
    results.write_text("an earlier run's results\n")
    code, output = invoke(base_url, "bulk", str(campaign), "-o", str(results))
    assert code == 2, output
    line = one_line(output)
    assert str(campaign) in line
    assert "line 6002" in line  # header + 6,000 rows before it
    assert "byte offset" in line and "0xE9" in line
    assert "UTF-8" in line and "--encoding latin-1" in line
    assert emulator.statistics().messages == 0
    assert results.read_text() == "an earlier run's results\n"


def test_a_bad_byte_in_the_header_is_one_line(tmp_path: Path, base_url: str) -> None:
    campaign = tmp_path / "in.csv"
    campaign.write_bytes(b"to,t\xe9xt\n27821234567,hi\n")
    code, output = invoke(base_url, "bulk", str(campaign), "--dry-run")
    assert code == 2, output
    assert "line 1 " in one_line(output)


def test_encoding_option_sends_every_row(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    campaign = latin1_campaign(tmp_path / "in.csv", good_rows=200)
    results = tmp_path / "out.csv"
    args = ("bulk", str(campaign), "-o", str(results), "--encoding", "latin-1", "--rate", "5000")
    code, output = invoke(base_url, *args)
    assert code == 0, output
    rows = read_results(results)
    assert sorted(int(r["row"]) for r in rows) == list(range(1, 202))
    assert {r["status"] for r in rows} == {"accepted"}
    texts = {m.to: m.text for m in emulator.recorder.messages}
    assert len(emulator.recorder.messages) == 201
    assert texts[str(FIRST + 200)] == "Café opens at nine"


def test_an_unknown_encoding_is_one_line(tmp_path: Path, base_url: str) -> None:
    campaign = latin1_campaign(tmp_path / "in.csv", good_rows=1)
    code, output = invoke(base_url, "bulk", str(campaign), "--encoding", "klingon")
    assert code == 2, output
    assert "--encoding" in one_line(output) and "klingon" in output


def test_a_file_that_stops_decoding_mid_run_keeps_every_row_read(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the file were replaced after the up-front check: the run stops with one line,
    # and every row it read has its result; none is skipped without one.
    monkeypatch.setattr(bulk_module, "check_encoding", lambda *args: None, raising=False)
    monkeypatch.setattr(bulk_module, "check_csv", lambda *args: 6_001, raising=False)
    campaign = latin1_campaign(tmp_path / "in.csv", good_rows=6_000)
    results = tmp_path / "out.csv"
    code, output = invoke(base_url, "bulk", str(campaign), "-o", str(results), "--rate", "1e5")
    assert code == 2, output
    assert "Traceback" not in output
    assert f"{campaign}: not valid utf-8" in output
    assert "--encoding latin-1" in output
    rows = read_results(results)
    numbers = sorted(int(r["row"]) for r in rows)
    assert numbers == list(range(1, len(numbers) + 1))
    assert {r["status"] for r in rows} == {"accepted"}
    assert len(emulator.recorder.messages) == len(rows)


# -- item 5: other bad files -----------------------------------------------------------------


def _missing(tmp: Path) -> list[str]:
    return [str(tmp / "nope.csv")]


def _directory(tmp: Path) -> list[str]:
    (tmp / "folder").mkdir()
    return [str(tmp / "folder")]


def _empty(tmp: Path) -> list[str]:
    (tmp / "in.csv").write_text("")
    return [str(tmp / "in.csv")]


def _no_to(tmp: Path) -> list[str]:
    (tmp / "in.csv").write_text("phone,text\n27821234567,hi\n")
    return [str(tmp / "in.csv")]


def _no_text(tmp: Path) -> list[str]:
    (tmp / "in.csv").write_text("to,body\n27821234567,hi\n")
    return [str(tmp / "in.csv")]


def _results_in_missing_directory(tmp: Path) -> list[str]:
    (tmp / "in.csv").write_text("to,text\n27821234567,hi\n")
    return [str(tmp / "in.csv"), "-o", str(tmp / "no" / "such" / "out.csv")]


def _results_is_a_directory(tmp: Path) -> list[str]:
    (tmp / "in.csv").write_text("to,text\n27821234567,hi\n")
    (tmp / "out").mkdir()
    return [str(tmp / "in.csv"), "-o", str(tmp / "out")]


def _journal_in_missing_directory(tmp: Path) -> list[str]:
    (tmp / "in.csv").write_text("to,text\n27821234567,hi\n")
    return [str(tmp / "in.csv"), "--journal", str(tmp / "no" / "j.db")]


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (_missing, "nope.csv: no such file"),
        (_directory, "folder is a directory"),
        (_empty, "empty"),
        (_no_to, "'to'"),
        (_no_text, "'text'"),
        (_results_in_missing_directory, "does not exist"),
        (_results_is_a_directory, "is a directory"),
        (_journal_in_missing_directory, "j.db"),
    ],
)
def test_bad_files_are_one_line_and_exit_2(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator, make: object, needle: str
) -> None:
    assert callable(make)
    args = make(tmp_path)
    default_results = tmp_path / "in.results.csv"
    default_results.write_text("keep me\n")
    code, output = invoke(base_url, "bulk", *args)
    assert code == 2, output
    assert needle in one_line(output)
    assert default_results.read_text() == "keep me\n"
    assert emulator.statistics().messages == 0


def test_an_unreadable_file_is_one_line(
    tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = tmp_path / "in.csv"
    campaign.write_text("to,text\n27821234567,hi\n")
    campaign.chmod(0)
    if os.name != "posix" or os.geteuid() == 0:
        # Root (as in CI) reads any file: make the file refuse the open as it would for a user.
        real_open = Path.open

        def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == campaign:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refusing_open)
    code, output = invoke(base_url, "bulk", str(campaign))
    assert code == 2, output
    assert "Permission denied" in one_line(output)


# -- item 8b: formulas in results ------------------------------------------------------------


def test_formula_cells_are_escaped_in_results_only(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    campaign = tmp_path / "in.csv"
    with campaign.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "text", "climsgid"])
        writer.writerow(['=HYPERLINK("http://evil.example","click")', "a", ""])
        writer.writerow(["@SUM(A1:A9)", "b", ""])
        writer.writerow(["27821234568", "c", "-2+3"])  # not alphanumeric: invalid
        writer.writerow(["+2782123456789012345", "d", ""])  # too long: invalid, but a number
        writer.writerow(["-5", "e", ""])
        writer.writerow(["27821234567", "=1+1 is the formula sent as text", ""])
    results = tmp_path / "out.csv"
    code, output = invoke(base_url, "bulk", str(campaign), "-o", str(results))
    assert code == 1, output
    rows = {int(r["row"]): r for r in read_results(results)}
    to = {number: r["to"] for number, r in rows.items()}
    assert to[1] == '\'=HYPERLINK("http://evil.example","click")'
    assert to[2] == "'@SUM(A1:A9)"
    assert rows[3]["climsgid"] == "'-2+3"
    assert to[4] == "+2782123456789012345"
    assert to[5] == "-5"
    assert to[6] == "27821234567"
    [sent] = emulator.recorder.messages
    assert sent.text == "=1+1 is the formula sent as text"


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(1)", "'+SUM(1)"),
        ("-2+3", "'-2+3"),
        ("@A1", "'@A1"),
        ("\r=1", "'\r=1"),
        ("+27821234567", "+27821234567"),
        ("+27 82 123 4567", "+27 82 123 4567"),
        ("-12.5", "-12.5"),
        ("27821234567", "27821234567"),
        ("Invalid destination", "Invalid destination"),
        ("", ""),
    ],
)
def test_safe_cell(cell: str, written: str) -> None:
    from asms._cli._rows import safe_cell

    assert safe_cell(cell) == written


# -- item 7: output that works piped and at 80 columns -------------------------------------


AT_80_COLUMNS = {"COLUMNS": "80"}


def test_send_piped_at_80_columns_never_wraps_ids(base_url: str, emulator: GatewayEmulator) -> None:
    climsgid = "c" * 32
    args = ("send", "27821234567", "-t", "Hi", "--climsgid", climsgid)
    done = run(*args, base_url=base_url, env=AT_80_COLUMNS)
    assert done.returncode == 0, done.stderr
    [sent] = emulator.recorder.messages
    lines = done.stdout.splitlines()
    assert lines[0] == "1 of 1 accepted"
    assert lines[1].split("\t") == ["to", "result", "apimsgid", "climsgid", "parts"]
    assert lines[2].split("\t") == ["27821234567", "accepted", sent.apimsgid, climsgid, "1"]


@pytest.mark.parametrize("width", [80, 120])
def test_send_on_a_terminal_never_wraps_ids(
    base_url: str, emulator: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    screen = io.StringIO()

    def terminal() -> Console:
        return Console(file=screen, force_terminal=True, width=width, highlight=False)

    monkeypatch.setattr(commands_module, "out_console", terminal)
    code, output = invoke(base_url, "send", "27821234567,27821234568", "-t", "Hi")
    assert code == 0, output
    sent = emulator.recorder.messages
    assert len(sent) == 2
    if width == 80:
        # Two whole 32-character ids do not fit in 80 columns: plain lines instead.
        assert screen.getvalue() == ""
        rows = [line.split("\t") for line in output.splitlines()[2:]]
        assert [(r[0], r[2]) for r in rows] == [(m.to, m.apimsgid) for m in sent]
    else:
        shown = screen.getvalue()
        assert "┃" in shown, output  # room for a table: drawn
        for message in sent:
            assert message.apimsgid in shown


PROGRESS = re.compile(
    r"progress done=(\d+) total=(\d+) accepted=(\d+) rejected=(\d+) unknown=(\d+) "
    r"not_sent=(\d+) invalid=(\d+) rate=[\d.]+/s"
)


def test_bulk_not_on_a_terminal_prints_progress_lines(tmp_path: Path, base_url: str) -> None:
    campaign = tmp_path / "in.csv"
    with campaign.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "text"])
        writer.writerow(["bad number", "x"])
        for i in range(299):
            writer.writerow([str(FIRST + i), f"Code {i}"])
    args = ("bulk", str(campaign), "-o", str(tmp_path / "out.csv"), "--rate", "3000")
    done = run(*args, "--progress-interval", "0.05", base_url=base_url, env=AT_80_COLUMNS)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("progress ")]
    assert lines, done.stderr
    for line in lines:
        assert PROGRESS.fullmatch(line), line
    assert len(lines) < 300  # per interval, never per message
    last = PROGRESS.fullmatch(lines[-1])
    assert last is not None
    assert last.groups() == ("300", "300", "299", "0", "0", "0", "1")


def test_quiet_bulk_prints_no_progress(tmp_path: Path, base_url: str) -> None:
    campaign = tmp_path / "in.csv"
    campaign.write_text("to,text\n27821234567,hi\n")
    args = ("bulk", str(campaign), "--quiet", "--progress-interval", "0.01")
    done = run(*args, base_url=base_url, env=AT_80_COLUMNS)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


# -- item 9b: rows the user sees; the message column ---------------------------------------


def test_a_journal_mismatch_names_the_csv_row(tmp_path: Path, base_url: str) -> None:
    def campaign(changed: bool) -> Path:
        path = tmp_path / ("b.csv" if changed else "a.csv")
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["to", "message"])
            for row in range(1, 121):
                to = "not a number" if row in (10, 20, 30) else str(FIRST + row)
                text = "Changed" if changed and row == 100 else f"Hello {row}"
                writer.writerow([to, text])
        return path

    journal = tmp_path / "j.db"
    code, output = invoke(base_url, "bulk", str(campaign(False)), "--journal", str(journal))
    assert code == 1, output  # three invalid rows
    args = ("bulk", str(campaign(True)), "--journal", str(journal), "--replay")
    code, output = invoke(base_url, *args)
    assert code == 2, output
    assert "row 100 (line 101 of" in output
    assert "message 96" not in output


def test_the_message_column_is_documented() -> None:
    help_text = CliRunner().invoke(make_cli(), ["bulk", "--help"]).output
    assert "message for text" in " ".join(help_text.split())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`message`" in readme and "--encoding" in readme
