"""Time-driven behaviour on a fake clock: sessions, batches, statuses, callbacks, MO."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from helpers.emulator import CREDS

from asms._codes import MessageStatus
from asms._optable import OPERATIONS
from asms.testing import (
    Account,
    FakeClock,
    GatewayEmulator,
    Lifecycle,
    MOEvent,
    StatusEvent,
)

START = 1_700_000_000.0
S = MessageStatus


class Sink:
    """A callback sender that only records what it is given."""

    def __init__(self) -> None:
        self.status: list[StatusEvent] = []
        self.mo: list[MOEvent] = []

    def status_changed(self, account: Account, event: StatusEvent) -> None:
        self.status.append(event)

    def mo_received(self, account: Account, event: MOEvent) -> None:
        self.mo.append(event)


def make(credits: float = 1000, sink: Sink | None = None, **kwargs: object) -> GatewayEmulator:
    account = Account(
        api_id=1234,
        user="demo",
        password="demo",
        credits=credits,
        callback_url="http://127.0.0.1:9/status",
        mo_callback_url="http://127.0.0.1:9/mo",
    )
    return GatewayEmulator(
        clock=FakeClock(START),
        accounts=[account],
        callbacks=sink,
        **kwargs,  # type: ignore[arg-type]
    )


def call(emu: GatewayEmulator, command: str, **params: str) -> str:
    form = urlencode({**CREDS, **params}).encode()
    reply = emu.app.handle("POST", OPERATIONS[command].http_path, b"", form, "127.0.0.1")
    return reply.body.decode()


def send(emu: GatewayEmulator, **params: str) -> str:
    line = call(emu, "sendmsg", **{"to": "27821234567", "text": "Hi", **params})
    assert line.startswith("ID: "), line
    return line[4:]


def query(emu: GatewayEmulator, apimsgid: str) -> str:
    return call(emu, "querymsg", apimsgid=apimsgid).rsplit(" ", 1)[1]


# -- sessions and batches --------------------------------------------------------------------


def test_session_expiry_slides_with_every_use() -> None:
    emu = make()
    session = call(emu, "auth")[4:]
    only = {"api_id": "", "user": "", "password": ""}
    for _ in range(4):  # an hour of use, never 15 minutes idle
        emu.advance(14 * 60)
        assert call(emu, "ping", session_id=session, **only) == "OK:"
    emu.advance(14 * 60)
    assert call(emu, "getbalance", session_id=session, **only).startswith("Credit:")
    emu.advance(15 * 60 + 1)
    assert call(emu, "ping", session_id=session, **only) == "ERR: 003, Session ID expired"


def test_batch_expires_24_hours_after_creation() -> None:
    emu = make()
    batch = call(emu, "startbatch", template="Hi")[4:]
    emu.advance(24 * 3600 - 1)
    assert call(emu, "quicksend", batch_id=batch, to="27821234567").startswith("ID: ")
    emu.advance(2)
    assert call(emu, "quicksend", batch_id=batch, to="27821234567") == (
        "ERR: 201, Invalid batch ID"
    )


# -- statuses ----------------------------------------------------------------------------------


def test_immediate_message_walks_queued_gateway_received() -> None:
    emu = make(lifecycle=Lifecycle(queued=2, delivery=10))
    apimsgid = send(emu)
    assert query(emu, apimsgid) == "002"
    emu.advance(2)
    assert query(emu, apimsgid) == "003"
    emu.advance(10)
    assert query(emu, apimsgid) == "004"


def test_deferred_delivery_is_011_until_due() -> None:
    emu = make(lifecycle=Lifecycle(queued=1, delivery=1))
    apimsgid = send(emu, deliv_time="10")
    scheduled = send(emu, scheduled_time=str(int(START) + 3600))
    assert (query(emu, apimsgid), query(emu, scheduled)) == ("011", "011")
    emu.advance(600)
    assert (query(emu, apimsgid), query(emu, scheduled)) == ("002", "011")
    emu.advance(3000 + 2)
    assert (query(emu, apimsgid), query(emu, scheduled)) == ("004", "004")


def test_validity_expiry_is_010_and_free() -> None:
    emu = make(credits=10, lifecycle=Lifecycle(queued=3600))  # a congested route
    apimsgid = send(emu, validity="1")
    assert query(emu, apimsgid) == "002"
    emu.advance(60)
    assert query(emu, apimsgid) == "010"
    assert call(emu, "getmsgcharge", apimsgid=apimsgid) == f"ID: {apimsgid} Charge: 0 Status: 010"
    assert call(emu, "getbalance") == "Credit: 10"


def test_out_of_credit_when_a_deferred_message_falls_due() -> None:
    emu = make(credits=1)
    deferred = send(emu, deliv_time="1")
    assert call(emu, "getbalance") == "Credit: 1"  # charged when it leaves
    send(emu)  # spends the last credit now
    emu.advance(60)
    assert query(emu, deferred) == "012"
    assert call(emu, "getbalance") == "Credit: 0"


def test_delmsg_cancels_queued_but_not_delivered() -> None:
    emu = make(credits=5)
    deferred = send(emu, deliv_time="5")
    assert call(emu, "delmsg", apimsgid=deferred) == f"ID: {deferred} Status: 006"
    emu.advance(600)
    assert query(emu, deferred) == "006"
    delivered = send(emu)
    emu.advance(600)
    assert call(emu, "delmsg", apimsgid=delivered) == f"ID: {delivered} Status: 004"
    assert call(emu, "getbalance") == "Credit: 4"


def test_undeliverable_number_fails_with_007() -> None:
    emu = make(lifecycle=Lifecycle(queued=1, delivery=1))
    emu.undeliverable.add("27821234567")
    apimsgid = send(emu)
    emu.advance(1)
    assert query(emu, apimsgid) == "007"


# -- status callbacks ------------------------------------------------------------------------


def statuses(sink: Sink) -> list[tuple[int, int]]:
    return [(int(e.status), e.timestamp - int(START)) for e in sink.status]


def test_callback_7_reports_gateway_and_recipient_statuses_on_the_clock() -> None:
    sink = Sink()
    emu = make(sink=sink, lifecycle=Lifecycle(queued=2, delivery=10))
    apimsgid = send(emu, callback="7", climsgid="c1", **{"from": "Acme"})
    assert sink.status == []
    emu.advance(100)  # no request needed: the clock drives the events
    assert statuses(sink) == [(3, 2), (4, 12)]
    event = sink.status[0]
    assert (event.apimsgid, event.climsgid, event.to, event.from_) == (
        apimsgid,
        "c1",
        "27821234567",
        "Acme",
    )
    assert (event.api_id, event.charge, event.callback_value) == (1234, 1.0, 7)


@pytest.mark.parametrize(
    ("callback", "expected"),
    [("0", []), ("1", [(3, 1)]), ("2", [(4, 5)]), ("4", [])],
)
def test_callback_value_selects_statuses(callback: str, expected: list[tuple[int, int]]) -> None:
    sink = Sink()
    emu = make(sink=sink, lifecycle=Lifecycle(queued=1, delivery=4))
    send(emu, callback=callback)
    emu.advance(10)
    assert statuses(sink) == expected


def test_error_statuses_reach_callback_4() -> None:
    sink = Sink()
    emu = make(sink=sink, lifecycle=Lifecycle(queued=1, delivery=4))
    send(emu, callback="4", text="x" * 200, concat="2", max_credits="1")  # 009 at once
    emu.undeliverable.add("27821234568")
    send(emu, callback="4", to="27821234568")  # 007 after a second
    emu.advance(10)
    assert statuses(sink) == [(9, 0), (7, 1)]


# Delays that are not binary fractions: the sums of the lifecycle round, and every status
# check must agree with the change times it was scheduled at (003 and 004 were skipped).
@pytest.mark.parametrize(
    ("queued", "delivery"),
    [(0.05, 0.05), (0.1, 0.2), (0.3, 0.7), (0.01, 0.07), (0.15, 0.15), (1.1, 2.2)],
)
@pytest.mark.parametrize("offset", [0.0, 0.123, 7.3])
@pytest.mark.parametrize("step", [None, 0.01])
def test_short_decimal_lifecycle_emits_003_and_004_exactly_once(
    queued: float, delivery: float, offset: float, step: float | None
) -> None:
    sink = Sink()
    emu = make(sink=sink, lifecycle=Lifecycle(queued=queued, delivery=delivery))
    emu.advance(offset)
    apimsgid = send(emu, callback="7")
    if step is None:
        emu.advance(10)
    else:
        for _ in range(round(4 / step)):  # the way a ticking server meets the change times
            emu.advance(step)
    assert [int(e.status) for e in sink.status] == [3, 4]
    assert all(e.apimsgid == apimsgid for e in sink.status)
    assert query(emu, apimsgid) == "004"


def test_v238_callbacks_include_queued_and_cancelled() -> None:
    sink = Sink()
    emu = make(sink=sink, profile="v2.3.8", lifecycle=Lifecycle(queued=1, delivery=1))
    apimsgid = send(emu, callback="3", deliv_time="1")
    emu.advance(0)
    call(emu, "delmsg", apimsgid=apimsgid)
    emu.advance(600)
    assert statuses(sink) == [(11, 0), (6, 0)]


def test_no_callbacks_without_a_callback_url() -> None:
    sink = Sink()
    emu = GatewayEmulator(clock=FakeClock(START), callbacks=sink)
    send(emu, callback="7")
    emu.advance(600)
    assert sink.status == []


@pytest.mark.anyio
async def test_status_callback_retries_on_the_fake_clock() -> None:
    from asms.testing._callbacks import CallbackDispatcher

    answers = iter([500, 503, 200])
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(next(answers))

    clock = FakeClock(START)
    dispatcher = CallbackDispatcher(
        clock, lambda: httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    )
    account = Account(
        api_id=1234,
        user="demo",
        password="demo",
        callback_url="http://receiver.test/cb",
        callback_method="get",
    )
    emu = GatewayEmulator(
        clock=clock, accounts=[account], callbacks=dispatcher, lifecycle=Lifecycle(queued=1)
    )
    apimsgid = send(emu, callback="1", climsgid="r1")
    emu.advance(1)
    assert await dispatcher.deliver_due() == 1  # first attempt: 500
    emu.advance(119)
    assert await dispatcher.deliver_due() == 0
    emu.advance(1)  # 2 minutes after the first attempt
    assert await dispatcher.deliver_due() == 1  # 503
    emu.advance(4 * 60)  # 4 minutes after the second
    assert await dispatcher.deliver_due() == 1  # 200
    times = [int(a.at - START) for a in dispatcher.history()]
    assert times == [1, 121, 361]
    query_string = parse_qs(received[-1].url.query.decode())
    assert query_string["apiMsgId"] == [apimsgid]
    assert query_string["cliMsgId"] == ["r1"]
    assert query_string["status"] == ["003"]
    await dispatcher.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["get", "post", "xml_get", "xml_post", "soap_get", "soap_post"])
async def test_callbacks_reach_the_receiver_in_every_form(method: str) -> None:
    from asms.testing._callbacks import CallbackDispatcher

    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, text="OK")

    clock = FakeClock(START)
    dispatcher = CallbackDispatcher(
        clock, lambda: httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    )
    account = Account(
        api_id=1234,
        user="demo",
        password="demo",
        callback_url="http://receiver.test/status",
        callback_method=method,  # type: ignore[arg-type]
        mo_callback_url="http://receiver.test/mo",
        mo_callback_method=method,  # type: ignore[arg-type]
        callback_auth=("gw", "s3cret"),
    )
    emu = GatewayEmulator(clock=clock, accounts=[account], callbacks=dispatcher)
    apimsgid = send(emu, callback="2")
    (mo,) = emu.inject_mo("27831234567", "27821112222", "Reply")
    emu.advance(600)
    await dispatcher.deliver_due()
    await dispatcher.aclose()
    received.sort(key=lambda r: r.url.path, reverse=True)  # delivered concurrently
    assert [r.url.path for r in received] == ["/status", "/mo"]
    status, inbound = (r.url.query + r.content for r in received)
    assert apimsgid.encode() in status and b"004" in status
    assert mo.momsgid.encode() in inbound and b"Reply" in inbound
    assert all(r.headers["authorization"].startswith("Basic ") for r in received)
    assert (received[0].method == "GET") == method.endswith("get")


# -- inbound messages --------------------------------------------------------------------------


def test_inject_mo_splits_long_texts_with_concat_udh() -> None:
    sink = Sink()
    emu = make(sink=sink)
    events = emu.inject_mo("27831234567", "27821112222", "y" * 200)
    assert [e.udh for e in events] == ["050003010201", "050003010202"]  # ref 01, 2 parts
    assert "".join(e.text for e in events) == "y" * 200
    assert sink.mo == events
    assert events[0].timestamp_gmt2 == "2023-11-15 00:13:20"  # START is 22:13:20 UTC
    assert events[0].charset == "ISO-8859-1"
    assert emu.statistics().mo_messages == 2


def test_inject_mo_single_part_and_unicode() -> None:
    emu = make(sink=Sink())
    (event,) = emu.inject_mo("27831234567", "27821112222", "Привет", network="vodacom")
    assert (event.udh, event.charset, event.network) == ("", "UTF-8", "vodacom")
    assert len(event.momsgid) == 32
