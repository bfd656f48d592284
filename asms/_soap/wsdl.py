"""WSDL documents for the emulator's SOAP endpoints, generated from the operation table.

`document_literal_wsdl` reproduces the gateway's document/literal contract (element names,
types, occurrences and order, SOAPActions); `rpc_encoded_wsdl` describes the RPC/encoded
servers in the shape of their Visual Studio WSDL (``PushServerWS``, ``ArrayOfString``).
"""

from __future__ import annotations

from functools import lru_cache

from lxml import etree

from .._optable import DL_NAMESPACE, OPERATIONS, RPC_NAMESPACE, Operation
from . import SOAP_ENC, XSD, soap_action

__all__ = ["document_literal_wsdl", "rpc_encoded_wsdl"]

WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP_HTTP = "http://schemas.xmlsoap.org/soap/http"

_W = f"{{{WSDL}}}"
_WS = f"{{{WSDL_SOAP}}}"
_X = f"{{{XSD}}}"

# The gateway's WSDL declares token_payResponse/return unbounded although token_pay answers
# one line (its operation is not `multi`); the contract is reproduced as published.
_UNBOUNDED_RETURN = frozenset({"token_pay"})


def _sub(parent: etree._Element, tag: str, **attrib: str) -> etree._Element:
    return etree.SubElement(parent, tag, attrib)


def _sequence(schema: etree._Element, name: str, children: list[tuple[str, str, str, str]]) -> None:
    """``<xsd:element name=…><xsd:complexType><xsd:sequence>`` with (name, type, min, max)."""
    sequence = _sub(
        _sub(_sub(schema, _X + "element", name=name), _X + "complexType"), _X + "sequence"
    )
    for child, xsd_type, low, high in children:
        _sub(sequence, _X + "element", minOccurs=low, maxOccurs=high, name=child, type=xsd_type)


def _dl_request(op: Operation) -> list[tuple[str, str, str, str]]:
    # Credentials are optional where a session id may replace them, required for auth/ping.
    auth_min = "0" if op.auth == "any" else "1"
    children = [(p.dl, "xsd:" + p.xsd_type("dl"), auth_min, "1") for p in op.auth_params("dl")]
    for p in op.dl_params():
        high = "unbounded" if p.type == "list" else "1"
        children.append((p.dl, "xsd:" + p.xsd_type("dl"), "1" if p.required else "0", high))
    return children


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="utf-8", xml_declaration=True, pretty_print=True)


@lru_cache(maxsize=16)
def document_literal_wsdl(location: str) -> bytes:
    """The document/literal WSDL with the service at `location` (the endpoint's full URL)."""
    ops = list(OPERATIONS.values())
    root = etree.Element(
        _W + "definitions",
        {"name": "ClickatellSms", "targetNamespace": DL_NAMESPACE},
        nsmap={"wsdl": WSDL, "soap": WSDL_SOAP, "xsd": XSD, "tns": DL_NAMESPACE},
    )
    _sub(root, _W + "documentation").text = "SMS gateway SOAP API (document/literal)"
    schema = _sub(_sub(root, _W + "types"), _X + "schema", targetNamespace=DL_NAMESPACE)
    for op in ops:
        _sequence(schema, op.dl, _dl_request(op))
        unbounded = op.multi or op.name in _UNBOUNDED_RETURN
        result = ("return", "xsd:string", "1", "unbounded" if unbounded else "1")
        _sequence(schema, op.dl + "Response", [result])
    for op in ops:
        _sequence(schema, op.dl + "Fault", [(op.dl + "Fault", "xsd:string", "1", "1")])

    for suffix in ("Request", "Response", "Fault"):
        for op in ops:
            element = op.dl if suffix == "Request" else op.dl + suffix
            message = _sub(root, _W + "message", name=op.dl + suffix)
            _sub(message, _W + "part", name="parameters", element="tns:" + element)

    port_type = _sub(root, _W + "portType", name="ClickatellSms")
    for op in ops:
        operation = _sub(port_type, _W + "operation", name=op.dl)
        _sub(operation, _W + "input", name=op.dl + "Request", message=f"tns:{op.dl}Request")
        _sub(operation, _W + "output", name=op.dl + "Response", message=f"tns:{op.dl}Response")
        _sub(operation, _W + "fault", name="fault", message=f"tns:{op.dl}Fault")

    binding = _sub(root, _W + "binding", name="Sms", type="tns:ClickatellSms")
    _sub(binding, _WS + "binding", transport=SOAP_HTTP)
    for op in ops:
        operation = _sub(binding, _W + "operation", name=op.dl)
        _sub(operation, _WS + "operation", soapAction=soap_action("dl", op).strip('"'))
        for direction, suffix in (("input", "Request"), ("output", "Response")):
            _sub(_sub(operation, _W + direction, name=op.dl + suffix), _WS + "body", use="literal")

    service = _sub(root, _W + "service", name="ClickatellSms")
    port = _sub(service, _W + "port", name="ClickatellSms", binding="tns:Sms")
    _sub(port, _WS + "address", location=location)
    return _serialize(root)


