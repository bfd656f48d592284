"""``CallbackReceiver``: a plain ASGI app that turns gateway callbacks into typed events.

Delivery guarantees, given a gateway that retries until it gets a 2xx:

* A handler sees each distinct event once per :class:`CallbackStore`: status reports are
  keyed by (``apiMsgId``, ``status``) (on the One API by its own status code, so DEVICE_ACK
  and READ stay two events), inbound messages by ``moMsgId`` (of the part that completed
  them; ``replyMessageId`` or the One API's ``messageId`` on the Platform wires). Every
  receiver (process, worker) given the same store file shares that memory, and it survives
  restarts. Repeats get 200 and are counted as duplicates. By default the store is the
  user's SQLite file (:func:`default_store_path`); only ``store=False`` (or
  ``":memory:"``) keeps it in this process's memory.
* A One API request may carry several events: they are handled oldest first, and the first
  that fails (500, 503) answers the request, so its retry finds the earlier ones handled.
* The event is claimed in the store (committed) before its handler runs and marked done
  after; if the process dies in between, the claim is taken over by a retry after the
  store's ``claim_timeout``, so that one event may reach a handler twice (at least once,
  never lost). Nothing else calls a handler twice.
* Once a message has a final status, a later non-final status for it is answered 200 and
  not passed on (counted as ``stale``); it would otherwise overwrite the final state.
* When a handler raises, the answer is 500 and the claim is dropped, so the gateway's
  retry reaches the handler again.
* A request that cannot be understood gets 400 with the reason; no handler is called.
* When another process is handling a callback about the same message, or the store is
  full, the answer is 503 and the gateway retries later.

Callbacks about one message are handled one at a time (in a process by a lock, across
processes by the claims), so a repeat arriving while the first copy is still in its
handler waits for it (or gets 503) and is then recognised.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, Literal

import anyio

from .._config import (
    DEFAULT_MAX_CALLBACK_BODY,
    DEFAULT_MAX_CALLBACK_RECORDS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_MAX_PENDING_MESSAGES,
    DEFAULT_REASSEMBLY_TIMEOUT,
)
from .._encoding import SURROGATE
from .._exceptions import RetryLater, ValidationError
from ._build import InboundPart, build_inbound_part, build_status_report
from ._events import InboundMessage, ReceiverStatistics, StatusReport
from ._parse import Kind, MalformedCallback, parse_callback
from ._platform import PlatformCallback, StatusItem, parse_platform
from ._state import KeyedLocks
from ._store import MEMORY, CallbackStore, ClaimOutcome
from ._udh import Part, PartBuffer, Reassembly, ReassemblyKey

__all__ = ["CallbackReceiver", "InboundHandler", "StatusHandler"]

logger = logging.getLogger("asms.callbacks")

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
StatusHandler = Callable[[StatusReport], Awaitable[object]]
InboundHandler = Callable[[InboundMessage], Awaitable[object]]

_ROUTES: Final[dict[str, Kind | None]] = {
    "": None,
    "/": None,
    "/status": "status",
    "/inbound": "inbound",
    "/mo": "inbound",
}
_REALM: Final = b'Basic realm="asms callbacks", charset="UTF-8"'
_RETRY_LATER: Final = ((b"retry-after", b"60"),)


class _Reply(Exception):
    """An early answer (an exception, so that deep checks can end the request)."""

    def __init__(self, status: int, text: str, headers: tuple[tuple[bytes, bytes], ...] = ()):
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers


class _Disconnected(Exception):
    pass


class CallbackReceiver:
    """An ASGI app receiving the gateway's status and inbound-message callbacks.

    Mount it anywhere (or serve it with uvicorn). Paths below its root: ``/status`` for
    status callbacks, ``/inbound`` (or ``/mo``) for inbound messages, and ``/`` for either
    (told apart by their fields).

    Every gateway's forms are taken, told apart by their fields: the legacy gateway's (GET or
    POST parameters, XML, SOAP), the Platform SMS API's status callbacks (GET parameters or
    a JSON body; the current and the 2017 field sets) and reply callbacks (JSON, the text
    decoded per its ``charset``: UTF-8 as it is, ISO-8859-1 and UTF-16BE URL-encoded), and
    the One API's event envelopes (``messageStatusUpdate`` and ``moText``, several items
    each; other event types and channels are acknowledged and counted as ``ignored``). All
    become the same :class:`StatusReport` and :class:`InboundMessage`, whose ``wire`` says
    which gateway sent them; a 2017 ``apiKey`` is dropped on arrival. A status report that
    names a ``clientMessageId`` also records its message as accepted in the store
    (:meth:`CallbackStore.accepted`). With ``secret_path="s3cr3t"`` those live under
    ``/s3cr3t/``; with ``basic_auth=(user, password)`` every request must carry those HTTP
    Basic credentials. Both are compared in constant time; a request failing either gets 401.
    With neither, the receiver accepts anyone who can reach it.

    Args:
        on_status: awaited with each new :class:`StatusReport`.
        on_inbound: awaited with each complete (reassembled) :class:`InboundMessage`.
        basic_auth: required HTTP Basic credentials.
        secret_path: required leading path segment(s).
        store: where handled events are recorded: a :class:`CallbackStore`, or the path of
            a SQLite file (a bulk journal file works too) for a store with default
            settings. Give every worker the same file. ``None`` (the default): the user's
            file, :func:`default_store_path` (``$ASMS_CALLBACK_STORE``, else
            ``$XDG_STATE_HOME/asms/callbacks.sqlite3``, else
            ``~/.local/state/asms/callbacks.sqlite3``), read now and opened at startup.
            ``False`` or ``":memory:"``: a private in-memory store, so repeats are
            recognised only while this receiver lives (a handler may run again for an event
            after a restart or in another worker).
        dedup_size: records the store made here holds at most; beyond it new events get
            503 (nothing is evicted). Records are pruned 7 days after their last change.
        max_body: largest request body or query string accepted, in bytes.
        reassembly_timeout: seconds to wait for the missing parts of an inbound message
            before handing over what arrived (with ``missing_parts`` set).
        max_pending_messages: incomplete multi-part messages kept at most.
        max_pending_bytes: bytes the parts of incomplete messages may hold in all.
        max_message_bytes: bytes the parts of one incomplete message may hold.
            Beyond any of the three limits the oldest incomplete messages are dropped and
            counted (``dropped_messages``), so memory stays bounded.
        clock: seconds, for reassembly timeouts (``time.monotonic`` by default).
    """

    def __init__(
        self,
        *,
        on_status: StatusHandler | None = None,
        on_inbound: InboundHandler | None = None,
        basic_auth: tuple[str, str] | None = None,
        secret_path: str | None = None,
        store: CallbackStore | str | os.PathLike[str] | Literal[False] | None = None,
        dedup_size: int = DEFAULT_MAX_CALLBACK_RECORDS,
        max_body: int = DEFAULT_MAX_CALLBACK_BODY,
        reassembly_timeout: float = DEFAULT_REASSEMBLY_TIMEOUT,
        max_pending_messages: int = DEFAULT_MAX_PENDING_MESSAGES,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if basic_auth is not None:
            user, password = basic_auth
            if not user or ":" in user or not password:
                raise ValidationError("basic_auth", "needs a user without ':' and a password")
        self._basic = (
            None
            if basic_auth is None
            else (basic_auth[0].encode("utf-8"), basic_auth[1].encode("utf-8"))
        )
        self._secret: bytes | None = None
        if secret_path is not None:
            secret = secret_path.strip("/")
            if not secret or any(c in secret for c in "?#") or not secret.isprintable():
                raise ValidationError("secret_path", "must be a non-empty path")
            self._secret = ("/" + secret).encode("utf-8")
        limits = (dedup_size, max_body, max_pending_messages, max_pending_bytes, max_message_bytes)
        if min(limits) < 1:
            raise ValidationError(
                "limits",
                "dedup_size, max_body, max_pending_messages, max_pending_bytes and "
                "max_message_bytes must be >= 1",
            )
        self.on_status = on_status
        self.on_inbound = on_inbound
        self._max_body = max_body
        self.store: CallbackStore
        """Where handled events are recorded (see ``store`` above)."""
        if store is False:
            self.store = CallbackStore(MEMORY, max_records=dedup_size)
        elif store is None or isinstance(store, (str, os.PathLike)):
            self.store = CallbackStore(store, max_records=dedup_size)
        elif isinstance(store, CallbackStore):
            self.store = store
        else:
            raise ValidationError(
                "store", "must be a CallbackStore, a file path, None (the default) or False"
            )
        self._locks = KeyedLocks()
        self._parts = PartBuffer(
            max_messages=max_pending_messages,
            expiry=reassembly_timeout,
            clock=clock,
            max_bytes=max_pending_bytes,
            max_message_bytes=max_message_bytes,
        )
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "requests",
                "status_reports",
                "inbound_messages",
                "inbound_parts",
                "duplicates",
                "stale",
                "unauthorized",
                "malformed",
                "handler_errors",
                "busy",
                "store_full",
                "store_errors",
                "ignored",
            ),
            0,
        )

    def __repr__(self) -> str:
        auth = [name for name, on in (("basic", self._basic), ("path", self._secret)) if on]
        return f"<CallbackReceiver auth={'+'.join(auth) or 'none'} store={self.store!r}>"

    def statistics(self) -> ReceiverStatistics:
        """Counts of requests and their outcomes since this receiver was made, and what
        reassembly holds now."""
        return ReceiverStatistics(
            **self._counts,
            pending_messages=len(self._parts),
            pending_bytes=self._parts.bytes,
            dropped_messages=self._parts.dropped,
        )

    async def aclose(self) -> None:
        """Close the store (it reopens on the next callback). Lifespan shutdown calls it."""
        await self.store.aclose()

    # -- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self._counts["requests"] += 1
        try:
            reply = await self._handle(scope, receive)
        except _Reply as early:
            reply = early
        except _Disconnected:
            return
        await _send_reply(send, reply)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.store.open()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive) -> _Reply:
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        path = self._authenticate(path, headers)
        if path not in _ROUTES:
            # Below the secret segment (if any), so the secret is not logged.
            logger.warning("callback refused (404): unknown path %r", path[:80])
            raise _Reply(404, "unknown callback path")
        route = _ROUTES[path]
        if scope.get("method") not in ("GET", "POST"):
            raise _Reply(405, "use GET or POST", ((b"allow", b"GET, POST"),))
        query = scope.get("query_string", b"")
        if len(query) > self._max_body:
            raise _Reply(413, "query string too large")
        body = await self._read_body(receive, headers) if scope["method"] == "POST" else b""
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        try:
            platform = parse_platform(query=query, body=body, content_type=content_type)
            if platform is not None:
                return await self._platform(platform, route)
            fields = parse_callback(
                query=query,
                body=body,
                content_type=content_type,
                max_bytes=self._max_body,
            )
            if route is not None and fields.kind != route:
                raise MalformedCallback(f"this path takes {route} callbacks, not {fields.kind}")
            if fields.kind == "status":
                return await self._status(build_status_report(fields))
            return await self._inbound(build_inbound_part(fields))
        except MalformedCallback as exc:
            self._counts["malformed"] += 1
            logger.warning("callback refused (400) on %r: %s", path[:80], exc.reason)
            return _Reply(400, exc.reason)
        except (sqlite3.Error, OSError) as exc:
            self._counts["store_errors"] += 1
            logger.error("callback store unavailable (%s); answering 503 for a retry", exc)
            return _Reply(503, "store unavailable", _RETRY_LATER)

    def _authenticate(self, path: str, headers: dict[bytes, bytes]) -> str:
        """The path below the secret segment; raises a 401 reply when a check fails."""
        ok = True
        if self._secret is not None:
            raw = path.encode("utf-8")
            head, tail = raw[: len(self._secret)], raw[len(self._secret) :]
            ok = hmac.compare_digest(head, self._secret) and tail[:1] in (b"", b"/")
            path = tail.decode("utf-8", "replace")
        if self._basic is not None:
            ok = self._basic_ok(headers.get(b"authorization", b"")) and ok
        if not ok:
            self._counts["unauthorized"] += 1
            logger.warning("callback refused (401): wrong or missing credentials")
            challenge = ((b"www-authenticate", _REALM),) if self._basic is not None else ()
            raise _Reply(401, "unauthorized", challenge)
        return path

    def _basic_ok(self, header: bytes) -> bool:
        assert self._basic is not None
        scheme, _, token = header.partition(b" ")
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        user, _, password = decoded.partition(b":")
        # Both comparisons always run, so timing does not tell which one failed.
        user_ok = hmac.compare_digest(user, self._basic[0])
        password_ok = hmac.compare_digest(password, self._basic[1])
        return scheme.lower() == b"basic" and user_ok and password_ok

    async def _read_body(self, receive: Receive, headers: dict[bytes, bytes]) -> bytes:
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self._max_body:
            raise _Reply(413, "request body too large")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _Reply(413, "request body too large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # -- Platform requests ----------------------------------------------------------------

    async def _platform(self, callback: PlatformCallback, route: Kind | None) -> _Reply:
        """Handle a Platform request's events in turn, oldest first. The first that is not
        acknowledged (a handler failure, a busy or full store) answers the whole request, so
        the sender retries it; the events handled before it are then duplicates."""
        if route is not None:
            for event in callback.events:
                kind = "status" if isinstance(event, StatusItem) else "inbound"
                if kind != route:
                    raise MalformedCallback(f"this path takes {route} callbacks, not {kind}")
        self._counts["ignored"] += callback.ignored
        for event in callback.events:
            if isinstance(event, StatusItem):
                reply = await self._status(event.report, event.token)
            else:
                reply = await self._inbound(event)
            if reply.status != 200:
                return reply
        return _Reply(200, "OK")

    # -- status reports -------------------------------------------------------------------

    async def _status(self, report: StatusReport, token: str | None = None) -> _Reply:
        group = f"s\x1f{report.apimsgid}"
        key = f"{group}\x1f{int(report.status) if token is None else token}"
        final_key = f"f\x1f{report.apimsgid}"
        # A status callback exists only for an accepted message: say so for never-twice.
        accepted = (
            None if report.climsgid is None else (report.climsgid, report.to, report.apimsgid)
        )
        async with self._locks.hold(group):
            outcome = await self.store.claim(
                key,
                group,
                stale_key=None if report.is_final else final_key,
                accepted=accepted,
            )
            if outcome != "new":
                return self._not_new(outcome)
            # The final state is recorded with the event, in one commit, so a late
            # intermediate status is recognised as stale by every process sharing the store.
            also = ((final_key, group),) if report.is_final else ()
            await self._handle_claimed(key, "status_reports", self.on_status, report, also)
        return _Reply(200, "OK")

    def _not_new(self, outcome: ClaimOutcome) -> _Reply:
        if outcome == "duplicate":
            self._counts["duplicates"] += 1
            return _Reply(200, "OK")
        if outcome == "stale":
            self._counts["stale"] += 1
            return _Reply(200, "OK")
        if outcome == "busy":
            self._counts["busy"] += 1
            return _Reply(503, "another worker is handling this message", _RETRY_LATER)
        self._counts["store_full"] += 1
        logger.warning("callback store is full; answering 503 until old records expire")
        return _Reply(503, "callback store full", _RETRY_LATER)

    async def _handle_claimed(
        self,
        key: str,
        counter: str,
        handler: Callable[[Any], Awaitable[object]] | None,
        event: object,
        also: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Run ``handler`` for a claimed event; record it done, or drop the claim on failure."""
        if handler is not None:
            try:
                await self._call(handler, event)
            except BaseException:  # the 500 reply, or a cancellation
                with anyio.CancelScope(shield=True):
                    await self.store.release(key)
                raise
            self._counts[counter] += 1
        # The handler has run: record that even if this request is being cancelled.
        with anyio.CancelScope(shield=True):
            await self.store.done(key, also=also)

    async def _call(self, handler: Callable[[Any], Awaitable[object]], event: object) -> None:
        try:
            await handler(event)
        except RetryLater as exc:
            self._counts["handler_errors"] += 1
            why = str(exc) or "no reason given"
            logger.warning("callback handler asked for a retry (%s); answering 503", why)
            raise _Reply(503, "handler asked for a retry", _RETRY_LATER) from None
        except Exception:
            self._counts["handler_errors"] += 1
            logger.exception("callback handler failed; answering 500 so the gateway retries")
            raise _Reply(500, "handler failed") from None

    # -- inbound messages -----------------------------------------------------------------

    async def _inbound(self, part: InboundPart) -> _Reply:
        await self.flush_expired()
        key = f"m\x1f{part.momsgid}"
        concat = part.concat
        if concat is None or concat.total == 1:
            async with self._locks.hold(key):
                outcome = await self.store.claim(key, key)
                if outcome != "new":
                    return self._not_new(outcome)
                await self._handle_claimed(key, "inbound_messages", self.on_inbound, _single(part))
            return _Reply(200, "OK")
        parts_key: ReassemblyKey = (part.from_, part.to, concat.wide, concat.ref, concat.total)
        group_name = "g\x1f" + "\x1f".join(map(str, parts_key))
        async with self._locks.hold(group_name):
            partial = self._parts.get(parts_key)
            if partial is not None and concat.part in partial.parts:
                self._counts["duplicates"] += 1
                return _Reply(200, "OK")
            stored = Part(part.momsgid, part.udh, part.text, part.ucs2, part)
            have = len(partial.parts) if partial is not None else 0
            if have + 1 < concat.total:
                outcome = await self.store.record(key, group_name)
                if outcome != "new":
                    return self._not_new(outcome)
                self._counts["inbound_parts"] += 1
                if not self._parts.store(parts_key, concat.part, stored, concat.total):
                    logger.warning("inbound message parts dropped: reassembly limits reached")
                return _Reply(200, "OK")
            outcome = await self.store.claim(key, group_name)
            if outcome != "new":
                return self._not_new(outcome)
            # This part completes the message. The buffer is changed only once the handler
            # has accepted it, so a failure leaves it as it was for the retry.
            partial = self._parts.get(parts_key)  # an expiry may have taken it meanwhile
            whole = Reassembly(total=concat.total, created=0.0)
            whole.parts = {**(partial.parts if partial is not None else {}), concat.part: stored}
            await self._handle_claimed(key, "inbound_messages", self.on_inbound, _joined(whole))
            self._parts.discard(parts_key)
        return _Reply(200, "OK")

    async def _deliver(self, message: InboundMessage) -> None:
        if self.on_inbound is not None:
            await self._call(self.on_inbound, message)
            self._counts["inbound_messages"] += 1

    async def flush_expired(self) -> int:
        """Hand over incomplete inbound messages whose parts stopped arriving.

        Runs on every inbound callback; call it yourself to flush on a timer. Returns how
        many messages were handed over. A handler failure or a cancellation keeps the rest
        (the interrupted one included) for next time.
        """
        expired = self._parts.take_expired()
        for index, (_, partial) in enumerate(expired):
            try:
                await self._deliver(_joined(partial))
            except BaseException as exc:  # a failed handler (the 500 reply), or a cancellation
                self._parts.give_back(expired[index:])
                if isinstance(exc, _Reply):
                    return index
                raise
        return len(expired)


