"""Stock httpx's transport (for proxies, or when asked for), its replies capped as they are read.

httpcore already refuses a head longer than its own limit, but as a plain
``RemoteProtocolError``, and streams bodies of any length: here the first becomes the
``ReplyParseError`` that asms's own transport raises for an oversized reply, and a body is
refused as soon as its announced or received length passes the cap. A refused reply's
connection is closed (httpcore drops a connection whose response was closed unfinished).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .._compat import httpcore, httpx
from .._config import MAX_REPLY_BYTES
from .base import reply_too_large

__all__ = ["STOCK_HEAD_LIMIT", "StockTransport"]

#: httpcore's limit on an incomplete HTTP/1.1 event (the whole head, or one framing line).
STOCK_HEAD_LIMIT: int = getattr(
    httpcore.AsyncHTTP11Connection, "MAX_INCOMPLETE_EVENT_SIZE", 100 * 1024
)
# h11 marks its "receive buffer too long" error with the status a server would answer.
_TOO_LARGE_HINT = 431


def _head_too_long(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # httpx → httpcore → h11: chains are short; never loop on a cycle
        if seen is None:
            return False
        if getattr(seen, "error_status_hint", None) == _TOO_LARGE_HINT:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class StockTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose reply bodies are capped at ``max_reply_bytes``."""

    def __init__(self, *, max_reply_bytes: int = MAX_REPLY_BYTES, **options: Any) -> None:
        super().__init__(**options)
        self._max_reply = max_reply_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        refused = False
        try:
            response = await super().handle_async_request(request)
        except httpx.RemoteProtocolError as exc:
            if not _head_too_long(exc):
                raise
            refused = True
        if refused:  # raised outside the except clause: no context leads to the request
            raise reply_too_large(STOCK_HEAD_LIMIT, "reply head")
        limit = self._max_reply
        announced = response.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > limit and request.method != "HEAD":
            await response.aclose()
            raise reply_too_large(limit)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # what httpx's own transport returns
        response.stream = _CappedStream(stream, limit)
        return response


class _CappedStream(httpx.AsyncByteStream):
    __slots__ = ("_limit", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        limit = self._limit
        async for chunk in self._stream:
            size += len(chunk)
            if size > limit:
                break
            yield chunk
        else:
            return
        await self._stream.aclose()  # closes the connection: its reply was not read to the end
        raise reply_too_large(limit)

    async def aclose(self) -> None:
        await self._stream.aclose()
