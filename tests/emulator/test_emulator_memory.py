"""Memory stays bounded: at most 1 KB per stored message, and modes that store only digests."""

from __future__ import annotations

import gc
import tracemalloc
from urllib.parse import urlencode

from asms.testing import FakeClock, GatewayEmulator, Recorder

FORM = urlencode({"api_id": "1234", "user": "demo", "password": "demo", "text": "Hello there"})


def send_many(emu: GatewayEmulator, requests: int, start: int = 0, recipients: int = 1) -> None:
    """``requests`` sends of ``recipients`` numbers each, every one with its own climsgid."""
    handle = emu.app.handle
    for i in range(start, start + requests):
        to = ",".join(str(27820000000 + i * recipients + j) for j in range(recipients))
        body = f"{FORM}&to={to}&climsgid=c{i}&text=Hello+{i}".encode()
        reply = handle("POST", "/http/sendmsg", b"", body, "127.0.0.1")
        assert reply.body.startswith(b"ID: ")


def allocated_by(emu: GatewayEmulator, requests: int, start: int, recipients: int = 1) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        send_many(emu, requests, start, recipients)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_stored_and_recorded_message_costs_at_most_1_kb() -> None:
    # 10,000 messages (1,000 requests of 10 recipients: tracing single-recipient requests
    # costs several seconds; a single-recipient message measures about 670 bytes).
    emu = GatewayEmulator(clock=FakeClock())
    send_many(emu, 50, recipients=10)  # warm caches (routes, regexes, parse_qsl)
    per_message = allocated_by(emu, 1_000, start=50, recipients=10) / 10_000
    assert per_message <= 1024, per_message
    assert emu.stored_messages == 10_500
    assert len(emu.recorder.messages) == 10_500


def test_totals_mode_keeps_no_messages_and_retention_bounds_the_store() -> None:
    emu = GatewayEmulator(clock=FakeClock(), recorder=Recorder("totals"), retention=200)
    send_many(emu, 40, recipients=10)
    growth = allocated_by(emu, 1_000, start=40, recipients=10)
    assert emu.stored_messages == 200
    assert emu.recorder.messages == []
    assert emu.statistics().messages == 10_400
    # 10,000 more messages leave at most the 200 retained ones behind, plus the digest
    # each distinct message keeps so that duplicates() still counts (128 bytes budgeted).
    assert growth < 200 * 1024 + 10_000 * 128, growth
    assert emu.recorder.duplicates() == {}


def test_forgotten_messages_are_unknown_to_querymsg() -> None:
    emu = GatewayEmulator(clock=FakeClock(), retention=2)
    send_many(emu, 3)
    body = urlencode({"api_id": "1234", "user": "demo", "password": "demo", "climsgid": "c0"})
    reply = emu.app.handle("POST", "/http/querymsg", b"", body.encode(), "127.0.0.1")
    assert reply.body == b"ERR: 104, Unknown client message ID"
    body = body.replace("c0", "c2")
    reply = emu.app.handle("POST", "/http/querymsg", b"", body.encode(), "127.0.0.1")
    assert reply.body.endswith(b"Status: 002")
