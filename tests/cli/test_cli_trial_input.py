"""``asms bulk`` where a stranger's trial found an input it misread: a huge cell's error spoke
of quotes the file did not have, and a file cut short during the run ended the campaign (its
journal finished) with the rows checked but gone never sent nor reported."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers.cli import invoke, one_line, read_results

import asms._cli.bulk as bulk_module
from asms.testing import GatewayEmulator

FIRST = 27_820_000_000


def campaign(path: Path, rows: int) -> Path:
    lines = ["to,text"] + [f"{FIRST + i},Hello {i}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("quoted", [False, True])
def test_a_huge_cell_is_named_as_such(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator, quoted: bool
) -> None:
    huge = "x" * (csv.field_size_limit() + 10)
    cell = f'"{huge}"' if quoted else huge
    source = tmp_path / "in.csv"
    source.write_text(f"to,text\n{FIRST},fine\n{FIRST + 1},{cell}\n", encoding="utf-8")
    code, output = invoke(base_url, "bulk", str(source), "-o", str(tmp_path / "out.csv"))
    assert code == 2, output
    line = one_line(output)
    limit = f"{csv.field_size_limit():,}"
    assert f"line 3: a cell is longer than {limit} characters" in line, line
    assert "malformed" not in line
    assert len(emulator.recorder.messages) == 0


def test_a_file_cut_short_during_the_run_is_said_and_the_campaign_stays_open(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = campaign(tmp_path / "in.csv", 10)
    journal = tmp_path / "j.db"
    results = tmp_path / "out.csv"
    # As if the file had had 12 rows when it was checked, and 10 by the time they were read.
    checked = bulk_module.check_csv
    monkeypatch.setattr(bulk_module, "check_csv", lambda *a, **k: checked(*a, **k) + 2)
    args = ["bulk", str(source), "-o", str(results), "--journal", str(journal), "--rate", "1000"]
    code, output = invoke(base_url, *args, clean=True)
    assert code == 2, output
    assert "it has 10 rows now, 12 when it was checked" in output, output
    assert len(read_results(results)) == 10  # every row read is written
    assert len(emulator.recorder.messages) == 10
    # Not finished: a rerun on the journal (the file whole again) is taken, sends nothing twice.
    monkeypatch.setattr(bulk_module, "check_csv", checked)
    code, output = invoke(base_url, *args, clean=True)
    assert code == 0, output
    assert len(emulator.recorder.messages) == 10
