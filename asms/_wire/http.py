"""The legacy HTTP API: ``/http/<command>`` and friends, form POST by default.

Requests are built as ``httpx.Request`` objects with a ready body and headers, because the
client hands them straight to the transport (``AsyncClient.send`` costs more than the whole
exchange). Credentials and session ids travel in the POST body only; GET, when the caller asks
for it, carries a session id and nothing else secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final, Literal

from .._compat import httpx
from .._config import MAX_RECIPIENTS
from .._encoding import WireText, encode_for_http
from .._exceptions import HTTPStatusError
from .._forms import encode_form as _encode_form
from .._forms import quote_any
from .._optable import OPERATIONS, Operation
from .base import Params, Prepared, R, check_params, origin_of
from .fast import form_body, post_head

__all__ = ["HTTPWire", "encode_form", "form_pairs"]

_FORM_TYPE: Final = b"application/x-www-form-urlencoded"


def encode_form(pairs: Sequence[tuple[str, str]]) -> bytes:
    """The form body: ISO-8859-1 values, commas unescaped (see ``asms._forms``).

    The legacy API reads form values as ISO-8859-1 (docs/protocol.md, "Text encoding"); ``text``
    is always representable (the wire sends anything else as UCS-2 hex), but another value
    (a push subject, a batch field) may not be: that value alone goes as UTF-8.
    """
    try:
        return _encode_form(pairs, encoding="latin-1")
    except UnicodeEncodeError:
        return "&".join([f"{key}={quote_any(value)}" for key, value in pairs]).encode("ascii")


def form_pairs(auth: Mapping[str, str], params: Params) -> list[tuple[str, str]]:
    """The form's fields in order: ``auth`` first, then ``params``, lists joined by commas."""
    pairs = list(auth.items())
    for key, value in params.items():
        pairs.append((key, value if isinstance(value, str) else ",".join(value)))
    return pairs


class HTTPWire:
    """Builds ``/http/...`` requests; answers are the reply lines themselves."""

    name = "http"
    letter = "h"

    def __init__(
        self,
        base_url: httpx.URL,
        *,
        method: Literal["POST", "GET"] = "POST",
        max_recipients: int = MAX_RECIPIENTS["default"]["POST"],
        timeout: httpx.Timeout,
    ) -> None:
        self.method = method
        self.max_recipients = max_recipients
        self._base = str(base_url).rstrip("/")
        self._host = base_url.netloc
        self._urls = {name: httpx.URL(self._base + op.http_path) for name, op in OPERATIONS.items()}
        self.timeouts: dict[str, float | None] = timeout.as_dict()
        self._extensions = {"timeout": self.timeouts}
        self.origin = origin_of(base_url)
        form = [(b"Content-Type", _FORM_TYPE)]
        self._heads = {name: post_head(url, self._host, form) for name, url in self._urls.items()}
        self._valid: set[tuple[str, ...]] = set()  # parameter sets already checked

    #: The legacy gateway finds a message by its ``climsgid`` (``querymsg``).
    lookups = True

    def reader(
        self, op: Operation, parse: Callable[[bytes | str], R]
    ) -> Callable[[bytes | str], R]:
        """``parse`` itself: this wire's answers are the reply lines."""
        return parse

    def encode_text(self, text: str) -> WireText:
        return encode_for_http(text)

    def _checked(self, op: Operation, params: Params) -> None:
        key = (op.name, *params)
        if key not in self._valid:
            check_params(op, params, self.letter, "HTTP")
            if len(self._valid) < 256:
                self._valid.add(key)

    def build(self, op: Operation, params: Params, auth: Mapping[str, str]) -> httpx.Request:
        self._checked(op, params)
        pairs = form_pairs(auth, params)
        if self.method == "GET" and "password" not in auth:
            # GET puts everything in the URL: only ever a session id, never credentials
            # (``auth`` itself, and every request with session=False, go as POST).
            query = encode_form(pairs).decode("ascii")
            url = httpx.URL(f"{self._base}{op.http_path}?{query}")
            return httpx.Request(
                "GET", url, headers=[(b"Host", self._host)], extensions=self._extensions
            )
        body = encode_form(pairs)
        headers = [
            (b"Host", self._host),
            (b"Content-Type", _FORM_TYPE),
            (b"Content-Length", str(len(body)).encode("ascii")),
        ]
        # Passing the stream (not content=) skips httpx's request preparation, which costs
        # more than building the body; read() then makes .content available.
        request = httpx.Request(
            "POST",
            self._urls[op.name],
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions=self._extensions,
        )
        request.read()
        return request

    def prepare(self, op: Operation, params: Params, auth: Mapping[str, str]) -> Prepared | None:
        if self.method == "GET" and "password" not in auth:
            return None
        self._checked(op, params)
        body = form_body(auth, params)
        return self._heads[op.name] + b"%d\r\n\r\n" % len(body), body

    def unwrap(self, status: int, content: bytes) -> bytes:
        if status != 200:
            raise HTTPStatusError(status)
        return content
