"""HTTP/1.1 framing: request heads out, responses in (httptools/llhttp does the parsing)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import httptools

from .._compat import httpx
from .._config import MAX_HEAD_BYTES, MAX_REPLY_BYTES
from .._exceptions import ReplyParseError
from .base import Header, reply_too_large

__all__ = [
    "COALESCE_LIMIT",
    "DEFAULT_REPLY_LIMITS",
    "ReplyLimits",
    "ResponseReader",
    "build_head",
    "chunk_frame",
    "framing",
]

ReplyLimits = tuple[int, int]  # the largest body and the largest head of a reply, in bytes
DEFAULT_REPLY_LIMITS: ReplyLimits = (MAX_REPLY_BYTES, MAX_HEAD_BYTES)
#: Bodies up to this size go out in the same write as the head (both connection kinds).
COALESCE_LIMIT = 64 * 1024
# HttpParserUpgrade is not an HttpParserError.
_PARSE_ERRORS = (httptools.HttpParserError, httptools.HttpParserUpgrade)

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
# Validated method names, so the common ones cost one dict lookup per request.
_METHODS: dict[str, bytes] = {}


def _method_bytes(method: str) -> bytes:
    raw = _METHODS.get(method)
    if raw is None:
        raw = method.encode("ascii", "replace")
        if not _TOKEN(raw):
            raise httpx.LocalProtocolError("invalid HTTP method")
        if len(_METHODS) < 64:
            _METHODS[method] = raw
    return raw


def build_head(method: str, url: httpx.URL, headers: Sequence[Header]) -> bytes:
    """Serialize a request head.

    httpx has already added ``Host`` (first) and the body's framing header to requests it
    built; the URL supplies a ``Host`` only when the request carries none.
    """
    parts = [_method_bytes(method), b" ", url.raw_path or b"/", b" HTTP/1.1\r\n"]
    if not (headers and headers[0][0].lower() == b"host") and not any(
        name.lower() == b"host" for name, _ in headers
    ):
        parts += (b"Host", b": ", url.netloc, b"\r\n")
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    head = b"".join(parts)
    # httpx does not reject line breaks in header values (or names); one line per header plus
    # the request line and the blank line means any extra CR or LF is an injection attempt.
    lines = (len(parts) - 5) // 4 + 2
    if head.count(b"\n") != lines or head.count(b"\r") != lines:
        raise httpx.LocalProtocolError("line break in a request header")
    return head


def framing(headers: Sequence[Header]) -> bytes | None:
    """How the request announces its body's length: ``b"chunked"``, ``b"length"`` or None."""
    # httpx appends Content-Length last to the requests it builds: the usual case is 1 check.
    if headers and headers[-1][0].lower() == b"content-length":
        return b"length"
    found = None
    for name, _ in headers:
        lower = name.lower()
        if lower == b"transfer-encoding":  # HTTP/1.1 request bodies always end chunked
            return b"chunked"
        if lower == b"content-length":
            found = b"length"
    return found


