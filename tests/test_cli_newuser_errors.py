"""What a new user meets when the gateway URL is wrong or unreachable (issue 14, items 1, 9a).

An HTTP error status during ``auth`` must be an ``asms.HTTPStatusError`` on every wire (not
a ``TypeError`` from copying it for the requests that waited on the same ``auth``), and the
command line turns it into one line naming the URL, exit 2.
"""

from __future__ import annotations

from collections.abc import Iterator

import click
import httpx
import pytest
from click.testing import CliRunner

import asms
from asms._cli.commands import COMMANDS
from asms.testing import Account, GatewayEmulator, running_emulator

WIRES = ["http", "soap", "soap-rpc"]
PASSWORD = "newuser-secret-77"
ENV = {"ASMS_API_ID": "1234", "ASMS_USER": "demo", "ASMS_PASSWORD": PASSWORD}


def make_cli() -> click.Group:
    @click.group()
    def cli() -> None:
        pass

    for command in COMMANDS:
        cli.add_command(command)
    return cli


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    account = Account(api_id=1234, user="demo", password=PASSWORD)
    with running_emulator(GatewayEmulator(accounts=[account])) as url:
        yield url


@pytest.mark.anyio
@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("status", [404, 503])
async def test_http_status_during_auth_is_an_asms_error(wire: str, status: int) -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status, text="not here")

    client = asms.AsyncClient(
        1234,
        "demo",
        PASSWORD,
        wire=wire,  # type: ignore[arg-type]
        base_url="https://gateway.example",
        transport=httpx.MockTransport(handle),
        retry=asms.RetryPolicy.testing(attempts=3),
    )
    async with client:
        with pytest.raises(asms.HTTPStatusError) as caught:
            await client.balance()
    assert caught.value.status_code == status
    assert caught.value.sent is False  # the command itself never left: auth failed first
    assert calls == (3 if status == 503 else 1)  # 503 retried up to attempts, 404 final


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(
    "command", [["balance"], ["status", "0" * 32], ["send", "27821234567", "-t", "hi"]]
)
def test_cli_wrong_base_url_path_is_one_line_exit_2(
    base_url: str, wire: str, command: list[str]
) -> None:
    result = CliRunner().invoke(
        make_cli(),
        [*command, "--wire", wire],
        env={**ENV, "ASMS_BASE_URL": base_url + "/wrong/path"},
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    host = base_url.removeprefix("http://")
    assert f"HTTP 404 from {host}/wrong/path" in lines[0]
    assert "--base-url" in lines[0]
    assert PASSWORD not in result.output


def test_cli_connect_error_names_its_class_once() -> None:
    result = CliRunner().invoke(
        make_cli(),
        ["balance", "--timeout", "1"],
        env={**ENV, "ASMS_BASE_URL": "http://127.0.0.1:9"},
    )
    assert result.exit_code == 1, result.output
    assert "ConnectError" in result.output
    assert "ConnectError: ConnectError" not in result.output
