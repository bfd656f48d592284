"""The receiver understands every Platform callback the emulator sends (its own builders, not
the receiver's), in every form, method and charset."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from asms._codes import MessageStatus
from asms.callbacks import CallbackReceiver, EventLog
from asms.callbacks._format import WireRequest
from asms.testing._platform_callbacks import mo_request, status_request
from asms.testing._platform_config import Integration

KEY = "EmulatorKeyThatIsSecret0123456789=="
MS = 1764930000456
WHEN = datetime(2025, 12, 5, 10, 20, 0, 456000, tzinfo=UTC)


def client_for(app: CallbackReceiver) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")


async def deliver(client: httpx.AsyncClient, wire: WireRequest, path: str) -> httpx.Response:
    url = path + ("?" + wire.query if wire.query else "")
    headers = {"content-type": wire.content_type} if wire.content_type else {}
    return await client.request(wire.method, url, content=wire.body or None, headers=headers)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("form", "method"),
    [("current", "get"), ("current", "post"), ("2017", "get"), ("2017", "post"),
     ("one-api", "post")],
)  # fmt: skip
async def test_emulator_status_callbacks(form: str, method: str) -> None:
    log = EventLog()
    receiver = log.receiver()
    integration = Integration(key=KEY, name="Shop")
    async with client_for(receiver) as client:
        for status in (MessageStatus.DELIVERED_TO_GATEWAY, MessageStatus.RECEIVED_BY_RECIPIENT):
            wire = status_request(
                form, method, integration, apimsgid="e" * 32, request_id="r-1",
                climsgid="c-emu", to="27820000001", from_="27830000002", status=status,
                timestamp_ms=MS,
            )  # fmt: skip
            assert (await deliver(client, wire, "/status")).status_code == 200
            assert (await deliver(client, wire, "/status")).status_code == 200  # a retry
    assert [r.status for r in log.statuses] == [
        MessageStatus.DELIVERED_TO_GATEWAY,
        MessageStatus.RECEIVED_BY_RECIPIENT,
    ]
    report = log.statuses[-1]
    assert (report.apimsgid, report.climsgid, report.timestamp) == ("e" * 32, "c-emu", WHEN)
    assert report.wire == ("one-api" if form == "one-api" else "platform")
    assert KEY not in str(dict(report.raw))
    stats = receiver.statistics()
    assert (stats.status_reports, stats.duplicates, stats.malformed) == (2, 2, 0)
    accepted = await receiver.store.accepted_messages("c-emu")
    # The One API's status updates name no recipient.
    assert accepted == {"e" * 32: "" if form == "one-api" else "27820000001"}


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["current", "2017", "one-api"])
@pytest.mark.parametrize(
    ("charset", "text"),
    [("UTF-8", "hello ✓ 😀"), ("ISO-8859-1", "Grüße 100% + ça"), ("UTF-16BE", "hi 😀 你好")],
)
async def test_emulator_reply_callbacks(form: str, charset: str, text: str) -> None:
    log = EventLog()
    receiver = log.receiver()
    wire = mo_request(
        form, Integration(key=KEY), momsgid="mo-emu", related_id="mt-emu",
        related_climsgid="c-emu" if form == "one-api" else None, from_="27820000001",
        to="27830000002", timestamp_ms=MS, text=text, charset=charset, udh="",
        network="Vodacom" if form != "one-api" else None, keyword="HI",
    )  # fmt: skip
    async with client_for(receiver) as client:
        assert (await deliver(client, wire, "/inbound")).status_code == 200
        assert (await deliver(client, wire, "/inbound")).status_code == 200
    [message] = log.inbound
    assert message.text == text
    assert (message.momsgid, message.related_apimsgid) == ("mo-emu", "mt-emu")
    assert message.related_climsgid == ("c-emu" if form == "one-api" else None)
    assert (message.from_, message.to, message.timestamp) == ("27820000001", "27830000002", WHEN)
    assert message.wire == ("one-api" if form == "one-api" else "platform")
    assert receiver.statistics().duplicates == 1
