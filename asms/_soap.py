"""SOAP envelopes of the gateway's two SOAP servers, shared by the client and the emulator.

Both servers carry the HTTP API's reply lines inside ``<return>`` elements, so this module only
moves parameters into envelopes and lines out of them; what the lines mean is `_replies`' job.

* document/literal (``dl``): ``<ns1:op>`` in `DL_NAMESPACE`, unqualified children in WSDL
  order, only the parameters present, ``to`` repeated; the answer repeats ``<return>``.
* RPC/encoded (``rpc``): ``<ns1:op>`` in `RPC_NAMESPACE`, every part in order, absent ones
  ``xsi:nil``, ``to`` a ``SOAP-ENC:Array`` of ``<item>``; the answer is one ``<return>``, a
  string or an array of ``<item>`` (`Operation.rpc_array`).

Client side: `build_request`, `parse_response`. Server side: `parse_request`,
`build_response`, `build_fault`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from lxml import etree

from ._optable import (
    DL_NAMESPACE,
    OPERATIONS,
    RPC_NAMESPACE,
    Operation,
    Param,
    operation_by_soap_name,
)
from ._xml import DEFAULT_MAX_BYTES, XMLRejected, parse_xml

__all__ = [
    "CONTENT_TYPE",
    "DL_ENDPOINT",
    "RPC_ENDPOINTS",
    "SOAP_ENC",
    "SOAP_ENV",
    "XSD",
    "XSI",
    "SOAPClientFault",
    "SOAPFaultError",
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

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENC = "http://schemas.xmlsoap.org/soap/encoding/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"

DL_ENDPOINT = "/soap/document_literal/webservice"
RPC_ENDPOINTS = ("/soap/rpc_encoded/webservice", "/soap/webservice.php", "/soap/webservice_vs.php")

CONTENT_TYPE = "text/xml; charset=utf-8"

Style = Literal["dl", "rpc"]


# -- errors ---------------------------------------------------------------------------------


class SOAPParseError(ValueError):
    """A SOAP answer that is not XML, not an envelope, or has no result in it."""


class SOAPFaultError(ValueError):
    """The server answered with a SOAP Fault.

    `faultcode` is the code without its namespace prefix (``Client``, ``Server``…).
    """

    def __init__(self, faultcode: str, faultstring: str, detail: str | None = None) -> None:
        super().__init__(f"SOAP fault {faultcode}: {faultstring}")
        self.faultcode = faultcode
        self.faultstring = faultstring
        self.detail = detail


class SOAPClientFault(ValueError):
    """Server side: a request to answer with a SOAP Fault (HTTP 500), see `build_fault`.

    Only for envelopes that cannot be understood at all; application errors travel in-band
    as ``ERR:`` lines.
    """

    def __init__(self, faultcode: str, faultstring: str) -> None:
        super().__init__(f"{faultcode}: {faultstring}")
        self.faultcode = faultcode
        self.faultstring = faultstring


# -- names ----------------------------------------------------------------------------------

# Clark-notation names, built once: lxml takes them as they are.
_ENVELOPE = f"{{{SOAP_ENV}}}Envelope"
_BODY = f"{{{SOAP_ENV}}}Body"
_ENCODING_STYLE = f"{{{SOAP_ENV}}}encodingStyle"
_ARRAY_TYPE = f"{{{SOAP_ENC}}}arrayType"
_XSI_TYPE = f"{{{XSI}}}type"
_XSI_NIL = f"{{{XSI}}}nil"

_DL_NSMAP = {"SOAP-ENV": SOAP_ENV, "ns1": DL_NAMESPACE}
_RPC_NSMAP = {
    "SOAP-ENV": SOAP_ENV,
    "SOAP-ENC": SOAP_ENC,
    "xsd": XSD,
    "xsi": XSI,
    "ns1": RPC_NAMESPACE,
}
_ITEM_ATTRIB = {_XSI_TYPE: "xsd:string"}
_TRUE = ("true", "1")
_AUTH_NAMES = frozenset(("session_id", "api_id", "user", "password"))


def soap_action(style: Style, op: Operation) -> str:
    """The SOAPAction header value (quoted, as SOAP 1.1 wants) for an operation.

    document/literal uses the WSDL's ``<namespace>/<op>``. The RPC/encoded WSDLs tie the
    action to the endpoint URL, which varies between the three RPC servers, so RPC requests
    carry the endpoint-independent ``<namespace>#<op>``; servers (and the emulator) dispatch
    on the body element, never on this header.
    """
    if style == "dl":
        return f'"{DL_NAMESPACE}/{op.dl}"'
    return f'"{RPC_NAMESPACE}#{op.rpc}"'


# Each endpoint answers with and without ".php", as the gateway's HTTP paths do.
_PATH_STYLE: dict[str, Style] = {}
for _path, _style in ((DL_ENDPOINT, "dl"), *((p, "rpc") for p in RPC_ENDPOINTS)):
    _bare = _path.removesuffix(".php")
    _PATH_STYLE[_bare] = _PATH_STYLE[_bare + ".php"] = _style  # type: ignore[assignment]


def style_for_path(path: str) -> Style | None:
    """The SOAP style served at a URL path (query ignored, ``.php`` optional), or None."""
    key = path.partition("?")[0].rstrip("/").lower()
    return _PATH_STYLE.get(key)


def _local(tag: str) -> str:
    """The local part of a Clark-notation tag: prefixes and namespaces never matter here."""
    return tag.rpartition("}")[2]


# -- client: requests -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    key: str  # canonical name: an auth key or Param.name
    element: str  # element name on this wire
    is_auth: bool
    is_list: bool


@dataclass(frozen=True, slots=True)
class _RequestPlan:
    op: Operation
    parts: tuple[_Part, ...]
    keys: frozenset[str]  # parameters this wire carries
    list_keys: frozenset[str]
    headers: Mapping[str, str]
    # The envelope with every part the way it goes out when absent: the bare operation
    # element on document/literal, every part as `xsi:nil` on RPC. Each request deep-copies
    # it (one C call) instead of creating ~20 namespaced attributes one by one, which made
    # up most of an RPC request's cost.
    template: etree._Element


_PLANS: dict[tuple[Style, str], _RequestPlan] = {}


def _make_plan(style: Style, op: Operation) -> _RequestPlan:
    params: tuple[Param, ...] = op.dl_params() if style == "dl" else op.rpc_params()
    rpc = style == "rpc"
    root = etree.Element(_ENVELOPE, nsmap=_RPC_NSMAP if rpc else _DL_NSMAP)
    namespace = RPC_NAMESPACE if rpc else DL_NAMESPACE
    wrapper = etree.SubElement(
        etree.SubElement(root, _BODY), f"{{{namespace}}}{op.rpc if rpc else op.dl}"
    )
    if rpc:
        wrapper.set(_ENCODING_STYLE, SOAP_ENC)
    parts = []
    for p, is_auth in [(a, True) for a in op.auth_params(style)] + [(p, False) for p in params]:
        is_list = p.type == "list"
        element = p.rpc if rpc else p.dl
        if rpc:
            xsi_type = "SOAP-ENC:Array" if is_list else "xsd:" + p.xsd_type(style)
            etree.SubElement(wrapper, element, {_XSI_NIL: "true", _XSI_TYPE: xsi_type})
        parts.append(_Part(p.name, element, is_auth, is_list))
    return _RequestPlan(
        op=op,
        parts=tuple(parts),
        keys=frozenset(p.name for p in params),
        list_keys=frozenset(p.name for p in params if p.type == "list"),
        headers={"Content-Type": CONTENT_TYPE, "SOAPAction": soap_action(style, op)},
        template=root,
    )


def _plan(style: Style, op: Operation) -> _RequestPlan:
    plan = _PLANS.get((style, op.name))
    if plan is not None and plan.op is op:
        return plan
    plan = _make_plan(style, op)
    if OPERATIONS.get(op.name) is op:  # cache the table's operations, not ad-hoc ones
        _PLANS[(style, op.name)] = plan
    return plan


def build_request(
    style: Style,
    op: Operation,
    params: Mapping[str, str | Sequence[str]],
    auth: Mapping[str, str],
) -> tuple[bytes, dict[str, str]]:
    """Build a request envelope; return its UTF-8 bytes and the HTTP headers to send with it.

    `params` maps canonical (HTTP) parameter names to wire strings, list parameters (``to``)
    to sequences of strings. `auth` holds whichever of ``session_id``/``api_id``/``user``/
    ``password`` the caller has; the operation decides which of them it carries. A parameter
    this wire cannot carry (``scheduled_time``, ``field5`` on RPC…) raises ValueError rather
    than being dropped silently.
    """
    plan = _plan(style, op)
    for name, given in params.items():
        if name not in plan.keys:
            raise ValueError(f"SOAP {style} {op.name} has no parameter {name!r}")
        if not isinstance(given, str) and name not in plan.list_keys:
            raise ValueError(f"SOAP {style} {op.name}: {name} takes a single value")
    root = copy.deepcopy(plan.template)
    wrapper = root[0][0]
    rpc = style == "rpc"
    nil_parts = list(wrapper) if rpc else []
    sub = etree.SubElement
    key = ""
    try:
        for index, part in enumerate(plan.parts):
            key = part.key
            value = auth.get(key) if part.is_auth else params.get(key)
            if value is None:
                continue
            if rpc:
                element = nil_parts[index]
                del element.attrib[_XSI_NIL]
                if isinstance(value, str) and not part.is_list:
                    element.text = value
                else:
                    items = [value] if isinstance(value, str) else value
                    element.set(_ARRAY_TYPE, f"xsd:string[{len(items)}]")
                    for item in items:
                        sub(element, "item", _ITEM_ATTRIB).text = item
            elif isinstance(value, str):
                sub(wrapper, part.element).text = value
            else:
                for item in value:
                    sub(wrapper, part.element).text = item
    except (ValueError, TypeError):
        # lxml refuses non-strings, control characters and other non-XML text. The message
        # names the parameter only: values may be credentials.
        raise ValueError(
            f"SOAP {style} {op.name}: {key} must be text XML can carry (no control characters)"
        ) from None
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    return body, dict(plan.headers)


# -- shared parsing ---------------------------------------------------------------------------


def _body_element(root: etree._Element, error: Callable[[str], Exception]) -> etree._Element:
    """The first element inside the envelope's Body."""
    if _local(root.tag) != "Envelope":
        raise error("not a SOAP envelope")
    for child in root:
        if _local(child.tag) == "Body":
            for element in child:
                return element
            raise error("empty SOAP Body")
    raise error("SOAP envelope without a Body")


