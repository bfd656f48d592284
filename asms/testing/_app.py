"""The emulator's raw ASGI application: routing, HTTP forms, SOAP envelopes, injected drops.

No framework: the hot path (a form POST to ``/http/sendmsg``) is one split of the form, a
few dict lookups and one reply line, so uvicorn spends most of its time in its own code.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import anyio

from .._optable import AUTH_NAMES, OPERATIONS, Operation, operation_by_http_path
from .._soap import CONTENT_TYPE as SOAP_CONTENT_TYPE
from .._soap import SOAPClientFault, build_fault, build_response, parse_request, style_for_path
from .._soap.wsdl import document_literal_wsdl, rpc_encoded_wsdl
from ._call import Call, Channel
from ._clock import FakeClock
from ._commands import execute

if TYPE_CHECKING:
    from ._emulator import GatewayEmulator
    from ._platform import PlatformGateway
    from ._state import GatewayState

__all__ = ["GatewayApp", "HTTPReply", "InjectedDisconnect", "Scope"]

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]

# Empty values mean "not given", except where emptiness is itself the error (107, 202).
_KEEP_EMPTY = frozenset({"text", "template"})
_TEXT_TYPE = (b"content-type", b"text/html; charset=ISO-8859-1")
_SOAP_TYPE = (b"content-type", SOAP_CONTENT_TYPE.encode())
_JSON_TYPE = (b"content-type", b"application/json")
_ADMIN_PREFIX = "/_emulator/"
# A dropped reply still announces a body, so the peer sees a connection closed mid-response.
_DROPPED_LENGTH = 64


def _http_names(op: Operation) -> dict[str, str]:
    """Every spelling the HTTP API accepts for the operation -> its canonical name."""
    names = {name: name for name in AUTH_NAMES}
    for param in op.http_params():
        for spelling in (param.name, param.dl, param.rpc, *param.aliases):
            names.setdefault(spelling, param.name)
    return names


_HTTP_NAMES = {op.name: _http_names(op) for op in OPERATIONS.values()}


class InjectedDisconnect(Exception):
    """Raised inside the ASGI app to make the server close the connection (injected fault)."""


class HTTPReply:
    """An HTTP answer plus what the transport must do with it."""

    __slots__ = ("action", "body", "delay", "headers", "status")

    def __init__(
        self,
        status: int,
        content_type: tuple[bytes, bytes],
        body: bytes,
        action: str | None = None,
        delay: float = 0.0,
    ) -> None:
        self.status: int = status
        self.body: bytes = body
        self.headers: list[tuple[bytes, bytes]] = [
            content_type,
            (b"content-length", str(len(body)).encode()),
        ]
        #: None, or what the transport must do instead of answering: "drop", "connect",
        #: "truncate" (see :class:`~asms.testing._call.CallOutcome`)
        self.action: str | None = action
        self.delay: float = delay  # seconds to wait before answering


def _text_reply(status: int, text: str) -> HTTPReply:
    return HTTPReply(status, _TEXT_TYPE, text.encode())


class GatewayApp:
    """ASGI entry point of a :class:`GatewayEmulator` (``emulator.app``).

    Requests run against the emulator's gateway state, under its lock; admin requests go
    to the emulator's public methods.
    """

    def __init__(
        self,
        emulator: GatewayEmulator,
        state: GatewayState,
        platform: PlatformGateway | None = None,
    ) -> None:
        self._emulator = emulator
        self._state = state
        self._platform = platform  # the Platform endpoints (/messages, /v1/...), if served
        self._routes: dict[str, tuple[str, Any]] = {}
        self._date_second: int | None = None
        self._date_value = b""

    # -- routing ------------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[str, Any]:
        route = self._routes.get(path)
        if route is not None:
            return route
        op = operation_by_http_path(path)
        if op is not None:
            route = ("http", op)
        elif (style := style_for_path(path)) is not None:
            route = ("soap", style)
        elif self._platform is not None and (command := self._platform.route(path)):
            route = ("platform", command)
        elif path.startswith(_ADMIN_PREFIX):
            route = ("admin", None)
        elif path in ("", "/"):
            route = ("root", None)
        else:
            route = ("none", None)
        if len(self._routes) < 4096:
            self._routes[path] = route
        return route

    def handle(
        self,
        method: str,
        path: str,
        query: bytes,
        body: bytes,
        client_ip: str | None,
        headers: list[tuple[bytes, bytes]] | None = None,
        scheme: str = "http",
    ) -> HTTPReply:
        """Answer one request synchronously (all state changes happen here).

        Every answer carries a ``Date`` header from the emulator's clock, as the gateway's
        carry its own: a client measures the time an ``ERR 130`` names against it.
        """
        kind, target = self._route(path)
        state = self._state
        with state.lock:
            reply = self._answer(
                kind, target, method, path, query, body, client_ip, headers, scheme
            )
            reply.headers.append((b"date", self._date(state.time())))
        return reply

    def _answer(
        self,
        kind: str,
        target: Any,
        method: str,
        path: str,
        query: bytes,
        body: bytes,
        client_ip: str | None,
        headers: list[tuple[bytes, bytes]] | None,
        scheme: str,
    ) -> HTTPReply:
        emulator = self._emulator
        if kind == "http":
            return self._http(target, method, query, body, client_ip)
        if kind == "soap":
            return self._soap(target, method, path, query, body, client_ip, headers, scheme)
        if kind == "platform" and self._platform is not None:
            return self._platform.handle(target, method, path, query, body, headers, client_ip)
        if kind == "admin" and emulator.admin:
            from ._admin import handle_admin

            status, payload = handle_admin(emulator, self._state, method, path, query, body)
            return HTTPReply(status, _JSON_TYPE, payload)
        if kind == "root" and method == "GET":
            return _text_reply(200, "asms gateway emulator")
        return _text_reply(404, "Not Found")

    def _date(self, now: float) -> bytes:
        """The HTTP date of ``now``, formatted once per second."""
        second = math.floor(now)
        if second != self._date_second:
            self._date_second = second
            self._date_value = formatdate(second, usegmt=True).encode("ascii")
        return self._date_value

    # -- HTTP API -----------------------------------------------------------------------------

    def _http(
        self, op: Operation, method: str, query: bytes, body: bytes, client_ip: str | None
    ) -> HTTPReply:
        if method == "GET":
            channel: Channel = "get"
        elif method == "POST":
            channel = "post"
        else:
            return _text_reply(405, "Method Not Allowed")
        # The legacy API reads form values as ISO-8859-1 bytes (docs/protocol.md, "Text
        # encoding").
        fields = query.decode("latin-1").split("&") if query else []
        if channel == "post" and body:
            fields += body.decode("latin-1").split("&")
        names = _HTTP_NAMES[op.name]
        params: dict[str, str] = {}
        auth: dict[str, str] = {}
        to: list[str] = []
        for field in fields:
            name, _, value = field.partition("=")
            # parse_qsl costs several times this; most values need no unquoting at all.
            if "%" in value or "+" in value:
                value = unquote_plus(value, encoding="latin-1")
            if "%" in name or "+" in name:
                name = unquote_plus(name, encoding="latin-1")
            key = names.get(name)
            if key is None:
                continue  # the gateway ignores parameters it does not know
            if key in AUTH_NAMES:
                auth[key] = value
            elif key == "to":
                if "," in value:
                    to.extend(n for v in value.split(",") if (n := v.strip()))
                elif value := value.strip():
                    to.append(value)
            elif value or key in _KEEP_EMPTY:
                params[key] = value
        outcome = execute(self._state, Call(op, params, to, auth, channel, client_ip))
        reply = HTTPReply(200, _TEXT_TYPE, "\n".join(outcome.lines).encode("latin-1", "replace"))
        reply.action = outcome.action
        reply.delay = outcome.delay
        return reply

    # -- SOAP ---------------------------------------------------------------------------------

    def _soap(
        self,
        style: str,
        method: str,
        path: str,
        query: bytes,
        body: bytes,
        client_ip: str | None,
        headers: list[tuple[bytes, bytes]] | None,
        scheme: str,
    ) -> HTTPReply:
        if method == "GET" and query.lower().startswith(b"wsdl"):
            return self._wsdl(style, path, headers, scheme)
        if method != "POST":
            return _text_reply(405, "Method Not Allowed")
        try:
            parsed = parse_request(body, path=path, max_bytes=self._emulator.max_soap_bytes)
        except SOAPClientFault as fault:
            return HTTPReply(500, _SOAP_TYPE, build_fault(fault.faultcode, fault.faultstring))
        op = parsed.op
        params: dict[str, str] = {}
        to: list[str] = []
        malformed = False
        for name, value in parsed.params.items():
            param = op.param(name)
            if param is None:
                malformed = malformed or name in AUTH_NAMES  # a credential given twice
                continue
            if param.type == "list":
                items = [value] if isinstance(value, str) else value
                to.extend(n for v in items if (n := v.strip()))
            elif not isinstance(value, str):
                malformed = True
            elif value or param.name in _KEEP_EMPTY:
                params[param.name] = value
        call = Call(op, params, to, dict(parsed.auth), "soap", client_ip, malformed)
        outcome = execute(self._state, call)
        reply = HTTPReply(200, _SOAP_TYPE, build_response(parsed.style, op, outcome.lines))
        reply.action = outcome.action
        reply.delay = outcome.delay
        return reply

    def _wsdl(
        self, style: str, path: str, headers: list[tuple[bytes, bytes]] | None, scheme: str
    ) -> HTTPReply:
        host = "localhost"
        for key, value in headers or ():
            if key == b"host":
                host = value.decode("latin-1")
                break
        location = f"{scheme}://{host}{path}"
        build = document_literal_wsdl if style == "dl" else rpc_encoded_wsdl
        return HTTPReply(200, _SOAP_TYPE, build(location))

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._serve_http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            chunk = message.get("body")
            if chunk:
                body = body + chunk if body else chunk
            if not message.get("more_body"):
                break
        client = scope.get("client")
        reply = self.handle(
            scope["method"],
            scope["path"],
            scope["query_string"],
            body,
            client[0] if client else None,
            scope.get("headers"),
            scope.get("scheme", "http"),
        )
        if reply.delay:
            await anyio.sleep(reply.delay)
        action = reply.action
        if action is None:
            await send(
                {"type": "http.response.start", "status": reply.status, "headers": reply.headers}
            )
            await send({"type": "http.response.body", "body": reply.body})
            return
        # An ASGI app cannot close its connection; it can only announce a body and fail before
        # completing it, which makes the server close the socket: the peer sees a reply cut
        # off after its head (drop) or in the middle of its body (truncate).
        length = len(reply.body) if action == "truncate" else _DROPPED_LENGTH
        headers = [reply.headers[0], (b"content-length", str(length).encode()), reply.headers[-1]]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if action == "truncate":
            cut = reply.body[: len(reply.body) // 2]
            await send({"type": "http.response.body", "body": cut, "more_body": True})
        raise InjectedDisconnect(action)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":  # pragma: no cover - ASGI guarantees it
            return
        emulator = self._emulator
        async with anyio.create_task_group() as group:
            if not isinstance(emulator.clock, FakeClock):
                group.start_soon(self._tick)
            deliver = getattr(emulator.callback_sink, "run", None)
            if deliver is not None:  # the callback sender delivers from the server's loop
                group.start_soon(deliver)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            group.cancel_scope.cancel()
        await send({"type": "lifespan.shutdown.complete"})

    async def _tick(self) -> None:
        # Status changes are computed lazily; this emits callbacks for messages nobody asks
        # about, once a second.
        while True:
            await anyio.sleep(1.0)
            self._emulator.tick()
