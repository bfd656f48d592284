"""A journaled run on a Platform wire: a lost reply leaves its messages unknown, never resent;
a resumed run settles them from the status callbacks a receiver recorded in the journal file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from asms import AsyncClient, CallbackReceiver, DeliveryState, Message, RetryPolicy, VirtualClock
from asms._config import DEMO_API_KEY
from asms.testing import EmulatorTransport, FakeClock, Faults, GatewayEmulator

pytestmark = pytest.mark.anyio

NUMBERS = ["27820000001", "27820000002", "27820000003"]


def client(emu: GatewayEmulator, wire: str) -> AsyncClient:
    return AsyncClient(
        api_key=DEMO_API_KEY,
        wire=wire,  # type: ignore[arg-type]
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        retry=RetryPolicy.testing(),
    )


async def run_once(emu: GatewayEmulator, wire: str, journal: Path, numbers: list[str]) -> list:
    messages = [Message(n, "Spring sale") for n in numbers]
    async with (
        client(emu, wire) as c,
        c.send_bulk(messages, rate=None, journal=str(journal)) as run,
    ):
        return [r async for r in run]


async def post_status(receiver: CallbackReceiver, body: dict[str, object]) -> int:
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        response = await http.post("/status", content=json.dumps(body).encode())
    return response.status_code


@pytest.mark.parametrize("wire", ["platform", "one-api"])
async def test_a_lost_reply_stays_unknown_and_a_rerun_sends_nothing(
    wire: str, tmp_path: Path
) -> None:
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(script=("drop_after_commit",)))
    journal = tmp_path / "campaign.db"
    first = await run_once(emu, wire, journal, NUMBERS)
    assert [r.state for r in first] == [DeliveryState.UNKNOWN] * 3
    assert emu.statistics().messages == 3  # the gateway took all three
    requests = emu.statistics().requests
    again = await run_once(emu, wire, journal, NUMBERS)
    assert [r.state for r in again] == [DeliveryState.UNKNOWN] * 3
    assert emu.statistics().requests == requests  # nothing sent, nothing looked up
    # The reason says what would settle them, not that a lookup failed.
    assert all("asms callbacks --journal" in (r.error_description or "") for r in again)
    assert emu.recorder.duplicates() == {}


async def test_status_callbacks_in_the_journal_file_settle_the_unknown_ones(tmp_path: Path) -> None:
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(script=("drop_after_commit",)))
    journal = tmp_path / "campaign.db"
    first = await run_once(emu, "platform", journal, NUMBERS)
    climsgid = first[0].climsgid
    assert climsgid and all(r.climsgid == climsgid for r in first)
    receiver = CallbackReceiver(store=str(journal))
    ids = {NUMBERS[0]: "a" * 32, NUMBERS[2]: "c" * 32}
    for number, apimsgid in ids.items():
        status = await post_status(
            receiver,
            {
                "integrationName": "shop",
                "messageId": apimsgid,
                "clientMessageId": climsgid,
                "to": number,
                "from": "",
                "statusCode": 3,
                "status": "DELIVERED_TO_GATEWAY",
                "statusDescription": "Delivered to gateway",
                "timestamp": 1764930000000,
            },
        )
        assert status == 200
    requests = emu.statistics().requests
    again = await run_once(emu, "platform", journal, NUMBERS)
    assert [r.state for r in again] == [
        DeliveryState.ACCEPTED,
        DeliveryState.UNKNOWN,
        DeliveryState.ACCEPTED,
    ]
    assert [r.apimsgid for r in again] == ["a" * 32, None, "c" * 32]
    assert emu.statistics().requests == requests
    # Written to the journal: a third run reads them as accepted without the store's help.
    third = await run_once(emu, "platform", journal, NUMBERS)
    assert [r.apimsgid for r in third] == ["a" * 32, None, "c" * 32]
    assert emu.recorder.duplicates() == {}


@pytest.mark.parametrize("wire", ["platform", "one-api"])
async def test_the_rate_limit_pauses_the_run_and_its_messages_go_once_more(wire: str) -> None:
    # HTTP 429 (Platform SMS, as 130) or One API 43: refused, not taken, so sent again once
    # the run's pause is over; before, the refused messages ended rejected and were lost.
    clock = FakeClock()
    emu = GatewayEmulator(clock=clock, faults=Faults(err130_once=int(clock()) + 60))
    messages = [Message(n, "Spring sale") for n in NUMBERS]
    async with (
        client(emu, wire) as c,
        c.send_bulk(messages, rate=None, clock=VirtualClock()) as run,
    ):
        results = [r async for r in run]
    assert [r.state for r in results] == [DeliveryState.ACCEPTED] * 3
    assert emu.statistics().requests == 2
    assert emu.statistics().messages == 3
    assert emu.recorder.duplicates() == {}


def test_a_rate_limited_rejection_is_sent_again_by_a_resumed_run() -> None:
    from asms._bulk.journal import retried_on_resume

    assert retried_on_resume(43) and retried_on_resume(19) and retried_on_resume(130)
    assert not retried_on_resume(105) and not retried_on_resume(607)


async def test_a_one_api_callback_without_a_number_settles_a_request_of_one(
    tmp_path: Path,
) -> None:
    # The One API's status updates name no recipient: enough for a request of one message.
    emu = GatewayEmulator(
        clock=FakeClock(), faults=Faults(script=("drop_after_commit", "drop_after_commit"))
    )
    journal = tmp_path / "campaign.db"
    messages = [
        Message(NUMBERS[0], "Alone"),
        Message(NUMBERS[1], "Two"),
        Message(NUMBERS[2], "Two"),
    ]

    async def campaign() -> list[Any]:
        async with (
            client(emu, "one-api") as c,
            c.send_bulk(messages, rate=None, journal=str(journal)) as run,
        ):
            return sorted([r async for r in run], key=lambda r: r.index)

    first = await campaign()
    assert [r.state for r in first] == [DeliveryState.UNKNOWN] * 3
    receiver = CallbackReceiver(store=str(journal))
    for result, apimsgid in ((first[0], "a" * 32), (first[1], "b" * 32)):
        envelope = {
            "integrationId": "i1",
            "integrationName": "shop",
            "event": {
                "messageStatusUpdate": [
                    {
                        "channel": "sms",
                        "messageId": apimsgid,
                        "clientMessageId": result.climsgid,
                        "statusCode": 2,
                        "status": "QUEUED",
                        "timestamp": 1764930000000,
                    }
                ]
            },
        }
        assert await post_status(receiver, envelope) == 200
    again = await campaign()
    # The request of one is settled; the request of two cannot tell whose callback it got.
    assert [r.state for r in again] == [
        DeliveryState.ACCEPTED,
        DeliveryState.UNKNOWN,
        DeliveryState.UNKNOWN,
    ]
    assert again[0].apimsgid == "a" * 32
    assert emu.recorder.duplicates() == {}


async def test_each_recorded_callback_settles_one_message_only(tmp_path: Path) -> None:
    # A run never puts one number twice in a request (the grouper starts a new one), but the
    # rule holds anyway: one accepted id settles one message, and a second ask gets none.
    from asms._bulk.settle import CallbackSettlement

    journal = tmp_path / "campaign.db"
    receiver = CallbackReceiver(store=str(journal))
    status = {
        "messageId": "a" * 32,
        "clientMessageId": "req1",
        "to": NUMBERS[0],
        "statusCode": 3,
        "status": "DELIVERED_TO_GATEWAY",
        "timestamp": 1764930000000,
    }
    assert await post_status(receiver, status) == 200
    settlement = CallbackSettlement(journal, country_code=None)
    try:
        assert await settlement.apimsgid("req1", "+" + NUMBERS[0], messages=2) == "a" * 32
        assert await settlement.apimsgid("req1", NUMBERS[0], messages=2) is None
        assert await settlement.apimsgid("req1", NUMBERS[1], messages=2) is None
        assert await settlement.apimsgid("other", NUMBERS[0], messages=1) is None
    finally:
        await settlement.aclose()
