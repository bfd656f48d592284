"""asms.testing CallbackDispatcher: wire forms, callback values, retry schedule, MO parts."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
from helpers.net import free_port
from lxml import etree

from asms._codes import CALLBACK_TRIGGERS, MessageStatus
from asms._encoding import ucs2_hex
from asms.callbacks import EventLog
from asms.testing._callbacks import (
    MO_RETRY_DELAYS,
    STATUS_RETRY_DELAYS,
    CallbackDispatcher,
)
from asms.testing._clock import FakeClock
from asms.testing._config import Account
from asms.testing._events import MOEvent, StatusEvent

FORMS = ["get", "post", "xml_get", "xml_post", "soap_get", "soap_post"]
START = 1_700_000_000.0


def account(form: str = "post", **kw: object) -> Account:
    values: dict[str, object] = {
        "api_id": 12345,
        "user": "user",
        "password": "secret",
        "callback_url": "http://receiver/status",
        "callback_method": form,
        "mo_callback_url": "http://receiver/inbound",
        "mo_callback_method": form,
    }
    values.update(kw)
    return Account(**values)  # type: ignore[arg-type]


def status_event(
    apimsgid: str = "996f364775e24b8432f45d77da8eca47",
    status: MessageStatus = MessageStatus.RECEIVED_BY_RECIPIENT,
    callback_value: int = 7,
) -> StatusEvent:
    return StatusEvent(
        api_id=12345,
        apimsgid=apimsgid,
        climsgid="abc123",
        to="279995631564",
        from_="27833001171",
        status=status,
        charge=0.3,
        timestamp=1218007814,
        callback_value=callback_value,
    )


def mo_event(momsgid: str = "b2aee337abd962489b123fda9c3480fa", **kw: object) -> MOEvent:
    values: dict[str, object] = {
        "api_id": 12345,
        "momsgid": momsgid,
        "from_": "279991235642",
        "to": "27123456789",
        "timestamp_gmt2": "2008-08-06 09:43:50",
        "text": "Here is the message text",
        "charset": "ISO-8859-1",
        "udh": "",
    }
    values.update(kw)
    return MOEvent(**values)  # type: ignore[arg-type]


def asgi_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")


@dataclass
class Seen:
    method: str
    path: str
    query: bytes
    body: bytes
    headers: dict[bytes, bytes]
    at: float


@dataclass
class Recorder:
    """An ASGI receiver that records requests and fails the first ``fail`` of them."""

    clock: FakeClock
    fail: int = 0
    failure: str = "status"  # "status" (503), "raise" or "hang"
    requests: list[Seen] = field(default_factory=list)

    async def __call__(self, scope, receive, send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(
            Seen(
                scope["method"],
                scope["path"],
                scope["query_string"],
                body,
                dict(scope["headers"]),
                self.clock.wall_time(),
            )
        )
        status = 200
        if len(self.requests) <= self.fail:
            if self.failure == "raise":
                raise RuntimeError("receiver crashed")
            if self.failure == "hang":
                await anyio.sleep_forever()
            status = 503
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"OK"})

    def params(self, index: int = -1) -> list[tuple[str, str]]:
        seen = self.requests[index]
        return parse_qsl((seen.query or seen.body).decode(), keep_blank_values=True)


# -- wire forms -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_status_get_and_post_parameters() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder))
    dispatcher.status_changed(account("get"), status_event(status=MessageStatus(3)))
    dispatcher.status_changed(account("post"), status_event(status=MessageStatus(3)))
    assert await dispatcher.deliver_due() == 2
    expected = [
        ("api_id", "12345"),
        ("apiMsgId", "996f364775e24b8432f45d77da8eca47"),
        ("cliMsgId", "abc123"),
        ("timestamp", "1218007814"),
        ("to", "279995631564"),
        ("from", "27833001171"),
        ("status", "003"),
        ("charge", "0.300000"),
    ]
    get, post = recorder.requests
    assert (get.method, get.path, get.body) == ("GET", "/status", b"")
    assert recorder.params(0) == expected
    assert (post.method, post.query) == ("POST", b"")
    assert post.headers[b"content-type"] == b"application/x-www-form-urlencoded"
    assert recorder.params(1) == expected


@pytest.mark.anyio
async def test_status_xml_and_soap_documents() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder))
    for form in ("xml_get", "soap_post"):
        dispatcher.status_changed(account(form), status_event())
    await dispatcher.deliver_due()
    [(name, xml_doc)] = recorder.params(0)
    assert name == "data"
    root = etree.fromstring(xml_doc.encode())
    assert root.tag == "callback"
    assert [(c.tag, c.text) for c in root] == [
        ("apiMsgId", "996f364775e24b8432f45d77da8eca47"),
        ("cliMsgId", "abc123"),
        ("timestamp", "1218007814"),
        ("to", "279995631564"),
        ("from", "27833001171"),
        ("charge", "0.300000"),
        ("status", "004"),
    ]
    [(name, soap_doc)] = recorder.params(1)
    envelope = etree.fromstring(soap_doc.encode())
    [call] = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert call.tag == "{mt_callback}mt_callback"
    xsi_type = "{http://www.w3.org/2001/XMLSchema-instance}type"
    assert [(c.tag, c.get(xsi_type), c.text) for c in call] == [
        ("api_id", "xsd:int", "12345"),
        ("apimsgid", "xsd:string", "996f364775e24b8432f45d77da8eca47"),
        ("climsgid", "xsd:string", "abc123"),
        ("to", "xsd:string", "279995631564"),
        ("from", "xsd:string", "27833001171"),
        ("timestamp", "xsd:int", "1218007814"),
        ("status", "xsd:int", "004"),
        ("charge", "xsd:float", "0.300000"),
    ]


@pytest.mark.anyio
async def test_mo_parameters_and_documents() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder))
    event = mo_event(text="café", network="MTN")
    for form in ("get", "xml_post", "soap_get"):
        dispatcher.mo_received(account(form), event)
    await dispatcher.deliver_due()
    assert recorder.requests[0].path == "/inbound"
    # ISO-8859-1 text travels percent-encoded in its own charset.
    assert b"text=caf%E9" in recorder.requests[0].query
    assert [k for k, _ in recorder.params(0)] == [
        "api_id", "moMsgId", "from", "to", "timestamp", "text", "charset", "udh", "network",
    ]  # fmt: skip
    root = etree.fromstring(recorder.params(1)[0][1].encode())
    assert root.tag == "clickmo"
    assert root.findtext("moMsgId") == event.momsgid and root.findtext("text") == "café"
    envelope = etree.fromstring(recorder.params(2)[0][1].encode())
    [call] = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert call.tag == "{clickatell_mo}mo_callback"
    assert call.findtext("momsgid") == event.momsgid
    assert call.findtext("timestamp") == "2008-08-06 09:43:50"


@pytest.mark.anyio
@pytest.mark.parametrize("form", FORMS)
async def test_every_callback_value_in_every_form(form: str) -> None:
    """Each status reaches the receiver exactly when the message's callback value asks."""
    clock = FakeClock(START)
    log = EventLog()
    dispatcher = CallbackDispatcher(
        clock, lambda: asgi_client(log.receiver()), triggers=CALLBACK_TRIGGERS
    )
    sent = 0
    for value in range(8):
        for status in MessageStatus:
            apimsgid = f"v{value}s{int(status):02d}"
            dispatcher.status_changed(account(form), status_event(apimsgid, status, value))
            sent += 1
    await dispatcher.deliver_due()
    got = {(r.apimsgid, r.status) for r in log.statuses}
    expected = {
        (f"v{value}s{int(status):02d}", status)
        for value, statuses in CALLBACK_TRIGGERS.items()
        for status in statuses
    }
    assert got == expected
    stats = dispatcher.statistics()
    assert stats.delivered == len(expected)
    assert stats.filtered == sent - len(expected)
    assert dispatcher.pending() == []
    for report in log.statuses:
        assert report.charge == pytest.approx(0.3)
        assert report.timestamp.timestamp() == 1218007814
        assert report.climsgid == "abc123"
        assert report.api_id == (None if form.startswith("xml") else "12345")


