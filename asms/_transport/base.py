"""What the layers above the transport may rely on: its types, its two fast seams, its errors.

The wires and the client use a transport through httpx's ``AsyncBaseTransport`` API, and two
optional seams that skip building ``httpx`` objects where a transport offers them:

* :class:`RawTransport`: ``send_raw(request)`` answers with a tuple instead of an
  ``httpx.Response``;
* :class:`PreparedTransport`: ``send_prepared(origin, method, head, body, timeouts)`` takes a
  request whose head is already serialized (the wires build the same few heads over and over).

asms's own ``AsyncTransport`` offers both; stock httpx transports and the emulator's offer
neither, and get the plain httpx path. A runtime ``isinstance`` against a protocol inspects
the object's attributes on every call, so callers check once: the client when it is set up,
:func:`raw_transport` once per transport class.

Nothing here imports the modules that implement the transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Any, Final, Protocol, TypeAlias, cast, runtime_checkable

from .._compat import httpx
from .._exceptions import ReplyParseError

__all__ = [
    "DEFAULT_PORTS",
    "Exchange",
    "Header",
    "Origin",
    "PreparedTransport",
    "RawTransport",
    "raw_transport",
    "reply_too_large",
]

#: One header as it goes over the wire: (name, value).
Header: TypeAlias = tuple[bytes, bytes]
#: (scheme, host, port) of a request, as in its URL: how connections are keyed.
Origin: TypeAlias = tuple[bytes, bytes, int]
#: The port of an origin whose URL names none, by scheme (the only schemes a transport takes).
DEFAULT_PORTS: Final = {b"http": 80, b"https": 443}
#: One answered request: (status, raw headers, body, reason phrase, HTTP version).
Exchange: TypeAlias = tuple[int, list[Header], bytes, bytes, bytes]


@runtime_checkable
class RawTransport(Protocol):
    """A transport that answers an ``httpx.Request`` without building an ``httpx.Response``."""

    async def send_raw(self, request: httpx.Request) -> Exchange:
        """Send ``request``; return (status, raw headers, body, reason, HTTP version)."""
        ...


@runtime_checkable
class PreparedTransport(Protocol):
    """A transport that sends requests whose head the caller has serialized already."""

    async def send_prepared(
        self,
        origin: Origin,
        method: str,
        head: bytes,
        body: bytes | None,
        timeouts: Mapping[str, Any],
        *,
        stream: AsyncIterable[bytes] | None = None,
        chunked: bool = False,
    ) -> Exchange:
        """Send a request whose head is already serialized; return the :data:`Exchange`.

        ``head`` is a complete HTTP/1.1 request head (request line, ``Host``, the body's
        framing header, the blank line); ``origin`` is ``(scheme, host, port)``;
        ``timeouts`` is a dict as in httpx's ``request.extensions["timeout"]``. A body given
        as ``stream`` is sent after the head (chunk-framed when ``chunked``).
        """
        ...


# By transport class: what an isinstance() against the protocol would answer, asked once.
_SENDS_RAW: dict[type[object], bool] = {}


def raw_transport(transport: httpx.AsyncBaseTransport) -> RawTransport | None:
    """``transport`` as a :class:`RawTransport` if its class is one, else None."""
    kind = type(transport)
    sends_raw = _SENDS_RAW.get(kind)
    if sends_raw is None:
        sends_raw = _SENDS_RAW[kind] = issubclass(kind, RawTransport)
    return cast(RawTransport, transport) if sends_raw else None


def reply_too_large(limit: int, part: str = "reply") -> ReplyParseError:
    """The error for a reply refused for its size: the request was sent and answered, so its
    outcome is unknown (a ``ProtocolError``: reconciled, never resent blindly)."""
    return ReplyParseError(f"{part} larger than {limit} bytes")
