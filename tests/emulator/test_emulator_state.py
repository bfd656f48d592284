"""One clock protocol for asms and its emulator, the old names as deprecated aliases, and the
emulator's state as an object of its own (its public attributes still read and write it)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest

import asms
import asms.testing
from asms import Clock, SystemClock, VirtualClock
from asms._config import MAX_RECIPIENTS
from asms.testing import FakeClock, GatewayEmulator, Profile, ScaledClock

ROOT = Path(asms.__file__).parent


# -- one clock ------------------------------------------------------------------------------


def test_every_clock_implements_the_one_protocol() -> None:
    assert asms.testing.Clock is Clock
    for clock in (SystemClock(), VirtualClock(), FakeClock(), ScaledClock(2.0)):
        assert isinstance(clock, Clock), clock


def test_the_emulator_clocks_read_one_time_on_both_scales() -> None:
    fake = FakeClock(500.0)
    assert fake.current_time() == fake.wall_time() == fake() == 500.0
    scaled = ScaledClock(1.0, start=1_000.0)
    assert 1_000.0 <= scaled.current_time() <= scaled.wall_time() < 1_010.0
    virtual = VirtualClock(5.0, wall_start=1_000.0)
    assert (virtual.current_time(), virtual.wall_time()) == (5.0, 1_000.0)


def test_the_emulator_runs_on_asms_system_clock_by_default() -> None:
    emu = GatewayEmulator()
    assert isinstance(emu.clock, SystemClock)
    assert "clock=SystemClock()" in repr(emu)
    assert abs(emu.clock.wall_time() - time.time()) < 60


@pytest.mark.anyio
async def test_the_default_clock_keeps_the_old_method_names_and_warns() -> None:
    """``emu.clock.time()`` worked on every emulator clock, the default one included."""
    clock: Any = GatewayEmulator().clock
    with pytest.warns(
        DeprecationWarning, match=r"^GatewayEmulator\.clock\.time\(\) is deprecated; use wall_time"
    ):
        assert abs(clock.time() - time.time()) < 60
    with pytest.warns(DeprecationWarning, match=r"sleep\(\) is deprecated"):
        with anyio.fail_after(5):
            await clock.sleep(0.01)


def test_the_emulator_reads_the_wall_time_of_any_clock() -> None:
    """A VirtualClock's two readings differ: the gateway's times are its wall time."""
    emu = GatewayEmulator(clock=VirtualClock(wall_start=1_700_000_000.0))
    reply = emu.app.handle(
        "POST",
        "/http/sendmsg",
        b"",
        urlencode(
            {"api_id": 1234, "user": "demo", "password": "demo", "to": "27821234567", "text": "x"}
        ).encode(),
        "127.0.0.1",
    )
    apimsgid = reply.body.decode().removeprefix("ID: ")
    message = emu.message(apimsgid)
    assert message is not None and message.time == 1_700_000_000.0


def test_testing_system_clock_is_a_deprecated_alias_of_asms_system_clock() -> None:
    assert "SystemClock" not in asms.testing.__all__  # a star import must not warn
    with pytest.warns(DeprecationWarning, match=r"asms\.testing\.SystemClock.*asms\.SystemClock"):
        old = asms.testing.SystemClock
    assert issubclass(old, SystemClock)
    clock = old()
    assert isinstance(clock, Clock) and repr(clock) == "SystemClock()"
    # It keeps its old meaning: every reading is unix time, sleep_until takes a unix time.
    assert abs(clock.current_time() - time.time()) < 60
    with pytest.warns(DeprecationWarning, match=r"^asms\.testing\.SystemClock\.time\(\) is"):
        assert clock.time() > 1_600_000_000
    with pytest.warns(DeprecationWarning):
        from asms.testing import SystemClock as imported  # noqa: F401


@pytest.mark.anyio
async def test_the_old_system_clock_sleeps_until_a_unix_time() -> None:
    with pytest.warns(DeprecationWarning):
        clock = asms.testing.SystemClock()
    with anyio.fail_after(5):  # on the monotonic scale this deadline would be decades away
        await clock.sleep_until(time.time() + 0.01)


@pytest.mark.anyio
async def test_the_old_method_names_work_and_warn() -> None:
    fake = FakeClock(100.0)
    with pytest.warns(DeprecationWarning, match=r"FakeClock\.time\(\) is deprecated"):
        assert fake.time() == 100.0
    scaled = ScaledClock(1000.0, start=0.0)
    with pytest.warns(DeprecationWarning, match=r"ScaledClock\.time\(\) is deprecated"):
        assert scaled.time() >= 0.0
    with pytest.warns(DeprecationWarning, match=r"ScaledClock\.sleep\(\) is deprecated"):
        await scaled.sleep(1.0)  # a thousandth of a second of real time
    assert scaled.wall_time() >= 1.0
    woke: list[float] = []

    async def sleeper() -> None:
        with pytest.warns(DeprecationWarning, match=r"FakeClock\.sleep\(\) is deprecated"):
            await fake.sleep(30)
        woke.append(fake.wall_time())

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper)
        await anyio.wait_all_tasks_blocked()
        fake.advance(30)
    assert woke == [130.0]


def test_a_clock_written_for_the_old_emulator_protocol_still_works() -> None:
    class OldClock:
        def time(self) -> float:
            return 1_234.0

        async def sleep(self, seconds: float) -> None:
            await anyio.sleep(seconds)

        async def sleep_until(self, deadline: float) -> None:
            await anyio.sleep(max(0.0, deadline - 1_234.0))

    with pytest.warns(DeprecationWarning, match="implement asms.Clock"):
        emu = GatewayEmulator(clock=OldClock())  # type: ignore[arg-type]
    assert emu.clock.wall_time() == emu.clock.current_time() == 1_234.0


def test_a_time_function_is_still_a_clock() -> None:
    emu = GatewayEmulator(clock=lambda: 42.0)
    assert emu.clock.wall_time() == emu.clock.current_time() == 42.0


# -- one home per fact ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "v2.3.8"])
def test_recipient_limits_come_from_the_client_configuration(name: str) -> None:
    profile = Profile.named(name)
    limits = MAX_RECIPIENTS[name]
    assert (
        profile.max_recipients_get,
        profile.max_recipients_post,
        profile.max_recipients_soap,
    ) == (limits["GET"], limits["POST"], limits["SOAP"])
    assert Profile().max_recipients_post == MAX_RECIPIENTS["default"]["POST"]


# -- the state object -----------------------------------------------------------------------


def _send(emu: GatewayEmulator, to: str) -> str:
    form = {"api_id": 1234, "user": "demo", "password": "demo", "to": to, "text": "hi"}
    reply = emu.app.handle("POST", "/http/sendmsg", b"", urlencode(form).encode(), "127.0.0.1")
    return reply.body.decode()


def test_public_attributes_replaced_wholesale_reach_the_commands() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    emu.blocked = {"27820000001"}
    emu.opted_out = {"27820000002"}
    emu.delisted = {"27820000003"}
    assert _send(emu, "27820000001").startswith("ERR: 121")
    assert _send(emu, "27820000002").startswith("ERR: 122")
    assert _send(emu, "27820000003").startswith("ERR: 128")
    emu.undeliverable = {"27820000004"}
    apimsgid = _send(emu, "27820000004").removeprefix("ID: ")
    emu.advance(60)
    assert emu.status(apimsgid) == asms.MessageStatus.ERROR_DELIVERING_MESSAGE
    emu.retention = 1
    _send(emu, "27820000005")
    assert emu.stored_messages == 1
    emu.profile = Profile.named("v2.3.8")
    recipients = ",".join(f"2782{n:07d}" for n in range(301))
    assert _send(emu, recipients).startswith("ERR: 101")
    emu.profile = Profile.named("default")
    assert _send(emu, recipients).startswith("ID: ")


def test_no_module_reaches_into_the_emulator_s_private_attributes() -> None:
    """The command modules receive the gateway state; none reads ``emu._x`` any more."""
    pattern = re.compile(r"\b(?:emu|emulator|gateway)\._[a-z]")
    offenders = []
    for path in [*sorted((ROOT / "testing").glob("*.py")), *sorted((ROOT / "_cli").glob("*.py"))]:
        if path.name == "_emulator.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
