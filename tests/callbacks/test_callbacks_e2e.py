"""Sender → real socket → receiver: the dispatcher delivering to a CallbackReceiver in uvicorn."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from asms._codes import MessageStatus
from asms.callbacks import EventLog
from asms.testing._callbacks import CallbackDispatcher
from asms.testing._clock import FakeClock
from asms.testing._config import Account
from asms.testing._events import MOEvent, StatusEvent

START = 1_700_000_000.0


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, EventLog]]:
    """A receiver behind a secret path and Basic auth, served by uvicorn on 127.0.0.1."""
    log = EventLog()
    receiver = log.receiver(secret_path="hook-7f3a", basic_auth=("gateway", "s3cret"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(receiver, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def account(base: str, form: str, auth: tuple[str, str]) -> Account:
    return Account(
        api_id=12345,
        user="user",
        password="pw",
        callback_url=f"{base}/hook-7f3a/status",
        callback_method=form,  # type: ignore[arg-type]
        mo_callback_url=f"{base}/hook-7f3a/inbound",
        mo_callback_method=form,  # type: ignore[arg-type]
        callback_auth=auth,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["get", "post", "xml_post", "soap_get"])
async def test_dispatcher_delivers_over_a_socket(served, form: str, anyio_backend: str) -> None:
    base, log = served
    tag = f"{form}-{anyio_backend}"
    clock = FakeClock(START)
    async with CallbackDispatcher(clock, timeout=10) as dispatcher:
        acc = account(base, form, ("gateway", "s3cret"))
        for status in (MessageStatus(3), MessageStatus(4), MessageStatus(3)):
            dispatcher.status_changed(acc, _status(f"s-{tag}", status))
        for n, chunk in enumerate(["Hello ", "wörld"], start=1):
            dispatcher.mo_received(acc, _mo(f"m{n}-{tag}", chunk, f"0500039{len(form)}020{n}"))
        assert await dispatcher.deliver_due() == 5
        assert dispatcher.statistics().delivered == 5
    statuses = [int(r.status) for r in log.statuses if r.apimsgid == f"s-{tag}"]
    assert statuses == [3, 4]  # the repeated 003 came after the final status
    [message] = [m for m in log.inbound if m.momsgid == f"m1-{tag}"]
    assert message.text == "Hello wörld" and message.parts == 2


@pytest.mark.anyio
async def test_wrong_credentials_are_retried_not_delivered(served, anyio_backend: str) -> None:
    base, log = served
    clock = FakeClock(START)
    apimsgid = f"wrong-{anyio_backend}"
    async with CallbackDispatcher(clock, timeout=10) as dispatcher:
        dispatcher.status_changed(account(base, "post", ("gateway", "nope")), _status(apimsgid))
        await dispatcher.deliver_due()
        [pending] = dispatcher.pending()
    assert pending.last_error == "HTTP 401" and pending.next_attempt == START + 120
    assert all(r.apimsgid != apimsgid for r in log.statuses)


def _status(
    apimsgid: str, status: MessageStatus = MessageStatus.RECEIVED_BY_RECIPIENT
) -> StatusEvent:
    return StatusEvent(
        api_id=12345,
        apimsgid=apimsgid,
        climsgid="",
        to="27999",
        from_="",
        status=status,
        charge=1.0,
        timestamp=int(START),
        callback_value=7,
    )


def _mo(momsgid: str, text: str, udh: str) -> MOEvent:
    return MOEvent(
        api_id=12345,
        momsgid=momsgid,
        from_="27999",
        to="27888",
        timestamp_gmt2="2023-11-14 23:13:20",
        text=text,
        charset="ISO-8859-1",
        udh=udh,
    )
