"""Arguments of the wrong kind are refused with ValidationError naming the field, nothing
sent: before, each of these went on to an AttributeError or TypeError from deep inside, or
was taken silently (a second account, a timeout that fails every request)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import asms
from asms import AsyncClient
from asms.testing import EmulatorTransport, GatewayEmulator


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"credentials": asms.Credentials("5678", "shop", "s3cret")}, "credentials"),
        ({"limits": "x"}, "limits"),
        ({"clock": "x"}, "clock"),
        ({"proxy": 5}, "proxy"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": httpx.Timeout(-5)}, "timeout"),
    ],
)
def test_the_client_refuses_arguments_of_the_wrong_kind(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(asms.ValidationError) as info:
        AsyncClient(1234, "demo", "demo", **changes)
    assert info.value.field == field
    assert "s3cret" not in str(info.value)


def test_credentials_alone_and_a_timeout_without_limits_are_fine() -> None:
    AsyncClient(credentials=asms.Credentials("5678", "shop", "s3cret"))
    AsyncClient(1234, "demo", "demo", timeout=None)
    AsyncClient(1234, "demo", "demo", timeout=httpx.Timeout(5.0, connect=None))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.send_request("hello"), "messages"),
        (lambda c: c.send_request(["27821234567"]), "messages"),
        (lambda c: c.send_request(None), "messages"),
        (lambda c: c.send_message("hi"), "message"),
    ],
)
async def test_send_request_and_send_message_take_messages(call: Any, field: str) -> None:
    emulator = GatewayEmulator()
    async with AsyncClient(
        1234, "demo", "demo", transport=EmulatorTransport(emulator), base_url="http://g"
    ) as client:
        with pytest.raises(asms.ValidationError) as info:
            await call(client)
    assert info.value.field == field
    assert not emulator.recorder.messages


def test_count_parts_and_the_limiter_name_their_field() -> None:
    with pytest.raises(asms.ValidationError) as info:
        asms.count_parts(None)  # type: ignore[arg-type]
    assert info.value.field == "text"
    with pytest.raises(asms.ValidationError) as info:
        asms.RateLimiter(rate=0)
    assert info.value.field == "rate"
    with pytest.raises(asms.ValidationError) as info:
        asms.RateLimiter(rate=1, burst=0)
    assert info.value.field == "burst"


@pytest.mark.anyio
@pytest.mark.parametrize("wire", ["http", "soap", "soap-rpc"])
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.send("hi", to="27821234567", max_credits=float("nan")), "max_credits"),
        (lambda c: c.send("hi", to="27821234567", max_credits=float("inf")), "max_credits"),
        (lambda c: c.send("hi", to="27821234567", **{"from": "BBB", "from_": "AAA"}), "from"),
        # (SOAP has no binary= at all: refused by that name there.)
        (lambda c: c.send("hello", to="27821234567", binary=True), "text|binary"),
        (lambda c: c.send("hello", to="27821234567", udh="0605040B8423F0"), "text"),
        (lambda c: c.token_pay(None), "token"),
        (lambda c: c.si_push("27821234567", si_id="1", si_url=None, si_text="x"), "si_url"),
    ],
)
async def test_option_values_the_gateway_would_refuse_are_refused_first(
    wire: str, call: Any, field: str
) -> None:
    # Before: each went to the gateway (ERR 101, or max_credits=nan on the wire), or the
    # later of `from` and `from_` was sent silently.
    emulator = GatewayEmulator()
    async with AsyncClient(
        1234, "demo", "demo", wire=wire, transport=EmulatorTransport(emulator), base_url="http://g"
    ) as client:
        with pytest.raises(asms.ValidationError) as info:
            await call(client)
    expected = {"text|binary": "text" if wire == "http" else "binary"}.get(field, field)
    assert info.value.field == expected
    assert not emulator.recorder.messages
    assert emulator.statistics().requests_by_command.get("sendmsg", 0) == 0


@pytest.mark.anyio
async def test_a_too_long_binary_message_names_data_and_a_range_rule_says_integer_once() -> None:
    emulator = GatewayEmulator()
    async with AsyncClient(
        1234, "demo", "demo", transport=EmulatorTransport(emulator), base_url="http://g"
    ) as client:
        with pytest.raises(asms.ValidationError) as info:
            await client.send("", to="27821234567", data="00" * 1000)
    assert info.value.field == "data" and "max_parts" in str(info.value)
    with pytest.raises(asms.ValidationError) as info:
        asms.SendOptions(callback="x")  # type: ignore[arg-type]
    assert str(info.value) == "callback: must be an integer from 0 to 7 (got 'x')"
    assert not emulator.recorder.messages


def test_a_rate_of_true_is_refused() -> None:
    with pytest.raises(asms.ValidationError) as info:
        asms.RateLimiter(rate=True)
    assert info.value.field == "rate"
