"""HTTP transports under the httpx API.

The package is built on httpx's transport API: ``AsyncTransport`` is an
``httpx.AsyncBaseTransport``, takes ``httpx.Request``s and raises httpx's exceptions, and the
stock path wraps ``httpx.AsyncHTTPTransport``. It imports httpx (and httpcore) through
``asms._compat`` like the rest of asms. What the layers above may use is declared in
``base`` (the types, the fast seams ``PreparedTransport`` and ``RawTransport``,
``reply_too_large``) and re-exported here; the other modules are its implementation.
Its defaults (pool limits, reply caps) live in ``asms._config``.

``AsyncTransport`` is the default: a keep-alive HTTP/1.1 pool with httptools parsing, whose
work per request does not grow with the number of connections. On asyncio its connections
are native asyncio protocols (``_aioconn``); on trio (any other anyio backend) anyio streams.
``make_transport`` picks it, or stock ``httpx.AsyncHTTPTransport`` when a proxy
is configured or stock is asked for (``use_stock=True`` or ``ASMS_TRANSPORT=httpx``).

What a failure says about the request (see ``request_was_sent``):

* never sent: ``ConnectError``/``ConnectTimeout`` (no byte of the request was written),
  ``PoolTimeout``, ``UnsupportedProtocol``, ``LocalProtocolError``;
* unknown: ``WriteError``/``WriteTimeout``/``ReadError``/``ReadTimeout``/
  ``RemoteProtocolError`` once bytes went out: the server may have acted on it;
* sent: a failure after part of the response arrived.

Replies are capped while they are read, on both transports: a body longer than
``MAX_REPLY_BYTES`` or a head longer than ``MAX_HEAD_BYTES`` (stock httpx: httpcore's 100 KiB)
fails with ``asms.ReplyParseError`` (a ``ProtocolError``: the request was sent and answered,
its outcome is unknown) as soon as that shows, and the connection is closed.

Stale keep-alive connections are caught *before* anything is written: an idle connection is
polled for readability (EOF, a reset or stray bytes) when it is taken from the pool, and
replaced if it fails. A connection that dies after the request was written is never retried
for POST (the request may have been processed); only idempotent methods are retried, once.

The fast path. Each optimised piece of the transport has a plain twin, the straightforward
code that must give the same exchange, and ``tests/transport/test_transport_fast_path.py``
holds them equal (every seam, connection kind and way of keeping timeouts, on the same
replies). The pairs, the fast piece first and its plain twin beside it::

    AsyncTransport.send_prepared(...)   handle_async_request(request), from serialized bytes
    AsyncTransport.send_raw(request)    handle_async_request(request), without the Response
    _aioconn.AsyncioConnection          _connection.Connection (anyio streams: what trio runs)
    Connection.exchange, keeper path    its cancel-scope path (a transport not entered)
    _default._Body                      httpx.ByteStream

``ConnectionPool.take``/``put`` are the synchronous first steps of ``acquire``/``release``,
so every request runs them. The wires' serialized requests come from ``asms._wire.fast``.
"""

from .._config import MAX_HEAD_BYTES, MAX_REPLY_BYTES, TRANSPORT_LIMITS
from ._default import TRANSPORT_ENV, AsyncTransport, make_transport, request_was_sent
from ._pool import OriginStatistics, PoolStatistics
from ._tls import create_ssl_context
from .base import (
    DEFAULT_PORTS,
    Exchange,
    Header,
    Origin,
    PreparedTransport,
    RawTransport,
    raw_transport,
    reply_too_large,
)

__all__ = [
    "DEFAULT_PORTS",
    "MAX_HEAD_BYTES",
    "MAX_REPLY_BYTES",
    "TRANSPORT_ENV",
    "TRANSPORT_LIMITS",
    "AsyncTransport",
    "Exchange",
    "Header",
    "Origin",
    "OriginStatistics",
    "PoolStatistics",
    "PreparedTransport",
    "RawTransport",
    "create_ssl_context",
    "make_transport",
    "raw_transport",
    "reply_too_large",
    "request_was_sent",
]
