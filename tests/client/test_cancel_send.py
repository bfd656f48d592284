"""A cancelled ``send`` returns control (issue 13): a user's Ctrl-C must never hang.

The stateful machine's "hangs" were pytest-timeout's 120 s for the whole Hypothesis run
landing in whatever step was running (the replay passed: a FlakyFailure), not a send that
ignored cancellation. These pin what they suspected: no shield without a deadline on the
plain ``send`` path, whichever exchange never answers, and an ``ERR 130`` pause measured on
a skewed clock stays bounded and cancellable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import anyio
import anyio.abc
import httpx
import pytest

from asms._client import AsyncClient
from asms._config import RetryPolicy
from asms.testing import Faults, GatewayEmulator

pytestmark = pytest.mark.anyio


class Silent(httpx.AsyncBaseTransport):
    """The emulator, except that requests to ``path`` are never answered."""

    def __init__(self, emu: GatewayEmulator, path: str) -> None:
        self._inner = emu.transport()
        self._path = path
        self.hung = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(self._path):
            self.hung += 1
            await anyio.sleep_forever()
        return await self._inner.handle_async_request(request)


def client(
    transport: httpx.AsyncBaseTransport,
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] | None = None,
) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        base_url="http://gateway.test",
        transport=transport,
        retry=retry or RetryPolicy.testing(),
        clock=clock,
    )


@pytest.mark.parametrize("path", ["/sendmsg", "/auth"])
async def test_a_send_that_is_never_answered_returns_when_cancelled(path: str) -> None:
    emu = GatewayEmulator()
    silent = Silent(emu, path)
    async with client(silent) as c:
        with anyio.move_on_after(0.2) as scope:
            await c.send("Hi", to="27820000001")
    assert scope.cancelled_caught and silent.hung == 1


async def test_a_lookup_that_is_never_answered_returns_when_cancelled() -> None:
    emu = GatewayEmulator(faults=Faults(script=("err901_after_commit",)))
    silent = Silent(emu, "/querymsg")
    async with client(silent) as c:
        with anyio.move_on_after(0.2) as scope:
            await c.send("Hi", to="27820000001")
    assert scope.cancelled_caught and silent.hung == 1
    assert len(emu.recorder.messages) == 1  # cancelled while looking up: never resent


async def test_a_gateway_that_accepts_and_never_answers_over_sockets() -> None:
    """asms's own transport (entered and not) against a server that reads and says nothing."""
    accepted = 0

    async def handler(stream: anyio.abc.SocketStream) -> None:
        nonlocal accepted
        accepted += 1
        async with stream:
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        for entered in (False, True):
            c = AsyncClient(
                1234, "demo", "demo", base_url=f"http://127.0.0.1:{port}", session=False
            )
            if entered:
                await c.__aenter__()
            with anyio.move_on_after(0.2) as scope:
                await c.send("Hi", to="27820000001")
            assert scope.cancelled_caught
            if entered:
                await c.__aexit__(None, None, None)
            else:
                await c.aclose()
        tg.cancel_scope.cancel()
    assert accepted == 2


@pytest.mark.parametrize("skew", [-3600.0, 3600.0])
async def test_err_130_on_a_skewed_client_clock_is_bounded_and_cancellable(skew: float) -> None:
    """The gateway refuses until 0.5 s from ITS now; the client's clock is an hour off.

    The pause is measured on the gateway's clock (its ``Date`` header): never an hour, and a
    cancelled caller gets control back at once either way.
    """
    emu = GatewayEmulator()
    emu.faults = Faults(err130_until=int(time.time()) + 3)  # two whole seconds at least
    # Waiting allowed far beyond the skew: a pause measured on the client's clock would be
    # waited out for an hour (or not at all), and only the gateway's clock gives ~2 s.
    patient = replace(RetryPolicy.testing(), throttle_max_wait=7200.0)
    async with client(emu.transport(), patient, lambda: time.time() + skew) as c:
        with anyio.move_on_after(0.2) as scope:
            await c.send("Hi", to="27820000001")
    assert scope.cancelled_caught
    assert len(emu.recorder.messages) == 0
