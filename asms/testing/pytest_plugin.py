"""Opt-in pytest fixtures: ``pytest_plugins = ["asms.testing.pytest_plugin"]``.

* ``emulator_clock`` — a :class:`FakeClock` the emulator runs on (advance it in tests);
* ``gateway_emulator`` — a fresh :class:`GatewayEmulator` (account 1234 / demo / demo);
* ``emulator_transport`` — an :class:`EmulatorTransport` to it, for ``httpx.AsyncClient``;
* ``live_emulator`` — the same emulator served by uvicorn on 127.0.0.1; its base URL.

Override ``gateway_emulator`` in a conftest to change accounts, profile or faults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._clock import FakeClock
from ._emulator import GatewayEmulator
from ._serve import running_emulator
from ._transport import EmulatorTransport

__all__ = ["emulator_clock", "emulator_transport", "gateway_emulator", "live_emulator"]


@pytest.fixture
def emulator_clock() -> FakeClock:
    """The :class:`FakeClock` the emulator runs on; advance it to move time."""
    return FakeClock()


@pytest.fixture
def gateway_emulator(emulator_clock: FakeClock) -> GatewayEmulator:
    """A fresh emulator on ``emulator_clock`` with the demo account (1234 / demo / demo)."""
    return GatewayEmulator(clock=emulator_clock)


@pytest.fixture
def emulator_transport(gateway_emulator: GatewayEmulator) -> EmulatorTransport:
    """An in-process httpx transport to ``gateway_emulator``."""
    return EmulatorTransport(gateway_emulator)


@pytest.fixture
def live_emulator(gateway_emulator: GatewayEmulator) -> Iterator[str]:
    """``gateway_emulator`` served by uvicorn on 127.0.0.1: its base URL."""
    with running_emulator(gateway_emulator) as base_url:
        yield base_url
