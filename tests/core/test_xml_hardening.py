"""Untrusted XML: no file reads, no network, no entity expansion, no unbounded input."""

from __future__ import annotations

import re
import resource
import secrets
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from asms import _xml
from asms._config import MAX_XML_BYTES
from asms._soap import DL_ENDPOINT, SOAPClientFault, SOAPParseError, parse_request, parse_response
from asms._xml import XMLRejected, parse_xml

MB = 1024 * 1024


@pytest.fixture
def canary(tmp_path: Path) -> tuple[Path, str]:
    secret = "CANARY-" + secrets.token_hex(8)
    path = tmp_path / "secret.txt"
    path.write_text(secret)
    return path, secret


@pytest.fixture
def listener() -> Iterator[tuple[int, socket.socket]]:
    """A local TCP port that records whether anything tried to connect to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    try:
        yield server.getsockname()[1], server
    finally:
        server.close()


def nobody_connected(server: socket.socket) -> bool:
    # libxml2 would connect synchronously while parsing, so a connection attempt is in the
    # backlog by now; nothing to wait for.
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


@pytest.fixture(params=["byte-check", "parser-only"])
def layer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each attack twice: as shipped, and with the pre-parse byte check disabled, to show
    that the parser configuration and the post-parse check hold on their own."""
    if request.param == "parser-only":
        monkeypatch.setattr(_xml, "_DTD_MARKUP", re.compile(rb"(?!)"))
    return str(request.param)


def billion_laughs(levels: int = 10) -> bytes:
    entities = ['<!ENTITY lol0 "lol">']
    for i in range(1, levels):
        entities.append(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">')
    return (
        f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(entities)}]>'
        f"<lolz a='&lol{levels - 1};'>&lol{levels - 1};</lolz>"
    ).encode()


# -- external entities (XXE) ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["text", "attribute"])
def test_external_entity_file_is_never_read(
    canary: tuple[Path, str], layer: str, where: str
) -> None:
    path, secret = canary
    use = "<r>&x;</r>" if where == "text" else "<r a='&x;'/>"
    doc = f'<!DOCTYPE r [<!ENTITY x SYSTEM "{path.as_uri()}">]>{use}'.encode()
    with pytest.raises(XMLRejected) as info:
        parse_xml(doc)
    assert secret not in str(info.value)


def test_the_parser_itself_does_not_resolve_external_entities(canary: tuple[Path, str]) -> None:
    # Even handed straight to the shared parser (no asms checks at all), the file stays unread.
    path, secret = canary
    doc = f'<!DOCTYPE r [<!ENTITY x SYSTEM "{path.as_uri()}">]><r>&x;</r>'.encode()
    root = etree.fromstring(doc, _xml._PARSER)
    assert secret not in etree.tostring(root, encoding="unicode")
    assert secret not in "".join(root.itertext())
    assert [type(node) for node in root] == [etree._Entity]  # left as an unresolved reference


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_doctype_hidden_by_a_wide_encoding_is_refused(
    canary: tuple[Path, str], layer: str, encoding: str
) -> None:
    path, secret = canary
    label = "UTF-32" if encoding.startswith("utf-32") else "UTF-16"
    doc = (
        f'<?xml version="1.0" encoding="{label}"?>'
        f'<!DOCTYPE r [<!ENTITY x SYSTEM "{path.as_uri()}">]><r>&x;</r>'
    ).encode(encoding)
    with pytest.raises(XMLRejected) as info:
        parse_xml(doc)
    assert secret not in str(info.value)


def test_xinclude_is_not_processed(canary: tuple[Path, str]) -> None:
    path, secret = canary
    doc = (
        '<r xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="{path.as_uri()}" parse="text"/></r>'
    ).encode()
    root = parse_xml(doc)
    assert secret not in etree.tostring(root, encoding="unicode")


# -- network: external DTDs, parameter entities ----------------------------------------------------


def test_external_dtd_is_refused_without_network(
    listener: tuple[int, socket.socket], layer: str
) -> None:
    port, server = listener
    doc = f'<!DOCTYPE x SYSTEM "http://127.0.0.1:{port}/x.dtd"><x/>'.encode()
    with pytest.raises(XMLRejected):
        parse_xml(doc)
    assert nobody_connected(server)


def test_parameter_entities_are_refused_without_network(
    listener: tuple[int, socket.socket], layer: str
) -> None:
    port, server = listener
    doc = (
        f'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;'
        f"<!ENTITY % q \"<!ENTITY leak SYSTEM 'http://127.0.0.1:{port}/q'>\"> %q;]>"
        "<x>&leak;</x>"
    ).encode()
    with pytest.raises(XMLRejected):
        parse_xml(doc)
    assert nobody_connected(server)


