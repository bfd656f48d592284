"""The wire layer's fast path (``asms._wire.fast``) against its plain twins: prepared requests
(head and body as bytes) are the very bytes ``build()`` describes."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asms._numbers import Numbers, normalize_list
from asms._optable import OPERATIONS
from asms._soap.server import _NOT_XML, _xml_text
from asms._transport._http11 import build_head
from asms._wire import HTTPWire, SOAPWire, encode_form, form_body, form_pairs, origin_of, post_head

TIMEOUT = httpx.Timeout(5.0)
AUTH = {"session_id": "0123456789abcdef0123456789abcdef"}
CREDENTIALS = {"api_id": "1234", "user": "demo user", "password": "p&ss=wörd"}


def _same_bytes(wire: HTTPWire | SOAPWire, op: str, params: dict, auth: dict) -> None:  # type: ignore[type-arg]
    prepared = wire.prepare(OPERATIONS[op], params, auth)
    assert prepared is not None
    head, body = prepared
    request = wire.build(OPERATIONS[op], params, auth)
    assert body == request.content
    assert head == build_head("POST", request.url, request.headers.raw)
    assert wire.origin == (b"https", b"api.example.test", 8443)
    assert wire.timeouts == TIMEOUT.as_dict()


VALUES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30)


@given(text=VALUES, sender=VALUES)
def test_http_prepare_matches_build(text: str, sender: str) -> None:
    wire = HTTPWire(httpx.URL("https://api.example.test:8443/base/"), timeout=TIMEOUT)
    params = {"to": ["27820000000", "27820000001"], "text": text, "from": sender}
    _same_bytes(wire, "sendmsg", params, AUTH)
    _same_bytes(wire, "auth", {}, CREDENTIALS)


def test_clean_number_list_goes_out_as_joined_by_the_normaliser() -> None:
    wire = HTTPWire(httpx.URL("https://api.example.test:8443/base/"), timeout=TIMEOUT)
    numbers = [str(27820000000 + i) for i in range(600)]
    clean = normalize_list(numbers)
    assert type(clean) is Numbers
    params = {"to": clean, "text": "hi there", "climsgid": "c1"}
    prepared = wire.prepare(OPERATIONS["sendmsg"], params, AUTH)
    assert prepared is not None
    assert prepared[1] == wire.build(OPERATIONS["sendmsg"], dict(params, to=numbers), AUTH).content
    assert b"&to=" + ",".join(numbers).encode() + b"&" in prepared[1]


@pytest.mark.parametrize("style", ["dl", "rpc"])
def test_soap_prepare_matches_build(style: str) -> None:
    wire = SOAPWire(
        httpx.URL("https://api.example.test:8443"),
        style=style,
        timeout=TIMEOUT,  # type: ignore[arg-type]
    )
    for _ in range(2):  # the second time from the cached head
        _same_bytes(wire, "sendmsg", {"to": ["27820000000"], "text": "a < b & c"}, AUTH)
        _same_bytes(wire, "querymsg", {"climsgid": "abc"}, AUTH)


def test_get_wire_prepares_only_credential_requests_as_posts() -> None:
    wire = HTTPWire(httpx.URL("http://gateway"), method="GET", timeout=TIMEOUT)
    assert wire.prepare(OPERATIONS["getbalance"], {}, AUTH) is None
    assert wire.prepare(OPERATIONS["auth"], {}, CREDENTIALS) is not None


def test_parameter_names_need_no_form_escaping() -> None:
    # The prepared form writes names as they are: every name must be a plain word.
    plain = re.compile(r"[A-Za-z0-9_]+")
    names = {p.name for op in OPERATIONS.values() for p in op.params} | set(CREDENTIALS)
    assert names and all(plain.fullmatch(name) for name in names)


def test_origin_and_head_helpers() -> None:
    assert origin_of(httpx.URL("http://h")) == (b"http", b"h", 80)
    assert origin_of(httpx.URL("https://h")) == (b"https", b"h", 443)
    head = post_head(httpx.URL("http://h/x"), b"h", [(b"A", b"1")])
    assert head == b"POST /x HTTP/1.1\r\nHost: h\r\nA: 1\r\nContent-Length: "
    with pytest.raises(ValueError, match="line break"):
        post_head(httpx.URL("http://h/x"), b"h", [(b"A", b"1\r\nB: 2")])


# -- each fast function against its plain twin ------------------------------------------------

NAMES = st.from_regex(r"[a-z][a-z_0-9]{0,11}", fullmatch=True)
ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
PLAIN = st.text("abcXYZ0189", min_size=1, max_size=12)
VALUES_OF_EVERY_KIND = st.one_of(
    ANY_TEXT,
    PLAIN,
    st.lists(st.one_of(PLAIN, ANY_TEXT), max_size=5),
    st.lists(st.integers(27_000_000_000, 27_999_999_999).map(str), min_size=1, max_size=20).map(
        normalize_list
    ),
)


@given(
    auth=st.dictionaries(NAMES, st.one_of(PLAIN, ANY_TEXT), max_size=3),
    params=st.dictionaries(NAMES, VALUES_OF_EVERY_KIND, max_size=6),
)
def test_form_body_is_its_plain_twin(auth: dict[str, str], params: dict) -> None:  # type: ignore[type-arg]
    plain = encode_form(form_pairs(auth, params))
    assert form_body(auth, params) == plain
    assert form_body(auth, params) == plain  # again, from the remembered escapes


@given(
    path=st.from_regex(r"(/[A-Za-z0-9._~%-]{0,12}){0,3}", fullmatch=True),
    port=st.sampled_from([None, 80, 8443]),
    headers=st.lists(
        st.tuples(
            st.from_regex(rb"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
            st.from_regex(rb"[ -~]{0,30}", fullmatch=True).map(bytes.strip),
        ),
        max_size=4,
    ),
    length=st.integers(0, 10**7),
)
def test_post_head_is_the_transports_head(
    path: str, port: int | None, headers: list[tuple[bytes, bytes]], length: int
) -> None:
    url = httpx.URL(f"https://gw.example.test{'' if port is None else f':{port}'}{path}")
    host = url.netloc
    fast = post_head(url, host, headers) + b"%d\r\n\r\n" % length
    framed = [(b"Host", host), *headers, (b"Content-Length", b"%d" % length)]
    assert fast == build_head("POST", url, framed)


@given(
    text=st.text(st.characters(exclude_categories=("Cs",)))
    | st.text(st.characters(max_codepoint=127))
)
def test_soap_answer_text_is_its_plain_twin(text: str) -> None:
    assert _xml_text(text) == _NOT_XML.sub("\ufffd", escape(text))
