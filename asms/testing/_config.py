"""Configuration of the emulator: accounts, protocol profiles, the message lifecycle, faults."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, get_args

from .._codes import CALLBACK_TRIGGERS, CALLBACK_TRIGGERS_V238, ErrorCode, MessageStatus
from .._config import DEFAULT_FAULT_COMMANDS, DEFAULT_MAX_PARTS, MAX_RECIPIENTS
from .._optable import MAX_CALLBACK, MAX_CONCAT

__all__ = [
    "FAULT_KINDS",
    "Account",
    "CallbackMethod",
    "FaultKind",
    "Faults",
    "Lifecycle",
    "Profile",
]

CallbackMethod = Literal["get", "post", "xml_get", "xml_post", "soap_get", "soap_post"]
_CALLBACK_METHODS = frozenset(get_args(CallbackMethod))


def _frozen(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """An API connection of the emulated gateway.

    ``credits`` is the opening balance (the live balance is ``GatewayEmulator.balance``).
    ``allowed_ips`` switches on IP lockdown (``ERR: 007`` from any other address).
    ``senders`` lists registered alphanumeric sender ids; when set, any other alphanumeric
    ``from`` is refused with ``ERR: 123``. ``frozen`` refuses every call with ``ERR: 004``.
    Status callbacks go to ``callback_url`` (only for messages that ask for them), inbound
    messages to ``mo_callback_url``; ``callback_auth`` is the HTTP Basic (user, password).
    """

    api_id: int
    user: str
    password: str = field(repr=False)
    credits: float = 1_000.0
    allowed_ips: frozenset[str] | None = None
    callback_url: str | None = None
    callback_method: CallbackMethod = "post"
    mo_callback_url: str | None = None
    mo_callback_method: CallbackMethod = "post"
    callback_auth: tuple[str, str] | None = field(default=None, repr=False)
    senders: frozenset[str] | None = None
    frozen: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.api_id, bool) or not isinstance(self.api_id, int) or self.api_id < 0:
            raise ValueError("api_id must be a non-negative integer")
        if not self.user or not self.password:
            raise ValueError("user and password must not be empty")
        if not math.isfinite(self.credits):
            raise ValueError("credits must be a finite number")
        for name in ("callback_method", "mo_callback_method"):
            if getattr(self, name) not in _CALLBACK_METHODS:
                raise ValueError(f"{name} must be one of {', '.join(sorted(_CALLBACK_METHODS))}")
        object.__setattr__(self, "allowed_ips", _frozen(self.allowed_ips))
        object.__setattr__(self, "senders", _frozen(self.senders))
        if self.callback_auth is not None:
            object.__setattr__(self, "callback_auth", tuple(self.callback_auth))

    @classmethod
    def parse(cls, spec: str, *, credits: float = 1_000.0) -> Account:
        """``"API_ID:USER:PASSWORD"`` (the password may contain colons)."""
        api_id, sep, rest = spec.partition(":")
        user, sep2, password = rest.partition(":")
        if not (sep and sep2 and api_id.isdigit() and user and password):
            raise ValueError("expected API_ID:USER:PASSWORD")
        return cls(api_id=int(api_id), user=user, password=password, credits=credits)


# Recipients per request and parts per message are facts of the gateway the client needs too:
# one home, asms._config (the limits) and asms._optable (the bounds of concat and callback).
_DEFAULT_LIMITS: Final = MAX_RECIPIENTS["default"]
_V238_LIMITS: Final = MAX_RECIPIENTS["v2.3.8"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Which platform generation the emulator reproduces (docs/protocol.md, "Profiles")."""

    name: str = "default"
    max_recipients_get: int = _DEFAULT_LIMITS["GET"]
    max_recipients_post: int = _DEFAULT_LIMITS["POST"]
    max_recipients_soap: int = _DEFAULT_LIMITS["SOAP"]
    max_callback: int = MAX_CALLBACK
    error_lines_with_to: bool = True
    charge_line: Literal["ID", "apiMsgId"] = "ID"
    max_concat: int = DEFAULT_MAX_PARTS
    #: allowed ``max_credits`` values (v2.3.8 routing profiles); others get ``ERR: 302``
    max_credits_values: frozenset[float] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_concat <= MAX_CONCAT:
            raise ValueError(f"max_concat must be from 1 to {MAX_CONCAT}")

    @property
    def callback_triggers(self) -> Mapping[int, frozenset[MessageStatus]]:
        """``callback`` value -> the statuses it asks to be told about, in this profile."""
        return CALLBACK_TRIGGERS if self.max_callback > 3 else CALLBACK_TRIGGERS_V238

    @classmethod
    def named(cls, name: str) -> Profile:
        """``"default"`` or ``"v2.3.8"``."""
        try:
            return _PROFILES[name]
        except KeyError:
            raise ValueError(f"unknown profile {name!r}: use 'default' or 'v2.3.8'") from None