@pytest.mark.anyio
async def test_without_triggers_every_event_is_sent_and_missing_url_is_skipped() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder))
    dispatcher.status_changed(account(), status_event(callback_value=0))
    dispatcher.status_changed(account(callback_url=None), status_event())
    dispatcher.mo_received(account(mo_callback_url=None), mo_event())
    await dispatcher.deliver_due()
    assert len(recorder.requests) == 1
    assert dispatcher.statistics().skipped == 2


@pytest.mark.anyio
async def test_basic_auth_and_url_with_its_own_query() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder))
    acc = account(
        "get", callback_url="http://receiver/cb?tenant=7", callback_auth=("gw", "p@ss:word")
    )
    dispatcher.status_changed(acc, status_event())
    await dispatcher.deliver_due()
    seen = recorder.requests[0]
    assert seen.headers[b"authorization"] == b"Basic " + base64.b64encode(b"gw:p@ss:word")
    assert recorder.params()[0] == ("tenant", "7")
    assert recorder.params()[1] == ("api_id", "12345")
    # The URL a pending callback or history shows has no query (it carries the API id).
    assert dispatcher.history()[0].url == "http://receiver/cb"


@pytest.mark.anyio
async def test_callbacks_about_one_message_go_out_in_order() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder), max_concurrency=4)
    for n in range(10):
        for status in (MessageStatus(3), MessageStatus(4)):
            dispatcher.status_changed(account(), status_event(f"m{n}", status))
    await dispatcher.deliver_due()
    order: dict[str, list[str]] = {}
    for index in range(len(recorder.requests)):
        params = dict(recorder.params(index))
        order.setdefault(params["apiMsgId"], []).append(params["status"])
    assert order == {f"m{n}": ["003", "004"] for n in range(10)}


