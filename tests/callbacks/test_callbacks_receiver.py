"""asms.callbacks.CallbackReceiver: wire forms, authentication, dedup, reassembly, hardening."""

from __future__ import annotations

import base64
import os
import random
import threading
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx
import pytest

from asms._codes import MessageStatus
from asms._encoding import ucs2_hex
from asms.callbacks import (
    CallbackReceiver,
    EventLog,
    InboundMessage,
    ReceiverStatistics,
    RetryLater,
    StatusReport,
)
from asms.callbacks._format import MOFields, StatusFields, build_callback

FORMS = ["get", "post", "xml_get", "xml_post", "soap_get", "soap_post"]
APIMSGID = "996f364775e24b8432f45d77da8eca47"


def client_for(app: CallbackReceiver, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://receiver", **kwargs
    )


def status_fields(apimsgid: str = APIMSGID, status: int = 3, **kw: object) -> StatusFields:
    values: dict[str, object] = {
        "api_id": "12345",
        "apimsgid": apimsgid,
        "climsgid": "abc123",
        "to": "279995631564",
        "from_": "27833001171",
        "timestamp": 1218007814,
        "status": status,
        "charge": 0.3,
    }
    values.update(kw)
    return StatusFields(**values)  # type: ignore[arg-type]


def mo_fields(momsgid: str = "b2aee337abd962489b123fda9c3480fa", **kw: object) -> MOFields:
    values: dict[str, object] = {
        "api_id": "12345",
        "momsgid": momsgid,
        "from_": "279991235642",
        "to": "27123456789",
        "timestamp": "2008-08-06 09:43:50",
        "text": "Here is the message text",
        "charset": "ISO-8859-1",
        "udh": "",
    }
    values.update(kw)
    return MOFields(**values)  # type: ignore[arg-type]


async def send(
    client: httpx.AsyncClient, form: str, fields: StatusFields | MOFields, path: str = "/"
) -> httpx.Response:
    wire = build_callback(form, fields)  # type: ignore[arg-type]
    url = path + ("?" + wire.query if wire.query else "")
    headers = {"content-type": wire.content_type} if wire.content_type else {}
    return await client.request(wire.method, url, content=wire.body or None, headers=headers)


# -- status reports -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("form", FORMS)
async def test_status_report_in_every_form(form: str) -> None:
    log = EventLog()
    async with client_for(log.receiver()) as client:
        response = await send(client, form, status_fields(status=4), "/status")
    assert response.status_code == 200
    [report] = log.statuses
    assert report.apimsgid == APIMSGID
    assert report.climsgid == "abc123"
    assert report.to == "279995631564"
    assert report.from_ == "27833001171"
    assert report.status is MessageStatus.RECEIVED_BY_RECIPIENT
    assert report.is_final
    assert report.charge == pytest.approx(0.3)
    assert report.timestamp == datetime(2008, 8, 6, 7, 30, 14, tzinfo=UTC)
    # The gateway's XML form has no api_id; the others do.
    assert report.api_id == (None if form.startswith("xml") else "12345")


@pytest.mark.anyio
async def test_status_report_spec_example_and_raw_fields() -> None:
    log = EventLog()
    query = (
        "api_id=12345&apiMsgId=996f364775e24b8432f45d77da8eca47&cliMsgId=abc123"
        "&timestamp=1218007814&to=279995631564&from=27833001171&status=003&charge=0.300000"
    )
    async with client_for(log.receiver()) as client:
        response = await client.get("/?" + query)
    assert response.status_code == 200
    [report] = log.statuses
    assert report.status is MessageStatus.DELIVERED_TO_GATEWAY
    assert not report.is_final
    assert report.raw["apiMsgId"] == APIMSGID
    assert report.raw["status"] == "003"
    # The API id is a credential: never in the repr.
    assert "12345" not in repr(report)