_PROFILES = {
    "default": Profile(),
    "v2.3.8": Profile(
        name="v2.3.8",
        max_recipients_get=_V238_LIMITS["GET"],
        max_recipients_post=_V238_LIMITS["POST"],
        max_recipients_soap=_V238_LIMITS["SOAP"],
        max_callback=3,
        error_lines_with_to=False,
        charge_line="apiMsgId",
        max_credits_values=frozenset({0.8, 1.0, 1.5, 2.0, 2.5, 3.0}),
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifecycle:
    """How long an accepted message spends in each state, in seconds of the emulator clock.

    An accepted message is ``002`` (queued) for ``queued`` seconds, then ``003`` (delivered to
    gateway) for ``delivery`` seconds, then ``004`` (received). Deferred messages are ``011``
    until due. A message whose ``validity`` is shorter than ``queued`` expires (``010``).
    """

    queued: float = 1.0
    delivery: float = 4.0

    def __post_init__(self) -> None:
        if not (self.queued >= 0 and self.delivery >= 0):
            raise ValueError("lifecycle durations must not be negative")


FaultKind = Literal[
    "latency",
    "err901_before_commit",
    "err901_after_commit",
    "drop_before_commit",
    "drop_after_commit",
    "truncated_reply",
    "slow_reply",
    "connect_error",
    "err130",
    "rate_cap",
    "querymsg_hidden",
    "session_expiry",
]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
#: Kinds that decide the fate of one request (at most one applies); listed in draw order.
OUTCOME_KINDS: tuple[str, ...] = (
    "err901_before_commit",
    "err901_after_commit",
    "drop_before_commit",
    "drop_after_commit",
    "truncated_reply",
    "slow_reply",
    "connect_error",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Seeded, deterministic fault injection for the sending commands.

    The seven outcome probabilities (``err901_before_commit`` … ``connect_error``) are drawn
    once per request of a command in ``commands`` (at most one applies; their sum is at most
    1). ``script`` forces the outcome of the first requests in order (``None``: no fault),
    before probabilities take over. ``latency`` seconds are added to the reply with
    ``latency_probability``; a ``slow_reply`` waits ``slow_reply_seconds`` after commit.
    ``err130_until`` refuses sends with ``ERR: 130`` while the clock is before it;
    ``err130_once`` refuses the next send only, with ``ERR: 130`` naming that unix time (the
    other requests go through; setting the faults again arms it again);
    ``rate_cap`` (messages per second on the emulator clock, burst of one second) refuses
    sends above it with ``ERR: <rate_cap_error>``; ``querymsg_visibility_delay`` hides
    accepted messages from querymsg/getmsgcharge/delmsg for that many seconds.
    ``session_expiry`` is the probability that a request carrying a valid session id finds
    its session expired (``ERR: 003``; the session is gone for every later request too), drawn
    from a stream of its own so that it does not change the draws of the other faults.

    Over a real socket "drops" and ``connect_error`` send the response head and close the
    connection (an ASGI app cannot do less), and a truncated reply sends half the body;
    :class:`EmulatorTransport` raises the matching httpx errors directly.

    The Platform sends (``POST /messages``, ``GET /messages/http/send``, ``POST
    /v1/message``) are faulted when ``sendmsg`` (or their own command name,
    ``platform:send``, ``platform:http_send``, ``one-api:send``) is in ``commands``, from
    the same dice and counted under the same kinds. On them ``err901_before_commit``
    answers HTTP 503 (One API code 19 "please retry"; Platform SMS ``errorCode`` 901) and
    commits nothing; ``err901_after_commit`` commits, then answers HTTP 500 (One API 18;
    Platform SMS 901). ``drop_before_commit`` refuses the connection (``httpx.ConnectError``
    from :class:`EmulatorTransport`: the request never reached the platform, the only drop
    a Platform client can tell apart; over a socket it acts as the legacy drop), and
    ``drop_after_commit`` is the legacy drop. ``err130_until``, ``err130_once`` and
    ``rate_cap`` answer HTTP 429 on Platform SMS and One API code 43 (HTTP 400) on
    ``/v1/message``. Latency, slow and truncated replies and ``connect_error`` act as on the
    legacy API.
    """

    seed: int = 0
    latency: float = 0.0
    latency_probability: float = 1.0
    err901_before_commit: float = 0.0
    err901_after_commit: float = 0.0
    drop_before_commit: float = 0.0
    drop_after_commit: float = 0.0
    truncated_reply: float = 0.0
    slow_reply: float = 0.0
    slow_reply_seconds: float = 30.0
    connect_error: float = 0.0
    err130_until: int | None = None
    err130_once: int | None = None
    rate_cap: float | None = None
    rate_cap_error: int = 901
    querymsg_visibility_delay: float = 0.0
    session_expiry: float = 0.0
    script: tuple[str | None, ...] = ()
    commands: frozenset[str] = DEFAULT_FAULT_COMMANDS

    def __post_init__(self) -> None:
        object.__setattr__(self, "commands", frozenset(self.commands))
        object.__setattr__(self, "script", tuple(self.script))
        total = 0.0
        for name in (*OUTCOME_KINDS, "latency_probability", "session_expiry"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability from 0 to 1")
            if name in OUTCOME_KINDS:
                total += value
        if total > 1.0 + 1e-9:
            raise ValueError("the outcome probabilities must add up to at most 1")
        for name in ("latency", "slow_reply_seconds", "querymsg_visibility_delay"):
            if not 0.0 <= getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a non-negative number of seconds")
        for name in ("err130_until", "err130_once"):
            value = getattr(self, name)
            # The gateway names a whole unix second; a float would make it write a time
            # no client can read ("until 1796542371.7086508").
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be a whole unix time, e.g. int(time.time()) + 2")
        if self.rate_cap is not None and not self.rate_cap > 0:
            raise ValueError("rate_cap must be positive")
        if self.rate_cap_error not in ErrorCode._value2member_map_:
            raise ValueError("rate_cap_error must be a gateway error code")
        for kind in self.script:
            if kind is not None and kind not in OUTCOME_KINDS:
                raise ValueError(
                    f"script entries must be None or one of {', '.join(OUTCOME_KINDS)}"
                )

    @property
    def active(self) -> bool:
        """True when any fault can happen."""
        return bool(
            self.latency
            or self.script
            or self.err130_until is not None
            or self.err130_once is not None
            or self.rate_cap is not None
            or self.querymsg_visibility_delay
            or self.session_expiry
            or any(getattr(self, kind) for kind in OUTCOME_KINDS)
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Faults:
        """Build from JSON-like data (admin API, CLI); unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        for name, value in data.items():
            _check_fault_type(name, value)
        values = dict(data)
        if "commands" in values:
            values["commands"] = frozenset(values["commands"])
        if "script" in values:
            values["script"] = tuple(values["script"])
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        """The settings as JSON-ready data (the inverse of :meth:`from_mapping`)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["commands"] = sorted(self.commands)
        data["script"] = list(self.script)
        return data


_WHOLE_NUMBERS: Final = frozenset({"seed", "rate_cap_error", "err130_until", "err130_once"})
_OPTIONAL: Final = frozenset({"err130_until", "err130_once", "rate_cap"})


def _check_fault_type(name: str, value: Any) -> None:
    """A setting of the wrong JSON type is refused by name, with the type it needs.

    The checks of ``Faults`` compare numbers; given a string or a list they would fail with
    Python's own words ("'<=' not supported ...") instead.
    """
    if value is None and name in _OPTIONAL:
        return
    if name in ("script", "commands"):
        items = (str, type(None)) if name == "script" else (str,)
        if isinstance(value, list | tuple | set | frozenset) and all(
            isinstance(item, items) for item in value
        ):
            return
        what = "a list of fault kinds (or null)" if name == "script" else "a list of command names"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if name in _WHOLE_NUMBERS:
        if isinstance(value, int) and not isinstance(value, bool):
            return
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return
    raise ValueError(f"{name} must be a number, got {value!r}")
