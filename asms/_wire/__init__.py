"""The wires: how one gateway command travels (HTTP form, SOAP envelope or Platform JSON).

``base`` holds what every wire implements and shares (the :class:`Wire` protocol, the
exchange with the transport); ``http``, ``soap`` and ``platform`` implement it;
:func:`make_wire`, here, picks one by name. Importers outside this package take these
names from ``asms._wire``.
"""

from __future__ import annotations

from .._config import ClientOptions
from .base import (
    MAX_REPLY_BYTES,
    Params,
    Prepared,
    SendPrepared,
    Wire,
    check_params,
    gateway_time,
    map_transport_error,
    origin_of,
    roundtrip,
    roundtrip_headers,
    roundtrip_prepared,
)
from .fast import form_body, post_head
from .http import HTTPWire, encode_form, form_pairs
from .platform import PlatformWire
from .soap import SOAPWire

__all__ = [
    "MAX_REPLY_BYTES",
    "HTTPWire",
    "Params",
    "PlatformWire",
    "Prepared",
    "SOAPWire",
    "SendPrepared",
    "Wire",
    "check_params",
    "encode_form",
    "form_body",
    "form_pairs",
    "gateway_time",
    "make_wire",
    "map_transport_error",
    "origin_of",
    "post_head",
    "roundtrip",
    "roundtrip_headers",
    "roundtrip_prepared",
]


def make_wire(options: ClientOptions) -> Wire:
    """The wire a client's options ask for."""
    if options.wire == "platform" or options.wire == "one-api":
        return PlatformWire(options.base_url, flavour=options.wire, timeout=options.timeout)
    if options.wire == "http":
        return HTTPWire(
            options.base_url,
            method=options.method,
            max_recipients=options.max_recipients,
            timeout=options.timeout,
        )
    return SOAPWire(
        options.base_url,
        style="dl" if options.wire == "soap" else "rpc",
        max_recipients=options.max_recipients,
        timeout=options.timeout,
    )