@pytest.mark.anyio
async def test_status_optional_fields_empty_and_unknown_status() -> None:
    log = EventLog()
    body = "apiMsgId=abc&cliMsgId=&timestamp=1218007814&to=1&from=&status=099&charge="
    async with client_for(log.receiver()) as client:
        response = await client.post(
            "/status", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
    assert response.status_code == 200
    [report] = log.statuses
    assert report.climsgid is None and report.from_ == "" and report.charge is None
    assert report.status == 99 and not isinstance(report.status, MessageStatus)
    assert report.api_id is None


@pytest.mark.anyio
async def test_xml_as_whole_post_body() -> None:
    log = EventLog()
    wire = build_callback("xml_post", status_fields())
    data = httpx.QueryParams(wire.body.decode())["data"]
    async with client_for(log.receiver()) as client:
        response = await client.post("/", content=data, headers={"content-type": "text/xml"})
    assert response.status_code == 200
    assert [r.status for r in log.statuses] == [MessageStatus.DELIVERED_TO_GATEWAY]


# -- inbound messages -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("form", FORMS)
async def test_inbound_message_in_every_form(form: str) -> None:
    log = EventLog()
    async with client_for(log.receiver()) as client:
        response = await send(client, form, mo_fields(text="Café & <tea>", network="Vodacom"))
    assert response.status_code == 200
    [message] = log.inbound
    assert message.text == "Café & <tea>"
    assert message.momsgid == "b2aee337abd962489b123fda9c3480fa"
    assert message.from_ == "279991235642" and message.to == "27123456789"
    assert message.network == "Vodacom"
    assert message.api_id == "12345"
    # 09:43:50 at GMT+2 is 07:43:50 UTC.
    assert message.timestamp == datetime(2008, 8, 6, 7, 43, 50, tzinfo=UTC)
    assert message.parts == 1 and message.complete


@pytest.mark.anyio
async def test_inbound_captured_post_body() -> None:
    log = EventLog()
    body = (
        "api_id=3523864&from=919676026708&timestamp=2015-02-04+09%3A30%3A36"
        "&text=Test+clicks+tell+103+2-4-2015&charset=ISO-8859-1&udh="
        "&moMsgId=d2b66016178dda7c3b4a701056797755&to=447860024227"
    )
    async with client_for(log.receiver()) as client:
        response = await client.post(
            "/inbound", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
    assert response.status_code == 200
    [message] = log.inbound
    assert message.text == "Test clicks tell 103 2-4-2015"
    assert message.timestamp == datetime(2015, 2, 4, 7, 30, 36, tzinfo=UTC)
    assert message.network is None and message.udh == ""


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query_text", "charset", "expected"),
    [
        ("caf%E9", "ISO-8859-1", "café"),
        ("caf%C3%A9", "UTF-8", "café"),
        ("03A903A80398", "UCS-2", "ΩΨΘ"),
        ("D83DDE00", "UTF-16BE", "😀"),
        # A lone surrogate (half a character) is U+FFFD: as a str it could not be written
        # anywhere, and the handler would fail on every retry of the gateway.
        ("0048D83D", "UTF-16BE", "H\ufffd"),
        ("DE000048", "UCS-2", "\ufffdH"),
    ],
)
async def test_inbound_charsets(query_text: str, charset: str, expected: str) -> None:
    log = EventLog()
    query = (
        f"api_id=1&moMsgId=m1&from=27&to=44&timestamp=2020-01-01+00:00:00"
        f"&text={query_text}&charset={charset}&udh="
    )
    async with client_for(log.receiver()) as client:
        assert (await client.get("/mo?" + query)).status_code == 200
    assert [m.text for m in log.inbound] == [expected]
    assert log.inbound[0].timestamp == datetime(2019, 12, 31, 22, 0, 0, tzinfo=UTC)


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["get", "xml_post", "soap_get"])
async def test_ucs2_inbound_in_xml_forms(form: str) -> None:
    log = EventLog()
    async with client_for(log.receiver()) as client:
        fields = mo_fields(text=ucs2_hex("Привет"), charset="UCS-2")
        assert (await send(client, form, fields)).status_code == 200
    assert log.inbound[0].text == "Привет"


# -- multi-part inbound ------------------------------------------------------------------------


