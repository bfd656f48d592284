"""The asms exception tree.

Every exception asms raises derives from ``ASMSError``::

    ASMSError
    ├── ValidationError           (also ValueError)    refused locally, nothing was sent
    │   └── InvalidNumberError    .number              a phone number with no international form
    ├── ClientClosedError         (also RuntimeError)  the client was used after aclose()
    ├── UnsupportedCommandError   .command, .wire      the client's wire has no such command
    ├── JournalError              .path                a bulk journal cannot be used
    │   ├── JournalLockedError    .pid, .host, .since  another run owns it
    │   ├── JournalFinishedError  .campaign            its campaign already finished
    │   └── JournalMismatchError  (also ValueError)    another input or campaign
    ├── RedisError                .location            Redis unreachable or a command failed
    ├── CampaignError                                  a campaign on Redis cannot be used
    │   ├── CampaignNotFoundError .campaign            no such campaign on the account
    │   └── CampaignMismatchError                      submitted again with another input
    ├── RetryLater                                     a callback handler asks for the event again
    ├── TransportError            .sent                the exchange with the server failed
    │   ├── ConnectError          sent=False
    │   ├── RequestTimeout        (also TimeoutError)
    │   │   ├── ConnectTimeout    sent=False
    │   │   ├── PoolTimeout       sent=False
    │   │   ├── ReadTimeout       sent=None
    │   │   └── WriteTimeout      sent=None
    │   ├── ConnectionLost        sent=None
    │   ├── TLSError              sent=False, not retryable
    │   └── HTTPStatusError       .status_code; sent=None
    ├── ProtocolError                                  an answer came back but makes no sense
    │   ├── ReplyParseError       .reason, .excerpt
    │   └── SOAPFault             .faultcode, .faultstring, .detail
    └── GatewayError              .code, .description, .recipient   an ``ERR:`` reply
        ├── AuthenticationError   001 002 004 007 108
        ├── SessionError          003 005
        ├── ParameterError        100-102 106 107 109-113 116 120 123
        ├── DestinationError      105 114 115 121 122 128
        ├── MessageLookupError    103 104
        ├── BatchError            201 202
        ├── CreditError           301 302
        ├── ThrottledError        130  (.until, .retry_after)
        └── InternalGatewayError  901

On the Platform wires a ``GatewayError``'s ``code`` is the legacy :class:`ErrorCode` where
the meaning is the same (One API 25 is 105), else a ``OneApiErrorCode`` or
``PlatformErrorCode`` member (``asms._platform_codes``), whose category picks the class.

``TransportError.sent`` says whether the request reached the gateway: ``False`` means it
provably never left (safe to resend), ``None`` means unknown (reconcile by ``climsgid``
before resending, see docs/protocol.md, "Idempotency"). A ``ProtocolError`` means the server
answered, so its outcome is unknown too.

Per-recipient errors of a multi-recipient send are data (``ErrorReply`` lines), not raises;
``GatewayError`` is raised for an error that refuses the whole request.

Secrets: exception texts never carry passwords, session ids or API ids. The classes hold
only what they are given; callers pass no request data; ``ReplyParseError`` keeps a capped
excerpt of the offending reply line, never the request.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from ._codes import ErrorCategory, ErrorCode

if TYPE_CHECKING:
    from ._bulk.journal import JournalCampaign

__all__ = [
    "ASMSError",
    "AuthenticationError",
    "BatchError",
    "CATEGORY_EXCEPTIONS",
    "CampaignError",
    "CampaignMismatchError",
    "CampaignNotFoundError",
    "ClientClosedError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLost",
    "CreditError",
    "DestinationError",
    "GatewayError",
    "HTTPStatusError",
    "InternalGatewayError",
    "InvalidNumberError",
    "JournalError",
    "JournalFinishedError",
    "JournalLockedError",
    "JournalMismatchError",
    "MessageLookupError",
    "ParameterError",
    "PoolTimeout",
    "ProtocolError",
    "ReadTimeout",
    "RedisError",
    "RetryLater",
    "ReplyParseError",
    "RequestTimeout",
    "SOAPFault",
    "SessionError",
    "TLSError",
    "ThrottledError",
    "TransportError",
    "UnsupportedCommandError",
    "ValidationError",
    "WriteTimeout",
    "error_for",
]

EXCERPT_LIMIT: Final = 200
"""Longest excerpt of a reply that a ``ReplyParseError`` keeps."""

# Values of these fields never appear in a ValidationError's text.
_SECRET_FIELDS: Final = frozenset(
    {"password", "session_id", "api_id", "user", "token", "api_key", "apikey"}
)
_VALUE_LIMIT: Final = 60


class _Unset(enum.Enum):
    """The type of a default that means "not given", where ``None`` is a value."""

    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET


class ASMSError(Exception):
    """Base class of every exception raised by asms."""


class ValidationError(ASMSError, ValueError):
    """A value was refused locally, before anything was sent.

    ``str()`` is ``"<field>: <rule>"``, followed by the offending value unless the field
    holds a credential. ``.value`` is ``None`` for credential fields.
    """

    def __init__(self, field: str, rule: str, value: object = _UNSET) -> None:
        secret = field.lower() in _SECRET_FIELDS
        message = f"{field}: {rule}"
        if value is not _UNSET and not secret:
            shown = repr(value)
            if len(shown) > _VALUE_LIMIT:
                shown = shown[: _VALUE_LIMIT - 1] + "…"
            message += f" (got {shown})"
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.value: object = None if secret or value is _UNSET else value


class InvalidNumberError(ValidationError):
    """A phone number (or country code) that cannot be put in international form.

    ``field`` names the parameter ("to", "country_code"), ``rule`` the rule it broke and
    ``number`` the value as given.
    """

    # Declared so the message set below keeps the type BaseException gives it.
    args: tuple[Any, ...]

    def __init__(self, number: str, rule: str, detail: str, *, field: str = "to") -> None:
        super().__init__(field, rule, number)
        # Keep the gateway-facing wording: the number as given, then why it is refused.
        self.args = (f"{field}: {number!r} {detail}",)
        self.number = number
        self._detail = detail

    def __reduce__(self) -> tuple[object, ...]:
        # The default pickling replays args (the message) into __init__; replay ours.
        return (_rebuild_invalid_number, (self.number, self.rule, self._detail, self.field))


def _rebuild_invalid_number(number: str, rule: str, detail: str, field: str) -> InvalidNumberError:
    return InvalidNumberError(number, rule, detail, field=field)


class ClientClosedError(ASMSError, RuntimeError):
    """The client was used after it was closed."""


class UnsupportedCommandError(ASMSError):
    """The client's wire has no such command (``route_coverage`` on the platform wire, ...).

    Raised before anything is sent; nothing falls back to another wire.
    """

    def __init__(self, command: str, wire: str, hint: str = "") -> None:
        message = f"{command} is not available on the {wire} wire"
        super().__init__(message + (f": {hint}" if hint else ""))
        self.command = command
        self.wire = wire


class JournalError(ASMSError):
    """A bulk journal cannot be used for this run; nothing was sent.

    ``str()`` says why and names the journal's file (``.path``); corrupt, unreadable or
    read-only files and missing directories raise this class itself.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class JournalLockedError(JournalError):
    """Another run owns the journal (one run at a time: two would send messages twice).

    ``.pid``, ``.host`` and ``.since`` (ISO 8601, UTC) name the holder; ``None`` when it has
    not written them yet. The lock is released when its holder closes the journal or dies.
    """

    def __init__(self, path: str, *, pid: int | None, host: str | None, since: str | None) -> None:
        if pid is None:
            holder = "another process (it has not said which yet)"
        else:
            holder = f"process {pid} on {host or 'an unknown host'} since {since or '?'}"
        super().__init__(path, f"the journal {path} is in use by {holder}")
        self.pid = pid
        self.host = host
        self.since = since


