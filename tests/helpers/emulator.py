"""The emulator's demo account as a form sends it, what the emulator committed, and a
transport that freezes the account mid-send."""

from __future__ import annotations

from collections import Counter

import httpx

from asms.testing import EmulatorTransport, GatewayEmulator

CREDS = {"api_id": "1234", "user": "demo", "password": "demo"}
"""The form fields that authenticate as the emulator's default account (1234 / demo / demo)."""


def committed(emulator: GatewayEmulator) -> Counter[str]:
    """Number -> times the gateway accepted a message to it."""
    return Counter(m.to for m in emulator.recorder.messages)


class FrozenAfterFirstSend(httpx.AsyncBaseTransport):
    """The emulator's transport, with its account (1234) frozen once the first send request
    has been committed; with ``lose_reply`` that request's reply is lost too (the client
    must look it up, and the lookup meets the frozen account)."""

    def __init__(self, emulator: GatewayEmulator, *, lose_reply: bool = False) -> None:
        self._emulator = emulator
        self._inner = EmulatorTransport(emulator)
        self._lose_reply = lose_reply
        self._sends = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if b"sendmsg" in request.url.path.lower().encode() + request.content.lower():
            self._sends += 1
            if self._sends == 1:
                self._emulator.update_account(1234, frozen=True)
                if self._lose_reply:
                    raise httpx.ReadError("connection lost", request=request)
        return response