def parts_of(text_parts: list[str], udh_of, **kw: object) -> list[MOFields]:
    return [
        mo_fields(momsgid=f"part{n}", text=t, udh=udh_of(n, len(text_parts)), **kw)
        for n, t in enumerate(text_parts, start=1)
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "udh_of",
    [
        lambda n, total: f"050003A7{total:02X}{n:02X}",
        lambda n, total: f"060804BEEF{total:02X}{n:02X}",
    ],
    ids=["8-bit-ref", "16-bit-ref"],
)
async def test_multipart_reassembled_once_in_order(udh_of) -> None:
    log = EventLog()
    parts = parts_of(["one ", "two ", "three"], udh_of)
    receiver = log.receiver()
    async with client_for(receiver) as client:
        # Out of order and repeated: 3, 1, 3, 2, 1.
        for step, index in enumerate((2, 0, 2, 1, 0)):
            response = await send(client, "post", parts[index])
            assert response.status_code == 200
            assert len(log.inbound) == (1 if step >= 3 else 0)
    [message] = log.inbound
    assert message.text == "one two three"
    assert message.parts == 3
    assert message.part_ids == ("part1", "part2", "part3")
    assert message.momsgid == "part1" and message.complete
    stats = receiver.statistics()
    assert stats.inbound_messages == 1 and stats.pending_messages == 0
    assert stats.duplicates == 2


@pytest.mark.anyio
async def test_multipart_ucs2_surrogate_pair_split_across_parts() -> None:
    whole = ucs2_hex("ab😀cd")  # the emoji is a surrogate pair: D83D DE00
    half = whole.index("DE00")
    log = EventLog()
    async with client_for(log.receiver()) as client:
        for fields in parts_of(
            [whole[:half], whole[half:]], lambda n, t: f"0500030F{t:02X}{n:02X}", charset="UCS-2"
        ):
            assert (await send(client, "get", fields)).status_code == 200
    assert [m.text for m in log.inbound] == ["ab😀cd"]


@pytest.mark.anyio
async def test_multipart_from_different_senders_kept_apart() -> None:
    log = EventLog()
    udh = lambda n, t: f"05000301{t:02X}{n:02X}"  # noqa: E731 - same reference for both
    a = parts_of(["A1", "A2"], udh, from_="111")
    b = parts_of(["B1", "B2"], udh, from_="222")
    b = [mo_fields(momsgid=f"b{n}", text=f.text, udh=f.udh, from_="222") for n, f in enumerate(b)]
    async with client_for(log.receiver()) as client:
        for fields in (a[0], b[1], b[0], a[1]):
            assert (await send(client, "post", fields)).status_code == 200
    assert sorted(m.text for m in log.inbound) == ["A1A2", "B1B2"]


@pytest.mark.anyio
async def test_incomplete_multipart_handed_over_after_expiry() -> None:
    now = [1000.0]
    log = EventLog()
    receiver = log.receiver(reassembly_timeout=60.0, clock=lambda: now[0])
    udh = lambda n, t: f"05000377{t:02X}{n:02X}"  # noqa: E731
    parts = parts_of(["first ", "second ", "third"], udh)
    async with client_for(receiver) as client:
        await send(client, "post", parts[0])
        await send(client, "post", parts[2])
        now[0] += 59.0
        assert await receiver.flush_expired() == 0
        now[0] += 2.0
        assert await receiver.flush_expired() == 1
    [message] = log.inbound
    assert message.text == "first third"
    assert message.missing_parts == (2,)
    assert not message.complete
    assert receiver.statistics().pending_messages == 0


@pytest.mark.anyio
async def test_expired_multipart_kept_when_handler_fails() -> None:
    now = [0.0]
    delivered: list[InboundMessage] = []
    fail = [True]

    async def on_inbound(message: InboundMessage) -> None:
        if fail[0]:
            raise RuntimeError("down")
        delivered.append(message)

    receiver = CallbackReceiver(on_inbound=on_inbound, reassembly_timeout=10, clock=lambda: now[0])
    async with client_for(receiver) as client:
        await send(client, "post", mo_fields(momsgid="p1", text="a", udh="0500030B0201"))
    now[0] = 11.0
    assert await receiver.flush_expired() == 0
    assert receiver.statistics().pending_messages == 1
    fail[0] = False
    assert await receiver.flush_expired() == 1
    assert [(m.text, m.missing_parts) for m in delivered] == [("a", (2,))]


