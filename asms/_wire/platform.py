"""The Platform wires: the Platform SMS REST API (``POST /messages``) and the One API
(``POST /v1/message``) on ``platform.clickatell.com``.

Accounts made on Clickatell's portal since November 2016 have an integration API key and
talk only to these. Both take JSON, the raw key in ``Authorization``, and answer JSON; they
have no sessions and no lookup by client message id (docs/protocol.md, "The Platform
wires"). The client reaches them through the same :class:`~asms._wire.base.Wire` protocol as
the legacy wires: operations and parameters keep their canonical (HTTP API) names, this
module translates them, and :meth:`PlatformWire.reader` swaps the legacy reply parsers for
the JSON ones of :mod:`asms._wire.platform_replies`.

Only ``sendmsg``, ``querymsg`` by ``apimsgid`` and ``getbalance`` exist here; every other
operation raises :class:`~asms.UnsupportedCommandError` before anything is sent. A parameter
the platform has no field for raises :class:`~asms.ValidationError` naming it, rather than
being dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from .._codes import ErrorCode
from .._compat import httpx
from .._config import PLATFORM_MAX_RECIPIENTS, PLATFORM_THROTTLE_PAUSE
from .._encoding import WireText, count_parts
from .._exceptions import (
    HTTPStatusError,
    ThrottledError,
    UnsupportedCommandError,
    ValidationError,
)
from .._optable import Operation
from .._platform_codes import OneApiErrorCode
from .base import Params, Prepared, R, origin_of
from .fast import post_head
from .platform_replies import PARSERS

__all__ = ["PlatformWire"]

Flavour = Literal["platform", "one-api"]

_JSON_TYPE: Final = b"application/json"
# Options the legacy gateway has and the platform does not: each names where it went.
_NOT_HERE: Final[dict[str, str]] = {
    "callback": "status callbacks are set on the integration in the portal",
    "deliv_ack": "status callbacks are set on the integration in the portal",
    "mo": "replies are set on the integration (a two-way number)",
    "unicode": "text goes as UTF-8 and the platform picks the SMS encoding itself",
    "deliv_time": "use scheduled_time",
    "queue": "the platform has no delivery queues",
    "escalate": "the platform has no escalation",
    "max_credits": "the platform has no per-message credit cap",
    "req_feat": "the platform picks routes itself",
    "msg_type": "the platform has no message types",
}
# Canonical parameter -> Platform SMS JSON field, for those that map one to one.
_SMS_FIELDS: Final[dict[str, str]] = {
    "from": "from",
    "udh": "userDataHeader",
}
_RATE_LIMITED: Final = ErrorCode.MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL
_OK_STATUSES: Final = frozenset({200, 201, 202, 207})


def _delivery_time(value: str) -> str:
    """``scheduled_time`` (unix seconds) as the platform's ``scheduledDeliveryTime``."""
    when = datetime.fromtimestamp(int(value), tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S+0000")


class PlatformWire:
    """Builds Platform SMS REST (``flavour="platform"``) or One API requests."""

    #: The platform cannot look a message up by its client message id: an attempt of
    #: unknown outcome is never resent (see ``BaseClient._send_request``).
    lookups = False
    #: Its parameters are its own, not the legacy operation table's.
    letter = None

    def __init__(self, base_url: httpx.URL, *, flavour: Flavour, timeout: httpx.Timeout) -> None:
        self.name: str = flavour
        self.flavour: Flavour = flavour
        self.max_recipients = PLATFORM_MAX_RECIPIENTS
        self._base = str(base_url).rstrip("/")
        self._host = base_url.netloc
        self.timeouts: dict[str, float | None] = timeout.as_dict()
        self._extensions = {"timeout": self.timeouts}
        self.origin = origin_of(base_url)
        one_api = flavour == "one-api"
        self._send_url = httpx.URL(self._base + ("/v1/message" if one_api else "/messages"))
        self._balance_url = httpx.URL(
            self._base + ("/v1/balance" if one_api else "/public-client/balance")
        )
        # The send head is the same for every request of one key: built once per key.
        self._heads: dict[str, bytes] = {}
        self._parsers = PARSERS[flavour]

    # -- the Wire protocol ---------------------------------------------------------------

    def encode_text(self, text: str) -> WireText:
        """The text as it is (UTF-8 in JSON); its parts as the platform will cut it."""
        return WireText(text, False, count_parts(text))

    def reader(self, op: Operation, parse: Callable[[bytes | str], R]) -> Callable[[Any], R]:
        """This wire's JSON parser for ``op`` in place of the legacy ``parse``."""
        return self._parsers[op.name]

    def prepare(self, op: Operation, params: Params, auth: Mapping[str, str]) -> Prepared | None:
        if op.name != "sendmsg":
            return None  # the GETs go through build()
        body = self._send_body(params)
        key = auth["api_key"]
        head = self._heads.get(key)
        if head is None:
            head = post_head(
                self._send_url,
                self._host,
                [
                    (b"Authorization", key.encode("ascii")),
                    (b"Content-Type", _JSON_TYPE),
                    (b"Accept", _JSON_TYPE),
                ],
            )
            if len(self._heads) < 16:
                self._heads[key] = head
        return head + b"%d\r\n\r\n" % len(body), body

    def build(self, op: Operation, params: Params, auth: Mapping[str, str]) -> httpx.Request:
        key = auth["api_key"].encode("ascii")
        accept = [(b"Host", self._host), (b"Authorization", key), (b"Accept", _JSON_TYPE)]
        if op.name == "sendmsg":
            body = self._send_body(params)
            headers = [
                *accept,
                (b"Content-Type", _JSON_TYPE),
                (b"Content-Length", str(len(body)).encode("ascii")),
            ]
            request = httpx.Request(
                "POST",
                self._send_url,
                headers=headers,
                stream=httpx.ByteStream(body),
                extensions=self._extensions,
            )
            request.read()
            return request
        if op.name == "getbalance":
            self._no_params(op, params)
            url = self._balance_url
        elif op.name == "querymsg":
            url = self._status_url(params)
        else:
            raise UnsupportedCommandError(op.name, self.name)
        return httpx.Request("GET", url, headers=accept, extensions=self._extensions)

    def unwrap(self, status: int, content: bytes) -> bytes:
        """The JSON body, for the parsers to judge (success is decided from the body).

        HTTP 429 and 503 are refusals of a request the platform did not handle: the first is
        its rate limit, the second "service unavailable" (One API 19, "please retry"), so
        resending cannot duplicate anything. Any other status without a JSON body is an
        answer from something else (a proxy): its outcome is unknown.
        """
        if status == 429:
            # Platform SMS numbers its errors as the legacy API does: its rate limit is 130.
            code = OneApiErrorCode.RATE_LIMIT if self.flavour == "one-api" else _RATE_LIMITED
            raise ThrottledError(
                code, "rate limit: HTTP 429 from the platform", retry_after=PLATFORM_THROTTLE_PAUSE
            )
        if status == 503:
            refused = HTTPStatusError(503, "Service Unavailable")
            refused.sent = False
            raise refused
        if status not in _OK_STATUSES and not content.lstrip()[:1] == b"{":
            raise HTTPStatusError(status)
        return content

    # -- requests -------------------------------------------------------------------------

    def _no_params(self, op: Operation, params: Params) -> None:
        for name in params:
            raise ValidationError(name, f"is not a parameter of {op.name} on the {self.name} wire")

    def _status_url(self, params: Params) -> httpx.URL:
        if "climsgid" in params:
            raise UnsupportedCommandError(
                "query by climsgid",
                self.name,
                "the platform looks messages up by apimsgid only",
            )
        apimsgid = params.get("apimsgid")
        if not isinstance(apimsgid, str) or not apimsgid:
            raise ValidationError("apimsgid", "is required on the platform wires")
        if not apimsgid.isascii() or not apimsgid.isalnum():
            raise ValidationError("apimsgid", "must be letters and digits")
        if self.flavour == "one-api":
            return httpx.URL(f"{self._base}/v1/message/{apimsgid}")
        return httpx.URL(f"{self._base}/public-client/message/status?messageId={apimsgid}")

    def _send_body(self, params: Params) -> bytes:
        """The JSON of one send: every parameter mapped, or refused by name."""
        fields: dict[str, Any] = {}
        recipients: list[str] = []
        climsgid: str | None = None
        content: str | None = None
        for name, value in params.items():
            if name == "to":
                recipients = [value] if isinstance(value, str) else list(value)
            elif name == "text":
                content = str(value)
            elif name == "climsgid":
                climsgid = str(value)
            elif name == "concat":
                continue  # parts were counted and capped before; concatenation is the platform's
            else:
                self._option(name, str(value), fields)
        if "data" in fields:
            if self.flavour == "one-api":
                raise ValidationError(
                    "data", "binary messages are not available on the one-api wire"
                )
            content = fields.pop("data")
            fields["binary"] = True
        if content is None:
            raise ValidationError("text", "must be a non-empty string")
        if self.flavour == "one-api":
            messages = []
            for number in recipients:
                message: dict[str, Any] = {"channel": "sms", "to": number, "content": content}
                if climsgid is not None:
                    message["clientMessageId"] = climsgid
                message.update(fields)
                messages.append(message)
            document: dict[str, Any] = {"messages": messages}
        else:
            document = {"content": content, "to": recipients}
            if climsgid is not None:
                document["clientMessageId"] = climsgid
            document.update(fields)
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _option(self, name: str, value: str, fields: dict[str, Any]) -> None:
        """Put the option ``name`` in ``fields`` as this wire names it, or refuse it."""
        if name in _NOT_HERE:
            raise ValidationError(
                name, f"is not available on the {self.name} wire: {_NOT_HERE[name]}"
            )
        if self.flavour == "one-api":
            if name == "from":
                fields["from"] = value
                return
            raise ValidationError(name, "is not available on the one-api wire")
        if name in _SMS_FIELDS:
            fields[_SMS_FIELDS[name]] = value
        elif name == "validity":
            fields["validityPeriod"] = int(value)
        elif name == "scheduled_time":
            fields["scheduledDeliveryTime"] = _delivery_time(value)
        elif name == "data":
            fields["data"] = value
        elif name == "binary":
            return  # data= makes the message binary on this wire
        else:
            raise ValidationError(name, f"is not available on the {self.name} wire")
