"""SOAP envelopes of the gateway's two SOAP servers, shared by the client and the emulator.

Both servers carry the HTTP API's reply lines inside ``<return>`` elements, so this module only
moves parameters into envelopes and lines out of them; what the lines mean is `_replies`' job.

* document/literal (``dl``): ``<ns1:op>`` in `DL_NAMESPACE`, unqualified children in WSDL
  order, only the parameters present, ``to`` repeated; the answer repeats ``<return>``.
* RPC/encoded (``rpc``): ``<ns1:op>`` in `RPC_NAMESPACE`, every part in order, absent ones
  ``xsi:nil``, ``to`` a ``SOAP-ENC:Array`` of ``<item>``; the answer is one ``<return>``, a
  string or an array of ``<item>`` (`Operation.rpc_array`).

Client side (`client`): `build_request`, `parse_response`. Server side (`server`):
`parse_request`, `build_response`, `build_fault`. What both share (`envelope`): namespaces,
endpoints, errors. This module gathers them under one name.
"""

from __future__ import annotations

from .client import build_request, parse_response
from .envelope import (
    CONTENT_TYPE,
    DL_ENDPOINT,
    RPC_ENDPOINTS,
    SOAP_ENC,
    SOAP_ENV,
    XSD,
    XSI,
    SOAPClientFault,
    SOAPParseError,
    Style,
    soap_action,
    style_for_path,
)
from .server import SoapCall, build_fault, build_response, parse_request

__all__ = [
    "CONTENT_TYPE",
    "DL_ENDPOINT",
    "RPC_ENDPOINTS",
    "SOAP_ENC",
    "SOAP_ENV",
    "XSD",
    "XSI",
    "SOAPClientFault",
    "SOAPParseError",
    "SoapCall",
    "Style",
    "build_fault",
    "build_request",
    "build_response",
    "parse_request",
    "parse_response",
    "soap_action",
    "style_for_path",
]