def _by_id(root: etree._Element, ref: str) -> etree._Element | None:
    """The element an ``href="#id"`` points at (SOAP 1.1 multi-reference values)."""
    if not ref.startswith("#"):
        return None
    wanted = ref[1:]
    for element in root.iter():
        if element.get("id") == wanted:
            return element
    return None


def _value(element: etree._Element, root: etree._Element) -> str | list[str] | None:
    """A parameter's value: a string, a list for arrays, None for ``xsi:nil``."""
    if len(element):
        return [item.text or "" for item in element if item.get(_XSI_NIL) not in _TRUE]
    text = element.text
    if text is not None:
        return text
    # Only an empty element can be nil, an empty array or a reference: look no further
    # for the (common) element with text.
    if element.get(_XSI_NIL) in _TRUE:
        return None
    href = element.get("href")
    if href is not None:
        target = _by_id(root, href)
        if target is not None and target is not element and not target.get("href"):
            return _value(target, root)
        return None
    if element.get(_ARRAY_TYPE) is not None:
        return []
    return ""


# -- client: responses ----------------------------------------------------------------------


def _text(element: etree._Element, inner: str) -> str:
    """An element's text, or that of its `inner` children (SOAP 1.2 ``Code/Value``)."""
    text = (element.text or "").strip()
    if text:
        return text
    return "".join((c.text or "") for c in element if _local(c.tag) == inner).strip()


