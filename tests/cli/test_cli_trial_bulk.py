"""``asms bulk`` where the new-user trial found holes: quotes, closed stderr, hard links, NaN.

Each test is one finding: a stray quote must not merge rows into one message (the rows after
it would be lost); a closed stderr must not end a run; a results file that is the input
under another name is refused; flags that take a number refuse ``nan`` and ``inf``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.cli import invoke, make_cli, one_line, read_results, start
from helpers.net import free_port

from asms.testing import GatewayEmulator

FIRST = 27_820_000_000


def campaign(path: Path, rows: int) -> Path:
    lines = ["to,text"] + [f"{FIRST + i},Hello {i}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


KEEP = "row,to,status\n1,27820000000,accepted\n"


# -- finding 2: quotes -------------------------------------------------------------------------


def test_an_unterminated_quote_is_refused_before_anything_is_sent(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = tmp_path / "in.csv"
    source.write_text('to,text\n27821234567,"unterminated\n27821234568,ok\n', encoding="utf-8")
    results = tmp_path / "out.csv"
    results.write_text(KEEP, encoding="utf-8")
    for extra in ((), ("--dry-run",)):
        code, output = invoke(base_url, "bulk", str(source), "-o", str(results), *extra)
        assert code == 2, output
        line = one_line(output)
        assert "a quote opened on line 2 is never closed" in line, line
    assert len(emulator.recorder.messages) == 0
    assert results.read_text(encoding="utf-8") == KEEP


def test_a_quote_that_swallows_rows_is_refused_naming_both_lines(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    # Row 2 opens a quote, row 51 closes it: 49 rows would vanish into one message.
    lines = ["to,text"] + [f"{FIRST + i},Msg {i}" for i in range(100)]
    lines[2] = f'{FIRST + 1},"Special offer'
    lines[51] = f'{FIRST + 50},ends here"'
    source = tmp_path / "stray.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = tmp_path / "out.csv"
    results.write_text(KEEP, encoding="utf-8")
    for extra in ((), ("--dry-run",)):
        code, output = invoke(base_url, "bulk", str(source), "-o", str(results), *extra)
        assert code == 2, output
        line = one_line(output)
        assert "opens on line 3 and closes on line 52" in line, line
    assert len(emulator.recorder.messages) == 0
    assert results.read_text(encoding="utf-8") == KEEP


def test_text_after_a_closing_quote_is_refused_with_its_line(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = tmp_path / "in.csv"
    source.write_text('to,text\n27821234567,fine\n27821234568,"a"b\n', encoding="utf-8")
    results = tmp_path / "out.csv"
    code, output = invoke(base_url, "bulk", str(source), "-o", str(results))
    assert code == 2, output
    assert one_line(output).startswith(f"Error: {source}: line 3: malformed CSV")
    assert len(emulator.recorder.messages) == 0
    assert not results.exists()


def test_quoted_texts_over_several_lines_are_still_sent(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    texts = [
        "Line one\nline two",
        "Call 0800 123 456 today\n\nor tomorrow",
        'She said ""hi""\n27 is a number, not a row',
        "plain",
    ]
    rows = [f'{FIRST + i},"{text}"' for i, text in enumerate(texts)]
    source = tmp_path / "in.csv"
    source.write_text("to,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    results = tmp_path / "out.csv"
    code, output = invoke(base_url, "bulk", str(source), "-o", str(results), "--rate", "1000")
    assert code == 0, output
    written = read_results(results)
    assert len(written) == 4
    assert {r["status"] for r in written} == {"accepted"}
    sent = {m.to: m.text for m in emulator.recorder.messages}
    assert len(sent) == 4
    expected = [text.replace('""', '"') for text in texts]
    assert [sent[str(FIRST + i)] for i in range(4)] == expected


# -- finding 6: numbers that are not numbers ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("bulk", "{src}", "-o", "{out}", "--rate", "nan"), "--rate"),
        (("bulk", "{src}", "-o", "{out}", "--rate", "inf"), "--rate"),
        (("bulk", "{src}", "-o", "{out}", "--rate", "-1"), "--rate"),
        (("bulk", "{src}", "-o", "{out}", "--timeout", "nan"), "--timeout"),
        (("bulk", "{src}", "-o", "{out}", "--credit-per-part", "nan"), "--credit-per-part"),
        (("bulk", "{src}", "-o", "{out}", "--progress-interval", "inf"), "--progress-interval"),
        (("send", "27821234567", "--text", "x", "--max-credits", "nan"), "--max-credits"),
        (("send", "27821234567", "--text", "x", "--timeout", "inf"), "--timeout"),
        (("balance", "--timeout", "nan"), "--timeout"),
        (("demo", "--rate", "nan"), "--rate"),
    ],
)
def test_a_number_flag_refuses_nan_and_infinity(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator, args: tuple[str, ...], flag: str
) -> None:
    source = campaign(tmp_path / "in.csv", 3)
    results = tmp_path / "out.csv"
    results.write_text(KEEP, encoding="utf-8")
    argv = [a.format(src=source, out=results) for a in args]
    code, output = invoke(base_url, *argv)
    assert code == 2, output
    assert "Traceback" not in output
    assert flag in output, output
    assert len(emulator.recorder.messages) == 0
    assert results.read_text(encoding="utf-8") == KEEP


def test_a_nan_max_credits_cell_is_an_invalid_row(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(f"to,text,max_credits\n{FIRST},hi,nan\n{FIRST + 1},hi,2\n")
    results = tmp_path / "out.csv"
    code, output = invoke(base_url, "bulk", str(source), "-o", str(results))
    assert code == 1, output
    rows = {r["row"]: r for r in read_results(results)}
    assert rows["1"]["status"] == "invalid"
    assert "finite" in rows["1"]["error_description"]
    assert rows["2"]["status"] == "accepted"
    assert len(emulator.recorder.messages) == 1


# -- finding 4: the results file is the input under another name ------------------------------


def test_results_hard_linked_to_the_input_are_refused(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = campaign(tmp_path / "in.csv", 5)
    before = source.read_bytes()
    link = tmp_path / "link.csv"
    os.link(source, link)
    code, output = invoke(base_url, "bulk", str(source), "-o", str(link))
    assert code == 2, output
    assert "--results must not be the input file" in one_line(output)
    assert len(emulator.recorder.messages) == 0
    assert source.read_bytes() == before


def test_a_journal_hard_linked_to_the_input_is_refused(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = campaign(tmp_path / "in.csv", 5)
    before = source.read_bytes()
    link = tmp_path / "link.db"
    os.link(source, link)
    out = str(tmp_path / "out.csv")
    code, output = invoke(base_url, "bulk", str(source), "-o", out, "--journal", str(link))
    assert code == 2, output
    assert "--journal must not be the input file" in one_line(output)
    assert len(emulator.recorder.messages) == 0
    assert source.read_bytes() == before


# -- finding 12: small things ------------------------------------------------------------------


def test_a_pipe_as_input_is_one_line_asking_for_a_regular_file(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    code, output = invoke(base_url, "bulk", str(fifo), "-o", str(tmp_path / "out.csv"))
    assert code == 2, output
    assert "needs a regular file" in one_line(output)
    assert len(emulator.recorder.messages) == 0


def test_a_national_number_row_names_the_country_code_flag(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("to,text\n0821234567,hi\n", encoding="utf-8")
    results = tmp_path / "out.csv"
    code, output = invoke(base_url, "bulk", str(source), "-o", str(results))
    assert code == 1, output
    (row,) = read_results(results)
    assert row["status"] == "invalid"
    assert "--country-code" in row["error_description"]
    assert "country_code=" not in row["error_description"]


def test_a_cp1252_file_gets_the_cp1252_hint(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"to,text\n27821234567,Price 5 \x80\n")  # the euro sign in cp1252
    code, output = invoke(base_url, "bulk", str(source), "-o", str(tmp_path / "out.csv"))
    assert code == 2, output
    assert "most likely --encoding cp1252" in one_line(output)
    code, output = invoke(
        base_url, "bulk", str(source), "-o", str(tmp_path / "out.csv"), "--encoding", "cp1252"
    )
    assert code == 0, output
    assert [m.text for m in emulator.recorder.messages] == ["Price 5 €"]


def test_the_help_names_the_default_results_file_as_it_is_made() -> None:
    result = CliRunner().invoke(make_cli(), ["bulk", "--help"], terminal_width=200)
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    assert "rows.csv → rows.results.csv" in flat


# -- finding 3: a closed stderr ----------------------------------------------------------------


def test_a_stderr_closed_mid_run_does_not_stop_the_run(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = campaign(tmp_path / "in.csv", 1_500)
    results = tmp_path / "out.csv"
    args = (str(source), "-o", str(results), "--rate", "1000", "--progress-interval", "0.01")
    process = start(
        "bulk",
        *args,
        base_url=base_url,
        text=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    assert first.startswith(b"progress "), first
    process.stderr.close()  # like `2>&1 | head -1`: the next write gets EPIPE
    assert process.wait(timeout=60) == 0
    rows = read_results(results)
    assert sorted(int(r["row"]) for r in rows) == list(range(1, 1_501))
    assert {r["status"] for r in rows} == {"accepted"}
    assert len(emulator.recorder.messages) == 1_500


def test_a_closed_stderr_from_the_start_does_not_fail_the_run(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = campaign(tmp_path / "in.csv", 200)
    results = tmp_path / "out.csv"
    args = (str(source), "-o", str(results), "--rate", "1000", "--progress-interval", "0.01")
    # `2>&-`: the process starts without a descriptor 2.
    process = start(
        "bulk",
        *args,
        base_url=base_url,
        text=False,
        stdout=subprocess.DEVNULL,
        stderr=None,
        preexec_fn=lambda: os.close(2),
    )
    assert process.wait(timeout=60) == 0
    rows = read_results(results)
    assert sorted(int(r["row"]) for r in rows) == list(range(1, 201))
    assert {r["status"] for r in rows} == {"accepted"}
    assert len(emulator.recorder.messages) == 200


# -- finding 4: a long stretch of invalid rows does not hold off a signal ----------------------


def test_sigint_during_a_long_stretch_of_invalid_rows_stops_the_run_there(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    invalid = 100_000
    lines = ["to,text"] + ["x,bad number"] * invalid
    lines += [f"{FIRST + i},Hello" for i in range(100)]
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = tmp_path / "out.csv"
    args = (str(source), "-o", str(results), "-q")
    process = start(
        "bulk", *args, base_url=base_url, text=False, stdout=subprocess.DEVNULL, stderr=None
    )
    deadline = time.monotonic() + 60
    # The results file grows once the invalid rows are being written: the run is in the stretch.
    while not results.exists() or results.stat().st_size < 64 * 1024:
        assert process.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.002)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    rows = read_results(results)
    numbers = sorted(int(r["row"]) for r in rows)
    # Stopped within the stretch, and every row read has its result row.
    assert len(numbers) < invalid
    assert numbers == list(range(1, len(numbers) + 1))
    assert {r["status"] for r in rows} == {"invalid"}
    assert len(emulator.recorder.messages) == 0


# -- finding 5: no gateway at the base URL ----------------------------------------------------


def test_bulk_against_a_wrong_path_stops_before_touching_the_results(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    source = campaign(tmp_path / "in.csv", 50)
    results = tmp_path / "out.csv"
    results.write_text(KEEP, encoding="utf-8")
    code, output = invoke(base_url + "/foo", "bulk", str(source), "-o", str(results))
    assert code == 2, output
    line = one_line(output)
    assert "HTTP 404" in line and "/foo" in line and "--base-url" in line, line
    assert len(emulator.recorder.messages) == 0
    assert results.read_text(encoding="utf-8") == KEEP


@pytest.mark.parametrize("command", ["bulk", "balance"])
def test_a_refused_connection_is_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    source = campaign(tmp_path / "in.csv", 50)
    results = tmp_path / "out.csv"
    results.write_text(KEEP, encoding="utf-8")
    port = free_port()
    args = ["bulk", str(source), "-o", str(results)] if command == "bulk" else ["balance"]
    code, output = invoke(f"http://127.0.0.1:{port}", *args)
    assert code == 2, output
    line = one_line(output)
    assert f"cannot connect to 127.0.0.1:{port}" in line and "--base-url" in line, line
    assert results.read_text(encoding="utf-8") == KEEP


def test_a_gateway_gone_mid_run_stops_the_run_with_every_row_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asms._cli.bulk as bulk_module

    # As if the gateway answered the check before the run, then went away: every request
    # is refused. The run gives up after 100 rows in a row instead of retrying every row.
    monkeypatch.setattr(bulk_module, "_check_gateway", lambda settings: None, raising=False)
    rows = 2_000
    lines = ["to,text"] + [f"{FIRST + i},Hello {i}" for i in range(rows)]
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = tmp_path / "out.csv"
    port = free_port()
    args = ("bulk", str(source), "-o", str(results), "--rate", "100000", "-q")
    code, output = invoke(f"http://127.0.0.1:{port}", *args)
    assert code == 2, output
    line = one_line(output)
    assert f"cannot connect to 127.0.0.1:{port}" in line, line
    written = read_results(results)
    numbers = sorted(int(r["row"]) for r in written)
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) < rows  # stopped, not every row tried
    assert {r["status"] for r in written} == {"not_sent"}