@pytest.mark.anyio
async def test_expired_multipart_kept_when_its_handler_is_cancelled() -> None:
    now = [0.0]
    delivered: list[InboundMessage] = []
    hang = [True]

    async def on_inbound(message: InboundMessage) -> None:
        if hang[0]:
            await anyio.sleep_forever()
        delivered.append(message)

    receiver = CallbackReceiver(on_inbound=on_inbound, reassembly_timeout=10, clock=lambda: now[0])
    async with client_for(receiver) as client:
        await send(client, "post", mo_fields(momsgid="p1", text="a", udh="0500030C0201"))
    now[0] = 11.0
    with anyio.CancelScope() as scope:
        scope.cancel()
        await receiver.flush_expired()  # cancelled inside the handler
    assert receiver.statistics().pending_messages == 1  # not lost with the cancelled call
    hang[0] = False
    assert await receiver.flush_expired() == 1
    assert [(m.text, m.missing_parts) for m in delivered] == [("a", (2,))]


@pytest.mark.anyio
async def test_pending_multipart_buffer_is_bounded() -> None:
    log = EventLog()
    receiver = log.receiver(max_pending_messages=2)
    async with client_for(receiver) as client:
        for ref in range(3):
            fields = mo_fields(momsgid=f"r{ref}", text=f"r{ref}", udh=f"050003{ref:02X}0201")
            assert (await send(client, "post", fields)).status_code == 200
        assert log.inbound == []
        # Beyond the limit the oldest incomplete message is dropped and counted.
        await send(client, "post", mo_fields(momsgid="single", text="single"))
    assert [(m.text, m.missing_parts) for m in log.inbound] == [("single", ())]
    stats = receiver.statistics()
    assert (stats.dropped_messages, stats.pending_messages) == (1, 2)


# -- delivery guarantees ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_repeated_callback_reaches_handler_once() -> None:
    log = EventLog()
    receiver = log.receiver()
    async with client_for(receiver) as client:
        for form in ("get", "post", "soap_post"):
            assert (await send(client, form, status_fields(status=4))).status_code == 200
    assert len(log.statuses) == 1
    assert receiver.statistics().duplicates == 2


@pytest.mark.anyio
async def test_late_intermediate_after_final_is_acknowledged_not_delivered() -> None:
    log = EventLog()
    receiver = log.receiver()
    async with client_for(receiver) as client:
        assert (await send(client, "get", status_fields(status=4))).status_code == 200
        assert (await send(client, "get", status_fields(status=3))).status_code == 200
        assert (await send(client, "get", status_fields("other", status=3))).status_code == 200
        assert (await send(client, "get", status_fields("other", status=7))).status_code == 200
    assert [(r.apimsgid, int(r.status)) for r in log.statuses] == [
        (APIMSGID, 4),
        ("other", 3),
        ("other", 7),
    ]
    assert log.latest(APIMSGID).status is MessageStatus.RECEIVED_BY_RECIPIENT  # type: ignore[union-attr]
    assert receiver.statistics().stale == 1


@pytest.mark.anyio
async def test_handler_failure_answers_500_and_retry_reaches_handler() -> None:
    calls: list[StatusReport] = []

    async def flaky(report: StatusReport) -> None:
        calls.append(report)
        if len(calls) == 1:
            raise RuntimeError("database down")

    receiver = CallbackReceiver(on_status=flaky)
    async with client_for(receiver) as client:
        first = await send(client, "post", status_fields(status=4))
        second = await send(client, "post", status_fields(status=4))
        third = await send(client, "post", status_fields(status=4))
    assert (first.status_code, second.status_code, third.status_code) == (500, 200, 200)
    assert "database" not in first.text
    assert len(calls) == 2
    stats = receiver.statistics()
    assert stats.handler_errors == 1 and stats.status_reports == 1 and stats.duplicates == 1


