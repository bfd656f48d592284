"""What both sides of `asms._soap` share: namespaces, endpoints, errors, element names and
reading values out of a parsed envelope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from lxml import etree

from .._optable import DL_NAMESPACE, RPC_NAMESPACE, Operation
from .._xml import SOAP_ENC, SOAP_ENV, XSD, XSD_TRUE, XSI, XSI_NIL, local_name

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
    "Style",
    "soap_action",
    "style_for_path",
]

DL_ENDPOINT = "/soap/document_literal/webservice"
RPC_ENDPOINTS = ("/soap/rpc_encoded/webservice", "/soap/webservice.php", "/soap/webservice_vs.php")

CONTENT_TYPE = "text/xml; charset=utf-8"

Style = Literal["dl", "rpc"]


# -- errors ---------------------------------------------------------------------------------


class SOAPParseError(ValueError):
    """A SOAP answer that is not XML, not an envelope, or has no result in it.

    A Fault is an answer: the client side raises the public ``asms.SOAPFault`` for it.
    """


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

_DL_NSMAP = {"SOAP-ENV": SOAP_ENV, "ns1": DL_NAMESPACE}
_RPC_NSMAP = {
    "SOAP-ENV": SOAP_ENV,
    "SOAP-ENC": SOAP_ENC,
    "xsd": XSD,
    "xsi": XSI,
    "ns1": RPC_NAMESPACE,
}
_ITEM_ATTRIB = {_XSI_TYPE: "xsd:string"}


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


# -- shared parsing ---------------------------------------------------------------------------


def _body_element(root: etree._Element, error: Callable[[str], Exception]) -> etree._Element:
    """The first element inside the envelope's Body."""
    if local_name(root.tag) != "Envelope":
        raise error("not a SOAP envelope")
    for child in root:
        if local_name(child.tag) == "Body":
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
        return [item.text or "" for item in element if item.get(XSI_NIL) not in XSD_TRUE]
    text = element.text
    if text is not None:
        return text
    # Only an empty element can be nil, an empty array or a reference: look no further
    # for the (common) element with text.
    if element.get(XSI_NIL) in XSD_TRUE:
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