@lru_cache(maxsize=16)
def rpc_encoded_wsdl(location: str, *, callback_name: str = "msg_callback") -> bytes:
    """An RPC/encoded WSDL with the service at `location`.

    `callback_name` is the delivery-callback part's name: ``msg_callback`` as on
    ``webservice_vs.php``, ``callback`` as on ``webservice.php``.
    """
    ops = list(OPERATIONS.values())
    root = etree.Element(
        _W + "definitions",
        {"name": "PushServerWS", "targetNamespace": RPC_NAMESPACE},
        nsmap={
            "wsdl": WSDL,
            "soap": WSDL_SOAP,
            "xsd": XSD,
            "SOAP-ENC": SOAP_ENC,
            "tns": RPC_NAMESPACE,
        },
    )
    _sub(root, _W + "documentation").text = "SMS gateway SOAP API (RPC/encoded)"
    schema = _sub(_sub(root, _W + "types"), _X + "schema", targetNamespace=RPC_NAMESPACE)
    _sub(schema, _X + "import", namespace=SOAP_ENC)
    _sub(schema, _X + "import", namespace=WSDL)
    array = _sub(schema, _X + "complexType", name="ArrayOfString")
    restriction = _sub(
        _sub(array, _X + "complexContent"), _X + "restriction", base="SOAP-ENC:Array"
    )
    attribute = _sub(restriction, _X + "attribute", ref="SOAP-ENC:arrayType")
    attribute.set(_W + "arrayType", "xsd:string[]")

    for op in ops:
        message = _sub(root, _W + "message", name=op.rpc + "Input")
        for p in (*op.auth_params("rpc"), *op.rpc_params()):
            name = callback_name if p.name == "callback" else p.rpc
            xsd_type = "tns:ArrayOfString" if p.type == "list" else "xsd:" + p.xsd_type("rpc")
            _sub(message, _W + "part", name=name, type=xsd_type)
        message = _sub(root, _W + "message", name=op.rpc + "Output")
        result = "tns:ArrayOfString" if op.rpc_array else "xsd:string"
        _sub(message, _W + "part", name="return", type=result)

    port_type = _sub(root, _W + "portType", name="PushServerWSPortType")
    for op in ops:
        operation = _sub(port_type, _W + "operation", name=op.rpc)
        _sub(operation, _W + "input", message=f"tns:{op.rpc}Input")
        _sub(operation, _W + "output", message=f"tns:{op.rpc}Output")

    binding = _sub(
        root, _W + "binding", name="PushServerWSBinding", type="tns:PushServerWSPortType"
    )
    _sub(binding, _WS + "binding", style="rpc", transport=SOAP_HTTP)
    for op in ops:
        operation = _sub(binding, _W + "operation", name=op.rpc)
        action = soap_action("rpc", op).strip('"')
        _sub(operation, _WS + "operation", soapAction=action, style="rpc")
        for direction in ("input", "output"):
            _sub(
                _sub(operation, _W + direction),
                _WS + "body",
                use="encoded",
                namespace=RPC_NAMESPACE,
                encodingStyle=SOAP_ENC,
            )

    service = _sub(root, _W + "service", name="PushServerWS")
    port = _sub(service, _W + "port", name="PushServerWSPort", binding="tns:PushServerWSBinding")
    _sub(port, _WS + "address", location=location)
    return _serialize(root)