# -- retries ----------------------------------------------------------------------------------


async def run_schedule(dispatcher: CallbackDispatcher, clock: FakeClock) -> None:
    """Advance the fake clock to each next attempt and deliver, until nothing is queued."""
    await dispatcher.deliver_due()
    while (due := dispatcher.next_due()) is not None:
        clock.set(due)
        await dispatcher.deliver_due()


@pytest.mark.anyio
async def test_status_retry_schedule_until_success() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock, fail=3)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder))
    dispatcher.status_changed(account(), status_event())
    assert await dispatcher.deliver_due() == 1
    [pending] = dispatcher.pending()
    assert (pending.attempts, pending.next_attempt, pending.last_error) == (
        1,
        START + 120,
        "HTTP 503",
    )
    clock.advance(119)
    assert await dispatcher.deliver_due() == 0
    await run_schedule(dispatcher, clock)
    # 2 minutes after the first attempt, then 4 and 8 minutes after the previous one.
    assert [r.at - START for r in recorder.requests] == [0, 120, 360, 840]
    assert [a.ok for a in dispatcher.history()] == [False, False, False, True]
    stats = dispatcher.statistics()
    assert (stats.attempts, stats.delivered, stats.failed_attempts, stats.given_up) == (4, 1, 3, 0)
    assert dispatcher.pending() == []


@pytest.mark.anyio
async def test_status_retries_give_up_after_three_days() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock, fail=100)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder))
    dispatcher.status_changed(account(), status_event())
    await run_schedule(dispatcher, clock)
    minutes = [(r.at - START) / 60 for r in recorder.requests]
    assert minutes == [0, 2, 6, 14, 30, 62, 126, 254, 254 + 3 * 24 * 60]
    assert dispatcher.statistics().given_up == 1
    assert dispatcher.pending() == []


@pytest.mark.anyio
async def test_mo_retry_schedule_and_time_scale() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock, fail=100)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder), time_scale=0.01)
    dispatcher.mo_received(account(), mo_event())
    await run_schedule(dispatcher, clock)
    offsets = [round(r.at - START, 6) for r in recorder.requests]
    assert offsets == [round(x * 0.01, 6) for x in (0, 120, 360, 840, 1800, 3300)]
    assert len(MO_RETRY_DELAYS) == 5 and len(STATUS_RETRY_DELAYS) == 8


@pytest.mark.anyio
@pytest.mark.parametrize("failure", ["raise", "hang"])
async def test_receiver_crash_or_timeout_counts_as_failure(failure: str) -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock, fail=1, failure=failure)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder), timeout=0.2)
    dispatcher.status_changed(account(), status_event())
    await dispatcher.deliver_due()
    [pending] = dispatcher.pending()
    assert pending.last_error == ("timed out" if failure == "hang" else "RuntimeError")
    clock.advance(120)
    await dispatcher.deliver_due()
    assert dispatcher.statistics().delivered == 1


