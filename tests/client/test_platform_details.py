"""What a Platform user reads: the balance's currency, the note on a lost reply, the texts."""

from __future__ import annotations

import pytest

from asms import AsyncClient, Balance, DeliveryState, MessageLookupError, RetryPolicy
from asms._config import DEMO_API_KEY
from asms._exceptions import ValidationError
from asms.testing import EmulatorTransport, FakeClock, Faults, GatewayEmulator

pytestmark = pytest.mark.anyio


def client(emu: GatewayEmulator, wire: str) -> AsyncClient:
    return AsyncClient(
        api_key=DEMO_API_KEY,
        wire=wire,  # type: ignore[arg-type]
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        retry=RetryPolicy.testing(),
    )


@pytest.mark.parametrize("wire", ["platform", "one-api"])
async def test_the_balance_names_its_currency_and_equals_the_legacy_one(wire: str) -> None:
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu, wire) as c:
        balance = await c.balance()
    assert balance.currency == "ZAR"
    assert balance == Balance(balance.credits)  # the currency takes no part in equality


@pytest.mark.parametrize("wire", ["platform", "one-api"])
async def test_a_lost_reply_says_it_was_sent_once_and_why_not_again(wire: str) -> None:
    emu = GatewayEmulator(clock=FakeClock(), faults=Faults(script=("drop_after_commit",)))
    async with client(emu, wire) as c:
        [result] = await c.send("Hello", to="27821234567")
    assert result.state is DeliveryState.UNKNOWN
    assert result.error_description is not None
    assert "attempts" not in result.error_description
    assert f"not sent again, as the {wire} wire cannot look" in result.error_description
    assert emu.statistics().requests == 1


@pytest.mark.parametrize(
    ("wire", "text"),
    [("platform", "Unknown API message ID."), ("one-api", "Resource does not exist")],
)
async def test_an_unknown_message_id_is_said_once(wire: str, text: str) -> None:
    # The platform gives the same words as its error and as its description: said once.
    emu = GatewayEmulator(clock=FakeClock())
    async with client(emu, wire) as c:
        with pytest.raises(MessageLookupError) as info:
            await c.query("0" * 32)
    assert info.value.description == text


def test_an_api_key_given_as_a_value_is_never_shown() -> None:
    error = ValidationError("api_key", "must be one line", "s3cret-k3y")
    assert "s3cret" not in str(error) and "s3cret" not in repr(error)
