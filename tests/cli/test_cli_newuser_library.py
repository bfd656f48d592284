"""The library side of what a new user meets (issue 14, items 8a and 9a).

Plain ``http://`` to a remote host is refused unless asked for (one rule shared with the
command line), each request is logged at DEBUG without secrets, and ``send``'s options are
typed so that a misspelt one is caught by the type checker.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import get_args, get_type_hints

import pytest
from helpers.cli import ENV, PASSWORD

import asms
from asms._cli._common import ConfigError, Settings
from asms._client import SendKeywords
from asms._config import plain_http_to_remote
from asms._models import SendOptions
from asms.testing import EmulatorTransport, GatewayEmulator


def client(base_url: str, **options: object) -> asms.AsyncClient:
    return asms.AsyncClient(1234, "demo", PASSWORD, base_url=base_url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["http://gateway.example.com", "http://10.0.0.5:8080/x", "http://[2001:db8::1]"]
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(asms.ValidationError) as caught:
        client(url)
    assert caught.value.field == "base_url"
    assert "insecure_http=True" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765",
        "http://127.8.9.10",
        "http://localhost:8765",
        "http://[::1]:8765",
        "https://gateway.example.com",
    ],
)
async def test_loopback_and_https_are_allowed(url: str) -> None:
    async with client(url):
        pass


@pytest.mark.anyio
async def test_plain_http_to_a_remote_host_with_the_opt_in() -> None:
    async with client("http://gateway.example.com", insecure_http=True):
        pass


@pytest.mark.anyio
async def test_a_given_transport_decides_where_requests_go() -> None:
    emu = GatewayEmulator()
    async with asms.AsyncClient(
        1234, "demo", "demo", base_url="http://gateway", transport=EmulatorTransport(emu)
    ) as c:
        assert (await c.send("hi", to="27821234567")).ok


def test_the_command_line_shares_the_rule() -> None:
    def settings(url: str, insecure: bool) -> Settings:
        return Settings(url, "http", insecure, 5.0, ENV)

    with pytest.raises(ConfigError, match="--insecure-http"):
        settings("http://gateway.example.com", False).client()
    # The opt-in reaches the client: it would refuse the URL without it.
    settings("http://gateway.example.com", True).client()
    settings("http://localhost:1", False).client()
    assert plain_http_to_remote("http", "gateway.example.com")
    assert not plain_http_to_remote("HTTP", "LOCALHOST")
    assert not plain_http_to_remote("https", "gateway.example.com")


@pytest.mark.anyio
@pytest.mark.parametrize("wire", ["http", "soap", "soap-rpc"])
async def test_each_request_is_logged_at_debug_without_secrets(
    wire: str, caplog: pytest.LogCaptureFixture
) -> None:
    emu = GatewayEmulator(
        accounts=[asms.testing.Account(api_id=1234, user="demo", password=PASSWORD)]
    )
    with caplog.at_level(logging.DEBUG, logger="asms"):
        async with asms.AsyncClient(
            1234,
            "demo",
            PASSWORD,
            wire=wire,  # type: ignore[arg-type]
            base_url="http://gateway",
            transport=EmulatorTransport(emu),
        ) as c:
            await c.send("hi", to="27821234567")
            await c.balance()
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("asms")]
    for command in ("auth", "getbalance"):
        assert f"request {command} over {wire}" in messages, messages
    # A send says its recipient count and climsgid (what to look up if it is interrupted).
    [send] = [m for m in messages if m.startswith(f"request sendmsg over {wire}")]
    assert send.startswith(f"request sendmsg over {wire}, 1 recipient, climsgid "), send
    for command in ("auth", "sendmsg", "getbalance"):
        assert any(m.startswith(f"reply to {command}: HTTP 200") for m in messages), messages
    for message in messages:
        assert PASSWORD not in message and "session_id" not in message


def test_send_keywords_are_the_send_options() -> None:
    names = set(get_type_hints(SendKeywords))
    assert names == set(SendOptions.__dataclass_fields__)
    hints = get_type_hints(asms.AsyncClient.send, include_extras=True)
    assert get_args(hints["options"]) == (SendKeywords,)


@pytest.mark.anyio
async def test_a_misspelt_option_still_fails_at_run_time() -> None:
    emu = GatewayEmulator()
    async with asms.AsyncClient(
        1234, "demo", "demo", base_url="http://gateway", transport=EmulatorTransport(emu)
    ) as c:
        with pytest.raises(asms.ValidationError, match="calback"):
            await c.send("hi", to="27821234567", calback=3)  # type: ignore[call-arg]
        assert (await c.send("hi", to="27821234567", **{"from": "Shop"})).ok  # type: ignore[arg-type]
    assert emu.statistics().messages == 1


def test_mypy_catches_a_misspelt_option(tmp_path: Path) -> None:
    script = tmp_path / "typo.py"
    script.write_text(
        "import asms\n\n\n"
        "async def main(client: asms.AsyncClient) -> None:\n"
        '    await client.send("hi", to="27821234567", calback=3)\n'
        '    await client.send("hi", to="27821234567", callback=3, from_="Shop", concat=2)\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
         str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout
    assert "typo.py:5:" in errors[0] and '"calback"' in errors[0]
