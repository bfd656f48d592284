"""The ``asms`` command line without a network: parsing, configuration errors, dry runs, CSV rows.

Runs against the emulator over a socket are in ``test_cli_gateway.py`` and ``test_cli_bulk.py``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers.cli import make_cli

from asms._cli._common import ConfigError, read_env_file
from asms._cli._rows import RESULT_COLUMNS, BadInput, ResultsWriter, count_rows, read_rows
from asms._cli.commands import COMMANDS
from asms._models import SendResult
from asms._optable import MSG_TYPES

SECRET = "pa55-w0rd-never-shown"
CREDENTIALS = {"ASMS_API_ID": "3456789", "ASMS_USER": "alice", "ASMS_PASSWORD": SECRET}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("ASMS_API_ID", "ASMS_USER", "ASMS_PASSWORD", "ASMS_BASE_URL", "ASMS_WIRE"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_commands_are_listed() -> None:
    names = {c.name for c in COMMANDS}
    expected = {"send", "bulk", "status", "balance", "coverage", "callbacks", "demo"}
    assert names == expected | {"worker", "campaign"}


def test_msg_type_choices_are_the_operation_table_s() -> None:
    send = next(c for c in COMMANDS if c.name == "send")
    option = next(p for p in send.params if p.name == "msg_type")
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == MSG_TYPES


@pytest.mark.parametrize(
    "args",
    [
        ["balance"],
        ["send", "27821234567", "--text", "hi"],
        ["status", "abc123"],
        ["coverage", "27821234567"],
    ],
)
def test_missing_credentials_exit_2_and_name_the_variables(
    runner: CliRunner, args: list[str]
) -> None:
    result = runner.invoke(make_cli(), args, env={"ASMS_USER": "alice"})
    assert result.exit_code == 2, result.output
    assert "ASMS_API_ID" in result.output
    assert "ASMS_PASSWORD" in result.output
    assert "ASMS_USER" not in result.output.replace("ASMS_USER,", "")  # it is set


def test_there_is_no_password_option(runner: CliRunner) -> None:
    for command in COMMANDS:
        for param in command.params:
            assert "password" not in (param.name or ""), (command.name, param.name)
    result = runner.invoke(make_cli(), ["balance", "--password", SECRET])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_bad_credentials_are_refused_without_echoing_them(runner: CliRunner) -> None:
    env = {**CREDENTIALS, "ASMS_API_ID": "not-a-number-" + SECRET}
    result = runner.invoke(make_cli(), ["balance"], env=env)
    assert result.exit_code == 2
    assert "api_id" in result.output
    assert SECRET not in result.output


def test_plain_http_to_a_remote_host_needs_a_flag(runner: CliRunner) -> None:
    env = {**CREDENTIALS, "ASMS_BASE_URL": "http://gateway.example.com"}
    result = runner.invoke(make_cli(), ["balance"], env=env)
    assert result.exit_code == 2
    assert "--insecure-http" in result.output
    assert SECRET not in result.output


def test_bad_base_url_scheme(runner: CliRunner) -> None:
    result = runner.invoke(
        make_cli(), ["balance", "--base-url", "ftp://127.0.0.1/"], env=CREDENTIALS
    )
    assert result.exit_code == 2
    assert "http://" in result.output


def test_bad_wire_from_environment(runner: CliRunner) -> None:
    result = runner.invoke(make_cli(), ["balance"], env={**CREDENTIALS, "ASMS_WIRE": "smtp"})
    assert result.exit_code == 2
    assert "ASMS_WIRE" in result.output


def test_bad_wire_option_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(make_cli(), ["balance", "--wire", "smtp"], env=CREDENTIALS)
    assert result.exit_code == 2


def test_status_needs_exactly_one_key(runner: CliRunner) -> None:
    cli = make_cli()
    assert runner.invoke(cli, ["status"], env=CREDENTIALS).exit_code == 2
    both = runner.invoke(cli, ["status", "abc", "--climsgid", "x"], env=CREDENTIALS)
    assert both.exit_code == 2


def test_send_option_ranges_are_usage_errors(runner: CliRunner) -> None:
    cli = make_cli()
    result = runner.invoke(cli, ["send", "27821234567", "-t", "hi", "--callback", "9"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["send", "-t", "hi"])
    assert result.exit_code == 2
    result = runner.invoke(
        cli, ["send", "27821234567", "-t", "hi", "--scheduled-time", "tomorrow"], env=CREDENTIALS
    )
    assert result.exit_code == 2
    assert "scheduled-time" in result.output


def test_callbacks_basic_auth_needs_the_password_variable(runner: CliRunner) -> None:
    result = runner.invoke(
        make_cli(), ["callbacks", "--port", "0", "--basic-auth-user", "gw"], env={}
    )
    assert result.exit_code == 2
    assert "ASMS_CALLBACK_PASSWORD" in result.output


def test_env_file_supplies_credentials(runner: CliRunner, tmp_path: Path) -> None:
    env_file = tmp_path / "asms.env"
    env_file.write_text(
        "# account\nexport ASMS_API_ID=3456789\nASMS_USER='alice'\n"
        f'ASMS_PASSWORD="{SECRET}"\nASMS_BASE_URL=http://gateway.example.com\n'
    )
    assert read_env_file(env_file) == {
        "ASMS_API_ID": "3456789",
        "ASMS_USER": "alice",
        "ASMS_PASSWORD": SECRET,
        "ASMS_BASE_URL": "http://gateway.example.com",
    }
    # Credentials are complete, so the next check (plain http to a remote host) is what fails.
    result = runner.invoke(make_cli(), ["balance", "--env-file", str(env_file)])
    assert result.exit_code == 2
    assert "--insecure-http" in result.output


def test_env_file_comments_after_a_value(tmp_path: Path) -> None:
    # Before: `KEY="value" # note` kept the quotes and the note in the value (a bad key,
    # blamed on "the environment"), and a bare value kept its note.
    env_file = tmp_path / "asms.env"
    env_file.write_text(
        'ASMS_API_KEY="asms-demo-integration-key" # my key\n'
        "ASMS_BASE_URL=http://127.0.0.1:18765 # the emulator\n"
        "ASMS_PASSWORD=pa#ss\n"
        "ASMS_USER='a # b'\n"
    )
    assert read_env_file(env_file) == {
        "ASMS_API_KEY": "asms-demo-integration-key",
        "ASMS_BASE_URL": "http://127.0.0.1:18765",
        "ASMS_PASSWORD": "pa#ss",  # a # not after a space is part of the value
        "ASMS_USER": "a # b",  # quoted: kept whole
    }
    # A quote not closed, or followed by more than a comment, is refused, the line unshown.
    for line in ('ASMS_PASSWORD="de"mo # x\n', "ASMS_PASSWORD='open\n"):
        env_file.write_text(line)
        with pytest.raises(ConfigError, match=r"asms.env:1: a quoted value must end"):
            read_env_file(env_file)


def test_env_file_errors_never_echo_the_line(runner: CliRunner, tmp_path: Path) -> None:
    env_file = tmp_path / "asms.env"
    env_file.write_text(f"ASMS_PASSWORD {SECRET}\n")
    result = runner.invoke(make_cli(), ["balance", "--env-file", str(env_file)])
    assert result.exit_code == 2
    assert ":1: expected KEY=VALUE" in result.output
    assert SECRET not in result.output


def test_an_env_file_that_is_not_utf8_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    # Notepad's "Unicode": UTF-16 with a byte-order mark.
    env_file = tmp_path / "asms.env"
    env_file.write_bytes(f"ASMS_PASSWORD={SECRET}\n".encode("utf-16"))
    result = runner.invoke(make_cli(), ["balance", "--env-file", str(env_file)])
    assert result.exit_code == 2
    assert "is not UTF-8 text (byte 0); save it as UTF-8" in result.output
    assert "Traceback" not in result.output and SECRET not in result.output


# -- CSV rows --------------------------------------------------------------------------------


def test_rows_become_messages_with_typed_options(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        ["To", "text", "callback", "from", "deliv_ack", "climsgid", "max_credits"],
        [
            ["+27 82 123 4567", "hello", "3", "Shop", "yes", "abc1", "1.5"],
            ["0821234568", "hi", "", "", "", "", ""],
        ],
    )
    rows = list(read_rows(path, country_code="27", defaults={"callback": 1}))
    assert [r.number for r in rows] == [1, 2]
    first, second = (r.message for r in rows)
    assert first is not None and second is not None
    assert first.to == "27821234567"
    assert first.options.callback == 3
    assert first.options.from_ == "Shop"
    assert first.options.deliv_ack is True
    assert first.options.max_credits == 1.5
    assert first.climsgid == "abc1"
    assert first.ref == 1
    assert second.to == "27821234568"
    assert second.options.callback == 1  # the default fills an empty cell
    assert second.climsgid is None


def test_bad_rows_are_reported_not_raised(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        ["to", "text", "callback"],
        [
            ["27821234567", "ok", ""],
            ["not a number", "x", ""],
            ["27821234567", "", ""],
            ["27821234567", "x", "12"],
            ["27821234567", "x", "three"],
        ],
    )
    rows = list(read_rows(path))
    assert rows[0].message is not None
    reasons = [r.invalid.reason for r in rows[1:] if r.invalid is not None]
    assert len(reasons) == 4
    assert "to" in reasons[0]
    assert "text" in reasons[1]
    assert "callback" in reasons[2]
    assert "callback" in reasons[3]


def test_ragged_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("to,text\n27821234567,a\n\n27821234568\n27821234569,c,extra\n")
    rows = list(read_rows(path))
    assert [r.number for r in rows] == [1, 2, 3]
    assert rows[0].message is not None
    assert rows[1].invalid is not None and "cells" in rows[1].invalid.reason
    assert rows[2].invalid is not None
    assert count_rows(path) == 3


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "empty"),
        ("number,text\n1,2\n", "'to'"),
        ("to,body\n1,2\n", "'text'"),
        ("to,text,colour\n1,2,3\n", "colour"),
        ("to,text,TO\n1,2,3\n", "duplicate"),
    ],
)
def test_unusable_headers(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text(content)
    with pytest.raises(BadInput, match=needle):
        list(read_rows(path))


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("\ufeffto,text\n27821234567,é\n".encode())
    (row,) = read_rows(path)
    assert row.message is not None and row.message.text == "é"


def test_results_writer_rows() -> None:
    buffer = io.StringIO()
    writer = ResultsWriter(buffer)
    writer.result(1, SendResult("27821234567", "a" * 32, "c1", parts=2))
    writer.result(2, SendResult("27821234568", None, "c2", 105, "Invalid destination address"))
    lines = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert lines[0] == list(RESULT_COLUMNS)
    assert lines[1] == ["1", "27821234567", "c1", "a" * 32, "accepted", "", "", "2"]
    assert lines[2] == [
        "2", "27821234568", "c2", "", "rejected", "105", "Invalid destination address", "1"
    ]  # fmt: skip
    assert (writer.written, writer.failed) == (2, 1)


# -- bulk without sending --------------------------------------------------------------------


def test_dry_run_counts_parts_and_credits(runner: CliRunner, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        ["to", "text"],
        [
            ["27821234567", "x" * 160],  # 1 GSM part
            ["27821234568", "x" * 161],  # 2 GSM parts
            ["27821234569", "Ω"],  # GSM on SOAP, UCS-2 on HTTP: 1 part either way
            ["27821234560", "€" * 71],  # UCS-2 on HTTP: 2 parts
        ],
    )
    # No credentials and no gateway: a dry run needs neither.
    result = runner.invoke(make_cli(), ["bulk", str(path), "--dry-run", "--credit-per-part", "0.5"])
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output
    out = " ".join(result.output.split())
    assert "rows 4" in out
    assert "parts 6" in out
    assert "3.00 at 0.5/part" in out
    assert "UCS-2 2 messages, 3 parts" in out
    assert not (tmp_path / "in.results.csv").exists()


def test_dry_run_reports_bad_and_too_long_rows(runner: CliRunner, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        ["to", "text", "concat"],
        [
            ["27821234567", "fine", ""],
            ["12", "bad number", ""],
            ["27821234567", "y" * 200, "1"],
            ["27821234567", "z" * 500, ""],
        ],
    )
    result = runner.invoke(make_cli(), ["bulk", str(path), "--dry-run"])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "invalid rows 1" in out
    assert "too long (error 113) 2" in out
    assert "row 2:" in out
    assert "row 3: needs 2 parts, at most 1 allowed" in out
    assert "row 4: needs 4 parts, at most 3 allowed" in out


def test_bulk_refuses_an_unusable_file(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("phone,text\n1,2\n")
    result = runner.invoke(make_cli(), ["bulk", str(path)], env=CREDENTIALS)
    assert result.exit_code == 2
    assert "'to'" in result.output


def test_rows_are_streamed_not_loaded(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "big.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "text"])
        for i in range(30_000):
            writer.writerow([str(27_820_000_000 + i), f"Message number {i} for you"])
    tracemalloc.start()
    try:
        count = sum(1 for row in read_rows(path) if row.message is not None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30_000
    # 30,000 messages kept in a list would take well over 10 MB.
    assert peak < 2_000_000