def _whole(text: str) -> str:
    """``text`` as valid Unicode: a surrogate pair left as two code points (decoded part by
    part) joined, and a lone one (the other half in a part that never came, or a sender's
    bad text) made U+FFFD. A handler given a lone surrogate fails to write it anywhere, on
    every retry of the gateway."""
    if SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")


def _single(part: InboundPart) -> InboundMessage:
    return InboundMessage(
        momsgid=part.momsgid,
        api_id=part.api_id,
        from_=part.from_,
        to=part.to,
        text=_whole(part.text),
        charset=part.charset,
        udh=part.udh,
        network=part.network,
        timestamp=part.timestamp,
        parts=1,
        part_ids=(part.momsgid,),
        wire=part.wire,
        related_apimsgid=part.related_apimsgid,
        related_climsgid=part.related_climsgid,
    )


def _joined(partial: Reassembly) -> InboundMessage:
    ordered = [partial.parts[n] for n in sorted(partial.parts)]
    first = ordered[0].payload
    assert isinstance(first, InboundPart)
    return InboundMessage(
        momsgid=first.momsgid,
        api_id=first.api_id,
        from_=first.from_,
        to=first.to,
        text=_whole(partial.joined_text()),
        charset=first.charset,
        udh=first.udh,
        network=first.network,
        timestamp=first.timestamp,
        parts=partial.total,
        part_ids=tuple(p.momsgid for p in ordered),
        missing_parts=partial.missing(),
        wire=first.wire,
        related_apimsgid=first.related_apimsgid,
        related_climsgid=first.related_climsgid,
    )


async def _send_reply(send: Send, reply: _Reply) -> None:
    body = (reply.text + "\n").encode("utf-8")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode("ascii")),
        *reply.headers,
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