class JournalFinishedError(JournalError):
    """The journal's campaign already finished: a new run would only repeat its results.

    ``.campaign`` (an ``asms.JournalCampaign``) describes what the journal holds.
    Use a new journal for a new campaign, or open this one with ``replay=True`` to re-emit
    its stored results without sending anything.
    """

    def __init__(self, path: str, message: str, campaign: JournalCampaign) -> None:
        super().__init__(path, message)
        self.campaign = campaign


class JournalMismatchError(JournalError, ValueError):
    """The journal was written for another input, campaign or version of asms."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(path, message)


class RedisError(ASMSError):
    """Redis (the shared state of :class:`asms.RedisRateLimiter`) could not be used: it is
    unreachable, timed out or refused a command.

    ``.location`` is where it was looked for (``host:port/db`` or a socket path), never
    the URL's password.
    """

    def __init__(self, message: str, location: str = "") -> None:
        super().__init__(message)
        self.location = location


class CampaignError(ASMSError):
    """A campaign on Redis cannot be used as asked (see :func:`asms.submit_campaign`)."""


class CampaignNotFoundError(CampaignError):
    """No campaign of that name exists for the account; ``.campaign`` is the name."""

    def __init__(self, campaign: str) -> None:
        super().__init__(f"no campaign {campaign!r} on this account (submit it first)")
        self.campaign = campaign


class RetryLater(ASMSError):
    """Raised by a callback handler that cannot take the event now (its database is down, it
    is stopping): the receiver answers 503 with ``Retry-After``, the event is not recorded
    as handled, and the gateway sends it again later. Logged as a warning, without a
    traceback; any other exception answers 500 and is logged with one."""


class CampaignMismatchError(CampaignError):
    """A campaign was submitted again with an input that differs from what is stored: the
    stored one is kept and nothing of the new one is queued. ``.index`` is the first input
    position found to differ (None when the inputs differ in length only)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class TransportError(ASMSError):
    """The HTTP exchange with the gateway failed.

    ``sent``: ``False`` if the request provably never left, ``None`` if unknown.
    ``retryable``: whether trying again can help at all (after reconciling when
    ``sent`` is ``None``).
    """

    sent: bool | None = None
    retryable: bool = True

    def __init__(self, message: str, *, sent: bool | _Unset | None = _UNSET) -> None:
        super().__init__(message)
        if sent is not _UNSET:
            self.sent = sent


