"""The gateway emulator: its public face over the gateway state (:mod:`._state`).

Everything the gateway remembers is in one :class:`~._state.GatewayState`, which the
command modules receive; this class builds it, guards it with its lock, and offers the
methods and attributes tests use to configure and inspect it.
"""

from __future__ import annotations

import dataclasses
import importlib
import time as _time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._clock import Clock
from .._codes import MessageStatus
from .._config import DEMO_API_ID, DEMO_API_KEY, DEMO_CREDITS, DEMO_PASSWORD, DEMO_USER
from .._encoding import split_parts
from ._app import GatewayApp
from ._clock import FakeClock, as_clock
from ._config import Account, Faults, Lifecycle, Profile
from ._content import is_msisdn
from ._events import CallbackSink, MOEvent
from ._platform import PlatformGateway
from ._platform_config import Integration, PlatformProfile
from ._recorder import CommittedMessage, Recorder, RecorderMode, RecorderStatistics
from ._state import GatewayState

if TYPE_CHECKING:
    from .._compat import httpx
    from ._app import Scope
    from ._transport import EmulatorTransport

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_INTEGRATION", "GatewayEmulator"]

DEFAULT_ACCOUNT = Account(
    api_id=DEMO_API_ID, user=DEMO_USER, password=DEMO_PASSWORD, credits=DEMO_CREDITS
)
#: The Platform's demo key: it belongs to the emulator's first account.
DEFAULT_INTEGRATION = Integration(key=DEMO_API_KEY, name="asms demo integration")


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

    The Platform endpoints (``/messages``, ``/messages/http/send``, ``/public-client/...``,
    ``/v1/message``, ``/v1/balance``) are served on the same app: ``integrations`` are
    their API keys (default: ``asms._config.DEMO_API_KEY`` on the first account), each
    belonging to an account whose credits, messages and recorder it shares; ``platform``
    picks their response variant (a :class:`PlatformProfile` or a name such as
    ``"2017+shuffled"``, see :meth:`PlatformProfile.named`).
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
        integrations: Iterable[Integration] | None = None,
        platform: PlatformProfile | str = "current",
    ) -> None:
        chosen_clock = as_clock(clock)
        chosen_profile = profile if isinstance(profile, Profile) else Profile.named(profile)
        chosen_lifecycle = lifecycle or Lifecycle()
        chosen_recorder = recorder if isinstance(recorder, Recorder) else Recorder(recorder)
        self.admin: bool = admin
        self.seed: int = seed
        self.max_soap_bytes: int = max_soap_bytes
        if retention is not None and retention < 1:
            raise ValueError("retention must be at least 1")
        self._state = state = GatewayState(
            clock=chosen_clock,
            profile=chosen_profile,
            lifecycle=chosen_lifecycle,
            recorder=chosen_recorder,
            retention=retention,
            seed=seed,
        )
        state.set_routes({"": 1.0} if routes is None else routes)
        for account in accounts if accounts is not None else (DEFAULT_ACCOUNT,):
            state.add_account(account)
        if faults is not None:
            self.faults = faults
        chosen_platform = (
            platform if isinstance(platform, PlatformProfile) else PlatformProfile.named(platform)
        )
        self._platform = PlatformGateway(state, chosen_platform, seed)
        for integration in integrations if integrations is not None else (DEFAULT_INTEGRATION,):
            self._platform.add_integration(integration)
        if isinstance(callbacks, str):
            if callbacks != "auto":
                raise ValueError("callbacks must be a CallbackSink, None or 'auto'")
            state.sink = _default_sender(chosen_clock, http_client_factory)
        else:
            state.sink = callbacks
        if isinstance(chosen_clock, FakeClock):
            chosen_clock.subscribe(self._on_clock)
        self.app: GatewayApp = GatewayApp(self, state, self._platform)

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Serve one ASGI connection (the same as ``emulator.app``)."""
        await self.app(scope, receive, send)

    def transport(self, *, client_ip: str = "127.0.0.1") -> EmulatorTransport:
        """An httpx transport that calls this emulator in-process."""
        from ._transport import EmulatorTransport

        return EmulatorTransport(self, client_ip=client_ip)

    # -- configuration ------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """The clock everything runs on (fixed for the emulator's life)."""
        return self._state.clock

    @property
    def profile(self) -> Profile:
        """The platform generation reproduced (limits, callback values, reply forms)."""
        return self._state.profile

    @profile.setter
    def profile(self, profile: Profile) -> None:
        self._state.profile = profile

    @property
    def platform(self) -> PlatformProfile:
        """How the Platform endpoints answer (response variant, order, error statuses)."""
        return self._platform.profile

    @platform.setter
    def platform(self, profile: PlatformProfile | str) -> None:
        chosen = profile if isinstance(profile, PlatformProfile) else PlatformProfile.named(profile)
        with self._state.lock:
            self._platform.profile = chosen

    @property
    def integrations(self) -> Mapping[str, Integration]:
        """The Platform's API keys -> their integrations (read-only; see
        :meth:`add_integration`)."""
        return MappingProxyType(self._platform.integrations)

    def add_integration(self, integration: Integration) -> None:
        """Add (or replace) a Platform API key and its settings."""
        with self._state.lock:
            self._platform.add_integration(integration)

    def update_integration(self, key: str, **changes: Any) -> Integration:
        """Replace settings of an integration (``callback_url=…``, ``two_way=False``); messages
        already sent keep the settings they were sent with."""
        with self._state.lock:
            integration = dataclasses.replace(self._platform.integrations[key], **changes)
            self._platform.add_integration(integration)
            return integration

    @property
    def lifecycle(self) -> Lifecycle:
        """How long accepted messages spend in each status."""
        return self._state.lifecycle

    @lifecycle.setter
    def lifecycle(self, lifecycle: Lifecycle) -> None:
        self._state.lifecycle = lifecycle

    @property
    def recorder(self) -> Recorder:
        """What was committed: every message, or counters (see :class:`Recorder`)."""
        return self._state.recorder

    @recorder.setter
    def recorder(self, recorder: Recorder) -> None:
        self._state.recorder = recorder

    @property
    def retention(self) -> int | None:
        """How many messages are kept for querymsg (None: all of them)."""
        return self._state.retention

    @retention.setter
    def retention(self, retention: int | None) -> None:
        self._state.retention = retention

    @property
    def blocked(self) -> set[str]:
        """Numbers refused with ``ERR: 121`` (edit freely)."""
        return self._state.blocked

    @blocked.setter
    def blocked(self, numbers: set[str]) -> None:
        self._state.blocked = numbers

    @property
    def opted_out(self) -> set[str]:
        """Numbers refused with ``ERR: 122`` (edit freely)."""
        return self._state.opted_out

    @opted_out.setter
    def opted_out(self, numbers: set[str]) -> None:
        self._state.opted_out = numbers

    @property
    def delisted(self) -> set[str]:
        """Numbers refused with ``ERR: 128`` (edit freely)."""
        return self._state.delisted

    @delisted.setter
    def delisted(self, numbers: set[str]) -> None:
        self._state.delisted = numbers

    @property
    def undeliverable(self) -> set[str]:
        """Numbers whose messages are accepted and then fail with status ``007``."""
        return self._state.undeliverable

    @undeliverable.setter
    def undeliverable(self, numbers: set[str]) -> None:
        self._state.undeliverable = numbers

    @property
    def mo_messages(self) -> list[MOEvent]:
        """Every inbound message part injected so far, oldest first."""
        return self._state.mo_messages

    @mo_messages.setter
    def mo_messages(self, events: list[MOEvent]) -> None:
        self._state.mo_messages = events

    @property
    def callback_sink(self) -> CallbackSink | None:
        """Where status and MO events go (the callback sender), if anywhere."""
        return self._state.sink

    @callback_sink.setter
    def callback_sink(self, sink: CallbackSink | None) -> None:
        self._state.sink = sink

    @property
    def faults(self) -> Faults:
        """The injected faults; setting them restarts the dice from ``faults.seed``."""
        return self._state.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        state = self._state
        with state.lock:
            state.set_faults(faults)

    def configure_faults(self, faults: Faults | None = None, **settings: Any) -> Faults:
        """Set faults from a :class:`Faults` or keyword settings; ``configure_faults()`` clears."""
        self.faults = faults if faults is not None else Faults(**settings)
        return self._state.faults

    def add_account(self, account: Account) -> None:
        """Add (or replace) an account; its balance starts at ``account.credits``."""
        state = self._state
        with state.lock:
            state.add_account(account)

    def update_account(self, api_id: int, **changes: Any) -> Account:
        """Replace fields of an account (``frozen=True``, ``callback_url=…``), keeping its
        balance."""
        state = self._state
        with state.lock:
            account = dataclasses.replace(state.accounts[api_id], **changes)
            state.accounts[api_id] = account
            state.credentials_seen.clear()
            return account

    @property
    def accounts(self) -> Mapping[int, Account]:
        """The accounts by api_id (read-only; change them with the methods)."""
        return MappingProxyType(self._state.accounts)

    def balance(self, api_id: int | None = None) -> float:
        """The live balance of an account (the first one by default)."""
        state = self._state
        return state.balances[state.account(api_id).api_id]

    def set_credits(self, credits: float, api_id: int | None = None) -> None:
        """Set the live balance of an account (the first one by default)."""
        state = self._state
        with state.lock:
            state.balances[state.account(api_id).api_id] = float(credits)

    def add_vouchers(self, vouchers: Mapping[str, float]) -> None:
        """Voucher tokens (16 digits) that ``token_pay`` redeems once each for credits."""
        state = self._state
        with state.lock:
            state.vouchers.update({str(k): float(v) for k, v in vouchers.items()})

    @property
    def routes(self) -> Mapping[str, float | None]:
        """The routing table, prefix -> charge per part (read-only; see :meth:`set_routes`)."""
        return MappingProxyType(self._state.routes)

    def set_routes(self, routes: Mapping[str, float | None]) -> None:
        """Replace the routing table: prefix -> charge per part (None: not routed)."""
        state = self._state
        with state.lock:
            state.set_routes(routes)

    def set_route(self, prefix: str, charge: float | None) -> None:
        """Add or change one route: ``prefix`` -> charge per part (None: not routed)."""
        self.set_routes({**self._state.routes, prefix: charge})

    # -- reading state ------------------------------------------------------------------------

    def message(self, apimsgid: str) -> CommittedMessage | None:
        """A stored message by its apimsgid (None once forgotten or never sent)."""
        return self._state.messages.get(apimsgid.lower())

    def status(self, apimsgid: str) -> MessageStatus | None:
        """The current status of a stored message (None once forgotten or never sent)."""
        message = self.message(apimsgid)
        state = self._state
        return None if message is None else message.status_at(state.time(), state.lifecycle)

    def statistics(self) -> RecorderStatistics:
        """The recorder's counters (:meth:`Recorder.statistics`)."""
        return self._state.recorder.statistics()

    @property
    def stored_messages(self) -> int:
        """How many messages are kept for querymsg."""
        return len(self._state.messages)

    # -- the clock ----------------------------------------------------------------------------

    def advance(self, seconds: float) -> float:
        """Move a :class:`FakeClock` forward and emit every status change on the way."""
        clock = self._state.clock
        if not isinstance(clock, FakeClock):
            raise TypeError("advance() needs the emulator to run on a FakeClock")
        return clock.advance(seconds)

    def tick(self) -> None:
        """Emit the status changes that are due by now (the server does this every second)."""
        state = self._state
        with state.lock:
            now = state.time()
            state.process_due(now)
            self._platform.process_due(now)

    def _on_clock(self, now: float) -> None:
        state = self._state
        with state.lock:
            state.process_due(now)
            self._platform.process_due(now)

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
        api_key: str | None = None,
        related_message_id: str | None = None,
        keyword: str | None = None,
    ) -> list[MOEvent]:
        """A handset sends ``text`` from ``from_`` to the account's number ``to``.

        Long texts arrive as several parts with a concatenation UDH (``050003`` + reference,
        total, sequence), each delivered to the account's MO callback as its own event.

        With ``api_key``, the reply goes to that Platform integration instead: whole (one
        event), to its ``mo_callback_url`` in its callback form, ``charset`` ``"UTF-8"``
        unless given (``"ISO-8859-1"`` and ``"UTF-16BE"`` texts are sent percent-encoded);
        ``related_message_id`` is the apimsgid of the message replied to and ``keyword`` the
        matched keyword, as the reply callback carries them.
        """
        if not (is_msisdn(to) or to.isdigit()) or not from_.isdigit():
            raise ValueError("to and from_ must be numbers in international format")
        state = self._state
        if api_key is not None:
            with state.lock:
                return self._platform.inject_mo(
                    to,
                    from_,
                    text,
                    api_key=api_key,
                    charset=charset,
                    udh=udh,
                    network=network,
                    related_message_id=related_message_id,
                    keyword=keyword,
                )
        with state.lock:
            account = state.account(api_id)
            now = state.time()
            if udh is not None:
                segments, headers = [text], [udh]
            else:
                segments = split_parts(text) or [text]
                if len(segments) == 1:
                    headers = [""]
                else:
                    state.mo_ref = (state.mo_ref + 1) % 256
                    total = len(segments)
                    headers = [
                        f"050003{state.mo_ref:02X}{total:02X}{i:02X}" for i in range(1, total + 1)
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
                    momsgid=state.new_id(),
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
            state.mo_messages.extend(events)
            state.recorder.record_mo(len(events))
            sink = state.sink
            if sink is not None and account.mo_callback_url:
                for event in events:
                    sink.mo_received(account, event)
            return events

    def __repr__(self) -> str:
        state = self._state
        return (
            f"<GatewayEmulator profile={state.profile.name!r} accounts={len(state.accounts)} "
            f"messages={len(state.messages)} clock={state.clock!r}>"
        )


def _default_sender(
    clock: Clock, factory: Callable[[], httpx.AsyncClient] | None
) -> CallbackSink | None:
    """The callback sender ``callbacks="auto"`` attaches, if it can be imported."""
    try:
        module = importlib.import_module("asms.testing._callbacks")
    except ImportError:
        return None
    dispatcher_type: Any = getattr(module, "CallbackDispatcher", None)
    if dispatcher_type is None:
        return None
    if factory is None:
        from .._compat import httpx

        factory = httpx.AsyncClient
    sink: CallbackSink = dispatcher_type(clock, factory)
    return sink
