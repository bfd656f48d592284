"""Server side of the SOAP wires (the emulator): `parse_request`, `build_response`,
`build_fault`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from .._config import MAX_XML_BYTES
from .._optable import AUTH_NAMES, DL_NAMESPACE, RPC_NAMESPACE, Operation, operation_by_soap_name
from .._xml import SOAP_ENC, SOAP_ENV, XSD, XSI, XMLRejected, local_name, parse_xml
from .envelope import (
    SOAPClientFault,
    Style,
    _body_element,
    _value,
    style_for_path,
)

__all__ = ["SoapCall", "build_fault", "build_response", "parse_request"]


# -- server: requests -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SoapCall:
    """A parsed SOAP request.

    `params` uses canonical (HTTP) names (``msg_callback``/``callback`` → ``callback``,
    ``cliMsgId`` → ``climsgid``, ``apiMsgId`` → ``apimsgid``); list parameters (``to``) are
    always lists. Anything the operation does not know keeps its element name, and a scalar
    parameter that came as an array or more than once is a list: the emulator answers those
    with ``ERR: 101``. `auth` holds the credentials present (``session_id``, ``api_id``,
    ``user``, ``password``). `element_names` lists the operation element's children as
    spelled on the wire, in order, nil ones included.
    """

    style: Style
    op: Operation
    params: dict[str, str | list[str]]
    auth: dict[str, str]
    element_names: tuple[str, ...]

    def __repr__(self) -> str:
        # Credentials never reach a repr (logs, tracebacks): only which ones were given.
        params = {k: "***" if k in AUTH_NAMES else v for k, v in self.params.items()}
        return (
            f"SoapCall(style={self.style!r}, op={self.op.name!r}, params={params!r}, "
            f"auth=<{', '.join(self.auth) or 'none'}>, element_names={self.element_names!r})"
        )


def parse_request(body: bytes, *, path: str, max_bytes: int = MAX_XML_BYTES) -> SoapCall:
    """Parse a request envelope posted to a SOAP endpoint.

    The answer's style follows the endpoint `path`; the body may use either encoding
    (document/literal elements, RPC arrays, ``xsi:nil`` parts, any namespace prefixes).
    Raises `SOAPClientFault` for an envelope that cannot be understood or names an unknown
    operation, ValueError for a path that is no SOAP endpoint.
    """
    style = style_for_path(path)
    if style is None:
        raise ValueError(f"{path!r} is not a SOAP endpoint")
    try:
        root = parse_xml(body, max_bytes=max_bytes)
    except XMLRejected as exc:
        raise SOAPClientFault("Client", f"Envelope could not be parsed: {exc}") from None
    wrapper = _body_element(root, lambda message: SOAPClientFault("Client", message))
    op_name = local_name(wrapper.tag)
    op = operation_by_soap_name(op_name)
    if op is None:
        raise SOAPClientFault("Client", f"Unknown operation: {op_name[:64]}")

    params: dict[str, str | list[str]] = {}
    lists: dict[str, list[str]] = {}
    auth: dict[str, str] = {}
    names: list[str] = []
    last_name = ""
    key = ""
    target: list[str] | None = None  # the list the current run of a list element goes to
    for child in wrapper:
        name = child.tag.rpartition("}")[2]
        names.append(name)
        text = child.text
        # Fast path for the common leaf element; _value handles nil, arrays and references.
        value = text if text is not None and not len(child) else _value(child, root)
        if value is None:
            continue
        if name != last_name:  # a run of repeated elements (`to`) looks its name up once
            last_name = name
            param = op.param(name)
            key = param.name if param is not None else name
            target = (
                lists.setdefault(key, []) if param is not None and param.type == "list" else None
            )
        if target is not None:
            if isinstance(value, str):
                target.append(value)
            else:
                target.extend(value)
            continue
        if name in AUTH_NAMES:
            if isinstance(value, str) and name not in auth and name not in params:
                auth[name] = value
                continue
            # A credential given twice or as an array: move it to params, where the emulator
            # treats it like any malformed parameter (ERR 101).
            if name in auth:
                params[name] = auth.pop(name)
        previous = params.get(key)
        if previous is None:
            params[key] = value
        else:
            merged = [previous] if isinstance(previous, str) else previous
            merged.extend([value] if isinstance(value, str) else value)
            params[key] = merged
    params.update(lists)
    return SoapCall(style, op, params, auth, tuple(names))


# -- server: responses ----------------------------------------------------------------------

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_DL_OPEN = (
    f'{_XML_DECLARATION}<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:ns1="{DL_NAMESPACE}">'
    "<SOAP-ENV:Body>"
)
_RPC_OPEN = (
    f'{_XML_DECLARATION}<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:SOAP-ENC="{SOAP_ENC}"'
    f' xmlns:xsd="{XSD}" xmlns:xsi="{XSI}" xmlns:ns1="{RPC_NAMESPACE}"'
    f' SOAP-ENV:encodingStyle="{SOAP_ENC}"><SOAP-ENV:Body>'
)
_CLOSE = "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
_RPC_ITEM = '<item xsi:type="xsd:string">'

# Characters XML 1.0 cannot carry at all; replaced rather than producing a broken document.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The same for ASCII text (every reply line in practice), checked by bytes.translate, which
# costs far less than the regex.
_ASCII_NOT_XML = bytes(c for c in range(32) if c not in (9, 10, 13))

_FRAMES: dict[tuple[Style, str], tuple[str, str]] = {}


def _frame(style: Style, op: Operation) -> tuple[str, str]:
    frame = _FRAMES.get((style, op.name))
    if frame is None:
        wrapper = f"ns1:{op.dl if style == 'dl' else op.rpc}Response"
        frame = (
            f"{_DL_OPEN if style == 'dl' else _RPC_OPEN}<{wrapper}>",
            f"</{wrapper}>{_CLOSE}",
        )
        _FRAMES[(style, op.name)] = frame
    return frame


def _xml_text(text: str) -> str:
    """``text`` escaped for XML, characters XML cannot carry replaced.

    The fast path of the SOAP answers: its plain twin is ``_NOT_XML.sub("\ufffd",
    escape(text))``, and ``tests/wire/test_wire_fast_path.py`` holds the two equal.
    """
    text = escape(text)
    if text.isascii():
        raw = text.encode("ascii")
        if len(raw.translate(None, _ASCII_NOT_XML)) == len(raw):
            return text
    elif _NOT_XML.search(text) is None:
        return text
    return _NOT_XML.sub("\ufffd", text)


def build_response(style: Style, op: Operation, lines: Sequence[str]) -> bytes:
    """The answer envelope carrying reply `lines` (one ``<return>``/``<item>`` per line).

    A line containing a line break comes out as several lines, as it would over HTTP.
    """
    head, tail = _frame(style, op)
    text = _xml_text("\n".join(lines))
    if style == "dl":
        inner = "<return>" + text.replace("\n", "</return><return>") + "</return>"
    elif not op.rpc_array:
        inner = '<return xsi:type="xsd:string">' + text + "</return>"
    elif lines:
        count = text.count("\n") + 1
        inner = (
            '<return xsi:type="SOAP-ENC:Array" SOAP-ENC:arrayType="xsd:string['
            + str(count)
            + ']">'
            + _RPC_ITEM
            + text.replace("\n", "</item>" + _RPC_ITEM)
            + "</item></return>"
        )
    else:
        inner = '<return xsi:type="SOAP-ENC:Array" SOAP-ENC:arrayType="xsd:string[0]"/>'
    return (head + inner + tail).encode()


def build_fault(faultcode: str, faultstring: str) -> bytes:
    """A SOAP 1.1 Fault envelope (serve it with HTTP 500). A bare code gets ``SOAP-ENV:``."""
    if ":" not in faultcode:
        faultcode = "SOAP-ENV:" + faultcode
    return (
        f'{_XML_DECLARATION}<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}"><SOAP-ENV:Body>'
        f"<SOAP-ENV:Fault><faultcode>{_xml_text(faultcode)}</faultcode>"
        f"<faultstring>{_xml_text(faultstring)}</faultstring></SOAP-ENV:Fault>{_CLOSE}"
    ).encode()
