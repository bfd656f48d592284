"""What a new user meets when the gateway URL is wrong or unreachable (issue 14, items 1, 9a).

An HTTP error status during ``auth`` must be an ``asms.HTTPStatusError`` on every wire (not
a ``TypeError`` from copying it for the requests that waited on the same ``auth``), and the
command line turns it into one line naming the URL, exit 2.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from helpers.cli import PASSWORD, cli_account, cli_result, invoke

import asms
from asms.testing import GatewayEmulator, running_emulator

WIRES = ["http", "soap", "soap-rpc"]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_emulator(GatewayEmulator(accounts=[cli_account()])) as url:
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
    result = cli_result(base_url + "/wrong/path", *command, "--wire", wire)
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
    result = cli_result("http://127.0.0.1:9", "balance", "--timeout", "1")
    assert result.exit_code == 2, result.output  # nothing listens there: a configuration error
    assert "ConnectError" in result.output
    assert "ConnectError: ConnectError" not in result.output


def test_long_text_error_names_the_flag(base_url: str) -> None:
    code, output = invoke(base_url, "send", "27821234567", "-t", "a" * 700, clean=True)
    assert code == 2, output
    assert "needs 5 parts, more than the 3 allowed; pass --max-parts 5" in output
    assert "max_parts=" not in output


def test_refused_parts_are_explained(base_url: str) -> None:
    # The client allows 5 parts, the emulator's profile 3: the gateway's ERR 101 is explained.
    code, output = invoke(
        base_url, "send", "27821234567", "-t", "a" * 700, "--max-parts", "5", clean=True
    )
    assert code == 1, output
    assert "101" in output
    assert "refused a 5-part message with 101" in output and "--max-parts" in output


def test_more_parts_through_an_emulator_that_allows_them() -> None:
    from asms._cli.emulator import build_emulator

    with running_emulator(build_emulator(accounts=(f"1234:demo:{PASSWORD}",), max_parts=5)) as url:
        code, output = invoke(
            url, "send", "27821234567", "-t", "a" * 700, "--max-parts", "5", clean=True
        )
    assert code == 0, output
    assert "1 of 1 accepted" in output


def test_national_number_error_names_the_flag(base_url: str) -> None:
    code, output = invoke(base_url, "send", "0821234567", "-t", "hi", clean=True)
    assert code == 2, output
    assert "--country-code" in output and "country_code=" not in output
    code, output = invoke(
        base_url, "send", "0821234567", "-t", "hi", "--country-code", "27", clean=True
    )
    assert code == 0, output


@pytest.mark.parametrize("value", ["0", "36", "many"])
def test_bad_max_parts_is_exit_2(base_url: str, value: str) -> None:
    code, output = invoke(
        base_url, "send", "27821234567", "-t", "hi", "--max-parts", value, clean=True
    )
    assert code == 2, output
    assert "--max-parts" in output
