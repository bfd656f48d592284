"""``asms send/status/balance/coverage/callbacks`` against the emulator over a real socket."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from helpers.cli import PASSWORD, cli_account, cli_result, make_cli, start_receiver

from asms.testing import GatewayEmulator, Lifecycle


@pytest.fixture
def emulator() -> GatewayEmulator:
    account = cli_account(credits=500.0)
    # A short lifecycle for the status tests.
    return GatewayEmulator(accounts=[account], lifecycle=Lifecycle(queued=0.05, delivery=0.05))


@pytest.fixture
def invoke(base_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for name in ("ASMS_BASE_URL", "ASMS_WIRE"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        result = cli_result(base_url, *args, env=env)
        assert PASSWORD not in result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


@pytest.mark.parametrize("wire", ["http", "soap", "soap-rpc"])
def test_balance_on_every_wire(invoke, wire: str) -> None:  # type: ignore[no-untyped-def]
    result = invoke("balance", "--wire", wire)
    assert result.exit_code == 0, result.output
    assert "Credits: 500.00" in result.output
    result = invoke("balance", "--json", env={"ASMS_WIRE": wire})
    assert json.loads(result.output) == {"credits": 500.0}


def test_send_to_two_numbers(invoke, emulator: GatewayEmulator) -> None:  # type: ignore[no-untyped-def]
    result = invoke(
        "send", "+27 82 123 4567", "27821234568", "--text", "Hello there",
        "--from", "Shop", "--callback", "3", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["to"] for r in records] == ["27821234567", "27821234568"]
    assert all(r["accepted"] and r["apimsgid"] for r in records)
    committed = {m.to: m for m in emulator.recorder.messages}
    assert set(committed) == {"27821234567", "27821234568"}
    first = committed["27821234567"]
    assert (first.text, first.from_, first.callback) == ("Hello there", "Shop", 3)
    assert first.apimsgid == records[0]["apimsgid"]


def test_send_table_and_partial_failure(invoke, emulator: GatewayEmulator) -> None:  # type: ignore[no-untyped-def]
    emulator.blocked.add("27821234569")
    result = invoke("send", "27821234567,27821234569", "-t", "Hi")
    assert result.exit_code == 1, result.output
    assert "1 of 2 accepted" in result.output
    assert "accepted" in result.output
    assert "121" in result.output
    assert [m.to for m in emulator.recorder.messages] == ["27821234567"]


def test_send_reads_text_from_stdin(base_url: str) -> None:
    args = ("send", "27821234567", "--text", "-", "--json")
    result = cli_result(base_url, *args, input="Text from a pipe\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["accepted"]


def test_send_refused_locally_is_a_usage_error(invoke, emulator: GatewayEmulator) -> None:  # type: ignore[no-untyped-def]
    result = invoke("send", "2782", "-t", "x")
    assert result.exit_code == 2
    assert "to:" in result.output
    result = invoke("send", "27821234567", "-t", "x" * 1000)
    assert result.exit_code == 2
    assert emulator.recorder.messages == []


def test_status_by_apimsgid_and_climsgid(invoke) -> None:  # type: ignore[no-untyped-def]
    sent = json.loads(
        invoke("send", "27821234567", "-t", "Hi", "--climsgid", "order42", "--json").output
    )
    apimsgid = sent[0]["apimsgid"]
    time.sleep(0.3)  # past the emulator's short lifecycle: delivered
    result = invoke("status", apimsgid)
    assert result.exit_code == 0, result.output
    assert f"{apimsgid}: 004 Received by recipient (final)" in " ".join(result.output.split())
    record = json.loads(invoke("status", "--climsgid", "order42", "--json").output)
    assert record == {
        "apimsgid": apimsgid,
        "status": 4,
        "description": "Received by recipient",
        "final": True,
    }
    charged = json.loads(invoke("status", apimsgid, "--charge", "--json").output)
    assert charged["charge"] == 1.0


def test_status_by_climsgid_finds_a_resend_under_its_own_id(invoke) -> None:  # type: ignore[no-untyped-def]
    """A resend after a lookup that found nothing carries a derived id: asking for the
    request's id must still find it, or the user would be told to send it again."""
    from asms._sending import attempt_climsgid

    resent = attempt_climsgid("order43", 1)
    sent = json.loads(
        invoke("send", "27821234567", "-t", "Hi", "--climsgid", resent, "--json").output
    )
    record = json.loads(invoke("status", "--climsgid", "order43", "--json").output)
    assert record["apimsgid"] == sent[0]["apimsgid"]
    result = invoke("status", "--climsgid", "order44")
    assert result.exit_code == 1
    assert "nor any resend" in result.output


