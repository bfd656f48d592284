"""An httpx transport that answers from a :class:`GatewayEmulator` in the same process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from .._compat import httpx

if TYPE_CHECKING:
    from ._emulator import GatewayEmulator

__all__ = ["EmulatorTransport"]


class EmulatorTransport(httpx.AsyncBaseTransport):
    """Send httpx requests straight to an emulator, without sockets or ASGI message passing.

    Injected faults become the errors a real connection would raise: a connection refused
    (``connect_error``) is ``httpx.ConnectError``; a connection dropped before or after the
    commit is ``httpx.ReadError``; a truncated reply is ``httpx.RemoteProtocolError``; a
    reply slower than the request's read timeout is ``httpx.ReadTimeout`` (the commit has
    happened by then). ``client_ip`` is the address IP lockdown sees.
    """

    def __init__(self, emulator: GatewayEmulator, *, client_ip: str = "127.0.0.1") -> None:
        self._emulator = emulator
        self._handle = emulator.app.handle
        self.client_ip = client_ip

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the emulator, raising the httpx error an injected fault
        stands for."""
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        url = request.url
        reply = self._handle(
            request.method,
            url.path,
            url.query,
            body,
            self.client_ip,
            request.headers.raw,
            url.scheme,
        )
        action = reply.action
        if action == "connect":
            raise httpx.ConnectError("connection refused (injected fault)", request=request)
        delay = reply.delay
        if delay:
            timeout = request.extensions.get("timeout") or {}
            read_timeout = timeout.get("read")
            if read_timeout is not None and delay > read_timeout:
                await anyio.sleep(read_timeout)
                raise httpx.ReadTimeout("timed out waiting for the reply", request=request)
            await anyio.sleep(delay)
        if action is not None:
            if action == "drop":
                raise httpx.ReadError("connection reset by peer (injected fault)", request=request)
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body (injected fault)",
                request=request,
            )
        return httpx.Response(
            reply.status, headers=reply.headers, content=reply.body, request=request
        )