@pytest.mark.anyio
async def test_handler_failure_on_last_part_keeps_earlier_parts() -> None:
    seen: list[InboundMessage] = []

    async def flaky(message: InboundMessage) -> None:
        seen.append(message)
        if len(seen) == 1:
            raise RuntimeError("boom")

    receiver = CallbackReceiver(on_inbound=flaky)
    parts = parts_of(["x", "y"], lambda n, t: f"05000342{t:02X}{n:02X}")
    async with client_for(receiver) as client:
        assert (await send(client, "post", parts[0])).status_code == 200
        assert (await send(client, "post", parts[1])).status_code == 500
        assert (await send(client, "post", parts[1])).status_code == 200
        assert (await send(client, "post", parts[1])).status_code == 200
    assert [m.text for m in seen] == ["xy", "xy"]
    assert receiver.statistics().inbound_messages == 1


@pytest.mark.anyio
async def test_concurrent_repeats_wait_for_the_first_copy() -> None:
    release = anyio.Event()
    entered = anyio.Event()
    calls: list[StatusReport] = []

    async def slow(report: StatusReport) -> None:
        calls.append(report)
        entered.set()
        await release.wait()

    receiver = CallbackReceiver(on_status=slow)
    codes: list[int] = []
    async with client_for(receiver) as client:

        async def post() -> None:
            codes.append((await send(client, "post", status_fields(status=4))).status_code)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(post)
            await entered.wait()  # the store runs in a thread: wait for the handler itself
            await anyio.wait_all_tasks_blocked()
            assert len(calls) == 1
            release.set()
    assert codes == [200] * 5
    assert len(calls) == 1


def storm_schedule(seed: int, messages: int) -> tuple[list[StatusFields], dict[str, int]]:
    """Every message goes 003 → final; each callback sent 1-3 times, all shuffled."""
    rng = random.Random(seed)
    finals = [4, 5, 7, 9, 10, 12]
    sends: list[StatusFields] = []
    final_of: dict[str, int] = {}
    for n in range(messages):
        apimsgid = f"{n:032x}"
        final_of[apimsgid] = rng.choice(finals)
        for status in (3, final_of[apimsgid]):
            sends += [status_fields(apimsgid, status=status)] * rng.randint(1, 3)
    rng.shuffle(sends)
    # Make sure the interesting case is present: a late 003 after its final.
    late = status_fields(f"{0:032x}", status=3)
    sends.append(late)
    return sends, final_of


@pytest.mark.anyio
async def test_storm_of_repeated_and_reordered_status_callbacks() -> None:
    sends, final_of = storm_schedule(seed=20240607, messages=60)
    effects: dict[tuple[str, int], int] = {}

    async def on_status(report: StatusReport) -> None:
        key = (report.apimsgid, int(report.status))
        effects[key] = effects.get(key, 0) + 1

    log = EventLog()

    async def both(report: StatusReport) -> None:
        await on_status(report)
        await log.on_status(report)

    receiver = CallbackReceiver(on_status=both)
    rng = random.Random(7)
    async with client_for(receiver) as client:
        for fields in sends:
            response = await send(client, rng.choice(FORMS), fields)
            assert response.status_code == 200
    # Expected from the order: a 003 counts only if its first copy beat the final's first copy.
    first_seen: dict[tuple[str, int], int] = {}
    for index, fields in enumerate(sends):
        first_seen.setdefault((fields.apimsgid, fields.status), index)
    expected = {}
    for apimsgid, final in final_of.items():
        expected[(apimsgid, final)] = 1
        if first_seen[(apimsgid, 3)] < first_seen[(apimsgid, final)]:
            expected[(apimsgid, 3)] = 1
    assert effects == expected
    assert any(k[1] == 3 for k in expected) and len(expected) < 2 * len(final_of)
    for apimsgid, final in final_of.items():
        assert int(log.latest(apimsgid).status) == final  # type: ignore[union-attr]
    stats = receiver.statistics()
    assert stats.stale >= 1  # at least one 003 arrived after its final status
    assert stats.status_reports == len(expected)
    assert stats.duplicates + stats.stale + stats.status_reports == len(sends)


