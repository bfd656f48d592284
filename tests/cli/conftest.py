"""Fixtures of the command-line tests: an emulator holding the account ``ENV`` names,
served over a socket. A test file that needs another account overrides ``emulator``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.cli import cli_account

from asms.testing import GatewayEmulator, running_emulator


@pytest.fixture
def emulator() -> GatewayEmulator:
    return GatewayEmulator(accounts=[cli_account(credits=1_000_000.0)])


@pytest.fixture
def base_url(emulator: GatewayEmulator) -> Iterator[str]:
    with running_emulator(emulator) as url:
        yield url
