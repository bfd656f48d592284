"""``Faults(err130_once=T)``: ERR 130 naming T to exactly one request; and the recorder's
arrival log (``Recorder.arrivals``, the admin API's ``GET requests``)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import httpx
import pytest
from helpers.emulator import CREDS

from asms._optable import OPERATIONS
from asms.testing import FakeClock, Faults, GatewayEmulator, Recorder, running_emulator

SEND = {**CREDS, "to": "27821234567", "text": "Hi"}


def call(emu: GatewayEmulator, command: str = "sendmsg") -> str:
    form = urlencode(SEND if command == "sendmsg" else CREDS)
    reply = emu.app.handle("POST", OPERATIONS[command].http_path, b"", form.encode(), "127.0.0.1")
    return reply.body.decode()


def test_err130_once_refuses_one_request_naming_the_time() -> None:
    emu = GatewayEmulator(clock=FakeClock())
    until = int(emu.clock.wall_time()) + 60
    emu.faults = Faults(err130_once=until)
    assert call(emu, "getbalance").startswith("Credit: ")  # not a sending command: untouched
    replies = [call(emu) for _ in range(3)]
    assert replies[0] == f"ERR: 130, Maximum MT limit exceeded until {until}"
    assert [r[:3] for r in replies[1:]] == ["ID:", "ID:"]  # long before the time named
    assert emu.statistics().faults == {"err130": 1}
    emu.faults = Faults(err130_once=until)  # setting the faults again arms it again
    assert call(emu).startswith("ERR: 130")
    assert emu.statistics().messages == 2


def test_arrivals_log_each_request_with_its_time_and_error() -> None:
    clock = FakeClock()
    emu = GatewayEmulator(clock=clock)
    start = clock.wall_time()
    call(emu)
    clock.advance(1.5)
    emu.faults = Faults(err130_once=int(start) + 60)
    call(emu)
    call(emu, "getbalance")
    assert emu.recorder.arrivals == [
        (start, "sendmsg", None),
        (start + 1.5, "sendmsg", 130),
        (start + 1.5, "getbalance", None),
    ]
    emu.recorder.reset()
    assert emu.recorder.arrivals == []
    totals = GatewayEmulator(clock=FakeClock(), recorder=Recorder("totals"))
    call(totals)
    assert totals.recorder.arrivals == []  # the lean mode keeps no per-request record


def test_the_admin_api_arms_err130_once_and_lists_requests() -> None:
    emu = GatewayEmulator(clock=FakeClock(), admin=True)
    with running_emulator(emu) as url, httpx.Client(base_url=url, timeout=5) as http:
        until = int(emu.clock.wall_time()) + 60
        armed = http.post("/_emulator/faults", json={"err130_once": until}).json()
        assert armed["err130_once"] == until
        assert http.post("/http/sendmsg", data=SEND).text.startswith("ERR: 130")
        assert http.post("/http/sendmsg", data=SEND).text.startswith("ID: ")
        http.post("/http/getbalance", data=CREDS)
        sent = http.get("/_emulator/requests", params={"command": "sendmsg"}).json()
        assert [(r["command"], r["error"]) for r in sent["requests"]] == [
            ("sendmsg", 130),
            ("sendmsg", None),
        ]
        later = http.get("/_emulator/requests", params={"since": emu.clock.wall_time() + 1})
        assert later.json() == {"requests": []}
        assert http.get("/_emulator/requests", params={"limit": 1}).json()["requests"] == [
            sent["requests"][0]
        ]
        bad = http.post("/_emulator/faults", json={"err130_once": "soon"})
        assert bad.status_code == 400 and "whole number" in bad.json()["error"]


def test_a_time_that_is_not_a_whole_second_is_refused() -> None:
    # Before: err130_once=time.time() + 2 made the emulator answer "until 1796542371.70…",
    # which no client reads as a time: the message was rejected instead of waited for.
    for bad in (time.time() + 2, "soon", True):
        with pytest.raises(ValueError, match="whole unix time"):
            Faults(err130_once=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="whole unix time"):
            Faults(err130_until=bad)  # type: ignore[arg-type]
