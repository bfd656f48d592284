"""The emulator's faults on the Platform sends: the same seeded dice and kinds as the legacy
API, counted in ``statistics().faults``, with the Platform meaning each has (the Faults
docstring): 503 before the commit, 500 after it, a refused connection for a drop before the
commit, 429 / One API 43 for the MT limit and the rate cap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from asms._config import DEMO_API_KEY
from asms.testing import EmulatorTransport, FakeClock, Faults, GatewayEmulator

pytestmark = pytest.mark.anyio

START = 1_700_000_000.0
A, B = "27821234567", "27821234568"


def make(**faults: Any) -> GatewayEmulator:
    return GatewayEmulator(clock=FakeClock(START), faults=Faults(**faults))


def platform_request(http: httpx.AsyncClient, climsgid: str) -> Any:
    return http.post("/messages", json={"content": "Hi", "to": [A, B], "clientMessageId": climsgid})


def one_api_request(http: httpx.AsyncClient, climsgid: str) -> Any:
    messages = [
        {"channel": "sms", "to": n, "content": "Hi", "clientMessageId": climsgid} for n in (A, B)
    ]
    return http.post("/v1/message", json={"messages": messages})


def http_send_request(http: httpx.AsyncClient, climsgid: str) -> Any:
    params = {
        "apiKey": DEMO_API_KEY,
        "to": f"{A},{B}",
        "content": "Hi",
        "clientMessageId": climsgid,
    }
    return http.get("/messages/http/send", params=params)


WIRES: dict[str, Callable[[httpx.AsyncClient, str], Any]] = {
    "platform": platform_request,
    "one-api": one_api_request,
    "http-send": http_send_request,
}


async def attempt(emu: GatewayEmulator, wire: str, climsgid: str = "c1") -> httpx.Response:
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu),
        base_url="http://platform.test",
        headers={"Authorization": DEMO_API_KEY},
    ) as http:
        response: httpx.Response = await WIRES[wire](http, climsgid)
        return response


@pytest.mark.parametrize("wire", list(WIRES))
async def test_err901_before_commit_is_503_and_nothing_committed(wire: str) -> None:
    emu = make(script=("err901_before_commit",))
    reply = await attempt(emu, wire)
    assert reply.status_code == 503
    if wire == "one-api":
        assert reply.json() == {
            "error": {"code": 19, "description": "Internal error, please retry"}
        }
    else:
        assert reply.json()["errorCode"] == 901 and reply.json()["messages"] == []
    stats = emu.statistics()
    assert (stats.commits, stats.faults, stats.errors) == (0, {"err901_before_commit": 1}, {901: 1})
    assert emu.balance() == 1_000_000


@pytest.mark.parametrize("wire", list(WIRES))
async def test_err901_after_commit_is_500_after_the_commit(wire: str) -> None:
    emu = make(script=("err901_after_commit",))
    reply = await attempt(emu, wire)
    assert reply.status_code == 500
    if wire == "one-api":
        assert reply.json() == {"error": {"code": 18, "description": "Internal error"}}
    else:
        assert reply.json()["errorCode"] == 901
    stats = emu.statistics()
    assert (stats.commits, stats.messages) == (1, 2)
    assert stats.faults == {"err901_after_commit": 1} and stats.errors == {901: 1}
    assert emu.recorder.committed("c1") == 1


@pytest.mark.parametrize("wire", list(WIRES))
async def test_drop_before_commit_is_a_refused_connection(wire: str) -> None:
    emu = make(script=("drop_before_commit", "connect_error"))
    for _ in range(2):
        with pytest.raises(httpx.ConnectError):
            await attempt(emu, wire)
    stats = emu.statistics()
    assert stats.commits == 0
    assert stats.faults == {"drop_before_commit": 1, "connect_error": 1}


@pytest.mark.parametrize("wire", list(WIRES))
async def test_drop_after_commit_and_truncated_reply_commit_first(wire: str) -> None:
    emu = make(script=("drop_after_commit", "truncated_reply"))
    with pytest.raises(httpx.ReadError):
        await attempt(emu, wire, "c1")
    with pytest.raises(httpx.RemoteProtocolError):
        await attempt(emu, wire, "c2")
    stats = emu.statistics()
    assert (stats.commits, stats.messages) == (2, 4)
    assert stats.faults == {"drop_after_commit": 1, "truncated_reply": 1}


async def test_slow_reply_times_out_after_the_commit() -> None:
    emu = make(script=("slow_reply",), slow_reply_seconds=30)
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu),
        base_url="http://platform.test",
        headers={"Authorization": DEMO_API_KEY},
        timeout=httpx.Timeout(5, read=0.01),
    ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await platform_request(http, "c1")
    assert emu.statistics().commits == 1 and emu.statistics().faults == {"slow_reply": 1}


@pytest.mark.parametrize(
    ("settings", "kind", "code"),
    [
        ({"err130_until": int(START) + 60}, "err130", 130),
        ({"err130_once": int(START) + 60}, "err130", 130),
        ({"rate_cap": 1.0}, "rate_cap", 901),
    ],
)
async def test_mt_limit_and_rate_cap_are_429_and_one_api_43(
    settings: dict[str, Any], kind: str, code: int
) -> None:
    emu = make(**settings)
    platform = await attempt(emu, "platform")  # two recipients: above a cap of one a second
    assert platform.status_code == 429
    assert platform.json()["errorCode"] == 130 and platform.json()["messages"] == []
    if "err130_once" in settings:
        emu.faults = Faults(**settings)  # armed again
    one = await attempt(emu, "one-api")
    assert one.status_code == 400
    assert one.json() == {"error": {"code": 43, "description": "Rate limit exceeded"}}
    stats = emu.statistics()
    assert stats.commits == 0 and stats.faults == {kind: 2} and stats.errors == {code: 2}


async def test_latency_is_added_and_counted() -> None:
    emu = make(latency=0.01)
    reply = await attempt(emu, "platform")
    assert reply.status_code == 202
    assert emu.statistics().faults == {"latency": 1}


async def test_the_same_seed_draws_the_same_faults_on_every_wire() -> None:
    settings = {
        "seed": 7,
        "err901_before_commit": 0.2,
        "drop_after_commit": 0.2,
        "err901_after_commit": 0.1,
    }

    async def outcomes(wire: str) -> list[str]:
        emu = make(**settings)
        seen = []
        for i in range(40):
            try:
                seen.append(str((await attempt(emu, wire, f"c{i}")).status_code))
            except httpx.ReadError:
                seen.append("drop")
        faults = emu.statistics().faults
        assert sum(faults.values()) == sum(1 for s in seen if s != "202")
        assert faults.get("drop_after_commit", 0) == seen.count("drop")
        assert faults.get("err901_before_commit", 0) == seen.count("503")
        assert faults.get("err901_after_commit", 0) == seen.count("500")
        return seen

    platform = await outcomes("platform")
    assert await outcomes("one-api") == platform
    # the legacy sendmsg of the same seed draws the same sequence
    legacy = make(**settings)
    kinds = [legacy._state.injector.draw()[0] for _ in range(40)]
    expected = {
        None: "202",
        "err901_before_commit": "503",
        "err901_after_commit": "500",
        "drop_after_commit": "drop",
    }
    assert [expected[k] for k in kinds] == platform


async def test_faults_apply_only_to_the_listed_commands() -> None:
    emu = make(script=("err901_before_commit",), commands=frozenset({"quicksend"}))
    assert (await attempt(emu, "platform")).status_code == 202
    emu.faults = Faults(script=("err901_before_commit",), commands=frozenset({"one-api:send"}))
    assert (await attempt(emu, "platform")).status_code == 202
    assert (await attempt(emu, "one-api")).status_code == 503
    assert emu.statistics().faults == {"err901_before_commit": 1}


async def test_balance_and_status_are_never_faulted() -> None:
    emu = make(err901_before_commit=1.0)
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu),
        base_url="http://platform.test",
        headers={"Authorization": DEMO_API_KEY},
    ) as http:
        assert (await http.get("/public-client/balance")).status_code == 200
        assert (await http.get("/v1/balance")).status_code == 200
    assert emu.statistics().faults == {}


async def test_a_hidden_message_is_unknown_to_the_status_query() -> None:
    emu = make(querymsg_visibility_delay=10)
    reply = await attempt(emu, "platform")
    apimsgid = reply.json()["messages"][0]["apiMessageId"]
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu),
        base_url="http://platform.test",
        headers={"Authorization": DEMO_API_KEY},
    ) as http:
        hidden = await http.get(f"/v1/message/{apimsgid}")
        assert hidden.status_code == 404
        emu.advance(10)
        assert (await http.get(f"/v1/message/{apimsgid}")).status_code == 200
    assert emu.statistics().faults == {"querymsg_hidden": 1}
