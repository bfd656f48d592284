"""The emulator over a real socket (uvicorn), its admin API, and the ``asms emulator`` command."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner
from helpers.emulator import CREDS
from helpers.net import free_port

from asms._cli.emulator import build_emulator, emulator
from asms.testing import FakeClock, Faults, GatewayEmulator, running_emulator

SEND = {**CREDS, "to": "27821234567", "text": "Hi"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[GatewayEmulator, str]]:
    emu = GatewayEmulator(clock=FakeClock(), admin=True)
    with running_emulator(emu) as base_url:
        yield emu, base_url


@pytest.fixture(scope="module")
def module_client(served: tuple[GatewayEmulator, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1], timeout=5) as http:
        yield http


@pytest.fixture
def client(served: tuple[GatewayEmulator, str], module_client: httpx.Client) -> httpx.Client:
    served[0].faults = Faults()
    return module_client


def test_http_and_soap_over_a_socket(served: tuple[GatewayEmulator, str], client: httpx.Client):
    assert served[1].startswith("http://127.0.0.1:")
    assert client.post("/http/sendmsg", data=SEND).text.startswith("ID: ")
    assert client.get("/http/getbalance.php", params=CREDS).text.startswith("Credit: ")
    wsdl = client.get("/soap/document_literal/webservice?wsdl")
    assert wsdl.status_code == 200
    assert served[1].encode() + b"/soap/document_literal/webservice" in wsdl.content
    fault = client.post("/soap/webservice.php", content=b"<nope/>")
    assert fault.status_code == 500


def test_keep_alive_connection_serves_many_requests(client: httpx.Client) -> None:
    for _ in range(20):
        assert client.post("/http/sendmsg", data=SEND).text.startswith("ID: ")


@pytest.mark.parametrize("kind", ["drop_before_commit", "drop_after_commit", "truncated_reply"])
def test_injected_drops_close_the_connection(
    served: tuple[GatewayEmulator, str], client: httpx.Client, kind: str
) -> None:
    emu = served[0]
    climsgid = "drop" + kind.split("_")[0] + kind.split("_")[-1]
    emu.faults = Faults(script=(kind,))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/http/sendmsg", data={**SEND, "climsgid": climsgid})
    assert emu.recorder.committed(climsgid) == (0 if kind == "drop_before_commit" else 1)
    assert client.post("/http/sendmsg", data=SEND).text.startswith("ID: ")  # reconnects


def test_slow_reply_times_out_over_the_socket(
    served: tuple[GatewayEmulator, str], client: httpx.Client
) -> None:
    served[0].faults = Faults(slow_reply=1.0, slow_reply_seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/http/sendmsg", data={**SEND, "climsgid": "slow1"}, timeout=0.05)
    assert served[0].recorder.committed("slow1") == 1


# -- admin API -----------------------------------------------------------------------------------


def test_admin_api(served: tuple[GatewayEmulator, str], client: httpx.Client) -> None:
    emu = served[0]
    created = client.post(
        "/_emulator/accounts",
        json={"api_id": 77, "user": "u", "password": "p", "credits": 3},
    )
    assert created.json() == {"api_id": 77}
    other = {"api_id": "77", "user": "u", "password": "p"}
    assert client.post("/http/getbalance", data=other).text == "Credit: 3"
    assert client.post("/_emulator/credits", json={"api_id": 77, "credits": 9}).json() == {
        "credits": 9.0
    }
    assert client.get("/_emulator/balance", params={"api_id": 77}).json() == {"credits": 9.0}
    client.post("/_emulator/vouchers", json={"vouchers": {"1234123412341234": 1}})
    assert client.post("/http/token_pay", data={**other, "token": "1234123412341234"}).text == (
        "OK: 1"
    )
    faults = client.post("/_emulator/faults", json={"err901_before_commit": 1.0})
    assert faults.json()["err901_before_commit"] == 1.0
    assert client.post("/http/sendmsg", data=SEND).text == "ERR: 901, Internal error"
    expiring = client.post("/_emulator/faults", json={"session_expiry": 1.0}).json()
    assert expiring["session_expiry"] == 1.0
    session = {"session_id": client.post("/http/auth", data=CREDS).text[4:]}
    assert client.post("/http/sendmsg", data={**SEND, **session}).text == (
        "ERR: 003, Session ID expired"
    )
    assert client.delete("/_emulator/faults").json() == {"ok": True}
    client.post("/_emulator/numbers", json={"blocked": ["27821234568"]})
    assert client.post("/http/sendmsg", data={**SEND, "to": "27821234568"}).text.startswith(
        "ERR: 121"
    )
    client.post("/_emulator/numbers", json={"blocked": []})
    client.post("/http/sendmsg", data={**SEND, "climsgid": "adm1"})
    listed = client.get("/_emulator/messages", params={"climsgid": "adm1"}).json()["messages"]
    assert [(m["to"], m["text"], m["status"]) for m in listed] == [("27821234567", "Hi", 2)]
    before = client.get("/_emulator/clock").json()
    assert before["fake"] is True
    after = client.post("/_emulator/clock/advance", json={"seconds": 60}).json()
    assert after["time"] == before["time"] + 60
    mo = client.post(
        "/_emulator/mo", json={"to": "27831234567", "from": "27821112222", "text": "Yo"}
    ).json()
    assert mo["events"][0]["text"] == "Yo"
    stats = client.get("/_emulator/statistics").json()
    assert stats["commits"] == emu.statistics().commits
    assert stats["errors"]["901"] >= 1
    assert client.get("/_emulator/duplicates").json()["climsgids"] == {}
    assert client.post("/_emulator/recorder/reset").json() == {"ok": True}
    assert client.get("/_emulator/statistics").json()["commits"] == 0


def test_admin_api_errors(client: httpx.Client) -> None:
    assert client.get("/_emulator/nothing").status_code == 404
    assert client.get("/_emulator/faults/").status_code == 200
    assert client.put("/_emulator/faults").status_code == 405
    bad = client.post("/_emulator/faults", json={"bogus": 1})
    assert bad.status_code == 400
    assert "bogus" in bad.json()["error"]
    assert client.post("/_emulator/credits", content=b"[1]").status_code == 400


def test_admin_api_is_off_by_default() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    assert emu.app.handle("GET", "/_emulator/statistics", b"", b"", "127.0.0.1").status == 404


# -- the command line ----------------------------------------------------------------------------


def test_cli_parses_its_options() -> None:
    runner = CliRunner()
    assert runner.invoke(emulator, ["--help"]).exit_code == 0
    bad = runner.invoke(emulator, ["--account", "nonsense", "--port", "1"])
    assert bad.exit_code == 2
    assert "API_ID:USER:PASSWORD" in bad.output
    bad_fault = runner.invoke(emulator, ["--fault", "nope=1"])
    assert bad_fault.exit_code == 2
    assert runner.invoke(emulator, ["--profile", "v9"]).exit_code == 2


def test_cli_builds_the_emulator_it_serves() -> None:
    emu = build_emulator(
        accounts=("42:alice:se:cret", "43:bob:pw"),
        profile="v2.3.8",
        credits=5,
        seed=9,
        fake_clock=True,
        faults=("drop_after_commit=0.25", "session_expiry=0.05", "commands=sendmsg,quicksend"),
    )
    assert sorted(emu.accounts) == [42, 43]
    assert emu.accounts[42].password == "se:cret"
    assert emu.balance(43) == 5
    assert emu.profile.name == "v2.3.8"
    assert emu.faults.drop_after_commit == 0.25
    assert emu.faults.session_expiry == 0.05
    assert emu.faults.commands == frozenset({"sendmsg", "quicksend"})
    assert isinstance(emu.clock, FakeClock)
    assert emu.admin
    default = build_emulator()
    assert default.accounts[1234].user == "demo"


def test_asms_emulator_command_serves_over_a_socket() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "asms", "emulator", "--port", str(port), "--seed", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            while True:
                try:
                    reply = http.post("/http/auth", data=CREDS)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.1)
            assert reply.text.startswith("OK: ")
            assert http.get("/_emulator/statistics").json()["requests"] == 1
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    assert b"asms emulator on http://127.0.0.1:" in stderr
    assert b"demo" in stderr and b"password" not in stderr.lower()


def test_callbacks_are_delivered_by_the_server_loop() -> None:
    from asms.testing import Account

    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    account = Account(
        api_id=1234,
        user="demo",
        password="demo",
        callback_url="http://receiver.test/status",
        callback_method="post",
    )
    emu = GatewayEmulator(
        clock=FakeClock(),
        accounts=[account],
        admin=True,
        http_client_factory=lambda: httpx.AsyncClient(transport=httpx.MockTransport(receiver)),
    )
    with running_emulator(emu) as base_url, httpx.Client(base_url=base_url) as http:
        apimsgid = http.post("/http/sendmsg", data={**SEND, "callback": "3"}).text[4:]
        http.post("/_emulator/clock/advance", json={"seconds": 10})
        deadline = time.monotonic() + 10
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    statuses = sorted(r.content.decode().split("status=")[1][:3] for r in received)
    assert statuses == ["003", "004"]
    assert all(apimsgid in r.content.decode() for r in received)