class ConnectError(TransportError):
    """No connection could be opened; the request never left."""

    sent: bool | None = False


class RequestTimeout(TransportError, builtins.TimeoutError):
    """A timeout expired (see the subclasses for which one)."""


class ConnectTimeout(RequestTimeout):
    """No connection was opened in time; the request never left."""

    sent: bool | None = False


class PoolTimeout(RequestTimeout):
    """No connection of the pool became free in time; the request never left."""

    sent: bool | None = False


class ReadTimeout(RequestTimeout):
    """The request was written but its answer did not arrive in time."""


class WriteTimeout(RequestTimeout):
    """Writing the request took too long; part of it may have reached the gateway."""


class ConnectionLost(TransportError):
    """The connection broke after the request started."""


class TLSError(TransportError):
    """The TLS handshake failed (certificate, protocol): retrying will not help."""

    sent: bool | None = False
    retryable: bool = False


class HTTPStatusError(TransportError):
    """The gateway (or a proxy) answered with a status other than 200.

    The gateway answers everything with 200, so whatever answered otherwise did not
    process the request as the gateway would; its outcome is unknown. 5xx, 408 and 429
    are retryable, other statuses are final.
    """

    def __init__(self, status_code: int, reason: str = "") -> None:
        message = f"HTTP {status_code}" + (f" {reason}" if reason else "") + " from the gateway"
        super().__init__(message)
        self.status_code = status_code
        self.retryable: bool = status_code >= 500 or status_code in (408, 429)


