"""Shared test configuration: every async test runs on asyncio and on trio."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins: list[str] = []


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _callback_store_home(monkeypatch: pytest.MonkeyPatch, state: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("ASMS_CALLBACK_STORE", raising=False)


@pytest.fixture(autouse=True, scope="session")
def _session_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The default callback store of module- and session-scoped fixtures (built before any
    test's own) is never the real home's either."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _callback_store_home(monkeypatch, tmp_path_factory.mktemp("state"))
        yield


@pytest.fixture(autouse=True)
def _state_home(_session_state_home: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test (and every subprocess it starts) gets its own default callback store, in
    its tmp dir: nothing is written to the real home, no test sees another's events."""
    _callback_store_home(monkeypatch, tmp_path / "state")
