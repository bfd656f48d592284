"""Clocks, the periodic tick, configuration objects and the opt-in pytest fixtures."""

from __future__ import annotations

from urllib.parse import urlencode

import anyio
import httpx
import pytest

from asms import SystemClock
from asms.testing import (
    Account,
    EmulatorTransport,
    FakeClock,
    GatewayEmulator,
    Lifecycle,
    Profile,
    ScaledClock,
)

# What users write in their conftest.py; a test module may say it too.
pytest_plugins = ["asms.testing.pytest_plugin"]


def test_fake_clock_moves_only_forward_and_notifies() -> None:
    clock = FakeClock(100.0)
    seen: list[float] = []
    unsubscribe = clock.subscribe(seen.append)
    assert clock.advance(5) == 105.0
    assert clock() == clock.wall_time() == clock.current_time() == 105.0
    clock.set(110)
    unsubscribe()
    clock.advance(1)
    assert seen == [105.0, 110.0]
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(0)


@pytest.mark.anyio
async def test_fake_clock_sleepers_wake_when_the_clock_reaches_them() -> None:
    clock = FakeClock(0.0)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep_until(clock.current_time() + seconds)
        woke.append(name)

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper, "late", 120)
        group.start_soon(sleeper, "early", 60)
        await anyio.wait_all_tasks_blocked()
        clock.advance(60)
        await anyio.wait_all_tasks_blocked()
        assert woke == ["early"]
        clock.advance(60)
    assert woke == ["early", "late"]
    await clock.sleep_until(0)  # the past returns at once


@pytest.mark.anyio
async def test_scaled_and_system_clocks() -> None:
    scaled = ScaledClock(1000.0, start=0.0)
    await scaled.sleep_until(1.0)  # a thousandth of a second of real time
    assert scaled.wall_time() >= 1.0
    assert SystemClock().wall_time() > 1_600_000_000
    with pytest.raises(ValueError):
        ScaledClock(0)


def test_tick_emits_status_changes_on_a_real_style_clock() -> None:
    now = [1_000.0]
    seen: list[int] = []

    class Sink:
        def status_changed(self, account: Account, event: object) -> None:
            seen.append(int(event.status))  # type: ignore[attr-defined]

        def mo_received(self, account: Account, event: object) -> None:
            pass

    account = Account(api_id=1, user="u", password="p", callback_url="http://127.0.0.1:9/cb")
    emu = GatewayEmulator(
        clock=lambda: now[0], accounts=[account], callbacks=Sink(), lifecycle=Lifecycle()
    )
    form = urlencode(
        {"api_id": 1, "user": "u", "password": "p", "to": "27821234567", "text": "x", "callback": 3}
    )
    emu.app.handle("POST", "/http/sendmsg", b"", form.encode(), None)
    now[0] += 10
    assert seen == []
    emu.tick()
    assert seen == [3, 4]
    with pytest.raises(TypeError):
        emu.advance(1)


def test_configuration_is_validated() -> None:
    with pytest.raises(ValueError):
        Account(api_id=-1, user="u", password="p")
    with pytest.raises(ValueError):
        Account(api_id=1, user="u", password="p", callback_method="fax")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Account.parse("1:onlyuser")
    with pytest.raises(ValueError):
        Profile.named("v1")
    with pytest.raises(ValueError):
        Lifecycle(queued=-1)
    account = Account(api_id=1, user="u", password="secret", callback_auth=("a", "b"))
    assert "secret" not in repr(account) and "'b'" not in repr(account)
    assert Profile.named("v2.3.8").max_recipients_get == 100


def test_emulator_repr_and_state_helpers() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    emu.set_credits(5)
    assert emu.balance() == 5
    emu.set_route("44", None)
    assert emu.routes["44"] is None
    emu.update_account(1234, frozen=True)
    assert emu.accounts[1234].frozen and emu.balance(1234) == 5
    assert "GatewayEmulator" in repr(emu) and "demo" not in repr(emu)
    assert emu.message("0" * 32) is None and emu.status("0" * 32) is None


# -- the pytest plugin's fixtures -----------------------------------------------------------


@pytest.mark.anyio
async def test_plugin_fixtures_in_process(
    gateway_emulator: GatewayEmulator,
    emulator_transport: EmulatorTransport,
    emulator_clock: FakeClock,
) -> None:
    async with httpx.AsyncClient(transport=emulator_transport, base_url="http://gw") as client:
        reply = await client.post(
            "/http/auth", data={"api_id": "1234", "user": "demo", "password": "demo"}
        )
    assert reply.text.startswith("OK: ")
    assert gateway_emulator.clock is emulator_clock


def test_plugin_live_emulator(live_emulator: str, gateway_emulator: GatewayEmulator) -> None:
    reply = httpx.post(
        f"{live_emulator}/http/getbalance",
        data={"api_id": "1234", "user": "demo", "password": "demo"},
    )
    assert reply.text == "Credit: 1000000"
    assert gateway_emulator.statistics().requests == 1
