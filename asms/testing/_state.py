"""The emulated gateway's state: what it remembers, and the operations the commands share.

:class:`GatewayState` is one object that :class:`~asms.testing.GatewayEmulator` creates and
hands to the command modules (``_commands``, ``_delivery``, ``_app``, ``_admin``): they read
and change the gateway through its attributes and methods, never through the emulator. The
emulator's public API is a facade over it. Everything here runs under :attr:`GatewayState.lock`
(the app takes it per request, the emulator per public call).
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final

from .._clock import Clock
from .._codes import MessageStatus
from .._config import SESSION_LIFETIME
from ._call import BATCH_TTL, NO_CHARGE, err_line
from ._config import Account, Faults, Lifecycle, Profile
from ._events import CallbackSink, MOEvent, StatusEvent
from ._injector import FaultInjector
from ._recorder import CommittedMessage, Recorder

__all__ = ["DUE", "STATUS", "BatchRecord", "GatewayState", "PendingEntry", "SessionRecord"]

S = MessageStatus
#: Kinds of pending entries; at the same instant a due entry goes first.
DUE: Final = 0
STATUS: Final = 1
#: (when, kind, sequence, message, status): a deferred message falling due, or a status change.
PendingEntry = tuple[float, int, int, CommittedMessage, MessageStatus]

_MISSING: Final = object()
_CANCELLABLE: Final = frozenset({S.MESSAGE_QUEUED, S.QUEUED_FOR_LATER_DELIVERY})
# Past these sizes, expired sessions and batches are swept when a new one is opened.
_SESSIONS_BEFORE_SWEEP: Final = 10_000
_BATCHES_BEFORE_SWEEP: Final = 1_000


class SessionRecord:
    """An open session: whose it is and when it was last used (15-minute sliding expiry)."""

    __slots__ = ("api_id", "last_used")

    def __init__(self, api_id: int, last_used: float) -> None:
        self.api_id: int = api_id
        self.last_used: float = last_used


class BatchRecord:
    """A ``startbatch`` template and the sendmsg options that go with it."""

    __slots__ = ("api_id", "created", "params")

    def __init__(self, api_id: int, created: float, params: Mapping[str, str]) -> None:
        self.api_id: int = api_id
        self.created: float = created
        self.params: dict[str, str] = dict(params)


class GatewayState:
    """Accounts, balances, sessions, batches, stored messages, pending status changes,
    routes, faults and where callbacks go: the whole of the emulated gateway's memory.

    ``time`` reads the clock (unix seconds: ``clock.wall_time``); ``pending`` is a heap of
    :data:`PendingEntry` in time order. The number sets (``blocked`` …) and the settings
    (``profile``, ``lifecycle``, ``recorder``, ``retention``) are the emulator's public
    attributes, kept here so that the commands read them from one place.
    """

    __slots__ = (
        "_ids",
        "_seq",
        "accounts",
        "balances",
        "batches",
        "blocked",
        "by_climsgid",
        "clock",
        "credentials_seen",
        "delisted",
        "faults",
        "faults_active",
        "injector",
        "lifecycle",
        "lock",
        "messages",
        "mo_messages",
        "mo_ref",
        "opted_out",
        "order",
        "pending",
        "profile",
        "recorder",
        "retention",
        "route_len",
        "routes",
        "sessions",
        "sink",
        "time",
        "undeliverable",
        "vouchers",
    )

    def __init__(
        self,
        *,
        clock: Clock,
        profile: Profile,
        lifecycle: Lifecycle,
        recorder: Recorder,
        retention: int | None,
        seed: int,
    ) -> None:
        self.clock: Clock = clock
        self.time: Callable[[], float] = clock.wall_time
        self.profile: Profile = profile
        self.lifecycle: Lifecycle = lifecycle
        self.recorder: Recorder = recorder
        self.retention: int | None = retention
        self.lock: threading.RLock = threading.RLock()
        self.blocked: set[str] = set()
        self.opted_out: set[str] = set()
        self.delisted: set[str] = set()
        self.undeliverable: set[str] = set()
        self.mo_messages: list[MOEvent] = []
        self.mo_ref: int = 0  # the last concatenation reference of an injected MO
        # (api_id, user, password) as sent -> account, for credentials already checked once
        self.credentials_seen: dict[tuple[str, str, str], Account] = {}
        self.accounts: dict[int, Account] = {}
        self.balances: dict[int, float] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.batches: dict[str, BatchRecord] = {}
        self.vouchers: dict[str, float] = {}
        self.messages: dict[str, CommittedMessage] = {}
        self.order: deque[str] = deque()  # apimsgids of ``messages``, oldest first
        self.by_climsgid: dict[tuple[int, str], CommittedMessage] = {}
        self.pending: list[PendingEntry] = []
        self.routes: dict[str, float | None] = {}
        self.route_len: int = 0  # the longest prefix in ``routes``
        self.faults: Faults = Faults()
        self.faults_active: bool = False
        self.injector: FaultInjector = FaultInjector(self.faults, self.time())
        self.sink: CallbackSink | None = None
        self._ids = random.Random(seed)
        self._seq = itertools.count()

    # -- accounts, routes, faults ----------------------------------------------------------

    def new_id(self) -> str:
        """A fresh 32-hex-digit id (apiMsgId, session, batch, moMsgId), from the seed."""
        return f"{self._ids.getrandbits(128):032x}"

    def add_account(self, account: Account) -> None:
        """Add (or replace) an account; its balance starts at ``account.credits``."""
        self.accounts[account.api_id] = account
        self.balances[account.api_id] = float(account.credits)
        self.credentials_seen.clear()

    def account(self, api_id: int | None) -> Account:
        """The account ``api_id``, or the first one when None (``KeyError`` if unknown)."""
        if api_id is None:
            return next(iter(self.accounts.values()))
        return self.accounts[api_id]

    def set_routes(self, routes: Mapping[str, float | None]) -> None:
        """Replace the routing table: prefix -> charge per part (None: not routed)."""
        self.routes = dict(routes)
        self.route_len = max((len(p) for p in self.routes), default=0)

    def route(self, msisdn: str) -> float | None:
        """The charge per part to ``msisdn`` (longest prefix wins); None when not routed."""
        routes = self.routes
        for n in range(min(len(msisdn), self.route_len), -1, -1):
            charge = routes.get(msisdn[:n], _MISSING)
            if charge is not _MISSING:
                return charge  # type: ignore[return-value]
        return None

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault configuration; the dice restart from ``faults.seed``."""
        self.faults = faults
        self.faults_active = faults.active
        self.injector = FaultInjector(faults, self.time())

    def throttle(self, command: str, messages: int, now: float) -> str | None:
        """The refusal line of an MT limit (130) or the rate cap, if one applies."""
        faults = self.faults
        if command not in faults.commands:
            return None
        once = self.injector.take_err130_once()
        if once is not None:
            self.recorder.record_fault("err130")
            return f"{err_line(130)} {once}"
        if faults.err130_until is not None and now < faults.err130_until:
            self.recorder.record_fault("err130")
            return f"{err_line(130)} {faults.err130_until}"
        if faults.rate_cap is not None and not self.injector.take(messages, now):
            self.recorder.record_fault("rate_cap")
            return err_line(faults.rate_cap_error)
        return None

    # -- sessions and batches --------------------------------------------------------------

    def open_session(self, account: Account, now: float) -> str:
        """Start a session for ``account``; its id."""
        sessions = self.sessions
        if len(sessions) >= _SESSIONS_BEFORE_SWEEP:
            for key in [k for k, s in sessions.items() if now - s.last_used > SESSION_LIFETIME]:
                del sessions[key]
        session_id = self.new_id()
        sessions[session_id] = SessionRecord(account.api_id, now)
        return session_id

    def open_batch(self, account: Account, params: Mapping[str, str], now: float) -> str:
        """Keep a ``startbatch`` template and its options; the batch id."""
        batches = self.batches
        if len(batches) >= _BATCHES_BEFORE_SWEEP:
            for key in [k for k, b in batches.items() if now - b.created > BATCH_TTL]:
                del batches[key]
        batch_id = self.new_id()
        batches[batch_id] = BatchRecord(account.api_id, now, params)
        return batch_id

    def find_batch(self, api_id: int, batch_id: str, now: float) -> BatchRecord | None:
        """The account's batch ``batch_id``, unless unknown or expired (then forgotten)."""
        batch = self.batches.get(batch_id.lower())
        if batch is None or batch.api_id != api_id:
            return None
        if now - batch.created > BATCH_TTL:  # batches expire 24 hours after creation
            del self.batches[batch_id.lower()]
            return None
        return batch

    # -- stored messages -------------------------------------------------------------------

    def lookup(
        self, api_id: int, apimsgid: str | None, climsgid: str | None, now: float
    ) -> CommittedMessage | None:
        """The account's message by apimsgid (else by climsgid), as querymsg finds it."""
        if apimsgid:
            message = self.messages.get(apimsgid.lower())
        else:
            message = self.by_climsgid.get((api_id, climsgid or ""))
        if message is None or message.api_id != api_id:
            return None
        delay = self.faults.querymsg_visibility_delay
        if delay and now < message.time + delay:
            self.recorder.record_fault("querymsg_hidden")
            return None
        return message

    @staticmethod
    def charge_of(message: CommittedMessage, status: MessageStatus) -> float:
        """What ``message`` costs once it has ``status`` (nothing for the free statuses)."""
        return 0.0 if status in NO_CHARGE else message.charge

    def cancel(self, message: CommittedMessage, now: float) -> MessageStatus:
        """delmsg: stop a message that has not left yet; anything else keeps its status."""
        status = message.status_at(now, self.lifecycle)
        if status not in _CANCELLABLE:
            return status
        message.final, message.final_at = S.USER_CANCELLED, now
        if message.paid:
            self.balances[message.api_id] = round(self.balances[message.api_id] + message.charge, 6)
            message.paid = False
        self.push(now, STATUS, message, S.USER_CANCELLED)
        return S.USER_CANCELLED

    # -- the message lifecycle on the clock ------------------------------------------------

    def push(self, when: float, kind: int, message: CommittedMessage, status: S) -> None:
        """Queue a pending entry (:data:`DUE` or :data:`STATUS`) for ``when``."""
        heapq.heappush(self.pending, (when, kind, next(self._seq), message, status))

    def schedule_events(self, message: CommittedMessage) -> None:
        """Queue every status change of ``message`` along its lifecycle."""
        lifecycle = self.lifecycle
        previous: MessageStatus | None = None
        for when in message.change_times(lifecycle):
            status = message.status_at(when, lifecycle)
            if status != previous:
                self.push(when, STATUS, message, status)
                previous = status

    def process_due(self, now: float) -> None:
        """Run the pending entries due by ``now``: charge deferred messages, emit statuses."""
        pending = self.pending
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
        balance = self.balances.get(message.api_id, 0.0)
        if balance >= message.charge:
            self.balances[message.api_id] = round(balance - message.charge, 6)
            message.paid = True
        else:
            message.final, message.final_at = S.OUT_OF_CREDIT, when
            self.push(when, STATUS, message, S.OUT_OF_CREDIT)

    def _emit(self, message: CommittedMessage, status: MessageStatus, when: float) -> None:
        sink = self.sink
        account = self.accounts.get(message.api_id)
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
                charge=self.charge_of(message, status),
                timestamp=int(when),
                callback_value=message.callback,
            ),
        )
