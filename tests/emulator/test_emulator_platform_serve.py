"""The Platform endpoints over a real socket (uvicorn in a thread): the same port as the
legacy API, injected drops as a closed connection, callbacks delivered by the server loop."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from asms._config import DEMO_API_KEY
from asms.testing import FakeClock, Faults, GatewayEmulator, Integration, running_emulator

A = "27821234567"
KEY = {"Authorization": DEMO_API_KEY}


def test_both_wires_and_the_legacy_api_on_one_port() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    with running_emulator(emu) as base_url, httpx.Client(base_url=base_url, timeout=5) as http:
        platform = http.post("/messages", json={"content": "Hi ☺", "to": [A]}, headers=KEY)
        assert platform.status_code == 202 and platform.json()["messages"][0]["accepted"]
        messages = [{"channel": "sms", "to": A, "content": "Hi"}]
        one = http.post("/v1/message", json={"messages": messages}, headers=KEY)
        assert one.status_code == 202
        legacy = http.post(
            "/http/sendmsg",
            data={"api_id": "1234", "user": "demo", "password": "demo", "to": A, "text": "Hi"},
        )
        assert legacy.text.startswith("ID: ")
        balance = http.get("/v1/balance", headers=KEY)
        assert balance.json() == {"currency": "ZAR", "balance": 1_000_000 - 3}
        assert "date" in platform.headers
    assert emu.statistics().messages == 3


def test_an_injected_drop_closes_the_connection() -> None:
    emu = GatewayEmulator(
        clock=FakeClock(), faults=Faults(script=("drop_before_commit", "drop_after_commit"))
    )
    with running_emulator(emu) as base_url, httpx.Client(base_url=base_url, timeout=5) as http:
        for _ in range(2):
            with pytest.raises(httpx.TransportError):
                http.post("/messages", json={"content": "Hi", "to": [A]}, headers=KEY)
        ok = http.post("/messages", json={"content": "Hi", "to": [A]}, headers=KEY)
        assert ok.status_code == 202
    stats = emu.statistics()
    assert stats.commits == 2
    assert stats.faults == {"drop_before_commit": 1, "drop_after_commit": 1}


def test_status_callbacks_are_delivered_by_the_server_loop() -> None:
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    integration = Integration(key=DEMO_API_KEY, callback_url="http://rx.test/status")
    emu = GatewayEmulator(
        clock=FakeClock(),
        admin=True,
        integrations=[integration],
        http_client_factory=lambda: httpx.AsyncClient(transport=httpx.MockTransport(receiver)),
    )
    with running_emulator(emu) as base_url, httpx.Client(base_url=base_url, timeout=5) as http:
        body = {"content": "Hi", "to": [A], "clientMessageId": "s1"}
        apimsgid = http.post("/messages", json=body, headers=KEY).json()["messages"][0][
            "apiMessageId"
        ]
        http.post("/_emulator/clock/advance", json={"seconds": 10})
        deadline = time.monotonic() + 10
        while len(received) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    bodies = sorted((json.loads(r.content) for r in received), key=lambda b: b["statusCode"])
    assert [b["statusCode"] for b in bodies] == [2, 3, 4]
    assert {(b["messageId"], b["clientMessageId"]) for b in bodies} == {(apimsgid, "s1")}
