"""The emulator's Platform endpoints, over raw httpx: Platform SMS (``/messages``,
``/messages/http/send``, ``/public-client/...``) and the One API (``/v1/...``), every
response variant, authentication, validation, credits and the shared recorder."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from helpers.emulator import CREDS

from asms._codes import MessageStatus
from asms._config import DEMO_API_KEY
from asms.testing import (
    Account,
    EmulatorTransport,
    FakeClock,
    GatewayEmulator,
    Integration,
    Lifecycle,
    PlatformProfile,
)

pytestmark = pytest.mark.anyio

START = 1_700_000_000.0
HEX32 = re.compile("[0-9a-f]{32}")
A, B, C = "27821234567", "27821234568", "27821234569"
CURRENT_KEYS = {"apiMessageId", "accepted", "to", "errorCode", "error", "errorDescription"}


def make(**kwargs: Any) -> GatewayEmulator:
    kwargs.setdefault("lifecycle", Lifecycle(queued=1, delivery=4))
    return GatewayEmulator(clock=FakeClock(START), **kwargs)


@asynccontextmanager
async def client(
    emu: GatewayEmulator, key: str | None = DEMO_API_KEY
) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": key} if key is not None else {}
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu), base_url="http://platform.test", headers=headers
    ) as http:
        yield http


async def post(emu: GatewayEmulator, body: Any, key: str | None = DEMO_API_KEY) -> httpx.Response:
    async with client(emu, key) as http:
        if isinstance(body, bytes):
            return await http.post("/messages", content=body)
        return await http.post("/messages", json=body)


async def one_api(
    emu: GatewayEmulator, body: Any, key: str | None = DEMO_API_KEY
) -> httpx.Response:
    async with client(emu, key) as http:
        if isinstance(body, bytes):
            return await http.post("/v1/message", content=body)
        return await http.post("/v1/message", json=body)


def sms(to: str, content: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {"channel": "sms", "to": to, "content": content, **extra}


# -- Platform SMS: POST /messages ------------------------------------------------------------


async def test_messages_accepts_and_commits_every_recipient() -> None:
    emu = make()
    reply = await post(emu, {"content": "Hello", "to": [A, B], "clientMessageId": "c1"})
    assert reply.status_code == 202
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert list(body) == ["messages", "errorCode", "error", "errorDescription"]
    assert body["errorCode"] is body["error"] is body["errorDescription"] is None
    assert [m["to"] for m in body["messages"]] == [A, B]
    for entry in body["messages"]:
        assert set(entry) == CURRENT_KEYS and entry["accepted"] is True
        assert HEX32.fullmatch(entry["apiMessageId"])
        assert entry["errorCode"] is entry["error"] is entry["errorDescription"] is None
        message = emu.message(entry["apiMessageId"])
        assert message is not None
        assert (message.climsgid, message.text, message.command) == ("c1", "Hello", "platform:send")
        assert emu.status(entry["apiMessageId"]) == MessageStatus.MESSAGE_QUEUED
    assert emu.balance() == 1_000_000 - 2
    stats = emu.statistics()
    assert (stats.requests, stats.commits, stats.messages, stats.parts) == (1, 1, 2, 2)
    assert stats.requests_by_command == {"platform:send": 1}
    assert emu.recorder.committed("c1") == 1
    assert emu.recorder.climsgid_repeats() == {}


@pytest.mark.parametrize("variant", ["current", "2020", "2017"])
async def test_every_variant_has_its_shape(variant: str) -> None:
    emu = make(platform=variant)
    reply = await post(emu, {"content": "Hi", "to": [A, "12"]})
    assert reply.status_code == 202
    body = reply.json()
    ok, bad = body["messages"]
    assert ok["accepted"] is True and bad == {
        **bad,
        "apiMessageId": None,
        "accepted": False,
        "to": "12",
    }
    if variant == "2017":
        assert body == {"messages": [ok, bad], "error": None}
        assert set(ok) == set(bad) == {"apiMessageId", "accepted", "to", "error"}
        assert bad["error"] == "Invalid destination address."
    else:
        top = [] if variant == "2020" else ["errorCode", "error", "errorDescription"]
        assert list(body) == ["messages", *top]
        assert set(ok) == set(bad) == CURRENT_KEYS
        assert (bad["errorCode"], bad["error"]) == (105, "Invalid destination address.")
        assert bad["errorDescription"]


@pytest.mark.parametrize("variant", ["current", "2020", "2017"])
async def test_request_level_failures_in_every_variant(variant: str) -> None:
    emu = make(platform=variant)
    missing = await post(emu, {"content": "Hi", "to": [A]}, key=None)
    wrong = await post(emu, {"content": "Hi", "to": [A]}, key="not-a-key")
    for reply in (missing, wrong):
        assert reply.status_code == 401
        body = reply.json()
        if variant == "2017":
            assert body == {"messages": [], "error": "Invalid or missing integration API Key."}
        else:
            assert body == {
                "messages": [],
                "errorCode": 108,
                "error": "Invalid or missing integration API Key.",
                "errorDescription": "The integration API key is either incorrect or has not "
                "been included in the API call.",
            }
    assert emu.statistics().errors == {108: 2}
    assert emu.statistics().commits == 0


async def test_errors_as_200_and_the_profile_can_change() -> None:
    emu = make(platform="2020+200")
    assert emu.platform == PlatformProfile(variant="2020", errors_as_200=True)
    reply = await post(emu, {"content": "Hi", "to": [A]}, key="nope")
    assert reply.status_code == 200 and reply.json()["errorCode"] == 108
    emu.platform = "current"
    reply = await post(emu, {"content": "Hi", "to": [A]}, key="nope")
    assert reply.status_code == 401


async def test_shuffled_results_cover_every_recipient_in_another_order() -> None:
    numbers = [f"2782{i:07d}" for i in range(30)]
    emu = make(platform=PlatformProfile(shuffle=True))
    body = (await post(emu, {"content": "Hi", "to": numbers})).json()
    answered = [m["to"] for m in body["messages"]]
    assert sorted(answered) == numbers and answered != numbers
    for entry in body["messages"]:  # each id is the message to that number
        message = emu.message(entry["apiMessageId"])
        assert message is not None and message.to == entry["to"]
    again = make(platform=PlatformProfile(shuffle=True))
    repeat = (await post(again, {"content": "Hi", "to": numbers})).json()
    assert [m["to"] for m in repeat["messages"]] == answered  # seeded


async def test_plus_numbers_and_number_types_are_accepted() -> None:
    emu = make()
    body = (await post(emu, {"content": "Hi", "to": ["+" + A, int(B)]})).json()
    assert [(m["to"], m["accepted"]) for m in body["messages"]] == [("+" + A, True), (B, True)]
    assert sorted(m.to for m in emu.recorder.messages) == [A, B]


@pytest.mark.parametrize(
    ("text", "parts"),
    [("a" * 160, 1), ("a" * 161, 2), ("€" * 80, 1), ("é☺", 1), ("☺" * 70, 1), ("☺" * 71, 2)],
)
async def test_parts_are_counted_from_the_utf8_text(text: str, parts: int) -> None:
    emu = make()
    reply = await post(emu, {"content": text, "to": [A, B]})
    assert all(m["accepted"] for m in reply.json()["messages"])
    assert {m.parts for m in emu.recorder.messages} == {parts}
    assert emu.recorder.messages[0].text == text
    assert emu.statistics().parts == 2 * parts
    assert emu.balance() == 1_000_000 - 2 * parts


async def test_binary_content_with_a_udh() -> None:
    emu = make()
    body = {"content": "48656C6C6F", "binary": True, "userDataHeader": "0605040B8423F0", "to": [A]}
    assert (await post(emu, body)).json()["messages"][0]["accepted"] is True
    assert emu.recorder.messages[0].text == "48656C6C6F"
    bad = await post(emu, {**body, "content": "zz"})
    assert bad.status_code == 400 and bad.json()["errorCode"] == 101


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, 100),
        (b'["a list"]', 400, 100),
        (b"\xff\xfe", 400, 100),
        ({"content": "Hi"}, 400, 101),
        ({"content": "Hi", "to": []}, 400, 101),
        ({"content": "Hi", "to": [None]}, 400, 101),
        ({"content": "Hi", "to": [f"2782{i:07d}" for i in range(201)]}, 400, 101),
        ({"content": "", "to": [A]}, 400, 107),
        ({"to": [A]}, 400, 107),
        ({"content": 5, "to": [A]}, 400, 101),
        ({"content": "Hi", "to": [A], "from": "Shop!"}, 200, 106),
        ({"content": "Hi", "to": [A], "clientMessageId": 7}, 400, 101),
        ({"content": "Hi", "to": [A], "validityPeriod": 0}, 400, 101),
        ({"content": "Hi", "to": [A], "scheduledDeliveryTime": "tomorrow"}, 400, 120),
        (
            {"content": "Hi", "to": [A], "scheduledDeliveryTime": "2030-01-01T00:00:00+0000"},
            400,
            120,
        ),
        ({"content": "a" * 500, "to": [A]}, 400, 113),
    ],
)
async def test_a_bad_request_is_refused_whole(body: Any, status: int, code: int) -> None:
    emu = make()
    reply = await post(emu, body)
    assert reply.status_code == status
    assert reply.json()["messages"] == [] and reply.json()["errorCode"] == code
    assert emu.statistics().commits == 0 and emu.statistics().errors == {code: 1}


async def test_exactly_200_recipients_are_one_request() -> None:
    emu = make()
    numbers = [f"2782{i:07d}" for i in range(200)]
    reply = await post(emu, {"content": "Hi", "to": numbers})
    assert reply.status_code == 202 and len(reply.json()["messages"]) == 200
    assert emu.statistics().commits == 1


async def test_from_on_a_one_way_integration_is_607_with_http_200() -> None:
    emu = make(integrations=[Integration(key="one-way", two_way=False)])
    reply = await post(emu, {"content": "Hi", "to": [A], "from": "27830000000"}, key="one-way")
    assert reply.status_code == 200
    assert reply.json() == {
        "messages": [],
        "errorCode": 607,
        "error": "Invalid FROM number.",
        "errorDescription": "User specified FROM number, but integration isn't two-way.",
    }
    emu.platform = "2017"
    reply = await post(emu, {"content": "Hi", "to": [A], "from": "27830000000"}, key="one-way")
    assert reply.json() == {
        "messages": [],
        "error": "Two-Way integration error - From number is not related to integration",
    }
    ok = await post(emu, {"content": "Hi", "to": [A]}, key="one-way")
    assert ok.json()["messages"][0]["accepted"] is True


async def test_from_on_a_two_way_integration_is_the_sender() -> None:
    emu = make()
    await post(emu, {"content": "Hi", "to": [A], "from": "+27830000000"})
    assert emu.recorder.messages[0].from_ == "27830000000"


async def test_validity_and_schedule() -> None:
    emu = make(lifecycle=Lifecycle(queued=120, delivery=4))
    later = "2023-11-15T00:13:20+0100"  # START + 1 hour, written in another offset
    body = (await post(emu, {"content": "Hi", "to": [A], "scheduledDeliveryTime": later})).json()
    scheduled = body["messages"][0]["apiMessageId"]
    assert emu.status(scheduled) == MessageStatus.QUEUED_FOR_LATER_DELIVERY
    message = emu.message(scheduled)
    assert message is not None and message.due == START + 3600
    body = (await post(emu, {"content": "Bye", "to": [A], "validityPeriod": 1})).json()
    short = body["messages"][0]["apiMessageId"]
    emu.advance(61)
    assert emu.status(short) == MessageStatus.MESSAGE_EXPIRED


# -- credits ---------------------------------------------------------------------------------


async def test_no_credit_is_a_request_failure_on_both_wires() -> None:
    emu = make()
    emu.set_credits(0)
    reply = await post(emu, {"content": "Hi", "to": [A, B]})
    assert reply.status_code == 402
    assert reply.json()["errorCode"] == 301 and reply.json()["messages"] == []
    reply = await one_api(emu, {"messages": [sms(A), sms(B)]})
    assert reply.status_code == 402
    assert reply.json() == {"error": {"code": 20, "description": "Insufficient account balance"}}
    assert emu.statistics().commits == 0 and emu.statistics().errors == {301: 4}


async def test_credit_for_some_recipients_only() -> None:
    emu = make()
    emu.set_credits(1)
    body = (await post(emu, {"content": "Hi", "to": [A, B]})).json()
    assert [m["accepted"] for m in body["messages"]] == [True, False]
    assert body["messages"][1]["errorCode"] == 301
    emu.set_credits(1)
    reply = await one_api(emu, {"messages": [sms(A), sms(B)]})
    assert reply.status_code == 207
    assert reply.json()["messages"][1] == {
        "error": {"code": 20, "description": "Insufficient account balance"},
        "accepted": False,
        "to": B,
    }
    assert emu.balance() == 0


# -- Platform SMS: GET /messages/http/send ---------------------------------------------------


async def test_http_send_takes_the_key_in_the_query() -> None:
    emu = make()
    async with client(emu, key=None) as http:
        reply = await http.get(
            "/messages/http/send",
            params={"apiKey": DEMO_API_KEY, "to": f"{A},{B}", "content": "Grüße ☺"},
        )
        assert reply.status_code == 202
        assert [m["to"] for m in reply.json()["messages"]] == [A, B]
        assert {m.text for m in emu.recorder.messages} == {"Grüße ☺"}
        assert emu.statistics().requests_by_command == {"platform:http_send": 1}
        refused = await http.get("/messages/http/send", params={"to": A, "content": "x"})
        assert refused.status_code == 401 and refused.json()["errorCode"] == 108
        wrong_method = await http.post("/messages/http/send")
        assert wrong_method.status_code == 405
        get_messages = await http.get("/messages")
        assert get_messages.status_code == 405


# -- One API: POST /v1/message ---------------------------------------------------------------


async def test_one_api_all_accepted_is_202() -> None:
    emu = make()
    reply = await one_api(
        emu, {"messages": [sms(A, clientMessageId="r1"), sms(B, clientMessageId="r1")]}
    )
    assert reply.status_code == 202
    body = reply.json()
    assert list(body) == ["messages", "error"] and body["error"] is None
    for entry, number in zip(body["messages"], [A, B], strict=True):
        assert set(entry) == {"apiMessageId", "accepted", "to", "error"}
        assert entry["accepted"] is True and entry["to"] == number and entry["error"] is None
        message = emu.message(entry["apiMessageId"])
        assert message is not None and message.command == "one-api:send"
    stats = emu.statistics()
    assert (stats.commits, stats.messages) == (1, 2)  # one request, one commit per client id
    assert emu.recorder.committed("r1") == 1


async def test_one_api_mixed_is_207_and_all_rejected_is_400() -> None:
    emu = make()
    reply = await one_api(emu, {"messages": [sms(A), sms("12"), sms(B, content="")]})
    assert reply.status_code == 207
    ok, bad, empty = reply.json()["messages"]
    assert ok["accepted"] is True
    assert bad == {
        "error": {"code": 25, "description": "Invalid recipient address"},
        "accepted": False,
        "to": "12",
    }
    assert empty["error"] == {"code": 23, "description": "Invalid or missing parameter: content"}
    reply = await one_api(emu, {"messages": [sms("12")]})
    assert reply.status_code == 400
    assert reply.json()["error"] is None and reply.json()["messages"][0]["error"]["code"] == 25
    assert emu.statistics().errors == {105: 2, 101: 1}


async def test_one_api_groups_messages_by_text_and_client_id() -> None:
    emu = make()
    messages = [
        sms(A, "one", clientMessageId="x"),
        sms(B, "two", clientMessageId="y"),
        sms(C, "one", clientMessageId="x"),
    ]
    reply = await one_api(emu, {"messages": messages})
    assert reply.status_code == 202
    assert [m["to"] for m in reply.json()["messages"]] == [A, B, C]
    assert emu.statistics().commits == 2
    assert (emu.recorder.committed("x"), emu.recorder.committed("y")) == (1, 1)
    assert {(m.to, m.text) for m in emu.recorder.messages} == {(A, "one"), (B, "two"), (C, "one")}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{", 400, {"code": 21, "description": "Payload malformed"}),
        (
            {"messages": []},
            400,
            {"code": 23, "description": "Invalid or missing parameter: messages"},
        ),
        (
            {"messages": [sms(f"2782{i:07d}") for i in range(201)]},
            400,
            {"code": 22, "description": "Maximum messages per request payload exceeded"},
        ),
    ],
)
async def test_one_api_request_level_errors(body: Any, status: int, error: Any) -> None:
    emu = make()
    reply = await one_api(emu, body)
    assert reply.status_code == status
    assert reply.json() == {"error": error}
    assert emu.statistics().commits == 0


async def test_one_api_per_message_checks() -> None:
    emu = make(integrations=[Integration(key="k", two_way=False)])
    messages = [
        {"channel": "whatsapp", "to": A, "content": "x"},
        sms(A, **{"from": "27830000000"}),
        {"channel": "sms", "content": "x"},
        sms(A, "a" * 500),
        "not an object",
    ]
    reply = await one_api(emu, {"messages": messages}, key="k")
    assert reply.status_code == 400
    codes = [m["error"]["code"] for m in reply.json()["messages"]]
    assert codes == [39, 45, 23, 100, 23]


async def test_one_api_authentication() -> None:
    emu = make()
    for key in (None, "wrong"):
        reply = await one_api(emu, {"messages": [sms(A)]}, key=key)
        assert reply.status_code == 401
        assert reply.json() == {
            "error": {"code": 1, "description": "Invalid or missing integration API Key"}
        }


# -- balance and status ----------------------------------------------------------------------


async def test_balances() -> None:
    emu = make()
    emu.set_credits(123.45)
    async with client(emu) as http:
        platform = await http.get("/public-client/balance")
        assert platform.status_code == 200
        assert platform.json() == {"balance": 123.45, "currency": "ZAR"}
        one = await http.get("/v1/balance")
        assert one.status_code == 200 and one.json() == {"currency": "ZAR", "balance": 123.45}
    async with client(emu, key="nope") as http:
        refused = await http.get("/public-client/balance")
        assert refused.status_code == 401 and refused.json()["errorCode"] == 108
        refused = await http.get("/v1/balance")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == 1


async def test_status_follows_the_lifecycle_on_both_wires() -> None:
    emu = make()
    body = (await post(emu, {"content": "Hi", "to": [A]})).json()
    apimsgid = body["messages"][0]["apiMessageId"]
    seen = []
    async with client(emu) as http:
        for step in (0, 1, 4):
            emu.advance(step)
            platform = await http.get(
                "/public-client/message/status", params={"messageId": apimsgid}
            )
            one = await http.get(f"/v1/message/{apimsgid}")
            assert platform.status_code == one.status_code == 200
            seen.append((platform.json(), one.json()))
    (p1, o1), (p2, o2), (p3, o3) = seen
    assert p1 == {
        "messageId": apimsgid,
        "status": "MESSAGE_QUEUED",
        "statusCode": 2,
        "statusDescription": "Message queued",
        "timestamp": int(START * 1000),
    }
    assert o1 == {"sms": {"status": "QUEUED", "statusCode": 2, "timestamp": int(START * 1000)}}
    assert (p2["status"], p2["statusCode"], p2["timestamp"]) == (
        "DELIVERED_TO_GATEWAY",
        3,
        int(START * 1000) + 1000,
    )
    assert o2["sms"]["status"] == "SENT_TO_SUPPLIER" and o2["sms"]["statusCode"] == 4
    assert (p3["status"], p3["statusCode"]) == ("RECEIVED_BY_RECIPIENT", 4)
    assert o3["sms"] == {
        "status": "DEVICE_ACK",
        "statusCode": 5,
        "timestamp": int(START * 1000) + 5000,
    }
    counts = emu.statistics().requests_by_command
    assert (counts["platform:status"], counts["one-api:status"]) == (3, 3)


async def test_status_of_an_unknown_or_foreign_message() -> None:
    other = Account(api_id=99, user="other", password="pw")
    emu = make(
        accounts=[Account(api_id=1234, user="demo", password="demo"), other],
        integrations=[Integration(key=DEMO_API_KEY), Integration(key="k99", api_id=99)],
    )
    body = (await post(emu, {"content": "Hi", "to": [A]}, key="k99")).json()
    foreign = body["messages"][0]["apiMessageId"]
    async with client(emu) as http:
        for message_id in ("0" * 32, foreign):
            platform = await http.get(
                "/public-client/message/status", params={"messageId": message_id}
            )
            assert platform.status_code == 404
            assert platform.json() == {
                "errorCode": 103,
                "error": "Unknown API message ID.",
                "errorDescription": "Unknown API message ID.",
            }
            one = await http.get(f"/v1/message/{message_id}")
            assert one.status_code == 404
            assert one.json() == {"error": {"code": 41, "description": "Resource does not exist"}}
        missing = await http.get("/public-client/message/status")
        assert missing.status_code == 400 and missing.json()["errorCode"] == 101
    assert emu.balance(99) == 999 and emu.balance(1234) == 1000


async def test_a_legacy_query_sees_a_platform_message() -> None:
    emu = make()
    body = (await post(emu, {"content": "Hi", "to": [A]})).json()
    apimsgid = body["messages"][0]["apiMessageId"]
    reply = emu.app.handle(
        "POST",
        "/http/querymsg",
        b"",
        f"api_id=1234&user=demo&password=demo&apimsgid={apimsgid}".encode(),
        "127.0.0.1",
    )
    assert reply.body.decode() == f"ID: {apimsgid} Status: 002"


# -- accounts and keys -----------------------------------------------------------------------


async def test_each_key_charges_its_own_account() -> None:
    emu = make(
        accounts=[
            Account(api_id=1, user="a", password="a", credits=10),
            Account(api_id=2, user="b", password="b", credits=20),
        ],
        integrations=[Integration(key="first"), Integration(key="second", api_id=2)],
    )
    await post(emu, {"content": "Hi", "to": [A]}, key="first")
    await one_api(emu, {"messages": [sms(A), sms(B)]}, key="second")
    assert (emu.balance(1), emu.balance(2)) == (9, 18)
    assert sorted(m.api_id for m in emu.recorder.messages) == [1, 2, 2]
    # the demo key exists only when no integrations are given
    assert (await post(emu, {"content": "Hi", "to": [A]})).status_code == 401


async def test_keys_can_be_added_and_changed() -> None:
    emu = make()
    assert list(emu.integrations) == [DEMO_API_KEY]
    emu.add_integration(Integration(key="new"))
    assert (await post(emu, {"content": "Hi", "to": [A], "from": "27830000000"}, key="new")).json()[
        "messages"
    ][0]["accepted"]
    changed = emu.update_integration("new", two_way=False)
    assert changed.two_way is False and emu.integrations["new"] is changed
    reply = await post(emu, {"content": "Hi", "to": [A], "from": "27830000000"}, key="new")
    assert reply.json()["errorCode"] == 607


async def test_a_key_of_a_frozen_or_locked_account_is_refused() -> None:
    emu = make()
    emu.update_account(1234, allowed_ips=frozenset({"10.0.0.1"}))
    reply = await post(emu, {"content": "Hi", "to": [A]})
    assert reply.status_code == 401 and reply.json()["errorCode"] == 7
    emu.update_account(1234, allowed_ips=None, frozen=True)
    reply = await post(emu, {"content": "Hi", "to": [A]})
    assert reply.status_code == 400 and reply.json()["errorCode"] == 4
    reply = await one_api(emu, {"messages": [sms(A)]})
    assert reply.status_code == 400
    assert reply.json() == {"error": {"code": 2, "description": "Account is not active"}}


def test_integration_settings_are_checked_and_the_key_is_not_shown() -> None:
    integration = Integration(key="s3cret-key", callback_url="http://x/cb")
    assert "s3cret" not in repr(integration) and "<10 chars>" in repr(integration)
    assert re.fullmatch("[0-9a-f]{32}", integration.integration_id)
    assert Integration(key="s3cret-key").integration_id == integration.integration_id
    for bad in (
        {"key": ""},
        {"key": " k"},
        {"key": "a b"},  # keys the client refuses could never be used
        {"key": "ключ"},
        {"key": "k" * 201},
        {"key": "k", "api_id": -1},
        {"key": "k", "callback_method": "put"},
        {"key": "k", "callback_format": "xml"},
    ):
        with pytest.raises(ValueError):
            Integration(**bad)


def test_platform_profile_names() -> None:
    assert PlatformProfile.named("2017+shuffled+200") == PlatformProfile(
        variant="2017", shuffle=True, errors_as_200=True
    )
    for bad in ("2018", "current+sorted"):
        with pytest.raises(ValueError, match="unknown platform variant"):
            PlatformProfile.named(bad)
    with pytest.raises(ValueError):
        PlatformProfile(max_recipients=0)


# -- the recorder counts Platform sends as legacy ones ---------------------------------------


async def test_duplicates_are_found_across_wires() -> None:
    emu = make()
    await post(emu, {"content": "Hello", "to": [A], "clientMessageId": "p1"})
    await one_api(emu, {"messages": [sms(A, clientMessageId="o1")]})
    form = "&".join(f"{k}={v}" for k, v in {**CREDS, "to": A, "text": "Hello"}.items())
    emu.app.handle("POST", "/http/sendmsg", b"", form.encode(), "127.0.0.1")
    await post(emu, {"content": "Hello", "to": [B], "clientMessageId": "p1"})
    ((key, count),) = emu.recorder.duplicates().items()
    assert (key.to, key.text, count) == (A, "Hello", 3)
    assert emu.recorder.climsgid_repeats() == {"p1": 2}
    assert emu.statistics().duplicate_messages == 1 and emu.statistics().extra_messages == 2


@pytest.mark.parametrize("mode", ["counters", "totals"])
async def test_duplicates_in_the_lighter_recorder_modes(mode: str) -> None:
    emu = make(recorder=mode)
    for _ in range(2):
        await post(emu, {"content": "Hello", "to": [A, B], "clientMessageId": "same"})
    assert sorted(key.to for key in emu.recorder.duplicates()) == [A, B]
    assert emu.recorder.climsgid_repeats() == ({} if mode == "totals" else {"same": 2})


async def test_arrivals_log_the_first_error_code() -> None:
    emu = make()
    await post(emu, {"content": "Hi", "to": [A]})
    await post(emu, {"content": "Hi", "to": ["12"]})
    await post(emu, {"content": "Hi", "to": [A]}, key="x")
    await one_api(emu, {"messages": [sms("12")]})
    assert [(c, e) for _, c, e in emu.recorder.arrivals] == [
        ("platform:send", None),
        ("platform:send", 105),
        ("platform:send", 108),
        ("one-api:send", 105),
    ]


async def test_unknown_platform_paths_and_methods() -> None:
    emu = make()
    async with client(emu) as http:
        assert (await http.get("/v1/message/a/b")).status_code == 404
        for wrong in (await http.get("/v1/message"), await http.post("/v1/balance")):
            assert wrong.status_code == 400
            assert wrong.json() == {
                "error": {"code": 42, "description": "HTTP method not supported"}
            }
        assert (await http.post("/public-client/balance")).status_code == 405
        assert (await http.get("/public-client/balance/")).status_code == 200


def test_admin_api_adds_keys_and_sets_the_variant() -> None:
    emu = make(admin=True)

    def admin(method: str, path: str, data: Any = None) -> tuple[int, Any]:
        body = json.dumps(data).encode() if data is not None else b""
        reply = emu.app.handle(method, f"/_emulator/{path}", b"", body, "127.0.0.1")
        return reply.status, json.loads(reply.body)

    status, answer = admin("POST", "integrations", {"key": "added", "two_way": False})
    assert status == 200 and answer == {"integration_id": emu.integrations["added"].integration_id}
    assert emu.integrations["added"].two_way is False
    assert admin("POST", "integrations", {"key": "k", "colour": "red"})[0] == 400
    assert admin("GET", "platform")[1] == {
        "variant": "current",
        "shuffle": False,
        "errors_as_200": False,
        "max_recipients": 200,
        "currency": "ZAR",
    }
    status, answer = admin("POST", "platform", {"variant": "2017", "shuffle": True})
    assert status == 200 and answer["variant"] == "2017" and answer["shuffle"] is True
    assert emu.platform.variant == "2017"
    assert admin("POST", "platform", {"variant": "1999"})[0] == 400
    assert admin("POST", "platform", {"speed": 1})[0] == 400