class ProtocolError(ASMSError):
    """The server answered, but not in the gateway's protocol."""


class ReplyParseError(ProtocolError):
    """A reply (or one of its lines) could not be understood.

    ``.excerpt`` holds at most ``EXCERPT_LIMIT`` characters of what was given.
    """

    def __init__(self, reason: str, text: str | bytes = "") -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        excerpt = text if len(text) <= EXCERPT_LIMIT else text[: EXCERPT_LIMIT - 1] + "…"
        super().__init__(f"{reason}: {excerpt!r}" if excerpt else reason)
        self.reason = reason
        self.excerpt = excerpt


class SOAPFault(ProtocolError):
    """The SOAP server answered with a Fault (unparseable envelope or unknown operation)."""

    def __init__(self, faultcode: str, faultstring: str, detail: str | None = None) -> None:
        super().__init__(f"SOAP fault {faultcode}: {faultstring}")
        self.faultcode = faultcode
        self.faultstring = faultstring
        self.detail = detail


class GatewayError(ASMSError):
    """The gateway refused a request with ``ERR: <code>, <description>``.

    ``code`` is an :class:`ErrorCode` when known, else the plain int (0 for an ``ERR:`` line
    without a code). ``recipient`` is set when the gateway named one (``… To: <msisdn>``).
    """

    def __init__(
        self, code: ErrorCode | int, description: str, *, recipient: str | None = None
    ) -> None:
        if not _is_platform_code(code):
            code = ErrorCode.coerce(code)
        head = f"ERR {code:03d}: " if code else "ERR: "
        tail = f" (to {recipient})" if recipient else ""
        super().__init__(head + description + tail)
        self.code: ErrorCode | int = code
        self.description: str = description
        self.recipient: str | None = recipient

    @property
    def category(self) -> ErrorCategory | None:
        """The code's category; ``None`` for a code asms does not know."""
        code = self.code
        if isinstance(code, ErrorCode) or _is_platform_code(code):
            return code.category  # type: ignore[union-attr]
        return None

    @property
    def retryable(self) -> bool:
        """See :attr:`ErrorCode.retryable`; unknown codes are final."""
        code = self.code
        if isinstance(code, ErrorCode) or _is_platform_code(code):
            return bool(code.retryable)  # type: ignore[union-attr]
        return False


class AuthenticationError(GatewayError):
    """Credentials, API id, account state or IP lockdown: fix the configuration."""


class SessionError(GatewayError):
    """The session id expired or was missing: authenticate again, then retry."""


class ParameterError(GatewayError):
    """The gateway found the request itself malformed."""


class DestinationError(GatewayError):
    """The recipient cannot be reached (invalid, blocked, opted out, unroutable, expired)."""


class MessageLookupError(GatewayError):
    """The message id asked about is unknown to the gateway."""


class BatchError(GatewayError):
    """The batch id is invalid or the batch has no template."""


class CreditError(GatewayError):
    """The account has no credit left, or the message would cost more than allowed."""


#: The shortest pause after an ``ERR 130`` whose time has come by the clock it is measured
#: on: the gateway still refused, and its ``Date`` header counts whole seconds.
MIN_THROTTLE_PAUSE: Final = 1.0


