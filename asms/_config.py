"""Configuration: every default asms has, the retry policy, credentials and client options.

This module is the one home of defaults (the client's, the transport's, the reply caps, bulk
runs', the callback receiver's, the emulator's and the command line's): other modules import
them from here instead of keeping a copy. It sits below the transport, so every layer may
import it. Timeouts and pool limits are httpx's own ``Timeout`` and ``Limits``.
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass, field
from typing import Final, Literal

from ._compat import httpx
from ._exceptions import ValidationError
from ._numbers import InvalidNumberError, normalize_msisdn
from ._optable import MAX_CONCAT

__all__ = [
    "BULK_ROUND_TRIP",
    "ApiKey",
    "ClientOptions",
    "Credentials",
    "DEFAULT_BASE_URL",
    "DEFAULT_BULK_BURST",
    "DEFAULT_BULK_RATE",
    "DEFAULT_CALLBACKS_PORT",
    "DEFAULT_CALLBACK_RETENTION",
    "DEFAULT_CAMPAIGN_POLL_INTERVAL",
    "DEFAULT_CLAIM_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_CREDIT_PER_PART",
    "DEFAULT_DEMO_COUNT",
    "DEFAULT_DEMO_RATE",
    "DEFAULT_DEMO_WORKERS",
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_EMULATOR_PORT",
    "DEFAULT_EMULATOR_RETENTION",
    "DEFAULT_FAULT_COMMANDS",
    "DEFAULT_LEASE",
    "DEFAULT_LIMITS",
    "DEFAULT_LINGER",
    "DEFAULT_LISTEN_HOST",
    "DEFAULT_MAX_CALLBACK_BODY",
    "DEFAULT_MAX_CALLBACK_RECORDS",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_PARTS",
    "DEFAULT_MAX_PENDING_BYTES",
    "DEFAULT_MAX_PENDING_MESSAGES",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PLATFORM_URL",
    "DEFAULT_PROGRESS_INTERVAL",
    "DEFAULT_REASSEMBLY_TIMEOUT",
    "DEFAULT_RECONCILE_GRACE",
    "DEFAULT_REDIS_MAX_WAIT",
    "DEFAULT_REDIS_TIMEOUT",
    "DEFAULT_REQUEST_LIMIT",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_THROTTLE_PAUSE",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WORKER_CONCURRENCY",
    "DEMO_API_ID",
    "DEMO_API_KEY",
    "DEMO_CREDITS",
    "DEMO_PASSWORD",
    "DEMO_USER",
    "HEARTBEAT_INTERVAL",
    "MAX_BULK_CONCURRENCY",
    "MAX_CAMPAIGN_NAME",
    "MAX_HEAD_BYTES",
    "MAX_RECIPIENTS",
    "MAX_REPLY_BYTES",
    "MAX_THROTTLED",
    "MAX_XML_BYTES",
    "METRICS_LATENCY_BUCKETS",
    "METRICS_LIMITER_WAIT_BUCKETS",
    "MIN_BULK_CONCURRENCY",
    "PLATFORM_MAX_RECIPIENTS",
    "PLATFORM_WIRES",
    "PLATFORM_THROTTLE_PAUSE",
    "ProfileName",
    "REDIS_LATE_GRANT",
    "REDIS_LATE_REBOOKS",
    "REDIS_PAUSE_RETRY_FIRST",
    "REDIS_PAUSE_RETRY_MAX",
    "RetryPolicy",
    "SESSION_LIFETIME",
    "SUBMIT_HOLD",
    "TRANSPORT_LIMITS",
    "WORKER_READ_BLOCK_MS",
    "WORKER_REAP_INTERVAL",
    "WORKER_RETRY_FIRST",
    "WORKER_RETRY_MAX",
    "WireName",
    "base_url_from",
    "is_loopback",
    "plain_http_to_remote",
    "timeout_from",
]

DEFAULT_BASE_URL: Final = "https://api.clickatell.com"
#: Where the Platform wires (``wire="platform"``, ``"one-api"``) send by default.
DEFAULT_PLATFORM_URL: Final = "https://platform.clickatell.com"
# The gateway answers in milliseconds; a 600-recipient send is the slowest request there is.
#: Seconds to wait for the gateway per request (the command line's ``--timeout`` too).
DEFAULT_REQUEST_TIMEOUT: Final = 30.0
#: Seconds to wait for a connection, at most (a shorter request timeout shortens it too).
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_TIMEOUT: Final = httpx.Timeout(DEFAULT_REQUEST_TIMEOUT, connect=DEFAULT_CONNECT_TIMEOUT)
#: Seconds a gateway session id lives after its last use (docs/protocol.md, "Sessions").
SESSION_LIFETIME: Final = 15 * 60.0
#: Idle seconds before an entered client pings its session: well inside its lifetime.
DEFAULT_PING_INTERVAL: Final = 600.0

# -- connections and replies
# httpx keeps at most 20 idle connections by default; at a steady 50 requests in flight that
# closes and reopens 30 connections per round. Both pools below keep every connection they
# may open; they differ only in how long an idle one is kept.
#: An ``AsyncClient``'s pool: its connections go to one gateway, between bursts of sends. An
#: idle one the gateway has closed meanwhile is found before anything is written to it (the
#: transport checks a connection it takes from the pool), so keeping them costs no request.
DEFAULT_LIMITS: Final = httpx.Limits(
    max_connections=100, max_keepalive_connections=100, keepalive_expiry=30.0
)
#: A transport made on its own (``asms.AsyncTransport()``, ``asms.make_transport()``): it
#: stands in for httpx's transport, so it expires idle connections as httpx does, after 5 s.
TRANSPORT_LIMITS: Final = httpx.Limits(
    max_connections=100, max_keepalive_connections=100, keepalive_expiry=5.0
)
# A reply is refused as soon as it crosses either limit, while it is being read: a broken or
# hostile server cannot make the client buffer more than about this much per connection.
#: Largest reply body (the gateway's largest answer, to 600 recipients, is about 40 kB).
MAX_REPLY_BYTES: Final = 4_000_000
#: Largest reply head: status line and headers, with any interim (1xx) responses before them.
MAX_HEAD_BYTES: Final = 64 * 1024
#: Largest XML document parsed where no other cap is given (the SOAP requests the emulator
#: reads); checked before parsing.
MAX_XML_BYTES: Final = 1_000_000

WireName = Literal["http", "soap", "soap-rpc", "platform", "one-api"]
#: The wires of ``platform.clickatell.com``: they take an integration API key (:class:`ApiKey`).
PLATFORM_WIRES: Final = frozenset({"platform", "one-api"})
#: The platform generations the client knows (asms.testing.Profile describes one in full).
ProfileName = Literal["default", "v2.3.8"]

#: Recipients per request, by profile and (wire, method) (docs/protocol.md, "Limits").
MAX_RECIPIENTS: Final[dict[str, dict[str, int]]] = {
    "default": {"POST": 600, "GET": 300, "SOAP": 300},
    "v2.3.8": {"POST": 300, "GET": 100, "SOAP": 300},
}
#: Recipients (Platform SMS) or messages (One API) per request on the Platform wires.
PLATFORM_MAX_RECIPIENTS: Final = 200
#: Seconds the client waits before resending a request the platform refused for its rate
#: (HTTP 429, One API error 43) when the answer names no time (``Retry-After``).
PLATFORM_THROTTLE_PAUSE: Final = 1.0
#: Parts a text may use when its request gives no ``concat``: what an account allows in both
#: profiles (docs/protocol.md, "Limits"); a client's ``max_parts`` may raise it to
#: ``MAX_CONCAT``.
DEFAULT_MAX_PARTS: Final = 3


def _positive(name: str, value: float, *, zero: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(name, "must be a number", value)
    if value < 0 or (not zero and value == 0):
        raise ValidationError(name, "must be positive" if not zero else "must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard asms tries before it gives up on a request.

    ``attempts`` bounds the tries of one request (the first included) and ``timeout`` the
    seconds spent on it, waits included. Between tries asms waits an exponentially growing,
    jittered delay from ``backoff_initial`` up to ``backoff_max``. An attempt whose outcome is
    unknown is reconciled by querying its ``climsgid`` after each delay of
    ``reconcile_schedule`` (the gateway may not show a message at once); only when the last
    query still says "unknown client message id" is the request sent again. ``ERR 130`` waits
    until the time the gateway names, at most ``throttle_max_wait`` seconds. ``reauth_limit``
    bounds the re-authentications one request may cause.
    """

    attempts: int = 5
    timeout: float = 120.0
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    jitter: float = 0.1
    reconcile_schedule: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    throttle_max_wait: float = 300.0
    reauth_limit: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ValidationError("attempts", "must be an integer", self.attempts)
        if self.attempts < 1:
            raise ValidationError("attempts", "must be at least 1", self.attempts)
        if isinstance(self.reauth_limit, bool) or not isinstance(self.reauth_limit, int):
            raise ValidationError("reauth_limit", "must be an integer", self.reauth_limit)
        for name in ("timeout", "backoff_initial", "backoff_max", "jitter", "throttle_max_wait"):
            _positive(name, getattr(self, name))
        if not self.reconcile_schedule:
            raise ValidationError("reconcile_schedule", "needs at least one delay")
        object.__setattr__(self, "reconcile_schedule", tuple(self.reconcile_schedule))
        for delay in self.reconcile_schedule:
            _positive("reconcile_schedule", delay)

    @property
    def reconcile_window(self) -> float:
        """Seconds one reconciliation may take (the sum of the schedule)."""
        return sum(self.reconcile_schedule)

    @classmethod
    def testing(cls, *, attempts: int = 5, reconcile_queries: int = 2) -> RetryPolicy:
        """No waits at all: for tests against the emulator."""
        return cls(
            attempts=attempts,
            backoff_initial=0.0,
            backoff_max=0.0,
            jitter=0.0,
            reconcile_schedule=(0.0,) * reconcile_queries,
            throttle_max_wait=0.0,
        )


