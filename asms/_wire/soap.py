"""The two SOAP servers: document/literal and RPC/encoded.

Envelopes are built and read by ``asms._soap`` (lxml ``SubElement``, hardened parser, both
styles generated from the operation table); the reply lines inside ``<return>`` are the HTTP
API's, so everything above the wire is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .._compat import httpx
from .._config import MAX_RECIPIENTS, MAX_REPLY_BYTES
from .._encoding import WireText, encode_for_soap
from .._exceptions import HTTPStatusError, ReplyParseError, ValidationError
from .._optable import Operation
from .._soap import (
    DL_ENDPOINT,
    RPC_ENDPOINTS,
    SOAPParseError,
    Style,
    build_request,
    parse_response,
)
from .base import Params, Prepared, R, check_params, origin_of
from .fast import post_head

__all__ = ["SOAPWire"]


class SOAPWire:
    """Posts envelopes to the document/literal or an RPC/encoded endpoint."""

    def __init__(
        self,
        base_url: httpx.URL,
        *,
        style: Style,
        max_recipients: int = MAX_RECIPIENTS["default"]["SOAP"],
        timeout: httpx.Timeout,
        endpoint: str | None = None,
    ) -> None:
        self.style: Style = style
        self.name = "soap" if style == "dl" else "soap-rpc"
        self.max_recipients = max_recipients
        path = endpoint or (DL_ENDPOINT if style == "dl" else RPC_ENDPOINTS[0])
        self._url = httpx.URL(str(base_url).rstrip("/") + path)
        self._host = base_url.netloc
        self.letter: str = "d" if style == "dl" else "r"
        self._label = "SOAP document/literal" if style == "dl" else "SOAP RPC/encoded"
        self.timeouts: dict[str, float | None] = timeout.as_dict()
        self._extensions = {"timeout": self.timeouts}
        self.origin = origin_of(base_url)
        self._heads: dict[tuple[tuple[str, str], ...], bytes] = {}

    #: The legacy gateway finds a message by its ``climsgid`` (``querymsg``).
    lookups = True

    def reader(
        self, op: Operation, parse: Callable[[bytes | str], R]
    ) -> Callable[[bytes | str], R]:
        """``parse`` itself: this wire's answers are the reply lines."""
        return parse

    def encode_text(self, text: str) -> WireText:
        return encode_for_soap(text)

    def _envelope(
        self, op: Operation, params: Params, auth: Mapping[str, str]
    ) -> tuple[bytes, dict[str, str]]:
        check_params(op, params, self.letter, self._label)
        try:
            return build_request(self.style, op, params, auth)
        except ValueError as exc:
            # The builder names the parameter, never its value.
            raise ValidationError(op.name, str(exc)) from None

    def prepare(self, op: Operation, params: Params, auth: Mapping[str, str]) -> Prepared | None:
        body, extra = self._envelope(op, params, auth)
        key = tuple(extra.items())
        head = self._heads.get(key)
        if head is None:
            fields = [(k.encode("ascii"), v.encode("ascii")) for k, v in key]
            head = post_head(self._url, self._host, fields)
            if len(self._heads) < 256:
                self._heads[key] = head
        return head + b"%d\r\n\r\n" % len(body), body

    def build(self, op: Operation, params: Params, auth: Mapping[str, str]) -> httpx.Request:
        body, extra = self._envelope(op, params, auth)
        headers = [
            (b"Host", self._host),
            *((k.encode("ascii"), v.encode("ascii")) for k, v in extra.items()),
            (b"Content-Length", str(len(body)).encode("ascii")),
        ]
        request = httpx.Request(
            "POST",
            self._url,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions=self._extensions,
        )
        request.read()
        return request

    def unwrap(self, status: int, content: bytes) -> str:
        # A Fault comes with HTTP 500; anything else that is not 200 is no gateway answer.
        if status not in (200, 500):
            raise HTTPStatusError(status)
        try:
            # A Fault raises asms.SOAPFault, whatever the status.
            lines = parse_response(content, max_bytes=MAX_REPLY_BYTES)
        except SOAPParseError as exc:
            if status != 200:
                raise HTTPStatusError(status) from None
            raise ReplyParseError(str(exc)) from None
        if status != 200:
            raise HTTPStatusError(status)
        return "\n".join(lines)
