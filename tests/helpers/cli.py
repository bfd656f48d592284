"""What the command-line tests share: the account they run as, the commands under a test
group run in process, and ``python -m asms`` run as a real process.

Every run is the account ``ENV`` names, so one ``PASSWORD`` is the canary each test looks
for in output that must not show it.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner, Result

from asms._cli.commands import COMMANDS
from asms.testing import Account

from . import ROOT

PASSWORD = "cli-secret-4e1d"
ENV = {"ASMS_API_ID": "1234", "ASMS_USER": "demo", "ASMS_PASSWORD": PASSWORD}
"""The variables that name the account of ``cli_account`` to the command line."""
PYTHON_M_ASMS = [sys.executable, "-m", "asms"]


def cli_account(**options: Any) -> Account:
    """The emulator account that ``ENV`` names (``options``: its credits and the like)."""
    return Account(api_id=1234, user="demo", password=PASSWORD, **options)


def make_cli() -> click.Group:
    """The commands under a group of their own (the real group is the lead's)."""

    @click.group()
    def cli() -> None:
        pass

    for command in COMMANDS:
        cli.add_command(command)
    return cli


def cli_result(
    base_url: str, *args: str | Path, env: Mapping[str, str] | None = None, **options: Any
) -> Result:
    """``asms *args`` run in process as the ``ENV`` account against ``base_url``; ``env``
    adds to or overrides those variables, ``options`` go to ``CliRunner.invoke``."""
    variables = {**ENV, "ASMS_BASE_URL": base_url, **(env or {})}
    return CliRunner().invoke(make_cli(), [str(a) for a in args], env=variables, **options)


def invoke(base_url: str, *args: str, clean: bool = False) -> tuple[int, str]:
    """The exit status and output of ``cli_result``; an exception other than ``SystemExit``
    fails the test. ``clean`` also fails it on a traceback or the password in the output."""
    result = cli_result(base_url, *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    if clean:
        assert "Traceback" not in result.output and PASSWORD not in result.output
    return result.exit_code, result.output


def one_line(output: str) -> str:
    """The only line of ``output``, which holds no traceback."""
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def read_results(path: Path) -> list[dict[str, str]]:
    """The rows of the results CSV at ``path``."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def process_env(
    base_url: str | None = None, extra: Mapping[str, str] | None = None, *, account: bool = True
) -> dict[str, str]:
    """This process's environment for a child ``asms``: with ``account``, the ``ENV``
    account and no ``ASMS_WIRE`` from the caller's shell; ``ASMS_BASE_URL`` when given;
    then ``extra``."""
    env = dict(os.environ)
    if account:
        env.update(ENV)
        env.pop("ASMS_WIRE", None)
    if base_url is not None:
        env["ASMS_BASE_URL"] = base_url
    env.update(extra or {})
    return env


def start(
    *args: str,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
    account: bool = True,
    **popen: Any,
) -> subprocess.Popen[Any]:
    """``python -m asms *args`` started in the repository's root with ``process_env``;
    stdout and stderr are pipes of text unless ``popen`` says otherwise."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    options.update(popen)
    return subprocess.Popen(
        [*PYTHON_M_ASMS, *args],
        cwd=ROOT,
        env=process_env(base_url, env, account=account),
        **options,
    )


def run(
    *args: str, base_url: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m asms *args`` run to its end (a minute at most), its output captured."""
    return subprocess.run(
        [*PYTHON_M_ASMS, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=process_env(base_url, env),
        timeout=60,
    )


def start_receiver(
    *args: str, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """``asms callbacks --port 0 --json *args`` as a real process, and the port it took (read
    from its first line on stderr)."""
    process: subprocess.Popen[str] = start(
        "callbacks", "--port", "0", "--json", *args, env=env, account=False
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if found is None:
        process.kill()
        raise AssertionError(f"no listening line: {line!r} {process.stderr.read()!r}")
    return process, int(found.group(1))
