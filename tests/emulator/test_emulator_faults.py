"""Seeded fault injection, the errors it produces in-process, and the recorder's counts."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from helpers.emulator import CREDS

from asms._optable import OPERATIONS
from asms.testing import EmulatorTransport, FakeClock, Faults, GatewayEmulator, Recorder

SEND = {**CREDS, "to": "27821234567", "text": "Hi"}


def make(faults: Faults, **kwargs: object) -> GatewayEmulator:
    return GatewayEmulator(clock=FakeClock(), faults=faults, **kwargs)  # type: ignore[arg-type]


def call(emu: GatewayEmulator, command: str = "sendmsg", **params: str) -> tuple[str, str | None]:
    form = urlencode({**SEND, **params} if command == "sendmsg" else {**CREDS, **params})
    reply = emu.app.handle("POST", OPERATIONS[command].http_path, b"", form.encode(), "127.0.0.1")
    return reply.body.decode(), reply.action


async def post(emu: GatewayEmulator, read: float = 5.0, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu), base_url="http://gateway", timeout=read
    ) as client:
        return await client.post("/http/sendmsg", data={**SEND, **params})


# -- each kind, through the in-process transport ---------------------------------------------


@pytest.mark.anyio
async def test_err901_before_commit_commits_nothing() -> None:
    emu = make(Faults(err901_before_commit=1.0))
    response = await post(emu, climsgid="a1")
    assert response.text == "ERR: 901, Internal error"
    assert emu.recorder.committed("a1") == 0


@pytest.mark.anyio
async def test_err901_after_commit_commits_and_a_retry_duplicates() -> None:
    emu = make(Faults(script=("err901_after_commit",)))
    first = await post(emu, climsgid="a2")
    second = await post(emu, climsgid="a2")
    assert first.text == "ERR: 901, Internal error"
    assert second.text.startswith("ID: ")
    assert emu.recorder.duplicates() == {(1234, "27821234567", "", "Hi"): 2}
    assert emu.recorder.climsgid_repeats() == {"a2": 2}
    assert emu.recorder.climsgid_recipient_repeats() == {("a2", "27821234567"): 2}
    assert emu.statistics().faults == {"err901_after_commit": 1}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "error", "commits"),
    [
        ("drop_before_commit", httpx.ReadError, 0),
        ("drop_after_commit", httpx.ReadError, 1),
        ("truncated_reply", httpx.RemoteProtocolError, 1),
        ("connect_error", httpx.ConnectError, 0),
    ],
)
async def test_connection_faults_map_to_httpx_errors(
    kind: str, error: type[Exception], commits: int
) -> None:
    emu = make(Faults(script=(kind,)))
    with pytest.raises(error):
        await post(emu, climsgid="c1")
    assert emu.recorder.committed("c1") == commits
    assert (await post(emu, climsgid="c2")).text.startswith("ID: ")  # the script is spent


@pytest.mark.anyio
async def test_reply_slower_than_the_read_timeout_after_commit() -> None:
    emu = make(Faults(slow_reply=1.0, slow_reply_seconds=30.0))
    with pytest.raises(httpx.ReadTimeout):
        await post(emu, read=0.02, climsgid="s1")
    assert emu.recorder.committed("s1") == 1


@pytest.mark.anyio
async def test_latency_delays_but_answers() -> None:
    emu = make(Faults(latency=0.001))
    response = await post(emu)
    assert response.text.startswith("ID: ")
    assert emu.statistics().faults == {"latency": 1}


def test_socket_actions_for_drops_and_truncation() -> None:
    emu = make(Faults(script=("drop_after_commit", "truncated_reply", "connect_error")))
    assert call(emu)[1] == "drop"
    assert call(emu)[1] == "truncate"
    assert call(emu)[1] == "connect"
    assert call(emu)[1] is None


# -- determinism, scope, rates -----------------------------------------------------------------


def test_faults_repeat_exactly_for_a_seed() -> None:
    emu_a = make(Faults(seed=3, err901_before_commit=0.2, drop_after_commit=0.2))
    emu_b = make(Faults(seed=3, err901_before_commit=0.2, drop_after_commit=0.2))
    emu_c = make(Faults(seed=4, err901_before_commit=0.2, drop_after_commit=0.2))
    run_a = [call(emu_a) for _ in range(300)]
    run_b = [call(emu_b) for _ in range(300)]
    run_c = [call(emu_c) for _ in range(300)]
    kinds_a = [(line[:8], action) for line, action in run_a]
    assert kinds_a == [(line[:8], action) for line, action in run_b]
    assert kinds_a != [(line[:8], action) for line, action in run_c]
    stats = emu_a.statistics().faults
    assert 40 < stats["err901_before_commit"] < 80
    assert 40 < stats["drop_after_commit"] < 80
    # accepted = every request except the refused ones; dropped replies were still committed
    assert emu_a.statistics().commits == 300 - stats["err901_before_commit"]


def test_faults_apply_only_to_their_commands() -> None:
    emu = make(Faults(err901_before_commit=1.0))
    assert call(emu, "getbalance")[0] == "Credit: 1000000"
    emu.faults = Faults(err901_before_commit=1.0, commands=frozenset({"getbalance"}))
    assert call(emu, "getbalance")[0] == "ERR: 901, Internal error"
    assert call(emu)[0].startswith("ID: ")


def test_err130_until_a_timestamp() -> None:
    emu = make(Faults())
    until = int(emu.clock.wall_time()) + 60
    emu.faults = Faults(err130_until=until)
    assert call(emu)[0] == f"ERR: 130, Maximum MT limit exceeded until {until}"
    emu.advance(60)
    assert call(emu)[0].startswith("ID: ")


def test_rate_cap_counts_messages_on_the_clock() -> None:
    emu = make(Faults(rate_cap=10))
    results = [call(emu)[0][:3] for _ in range(12)]
    assert results == ["ID:"] * 10 + ["ERR"] * 2
    emu.advance(0.5)
    assert call(emu, to=",".join(["27821234567"] * 5))[0].count("ID:") == 5
    assert call(emu)[0] == "ERR: 901, Internal error"
    assert emu.statistics().faults == {"rate_cap": 3}


def test_querymsg_visibility_is_delayed() -> None:
    emu = make(Faults(querymsg_visibility_delay=5))
    apimsgid = call(emu, climsgid="v1")[0][4:]
    assert call(emu, "querymsg", climsgid="v1")[0] == "ERR: 104, Unknown client message ID"
    assert call(emu, "querymsg", apimsgid=apimsgid)[0] == "ERR: 103, Unknown API message ID"
    emu.advance(5)
    assert call(emu, "querymsg", climsgid="v1")[0] == f"ID: {apimsgid} Status: 004"


def session_sends(emu: GatewayEmulator, count: int) -> list[str]:
    """``count`` sendmsg requests with a session, opening a new one whenever it expired."""
    session = call(emu, "auth")[0][4:]
    lines = []
    for _ in range(count):
        line = call(emu, session_id=session, api_id="", user="", password="")[0]
        lines.append(line[:8])
        if line.startswith("ERR: 003"):
            session = call(emu, "auth")[0][4:]
    return lines


def test_session_expiry_drops_the_session_it_hits() -> None:
    emu = make(Faults(session_expiry=1.0))
    session = call(emu, "auth")[0][4:]
    by_session = {"session_id": session, "api_id": "", "user": "", "password": ""}
    assert call(emu, **by_session)[0] == "ERR: 003, Session ID expired"
    emu.faults = Faults()
    assert call(emu, **by_session)[0] == "ERR: 003, Session ID expired"  # gone for good
    assert emu.statistics().faults == {"session_expiry": 1}
    assert emu.statistics().commits == 0
    emu.faults = Faults(session_expiry=1.0)
    assert call(emu)[0].startswith("ID: ")  # credentials on the request: no session to lose
    session = call(emu, "auth")[0][4:]
    assert call(emu, "getbalance", session_id=session, api_id="", user="", password="")[0] == (
        "Credit: 999999"  # getbalance is not one of the fault's commands
    )


def test_session_expiry_is_seeded_and_leaves_the_other_faults_alone() -> None:
    lines_a = session_sends(make(Faults(seed=3, session_expiry=0.2)), 300)
    emu_b = make(Faults(seed=3, session_expiry=0.2))
    assert session_sends(emu_b, 300) == lines_a
    assert session_sends(make(Faults(seed=4, session_expiry=0.2)), 300) != lines_a
    expired = lines_a.count("ERR: 003")
    assert 40 < expired < 80
    assert emu_b.statistics().faults == {"session_expiry": expired}
    assert emu_b.statistics().commits == 300 - expired
    # The outcome faults fall on the same requests with or without session expiry.
    plain = session_sends(make(Faults(seed=3, err901_before_commit=0.2)), 300)
    mixed = session_sends(make(Faults(seed=3, err901_before_commit=0.2, session_expiry=0.3)), 300)
    assert [line == "ERR: 901" for line in plain] == [line == "ERR: 901" for line in mixed]
    assert "ERR: 003" in mixed


def test_fault_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="add up"):
        Faults(err901_before_commit=0.6, drop_after_commit=0.6)
    with pytest.raises(ValueError, match="probability"):
        Faults(truncated_reply=1.5)
    with pytest.raises(ValueError, match="session_expiry must be a probability"):
        Faults(session_expiry=1.5)
    with pytest.raises(ValueError, match="script"):
        Faults(script=("explode",))
    with pytest.raises(ValueError, match="unknown fault settings"):
        Faults.from_mapping({"nope": 1})
    assert not Faults().active
    assert Faults(latency=0.1).active
    assert Faults(session_expiry=0.05).active
    assert Faults(session_expiry=0.6, err901_before_commit=0.6).session_expiry == 0.6
    again = Faults.from_mapping(Faults(seed=5, commands=frozenset({"sendmsg"})).to_mapping())
    assert again == Faults(seed=5, commands=frozenset({"sendmsg"}))


# -- the recorder --------------------------------------------------------------------------------


def test_recorder_counts_one_commit_per_request_and_every_recipient() -> None:
    emu = make(Faults())
    call(emu, to="27821234567,27821234568", climsgid="m1")
    call(emu, to="27821234567", climsgid="m1")
    recorder = emu.recorder
    assert recorder.commits_by_climsgid == {"m1": 2}
    assert recorder.climsgid_recipient_repeats() == {("m1", "27821234567"): 2}
    assert recorder.duplicates() == {(1234, "27821234567", "", "Hi"): 2}
    stats = recorder.statistics()
    assert (stats.commits, stats.messages, stats.parts, stats.duplicate_climsgids) == (2, 3, 3, 1)
    assert (stats.duplicate_messages, stats.extra_messages) == (1, 1)
    assert stats.requests_by_command == {"sendmsg": 2}
    assert [m.to for m in recorder.messages_for("m1")] == [
        "27821234567",
        "27821234568",
        "27821234567",
    ]
    recorder.reset()
    assert recorder.statistics().commits == 0


@pytest.mark.parametrize("mode", ["counters", "totals"])
def test_recorder_modes_without_messages(mode: str) -> None:
    emu = make(Faults(), recorder=Recorder(mode))  # type: ignore[arg-type]
    call(emu, climsgid="k1")
    call(emu, climsgid="k1")
    assert emu.recorder.messages == []
    assert emu.statistics().messages == 2
    assert emu.recorder.climsgid_repeats() == ({"k1": 2} if mode == "counters" else {})
    assert emu.recorder.duplicates() == {(1234, "27821234567", "", "Hi"): 2}