def test_status_of_an_unknown_message_fails(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("status", "0" * 32)
    assert result.exit_code == 1
    assert "Error" in result.output


def test_coverage(invoke, emulator: GatewayEmulator) -> None:  # type: ignore[no-untyped-def]
    emulator.set_route("44", None)
    routed = invoke("coverage", "27821234567")
    assert routed.exit_code == 0, routed.output
    assert "routed" in routed.output
    refused = invoke("coverage", "447700900123", "--json")
    assert refused.exit_code == 1
    assert json.loads(refused.output)["supported"] is False


def test_wrong_password_is_a_configuration_error(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("balance", env={"ASMS_PASSWORD": "wrong-secret-value"})
    assert result.exit_code == 2
    assert "authentication failed" in result.output
    assert "wrong-secret-value" not in result.output


def test_unreachable_gateway_exits_2() -> None:
    # Nothing listening at the base URL is a configuration problem, like a wrong path.
    # The discard port: nothing listens.
    result = cli_result("http://127.0.0.1:9", "balance", "--timeout", "2")
    assert result.exit_code == 2, result.output
    assert "Error" in result.output
    assert PASSWORD not in result.output


# -- callbacks ---------------------------------------------------------------------------------


def test_callbacks_prints_status_events(invoke, emulator: GatewayEmulator) -> None:  # type: ignore[no-untyped-def]
    process, port = start_receiver(
        "--count", "2", "--basic-auth-user", "gw", "--secret-path", "hook-7f2a",
        env={"ASMS_CALLBACK_PASSWORD": "cb-secret-1"},
    )  # fmt: skip
    try:
        emulator.update_account(
            1234,
            callback_url=f"http://127.0.0.1:{port}/hook-7f2a/status",
            callback_auth=("gw", "cb-secret-1"),
        )
        sent = invoke("send", "27821234567", "-t", "Hi", "--callback", "3", "--json")
        apimsgid = json.loads(sent.output)[0]["apimsgid"]
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["event"], e["apimsgid"]) for e in events] == [("status", apimsgid)] * 2
    assert [e["status"] for e in events] == [3, 4]
    assert events[1]["final"] is True
    assert "hook-7f2a" not in err  # the secret path is not printed
    assert "cb-secret-1" not in out + err


def test_callbacks_refuses_wrong_credentials(emulator: GatewayEmulator) -> None:
    import httpx

    process, port = start_receiver(
        "--basic-auth-user", "gw", env={"ASMS_CALLBACK_PASSWORD": "cb-secret-1"}
    )
    try:
        form = {"apiMsgId": "a" * 32, "to": "27821234567", "status": "004", "timestamp": "1"}
        url = f"http://127.0.0.1:{port}/status"
        assert httpx.post(url, data=form, auth=("gw", "nope")).status_code == 401
        assert httpx.post(url, data=form, auth=("gw", "cb-secret-1")).status_code == 200
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert json.loads(out.splitlines()[0])["apimsgid"] == "a" * 32


def test_demo_runs_its_own_emulator() -> None:
    result = CliRunner().invoke(make_cli(), ["demo", "--count", "300", "--rate", "3000"], env={})
    assert result.exit_code == 0, result.output
    assert "300" in result.output