@pytest.mark.anyio
async def test_storm_delivered_concurrently() -> None:
    sends, final_of = storm_schedule(seed=99, messages=40)
    effects: dict[tuple[str, int], int] = {}
    finals: dict[str, int] = {}

    async def on_status(report: StatusReport) -> None:
        await anyio.lowlevel.checkpoint()  # let other deliveries interleave
        key = (report.apimsgid, int(report.status))
        effects[key] = effects.get(key, 0) + 1
        if report.is_final:
            finals[report.apimsgid] = int(report.status)
        else:
            # Never an intermediate status after the final one was handled.
            assert report.apimsgid not in finals

    receiver = CallbackReceiver(on_status=on_status)
    async with client_for(receiver) as client:
        limiter = anyio.CapacityLimiter(8)

        async def one(fields: StatusFields, form: str) -> None:
            async with limiter:
                assert (await send(client, form, fields)).status_code == 200

        async with anyio.create_task_group() as tg:
            for index, fields in enumerate(sends):
                tg.start_soon(one, fields, FORMS[index % len(FORMS)])
    assert set(effects.values()) == {1}
    assert finals == final_of


@pytest.mark.anyio
async def test_storm_of_multipart_inbound() -> None:
    rng = random.Random(5)
    texts = {ref: [f"m{ref}p{n};" for n in range(1, rng.randint(2, 5) + 1)] for ref in range(30)}
    sends: list[MOFields] = []
    for ref, chunks in texts.items():
        for n, chunk in enumerate(chunks, start=1):
            fields = mo_fields(
                momsgid=f"{ref}-{n}", text=chunk, udh=f"050003{ref:02X}{len(chunks):02X}{n:02X}"
            )
            sends += [fields] * rng.randint(1, 3)
    rng.shuffle(sends)
    log = EventLog()
    async with client_for(log.receiver()) as client:
        for fields in sends:
            assert (await send(client, rng.choice(FORMS), fields)).status_code == 200
    assert sorted(m.text for m in log.inbound) == sorted("".join(c) for c in texts.values())


# -- routing and authentication -----------------------------------------------------------------


@pytest.mark.anyio
async def test_routes_and_methods() -> None:
    log = EventLog()
    async with client_for(log.receiver()) as client:
        assert (await send(client, "get", mo_fields(), "/status")).status_code == 400
        assert (await send(client, "get", status_fields(), "/inbound")).status_code == 400
        assert (await send(client, "get", status_fields(), "/elsewhere")).status_code == 404
        put = await client.put("/status?apiMsgId=x&status=003&timestamp=1")
        assert put.status_code == 405 and put.headers["allow"] == "GET, POST"
    assert log.statuses == [] and log.inbound == []


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


@pytest.mark.anyio
async def test_basic_auth() -> None:
    log = EventLog()
    receiver = log.receiver(basic_auth=("gateway", "pa:ss"))
    fields = status_fields(status=4)
    async with client_for(receiver) as client:
        missing = await send(client, "get", fields)
        wrong = await client.get(
            "/?" + build_callback("get", fields).query, headers=basic("gateway", "nope")
        )
        garbage = await client.get("/", headers={"authorization": "Basic !!!"})
        assert log.statuses == []
        good = await client.get(
            "/?" + build_callback("get", fields).query, headers=basic("gateway", "pa:ss")
        )
    assert (missing.status_code, wrong.status_code, garbage.status_code) == (401, 401, 401)
    assert missing.headers["www-authenticate"].startswith("Basic realm=")
    assert good.status_code == 200
    assert len(log.statuses) == 1
    assert receiver.statistics().unauthorized == 3


@pytest.mark.anyio
async def test_secret_path() -> None:
    log = EventLog()
    receiver = log.receiver(secret_path="/s3cr3t-token/")
    fields = status_fields(status=4)
    async with client_for(receiver) as client:
        for path in ("/status", "/wrong-token/status", "/s3cr3t-tokenX/status", "/s3cr3t-toke"):
            assert (await send(client, "get", fields, path)).status_code == 401
        assert log.statuses == []
        assert (await send(client, "get", fields, "/s3cr3t-token/status")).status_code == 200
        assert (await send(client, "post", mo_fields(), "/s3cr3t-token")).status_code == 200
    assert len(log.statuses) == 1 and len(log.inbound) == 1
    assert "s3cr3t" not in repr(receiver)


