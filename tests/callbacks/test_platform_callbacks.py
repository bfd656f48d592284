"""CallbackReceiver and the Platform wires' forms: Platform SMS status (GET and POST JSON,
current and 2017 field sets), Platform SMS replies and their charsets, One API envelopes."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest

from asms._codes import MessageStatus
from asms._platform_codes import OneApiStatus
from asms.callbacks import CallbackReceiver, EventLog
from asms.callbacks._format import WireRequest
from asms.callbacks._platform_format import (
    PlatformReplyFields,
    PlatformStatusFields,
    json_request,
    one_api_envelope,
    one_api_mo_item,
    one_api_status_item,
    platform_reply_body,
    platform_status_request,
)

APIMSGID = "a3f9c2e4b1d84f6a9e0c7b5d2f1e3a4b"
SECRET_KEY = "Sup3rSecretIntegrationKey=="
MS = 1764930000123  # 2025-12-05 10:20:00.123 UTC
WHEN = datetime(2025, 12, 5, 10, 20, 0, 123000, tzinfo=UTC)


def client_for(app: CallbackReceiver) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")


async def deliver(client: httpx.AsyncClient, wire: WireRequest, path: str = "/") -> httpx.Response:
    url = path + ("?" + wire.query if wire.query else "")
    headers = {"content-type": wire.content_type} if wire.content_type else {}
    return await client.request(wire.method, url, content=wire.body or None, headers=headers)


def status(
    code: int = 4, name: str = "RECEIVED_BY_RECIPIENT", **kw: object
) -> PlatformStatusFields:
    values: dict[str, object] = {
        "message_id": APIMSGID,
        "client_message_id": "c-17-1",
        "to": "27820000001",
        "from_": "27830000002",
        "status_code": code,
        "status": name,
        "description": "Received by recipient",
        "timestamp_ms": MS,
        "request_id": "r-1",
    }
    values.update(kw)
    return PlatformStatusFields(**values)  # type: ignore[arg-type]


def reply(text: str, charset: str, **kw: object) -> PlatformReplyFields:
    values: dict[str, object] = {
        "reply_message_id": "mo-0001",
        "message_id": APIMSGID,
        "from_number": "27820000001",
        "to_number": "27830000002",
        "timestamp_ms": MS,
        "text": text,
        "charset": charset,
        "network": "Vodacom",
        "keyword": "HELLO",
    }
    values.update(kw)
    return PlatformReplyFields(**values)  # type: ignore[arg-type]


# -- Platform SMS status callbacks ------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_platform_status_current_set(method: str) -> None:
    log = EventLog()
    receiver = log.receiver()
    wire = platform_status_request(status(), method=method)  # type: ignore[arg-type]
    async with client_for(receiver) as client:
        response = await deliver(client, wire, "/status")
    assert response.status_code == 200
    [report] = log.statuses
    assert report.apimsgid == APIMSGID
    assert report.climsgid == "c-17-1"
    assert report.to == "27820000001"
    assert report.from_ == "27830000002"
    assert report.status is MessageStatus.RECEIVED_BY_RECIPIENT
    assert report.is_final
    assert report.timestamp == WHEN
    assert report.charge is None
    assert report.api_id is None
    assert report.wire == "platform"
    assert report.raw["statusDescription"] == "Received by recipient"
    assert report.raw["status"] == "RECEIVED_BY_RECIPIENT"
    assert report.raw["integrationName"] == "asms"
    assert receiver.statistics().status_reports == 1


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_platform_status_2017_set_keeps_no_api_key(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    log = EventLog()
    wire = platform_status_request(
        status(name="DELIVERED_TO_GATEWAY"),
        method=method,  # type: ignore[arg-type]
        variant="2017",
        api_key=SECRET_KEY,
    )
    assert SECRET_KEY.rstrip("=") in (wire.query + wire.body.decode())
    async with client_for(log.receiver()) as client:
        response = await deliver(client, wire)
    assert response.status_code == 200
    [report] = log.statuses
    # No statusCode in the 2017 set: the status string says it.
    assert report.status is MessageStatus.DELIVERED_TO_GATEWAY
    assert not report.is_final
    assert report.wire == "platform"
    assert "integrationName" not in report.raw
    assert not any(name.lower() == "apikey" for name in report.raw)
    assert SECRET_KEY not in repr(report)
    assert SECRET_KEY not in str(dict(report.raw))
    assert SECRET_KEY not in caplog.text


@pytest.mark.anyio
async def test_platform_status_name_only_unknown_and_aliases() -> None:
    log = EventLog()
    receiver = log.receiver()
    bodies = [
        {"messageId": "m1", "status": "queued", "timestamp": MS},  # an alias, any case
        {"messageId": "m1", "status": "SOMETHING_NEW", "timestamp": MS + 1},
        {"messageId": "m1", "status": "ANOTHER_NEW", "timestamp": MS + 2},
        {"messageId": "m1", "statusCode": "7", "timestamp": str(MS + 3)},  # digits as text
    ]
    async with client_for(receiver) as client:
        for body in bodies:
            assert (await deliver(client, json_request(body))).status_code == 200
    assert [r.status for r in log.statuses] == [
        MessageStatus.MESSAGE_QUEUED,
        0,
        0,
        MessageStatus.ERROR_DELIVERING_MESSAGE,
    ]
    # Two unknown names are two events, not one repeated.
    assert receiver.statistics().duplicates == 0
    assert log.statuses[3].timestamp == datetime(2025, 12, 5, 10, 20, 0, 126000, tzinfo=UTC)


@pytest.mark.anyio
async def test_platform_status_without_client_message_id_and_numbers_as_json_numbers() -> None:
    log = EventLog()
    body = {
        "messageId": "m2",
        "to": 27820000001,
        "from": None,
        "statusCode": 3,
        "timestamp": float(MS),
        "someFutureField": {"nested": [1, 2]},
    }
    async with client_for(log.receiver()) as client:
        assert (await deliver(client, json_request(body))).status_code == 200
    [report] = log.statuses
    assert report.climsgid is None
    assert report.to == "27820000001"
    assert report.from_ == ""
    assert report.status is MessageStatus.DELIVERED_TO_GATEWAY
    assert report.raw["someFutureField"] == '{"nested":[1,2]}'
    assert report.timestamp == WHEN


# -- Platform SMS replies ----------------------------------------------------------------------

CHARSET_CASES = [
    ("UTF-8", "héllo ✓ 😀"),
    ("ISO-8859-1", "Grüße, ça va? 100% + ¿sí?"),
    ("UTF-16BE", "hi 😀 你好 é"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("charset", "text"), CHARSET_CASES)
async def test_platform_reply_charsets(charset: str, text: str) -> None:
    log = EventLog()
    receiver = log.receiver()
    wire = json_request(platform_reply_body(reply(text, charset)))
    if charset != "UTF-8":
        assert text not in wire.body.decode()  # it went URL-encoded
    async with client_for(receiver) as client:
        response = await deliver(client, wire, "/inbound")
    assert response.status_code == 200
    [message] = log.inbound
    assert message.text == text
    assert message.charset == charset
    assert message.momsgid == "mo-0001"
    assert message.related_apimsgid == APIMSGID
    assert message.related_climsgid is None
    assert message.from_ == "27820000001"
    assert message.to == "27830000002"
    assert message.network == "Vodacom"
    assert message.timestamp == WHEN
    assert message.wire == "platform"
    assert message.api_id is None
    assert message.complete
    assert receiver.statistics().inbound_messages == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("charset", "wire_text", "text"),
    [
        ("ISO-8859-1", "hello%21", "hello!"),
        ("ISO-8859-1", "caf%E9+au+lait", "café au lait"),
        ("UTF-16BE", "%00m%00e%00x%00i%00c%00o", "mexico"),
        ("UTF-16BE", "%D8%3D%DE%00", "😀"),
        ("utf-8", "100%21", "100%21"),  # UTF-8 text is never URL-decoded
        ("ISO-8859-1", "déjà", "déjà"),  # not URL-encoded at all: taken as it is
    ],
)
async def test_platform_reply_text_as_written_on_the_wire(
    charset: str, wire_text: str, text: str
) -> None:
    log = EventLog()
    body = {
        "integrationName": "x",
        "messageId": "mt-1",
        "replyMessageId": "mo-1",
        "fromNumber": "27820000001",
        "toNumber": "27830000002",
        "timestamp": MS,
        "text": wire_text,
        "charset": charset,
        "udh": "",
        "network": "",
        "keyword": "",
    }
    async with client_for(log.receiver()) as client:
        assert (await deliver(client, json_request(body))).status_code == 200
    assert [m.text for m in log.inbound] == [text]
    assert log.inbound[0].network is None


@pytest.mark.anyio
async def test_platform_reply_2017_set_and_id_fallback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = EventLog()
    with_reply_id = platform_reply_body(reply("hi", "UTF-8"), "2017", api_key=SECRET_KEY)
    only_message_id = {**with_reply_id, "messageId": "mo-older"}
    del only_message_id["replyMessageId"]
    async with client_for(log.receiver()) as client:
        assert (await deliver(client, json_request(with_reply_id))).status_code == 200
        assert (await deliver(client, json_request(only_message_id))).status_code == 200
    first, second = log.inbound
    assert (first.momsgid, first.related_apimsgid) == ("mo-0001", APIMSGID)
    # Without replyMessageId the MO's id is messageId, and nothing says what it answers.
    assert (second.momsgid, second.related_apimsgid) == ("mo-older", None)
    assert SECRET_KEY not in repr(first) + repr(second) + caplog.text


@pytest.mark.anyio
async def test_platform_reply_in_two_parts_joins_a_split_surrogate_pair() -> None:
    log = EventLog()
    # "a😀" in UTF-16BE is 0061 D83D DE00: part 1 ends inside the pair.
    bodies = [
        {**platform_reply_body(reply("", "UTF-16BE")), "replyMessageId": f"mo-p{n}",
         "text": wire, "udh": f"0500039902{n:02X}"}
        for n, wire in ((2, "%DE%00"), (1, "%00a%D8%3D"))
    ]  # fmt: skip
    async with client_for(log.receiver()) as client:
        for body in bodies:
            assert (await deliver(client, json_request(body))).status_code == 200
    [message] = log.inbound
    assert message.text == "a😀"
    assert message.parts == 2
    assert message.part_ids == ("mo-p1", "mo-p2")
    assert message.wire == "platform"
    assert message.related_apimsgid == APIMSGID


# -- One API envelopes ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_one_api_envelope_with_several_statuses_and_replies() -> None:
    log = EventLog()
    receiver = log.receiver()
    statuses = [
        # Out of order inside the envelope: handled oldest first.
        one_api_status_item("m-a", 5, "DEVICE_ACK", MS + 2000, "c-1"),
        one_api_status_item("m-a", 4, "SENT_TO_SUPPLIER", MS + 1000, "c-1"),
        {**one_api_status_item("m-b", 24, "EMULATED", MS + 500), "unknownField": True},
    ]
    replies = [
        one_api_mo_item(
            "mo-a", "27820000001", "27830000002", MS + 3000, "ça 😀",
            related_message_id="m-a", related_client_message_id="c-1",
        ),
        one_api_mo_item("mo-b", "27820000003", "27830000002", MS, "Grüße", charset="ISO-8859-1"),
    ]  # fmt: skip
    envelope = one_api_envelope(statuses, replies, integration_name="Shop")
    async with client_for(receiver) as client:
        response = await deliver(client, json_request(envelope))
    assert response.status_code == 200
    assert [(r.apimsgid, r.status) for r in log.statuses] == [
        ("m-b", OneApiStatus.EMULATED),
        ("m-a", MessageStatus.DELIVERED_TO_GATEWAY),
        ("m-a", MessageStatus.RECEIVED_BY_RECIPIENT),
    ]
    emulated, sent, acked = log.statuses
    assert emulated.is_final and emulated.climsgid is None
    assert not sent.is_final and acked.is_final
    assert acked.climsgid == "c-1"
    assert acked.wire == "one-api"
    assert acked.timestamp == datetime(2025, 12, 5, 10, 20, 2, 123000, tzinfo=UTC)
    assert acked.raw["status"] == "DEVICE_ACK"
    assert acked.raw["integrationName"] == "Shop"
    assert acked.raw["integrationId"]
    assert [(m.momsgid, m.text, m.wire) for m in log.inbound] == [
        ("mo-b", "Grüße", "one-api"),
        ("mo-a", "ça 😀", "one-api"),
    ]
    mo_a = log.inbound[1]
    assert (mo_a.related_apimsgid, mo_a.related_climsgid) == ("m-a", "c-1")
    assert (mo_a.from_, mo_a.to, mo_a.timestamp.year) == ("27820000001", "27830000002", 2025)
    stats = receiver.statistics()
    assert (stats.status_reports, stats.inbound_messages, stats.requests) == (3, 2, 1)
    assert stats.ignored == 0


@pytest.mark.anyio
async def test_one_api_unknown_event_types_and_channels_are_acknowledged() -> None:
    log = EventLog()
    receiver = log.receiver()
    envelope = {
        "integrationId": "i",
        "integrationName": "n",
        "event": {
            "moMedia": [{"channel": "sms", "messageId": "x", "content": "aGk="}],
            "somethingAddedLater": {"whatever": 1},
            "messageStatusUpdate": [
                {**one_api_status_item("w-1", 5, "DEVICE_ACK", MS), "channel": "whatsapp"},
                one_api_status_item("s-1", 2, "QUEUED", MS),
            ],
        },
    }
    async with client_for(receiver) as client:
        assert (await deliver(client, json_request(envelope))).status_code == 200
        empty = {"integrationId": "i", "event": {}}
        assert (await deliver(client, json_request(empty))).status_code == 200
    assert [(r.apimsgid, r.status) for r in log.statuses] == [("s-1", MessageStatus.MESSAGE_QUEUED)]
    stats = receiver.statistics()
    assert stats.ignored == 3
    assert stats.malformed == 0
    assert stats.status_reports == 1


@pytest.mark.anyio
async def test_one_api_read_after_device_ack_is_a_second_event() -> None:
    log = EventLog()
    receiver = log.receiver()
    async with client_for(receiver) as client:
        for code, name, offset in ((5, "DEVICE_ACK", 0), (6, "READ", 1)):
            item = one_api_status_item("m-r", code, name, MS + offset)
            assert (await deliver(client, json_request(one_api_envelope([item])))).is_success
    # Both mean RECEIVED_BY_RECIPIENT in the legacy family; the One API's code tells them apart.
    assert [r.raw["status"] for r in log.statuses] == ["DEVICE_ACK", "READ"]
    assert {r.status for r in log.statuses} == {MessageStatus.RECEIVED_BY_RECIPIENT}
    assert receiver.statistics().duplicates == 0


@pytest.mark.anyio
async def test_paths_keep_their_kind_for_platform_callbacks() -> None:
    log = EventLog()
    receiver = log.receiver()
    status_wire = platform_status_request(status())
    mo_envelope = one_api_envelope(mo=[one_api_mo_item("mo-z", "1", "2", MS, "x")])
    async with client_for(receiver) as client:
        assert (await deliver(client, status_wire, "/inbound")).status_code == 400
        assert (await deliver(client, json_request(mo_envelope), "/status")).status_code == 400
        assert (await deliver(client, json_request(mo_envelope), "/mo")).status_code == 200
    assert log.statuses == []
    assert [m.momsgid for m in log.inbound] == ["mo-z"]
    assert receiver.statistics().malformed == 2


@pytest.mark.anyio
async def test_json_without_content_type_and_with_a_charset_parameter() -> None:
    log = EventLog()
    body = json.dumps({"messageId": "m-j", "statusCode": 2, "timestamp": MS}).encode()
    async with client_for(log.receiver()) as client:
        plain = await client.post("/", content=body)
        typed = await client.post(
            "/",
            content=body.replace(b"m-j", b"m-k"),
            headers={"content-type": "application/json; charset=utf-8"},
        )
    assert (plain.status_code, typed.status_code) == (200, 200)
    assert [r.apimsgid for r in log.statuses] == ["m-j", "m-k"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("charset", "query_text", "text"),
    [
        ("ISO-8859-1", "caf%E9", "café"),  # the bytes, URL-encoded once by the query
        ("ISO-8859-1", "hello%2521", "hello!"),  # the wire's text, URL-encoded again
        ("UTF-16BE", "%00%E9%00t%00%E9", "été"),
        ("UTF-16BE", "%2500m%2500e", "me"),
        ("UTF-8", "%C3%A7a+va", "ça va"),
    ],
)
async def test_platform_reply_as_query_parameters(charset: str, query_text: str, text: str) -> None:
    log = EventLog()
    query = (
        f"replyMessageId=mo-q&messageId=mt-q&fromNumber=27820000001&toNumber=27830000002"
        f"&timestamp={MS}&charset={charset}&text={query_text}&apiKey={SECRET_KEY}"
    )
    async with client_for(log.receiver()) as client:
        response = await client.get("/mo?" + query)
    assert response.status_code == 200
    [message] = log.inbound
    assert (message.text, message.momsgid, message.related_apimsgid) == (text, "mo-q", "mt-q")
    assert SECRET_KEY not in repr(message)


@pytest.mark.anyio
async def test_lenient_numbers_seconds_and_a_form_body() -> None:
    log = EventLog()
    receiver = log.receiver()
    seconds = {"messageId": "m-s", "statusCode": 4.0, "timestamp": MS // 1000}
    async with client_for(receiver) as client:
        assert (await deliver(client, json_request(seconds))).status_code == 200
        form = await client.post(
            "/",
            content=f"messageId=m-f&statusCode=2&timestamp={MS}".encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        # Neither JSON nor a form: left to the legacy parser, which refuses it as before.
        other = await client.post(
            "/", content=b"messageId=m-o", headers={"content-type": "application/octet-stream"}
        )
    assert (form.status_code, other.status_code) == (200, 400)
    assert "unsupported content type" in other.text
    first, second = log.statuses
    assert first.status is MessageStatus.RECEIVED_BY_RECIPIENT
    assert first.timestamp == WHEN.replace(microsecond=0)  # seconds, not 1970
    assert (second.apimsgid, second.status) == ("m-f", MessageStatus.MESSAGE_QUEUED)


@pytest.mark.anyio
async def test_a_large_one_api_envelope_is_taken_by_default() -> None:
    # 600 status updates (about 100 kB): refused with 413 on every retry before (64 kB).
    log = EventLog()
    items = [one_api_status_item(f"m-{i}", 5, "DEVICE_ACK", MS) for i in range(600)]
    envelope = {"integrationId": "i", "event": {"messageStatusUpdate": items}}
    request = json_request(envelope)
    assert len(request.body or b"") > 64_000
    async with client_for(log.receiver()) as client:
        assert (await deliver(client, request)).status_code == 200
    assert len(log.statuses) == 600
