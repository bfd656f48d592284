"""A refusal of the whole account (wrong password, no credit) during send_bulk.

Nothing more is sent once the gateway refused the account, yet every input message gets
exactly one result: the ones tried are rejected with the gateway's code, all the others
(read before or after the refusal) come out "not sent", naming it. The refusal is raised
after the last result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import pytest
from helpers.bulk_fakes import FakeSender, personalised, same_text

from asms._bulk.report import BulkResult, DeliveryState
from asms._bulk.run import BulkRun, send_bulk
from asms._client import AsyncClient
from asms._config import RetryPolicy
from asms._exceptions import AuthenticationError, CreditError, GatewayError
from asms._models import Message, SendResult
from asms._retry import NOT_SENT
from asms.testing import GatewayEmulator

pytestmark = pytest.mark.anyio

COUNT = 50


def client_for(emulator: GatewayEmulator, password: str) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        password,
        transport=emulator.transport(),
        base_url="http://gateway.test",
        retry=RetryPolicy.testing(attempts=6, reconcile_queries=2),
    )


async def collect_until_raised(
    run: BulkRun, expected: type[GatewayError]
) -> tuple[list[BulkResult], GatewayError]:
    results: list[BulkResult] = []
    with pytest.raises(expected) as raised:
        async with run:
            async for result in run:
                results.append(result)
    return results, raised.value


async def slowly(messages: Iterable[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


def by_state(results: Sequence[BulkResult], state: DeliveryState) -> list[BulkResult]:
    return [r for r in results if r.state is state]


@pytest.mark.parametrize("grouped", [False, True], ids=["personalised", "grouped"])
@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("async_input", [False, True], ids=["iterator", "async-input"])
async def test_a_wrong_password_gives_every_message_one_result_then_raises(
    grouped: bool, concurrency: int, async_input: bool
) -> None:
    emulator = GatewayEmulator()
    messages = same_text(COUNT) if grouped else personalised(COUNT)
    source = slowly(messages) if async_input else iter(messages)
    async with client_for(emulator, "wrong-password") as client:
        run = send_bulk(client, source, rate=None, concurrency=concurrency)
        results, error = await collect_until_raised(run, AuthenticationError)
    assert error.code == 1
    assert sorted(r.index for r in results) == list(range(COUNT))
    report = run.report()
    assert report.total == COUNT and report.cancelled
    tried = report.recipients
    assert tried >= 1
    rejected = by_state(results, DeliveryState.REJECTED)
    unsent = by_state(results, DeliveryState.NOT_SENT)
    assert len(rejected) == tried == report.rejected
    assert {r.error_code for r in rejected} == {1}
    assert len(unsent) == COUNT - tried == report.not_sent
    for result in unsent:
        assert result.error_code == NOT_SENT
        assert result.error_description == "not sent: the gateway refused the account (ERR 001)"
    assert report.accepted == report.unknown == 0
    assert emulator.statistics().messages == 0
    if grouped:
        assert tried == COUNT  # one request carried them all


async def test_no_credit_per_recipient_stops_sending_and_is_raised() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> list[SendResult] | None:
        if len(sender.calls) <= 4:
            return None
        return [
            SendResult(m.to, None, m.climsgid, 301, "No credit left", 1, m.ref) for m in messages
        ]

    sender = FakeSender(hook=hook)
    run = send_bulk(sender, iter(personalised(200)), rate=None, concurrency=1)
    results, error = await collect_until_raised(run, CreditError)
    assert error.code == 301 and error.description == "No credit left"
    assert sorted(r.index for r in results) == list(range(200))
    assert len(sender.calls) == 5
    report = run.report()
    assert (report.accepted, report.rejected, report.not_sent) == (4, 1, 195)
    assert dict(report.failed_by_code) == {301: 1}
    assert sum(sender.gateway.delivered().values()) == 4


async def test_a_refused_resumed_run_still_gives_every_message_one_result(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "campaign.db"
    emulator = GatewayEmulator()
    messages = personalised(COUNT)
    async with client_for(emulator, "demo") as client:
        first = send_bulk(client, messages, rate=None, concurrency=1, journal=journal)
        async with first:
            async for result in first:
                if result.index == 19:
                    first.stop()
    accepted_before = first.report().accepted
    assert 20 <= accepted_before < COUNT
    assert emulator.statistics().messages == accepted_before

    async with client_for(emulator, "wrong-password") as client:
        second = send_bulk(client, messages, rate=None, concurrency=1, journal=journal)
        results, _ = await collect_until_raised(second, AuthenticationError)
    assert sorted(r.index for r in results) == list(range(COUNT))
    resumed = [r for r in results if r.resumed]
    assert len(resumed) == accepted_before and all(r.ok for r in resumed)
    report = second.report()
    assert report.rejected == 1  # the first request of the second run
    assert report.not_sent == COUNT - accepted_before - 1
    assert emulator.statistics().messages == accepted_before  # nothing sent twice


async def test_stopping_a_refused_run_stops_reading_the_input() -> None:
    async def hook(sender: FakeSender, messages: Sequence[Message]) -> None:
        raise AuthenticationError(1, "Authentication failed")

    run = send_bulk(FakeSender(hook=hook), iter(personalised(100_000)), rate=None)
    results: list[BulkResult] = []
    with pytest.raises(AuthenticationError):
        async with run:
            async for result in run:
                results.append(result)
                if len(results) == 10:
                    run.stop()
    report = run.report()
    assert len(results) == report.total < 100_000
    assert sorted(r.index for r in results) == list(range(report.total))