@pytest.mark.anyio
async def test_secret_path_and_basic_auth_together_under_a_mount() -> None:
    log = EventLog()
    receiver = log.receiver(secret_path="k3y", basic_auth=("u", "p"))

    async def mounted(scope, receive, send_):  # a framework mounting the app at /cb
        if scope["type"] == "http":
            scope = {**scope, "root_path": "/cb"}
        await receiver(scope, receive, send_)

    query = build_callback("get", status_fields(status=4)).query
    transport = httpx.ASGITransport(app=mounted)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        assert (await client.get("/cb/k3y/status?" + query)).status_code == 401
        assert (
            await client.get("/cb/bad/status?" + query, headers=basic("u", "p"))
        ).status_code == 401
        ok = await client.get("/cb/k3y/status?" + query, headers=basic("u", "p"))
    assert ok.status_code == 200
    assert len(log.statuses) == 1


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        CallbackReceiver(basic_auth=("us:er", "x"))
    with pytest.raises(ValueError):
        CallbackReceiver(secret_path="//")
    with pytest.raises(ValueError):
        CallbackReceiver(dedup_size=0)


# -- malformed input ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "no callback parameters"),
        ("foo=bar", "neither apiMsgId nor moMsgId"),
        ("apiMsgId=&status=003&timestamp=1", "missing apiMsgId"),
        ("apiMsgId=a&timestamp=1", "missing status"),
        ("apiMsgId=a&status=abc&timestamp=1", "status"),
        ("apiMsgId=a&status=003&timestamp=yesterday", "timestamp"),
        ("apiMsgId=a&status=003", "missing timestamp"),
        ("apiMsgId=a&status=003&timestamp=1&charge=lots", "charge"),
        ("apiMsgId=a&status=003&timestamp=1&charge=nan", "charge"),
        ("apiMsgId=a&apimsgid=b&status=003&timestamp=1", "more than once"),
        ("moMsgId=m&from=1&to=2&timestamp=2020-01-01+00:00:00", "missing text"),
        ("moMsgId=m&from=1&to=2&text=x&timestamp=01/01/2020", "timestamp"),
        ("moMsgId=m&from=1&to=2&text=x&timestamp=1&udh=zz", "udh"),
        ("moMsgId=m&from=1&to=2&text=x&timestamp=1&udh=0500030203", "udh"),
        ("moMsgId=m&from=1&to=2&text=x&timestamp=1&udh=050003020203", "part 3 of 2"),
        ("moMsgId=m&from=1&to=2&text=00E&timestamp=1&charset=UCS-2", "hexadecimal"),
        ("moMsgId=m&from=1&to=2&text=x&timestamp=1&charset=klingon", "unknown charset"),
        ("moMsgId=m&from=1&to=2&text=%FF&timestamp=1&charset=UTF-8", "not valid UTF-8"),
        ("moMsgId=m&to=2&text=x&timestamp=1", "missing from"),
        ("data=%3Cfoo%2F%3E", "unknown XML callback element"),
        ("data=%3Ccallback%3E", "malformed XML"),
        ("data=%3Cs%3AEnvelope+xmlns%3As%3D%22u%22%2F%3E", "without a call"),
    ],
)
async def test_malformed_callbacks_answer_400(query: str, reason: str) -> None:
    log = EventLog()
    receiver = log.receiver()
    async with client_for(receiver) as client:
        response = await client.get("/?" + query)
    assert response.status_code == 400
    assert reason in response.text
    assert log.statuses == [] and log.inbound == []
    assert receiver.statistics().malformed == 1


@pytest.mark.anyio
async def test_size_limits_and_content_type() -> None:
    log = EventLog()
    receiver = log.receiver(max_body=2_000)
    big = "apiMsgId=a&status=003&timestamp=1&pad=" + "x" * 3_000
    async with client_for(receiver) as client:
        assert (await client.get("/?" + big)).status_code == 413
        form = {"content-type": "application/x-www-form-urlencoded"}
        assert (await client.post("/", content=big, headers=form)).status_code == 413

        async def chunks():
            for _ in range(5):
                yield b"x" * 1_000

        assert (await client.post("/", content=chunks(), headers=form)).status_code == 413
        multipart = {"content-type": "multipart/form-data; boundary=x"}
        response = await client.post("/", content=b"--x--", headers=multipart)
        assert response.status_code == 400 and "content type" in response.text
    assert log.statuses == []


