"""Client side of the SOAP wires: `build_request` and `parse_response`."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from .._config import MAX_REPLY_BYTES
from .._exceptions import SOAPFault
from .._optable import DL_NAMESPACE, OPERATIONS, RPC_NAMESPACE, Operation, Param
from .._xml import SOAP_ENC, XSI_NIL, XMLRejected, local_name, parse_xml
from .envelope import (
    _ARRAY_TYPE,
    _BODY,
    _DL_NSMAP,
    _ENCODING_STYLE,
    _ENVELOPE,
    _ITEM_ATTRIB,
    _RPC_NSMAP,
    _XSI_TYPE,
    CONTENT_TYPE,
    SOAPParseError,
    Style,
    _body_element,
    _value,
    soap_action,
)

__all__ = ["build_request", "parse_response"]


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
            etree.SubElement(wrapper, element, {XSI_NIL: "true", _XSI_TYPE: xsi_type})
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
                del element.attrib[XSI_NIL]
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


# -- client: responses ----------------------------------------------------------------------


def _text(element: etree._Element, inner: str) -> str:
    """An element's text, or that of its `inner` children (SOAP 1.2 ``Code/Value``)."""
    text = (element.text or "").strip()
    if text:
        return text
    return "".join((c.text or "") for c in element if local_name(c.tag) == inner).strip()


def _fault_error(fault: etree._Element) -> SOAPFault:
    """Read a SOAP 1.1 (faultcode/faultstring/detail) or 1.2 (Code/Reason/Detail) fault."""
    code = string = ""
    detail: str | None = None
    for child in fault:
        name = local_name(child.tag)
        if name in ("faultcode", "Code"):
            code = _text(child, "Value")
        elif name in ("faultstring", "Reason"):
            string = _text(child, "Text")
        elif name in ("detail", "Detail"):
            text = etree.tostring(child, method="text", encoding="unicode", with_tail=False)
            detail = text.strip()[:500] or None
    return SOAPFault(code.rpartition(":")[2] or "Server", string[:500], detail)


def parse_response(body: bytes, *, max_bytes: int = MAX_REPLY_BYTES) -> list[str]:
    """The reply lines in a SOAP answer of either style, in order.

    Reads every ``<return>`` (repeated on document/literal; a string or an array of
    ``<item>`` on RPC/encoded), splits values on line breaks and drops blank lines, so a
    server that puts a whole multi-line HTTP body in one string reads the same.
    Raises ``asms.SOAPFault`` for a SOAP Fault and `SOAPParseError` for anything else that
    is not an answer (a body over ``max_bytes`` included).
    """
    try:
        root = parse_xml(body, max_bytes=max_bytes)
    except XMLRejected as exc:
        raise SOAPParseError(f"SOAP answer is not acceptable XML: {exc}") from None
    result = _body_element(root, SOAPParseError)
    if local_name(result.tag) == "Fault":
        raise _fault_error(result)
    returns = [child for child in result if local_name(child.tag) == "return"]
    if not returns:
        # Toolkits that name the output part after the operation (``sendmsgReturn``).
        returns = list(result)
    if not returns:
        raise SOAPParseError(f"SOAP answer {local_name(result.tag)!r} carries no return value")
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
