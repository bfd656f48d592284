"""``asms emulator`` as a new user meets it (issue 14, items 3 and 4).

It can send the callbacks of its accounts somewhere (``--callback-url``), change the
profile's part limit (``--max-parts``), hands out different ids on every start unless
``--seed`` is given, and a busy port is one line, exit 2.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest
from click.testing import CliRunner
from helpers.emulator import CREDS
from helpers.net import free_port

from asms._cli.emulator import build_emulator, emulator


def send(emu: object, text: str = "Hi", **extra: str) -> str:
    from urllib.parse import urlencode

    body = urlencode({**CREDS, "to": "27821234567", "text": text, **extra}).encode()
    reply = emu.app.handle("POST", "/http/sendmsg", b"", body, "127.0.0.1")  # type: ignore[attr-defined]
    return bytes(reply.body).decode()


def test_callback_url_goes_to_every_account() -> None:
    url = "http://127.0.0.1:8000/callbacks/status"
    emu = build_emulator(callback_url=url)
    (account,) = emu.accounts.values()
    # Inbound messages go where asms callbacks takes them: /inbound beside /status.
    inbound = "http://127.0.0.1:8000/callbacks/inbound"
    assert (account.callback_url, account.mo_callback_url) == (url, inbound)
    (other,) = build_emulator(callback_url="http://127.0.0.1:8000/hook").accounts.values()
    assert other.mo_callback_url == "http://127.0.0.1:8000/hook"  # no /status: takes both
    given = build_emulator(callback_url=url, mo_callback_url="http://h.test/mo")
    assert given.accounts[1234].mo_callback_url == "http://h.test/mo"
    two = build_emulator(accounts=("1:a:b", "2:c:d"), callback_url=url)
    assert {a.callback_url for a in two.accounts.values()} == {url}
    assert build_emulator().accounts[1234].callback_url is None


def test_max_parts_sets_the_profiles_limit() -> None:
    text = "a" * 700  # five parts of GSM text
    assert send(build_emulator(), text, concat="5") == "ERR: 101, Invalid or missing parameters"
    wider = build_emulator(max_parts=5)
    assert wider.profile.max_concat == 5
    assert send(wider, text, concat="5").startswith("ID: ")
    assert build_emulator(profile="v2.3.8", max_parts=8).profile.max_concat == 8


def test_ids_differ_between_starts_unless_seeded(
    monkeypatch: pytest.MonkeyPatch, busy_port: int
) -> None:
    random_ids = {send(build_emulator(seed=None)) for _ in range(3)}
    assert len(random_ids) == 3
    assert send(build_emulator(seed=7)) == send(build_emulator(seed=7))
    # What the command asks for when no --seed is given (the busy port stops it there).
    import asms._cli.emulator as command

    seeds: list[int | None] = []

    def spy(**options: object) -> object:
        seeds.append(options["seed"])  # type: ignore[arg-type]
        return build_emulator(**options)  # type: ignore[arg-type]

    monkeypatch.setattr(command, "build_emulator", spy)
    CliRunner().invoke(emulator, ["--port", str(busy_port)])
    CliRunner().invoke(emulator, ["--port", str(busy_port), "--seed", "3"])
    assert seeds == [None, 3]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--callback-url", "not a url"], "--callback-url"),
        (["--callback-url", "ftp://host/x"], "--callback-url"),
        (["--max-parts", "0"], "--max-parts"),
        (["--max-parts", "36"], "--max-parts"),
        (["--log-level", "loud"], "--log-level"),
        (["--seed", "x"], "--seed"),
    ],
)
def test_bad_options_are_one_message_exit_2(args: list[str], named: str) -> None:
    result = CliRunner().invoke(emulator, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and named in errors[0], result.output


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_busy_port_is_one_line_exit_2(busy_port: int) -> None:
    result = CliRunner().invoke(emulator, ["--port", str(busy_port)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert f"127.0.0.1:{busy_port}" in lines[0] and "--port" in lines[0]
    assert "asms emulator on" not in result.output  # nothing announced that is not served


def test_help_points_to_the_admin_api() -> None:
    result = CliRunner().invoke(emulator, ["--help"])
    assert result.exit_code == 0
    assert "/_emulator/" in result.output and "asms.testing._admin" in result.output
    assert "--callback-url" in result.output and "--max-parts" in result.output


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, list[str]]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append(parse_qs(self.rfile.read(length).decode()))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_command_sends_callbacks_to_callback_url() -> None:
    received: list[dict[str, list[str]]] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    callback_url = f"http://127.0.0.1:{receiver.server_address[1]}/callbacks/status"
    port = free_port()
    command = [sys.executable, "-m", "asms", "emulator", "--port", str(port), "--fake-clock"]
    process = subprocess.Popen(
        [*command, "--callback-url", callback_url, "--max-parts", "5"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            while True:
                try:
                    reply = http.post(
                        "/http/sendmsg",
                        data={**CREDS, "to": "27821234567", "text": "a" * 700, "concat": "5",
                              "callback": "3"},
                    )  # fmt: skip
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.1)
            assert reply.text.startswith("ID: "), reply.text
            apimsgid = reply.text.split()[1]
            advanced = http.post("/_emulator/clock/advance", json={"seconds": 60})
            assert advanced.status_code == 200
        deadline = time.monotonic() + 10
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        receiver.shutdown()
        receiver.server_close()
    statuses = [(r["apiMsgId"][0], r["status"][0]) for r in received]
    assert statuses == [(apimsgid, "003"), (apimsgid, "004")], received
    assert b"up to 5 parts" in stderr
    assert callback_url.encode() in stderr