def _fault_error(fault: etree._Element) -> SOAPFaultError:
    """Read a SOAP 1.1 (faultcode/faultstring/detail) or 1.2 (Code/Reason/Detail) fault."""
    code = string = ""
    detail: str | None = None
    for child in fault:
        name = _local(child.tag)
        if name in ("faultcode", "Code"):
            code = _text(child, "Value")
        elif name in ("faultstring", "Reason"):
            string = _text(child, "Text")
        elif name in ("detail", "Detail"):
            text = etree.tostring(child, method="text", encoding="unicode", with_tail=False)
            detail = text.strip()[:500] or None
    return SOAPFaultError(code.rpartition(":")[2] or "Server", string[:500], detail)


def parse_response(body: bytes, *, max_bytes: int = 10 * DEFAULT_MAX_BYTES) -> list[str]:
    """The reply lines in a SOAP answer of either style, in order.

    Reads every ``<return>`` (repeated on document/literal; a string or an array of
    ``<item>`` on RPC/encoded), splits values on line breaks and drops blank lines, so a
    server that puts a whole multi-line HTTP body in one string reads the same.
    Raises `SOAPFaultError` for a SOAP Fault and `SOAPParseError` for anything else that is
    not an answer.
    """
    try:
        root = parse_xml(body, max_bytes=max_bytes)
    except XMLRejected as exc:
        raise SOAPParseError(f"SOAP answer is not acceptable XML: {exc}") from None
    result = _body_element(root, SOAPParseError)
    if _local(result.tag) == "Fault":
        raise _fault_error(result)
    returns = [child for child in result if _local(child.tag) == "return"]
    if not returns:
        # Toolkits that name the output part after the operation (``sendmsgReturn``).
        returns = list(result)
    if not returns:
        raise SOAPParseError(f"SOAP answer {_local(result.tag)!r} carries no return value")
    lines: list[str] = []
    for element in returns:
        text = element.text
        value = text if text is not None and not len(element) else _value(element, root)
        if value is None:
            continue
        for text in [value] if isinstance(value, str) else value:
            if "\n" in text or "\r" in text:
                lines.extend(s for line in text.splitlines() if (s := line.strip()))
            elif text := text.strip():
                lines.append(text)
    return lines


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
        params = {k: "***" if k in _AUTH_NAMES else v for k, v in self.params.items()}
        return (
            f"SoapCall(style={self.style!r}, op={self.op.name!r}, params={params!r}, "
            f"auth=<{', '.join(self.auth) or 'none'}>, element_names={self.element_names!r})"
        )


