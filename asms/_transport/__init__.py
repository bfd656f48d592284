"""HTTP transports under the httpx API.

``AsyncTransport`` is the default: a keep-alive HTTP/1.1 pool on anyio whose cost per request
does not grow with the number of connections. ``make_transport`` picks it, or stock httpx when
a proxy is configured or asked for.
"""

from ._config import DEFAULT_LIMITS, create_ssl_context
from ._default import AsyncTransport, make_transport, request_was_sent
from ._pool import OriginStatistics, PoolStatistics

__all__ = [
    "DEFAULT_LIMITS",
    "AsyncTransport",
    "OriginStatistics",
    "PoolStatistics",
    "create_ssl_context",
    "make_transport",
    "request_was_sent",
]
