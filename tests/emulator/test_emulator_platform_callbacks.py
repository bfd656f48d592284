"""The emulator's Platform callbacks: status callbacks of Platform messages to their
integration (GET query or POST JSON, current and 2017 field sets, the One API envelope),
reply (MO) callbacks with the charset rules."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from asms._config import DEMO_API_KEY
from asms.testing import (
    Account,
    EmulatorTransport,
    FakeClock,
    GatewayEmulator,
    Integration,
    Lifecycle,
)
from asms.testing._callbacks import STATUS_RETRY_DELAYS, CallbackDispatcher

START = 1_700_000_000.0
MS = int(START * 1000)
A, B = "27821234567", "27821234568"
HANDSET, OUR_NUMBER = "27831110000", "27830000000"


class Receiver:
    """Takes callbacks in-process; answers with the statuses queued in ``answers``."""

    def __init__(self, *answers: int) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.answers.pop(0) if self.answers else 200)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]


def make(
    receiver: Receiver, *integrations: Integration
) -> tuple[GatewayEmulator, CallbackDispatcher]:
    clock = FakeClock(START)
    dispatcher = CallbackDispatcher(
        clock, lambda: httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    )
    emu = GatewayEmulator(
        clock=clock,
        callbacks=dispatcher,
        lifecycle=Lifecycle(queued=1, delivery=4),
        integrations=integrations or None,
    )
    return emu, dispatcher


async def send(emu: GatewayEmulator, path: str, body: Any, key: str = DEMO_API_KEY) -> Any:
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu), base_url="http://p.test", headers={"Authorization": key}
    ) as http:
        reply = await http.post(path, json=body)
    assert reply.status_code == 202, reply.text
    return reply.json()


async def run_lifecycle(emu: GatewayEmulator, dispatcher: CallbackDispatcher) -> None:
    for step in (0, 1, 4):  # queued, delivered to gateway, received
        emu.advance(step)
        await dispatcher.deliver_due()
    await dispatcher.aclose()


def hook(**settings: Any) -> Integration:
    return Integration(
        key=DEMO_API_KEY,
        name="shop",
        callback_url="http://rx.test/status",
        mo_callback_url="http://rx.test/mo",
        **settings,
    )


# -- status callbacks ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_platform_status_callbacks_post_the_current_fields() -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook())
    body = {"content": "Hi", "to": [A], "clientMessageId": "c1", "from": OUR_NUMBER}
    apimsgid = (await send(emu, "/messages", body))["messages"][0]["apiMessageId"]
    await run_lifecycle(emu, dispatcher)
    assert all(r.method == "POST" and r.url.path == "/status" for r in receiver.requests)
    assert all(r.headers["content-type"] == "application/json" for r in receiver.requests)
    first, *rest = receiver.bodies()
    assert first == {
        "integrationName": "shop",
        "messageId": apimsgid,
        "requestId": first["requestId"],
        "clientMessageId": "c1",
        "to": A,
        "from": OUR_NUMBER,
        "statusCode": 2,
        "status": "MESSAGE_QUEUED",
        "statusDescription": "Message queued",
        "timestamp": MS,
    }
    assert len(first["requestId"]) == 32 and first["requestId"] != apimsgid
    assert [(b["statusCode"], b["status"], b["timestamp"]) for b in rest] == [
        (3, "DELIVERED_TO_GATEWAY", MS + 1000),
        (4, "RECEIVED_BY_RECIPIENT", MS + 5000),
    ]
    assert list(first) == list(rest[0]) == list(rest[1])


@pytest.mark.anyio
async def test_platform_status_callbacks_by_get_and_one_request_id() -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook(callback_method="get"))
    body = await send(emu, "/messages", {"content": "Hi", "to": [A, B], "clientMessageId": "c2"})
    await run_lifecycle(emu, dispatcher)
    assert {r.method for r in receiver.requests} == {"GET"}
    queries = [
        dict(parse_qsl(r.url.query.decode(), keep_blank_values=True)) for r in receiver.requests
    ]
    assert len(queries) == 6
    ids = {m["apiMessageId"] for m in body["messages"]}
    assert {q["messageId"] for q in queries} == ids
    assert len({q["requestId"] for q in queries}) == 1  # one request, one id
    final = sorted(
        (q["to"], q["statusCode"], q["status"]) for q in queries if q["statusCode"] == "4"
    )
    assert final == [(A, "4", "RECEIVED_BY_RECIPIENT"), (B, "4", "RECEIVED_BY_RECIPIENT")]
    assert all(q["clientMessageId"] == "c2" and q["from"] == "" for q in queries)


@pytest.mark.anyio
async def test_the_2017_field_set() -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook(callback_format="2017"))
    await send(emu, "/messages", {"content": "Hi", "to": [A], "clientMessageId": "c3"})
    await run_lifecycle(emu, dispatcher)
    bodies = receiver.bodies()
    assert [b["status"] for b in bodies] == [
        "MESSAGE_QUEUED",
        "DELIVERED_TO_GATEWAY",
        "RECEIVED_BY_RECIPIENT",
    ]
    assert list(bodies[0]) == [
        "apiKey",
        "messageId",
        "requestId",
        "clientMessageId",
        "to",
        "from",
        "status",
        "statusDescription",
        "timestamp",
    ]
    assert bodies[0]["apiKey"] == DEMO_API_KEY


@pytest.mark.anyio
async def test_one_api_messages_get_the_envelope() -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook())
    message = {"channel": "sms", "to": A, "content": "Hi", "clientMessageId": "o1"}
    body = await send(emu, "/v1/message", {"messages": [message]})
    apimsgid = body["messages"][0]["apiMessageId"]
    await run_lifecycle(emu, dispatcher)
    envelopes = receiver.bodies()
    integration = emu.integrations[DEMO_API_KEY]
    assert envelopes[0] == {
        "integrationId": integration.integration_id,
        "integrationName": "shop",
        "event": {
            "messageStatusUpdate": [
                {
                    "channel": "sms",
                    "timestamp": MS,
                    "statusCode": 2,
                    "status": "QUEUED",
                    "messageId": apimsgid,
                    "clientMessageId": "o1",
                }
            ]
        },
    }
    updates = [e["event"]["messageStatusUpdate"][0] for e in envelopes]
    assert [(u["statusCode"], u["status"]) for u in updates] == [
        (2, "QUEUED"),
        (4, "SENT_TO_SUPPLIER"),
        (5, "DEVICE_ACK"),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(("form", "path"), [("one-api", "/messages"), ("current", "/v1/message")])
async def test_a_forced_form_applies_to_both_wires(form: str, path: str) -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook(callback_format=form))
    if path == "/messages":
        await send(emu, path, {"content": "Hi", "to": [A]})
    else:
        await send(emu, path, {"messages": [{"channel": "sms", "to": A, "content": "Hi"}]})
    await run_lifecycle(emu, dispatcher)
    assert len(receiver.requests) == 3
    assert all(("event" in b) == (form == "one-api") for b in receiver.bodies())


@pytest.mark.anyio
async def test_platform_messages_never_go_to_the_legacy_callback() -> None:
    receiver = Receiver()
    clock = FakeClock(START)
    dispatcher = CallbackDispatcher(
        clock, lambda: httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    )
    account = Account(
        api_id=1234, user="demo", password="demo", callback_url="http://rx.test/legacy"
    )
    emu = GatewayEmulator(clock=clock, callbacks=dispatcher, accounts=[account])
    await send(emu, "/messages", {"content": "Hi", "to": [A]})  # the demo key: no callback URL
    await run_lifecycle(emu, dispatcher)
    assert receiver.requests == []
    assert dispatcher.statistics().pending == 0


@pytest.mark.anyio
async def test_a_failed_callback_is_retried_on_the_gateway_schedule() -> None:
    receiver = Receiver(500)
    emu, dispatcher = make(receiver, hook())
    await send(emu, "/messages", {"content": "Hi", "to": [A]})
    emu.advance(0)
    assert await dispatcher.deliver_due() == 1  # 500
    emu.advance(STATUS_RETRY_DELAYS[0])
    await dispatcher.deliver_due()
    await dispatcher.aclose()
    attempts = [(a.attempt, a.ok, a.http_status) for a in dispatcher.history()]
    assert attempts[:2] == [(1, False, 500), (2, True, 200)]
    assert len(receiver.requests) == 4  # the retry, then 003 and 004 that fell due meanwhile


@pytest.mark.anyio
async def test_a_deferred_message_out_of_credit_reports_status_12() -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook())
    later = "2023-11-15T00:13:20+0100"  # START + 1 hour
    await send(emu, "/messages", {"content": "Hi", "to": [A], "scheduledDeliveryTime": later})
    emu.set_credits(0)
    emu.advance(3600 + 10)
    await dispatcher.deliver_due()
    await dispatcher.aclose()
    assert [(b["statusCode"], b["timestamp"]) for b in receiver.bodies()] == [
        (11, MS),
        (12, MS + 3_600_000),
    ]


@pytest.mark.anyio
async def test_no_platform_callbacks_into_a_sink_without_queue_request() -> None:
    class Sink:
        def status_changed(self, account: object, event: object) -> None:
            raise AssertionError("not for Platform messages")

        def mo_received(self, account: object, event: object) -> None:
            raise AssertionError("not for Platform messages")

    emu = GatewayEmulator(clock=FakeClock(START), callbacks=Sink(), integrations=[hook()])
    await send(emu, "/messages", {"content": "Hi", "to": [A]})
    emu.advance(10)
    assert emu.inject_mo(OUR_NUMBER, HANDSET, "hi", api_key=DEMO_API_KEY)


# -- reply (MO) callbacks --------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("charset", "text", "wire"),
    [
        (None, "Grüße ☺", "Grüße ☺"),
        ("UTF-8", "hello!", "hello!"),
        ("ISO-8859-1", "hello! é", "hello%21%20%E9"),
        ("UTF-16BE", "me ☺", "%00m%00e%00%20%26%3A"),
    ],
)
async def test_replies_in_the_current_form_with_the_charset_rules(
    charset: str | None, text: str, wire: str
) -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook())
    (event,) = emu.inject_mo(
        OUR_NUMBER,
        HANDSET,
        text,
        api_key=DEMO_API_KEY,
        charset=charset,
        network="Vodacom",
        keyword="STOP",
    )
    await dispatcher.deliver_due()
    await dispatcher.aclose()
    (request,) = receiver.requests
    assert (request.method, request.url.path) == ("POST", "/mo")
    assert json.loads(request.content) == {
        "integrationName": "shop",
        "messageId": None,
        "replyMessageId": event.momsgid,
        "fromNumber": HANDSET,
        "toNumber": OUR_NUMBER,
        "timestamp": MS,
        "text": wire,
        "charset": charset or "UTF-8",
        "udh": None,
        "network": "Vodacom",
        "keyword": "STOP",
    }
    assert event.text == text and emu.mo_messages == [event]
    assert emu.statistics().mo_messages == 1


@pytest.mark.anyio
async def test_a_reply_to_a_message_in_the_2017_form() -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook(callback_format="2017"))
    body = await send(emu, "/messages", {"content": "Hi", "to": [HANDSET]})
    mt = body["messages"][0]["apiMessageId"]
    (event,) = emu.inject_mo(
        OUR_NUMBER, HANDSET, "yes", api_key=DEMO_API_KEY, related_message_id=mt
    )
    emu.advance(0)
    await dispatcher.deliver_due()
    await dispatcher.aclose()
    (reply,) = [json.loads(r.content) for r in receiver.requests if r.url.path == "/mo"]
    integration = emu.integrations[DEMO_API_KEY]
    assert reply["integrationId"] == integration.integration_id
    assert reply["apiKey"] == DEMO_API_KEY
    assert (reply["messageId"], reply["replyMessageId"], reply["text"]) == (
        mt,
        event.momsgid,
        "yes",
    )


@pytest.mark.anyio
async def test_a_reply_to_a_one_api_message_is_a_mo_text_event() -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook())
    message = {"channel": "sms", "to": HANDSET, "content": "Hi", "clientMessageId": "o9"}
    mt = (await send(emu, "/v1/message", {"messages": [message]}))["messages"][0]["apiMessageId"]
    (event,) = emu.inject_mo(
        OUR_NUMBER, HANDSET, "hé", api_key=DEMO_API_KEY, related_message_id=mt, charset="ISO-8859-1"
    )
    await dispatcher.deliver_due()
    await dispatcher.aclose()
    (envelope,) = [json.loads(r.content) for r in receiver.requests if r.url.path == "/mo"]
    assert envelope == {
        "integrationId": emu.integrations[DEMO_API_KEY].integration_id,
        "integrationName": "shop",
        "event": {
            "moText": [
                {
                    "channel": "sms",
                    "messageId": event.momsgid,
                    "relatedMessageId": mt,
                    "relatedClientMessageId": "o9",
                    "from": HANDSET,
                    "to": OUR_NUMBER,
                    "timestamp": MS,
                    "content": "h%E9",
                    "charset": "ISO-8859-1",
                }
            ]
        },
    }


@pytest.mark.anyio
async def test_replies_through_the_admin_api() -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook(callback_format="one-api"))
    emu.admin = True

    def admin(data: Any) -> tuple[int, Any]:
        reply = emu.app.handle("POST", "/_emulator/mo", b"", json.dumps(data).encode(), "127.0.0.1")
        return reply.status, json.loads(reply.body)

    status, answer = admin(
        {"to": OUR_NUMBER, "from": HANDSET, "text": "ok", "api_key": DEMO_API_KEY}
    )
    assert status == 200 and len(answer["events"]) == 1
    assert admin({"to": OUR_NUMBER, "from": HANDSET, "text": "ok", "api_key": "nope"}) == (
        400,
        {"error": "unknown api_key"},
    )
    await dispatcher.deliver_due()
    await dispatcher.aclose()
    (envelope,) = receiver.bodies()
    assert envelope["event"]["moText"][0]["messageId"] == answer["events"][0]["momsgid"]


def test_a_long_reply_is_one_event_and_an_unknown_key_is_refused() -> None:
    emu = GatewayEmulator(clock=FakeClock(START), callbacks=None)
    (event,) = emu.inject_mo(OUR_NUMBER, HANDSET, "x" * 400, api_key=DEMO_API_KEY)
    assert event.text == "x" * 400 and event.udh == "" and event.charset == "UTF-8"
    with pytest.raises(ValueError, match="unknown api_key"):
        emu.inject_mo(OUR_NUMBER, HANDSET, "x", api_key="nope")


@pytest.mark.anyio
async def test_a_message_forgotten_at_once_gets_no_callbacks() -> None:
    receiver = Receiver()
    emu, dispatcher = make(receiver, hook())
    emu.retention = 1
    body = await send(emu, "/messages", {"content": "Hi", "to": [A, B]})
    await run_lifecycle(emu, dispatcher)
    kept = body["messages"][1]["apiMessageId"]
    assert emu.message(body["messages"][0]["apiMessageId"]) is None
    assert {b["messageId"] for b in receiver.bodies()} == {kept}
    assert len(receiver.requests) == 3


@pytest.mark.anyio
async def test_tick_emits_on_a_clock_nobody_advances() -> None:
    now = [START]

    class Sink:
        """A sink of ready-made requests (what the Platform endpoints need of one)."""

        def __init__(self) -> None:
            self.queued: list[tuple[str, str, int | None, str | None]] = []

        def status_changed(self, account: object, event: object) -> None:
            raise AssertionError("not for Platform messages")

        def mo_received(self, account: object, event: object) -> None:
            raise AssertionError("not for Platform messages")

        def queue_request(
            self, kind: str, message_id: str, status: Any, url: str | None, request: Any
        ) -> None:
            self.queued.append((kind, message_id, None if status is None else int(status), url))

    sink = Sink()
    emu = GatewayEmulator(
        clock=lambda: now[0],
        callbacks=sink,
        integrations=[hook()],
        lifecycle=Lifecycle(queued=1, delivery=4),
    )
    body = await send(emu, "/messages", {"content": "Hi", "to": [A]})
    apimsgid = body["messages"][0]["apiMessageId"]
    now[0] += 10
    assert sink.queued == []  # nothing runs until the server's tick
    emu.tick()
    assert sink.queued == [("status", apimsgid, s, "http://rx.test/status") for s in (2, 3, 4)]
