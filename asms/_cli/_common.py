"""What every network command shares: settings from the environment, the client, exit codes.

Credentials come only from the environment or from an ``--env-file``: a password on the
command line would end up in shell history and in ``ps`` output. A legacy account is
``ASMS_API_ID``, ``ASMS_USER`` and ``ASMS_PASSWORD`` (wires ``http``, ``soap``, ``soap-rpc``);
an account made on the portal since 2016 is ``ASMS_API_KEY``, an integration API key (wires
``platform``, the default with a key, and ``one-api``). Which account a command uses follows
from the wire (``--wire`` or ``ASMS_WIRE``); without one, from the variables that are set, and
when both kinds are set the command refuses rather than guess. Nothing here ever prints a
credential, not even in an error message.
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar, get_args
from urllib.parse import urlsplit

import anyio
import click
from rich.console import Console
from rich.markup import escape

from .._codes import ErrorCode, MessageStatus
from .._config import (
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_PLATFORM_URL,
    DEFAULT_REQUEST_TIMEOUT,
    PLATFORM_WIRES,
    ApiKey,
    Credentials,
    WireName,
    plain_http_to_remote,
)
from .._exceptions import (
    ASMSError,
    AuthenticationError,
    ConnectError,
    HTTPStatusError,
    UnsupportedCommandError,
    ValidationError,
)
from .._logging import redact, register_secret
from .._numbers import InvalidNumberError, normalize_msisdn

if TYPE_CHECKING:
    from .._client import AsyncClient

__all__ = [
    "API_KEY_VARIABLE",
    "CREDENTIAL_VARIABLES",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FiniteFloat",
    "CommandFailed",
    "ConfigError",
    "Settings",
    "check_country_code",
    "cli_wording",
    "connection_options",
    "describe_error",
    "describe_connect_error",
    "describe_status_error",
    "drop_stream",
    "ensure_std_streams",
    "err_console",
    "error_text",
    "host_port",
    "out_console",
    "read_env_file",
    "run_async",
    "status_text",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1  # some messages (or the one request) failed
EXIT_USAGE: Final = 2  # bad arguments or configuration; click's own usage errors are 2 too

CREDENTIAL_VARIABLES: Final = ("ASMS_API_ID", "ASMS_USER", "ASMS_PASSWORD")
API_KEY_VARIABLE: Final = "ASMS_API_KEY"
# In WireName's order (the legacy ones first), for --wire's choices and for messages.
_WIRES: Final[tuple[str, ...]] = get_args(WireName)
_LEGACY_WIRES: Final = tuple(wire for wire in _WIRES if wire not in PLATFORM_WIRES)
_PLATFORM_WIRES: Final = tuple(wire for wire in _WIRES if wire in PLATFORM_WIRES)
_LEGACY_NAMES: Final = "ASMS_API_ID, ASMS_USER and ASMS_PASSWORD"

T = TypeVar("T")


def drop_stream(stream: Any) -> None:
    """From now on, what is written to ``stream`` goes nowhere: whoever read it is gone.

    Its descriptor is pointed at the null device, so later writes (the summary, Python's
    own flush at exit) neither fail nor end the run: a closed pipe on stderr (``2>&1 | head
    -1``) must not leave rows unsent and without a result row.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's buffer): nothing to redirect
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    except OSError:
        pass
    finally:
        os.close(devnull)


def ensure_std_streams() -> None:
    """Give a closed stdout or stderr (``2>&-``) a null stream, so writing to it is harmless."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich's default ends the process (exit 1); the run's outcome is in its exit status
        # and results file, so the output is dropped instead.
        self.quiet = True
        drop_stream(self.file)


def out_console() -> Console:
    # Built per call: click's CliRunner swaps sys.stdout, and a module-level console would
    # keep writing to the stream it saw at import time.
    return _Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    return _Console(stderr=True, highlight=False, soft_wrap=True)


class ConfigError(click.ClickException):
    """A configuration problem (a missing variable, a bad URL): exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        err_console().print(f"[bold red]Error:[/] {escape(self.format_message())}")