def chunk_frame(chunk: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body (empty input: the last chunk)."""
    if not chunk:
        return b"0\r\n\r\n"
    return b"%x\r\n%b\r\n" % (len(chunk), chunk)


class ResponseReader:
    """Collects one response at a time from a connection's byte stream.

    One instance and one llhttp parser live as long as their connection, so a keep-alive
    request costs no parser set-up. The ``on_*`` methods are httptools callbacks.

    A response whose head grows past ``max_head`` bytes, or whose body (announced by
    ``Content-Length``, or as it arrives) grows past ``max_body`` bytes, is refused with
    ``ReplyParseError`` as soon as the chunk that shows it is parsed; the connection must
    then be dropped. A reply read whole in one chunk no larger than ``max_body`` (the usual
    case) costs two comparisons for this.
    """

    __slots__ = (
        "body",
        "body_size",
        "complete",
        "counted",
        "head_only",
        "headers",
        "headers_done",
        "http_version",
        "junk",
        "keep_alive",
        "length_checked",
        "max_body",
        "max_head",
        "parser",
        "reason",
        "received",
        "status",
    )

    def __init__(self, max_body: int = MAX_REPLY_BYTES, max_head: int = MAX_HEAD_BYTES) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[Header] = []
        self.body: list[bytes] = []
        self.reason = b""
        self.status = 0
        self.http_version = b"HTTP/1.1"
        self.head_only = False
        self.complete = self.headers_done = self.junk = self.keep_alive = False
        self.length_checked = False
        self.received = 0
        self.body_size = 0  # of the first ``counted`` parts of ``body``
        self.counted = 0
        self.max_body = max_body
        self.max_head = max_head

    def reset(self, *, head_only: bool) -> None:
        """Prepare for the response to the next request."""
        self.headers = []
        self.body = []
        self.head_only = head_only
        self.complete = self.headers_done = self.length_checked = False
        self.received = self.body_size = self.counted = 0

    def feed(self, data: bytes) -> None:
        """Parse received bytes; ``complete`` says when the response is whole."""
        received = self.received = self.received + len(data)
        if received > self.max_head and not self.headers_done:
            self._feed_head(data, received - len(data))
        else:
            try:
                self.parser.feed_data(data)
            except _PARSE_ERRORS as exc:
                self._parse_error(exc)
        # The body cannot be larger than everything received for this response.
        if received > self.max_body or not self.complete:
            self._check_body()

    def _feed_head(self, data: bytes, before: int) -> None:
        # Rare: the head is not whole yet and this chunk would take it past the limit (or it
        # also carries a large first part of the body). llhttp keeps a partial header line in
        # memory, so it is never given more head than the limit allows.
        room = self.max_head - before
        if room > 0:
            self._parse(data[:room])
            if self.headers_done:
                if room < len(data):
                    self._parse(data[room:])
                return
        raise reply_too_large(self.max_head, "reply head")

    def _parse(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except _PARSE_ERRORS as exc:
            self._parse_error(exc)

    def _parse_error(self, exc: Exception) -> None:
        if isinstance(exc, httptools.HttpParserUpgrade):
            raise httpx.RemoteProtocolError("unexpected protocol upgrade") from None
        if self.complete:
            # Bytes after a whole response: the reply stands, the connection does not.
            self.junk = True
            return
        raise httpx.RemoteProtocolError(f"malformed response: {exc}") from None

    def _check_body(self) -> None:
        """Refuse a body announced or grown past ``max_body`` (once per chunk, not per byte)."""
        if not self.headers_done or self.head_only:
            return
        limit = self.max_body
        if not self.length_checked:
            # Announced larger than allowed: refused before any more of it is read.
            self.length_checked = True
            if self.status != 204 and self.status != 304:  # no body, whatever is announced
                for name, value in self.headers:
                    if len(name) == 14 and name.lower() == b"content-length":
                        digits = value.strip()  # llhttp has accepted it: digits
                        if digits.isdigit() and (len(digits) > 18 or int(digits) > limit):
                            raise self._refused(limit)
        body = self.body
        counted = self.counted
        if counted < len(body):
            self.body_size += sum(map(len, body[counted:]))
            self.counted = len(body)
        if self.body_size > limit:
            raise self._refused(limit)

    def _refused(self, limit: int) -> ReplyParseError:
        # Even a response that is whole in this chunk is refused: it is no response, and its
        # connection is not fit for another.
        self.complete = self.keep_alive = False
        return reply_too_large(limit)

    def feed_eof(self) -> None:
        """The peer closed the connection; finish a close-delimited body or complain."""
        if self.complete:
            return
        if not self.received:
            raise httpx.RemoteProtocolError("server disconnected without sending a response")
        if self.headers_done and self._close_delimited():
            self.complete = True
            self.keep_alive = False
            return
        raise httpx.RemoteProtocolError("server disconnected before the response was complete")

    def _close_delimited(self) -> bool:
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length" or (
                lower == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                return False
        return True

    @property
    def content(self) -> bytes:
        body = self.body
        if len(body) == 1:
            return body[0]
        return b"".join(body)

    # httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            # More bytes after a whole response: stop parsing; feed() marks the junk.
            raise httpx.RemoteProtocolError("data after the response")

    def on_status(self, status: bytes) -> None:
        self.reason = status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            return  # an interim response: its message-complete resets, the real one follows
        self.status = status
        self.http_version = b"HTTP/1.0" if self.parser.get_http_version() == "1.0" else b"HTTP/1.1"
        self.headers_done = True
        if self.head_only:
            # llhttp cannot be told the request was HEAD, so it would wait for the body that
            # Content-Length announces; _finish() marks the connection as not reusable.
            self._finish()

    def on_body(self, body: bytes) -> None:
        if not self.complete:  # a body after a HEAD response's headers is not its body
            self.body.append(body)

    def on_message_complete(self) -> None:
        if not self.headers_done:
            self.headers = []  # end of an interim (1xx) response
            return
        if not self.complete:  # _finish(), inline: once per response
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive() and not self.head_only

    def _finish(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive() and not self.head_only
