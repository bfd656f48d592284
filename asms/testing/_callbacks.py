"""``CallbackDispatcher``: the emulated gateway's callback sender.

The emulator reports status changes and inbound messages synchronously
(:meth:`CallbackDispatcher.status_changed`, :meth:`CallbackDispatcher.mo_received`); the
dispatcher queues them and delivers them over HTTP in the account's chosen form, retrying a
failed delivery (unreachable, timed out, or any non-2xx answer) on the gateway's schedule:
status callbacks after 2, 4, 8, 16, 32, 64, 128 minutes and then 3 days; inbound messages
after 2, 4, 8, 16 and 25 minutes. ``time_scale`` multiplies those delays (0.01 turns
minutes into fractions of a second for a demo).

Deliveries happen in :meth:`run` (a loop for a task group or lifespan) or, in tests on a
:class:`FakeClock`, in :meth:`deliver_due` after moving the clock. Queueing is thread-safe:
the emulator may report events from a test's thread while :meth:`run` delivers them from the
server's event loop.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Final, Literal, Self

import anyio
import anyio.abc

from .._clock import Clock
from .._codes import MessageStatus
from .._compat import httpx
from .._encoding import decode_ucs2_hex, ucs2_hex
from ..callbacks._format import CallbackForm, MOFields, StatusFields, WireRequest, build_callback
from ..callbacks._parse import HEX_CHARSETS
from ._clock import as_clock
from ._events import MOEvent, StatusEvent

if TYPE_CHECKING:
    from ._config import Account

__all__ = [
    "CallbackDispatcher",
    "DeliveryAttempt",
    "DispatcherStatistics",
    "MO_RETRY_DELAYS",
    "PendingCallback",
    "STATUS_RETRY_DELAYS",
]

logger = logging.getLogger("asms.testing.callbacks")

_MINUTE: Final = 60.0
STATUS_RETRY_DELAYS: Final[tuple[float, ...]] = (
    *(m * _MINUTE for m in (2, 4, 8, 16, 32, 64, 128)),
    3 * 24 * 3600.0,
)
"""Seconds from one failed status-callback attempt to the next (docs 004)."""
MO_RETRY_DELAYS: Final[tuple[float, ...]] = tuple(m * _MINUTE for m in (2, 4, 8, 16, 25))
"""Seconds from one failed inbound-message callback attempt to the next (docs 004)."""

#: What a callback reports: a status change or an inbound (MO) message.
CallbackKind = Literal["status", "mo"]


@dataclass(frozen=True, slots=True)
class PendingCallback:
    """A callback not yet delivered. ``next_attempt`` is ``None`` while an attempt runs."""

    kind: CallbackKind
    message_id: str  # apiMsgId or moMsgId
    status: MessageStatus | None
    url: str  # without its query string
    method: CallbackForm
    attempts: int
    next_attempt: float | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One delivery attempt and its outcome (``at`` is clock time)."""

    kind: CallbackKind
    message_id: str
    status: MessageStatus | None
    url: str
    attempt: int
    at: float
    ok: bool
    http_status: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class DispatcherStatistics:
    """What a :class:`CallbackDispatcher` holds now and has done since it was made."""

    pending: int
    in_flight: int
    attempts: int
    delivered: int
    failed_attempts: int
    given_up: int
    filtered: int  # status changes the message's callback value did not ask for
    skipped: int  # no callback URL configured, or a value that cannot be encoded


@dataclass(slots=True, eq=False)
class _Delivery:
    seq: int
    kind: CallbackKind
    message_id: str
    status: MessageStatus | None
    url: str
    method: CallbackForm
    auth: tuple[str, str] | None
    request: WireRequest
    delays: tuple[float, ...]
    due: float
    attempts: int = 0
    in_flight: bool = False
    last_error: str | None = None

    def public(self) -> PendingCallback:
        return PendingCallback(
            kind=self.kind,
            message_id=self.message_id,
            status=self.status,
            url=_bare(self.url),
            method=self.method,
            attempts=self.attempts,
            next_attempt=None if self.in_flight else self.due,
            last_error=self.last_error,
        )


def _bare(url: str) -> str:
    return url.split("?", 1)[0]


