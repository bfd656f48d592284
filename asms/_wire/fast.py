"""The wire layer's fast path, in one place: requests serialized straight to bytes.

What is here: the parts of ``Wire.prepare``, which serializes a POST (its head and body) for
a :class:`asms._transport.PreparedTransport` instead of building an ``httpx.Request`` that
the transport would serialize again: :func:`post_head`, a request head built once per
operation, and :func:`form_body`, the HTTP wire's form with plain values written as they are
and escaped values remembered.

Why: a client sends the same few operations, with the same texts, over and over; building
and serializing an ``httpx.Request`` for each costs more than the rest of a request's work.

The rule: every function here has a plain twin, the straightforward code that gives the same
bytes, and ``tests/wire/test_wire_fast_path.py`` holds the two equal on many inputs. The
pairs, the fast function first and its plain twin beside it::

    form_body(auth, params)          http.encode_form(http.form_pairs(auth, params))
    post_head(url, host, headers)    the transport's build_head("POST", url, [Host, *headers,
                                     Content-Length]) up to the length's value
    HTTPWire.prepare(op, p, auth)    HTTPWire.build(op, p, auth): the same head and body
    SOAPWire.prepare(op, p, auth)    SOAPWire.build(op, p, auth): the same head and body

Both wires' ``prepare`` methods use the two functions here and keep their heads per
operation; the twins are what ``build`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._compat import httpx
from .._forms import plain_list, quote_any, quote_form_value
from .._numbers import Numbers
from .base import Params

__all__ = ["form_body", "post_head"]


def post_head(url: httpx.URL, host: bytes, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The head of a POST to ``url`` up to the ``Content-Length`` value (appended per request).

    Built once per operation from trusted parts (the operation table, an ``httpx.URL``);
    checked all the same, since a line break would split the head.
    """
    lines = [b"POST " + (url.raw_path or b"/") + b" HTTP/1.1", b"Host: " + host]
    lines += [name + b": " + value for name, value in headers]
    head = b"\r\n".join(lines) + b"\r\nContent-Length: "
    if head.count(b"\n") != len(lines) or head.count(b"\r") != len(lines):
        raise ValueError("line break in a request header")
    return head


# Values that needed escaping, by value: the same text goes out request after request.
_QUOTED: dict[str, str] = {}


def _quote_value(value: str) -> str:
    try:
        return quote_form_value(value, "latin-1")
    except UnicodeEncodeError:
        return quote_any(value)


def _form_value(value: str) -> str:
    """A form value that is not plain alphanumeric ASCII (those go out as they are)."""
    quoted = _QUOTED.get(value)
    if quoted is not None:
        return quoted
    quoted = _quote_value(value)
    if len(value) <= 1024:  # texts, not 600-number lists
        if len(_QUOTED) >= 512:
            _QUOTED.clear()
        _QUOTED[value] = quoted
    return quoted


def form_body(auth: Mapping[str, str], params: Params) -> bytes:
    """The form for ``auth`` + ``params``. Their names are the operation table's parameter
    names (checked before this is called) and the fixed auth names: plain ASCII words that
    need no escaping, so only the values are encoded."""
    fields: list[str] = []
    add = fields.append
    for key, value in auth.items():
        # Plain ASCII letters and digits (ids, session ids, numbers) go out as they are.
        if value.isascii() and value.encode("ascii").isalnum():
            add(f"{key}={value}")
        else:
            add(f"{key}={_quote_value(value)}")  # credentials: escaped each time, never kept
    for key, given in params.items():
        if isinstance(given, str):
            if given.isascii() and given.encode("ascii").isalnum():
                add(f"{key}={given}")
            else:
                add(f"{key}={_QUOTED.get(given) or _form_value(given)}")
        elif type(given) is Numbers:  # clean digits, joined once by the normaliser
            add(f"{key}={given.joined}")
        else:  # a list (the recipients): commas need no escaping
            value = ",".join(given)
            add(f"{key}={value if plain_list(value) else _form_value(value)}")
    return "&".join(fields).encode("ascii")