# -- XML attacks --------------------------------------------------------------------------------


@pytest.fixture
def canary(tmp_path: Path):
    """A FIFO whose writer records whether anything ever opened it for reading."""
    path = tmp_path / "canary"
    os.mkfifo(path)
    opened = threading.Event()

    def writer() -> None:
        fd = os.open(path, os.O_WRONLY)  # blocks until a reader opens the FIFO
        opened.set()
        try:
            os.write(fd, b"CANARY-SECRET")
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    yield path, opened
    # Release the writer: our own read end makes its open() return.
    was_opened = opened.is_set()
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    thread.join(5)
    os.close(reader)
    assert not was_opened, "the canary file was opened by the XML parser"


def xml_attacks(canary_uri: str) -> list[str]:
    return [
        # external entity (XXE)
        f'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "{canary_uri}">]>'
        "<callback><apiMsgId>&x;</apiMsgId><status>003</status><timestamp>1</timestamp></callback>",
        # external DTD
        f'<?xml version="1.0"?><!DOCTYPE callback SYSTEM "{canary_uri}"><callback/>',
        # parameter entity
        f'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY % p SYSTEM "{canary_uri}"> %p;]><clickmo/>',
        # billion laughs
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>'
        "<callback><apiMsgId>&d;</apiMsgId></callback>",
        # XXE inside a SOAP envelope
        f'<!DOCTYPE e [<!ENTITY x SYSTEM "{canary_uri}">]>'
        '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
        "<mt_callback><apimsgid>&x;</apimsgid></mt_callback></e:Body></e:Envelope>",
    ]


@pytest.mark.anyio
async def test_xml_attacks_refused_without_reading_files(canary) -> None:
    path, opened = canary
    log = EventLog()
    receiver = log.receiver()
    async with client_for(receiver) as client:
        for document in xml_attacks(path.as_uri()):
            as_param = await client.get("/", params={"data": document})
            as_body = await client.post(
                "/", content=document.encode(), headers={"content-type": "application/xml"}
            )
            utf16 = await client.post(
                "/",
                content=document.replace('<?xml version="1.0"?>', "").encode("utf-16"),
                headers={"content-type": "text/xml"},
            )
            for response in (as_param, as_body, utf16):
                assert response.status_code == 400
                assert "CANARY" not in response.text
    assert not opened.is_set()
    assert log.statuses == [] and log.inbound == []
    assert receiver.statistics().malformed == 15


# -- misc ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_without_handlers_callbacks_are_acknowledged() -> None:
    receiver = CallbackReceiver()
    async with client_for(receiver) as client:
        assert (await send(client, "get", status_fields())).status_code == 200
        assert (await send(client, "get", mo_fields())).status_code == 200
        assert (await send(client, "get", mo_fields(timestamp="bad"))).status_code == 400
    assert receiver.statistics() == ReceiverStatistics(
        requests=3,
        status_reports=0,
        inbound_messages=0,
        inbound_parts=0,
        duplicates=0,
        stale=0,
        unauthorized=0,
        malformed=1,
        handler_errors=0,
        pending_messages=0,
    )


@pytest.mark.anyio
async def test_lifespan_protocol() -> None:
    receiver = CallbackReceiver()
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, str]] = []

    async def receive():
        return incoming.pop(0)

    async def send_(message):
        sent.append(message)

    await receiver({"type": "lifespan"}, receive, send_)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.anyio
async def test_a_handler_asking_for_a_retry_gets_503_and_the_event_again() -> None:
    calls: list[str] = []

    async def on_status(report: StatusReport) -> None:
        calls.append(report.apimsgid)
        if len(calls) == 1:
            raise RetryLater("the database is down")

    receiver = CallbackReceiver(on_status=on_status, store=False)
    async with client_for(receiver) as client:
        first = await send(client, "post", status_fields())
        again = await send(client, "post", status_fields())  # the gateway's retry
        replay = await send(client, "post", status_fields())
    assert first.status_code == 503 and first.headers["retry-after"] == "60"
    assert again.status_code == replay.status_code == 200
    assert calls == [APIMSGID, APIMSGID]  # not recorded as handled until it was