class ThrottledError(GatewayError):
    """The account's MT limit is exhausted; ``.until`` is when sending may resume.

    The gateway appends a unix timestamp to the description (``… until 1735689600``);
    ``until`` is ``None`` when there is none. ``gateway_time`` is the gateway's own clock
    (unix seconds) when it answered, from the HTTP ``Date`` header of that answer; ``None``
    when unknown.
    """

    # Declared because not_waited() rewrites them: the types the base classes give them.
    args: tuple[Any, ...]
    description: str

    def __init__(
        self,
        code: ErrorCode | int,
        description: str,
        *,
        recipient: str | None = None,
        gateway_time: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, description, recipient=recipient)
        self.until: datetime | None = _trailing_timestamp(description)
        self.gateway_time: float | None = gateway_time
        #: Seconds to wait when the refusal names a delay instead of a time (the Platform
        #: wires' HTTP 429 and One API error 43); None when it names neither.
        self.retry_after: float | None = retry_after

    def pause(self, client_time: float) -> float | None:
        """Seconds to wait before sending again; ``None`` when the gateway named no time.

        The named time is measured against the gateway's clock (``gateway_time``), so a
        client clock that is off does not stretch or erase the pause. ``client_time`` (unix
        seconds) is used only where it agrees with the gateway's (within the whole second a
        ``Date`` header gives, it is the finer reading) or when the gateway's is unknown. A
        time that has come already still gets :data:`MIN_THROTTLE_PAUSE`: the gateway
        refused, so it has not.
        """
        if self.until is None:
            return self.retry_after
        now = client_time
        gateway = self.gateway_time
        if gateway is not None and not gateway <= client_time < gateway + 1.0:
            now = gateway
        return max(MIN_THROTTLE_PAUSE, self.until.timestamp() - now)

    def not_waited(self, pause: float, limit: float) -> None:
        """Say in the description why this refusal was not waited out (once)."""
        if self.description.startswith("not waited out"):
            return
        self.description = (
            f"not waited out: {pause:.0f} s by the gateway's clock is beyond "
            f"throttle_max_wait={limit:g} s; {self.description}"
        )
        self.args = (f"ERR {self.code:03d}: {self.description}",)


class InternalGatewayError(GatewayError):
    """The gateway failed internally; retry later."""


def _trailing_timestamp(text: str) -> datetime | None:
    words = text.split()
    last = words[-1] if words else ""
    if not (last.isascii() and last.isdigit()):
        return None
    try:
        return datetime.fromtimestamp(int(last), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


_CLASS_BY_CATEGORY: Final[dict[ErrorCategory, type[GatewayError]]] = {
    ErrorCategory.AUTHENTICATION: AuthenticationError,
    ErrorCategory.SESSION: SessionError,
    ErrorCategory.VALIDATION: ParameterError,
    ErrorCategory.DESTINATION: DestinationError,
    ErrorCategory.MESSAGE_LOOKUP: MessageLookupError,
    ErrorCategory.BATCH: BatchError,
    ErrorCategory.CREDIT: CreditError,
    ErrorCategory.THROTTLED: ThrottledError,
    ErrorCategory.INTERNAL: InternalGatewayError,
}

CATEGORY_EXCEPTIONS: Final[Mapping[ErrorCategory, type[GatewayError]]] = MappingProxyType(
    _CLASS_BY_CATEGORY
)
"""``ErrorCategory`` → the ``GatewayError`` subclass raised for its codes."""


def _is_platform_code(code: object) -> bool:
    # The Platform wires' own enums (asms._platform_codes) carry a category as ErrorCode
    # does; recognised by shape so this module stays below them.
    return (
        isinstance(code, enum.IntEnum)
        and not isinstance(code, ErrorCode)
        and hasattr(code, "category")
    )


def error_for(
    code: ErrorCode | int, description: str, *, recipient: str | None = None
) -> GatewayError:
    """The ``GatewayError`` subclass instance for ``code``; plain ``GatewayError`` if unknown.

    ``code`` may also be a Platform wire's own code (``OneApiErrorCode``,
    ``PlatformErrorCode``): its category picks the class as an ``ErrorCode``'s does.
    """
    known: Any = code if _is_platform_code(code) else ErrorCode.coerce(code)
    cls: type[GatewayError] = GatewayError
    if isinstance(known, ErrorCode) or _is_platform_code(known):
        cls = _CLASS_BY_CATEGORY[known.category]
    return cls(known, description, recipient=recipient)
