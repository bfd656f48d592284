"""The gateway emulator: state, the message lifecycle on its clock, and the admin API."""

from __future__ import annotations

import heapq
import importlib
import itertools
import random
import threading
import time as _time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._codes import MessageStatus
from .._encoding import split_parts
from ._call import BATCH_TTL, NO_CHARGE, SESSION_TTL, err_line
from ._clock import Clock, FakeClock, as_clock
from ._config import Account, Faults, Lifecycle, Profile
from ._content import is_msisdn
from ._delivery import DUE, STATUS
from ._events import CallbackSink, MOEvent, StatusEvent
from ._recorder import CommittedMessage, Recorder, RecorderMode, RecorderStatistics
from ._state import Batch, FaultInjector, Session

if TYPE_CHECKING:
    from .._compat import httpx
    from ._app import Scope
    from ._transport import EmulatorTransport

__all__ = ["DEFAULT_ACCOUNT", "GatewayEmulator"]

S = MessageStatus
DEFAULT_ACCOUNT = Account(api_id=1234, user="demo", password="demo", credits=1_000_000.0)
_MISSING = object()
_CANCELLABLE = frozenset({S.MESSAGE_QUEUED, S.QUEUED_FOR_LATER_DELIVERY})


class GatewayEmulator:
    """An in-memory Clickatell legacy gateway: HTTP API, both SOAP servers, callbacks, faults.

    It is an ASGI application (``emulator`` itself, or ``emulator.app``): serve it with
    uvicorn, or call it in-process through :class:`EmulatorTransport` (or
    ``httpx.ASGITransport``). Everything runs on ``clock`` (a :class:`FakeClock` makes
    session expiry, scheduled delivery, batch expiry and callback retries testable without
    sleeping). With no ``accounts`` it accepts api_id 1234, user ``demo``, password ``demo``.

    ``routes`` maps number prefixes to the charge per part (longest prefix wins; a value of
    None means "not routed", ``ERR: 114``); the default routes everything at 1 credit.
    ``blocked``, ``opted_out``, ``delisted`` (``ERR: 121/122/128``) and ``undeliverable``
    (status ``007``) are sets of numbers to edit freely. ``retention`` caps how many messages
    are kept for querymsg (oldest forgotten first). The admin HTTP API under ``/_emulator/``
    exists only with ``admin=True``.
    """

    def __init__(
        self,
        *,
        accounts: Iterable[Account] | None = None,
        profile: Profile | str = "default",
        clock: Clock | Callable[[], float] | None = None,
        seed: int = 0,
        faults: Faults | None = None,
        lifecycle: Lifecycle | None = None,
        recorder: Recorder | RecorderMode = "messages",
        routes: Mapping[str, float | None] | None = None,
        retention: int | None = None,
        admin: bool = False,
        callbacks: CallbackSink | str | None = "auto",
        http_client_factory: Callable[[], httpx.AsyncClient] | None = None,
        max_soap_bytes: int = 2_000_000,
    ) -> None:
        self._clock: Clock = as_clock(clock)
        self.profile = profile if isinstance(profile, Profile) else Profile.named(profile)
        self.lifecycle = lifecycle or Lifecycle()
        self.recorder = recorder if isinstance(recorder, Recorder) else Recorder(recorder)
        self.admin = admin
        self.seed = seed
        self.max_soap_bytes = max_soap_bytes
        if retention is not None and retention < 1:
            raise ValueError("retention must be at least 1")
        self.retention = retention
        self.blocked: set[str] = set()
        self.opted_out: set[str] = set()
        self.delisted: set[str] = set()
        self.undeliverable: set[str] = set()
        self.mo_messages: list[MOEvent] = []

        self._time = self._clock.time
        self._lock = threading.RLock()
        # (api_id, user, password) as sent -> account, for credentials already checked once
        self._credentials_seen: dict[tuple[str, str, str], Account] = {}
        self._ids = random.Random(seed)
        self._seq = itertools.count()
        self._accounts: dict[int, Account] = {}
        self._balances: dict[int, float] = {}
        self._sessions: dict[str, Session] = {}
        self._batches: dict[str, Batch] = {}
        self._vouchers: dict[str, float] = {}
        self._messages: dict[str, CommittedMessage] = {}
        self._order: deque[str] = deque()
        self._by_climsgid: dict[tuple[int, str], CommittedMessage] = {}
        self._pending: list[tuple[float, int, int, CommittedMessage, MessageStatus]] = []
        self._routes: dict[str, float | None] = {}
        self._route_len = 0
        self._mo_ref = 0
        self.set_routes({"": 1.0} if routes is None else routes)
        for account in accounts if accounts is not None else (DEFAULT_ACCOUNT,):
            self.add_account(account)
        self._faults = Faults()
        self._faults_active = False
        self._injector = FaultInjector(self._faults, self.clock.time())
        if faults is not None:
            self.faults = faults
        self._sink: CallbackSink | None = None
        if isinstance(callbacks, str):
            if callbacks != "auto":
                raise ValueError("callbacks must be a CallbackSink, None or 'auto'")
            self._attach_default_sender(http_client_factory)
        else:
            self._sink = callbacks
        if isinstance(self.clock, FakeClock):
            self.clock.subscribe(self._on_clock)
        from ._app import GatewayApp

        self.app = GatewayApp(self)

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def transport(self, *, client_ip: str = "127.0.0.1") -> EmulatorTransport:
        """An httpx transport that calls this emulator in-process."""
        from ._transport import EmulatorTransport

        return EmulatorTransport(self, client_ip=client_ip)

    # -- configuration ------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """The clock everything runs on (fixed for the emulator's life)."""
        return self._clock

    def _attach_default_sender(self, factory: Callable[[], httpx.AsyncClient] | None) -> None:
        try:
            module = importlib.import_module("asms.testing._callbacks")
        except ImportError:
            return
        dispatcher_type: Any = getattr(module, "CallbackDispatcher", None)
        if dispatcher_type is None:
            return
        if factory is None:
            from .._compat import httpx

            factory = httpx.AsyncClient
        self._sink = dispatcher_type(self.clock, factory)

    @property
    def callback_sink(self) -> CallbackSink | None:
        """Where status and MO events go (the callback sender), if anywhere."""
        return self._sink

    @callback_sink.setter
    def callback_sink(self, sink: CallbackSink | None) -> None:
        self._sink = sink

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        """Replace the fault configuration; the dice restart from ``faults.seed``."""
        with self._lock:
            self._faults = faults
            self._faults_active = faults.active
            self._injector = FaultInjector(faults, self.clock.time())

    def configure_faults(self, faults: Faults | None = None, **settings: Any) -> Faults:
        """Set faults from a :class:`Faults` or keyword settings; ``configure_faults()`` clears."""
        self.faults = faults if faults is not None else Faults(**settings)
        return self._faults

    def add_account(self, account: Account) -> None:
        """Add (or replace) an account; its balance starts at ``account.credits``."""
        with self._lock:
            self._accounts[account.api_id] = account
            self._balances[account.api_id] = float(account.credits)
            self._credentials_seen.clear()

    def update_account(self, api_id: int, **changes: Any) -> Account:
        """Replace fields of an account (``frozen=True``, ``callback_url=…``), keeping its
        balance."""
        import dataclasses

        with self._lock:
            account = dataclasses.replace(self._accounts[api_id], **changes)
            self._accounts[api_id] = account
            self._credentials_seen.clear()
            return account

    @property
    def accounts(self) -> Mapping[int, Account]:
        return MappingProxyType(self._accounts)

    def _account(self, api_id: int | None) -> Account:
        if api_id is None:
            return next(iter(self._accounts.values()))
        return self._accounts[api_id]

    def balance(self, api_id: int | None = None) -> float:
        """The live balance of an account (the first one by default)."""
        return self._balances[self._account(api_id).api_id]

    def set_credits(self, credits: float, api_id: int | None = None) -> None:
        with self._lock:
            self._balances[self._account(api_id).api_id] = float(credits)

    def add_vouchers(self, vouchers: Mapping[str, float]) -> None:
        """Voucher tokens (16 digits) that ``token_pay`` redeems once each for credits."""
        with self._lock:
            self._vouchers.update({str(k): float(v) for k, v in vouchers.items()})

    @property
    def routes(self) -> Mapping[str, float | None]:
        return MappingProxyType(self._routes)

    def set_routes(self, routes: Mapping[str, float | None]) -> None:
        """Replace the routing table: prefix -> charge per part (None: not routed)."""
        with self._lock:
            self._routes = dict(routes)
            self._route_len = max((len(p) for p in self._routes), default=0)

    def set_route(self, prefix: str, charge: float | None) -> None:
        self.set_routes({**self._routes, prefix: charge})

    def _route(self, msisdn: str) -> float | None:
        routes = self._routes
        for n in range(min(len(msisdn), self._route_len), -1, -1):
            charge = routes.get(msisdn[:n], _MISSING)
            if charge is not _MISSING:
                return charge  # type: ignore[return-value]
        return None

    # -- reading state ------------------------------------------------------------------------

    def message(self, apimsgid: str) -> CommittedMessage | None:
        """A stored message by its apimsgid (None once forgotten or never sent)."""
        return self._messages.get(apimsgid.lower())

    def status(self, apimsgid: str) -> MessageStatus | None:
        message = self.message(apimsgid)
        return None if message is None else message.status_at(self.clock.time(), self.lifecycle)

    def statistics(self) -> RecorderStatistics:
        return self.recorder.statistics()

    @property
    def stored_messages(self) -> int:
        return len(self._messages)

    # -- the clock ----------------------------------------------------------------------------

    def advance(self, seconds: float) -> float:
        """Move a :class:`FakeClock` forward and emit every status change on the way."""
        clock = self.clock
        if not isinstance(clock, FakeClock):
            raise TypeError("advance() needs the emulator to run on a FakeClock")
        return clock.advance(seconds)

    def tick(self) -> None:
        """Emit the status changes that are due by now (the server does this every second)."""
        with self._lock:
            self._process_due(self.clock.time())

    def _on_clock(self, now: float) -> None:
        with self._lock:
            self._process_due(now)

    def _push(self, when: float, kind: int, message: CommittedMessage, status: S) -> None:
        heapq.heappush(self._pending, (when, kind, next(self._seq), message, status))

    def _process_due(self, now: float) -> None:
        pending = self._pending
        if not pending or pending[0][0] > now:
            return
        lifecycle = self.lifecycle
        while pending and pending[0][0] <= now:
            when, kind, _, message, status = heapq.heappop(pending)
            if kind == DUE:
                self._on_due(message, when)
            elif message.status_at(when, lifecycle) == status:  # else overtaken (cancelled…)
                self._emit(message, status, when)

    def _on_due(self, message: CommittedMessage, when: float) -> None:
        """A deferred message leaves: it is charged now, or fails with 012 (out of credit)."""
        if message.final and message.final in NO_CHARGE:
            return
        balance = self._balances.get(message.api_id, 0.0)
        if balance >= message.charge:
            self._balances[message.api_id] = round(balance - message.charge, 6)
            message.paid = True
        else:
            message.final, message.final_at = S.OUT_OF_CREDIT, when
            self._push(when, STATUS, message, S.OUT_OF_CREDIT)

    def _emit(self, message: CommittedMessage, status: MessageStatus, when: float) -> None:
        sink = self._sink
        account = self._accounts.get(message.api_id)
        if sink is None or account is None or not account.callback_url:
            return
        if status not in self.profile.callback_triggers.get(message.callback, ()):
            return
        sink.status_changed(
            account,
            StatusEvent(
                api_id=message.api_id,
                apimsgid=message.apimsgid,
                climsgid=message.climsgid,
                to=message.to,
                from_=message.from_,
                status=status,
                charge=self._charge_of(message, status),
                timestamp=int(when),
                callback_value=message.callback,
            ),
        )

    def _schedule_events(self, message: CommittedMessage) -> None:
        lifecycle = self.lifecycle
        previous: MessageStatus | None = None
        for when in message.change_times(lifecycle):
            status = message.status_at(when, lifecycle)
            if status != previous:
                self._push(when, STATUS, message, status)
                previous = status

    # -- used by the commands -----------------------------------------------------------------

    def _new_id(self) -> str:
        return f"{self._ids.getrandbits(128):032x}"

    def _open_session(self, account: Account, now: float) -> str:
        sessions = self._sessions
        if len(sessions) >= 10_000:  # forget expired sessions now and then
            for key in [k for k, s in sessions.items() if now - s.last_used > SESSION_TTL]:
                del sessions[key]
        session_id = self._new_id()
        sessions[session_id] = Session(account.api_id, now)
        return session_id

    def _open_batch(self, account: Account, params: Mapping[str, str], now: float) -> str:
        batches = self._batches
        if len(batches) >= 1_000:
            for key in [k for k, b in batches.items() if now - b.created > BATCH_TTL]:
                del batches[key]
        batch_id = self._new_id()
        batches[batch_id] = Batch(account.api_id, now, params)
        return batch_id

    def _batch(self, api_id: int, batch_id: str, now: float) -> Batch | None:
        batch = self._batches.get(batch_id.lower())
        if batch is None or batch.api_id != api_id:
            return None
        if now - batch.created > BATCH_TTL:  # batches expire 24 hours after creation
            del self._batches[batch_id.lower()]
            return None
        return batch

    def _lookup(
        self, api_id: int, apimsgid: str | None, climsgid: str | None, now: float
    ) -> CommittedMessage | None:
        if apimsgid:
            message = self._messages.get(apimsgid.lower())
        else:
            message = self._by_climsgid.get((api_id, climsgid or ""))
        if message is None or message.api_id != api_id:
            return None
        delay = self._faults.querymsg_visibility_delay
        if delay and now < message.time + delay:
            self.recorder.record_fault("querymsg_hidden")
            return None
        return message

    def _charge_of(self, message: CommittedMessage, status: MessageStatus) -> float:
        return 0.0 if status in NO_CHARGE else message.charge

    def _cancel(self, message: CommittedMessage, now: float) -> MessageStatus:
        """delmsg: stop a message that has not left yet; anything else keeps its status."""
        status = message.status_at(now, self.lifecycle)
        if status not in _CANCELLABLE:
            return status
        message.final, message.final_at = S.USER_CANCELLED, now
        if message.paid:
            self._balances[message.api_id] = round(
                self._balances[message.api_id] + message.charge, 6
            )
            message.paid = False
        self._push(now, STATUS, message, S.USER_CANCELLED)
        return S.USER_CANCELLED

    def _throttle(self, command: str, messages: int, now: float) -> str | None:
        """The refusal line of an MT limit (130) or the rate cap, if one applies."""
        faults = self._faults
        if command not in faults.commands:
            return None
        if faults.err130_until is not None and now < faults.err130_until:
            self.recorder.record_fault("err130")
            return f"{err_line(130)} {faults.err130_until}"
        if faults.rate_cap is not None and not self._injector.take(messages, now):
            self.recorder.record_fault("rate_cap")
            return err_line(faults.rate_cap_error)
        return None

    # -- inbound messages ---------------------------------------------------------------------

    def inject_mo(
        self,
        to: str,
        from_: str,
        text: str,
        *,
        api_id: int | None = None,
        charset: str | None = None,
        udh: str | None = None,
        network: str | None = None,
    ) -> list[MOEvent]:
        """A handset sends ``text`` from ``from_`` to the account's number ``to``.

        Long texts arrive as several parts with a concatenation UDH (``050003`` + reference,
        total, sequence), each delivered to the account's MO callback as its own event.
        """
        if not (is_msisdn(to) or to.isdigit()) or not from_.isdigit():
            raise ValueError("to and from_ must be numbers in international format")
        with self._lock:
            account = self._account(api_id)
            now = self.clock.time()
            if udh is not None:
                segments, headers = [text], [udh]
            else:
                segments = split_parts(text) or [text]
                if len(segments) == 1:
                    headers = [""]
                else:
                    self._mo_ref = (self._mo_ref + 1) % 256
                    total = len(segments)
                    headers = [
                        f"050003{self._mo_ref:02X}{total:02X}{i:02X}" for i in range(1, total + 1)
                    ]
            if charset is None:
                try:
                    text.encode("latin-1")
                    charset = "ISO-8859-1"
                except UnicodeEncodeError:
                    charset = "UTF-8"
            stamp = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(now + 7200))
            events = [
                MOEvent(
                    api_id=account.api_id,
                    momsgid=self._new_id(),
                    from_=from_,
                    to=to,
                    timestamp_gmt2=stamp,
                    text=segment,
                    charset=charset,
                    udh=header,
                    network=network,
                )
                for segment, header in zip(segments, headers, strict=True)
            ]
            self.mo_messages.extend(events)
            self.recorder.record_mo(len(events))
            sink = self._sink
            if sink is not None and account.mo_callback_url:
                for event in events:
                    sink.mo_received(account, event)
            return events

    def __repr__(self) -> str:
        return (
            f"<GatewayEmulator profile={self.profile.name!r} accounts={len(self._accounts)} "
            f"messages={len(self._messages)} clock={self.clock!r}>"
        )
