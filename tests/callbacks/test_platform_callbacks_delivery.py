"""Platform callbacks through the claim machinery: repeats, late statuses, failing handlers,
malformed bodies, authentication, and the accepted-messages record of CallbackStore."""

from __future__ import annotations

import base64
import json
import logging
from functools import partial
from pathlib import Path

import anyio
import httpx
import pytest

from asms._codes import MessageStatus
from asms.callbacks import CallbackReceiver, CallbackStore, EventLog, StatusReport
from asms.callbacks._format import StatusFields, WireRequest, build_callback
from asms.callbacks._platform_format import (
    PlatformStatusFields,
    json_request,
    one_api_envelope,
    one_api_mo_item,
    one_api_status_item,
    platform_status_request,
)

MS = 1764930000000


def client_for(app: CallbackReceiver) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")


async def deliver(
    client: httpx.AsyncClient,
    wire: WireRequest,
    path: str = "/",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    url = path + ("?" + wire.query if wire.query else "")
    sent = dict(headers or {})
    if wire.content_type:
        sent["content-type"] = wire.content_type
    return await client.request(wire.method, url, content=wire.body or None, headers=sent)


def platform(
    apimsgid: str, code: int, name: str, *, to: str = "+27 82 000 0001", climsgid: str = "c-1",
    offset: int = 0,
) -> PlatformStatusFields:  # fmt: skip
    return PlatformStatusFields(
        message_id=apimsgid,
        client_message_id=climsgid,
        to=to,
        from_="27830000002",
        status_code=code,
        status=name,
        description=name.capitalize(),
        timestamp_ms=MS + offset,
    )


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- repeats and order --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_repeated_platform_status_is_handled_once() -> None:
    log = EventLog()
    receiver = log.receiver()
    fields = platform("m-1", 3, "DELIVERED_TO_GATEWAY")
    async with client_for(receiver) as client:
        for method in ("POST", "GET", "POST"):
            wire = platform_status_request(fields, method=method)  # type: ignore[arg-type]
            assert (await deliver(client, wire)).status_code == 200
        # The 2017 set of the same status is the same event too.
        wire = platform_status_request(fields, variant="2017", api_key="k")
        assert (await deliver(client, wire)).status_code == 200
    assert len(log.statuses) == 1
    stats = receiver.statistics()
    assert (stats.status_reports, stats.duplicates, stats.requests) == (1, 3, 4)


@pytest.mark.anyio
async def test_repeated_one_api_envelope_counts_each_item_once() -> None:
    log = EventLog()
    receiver = log.receiver()
    envelope = one_api_envelope(
        [
            one_api_status_item("m-2", 2, "QUEUED", MS, "c-2"),
            one_api_status_item("m-2", 4, "SENT_TO_SUPPLIER", MS + 1, "c-2"),
        ],
        [one_api_mo_item("mo-2", "27820000001", "27830000002", MS + 2, "yes")],
    )
    async with client_for(receiver) as client:
        for _ in range(3):
            assert (await deliver(client, json_request(envelope))).status_code == 200
    assert len(log.statuses) == 2
    assert len(log.inbound) == 1
    stats = receiver.statistics()
    assert (stats.status_reports, stats.inbound_messages, stats.duplicates) == (2, 1, 6)


@pytest.mark.anyio
async def test_intermediate_status_after_a_final_one_is_stale() -> None:
    log = EventLog()
    receiver = log.receiver()
    async with client_for(receiver) as client:
        final = platform_status_request(platform("m-3", 4, "RECEIVED_BY_RECIPIENT", offset=5))
        late = platform_status_request(platform("m-3", 3, "DELIVERED_TO_GATEWAY"), method="GET")
        assert (await deliver(client, final)).status_code == 200
        assert (await deliver(client, late)).status_code == 200
        # One API: DEVICE_ACK (final), then SENT_TO_SUPPLIER in a later request.
        for code, name, offset in ((5, "DEVICE_ACK", 9), (4, "SENT_TO_SUPPLIER", 3)):
            item = one_api_status_item("m-4", code, name, MS + offset)
            assert (await deliver(client, json_request(one_api_envelope([item])))).is_success
    assert [(r.apimsgid, r.status) for r in log.statuses] == [
        ("m-3", MessageStatus.RECEIVED_BY_RECIPIENT),
        ("m-4", MessageStatus.RECEIVED_BY_RECIPIENT),
    ]
    stats = receiver.statistics()
    assert (stats.stale, stats.duplicates, stats.status_reports) == (2, 0, 2)


@pytest.mark.anyio
async def test_envelope_in_reverse_order_is_not_stale() -> None:
    log = EventLog()
    receiver = log.receiver()
    items = [
        one_api_status_item("m-5", 5, "DEVICE_ACK", MS + 2000),
        one_api_status_item("m-5", 2, "QUEUED", MS),
        one_api_status_item("m-5", 4, "SENT_TO_SUPPLIER", MS + 1000),
    ]
    async with client_for(receiver) as client:
        assert (await deliver(client, json_request(one_api_envelope(items)))).status_code == 200
    assert [r.raw["status"] for r in log.statuses] == ["QUEUED", "SENT_TO_SUPPLIER", "DEVICE_ACK"]
    assert receiver.statistics().stale == 0


@pytest.mark.anyio
async def test_a_failing_handler_fails_the_envelope_and_its_retry_resumes() -> None:
    seen: list[str] = []
    failures = [1]

    async def on_status(report: StatusReport) -> None:
        if report.apimsgid == "m-b" and failures:
            failures.pop()
            raise RuntimeError("database down")
        seen.append(report.apimsgid)

    receiver = CallbackReceiver(on_status=on_status, store=False)
    items = [
        one_api_status_item("m-a", 4, "SENT_TO_SUPPLIER", MS),
        one_api_status_item("m-b", 4, "SENT_TO_SUPPLIER", MS + 1),
        one_api_status_item("m-c", 4, "SENT_TO_SUPPLIER", MS + 2),
    ]
    async with client_for(receiver) as client:
        first = await deliver(client, json_request(one_api_envelope(items)))
        retry = await deliver(client, json_request(one_api_envelope(items)))
    assert (first.status_code, retry.status_code) == (500, 200)
    assert seen == ["m-a", "m-b", "m-c"]
    stats = receiver.statistics()
    assert (stats.handler_errors, stats.duplicates, stats.status_reports) == (1, 1, 3)


# -- malformed requests -------------------------------------------------------------------------

MALFORMED: list[tuple[str, bytes]] = [
    ("not json", b"{not json"),
    ("an array", b'[{"messageId": "m", "statusCode": 4, "timestamp": 1}]'),
    ("not UTF-8", b'{"messageId": "m\xff", "statusCode": 4, "timestamp": 1764930000000}'),
    ("no id", b'{"statusCode": 4, "timestamp": 1764930000000, "to": "27"}'),
    ("blank id", b'{"messageId": " ", "statusCode": 4, "timestamp": 1764930000000}'),
    ("no status", b'{"messageId": "m", "timestamp": 1764930000000}'),
    ("bad code", b'{"messageId": "m", "statusCode": "four", "timestamp": 1764930000000}'),
    ("bool code", b'{"messageId": "m", "statusCode": true, "timestamp": 1764930000000}'),
    ("no timestamp", b'{"messageId": "m", "statusCode": 4}'),
    ("bad timestamp", b'{"messageId": "m", "statusCode": 4, "timestamp": "yesterday"}'),
    ("huge timestamp", b'{"messageId": "m", "statusCode": 4, "timestamp": 1e300}'),
    ("id not text", b'{"messageId": ["m"], "statusCode": 4, "timestamp": 1764930000000}'),
    ("twice", b'{"messageId": "m", "messageId": "n", "statusCode": 4, "timestamp": 1}'),
    ("deep", b"[" * 100_00 + b"]" * 100_00),
    ("event not object", b'{"integrationId": "i", "event": [1, 2]}'),
    ("item not object", b'{"event": {"messageStatusUpdate": ["m"]}}'),
    ("bad item", b'{"event": {"messageStatusUpdate": [{"channel": "sms", "statusCode": 4}]}}'),
    ("bad charset", b'{"replyMessageId": "r", "timestamp": 1764930000000, "text": "x",'
                    b' "charset": "klingon"}'),
    ("not a text codec", b'{"replyMessageId": "r", "timestamp": 1764930000000, "text": "x",'
                         b' "charset": "rot13"}'),
    ("odd UTF-16", b'{"replyMessageId": "r", "timestamp": 1764930000000, "text": "%00a%00",'
                   b' "charset": "UTF-16BE"}'),
    ("bad udh", b'{"replyMessageId": "r", "timestamp": 1764930000000, "text": "x",'
                b' "udh": "zz"}'),
    ("no text", b'{"replyMessageId": "r", "timestamp": 1764930000000, "fromNumber": "1"}'),
    ("neither", b'{"hello": "world"}'),
    ("twice in another case", b'{"messageId": "m", "MessageID": "n", "statusCode": 4,'
                              b' "timestamp": 1764930000000}'),
    ("bool timestamp", b'{"messageId": "m", "statusCode": 4, "timestamp": true}'),
    ("negative timestamp", b'{"messageId": "m", "statusCode": 4, "timestamp": -5}'),
    ("code out of range", b'{"messageId": "m", "statusCode": 10000000, "timestamp": 1}'),
    ("one api no status", b'{"event": {"messageStatusUpdate": [{"messageId": "m",'
                          b' "timestamp": 1764930000000}]}}'),
    ("text not text", b'{"replyMessageId": "r", "timestamp": 1764930000000, "text": 5}'),
    ("not in charset", b'{"replyMessageId": "r", "timestamp": 1764930000000, "text": "%E9",'
                       b' "charset": "us-ascii"}'),
]  # fmt: skip


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "body"), MALFORMED, ids=[case for case, _ in MALFORMED])
async def test_malformed_platform_bodies_get_400_without_a_traceback(
    case: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    log = EventLog()
    receiver = log.receiver(max_body=100_000)
    async with client_for(receiver) as client:
        response = await client.post(
            "/", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400, response.text
    assert "Traceback" not in response.text
    assert log.statuses == [] and log.inbound == []
    stats = receiver.statistics()
    assert (stats.malformed, stats.requests) == (1, 1)
    assert not any(record.exc_info for record in caplog.records)


@pytest.mark.anyio
async def test_a_malformed_item_refuses_the_whole_envelope() -> None:
    log = EventLog()
    receiver = log.receiver()
    envelope = one_api_envelope(
        [one_api_status_item("m-ok", 2, "QUEUED", MS), {"channel": "sms", "statusCode": 2}]
    )
    async with client_for(receiver) as client:
        assert (await deliver(client, json_request(envelope))).status_code == 400
    assert log.statuses == []
    assert receiver.statistics().malformed == 1


@pytest.mark.anyio
async def test_platform_get_with_a_bad_value_is_malformed() -> None:
    log = EventLog()
    receiver = log.receiver()
    async with client_for(receiver) as client:
        bad = await client.get("/?messageId=m&statusCode=4&timestamp=soon")
        twice = await client.get("/?messageId=m&messageid=n&statusCode=4&timestamp=1")
    assert (bad.status_code, twice.status_code) == (400, 400)
    assert receiver.statistics().malformed == 2


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_platform_callbacks_are_authenticated_like_legacy_ones() -> None:
    log = EventLog()
    receiver = log.receiver(basic_auth=("gateway", "pa:ss"), secret_path="/s3cr3t")
    token = base64.b64encode(b"gateway:pa:ss").decode()
    wire = platform_status_request(platform("m-auth", 4, "RECEIVED_BY_RECIPIENT"))
    envelope = json_request(one_api_envelope([one_api_status_item("m-auth2", 2, "QUEUED", MS)]))
    good = {"authorization": f"Basic {token}"}
    async with client_for(receiver) as client:
        no_creds = await deliver(client, wire, "/s3cr3t/status")
        wrong_path = await deliver(client, wire, "/s3cr3X/status", headers=good)
        ok = await deliver(client, wire, "/s3cr3t/status", headers=good)
        ok_envelope = await deliver(client, envelope, "/s3cr3t/", headers=good)
    assert [r.status_code for r in (no_creds, wrong_path, ok, ok_envelope)] == [401, 401, 200, 200]
    assert [r.apimsgid for r in log.statuses] == ["m-auth", "m-auth2"]
    assert receiver.statistics().unauthorized == 2


# -- accepted messages ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_status_reports_record_accepted_messages(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    log = EventLog()
    receiver = log.receiver(store=str(path))
    legacy = StatusFields(
        api_id="1", apimsgid="legacy-1", climsgid="c-legacy", to="+279995631564",
        from_="27833001171", timestamp=1218007814, status=4, charge=0.3,
    )  # fmt: skip
    async with client_for(receiver) as client:
        # Two recipients of one Platform request share its clientMessageId.
        for apimsgid, to in (("p-1", "+27 82 000 0001"), ("p-2", "27820000002")):
            wire = platform_status_request(platform(apimsgid, 3, "DELIVERED_TO_GATEWAY", to=to))
            assert (await deliver(client, wire)).status_code == 200
        # A repeat, a stale status and a report without clientMessageId change nothing.
        wire = platform_status_request(platform("p-1", 3, "DELIVERED_TO_GATEWAY"), method="GET")
        assert (await deliver(client, wire)).status_code == 200
        body = {"messageId": "p-3", "statusCode": 4, "to": "27820000003", "timestamp": MS}
        assert (await deliver(client, json_request(body))).status_code == 200
        wire = build_callback("get", legacy)
        assert (await deliver(client, wire)).status_code == 200
    await receiver.aclose()
    assert receiver.statistics().duplicates == 1
    # Another store on the same file (a bulk journal resuming) reads what the receiver saw.
    async with CallbackStore(path) as journal:
        assert await journal.accepted("c-1") == {"27820000001": "p-1", "27820000002": "p-2"}
        assert await journal.accepted_messages("c-1") == {
            "p-1": "27820000001",
            "p-2": "27820000002",
        }
        assert await journal.accepted("c-legacy") == {"279995631564": "legacy-1"}
        assert await journal.accepted("nobody") == {}
        assert await journal.accepted_messages("nobody") == {}


@pytest.mark.anyio
async def test_one_api_reports_without_a_recipient_are_listed_by_id() -> None:
    log = EventLog()
    receiver = log.receiver()
    items = [
        one_api_status_item("o-1", 4, "SENT_TO_SUPPLIER", MS, "c-one"),
        one_api_status_item("o-2", 4, "SENT_TO_SUPPLIER", MS, "c-one"),
    ]
    async with client_for(receiver) as client:
        assert (await deliver(client, json_request(one_api_envelope(items)))).is_success
        assert await receiver.store.accepted("c-one") == {}
        assert await receiver.store.accepted_messages("c-one") == {"o-1": "", "o-2": ""}
        # A later report naming the recipient fills it in; a stale one still counts.
        named = {**one_api_status_item("o-1", 5, "DEVICE_ACK", MS + 5, "c-one"), "to": "+2782"}
        late = {**one_api_status_item("o-1", 2, "QUEUED", MS + 1, "c-one"), "to": "999"}
        assert (await deliver(client, json_request(one_api_envelope([named])))).is_success
        assert (await deliver(client, json_request(one_api_envelope([late])))).is_success
    assert await receiver.store.accepted("c-one") == {"2782": "o-1"}
    assert await receiver.store.accepted_messages("c-one") == {"o-1": "2782", "o-2": ""}
    assert receiver.statistics().stale == 1


@pytest.mark.anyio
async def test_a_recipient_accepted_twice_gives_its_first_id() -> None:
    clock = Clock()
    store = CallbackStore(":memory:", clock=clock)
    receiver = EventLog().receiver(store=store)
    async with client_for(receiver) as client:
        for apimsgid in ("first", "second"):
            clock.now += 1
            wire = platform_status_request(platform(apimsgid, 3, "DELIVERED_TO_GATEWAY"))
            assert (await deliver(client, wire)).status_code == 200
    assert await store.accepted("c-1") == {"27820000001": "first"}
    assert await store.accepted_messages("c-1") == {
        "first": "27820000001",
        "second": "27820000001",
    }
    await store.aclose()


@pytest.mark.anyio
async def test_accepted_many_reads_many_ids_at_once() -> None:
    store = CallbackStore(":memory:")
    # Straight into the store (what the receiver does per report), for speed.
    async with anyio.create_task_group() as group:
        for n in range(1203):  # more ids than one IN (...) query takes
            accepted = (f"c-{n % 601}", f"+2782{n:07d}", f"p-{n}")
            group.start_soon(partial(store.claim, f"s-{n}", f"g-{n}", accepted=accepted))
    receiver = EventLog().receiver(store=store)
    async with client_for(receiver) as client:
        one_api = one_api_status_item("o-1", 4, "SENT_TO_SUPPLIER", MS, "c-no-recipient")
        assert (await deliver(client, json_request(one_api_envelope([one_api])))).is_success
    wanted = [f"c-{n}" for n in range(601)] + ["c-0", "c-unknown", "c-no-recipient"]
    found = await store.accepted_many(wanted)
    assert len(found) == 601
    assert found["c-0"] == {"27820000000": "p-0", "27820000601": "p-601", "27820001202": "p-1202"}
    assert found["c-600"] == {"27820000600": "p-600", "27820001201": "p-1201"}
    assert sum(len(recipients) for recipients in found.values()) == 1203
    assert await store.accepted_many([]) == {}
    await store.aclose()


@pytest.mark.anyio
async def test_accepted_records_are_pruned_with_the_events() -> None:
    clock = Clock()
    store = CallbackStore(":memory:", clock=clock, retention=100.0)
    receiver = EventLog().receiver(store=store)
    async with client_for(receiver) as client:
        # Pruning runs at most once a minute (the store's own pace), so the steps are wide.
        wire = platform_status_request(platform("p-old", 3, "DELIVERED_TO_GATEWAY"))
        assert (await deliver(client, wire)).status_code == 200
        clock.now += 60
        wire = platform_status_request(
            platform("p-new", 3, "DELIVERED_TO_GATEWAY", to="27820000009")
        )
        assert (await deliver(client, wire)).status_code == 200
        assert len(await store.accepted("c-1")) == 2
        clock.now += 70  # p-old is 130 s old, p-new 70 s
        assert await store.accepted("c-1") == {"27820000009": "p-new"}
        assert await store.records() == 1
        # Seen again, a record is kept for another retention period.
        clock.now += 20
        wire = platform_status_request(
            platform("p-new", 4, "RECEIVED_BY_RECIPIENT", to="27820000009")
        )
        assert (await deliver(client, wire)).status_code == 200
        clock.now += 80  # 170 s after p-new was first seen, 80 s after it was last
        assert await store.accepted("c-1") == {"27820000009": "p-new"}
        clock.now += 70
        assert await store.accepted("c-1") == {}
        assert await store.records() == 0
    await store.aclose()


@pytest.mark.anyio
async def test_accepted_records_are_capped_not_evicted() -> None:
    store = CallbackStore(":memory:", max_records=2)
    receiver = EventLog().receiver(store=store)
    async with client_for(receiver) as client:
        replies = []
        for n in range(3):
            # One event row (the same status of one message), a new accepted row each time.
            body = {"messageId": "p-x", "statusCode": 3, "clientMessageId": f"c-{n}",
                    "to": "27", "timestamp": MS}  # fmt: skip
            replies.append((await deliver(client, json_request(body))).status_code)
    assert replies == [200, 200, 503]
    assert await store.accepted("c-0") == {"27": "p-x"}
    assert await store.accepted("c-2") == {}
    stats = receiver.statistics()
    assert (stats.status_reports, stats.duplicates, stats.store_full) == (1, 1, 1)
    await store.aclose()


@pytest.mark.anyio
async def test_store_file_without_the_accepted_table_gains_it(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE asms_callback_events (key TEXT PRIMARY KEY, grp TEXT NOT NULL, "
        "state TEXT NOT NULL, owner TEXT NOT NULL, updated REAL NOT NULL);"
        "CREATE TABLE asms_callback_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO asms_callback_meta VALUES ('records', 0);"
    )
    db.close()
    async with CallbackStore(path) as store:
        assert await store.accepted("c") == {}
        receiver = EventLog().receiver(store=store)
        async with client_for(receiver) as client:
            wire = json_request(
                {"messageId": "m", "statusCode": 2, "clientMessageId": "c", "to": "1",
                 "timestamp": MS}
            )  # fmt: skip
            assert (await deliver(client, wire)).status_code == 200
        assert await store.accepted("c") == {"1": "m"}
    assert json.dumps(await _tables(path)) == json.dumps(
        ["asms_callback_accepted", "asms_callback_events", "asms_callback_meta"]
    )


async def _tables(path: Path) -> list[str]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()
    finally:
        db.close()
    return [str(name) for (name,) in rows]
