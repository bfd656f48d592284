"""``asms bulk --journal``: refusals are one line with exit 2, and nothing is truncated first."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import anyio
import pytest
from click.testing import Result
from helpers.cli import PASSWORD, cli_account, cli_result
from helpers.emulator import committed

import asms
from asms.testing import Account, GatewayEmulator

OLD_RESULTS = "row,to\n1,the results of last week\n"


@pytest.fixture
def emulator() -> GatewayEmulator:
    return GatewayEmulator(accounts=[cli_account(credits=10_000.0)])


def campaign_file(path: Path, rows: int = 5) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "text"])
        for i in range(rows):
            writer.writerow([str(27_820_000_000 + i), f"Hello {i}"])
    return path


def bulk(base_url: str, *args: str | Path) -> Result:
    return cli_result(base_url, "bulk", *args)


def refused_in_one_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return " ".join(result.output.split())


def test_a_finished_journal_is_refused_and_replayed_on_request(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    csv_file = campaign_file(tmp_path / "c.csv")
    results = tmp_path / "out.csv"
    journal = tmp_path / "j.db"
    first = bulk(base_url, csv_file, "-o", results, "--journal", journal, "--campaign", "dec")
    assert first.exit_code == 0, first.output
    sent = committed(emulator)
    assert sent == Counter({str(27_820_000_000 + i): 1 for i in range(5)})

    results.write_text(OLD_RESULTS)
    text = refused_in_one_line(bulk(base_url, csv_file, "-o", results, "--journal", journal, "-q"))
    assert "finished" in text and "'dec'" in text and "5 accepted" in text
    assert "new --journal" in text and "--replay" in text
    assert results.read_text() == OLD_RESULTS  # not truncated

    replayed = bulk(base_url, csv_file, "-o", results, "--journal", journal, "--replay")
    assert replayed.exit_code == 0, replayed.output
    with results.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(r["row"]) for r in rows) == [1, 2, 3, 4, 5]
    assert {r["status"] for r in rows} == {"accepted"}
    assert committed(emulator) == sent  # nothing sent again

    other = refused_in_one_line(
        bulk(base_url, csv_file, "-o", results, "--journal", journal, "--campaign", "jan")
    )
    assert "'dec'" in other and "'jan'" in other


def test_results_and_journal_naming_one_file_are_refused_before_anything_is_opened(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    csv_file = campaign_file(tmp_path / "c.csv")
    journal = tmp_path / "same.db"
    first = bulk(base_url, csv_file, "-o", tmp_path / "r.csv", "--journal", journal)
    assert first.exit_code == 0, first.output
    held = journal.read_bytes()
    link = tmp_path / "link.db"
    link.symlink_to(journal)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for results in (journal, link, Path("same.db"), Path("./sub/../same.db")):
            (tmp_path / "sub").mkdir(exist_ok=True)
            text = refused_in_one_line(
                bulk(base_url, csv_file, "-o", results, "--journal", journal)
            )
            assert "--journal must not be the --results file" in text
            assert journal.read_bytes() == held
    finally:
        os.chdir(cwd)
    assert len(committed(emulator)) == 5


def test_unusable_journals_fail_in_one_line_without_truncating_the_results(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    csv_file = campaign_file(tmp_path / "c.csv")
    results = tmp_path / "out.csv"
    results.write_text(OLD_RESULTS)

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 500)
    text = refused_in_one_line(bulk(base_url, csv_file, "-o", results, "--journal", garbage))
    assert "not a database" in text

    missing = tmp_path / "nowhere" / "j.db"
    text = refused_in_one_line(bulk(base_url, csv_file, "-o", results, "--journal", missing))
    assert "No such file or directory" in text

    locked = tmp_path / "locked.db"
    outcome: list[Result] = []

    async def while_held() -> None:
        async with asms.Journal(locked):
            outcome.append(
                await anyio.to_thread.run_sync(
                    lambda: bulk(base_url, csv_file, "-o", results, "--journal", locked)
                )
            )

    anyio.run(while_held)
    text = refused_in_one_line(outcome[0])
    assert f"in use by process {os.getpid()}" in text

    assert results.read_text() == OLD_RESULTS
    assert committed(emulator) == Counter()


def unfinish(journal: Path) -> None:
    """Make a journal look like that of a run stopped after it recorded every row."""
    import sqlite3

    with sqlite3.connect(journal) as db:
        db.execute("DELETE FROM asms_meta WHERE key = 'finished'")


def test_a_resume_with_another_option_or_an_edited_row_keeps_the_results_and_says_why(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    csv_file = campaign_file(tmp_path / "chg.csv")
    results = tmp_path / "chg.out.csv"
    journal = tmp_path / "chg.db"
    first = bulk(base_url, csv_file, "-o", results, "--journal", journal)
    assert first.exit_code == 0, first.output
    unfinish(journal)
    written = results.read_text()
    assert len(written.splitlines()) == 6

    # Only an option changed: every recorded row differs, and the message says so.
    text = refused_in_one_line(
        bulk(base_url, csv_file, "-o", results, "--journal", journal, "--from", "Shop")
    )
    assert "none of the 5 messages it recorded" in text
    assert f"first: row 1 (line 2 of {csv_file}), its options differ)" in text
    assert "the options differ in every row: --from or --callback changed" in text
    assert f"{results} was left as it was" in text
    assert results.read_text() == written

    # One row edited: named by its row and line, not the whole file.
    lines = csv_file.read_text().splitlines()
    lines[3] = "27820000002,Hello edited"
    csv_file.write_text("\n".join(lines) + "\n")
    text = refused_in_one_line(bulk(base_url, csv_file, "-o", results, "--journal", journal))
    assert f"row 3 (line 4 of {csv_file}) is not the message the journal recorded" in text
    assert "its text differs (1 of 5 recorded rows differ)" in text
    assert results.read_text() == written
    assert committed(emulator) == Counter({str(27_820_000_000 + i): 1 for i in range(5)})


def test_replaying_a_journal_that_does_not_exist_creates_nothing(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    csv_file = campaign_file(tmp_path / "c.csv")
    results = tmp_path / "out.csv"
    typo = tmp_path / "typo.db"
    text = refused_in_one_line(
        bulk(base_url, csv_file, "-o", results, "--journal", typo, "--replay")
    )
    assert f"--journal {typo}: no such journal" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]
    assert committed(emulator) == Counter()


def test_a_resume_under_another_account_or_base_url_is_refused_in_one_line(
    tmp_path: Path, base_url: str, emulator: GatewayEmulator
) -> None:
    emulator.add_account(Account(api_id=5678, user="other", password="pw2-secret"))
    csv_file = campaign_file(tmp_path / "acct.csv")
    results = tmp_path / "acct.out.csv"
    journal = tmp_path / "acct.db"
    first = bulk(base_url, csv_file, "-o", results, "--journal", journal)
    assert first.exit_code == 0, first.output
    unfinish(journal)
    written = results.read_text()

    other = {"ASMS_API_ID": "5678", "ASMS_USER": "other", "ASMS_PASSWORD": "pw2-secret"}
    args = ["bulk", str(csv_file), "-o", str(results), "--journal", str(journal)]
    for url, env, differs in (
        (base_url, other, "(another account)"),
        (base_url.replace("127.0.0.1", "localhost"), {}, "(another gateway)"),
    ):
        text = refused_in_one_line(cli_result(url, *args, env=env))
        assert f"the journal {journal} was written by a run through account" in text
        assert differs in text
        for secret in (PASSWORD, "pw2-secret", "5678"):
            assert secret not in text
        assert results.read_text() == written
    assert committed(emulator) == Counter({str(27_820_000_000 + i): 1 for i in range(5)})
