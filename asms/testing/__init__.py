"""A local Clickatell gateway (legacy API and the Platform wires) for tests, demos and
benchmarks.

:class:`GatewayEmulator` speaks the HTTP API and both SOAP servers, keeps accounts,
sessions, credits, batches and message statuses on an injectable clock, sends status and
inbound callbacks, injects seeded faults and records every committed message::

    emulator = GatewayEmulator(clock=FakeClock())
    async with httpx.AsyncClient(transport=EmulatorTransport(emulator),
                                 base_url="http://gateway") as http:
        ...
    assert emulator.recorder.duplicates() == {}

The same app serves the Platform endpoints (``POST /messages``, ``POST /v1/message`` …)
for its :class:`Integration` keys, answering in the :class:`PlatformProfile`'s variant.

Over a socket: ``with running_emulator(emulator) as base_url: ...``, or ``asms emulator``.
Fixtures for pytest: ``pytest_plugins = ["asms.testing.pytest_plugin"]``.
"""

import warnings
from typing import Any

from .._clock import Clock
from .._compat import show_as_public as _show_as_public
from ._clock import FakeClock, ScaledClock
from ._config import Account, CallbackMethod, FaultKind, Faults, Lifecycle, Profile
from ._emulator import DEFAULT_ACCOUNT, DEFAULT_INTEGRATION, GatewayEmulator
from ._events import CallbackSink, MOEvent, StatusEvent
from ._platform_config import Integration, PlatformProfile, PlatformVariant
from ._recorder import CommittedMessage, Recorder, RecorderMode, RecorderStatistics
from ._serve import running_emulator, serve
from ._transport import EmulatorTransport

__all__ = [
    "Account",
    "CallbackMethod",
    "CallbackSink",
    "Clock",
    "CommittedMessage",
    "DEFAULT_ACCOUNT",
    "DEFAULT_INTEGRATION",
    "EmulatorTransport",
    "FakeClock",
    "FaultKind",
    "Faults",
    "GatewayEmulator",
    "Integration",
    "Lifecycle",
    "MOEvent",
    "PlatformProfile",
    "PlatformVariant",
    "Profile",
    "Recorder",
    "RecorderMode",
    "RecorderStatistics",
    "running_emulator",
    "ScaledClock",
    "serve",
    "StatusEvent",
]


_show_as_public(__name__, globals(), __all__)
del _show_as_public

# ``SystemClock`` is listed nowhere above on purpose: a star import or a walk of __all__ must
# not trip its deprecation warning, and the one real clock is asms.SystemClock.
_DEPRECATED = {"SystemClock": "asms.SystemClock"}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        warnings.warn(
            f"asms.testing.{name} is deprecated; use {_DEPRECATED[name]} (the emulator runs on "
            "any asms.Clock)",
            DeprecationWarning,
            stacklevel=2,
        )
        from ._clock import UnixSystemClock

        return UnixSystemClock
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