def test_external_http_entity_is_refused_without_network(
    listener: tuple[int, socket.socket], layer: str
) -> None:
    port, server = listener
    doc = f'<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:{port}/e">]><x>&e;</x>'.encode()
    with pytest.raises(XMLRejected):
        parse_xml(doc)
    assert nobody_connected(server)


# -- expansion bombs and size ------------------------------------------------------------------


def test_billion_laughs_is_refused_without_expanding(layer: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        with pytest.raises(XMLRejected):
            parse_xml(billion_laughs())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * MB
    # libxml2's own allocations are invisible to tracemalloc: the process peak must not jump.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024


def test_quadratic_blowup_is_refused(layer: str) -> None:
    big = "x" * 50_000
    doc = f'<!DOCTYPE r [<!ENTITY a "{big}">]><r>{"&a;" * 15_000}</r>'.encode()
    assert len(doc) < MAX_XML_BYTES
    with pytest.raises(XMLRejected):
        parse_xml(doc)


def test_fifty_megabytes_are_refused_before_parsing() -> None:
    body = b"<x>" + b"a" * (50 * 1000 * 1000) + b"</x>"
    tracemalloc.start()
    try:
        with pytest.raises(XMLRejected, match="exceeds"):
            parse_xml(body)
        with pytest.raises(SOAPClientFault, match="exceeds"):
            parse_request(body, path=DL_ENDPOINT)
        with pytest.raises(SOAPParseError, match="exceeds"):
            parse_response(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * MB  # nothing was copied or parsed


def test_size_limit_is_inclusive() -> None:
    exact = b"<x>" + b"a" * (MAX_XML_BYTES - 7) + b"</x>"
    assert len(exact) == MAX_XML_BYTES
    assert parse_xml(exact).text == "a" * (MAX_XML_BYTES - 7)
    with pytest.raises(XMLRejected):
        parse_xml(exact + b" ")
    with pytest.raises(XMLRejected):
        parse_xml(b"<x>abc</x>", max_bytes=5)


def test_excessive_nesting_is_refused() -> None:
    with pytest.raises(XMLRejected):
        parse_xml(b"<a>" * 10_000 + b"</a>" * 10_000)


# -- what stays allowed, what else is refused ------------------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [
        b"<!doctype x><x/>",
        b"<!DocType x><x/>",
        b'<x><![CDATA[<!ENTITY y "z">]]></x>',  # refused too: no legitimate reply needs it
        b"<x>&undefined;</x>",
        b"<x a='&undefined;'/>",
        b"",
        b"<x>",
        b"\xff\xfe\x00",
    ],
)
def test_refused(doc: bytes) -> None:
    with pytest.raises(XMLRejected):
        parse_xml(doc)


def test_predefined_entities_character_references_and_encodings_are_fine() -> None:
    assert parse_xml(b"<x>&lt;&amp;&gt;&quot;&apos;&#65;&#x42;</x>").text == "<&>\"'AB"
    latin1 = '<?xml version="1.0" encoding="ISO-8859-1"?><x>caf\xe9</x>'.encode("latin-1")
    assert parse_xml(latin1).text == "café"
    assert parse_xml("<x>ΩΣ😀</x>".encode("utf-16")).text == "ΩΣ😀"


def test_comments_and_processing_instructions_are_dropped() -> None:
    root = parse_xml(b"<?xml version='1.0'?><x><!-- c --><?pi data?>t<y/></x>")
    assert root.text == "t"
    assert [child.tag for child in root] == ["y"]


def test_only_bytes_are_accepted() -> None:
    with pytest.raises(TypeError):
        parse_xml("<x/>")  # type: ignore[arg-type]


def test_lxml_is_recent_enough() -> None:
    assert etree.LXML_VERSION >= (6, 1)


def test_soap_layers_refuse_unsafe_xml(canary: tuple[Path, str]) -> None:
    path, secret = canary
    doc = f'<!DOCTYPE r [<!ENTITY x SYSTEM "{path.as_uri()}">]><r>&x;</r>'.encode()
    with pytest.raises(SOAPClientFault) as server:
        parse_request(doc, path=DL_ENDPOINT)
    with pytest.raises(SOAPParseError) as client:
        parse_response(doc)
    assert secret not in str(server.value) and secret not in str(client.value)
    with pytest.raises(SOAPParseError):
        parse_response(billion_laughs())
