"""What every wire implements and shares: the :class:`Wire` protocol and the exchange.

Three wires speak the same commands: the HTTP API (form POST, or GET when asked), SOAP
document/literal and SOAP RPC/encoded. Everything above this package (sessions, retries,
results) is the same for all three; a wire only builds the request and unwraps the answer.
Parameters are given by their canonical (HTTP) names from the operation table, list
parameters (``to``) as sequences.

This module holds the interface (:class:`Wire`, :data:`Params`, :data:`Prepared`), what the
wires share (:func:`check_params`, :func:`origin_of`), and the exchange with the transport
(:func:`roundtrip` and its variants, :func:`map_transport_error`). It imports none of the
wires that implement it.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeAlias, TypeVar

from .._compat import httpx
from .._config import MAX_REPLY_BYTES
from .._encoding import WireText
from .._exceptions import (
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    PoolTimeout,
    ReadTimeout,
    ReplyParseError,
    TLSError,
    TransportError,
    ValidationError,
    WriteTimeout,
)
from .._logging import redact
from .._optable import Operation
from .._transport import (
    DEFAULT_PORTS,
    Exchange,
    Origin,
    raw_transport,
    reply_too_large,
    request_was_sent,
)

__all__ = [
    "MAX_REPLY_BYTES",
    "Params",
    "Prepared",
    "R",
    "SendPrepared",
    "Wire",
    "check_params",
    "map_transport_error",
    "origin_of",
    "gateway_time",
    "roundtrip",
    "roundtrip_headers",
    "roundtrip_prepared",
]

R = TypeVar("R")
Params: TypeAlias = Mapping[str, "str | Sequence[str]"]
#: A POST serialized for ``AsyncTransport.send_prepared``: the whole head, and the body.
Prepared: TypeAlias = tuple[bytes, bytes]


def origin_of(url: httpx.URL) -> Origin:
    """(scheme, host, port) of ``url``, as the transport keys its connections."""
    scheme = url.raw_scheme
    return (scheme, url.raw_host, url.port or DEFAULT_PORTS.get(scheme, 0))


class Wire(Protocol):
    """What the client needs from a wire."""

    name: str
    #: Recipients one request may carry on this wire.
    max_recipients: int
    #: Whether the gateway behind it looks messages up by ``climsgid`` (an attempt of
    #: unknown outcome is then reconciled before a resend; without it, never resent).
    lookups: bool

    @property
    def letter(self) -> str | None:
        """Its letter in the operation table (``Param.wires``: ``h``, ``d``, ``r``); None
        for a wire with parameters of its own (the Platform wires)."""
        ...

    def encode_text(self, text: str) -> WireText:
        """The ``text`` value this wire sends, its ``unicode`` flag and its real cost."""
        ...

    def build(self, op: Operation, params: Params, auth: Mapping[str, str]) -> httpx.Request:
        """The request for ``op``; ``auth`` is a session id or the three credentials."""
        ...

    def unwrap(self, status: int, content: bytes) -> bytes | str:
        """The reply lines of an answer; raises for a status or envelope that is no reply."""
        ...

    def reader(self, op: Operation, parse: Callable[[bytes | str], R]) -> Callable[[Any], R]:
        """The parser of ``op``'s answer on this wire: ``parse`` (the legacy reply lines'
        parser) itself, or the wire's own parser giving the same reply types."""
        ...

    def prepare(self, op: Operation, params: Params, auth: Mapping[str, str]) -> Prepared | None:
        """The POST for ``op`` as serialized bytes (head, body), or None where only
        :meth:`build` applies; for transports that take prepared requests."""
        ...

    #: (scheme, host, port) of every request this wire builds.
    origin: Origin
    #: httpx's timeout dict for every request this wire builds.
    timeouts: dict[str, float | None]


def check_params(op: Operation, params: Params, letter: str, wire: str) -> None:
    """Refuse a parameter the operation does not have on this wire (``h``, ``d``, ``r``)."""
    for key in params:
        param = op.param(key)
        if param is None or param.name != key:
            raise ValidationError(key, f"is not a parameter of {op.name}")
        if letter not in param.wires:
            raise ValidationError(key, f"is not available for {op.name} on the {wire} wire")