def _clean(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(name, "must be a string")
    text = str(value)
    if not text or len(text) > 200:
        raise ValidationError(name, "must be 1-200 characters")
    return text


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account's API id, user name and password; ``repr`` masks all three."""

    api_id: str = field(repr=False)
    user: str = field(repr=False)
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        api_id = _clean("api_id", self.api_id)
        if not (api_id.isascii() and api_id.isdigit()):
            raise ValidationError("api_id", "must be the account's numeric API id")
        object.__setattr__(self, "api_id", api_id)
        object.__setattr__(self, "user", _clean("user", self.user))
        object.__setattr__(self, "password", _clean("password", self.password))

    def __repr__(self) -> str:
        return "Credentials(api_id='***', user='***', password='***')"

    __str__ = __repr__

    def params(self) -> dict[str, str]:
        """The three authentication parameters, as the gateway names them."""
        return {"api_id": self.api_id, "user": self.user, "password": self.password}

    @classmethod
    def from_env(cls, prefix: str = "ASMS_") -> Credentials:
        """Read ``ASMS_API_ID``, ``ASMS_USER`` and ``ASMS_PASSWORD`` (or another prefix)."""
        values: dict[str, str] = {}
        for name in ("api_id", "user", "password"):
            key = prefix + name.upper()
            value = os.environ.get(key)
            if not value:
                raise ValidationError(name, f"environment variable {key} is not set")
            values[name] = value
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A Platform integration API key (``wire="platform"`` / ``"one-api"``); ``repr`` masks it.

    It travels in the ``Authorization`` header of every request, so it must be one line of
    printable ASCII without spaces.
    """

    key: str = field(repr=False)

    def __post_init__(self) -> None:
        key = self.key
        if not isinstance(key, str) or not key:
            raise ValidationError("api_key", "must be a non-empty string")
        if len(key) > 200 or not key.isascii() or not key.isprintable() or " " in key:
            raise ValidationError("api_key", "must be 1-200 printable ASCII characters, no spaces")

    def __repr__(self) -> str:
        return "ApiKey(key='***')"

    __str__ = __repr__

    def params(self) -> dict[str, str]:
        """What the Platform wires authenticate with: ``{"api_key": key}``."""
        return {"api_key": self.key}

    @classmethod
    def from_env(cls, name: str = "ASMS_API_KEY") -> ApiKey:
        """Read the key from ``ASMS_API_KEY`` (or another variable)."""
        value = os.environ.get(name)
        if not value:
            raise ValidationError("api_key", f"environment variable {name} is not set")
        return cls(value)


def timeout_from(value: float | httpx.Timeout | None) -> httpx.Timeout:
    """Seconds (or None: no limit) as an ``httpx.Timeout``; a Timeout as it is."""
    if isinstance(value, httpx.Timeout):
        parts = (value.connect, value.read, value.write, value.pool)
        if not all(part is None or _good_seconds(part) for part in parts):
            raise ValidationError("timeout", "must hold positive, finite seconds (or None)")
        return value
    if value is None:
        return httpx.Timeout(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not _good_seconds(value):
            raise ValidationError("timeout", "must be positive, finite seconds (or None)", value)
        return httpx.Timeout(value)
    raise ValidationError("timeout", "must be seconds, None or an httpx.Timeout")


def _good_seconds(value: float) -> bool:
    # A NaN compares false: it fails here, as a negative or an infinite number does.
    return 0 < value < math.inf


def base_url_from(value: str | httpx.URL) -> httpx.URL:
    """The gateway's base URL: http(s), a host, and nothing that would leak into logs."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        raise ValidationError("base_url", "must be an http:// or https:// URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationError("base_url", "must be an http:// or https:// URL")
    if url.userinfo or url.query or url.fragment:
        # Anything there would end up in every request line and in proxy logs.
        raise ValidationError("base_url", "must not carry credentials, a query or a fragment")
    return url


_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ``::1``): this machine."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_to_remote(scheme: str, host: str) -> bool:
    """Whether a base URL would send the credentials in clear over the network.

    The one rule the library and the command line share: plain ``http://`` is for this
    machine (the emulator, a local proxy); to any other host it needs an explicit opt-in
    (``insecure_http=True``, ``--insecure-http``).
    """
    return scheme.lower() == "http" and not is_loopback(host)


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Everything a client (or a ``with_options`` copy of it) is configured with."""

    credentials: Credentials | ApiKey
    wire: WireName
    base_url: httpx.URL
    method: Literal["POST", "GET"]
    timeout: httpx.Timeout
    retry: RetryPolicy
    country_code: str | int | None
    profile: ProfileName
    session: bool
    max_parts: int
    ping_interval: float

    def __post_init__(self) -> None:
        if self.wire not in ("http", "soap", "soap-rpc", "platform", "one-api"):
            raise ValidationError(
                "wire", "must be 'http', 'soap', 'soap-rpc', 'platform' or 'one-api'", self.wire
            )
        platform = self.wire in PLATFORM_WIRES
        if platform and not isinstance(self.credentials, ApiKey):
            raise ValidationError(
                "api_key", f"the {self.wire} wire needs an integration API key (api_key=)"
            )
        if not platform and isinstance(self.credentials, ApiKey):
            raise ValidationError(
                "wire",
                "an API key works on the Platform wires only ('platform', 'one-api'); "
                "the legacy wires need api_id, user and password",
                self.wire,
            )
        if platform and self.session:
            raise ValidationError("session", f"the {self.wire} wire has no sessions")
        if self.method not in ("POST", "GET"):
            raise ValidationError("method", "must be 'POST' or 'GET'", self.method)
        if self.method == "GET" and (self.wire != "http" or not self.session):
            # GET puts its parameters in the URL: only ever a session id, never credentials.
            raise ValidationError("method", "GET needs wire='http' and session=True")
        if self.profile not in MAX_RECIPIENTS:
            raise ValidationError("profile", "must be 'default' or 'v2.3.8'", self.profile)
        if not isinstance(self.max_parts, int) or not 1 <= self.max_parts <= MAX_CONCAT:
            raise ValidationError(
                "max_parts", f"must be an integer from 1 to {MAX_CONCAT}", self.max_parts
            )
        if not isinstance(self.retry, RetryPolicy):
            raise ValidationError("retry", "must be an asms.RetryPolicy")
        if not isinstance(self.credentials, Credentials | ApiKey):
            raise ValidationError("credentials", "must be an asms.Credentials")
        if self.country_code is not None:
            try:
                normalize_msisdn("0123456789", self.country_code)
            except InvalidNumberError as exc:
                raise ValidationError("country_code", exc.rule, self.country_code) from None
        if not self.ping_interval > 0:
            raise ValidationError("ping_interval", "must be positive", self.ping_interval)

    @property
    def max_recipients(self) -> int:
        """Recipients one request carries with this wire, method and profile."""
        if self.wire in PLATFORM_WIRES:
            return PLATFORM_MAX_RECIPIENTS
        limits = MAX_RECIPIENTS[self.profile]
        return limits[self.method] if self.wire == "http" else limits["SOAP"]


# -- bulk runs
# The defaults of ``send_bulk`` (``asms._bulk.options.BulkOptions`` names them) and the
# protocol facts a bulk run follows.
#: Recipients per second (a request to 600 recipients counts 600).
DEFAULT_BULK_RATE: Final = 100.0
#: Recipients that may go at once after an idle moment (and at start-up).
DEFAULT_BULK_BURST: Final = 1
#: Seconds a stopped run waits for the requests in flight.
DEFAULT_DRAIN_TIMEOUT: Final = 10.0
#: Seconds a partial group waits for more messages from a slow async input.
DEFAULT_LINGER: Final = 0.05
#: Seconds a resumed run waits, from when the interrupted run stopped, before it looks up
#: the requests that run left without an outcome (the gateway may still show them late).
DEFAULT_RECONCILE_GRACE: Final = 5.0
# The default concurrency keeps ``rate`` going with this round trip (seconds) to the gateway:
# rate x round trip requests in flight, within these bounds.
BULK_ROUND_TRIP: Final = 0.25
MIN_BULK_CONCURRENCY: Final = 8
MAX_BULK_CONCURRENCY: Final = 64
#: Recipients one request carries when the sender does not say (the default profile's POST).
DEFAULT_REQUEST_LIMIT: Final = MAX_RECIPIENTS["default"]["POST"]
#: Seconds a run pauses after an ``ERR 130`` that names no time.
DEFAULT_THROTTLE_PAUSE: Final = 60.0
#: ``ERR 130`` answers for one request before its messages count as rejected with 130.
MAX_THROTTLED: Final = 10
#: Seconds between the heartbeats a running bulk send writes into its journal.
HEARTBEAT_INTERVAL: Final = 1.0
#: Characters a journal's campaign name may have.
MAX_CAMPAIGN_NAME: Final = 200

# -- Redis (``asms.RedisRateLimiter``)
#: Seconds to connect to Redis, and for one command's answer.
DEFAULT_REDIS_TIMEOUT: Final = 5.0
#: How far ahead of Redis's clock (seconds) a reservation's first slot may be booked; a
#: caller that would start later books nothing, sleeps the excess and tries again, so a
#: crowd of processes cannot book minutes of future slots.
DEFAULT_REDIS_MAX_WAIT: Final = 10.0
#: Seconds a caller of the shared limiter may wake after its slot (or half an interval, if
#: longer) and still take it; a later one books a new slot, so that a busy process's late
#: request cannot bunch up with another's on-time one. At most :data:`REDIS_LATE_REBOOKS`
#: times per acquire: a process always that late sends anyway rather than never.
REDIS_LATE_GRANT: Final = 0.005
REDIS_LATE_REBOOKS: Final = 3
#: Seconds before a limiter tries again to write an ``ERR 130`` pause Redis refused (down,
#: timed out); the wait doubles up to :data:`REDIS_PAUSE_RETRY_MAX` while the pause lies ahead.
REDIS_PAUSE_RETRY_FIRST: Final = 0.05
#: The longest wait between two tries to write a pause to Redis (seconds).
REDIS_PAUSE_RETRY_MAX: Final = 1.0

# -- campaign workers (``asms.CampaignWorker``, ``asms worker``)
#: Seconds a submission of a campaign holds it after each step (another submission of the same
#: campaign is refused meanwhile); a submission that died lets go after this.
SUBMIT_HOLD: Final = 30.0
#: Units one worker process sends at once.
DEFAULT_WORKER_CONCURRENCY: Final = 8
#: Seconds a worker holds a unit without a heartbeat before another may take it over. It must
#: outlast a request's timeout and a reconciliation; the holder renews it every third of it.
DEFAULT_LEASE: Final = 60.0
#: Times a unit may be taken (claimed or tried again) before it goes to the dead-letter stream.
DEFAULT_MAX_DELIVERIES: Final = 5
#: Milliseconds a worker's read of the queue blocks (never 0: it must be able to stop).
WORKER_READ_BLOCK_MS: Final = 1000
#: Seconds between a worker's looks for units whose holder stopped beating.
WORKER_REAP_INTERVAL: Final = 1.0
#: First and longest wait (seconds) before a worker tries again: Redis down, gateway unreachable.
WORKER_RETRY_FIRST: Final = 0.5
WORKER_RETRY_MAX: Final = 30.0

# -- worker metrics (``asms.WorkerMetrics``; ``asms worker --metrics-port``)
# Fixed Prometheus-style bucket upper bounds (seconds; +Inf is implied): one set for every
# worker, so the histograms of a fleet add up on a dashboard.
#: A request to the gateway: milliseconds on a good day, up to the request timeout on a bad one.
METRICS_LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
#: A wait for the rate limiter's slots: none while under the rate, up to a minute's backlog.
METRICS_LIMITER_WAIT_BUCKETS: Final[tuple[float, ...]] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

# -- callbacks
# The defaults of ``asms.callbacks.CallbackStore`` and ``asms.callbacks.CallbackReceiver``.
#: Seconds a handled callback's record is kept after its last change, so that a redelivery
#: is known as a duplicate.
DEFAULT_CALLBACK_RETENTION: Final = 7 * 86400.0
#: Seconds a claim on a callback holds before another process may take it over.
DEFAULT_CLAIM_TIMEOUT: Final = 600.0
#: Records a store keeps at most (a receiver's ``dedup_size``); beyond it new callbacks are
#: refused, none evicted.
DEFAULT_MAX_CALLBACK_RECORDS: Final = 1_000_000
#: Largest callback request body or query string accepted, in bytes. One API envelopes carry
#: arrays of events and base64 media (``moMedia``): one refused for its size is refused on
#: every retry, and lost. Requests are authenticated before their body is read.
DEFAULT_MAX_CALLBACK_BODY: Final = 4 * 1024 * 1024
#: Seconds the parts of an inbound message wait for the rest before what arrived is handed over.
DEFAULT_REASSEMBLY_TIMEOUT: Final = 7200.0
#: Incomplete inbound messages kept at once, at most.
DEFAULT_MAX_PENDING_MESSAGES: Final = 10_000
#: Bytes the parts of incomplete inbound messages may hold in all.
DEFAULT_MAX_PENDING_BYTES: Final = 16_000_000
#: Bytes the parts of one incomplete inbound message may hold.
DEFAULT_MAX_MESSAGE_BYTES: Final = 512_000

# -- emulator
#: The address the emulator (``asms.testing.serve``, ``asms emulator``) and ``asms callbacks``
#: listen on unless told otherwise: this machine only.
DEFAULT_LISTEN_HOST: Final = "127.0.0.1"
#: The account an emulator accepts when given none (``asms.testing.DEFAULT_ACCOUNT``).
DEMO_API_ID: Final = 1234
DEMO_USER: Final = "demo"
DEMO_PASSWORD: Final = "demo"
DEMO_CREDITS: Final = 1_000_000.0
#: The Platform integration API key an emulator accepts when given none (``asms emulator``
#: prints it at start-up, as it does the legacy demo account).
DEMO_API_KEY: Final = "asms-demo-integration-key"
#: The port ``asms.testing.serve`` and ``asms emulator`` listen on.
DEFAULT_EMULATOR_PORT: Final = 8765
#: The commands ``asms.testing.Faults`` injects faults into unless told otherwise.
DEFAULT_FAULT_COMMANDS: Final[frozenset[str]] = frozenset({"sendmsg", "quicksend", "senditem"})
#: Messages ``asms emulator`` keeps for ``querymsg`` (an emulator made in code keeps all).
DEFAULT_EMULATOR_RETENTION: Final = 200_000

# -- command line
#: The port ``asms callbacks`` listens on.
DEFAULT_CALLBACKS_PORT: Final = 8080
#: ``asms bulk --progress-interval``: seconds between progress lines when stderr is no terminal.
DEFAULT_PROGRESS_INTERVAL: Final = 10.0
#: ``asms bulk --credit-per-part``: the price of one part in a ``--dry-run`` estimate.
DEFAULT_CREDIT_PER_PART: Final = 1.0
#: ``asms bulk --redis --wait``: seconds between two looks at the campaign's progress.
DEFAULT_CAMPAIGN_POLL_INTERVAL: Final = 0.5
#: ``asms demo``: how many messages it sends, and at what rate (messages per second).
DEFAULT_DEMO_COUNT: Final = 20_000
DEFAULT_DEMO_RATE: Final = 1_000.0
#: ``asms demo-redis``: the worker processes sharing its campaign (count and rate as above).
DEFAULT_DEMO_WORKERS: Final = 3