class CommandFailed(click.ClickException):
    """The request failed at the gateway or on the way there: exit status 1."""

    exit_code = EXIT_FAILED

    def show(self, file: Any = None) -> None:
        err_console().print(f"[bold red]Error:[/] {escape(self.format_message())}")


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, whole lines or after a value, optional
    ``export``, optional quotes)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read env file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        # Say where, never what: the bytes may be part of a password or key.
        raise ConfigError(
            f"env file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            # Never echo the line: it may hold a password.
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        parsed = _env_value(value.strip())
        if parsed is None:
            # Never echo the line: it may hold a password.
            raise ConfigError(
                f"{path}:{number}: a quoted value must end with its quote (then only a"
                " # comment may follow)"
            )
        values[key] = parsed
    return values


_TRAILING_COMMENT: Final = re.compile(r"\s+#")


def _env_value(value: str) -> str | None:
    """A value as dotenv files write it: quoted (anything inside, a ``#`` comment may
    follow the closing quote) or bare (a ``#`` after a space begins a comment); None for a
    quote that is not closed, or followed by more than a comment."""
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        rest = value[end + 1 :].strip() if end > 0 else None
        if rest is not None and (not rest or rest.startswith("#")):
            return value[1:end]
        return None
    return _TRAILING_COMMENT.split(value, 1)[0]


class FiniteFloat(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and ``inf`` (a usage error).

    ``float()`` accepts both, and a NaN passes every range comparison: a rate or timeout of
    ``nan`` would fail deep inside the run, after the results file was truncated.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


@dataclass(frozen=True, slots=True)
class Settings:
    """Where and how to reach the gateway, resolved from options and the environment.

    ``chosen_by`` says where the wire came from (``"--wire"``, ``"ASMS_WIRE"``), or ``""``
    when it follows from the credentials that are set.
    """

    base_url: str
    wire: str
    insecure_http: bool
    timeout: float
    env: Mapping[str, str] = field(repr=False)
    chosen_by: str = ""

    @property
    def platform(self) -> bool:
        """Whether the wire is one of the Platform's (``platform``, ``one-api``)."""
        return self.wire in PLATFORM_WIRES

    def _wire_named(self) -> str:
        if self.chosen_by == "--wire":
            return f"--wire {self.wire}"
        if self.chosen_by:
            return f"{self.chosen_by}={self.wire}"
        return f"the {self.wire} wire"

    def credentials(self) -> Credentials:
        """The legacy account's credentials; a missing or bad variable is a configuration
        error (so is a Platform wire, whose account is an API key: see :meth:`account`)."""
        if self.platform:
            raise ConfigError(
                f"{self._wire_named()} is a Platform wire: it needs {API_KEY_VARIABLE} (an "
                f"integration API key); {_LEGACY_NAMES} work on the legacy wires only "
                f"({', '.join(_LEGACY_WIRES)})"
            )
        missing = [name for name in CREDENTIAL_VARIABLES if not self.env.get(name)]
        if missing:
            problem = (
                "missing environment variable"
                + ("s " if len(missing) > 1 else " ")
                + ", ".join(missing)
            )
            if self.env.get(API_KEY_VARIABLE):
                raise ConfigError(
                    f"{problem}: {self._wire_named()} is a legacy wire and needs "
                    f"{_LEGACY_NAMES}; {API_KEY_VARIABLE} works on the Platform wires only "
                    f"(--wire {' or '.join(_PLATFORM_WIRES)})"
                )
            raise ConfigError(
                problem + " (the credentials are read from the environment or --env-file, "
                f"never from the command line; a Platform account sets {API_KEY_VARIABLE} "
                "instead)"
            )
        try:
            return Credentials(
                self.env["ASMS_API_ID"], self.env["ASMS_USER"], self.env["ASMS_PASSWORD"]
            )
        except ValidationError as exc:
            # ValidationError never carries the value of a credential field.
            raise ConfigError(
                f"bad credentials (from the environment or --env-file): {exc}"
            ) from None

    def api_key(self) -> ApiKey:
        """The Platform account's integration API key (``ASMS_API_KEY``); a missing or bad
        key, or a legacy wire, is a configuration error."""
        if not self.platform:
            raise ConfigError(
                f"{API_KEY_VARIABLE} works on the Platform wires only "
                f"({', '.join(_PLATFORM_WIRES)}), not {self._wire_named()}"
            )
        value = self.env.get(API_KEY_VARIABLE)
        if not value:
            raise ConfigError(
                f"missing environment variable {API_KEY_VARIABLE}: {self._wire_named()} is a "
                f"Platform wire and needs an integration API key; {_LEGACY_NAMES} work on the "
                f"legacy wires only ({', '.join(_LEGACY_WIRES)}). The key is read from the "
                "environment or --env-file, never from the command line"
            )
        register_secret(value)  # before anything could show it
        try:
            return ApiKey(value)
        except ValidationError as exc:
            # The rule only, never the value.
            raise ConfigError(
                f"bad {API_KEY_VARIABLE} (from the environment or --env-file): it {exc.rule}"
                + (" (a space or line break copied with it?)" if value != value.strip() else "")
            ) from None

    def account(self) -> Credentials | ApiKey:
        """What the wire authenticates with: the legacy credentials or the API key."""
        return self.api_key() if self.platform else self.credentials()

    def refuse_on_platform(self, command: str, hint: str = "") -> None:
        """One line, exit 2, when ``command`` does not exist on this (Platform) wire."""
        if not self.platform:
            return
        chosen = (
            f"{API_KEY_VARIABLE} is set, which selects that wire"
            if not self.chosen_by
            else f"{self._wire_named()} selects it"
        )
        raise ConfigError(
            f"{command} is not available on the {self.wire} wire"
            + (f": {hint}" if hint else "")
            + f" ({chosen}; it needs a legacy account, {_LEGACY_NAMES}, on the "
            f"{', '.join(_LEGACY_WIRES[:-1])} or {_LEGACY_WIRES[-1]} wire)"
        )

    def check_url(self) -> None:
        """Refuse a base URL that would expose the credentials.

        They travel in every request, so plain ``http://`` needs ``--insecure-http`` unless
        the server is on this machine (an emulator, a local proxy).
        """
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("--base-url (or ASMS_BASE_URL) must be an http:// or https:// URL")
        if parts.username is not None or parts.password is not None:
            # Never echo it: the URL holds a secret.
            raise ConfigError("--base-url must not contain a user or password")
        self._check_gateway_kind(parts.hostname)
        if self.insecure_http or not plain_http_to_remote(parts.scheme, parts.hostname):
            return
        raise ConfigError(
            "refusing to send credentials over plain http:// to a remote host; "
            "use https:// or pass --insecure-http"
        )

    def _check_gateway_kind(self, host: str) -> None:
        """Clickatell's legacy gateway and its Platform are different hosts: a base URL left
        over from the other kind of account cannot work (and would send it the secret)."""
        expected, other = DEFAULT_PLATFORM_URL, DEFAULT_BASE_URL
        if not self.platform:
            expected, other = other, expected
        if host.lower() != urlsplit(other).hostname:
            return
        raise ConfigError(
            f"--base-url (or ASMS_BASE_URL) {other} is Clickatell's "
            + ("legacy gateway" if self.platform else "Platform")
            + f", but {self._wire_named()} talks to {expected}: unset ASMS_BASE_URL or "
            "give that URL"
        )

    def validate(self) -> None:
        """Fail now (exit 2) if a client could not be made from these settings."""
        self.check_url()
        self.account()

    def client(self, **overrides: Any) -> AsyncClient:
        """A new (not yet entered) :class:`AsyncClient` for these settings."""
        # Checked here first for the message naming the flag; the client applies the same rule.
        self.check_url()
        account = self.account()
        from .._client import AsyncClient
        from .._compat import httpx

        options: dict[str, Any] = {
            "wire": self.wire,
            "base_url": self.base_url,
            "insecure_http": self.insecure_http,
            "timeout": httpx.Timeout(
                self.timeout, connect=min(self.timeout, DEFAULT_CONNECT_TIMEOUT)
            ),
        }
        options.update(overrides)
        if isinstance(account, ApiKey):
            return AsyncClient(api_key=account, **options)
        return AsyncClient(credentials=account, **options)

    def run(self, main: Callable[[], Awaitable[T]], *, check_url: bool = True) -> T:
        """:func:`run_async` for these settings: errors name this wire's variables, and
        with ``check_url`` an HTTP error status or a refused connection names the URL."""
        return run_async(main, base_url=self.base_url if check_url else None, wire=self.wire)


def _resolve_settings(
    env_file: Path | None,
    base_url: str | None,
    wire: str | None,
    insecure_http: bool,
    timeout: float,
) -> Settings:
    env = dict(os.environ)
    if env_file is not None:
        # The file was asked for explicitly, so it wins over inherited variables.
        env.update(read_env_file(env_file))
    if env.get(API_KEY_VARIABLE):
        register_secret(env[API_KEY_VARIABLE])  # masked from here on, whatever happens
    chosen_by = "--wire" if wire else ("ASMS_WIRE" if env.get("ASMS_WIRE") else "")
    chosen_wire = wire or env.get("ASMS_WIRE")
    if chosen_wire is None:
        chosen_wire = _wire_from_credentials(env)
    elif chosen_wire not in _WIRES:
        raise ConfigError(f"ASMS_WIRE must be one of {', '.join(_WIRES)} (got {chosen_wire!r})")
    default_url = DEFAULT_PLATFORM_URL if chosen_wire in PLATFORM_WIRES else DEFAULT_BASE_URL
    chosen_url = base_url or env.get("ASMS_BASE_URL") or default_url
    return Settings(chosen_url.rstrip("/"), chosen_wire, insecure_http, timeout, env, chosen_by)


def _wire_from_credentials(env: Mapping[str, str]) -> str:
    """The wire when none is chosen: ``platform`` with an API key, else ``http``; both kinds
    of account set is refused, not guessed."""
    legacy = [name for name in CREDENTIAL_VARIABLES if env.get(name)]
    if not env.get(API_KEY_VARIABLE):
        return "http"
    if legacy:
        raise ConfigError(
            f"both {API_KEY_VARIABLE} (a Platform account) and {', '.join(legacy)} (a legacy "
            "account) are set, and asms does not guess which to use: choose with --wire "
            f"(or ASMS_WIRE): {' or '.join(_PLATFORM_WIRES)} uses {API_KEY_VARIABLE}, "
            f"{', '.join(_LEGACY_WIRES)} use {_LEGACY_NAMES}; or unset the other"
        )
    return "platform"


def connection_options(func: Callable[..., T]) -> Callable[..., T]:
    """Add ``--env-file/--base-url/--wire/--insecure-http/--timeout`` and pass ``settings``."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        env_file: Path | None,
        base_url: str | None,
        wire: str | None,
        insecure_http: bool,
        timeout: float,
        **kwargs: Any,
    ) -> T:
        settings = _resolve_settings(env_file, base_url, wire, insecure_http, timeout)
        return func(*args, settings=settings, **kwargs)

    decorators = [
        click.option(
            "--env-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Read ASMS_* variables from this KEY=VALUE file (it wins over the environment): "
            "ASMS_API_ID, ASMS_USER and ASMS_PASSWORD for a legacy account, or ASMS_API_KEY "
            "for a Platform one.",
        ),
        click.option(
            "--base-url",
            metavar="URL",
            help=f"Gateway base URL [env ASMS_BASE_URL; default {DEFAULT_BASE_URL}, or "
            f"{DEFAULT_PLATFORM_URL} on the platform and one-api wires].",
        ),
        click.option(
            "--wire",
            type=click.Choice(_WIRES),
            help="Protocol: the legacy gateway's HTTP API, SOAP document/literal or SOAP "
            "RPC/encoded (with ASMS_API_ID, ASMS_USER, ASMS_PASSWORD), or the Platform's "
            "SMS REST API or One API (with ASMS_API_KEY) [env ASMS_WIRE; default: platform "
            "when ASMS_API_KEY is set, else http; both kinds of account set need a choice].",
        ),
        click.option(
            "--insecure-http",
            is_flag=True,
            help="Allow a plain http:// base URL on a remote host (credentials go in clear).",
        ),
        click.option(
            "--timeout",
            type=FiniteFloat(min=0.1),
            default=DEFAULT_REQUEST_TIMEOUT,
            show_default=True,
            help="Seconds to wait for the gateway per request.",
        ),
    ]
    decorated: Callable[..., T] = wrapper
    for decorator in reversed(decorators):
        decorated = decorator(decorated)
    return decorated


def describe_error(exc: BaseException, wire: str | None = None) -> str:
    """One line for an error, with any registered secret masked; an authentication failure
    names the variables of ``wire``'s account."""
    if isinstance(exc, AuthenticationError):
        names = API_KEY_VARIABLE if wire in PLATFORM_WIRES else _LEGACY_NAMES
        return redact(f"authentication failed ({exc}); check {names}")
    if isinstance(exc, UnsupportedCommandError):
        return redact(str(exc))
    if isinstance(exc, ValidationError):
        return redact(cli_wording(str(exc)))  # "field: rule", already written for people
    name = type(exc).__name__
    text = str(exc) or name
    # Transport errors often start with their class name already.
    return redact(text if text.startswith(f"{name}:") else f"{name}: {text}")


def _option_flag(match: re.Match[str]) -> str:
    return "--" + match.group(1).replace("_", "-") + " " + match.group(2)


# The library's messages name its keyword arguments; the command line has flags instead.
_CLI_WORDING: Final = (
    (
        re.compile(r"needs (\d+) parts, more than max_parts=(\d+)"),
        r"needs \1 parts, more than the \2 allowed; pass --max-parts \1 to send it",
    ),
    (re.compile(r"\b(concat|max_parts|country_code|msg_type|max_credits)=(\S*)"), None),
    # A send option a Platform wire has no field for: "callback: is not available on ...".
    (re.compile(r"^([a-z_]+): (is not available on the [a-z-]+ wire)"), _option_flag),
    (re.compile(r"\buse scheduled_time\b"), "use --scheduled-time"),
)


def _flag(match: re.Match[str]) -> str:
    flag = "--" + match.group(1).replace("_", "-")
    return f"{flag} {match.group(2)}" if match.group(2) else flag


def cli_wording(text: str) -> str:
    """A library message with its Python names (``country_code=``) as CLI flags."""
    for pattern, replacement in _CLI_WORDING:
        text = pattern.sub(replacement or _flag, text)
    return text


def host_port(base_url: str) -> str:
    """``host:port`` of ``base_url`` (``host`` alone without a port; ``""`` without a host)."""
    parts = urlsplit(base_url)
    return f"{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}"


def describe_status_error(exc: HTTPStatusError, base_url: str) -> str:
    """An HTTP error status names the URL: it usually means the base URL is wrong."""
    where = host_port(base_url) + urlsplit(base_url).path
    if exc.status_code >= 500:
        problem = "the server there (or a proxy in front of it) is failing; try again later or"
    else:
        problem = "no gateway answers at that host and path;"
    return (
        f"HTTP {exc.status_code} from {where or base_url}: {problem} "
        "check --base-url (or ASMS_BASE_URL)"
    )


def describe_connect_error(exc: ConnectError, base_url: str) -> str:
    """A refused or failed connection names where it went: the URL or the server is wrong."""
    where = host_port(base_url) or base_url
    return (
        f"cannot connect to {where} ({exc}); is the gateway running there? "
        "check --base-url (or ASMS_BASE_URL)"
    )


def run_async(
    main: Callable[[], Awaitable[T]], *, base_url: str | None = None, wire: str | None = None
) -> T:
    """Run ``main`` and turn asms errors into exit statuses (2 for configuration, else 1).

    A command the wire does not have is a configuration error (nothing was sent); ``wire``
    names the account's variables in an authentication failure.

    An HTTP error status or a refused connection is a configuration error when ``base_url``
    is given: the gateway itself answers everything with 200, so another status means the
    URL is wrong, and nothing listening there means the URL (or the server) is.
    """
    try:
        return anyio.run(main)
    except BaseException as exc:
        error: BaseException = exc
        # A task group wraps what one of its tasks raised; show the error itself.
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        if isinstance(error, AuthenticationError | ValidationError | UnsupportedCommandError):
            raise ConfigError(describe_error(error, wire)) from None
        if isinstance(error, HTTPStatusError) and base_url is not None:
            raise ConfigError(describe_status_error(error, base_url)) from None
        if isinstance(error, ConnectError) and base_url is not None:
            raise ConfigError(describe_connect_error(error, base_url)) from None
        if isinstance(error, ASMSError):
            raise CommandFailed(describe_error(error, wire)) from None
        if error is not exc and isinstance(error, click.ClickException):
            raise error from None
        raise


def error_text(code: ErrorCode | int | None, description: str | None) -> str:
    """``"105 Invalid destination address"``, or ``""`` for no error.

    Negative codes are asms's own (outcome unknown, not sent): only their description.
    """
    if code is None:
        return ""
    if int(code) < 0:
        return description or "not accepted"
    number = f"{int(code):03d}"
    return f"{number} {description}" if description else number


def status_text(status: MessageStatus | int, *, unknown: str = "") -> str:
    """``"004 Received by recipient"``; a code asms does not know is its three digits,
    followed by ``unknown`` when that is given."""
    number = f"{int(status):03d}"
    if isinstance(status, MessageStatus):
        return f"{number} {status.description}"
    return f"{number} {unknown}" if unknown else number


def check_country_code(value: str | None) -> None:
    """Refuse a bad ``--country-code`` up front, rather than once per number."""
    if value is None:
        return
    try:
        normalize_msisdn("0123456789", value)
    except InvalidNumberError as exc:
        raise ConfigError(f"--country-code: {exc}") from None