def parse_request(body: bytes, *, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> SoapCall:
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
    op_name = _local(wrapper.tag)
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
        if name in _AUTH_NAMES:
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

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_DL_OPEN = (
    f'{_DECLARATION}<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:ns1="{DL_NAMESPACE}">'
    "<SOAP-ENV:Body>"
)
_RPC_OPEN = (
    f'{_DECLARATION}<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:SOAP-ENC="{SOAP_ENC}"'
    f' xmlns:xsd="{XSD}" xmlns:xsi="{XSI}" xmlns:ns1="{RPC_NAMESPACE}"'
    f' SOAP-ENV:encodingStyle="{SOAP_ENC}"><SOAP-ENV:Body>'
)
_CLOSE = "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
_RPC_ITEM = '<item xsi:type="xsd:string">'

# Characters XML 1.0 cannot carry at all; replaced rather than producing a broken document.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The same for ASCII text (every reply line in practice), checked ~10x faster than the regex.
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
        f'{_DECLARATION}<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}"><SOAP-ENV:Body>'
        f"<SOAP-ENV:Fault><faultcode>{_xml_text(faultcode)}</faultcode>"
        f"<faultstring>{_xml_text(faultstring)}</faultstring></SOAP-ENV:Fault>{_CLOSE}"
    ).encode()
