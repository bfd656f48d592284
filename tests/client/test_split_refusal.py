"""What a send leaves a caller who did not get all its answers: a split send one of whose
requests is refused after others were accepted returns every recipient's result (instead
of raising and losing the accepted ones); a send cancelled in flight names the climsgid to
look up before sending again."""

from __future__ import annotations

from collections import Counter

import anyio
import httpx
import pytest
from helpers.emulator import FrozenAfterFirstSend

import asms
from asms import AsyncClient, AuthenticationError, DeliveryState
from asms._retry import OUTCOME_UNKNOWN
from asms.testing import EmulatorTransport, Faults, GatewayEmulator

pytestmark = pytest.mark.anyio

RECIPIENTS = [f"2782{i:07d}" for i in range(1500)]  # three requests of 600, 600 and 300


def _frozen_after_first_send(emulator: GatewayEmulator, wire: str) -> AsyncClient:
    """A client whose account the emulator freezes once the first send is answered; its
    requests go one after another."""
    return AsyncClient(
        1234,
        "demo",
        "demo",
        wire=wire,  # type: ignore[arg-type]
        transport=FrozenAfterFirstSend(emulator),
        base_url="http://gateway.test",
        limits=httpx.Limits(max_connections=1),
    )


@pytest.mark.parametrize("wire", ["http", "soap", "soap-rpc"])
async def test_an_account_frozen_mid_send_keeps_the_accepted_results(wire: str) -> None:
    emulator = GatewayEmulator()
    async with _frozen_after_first_send(emulator, wire) as client:
        results = await client.send("Doors open at 8", to=RECIPIENTS)
    committed = Counter(m.to for m in emulator.recorder.messages)
    assert len(results) == len(RECIPIENTS)
    assert [r.to for r in results] == RECIPIENTS
    accepted = {r.to for r in results if r.ok}
    assert accepted == set(committed) and set(committed.values()) == {1}
    assert len(accepted) in (300, 600)  # the first request to finish was accepted
    refused = [r for r in results if not r.ok]
    assert len(refused) == len(RECIPIENTS) - len(accepted)
    assert {r.state for r in refused} == {DeliveryState.REJECTED}
    assert {r.error_code for r in refused} == {refused[0].error_code} != {None}
    assert all(r.climsgid for r in results)


async def test_a_request_answered_by_an_http_error_is_unknown_the_others_kept() -> None:
    # Whatever answered 403 was not the gateway answering as it does: the outcome of that
    # request is unknown (never resent blindly), as for a single request.
    emulator = GatewayEmulator()
    inner = EmulatorTransport(emulator)
    sends = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal sends
        if request.url.path == "/http/sendmsg":
            sends += 1
            if sends == 2:
                return httpx.Response(403, text="Forbidden")
        return await inner.handle_async_request(request)

    async with AsyncClient(
        1234,
        "demo",
        "demo",
        transport=httpx.MockTransport(handle),
        base_url="http://gateway.test",
        limits=httpx.Limits(max_connections=1),
    ) as client:
        results = await client.send("Doors open at 8", to=RECIPIENTS)
    states = Counter(r.state for r in results)
    assert states[DeliveryState.ACCEPTED] == len(emulator.recorder.messages) > 0
    unknown = [r for r in results if r.state is DeliveryState.UNKNOWN]
    # The second request to go out (trio may start them in any order): 600 or 300 numbers.
    assert len(unknown) in (300, 600) and {r.error_code for r in unknown} == {OUTCOME_UNKNOWN}
    assert "HTTPStatusError" in (unknown[0].error_description or "")
    assert sum(states.values()) == len(RECIPIENTS)


async def test_every_request_refused_still_raises() -> None:
    emulator = GatewayEmulator()
    emulator.update_account(1234, frozen=True)
    async with AsyncClient(
        1234, "demo", "demo", transport=EmulatorTransport(emulator), base_url="http://gateway.test"
    ) as client:
        with pytest.raises(AuthenticationError):
            await client.send("Doors open at 8", to=RECIPIENTS)
    assert not emulator.recorder.messages


async def test_a_send_cancelled_in_flight_names_the_climsgid_to_look_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before: a cancelled send left no trace of its request's climsgid, and a caller who
    # sent again (the only thing left to do) sent the message twice.
    emulator = GatewayEmulator(faults=Faults(latency=0.5))
    async with AsyncClient(
        1234, "demo", "demo", transport=EmulatorTransport(emulator), base_url="http://gateway.test"
    ) as client:
        await client.balance()  # the session first: the cancel must meet the send itself
        with anyio.move_on_after(0.1):
            await client.send("Doors open at 8", to="27821234567")
        warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warned) == 1 and "cancelled" in warned[0] and "query_climsgid(" in warned[0]
        climsgid = warned[0].split("query_climsgid('")[1].split("'")[0]
        await anyio.sleep(0.6)
        # The id it names is the request's: the lookup finds the message.
        assert await client.query_climsgid(climsgid) is not None
    assert [m.to for m in emulator.recorder.messages] == ["27821234567"]


async def test_a_send_cancelled_before_its_request_began_warns_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = GatewayEmulator()
    limiter = asms.RateLimiter(rate=1.0)
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        transport=EmulatorTransport(emulator),
        base_url="http://gateway.test",
        limiter=limiter,
    ) as client:
        await client.send("first", to="27821234567")
        with anyio.move_on_after(0.1):  # waiting for its rate slot: nothing left
            await client.send("second", to="27821234568")
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert [m.to for m in emulator.recorder.messages] == ["27821234567"]


async def test_asms_send_keeps_the_accepted_results_of_a_split_send_too() -> None:
    # `asms send` splits the send itself (to name each request's climsgid on Ctrl-C): the
    # same refusal after an accepted request gives every recipient's result there too.
    from asms._cli._sendstop import send_stoppable

    emulator = GatewayEmulator()
    async with _frozen_after_first_send(emulator, "http") as client:
        outcome = await send_stoppable(
            client, "Doors open at 8", RECIPIENTS, climsgid=None, country_code=None, options={}
        )
    assert outcome.results is not None and len(outcome.results) == len(RECIPIENTS)
    accepted = {r.to for r in outcome.results if r.ok}
    assert accepted == {m.to for m in emulator.recorder.messages} != set()
    assert {r.state for r in outcome.results if not r.ok} == {DeliveryState.REJECTED}


@pytest.mark.parametrize("count", [1, 1300])
async def test_a_request_in_doubt_whose_lookup_is_refused_is_unknown(count: int) -> None:
    # Before: AuthenticationError was raised, so the caller was told nothing went out while
    # the gateway held the messages: sending again sent them twice.
    emulator = GatewayEmulator()
    recipients = RECIPIENTS[:count]
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        transport=FrozenAfterFirstSend(emulator, lose_reply=True),
        base_url="http://gateway.test",
        limits=httpx.Limits(max_connections=1),
    ) as client:
        results = await client.send("Doors open at 8", to=recipients)
    committed = {m.to for m in emulator.recorder.messages}
    assert committed and len(results) == count
    unknown = {r.to for r in results if r.state is DeliveryState.UNKNOWN}
    assert unknown == committed  # the request in doubt: never called refused
    assert all(
        "lookup was refused" in (r.error_description or "") for r in results if r.to in unknown
    )
    assert {r.state for r in results if r.to not in unknown} <= {DeliveryState.REJECTED}