# -- the exchange with the transport ---------------------------------------------------------


def _has_ssl_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # chains are short; never loop on a cyclic one
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(exc: BaseException) -> str:
    # The message of an httpx error names the failure (and perhaps host and port), never the
    # request; redact() removes any registered secret all the same.
    detail = redact(str(exc))[:200]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def map_transport_error(exc: Exception) -> TransportError:
    """The asms exception for an httpx (or OS) failure; the original is not chained."""
    message = _describe(exc)
    sent = request_was_sent(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectTimeout(message)
    if isinstance(exc, httpx.PoolTimeout):
        return PoolTimeout(message)
    if isinstance(exc, httpx.WriteTimeout):
        return WriteTimeout(message)
    if isinstance(exc, httpx.TimeoutException):
        return ReadTimeout(message)
    if _has_ssl_error(exc):
        return TLSError(message)
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return ConnectError(message)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        error = ConnectError(message)
        error.retryable = False  # the request cannot be sent as built: retrying won't help
        return error
    # Read/write errors, a connection closed mid-answer, an incomplete body: the gateway may
    # have acted on the request. ``sent=True`` (part of an answer came) is no better.
    return ConnectionLost(message, sent=False if sent is False else None)


def gateway_time(headers: Sequence[tuple[bytes, bytes]]) -> float | None:
    """The server's clock (unix seconds) from an answer's ``Date`` header; None without a
    valid one. Read only for answers that need the gateway's "now" (``ERR 130``)."""
    for name, value in headers:
        if name.lower() == b"date":
            try:
                when = parsedate_to_datetime(value.decode("latin-1"))
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:  # "-0000": no zone given; HTTP dates are GMT
                when = when.replace(tzinfo=UTC)
            return when.timestamp()
    return None


async def roundtrip(
    transport: httpx.AsyncBaseTransport, request: httpx.Request
) -> tuple[int, bytes]:
    """Send one request through the transport itself (not ``httpx.AsyncClient.send``).

    Returns the status and body. Failures come out as asms ``TransportError``s raised
    outside the ``except`` block, so neither ``__cause__`` nor ``__context__`` leads back to
    the httpx exception and the request it holds.
    """
    status, _headers, content = await roundtrip_headers(transport, request)
    return status, content


async def roundtrip_headers(
    transport: httpx.AsyncBaseTransport, request: httpx.Request
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """:func:`roundtrip`, with the answer's raw headers."""
    error: TransportError | None = None
    raw = raw_transport(transport)
    try:
        if raw is not None:  # asms's own transport: no httpx.Response is built
            status, headers, content, _reason, _version = await raw.send_raw(request)
            if len(content) > MAX_REPLY_BYTES:
                raise reply_too_large(MAX_REPLY_BYTES)
            return status, headers, content
        response = await transport.handle_async_request(request)
        try:
            content = await _read_capped(response)
        finally:
            await response.aclose()
        return response.status_code, response.headers.raw, content
    except (httpx.HTTPError, OSError) as exc:
        error = map_transport_error(exc)
    raise error


SendPrepared: TypeAlias = Callable[
    [Origin, str, bytes, bytes, Mapping[str, Any]], Awaitable[Exchange]
]


async def roundtrip_prepared(
    send: SendPrepared, origin: Origin, prepared: Prepared, timeouts: Mapping[str, Any]
) -> tuple[int, bytes]:
    """:func:`roundtrip` for a prepared POST, through ``AsyncTransport.send_prepared``."""
    error: TransportError | None = None
    head, body = prepared
    try:
        status, _headers, content, _reason, _version = await send(
            origin, "POST", head, body, timeouts
        )
    except (httpx.HTTPError, OSError) as exc:
        error = map_transport_error(exc)
    else:
        if len(content) > MAX_REPLY_BYTES:
            raise reply_too_large(MAX_REPLY_BYTES)
        return status, content
    raise error


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise ReplyParseError("the transport returned a synchronous response stream")
    async for chunk in stream:
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise reply_too_large(MAX_REPLY_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)
