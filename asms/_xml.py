"""Hardened XML parsing for everything asms reads off a wire (SOAP envelopes, XML callbacks).

The gateway's XML never needs a DTD, so any document that declares one is refused outright:
that single rule removes XXE (external entities), billion-laughs (entity expansion),
external DTD fetches and parameter entities. The raw bytes are checked *before* parsing, so
an entity bomb is never handed to libxml2, and the parsed tree is checked again afterwards in
case the declaration was hidden by an encoding the byte check does not see.
"""

from __future__ import annotations

import re

from lxml import etree

from ._config import MAX_XML_BYTES

__all__ = [
    "SOAP_ENC",
    "SOAP_ENV",
    "XSD",
    "XSD_TRUE",
    "XSI",
    "XSI_NIL",
    "XMLRejected",
    "local_name",
    "parse_xml",
]

# The standard namespaces SOAP 1.1 envelopes use: the SOAP wires write and read them, and so
# do the callbacks the gateway (and the emulator) sends as SOAP.
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENC = "http://schemas.xmlsoap.org/soap/encoding/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
#: ``xsi:nil`` in Clark notation, as lxml names attributes.
XSI_NIL = f"{{{XSI}}}nil"
#: The spellings of an ``xsd:boolean`` true (``xsi:nil="1"`` is as nil as ``"true"``).
XSD_TRUE = ("true", "1")

if etree.LXML_VERSION < (6, 1):  # pragma: no cover - guarded by the dependency pin
    raise ImportError("asms needs lxml >= 6.1 (older releases have known XML security issues)")


class XMLRejected(ValueError):
    """The document was refused: too large, unsafe (DTD, entities) or not well-formed XML."""


# One parser for the whole process. lxml serialises use of a parser object internally, and
# everything asms parses is small, so sharing it costs nothing and avoids a per-call setup.
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)

# `<!DOCTYPE` / `<!ENTITY` anywhere, in any case. libxml2 tolerates no whitespace between `<!`
# and the keyword, so this is the complete form.
_DTD_MARKUP = re.compile(rb"<!(?:doctype|entity)", re.IGNORECASE)


def _declares_dtd(data: bytes) -> bool:
    if _DTD_MARKUP.search(data) is not None:
        return True
    # UTF-16/UTF-32 spell ASCII markup with NUL bytes in between; dropping the NULs exposes it.
    # (Any other encoding that hides the markup is caught by the check after parsing.)
    # `0 in data` is a memchr for a NUL byte.
    return 0 in data and _DTD_MARKUP.search(data.replace(b"\x00", b"")) is not None


def _has_dtd(root: etree._Element) -> bool:
    # libxml2 records every DOCTYPE declaration, internal subset or not, as the internal DTD.
    # (The stubs call these attributes non-optional; they are None without a DOCTYPE.)
    info = root.getroottree().docinfo
    internal: etree.DTD | None = info.internalDTD
    external: etree.DTD | None = info.externalDTD
    return internal is not None or external is not None


def parse_xml(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse an untrusted XML document and return its root element.

    Raises `XMLRejected` for a body over `max_bytes` (checked before anything else), any
    DOCTYPE or ENTITY declaration, any entity reference, and malformed XML. Never reads a file
    or opens a connection.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"parse_xml() needs bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise XMLRejected(f"XML document of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    if _declares_dtd(data):
        raise XMLRejected("XML documents with a DOCTYPE or ENTITY declaration are refused")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        # lxml names the structural problem (tag or entity names, positions), never text.
        raise XMLRejected(f"malformed XML: {exc.msg}") from None
    if root is None:  # pragma: no cover - fromstring raises on an empty document
        raise XMLRejected("empty XML document")
    if _has_dtd(root):
        raise XMLRejected("XML documents with a DOCTYPE or ENTITY declaration are refused")
    # Without a DTD an entity reference cannot be declared, so libxml2 has already rejected
    # any `&name;` other than the five predefined ones: nothing left to walk for.
    return root


def local_name(tag: object) -> str:
    """The local part of a Clark-notation tag (``{ns}name`` -> ``name``); ``""`` for a
    comment or processing instruction, whose tag is not a string."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""
