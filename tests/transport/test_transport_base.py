"""The transport's declared seams (``asms._transport.base``): who offers them, and that the
protocols say exactly what the default transport does."""

from __future__ import annotations

import inspect

import httpx

from asms._transport import (
    AsyncTransport,
    PreparedTransport,
    RawTransport,
    make_transport,
    raw_transport,
)
from asms._transport._stock import StockTransport
from asms.testing import EmulatorTransport, GatewayEmulator


def test_the_default_transport_offers_both_seams() -> None:
    transport = AsyncTransport()
    assert isinstance(transport, PreparedTransport)
    assert isinstance(transport, RawTransport)
    assert raw_transport(transport) is transport


def test_stock_and_emulator_transports_offer_neither() -> None:
    emulator = GatewayEmulator()
    for transport in (
        httpx.AsyncHTTPTransport(),
        make_transport(use_stock=True),
        EmulatorTransport(emulator),
    ):
        assert not isinstance(transport, PreparedTransport)
        assert not isinstance(transport, RawTransport)
        assert raw_transport(transport) is None
    assert issubclass(StockTransport, httpx.AsyncHTTPTransport)


def test_protocol_signatures_are_the_default_transports() -> None:
    for protocol, name in ((PreparedTransport, "send_prepared"), (RawTransport, "send_raw")):
        declared = inspect.signature(getattr(protocol, name))
        actual = inspect.signature(getattr(AsyncTransport, name))
        assert declared == actual, name