class CallbackDispatcher:
    """Queues the emulator's callbacks and delivers them with the gateway's retries.

    Args:
        clock: the emulator's clock (read as ``wall_time()``, unix seconds); real time
            when None.
        http_client_factory: makes the ``httpx.AsyncClient`` used for deliveries (e.g. one
            with ``httpx.ASGITransport`` to reach a receiver in-process).
        time_scale: multiplies every retry delay.
        timeout: seconds (real time) one attempt may take before it counts as failed.
        triggers: ``callback`` value → statuses to report; when given, status changes
            outside it are dropped here (the emulator may also filter before calling).
        max_concurrency: deliveries in flight at once.
        history_size: how many :class:`DeliveryAttempt` records :meth:`history` keeps.
        poll_interval: seconds (real time) :meth:`run` waits at most before looking at the
            queue again; it bounds the delay for events queued from another thread.
    """

    def __init__(
        self,
        clock: Clock | Callable[[], float] | None = None,
        http_client_factory: Callable[[], httpx.AsyncClient] | None = None,
        *,
        time_scale: float = 1.0,
        timeout: float = 10.0,
        triggers: Mapping[int, frozenset[MessageStatus]] | None = None,
        max_concurrency: int = 16,
        history_size: int = 10_000,
        poll_interval: float = 0.25,
        status_retry_delays: Iterable[float] = STATUS_RETRY_DELAYS,
        mo_retry_delays: Iterable[float] = MO_RETRY_DELAYS,
    ) -> None:
        if not (time_scale > 0 and timeout > 0 and poll_interval > 0) or max_concurrency < 1:
            raise ValueError(
                "time_scale, timeout and poll_interval must be positive, max_concurrency >= 1"
            )
        self._clock = as_clock(clock)
        self._factory = http_client_factory
        self._client: httpx.AsyncClient | None = None
        self._time_scale = float(time_scale)
        self._timeout = float(timeout)
        self._poll_interval = float(poll_interval)
        self._triggers = triggers
        self._max_concurrency = max_concurrency
        self._limiter: anyio.CapacityLimiter | None = None
        self._status_delays = tuple(float(d) for d in status_retry_delays)
        self._mo_delays = tuple(float(d) for d in mo_retry_delays)
        # Guards the queue and counters; never held across an await. The emulator may report
        # events from another thread than the one run() delivers from.
        self._mutex = threading.Lock()
        self._items: dict[int, _Delivery] = {}
        self._heap: list[tuple[float, int]] = []
        self._seq = 0
        self._wakeup: anyio.Event | None = None
        self._loop_thread: int | None = None
        self._history: deque[DeliveryAttempt] = deque(maxlen=history_size)
        self._counts = dict.fromkeys(
            ("attempts", "delivered", "failed_attempts", "given_up", "filtered", "skipped"), 0
        )

    def __repr__(self) -> str:
        return (
            f"<CallbackDispatcher pending={len(self._items)} "
            f"delivered={self._counts['delivered']} given_up={self._counts['given_up']}>"
        )

    # -- queueing (synchronous, called by the emulator) ----------------------------------------

    def status_changed(self, account: Account, event: StatusEvent) -> None:
        """Queue a status callback for ``event`` (if the account and message want one)."""
        if self._triggers is not None and event.status not in self._triggers.get(
            event.callback_value, frozenset()
        ):
            self._count("filtered")
            return
        fields = StatusFields(
            api_id=str(event.api_id),
            apimsgid=event.apimsgid,
            climsgid=event.climsgid,
            to=event.to,
            from_=event.from_,
            timestamp=event.timestamp,
            status=int(event.status),
            charge=event.charge,
        )
        self._enqueue(
            "status",
            event.apimsgid,
            event.status,
            account.callback_url,
            account.callback_method,
            account.callback_auth,
            fields,
        )

    def mo_received(self, account: Account, event: MOEvent) -> None:
        """Queue an inbound-message callback for one part.

        For the UCS-2 charsets the callback carries hex; text that is not hex yet is
        converted.
        """
        fields = MOFields(
            api_id=str(event.api_id),
            momsgid=event.momsgid,
            from_=event.from_,
            to=event.to,
            timestamp=event.timestamp_gmt2,
            text=_wire_text(event.text, event.charset),
            charset=event.charset,
            udh=event.udh,
            network=event.network,
        )
        self._enqueue(
            "mo",
            event.momsgid,
            None,
            account.mo_callback_url,
            account.mo_callback_method,
            account.callback_auth,
            fields,
        )

    def _enqueue(
        self,
        kind: CallbackKind,
        message_id: str,
        status: MessageStatus | None,
        url: str | None,
        method: CallbackForm,
        auth: tuple[str, str] | None,
        fields: StatusFields | MOFields,
    ) -> None:
        if not url:
            self._count("skipped")
            return
        try:
            request = build_callback(method, fields)
        except ValueError:
            # A value XML cannot carry (a control character in an MO text): the real
            # gateway's behaviour is unknown, so the callback is dropped and counted.
            self._count("skipped")
            logger.warning("callback for %s cannot be encoded as %s; dropped", message_id, method)
            return
        self._queue(kind, message_id, status, url, method, auth, request)

    def queue_request(
        self,
        kind: CallbackKind,
        message_id: str,
        status: MessageStatus | None,
        url: str | None,
        request: WireRequest,
    ) -> None:
        """Queue a callback already in its wire form (the Platform's JSON and query forms,
        built by the emulator's Platform endpoints), delivered and retried like the others."""
        if not url:
            self._count("skipped")
            return
        method: CallbackForm = "get" if request.method == "GET" else "post"
        self._queue(kind, message_id, status, url, method, None, request)

    def _queue(
        self,
        kind: CallbackKind,
        message_id: str,
        status: MessageStatus | None,
        url: str,
        method: CallbackForm,
        auth: tuple[str, str] | None,
        request: WireRequest,
    ) -> None:
        item = _Delivery(
            seq=0,
            kind=kind,
            message_id=message_id,
            status=status,
            url=url,
            method=method,
            auth=auth,
            request=request,
            delays=self._status_delays if kind == "status" else self._mo_delays,
            due=self._clock.wall_time(),
        )
        with self._mutex:
            self._seq += 1
            item.seq = self._seq
            self._items[item.seq] = item
            heapq.heappush(self._heap, (item.due, item.seq))
        self._wake()

    def _schedule(self, item: _Delivery) -> None:
        with self._mutex:
            heapq.heappush(self._heap, (item.due, item.seq))
        self._wake()

    def _wake(self) -> None:
        # An anyio.Event may only be set from its own event loop's thread; a call from any
        # other thread is picked up by run()'s next poll instead.
        wakeup = self._wakeup
        if wakeup is not None and threading.get_ident() == self._loop_thread:
            wakeup.set()

    def _count(self, name: str) -> None:
        with self._mutex:
            self._counts[name] += 1

    # -- inspection -----------------------------------------------------------------------

    def pending(self) -> list[PendingCallback]:
        """Callbacks not yet delivered (nor given up), oldest first."""
        with self._mutex:
            return [item.public() for item in self._items.values()]

    def history(self) -> list[DeliveryAttempt]:
        """The most recent delivery attempts, oldest first."""
        with self._mutex:
            return list(self._history)

    def next_due(self) -> float | None:
        """Clock time of the next queued attempt, None when nothing is queued."""
        with self._mutex:
            return self._heap[0][0] if self._heap else None

    def statistics(self) -> DispatcherStatistics:
        """Callbacks queued and in flight now, and the attempts and outcomes so far."""
        with self._mutex:
            in_flight = sum(1 for item in self._items.values() if item.in_flight)
            return DispatcherStatistics(
                pending=len(self._items) - in_flight, in_flight=in_flight, **self._counts
            )

    # -- delivery -------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Attempt every callback whose time has come; return the number of attempts made.

        Failed attempts are rescheduled (or given up) before this returns.
        """
        async with anyio.create_task_group() as tg:
            started = self._start_due(tg)
        return started

    async def run(self) -> None:
        """Deliver callbacks as they fall due, until cancelled; closes the HTTP client then."""
        self._loop_thread = threading.get_ident()
        try:
            async with anyio.create_task_group() as tg:
                while True:
                    self._start_due(tg)
                    await self._wait_for_work()
        finally:
            self._wakeup = None
            with anyio.CancelScope(shield=True):
                await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (a new one is made if deliveries continue)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> Self:
        """Use the dispatcher in ``async with``: its HTTP client is closed at the end."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _wait_for_work(self) -> None:
        """Return when something may be due: a new event, the next due time, or a poll."""
        self._wakeup = anyio.Event()
        due = self.next_due()
        with anyio.move_on_after(self._poll_interval):
            async with anyio.create_task_group() as tg:
                if due is not None:
                    tg.start_soon(self._sleep_then_cancel, due, tg.cancel_scope)
                await self._wakeup.wait()
                tg.cancel_scope.cancel()

    async def _sleep_then_cancel(self, deadline: float, scope: anyio.CancelScope) -> None:
        # ``deadline`` is unix time; the clock sleeps on its own scale.
        clock = self._clock
        await clock.sleep_until(clock.current_time() + (deadline - clock.wall_time()))
        scope.cancel()

    def _start_due(self, tg: anyio.abc.TaskGroup) -> int:
        now = self._clock.wall_time()
        groups: dict[tuple[str, str, str], list[_Delivery]] = {}
        with self._mutex:
            while self._heap and self._heap[0][0] <= now:
                _, seq = heapq.heappop(self._heap)
                item = self._items[seq]
                item.in_flight = True
                # Callbacks about one message to one URL go out in order, so a receiver
                # normally sees 003 before 004; only a retry can overtake.
                groups.setdefault((item.kind, item.url, item.message_id), []).append(item)
        for items in groups.values():
            tg.start_soon(self._deliver_in_order, items)
        return sum(len(items) for items in groups.values())

    async def _deliver_in_order(self, items: list[_Delivery]) -> None:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_concurrency)
        for item in items:
            async with self._limiter:
                await self._attempt(item)

    async def _attempt(self, item: _Delivery) -> None:
        item.attempts += 1
        at = self._clock.wall_time()
        try:
            http_status, error = await self._send(item)
        except BaseException:
            # Cancelled mid-attempt (the emulator is shutting down): the attempt does not
            # count, and the callback stays queued for whoever delivers next.
            with self._mutex:
                item.attempts -= 1
                item.in_flight = False
            self._schedule(item)
            raise
        record = DeliveryAttempt(
            kind=item.kind,
            message_id=item.message_id,
            status=item.status,
            url=_bare(item.url),
            attempt=item.attempts,
            at=at,
            ok=error is None,
            http_status=http_status,
            error=error,
        )
        with self._mutex:
            self._counts["attempts"] += 1
            self._history.append(record)
            item.in_flight = False
            item.last_error = error
            if error is None:
                self._counts["delivered"] += 1
                del self._items[item.seq]
                return
            self._counts["failed_attempts"] += 1
            if item.attempts > len(item.delays):
                self._counts["given_up"] += 1
                del self._items[item.seq]
                logger.info(
                    "callback for %s given up after %d tries", item.message_id, item.attempts
                )
                return
            item.due = at + item.delays[item.attempts - 1] * self._time_scale
        self._schedule(item)

    async def _send(self, item: _Delivery) -> tuple[int | None, str | None]:
        """(HTTP status, error): error is None exactly when the delivery succeeded."""
        if self._client is None:
            self._client = self._factory() if self._factory is not None else httpx.AsyncClient()
        request = item.request
        url = item.url
        if request.query:
            url += ("&" if "?" in url else "?") + request.query
        headers = {"content-type": request.content_type} if request.content_type else {}
        auth = httpx.BasicAuth(*item.auth) if item.auth is not None else None
        try:
            with anyio.fail_after(self._timeout):
                response = await self._client.request(
                    request.method, url, content=request.body or None, headers=headers, auth=auth
                )
        except TimeoutError:
            return None, "timed out"
        except Exception as exc:
            # Whatever stopped the request (refused connection, reset, a receiver app that
            # raised in-process) is the receiver's failure: retry on the schedule.
            return None, type(exc).__name__
        if not 200 <= response.status_code < 300:
            return response.status_code, f"HTTP {response.status_code}"
        return response.status_code, None


def _wire_text(text: str, charset: str) -> str:
    """MO text as the callback carries it: UCS-2 hex for the UCS-2 charsets."""
    if charset.strip().lower() not in HEX_CHARSETS:
        return text
    try:
        decode_ucs2_hex(text)
    except ValueError:
        return ucs2_hex(text)
    return text