@pytest.mark.anyio
async def test_unreachable_receiver_is_retried() -> None:
    clock = FakeClock(START)
    dispatcher = CallbackDispatcher(clock, timeout=5)
    url = f"http://127.0.0.1:{free_port()}/status"
    async with dispatcher:
        dispatcher.status_changed(account(callback_url=url), status_event())
        await dispatcher.deliver_due()
    [pending] = dispatcher.pending()
    assert pending.attempts == 1 and pending.next_attempt == START + 120
    assert pending.last_error == "ConnectError"
    assert pending.url == url


# -- inbound parts ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("form", FORMS)
async def test_mo_parts_delivered_and_reassembled(form: str) -> None:
    clock = FakeClock(START)
    log = EventLog()
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(log.receiver()))
    chunks = ["Ελληνικά ", "και ", "λατινικά"]
    for n, chunk in enumerate(chunks, start=1):
        dispatcher.mo_received(
            account(form),
            mo_event(f"part{n}", text=ucs2_hex(chunk), charset="UCS-2", udh=f"05000321030{n}"),
        )
    dispatcher.mo_received(account(form), mo_event("single", text="plain"))
    assert await dispatcher.deliver_due() == 4
    assert sorted(m.text for m in log.inbound) == ["plain", "Ελληνικά και λατινικά"]
    [joined] = [m for m in log.inbound if m.parts == 3]
    assert joined.part_ids == ("part1", "part2", "part3")


@pytest.mark.anyio
async def test_ucs2_mo_text_given_decoded_is_sent_as_hex() -> None:
    clock = FakeClock(START)
    log = EventLog()
    recorder_log: list[bytes] = []
    receiver = log.receiver()

    async def app(scope, receive, send):
        recorder_log.append(scope["query_string"])
        await receiver(scope, receive, send)

    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(app))
    dispatcher.mo_received(account("get"), mo_event(text="Привет", charset="UCS-2"))
    dispatcher.mo_received(account("get"), mo_event("hex", text="041F", charset="UCS-2"))
    await dispatcher.deliver_due()
    assert any(b"text=041F04400438043204350442&" in query for query in recorder_log)
    assert sorted(m.text for m in log.inbound) == ["П", "Привет"]


# -- run() ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_run_loop_follows_the_fake_clock() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock, fail=1)
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder))
    async with anyio.create_task_group() as tg:
        tg.start_soon(dispatcher.run)
        await anyio.wait_all_tasks_blocked()
        dispatcher.status_changed(account(), status_event())
        await anyio.wait_all_tasks_blocked()
        assert len(recorder.requests) == 1
        clock.advance(119)
        await anyio.wait_all_tasks_blocked()
        assert len(recorder.requests) == 1
        clock.advance(1)
        await anyio.wait_all_tasks_blocked()
        assert len(recorder.requests) == 2
        tg.cancel_scope.cancel()
    assert [r.at - START for r in recorder.requests] == [0, 120]
    assert dispatcher.statistics().delivered == 1
    assert "delivered=1" in repr(dispatcher)


@pytest.mark.anyio
async def test_events_queued_from_another_thread_reach_run() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock)
    both_arrived = anyio.Event()

    async def app(scope, receive, send):
        await recorder(scope, receive, send)
        if len(recorder.requests) == 2:
            both_arrived.set()

    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(app), poll_interval=0.02)
    async with anyio.create_task_group() as tg:
        tg.start_soon(dispatcher.run)
        await anyio.to_thread.run_sync(dispatcher.status_changed, account(), status_event())
        await anyio.to_thread.run_sync(dispatcher.mo_received, account(), mo_event())
        with anyio.fail_after(10):
            await both_arrived.wait()
        tg.cancel_scope.cancel()
    assert sorted(r.path for r in recorder.requests) == ["/inbound", "/status"]


@pytest.mark.anyio
async def test_cancelled_attempt_stays_queued() -> None:
    clock = FakeClock(START)
    recorder = Recorder(clock, fail=1, failure="hang")
    dispatcher = CallbackDispatcher(clock, lambda: asgi_client(recorder))
    dispatcher.status_changed(account(), status_event())
    with anyio.move_on_after(0.1):
        await dispatcher.run()
    [pending] = dispatcher.pending()
    assert (pending.attempts, pending.next_attempt) == (0, START)
    assert await dispatcher.deliver_due() == 1
    assert dispatcher.statistics().delivered == 1


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        CallbackDispatcher(FakeClock(), time_scale=0)
    with pytest.raises(ValueError):
        CallbackDispatcher(FakeClock(), max_concurrency=0)
