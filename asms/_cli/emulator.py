"""``asms emulator``: serve the gateway emulator over HTTP with uvicorn."""

from __future__ import annotations

import dataclasses
import errno
import gc
import json
import random
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click

from .._config import (
    DEFAULT_EMULATOR_PORT,
    DEFAULT_EMULATOR_RETENTION,
    DEFAULT_LISTEN_HOST,
    DEMO_CREDITS,
)
from .._optable import MAX_CONCAT
from ..testing._clock import FakeClock
from ..testing._config import Account, Faults, Profile
from ..testing._emulator import DEFAULT_ACCOUNT, DEFAULT_INTEGRATION, GatewayEmulator
from ..testing._platform_config import PLATFORM_VARIANTS, Integration, PlatformProfile
from ._common import ConfigError

__all__ = ["build_emulator", "emulator"]


def _fault_setting(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"expected NAME=VALUE, got {text!r}", param_hint="--fault")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # a bare word, e.g. a command name
    return name.strip(), value


def _callback_url(value: str | None, flag: str = "--callback-url") -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(
            f"{value!r} is not an http:// or https:// URL, e.g. http://127.0.0.1:8080/status",
            param_hint=flag,
        )
    return value


def _bind_error(host: str, port: int, exc: OSError) -> str:
    """Why the emulator cannot listen, in the user's terms: the cause decides the advice."""
    where = f"cannot listen on {host}:{port} ({exc.strerror or exc})"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {host} is not an address of this machine; give a local one with --host"
    if exc.errno == errno.EACCES:
        return f"{where}: this port needs more privileges; pick another with --port"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: is another emulator running? pick another port with --port"
    return f"{where}: check --host and --port"


def _shown_url(url: str) -> str:
    """``url`` as printed: a password in it (``http://user:pass@host/…``) as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def inbound_url(callback_url: str | None) -> str | None:
    """Where inbound callbacks go without ``--mo-callback-url``.

    ``asms callbacks`` takes status reports on ``/status`` and inbound messages on
    ``/inbound`` (``/`` takes either): a status URL ending in ``/status`` has its inbound
    twin, so the two commands work together as they are. Any other URL takes both.
    """
    if callback_url is None:
        return None
    parts = urlsplit(callback_url)
    if parts.path.rstrip("/").endswith("/status"):
        path = parts.path.rstrip("/").removesuffix("/status") + "/inbound"
        return urlunsplit(parts._replace(path=path))
    return callback_url


def build_emulator(
    *,
    accounts: tuple[str, ...] = (),
    profile: str = "default",
    credits: float = DEMO_CREDITS,
    seed: int | None = 0,
    admin: bool = True,
    recorder: str = "counters",
    retention: int | None = DEFAULT_EMULATOR_RETENTION,
    fake_clock: bool = False,
    faults: tuple[str, ...] = (),
    callback_url: str | None = None,
    max_parts: int | None = None,
    mo_callback_url: str | None = None,
    api_keys: tuple[str, ...] = (),
    platform_variant: str = "current",
    platform_shuffle: bool = False,
    platform_errors_200: bool = False,
) -> GatewayEmulator:
    """The emulator the command serves (separate from the command so it can be tested).

    ``seed=None`` draws a random one, so that ids differ from one start to the next.
    ``callback_url`` receives the status callbacks of every account, ``mo_callback_url``
    their inbound (MO) ones (default: :func:`inbound_url` of ``callback_url``);
    ``max_parts`` replaces the profile's limit on message parts.

    ``api_keys`` are the Platform integration keys, all on the first account (default:
    the demo key); the callback URLs apply to them too. ``platform_variant`` (``current``,
    ``2020``, ``2017``), ``platform_shuffle`` and ``platform_errors_200`` make the
    :class:`~asms.testing.PlatformProfile`.
    """
    try:
        parsed = [Account.parse(spec, credits=credits) for spec in accounts] or [
            dataclasses.replace(DEFAULT_ACCOUNT, credits=credits)
        ]
    except ValueError as exc:
        # The spec itself holds a password: name the flag, never echo the value.
        raise ValueError(f"--account: {exc}") from None
    try:
        keys = [Integration(key=key) for key in api_keys] or [DEFAULT_INTEGRATION]
    except ValueError as exc:
        raise ValueError(f"--api-key: {exc}") from None  # never echo the key itself
    if callback_url is not None or mo_callback_url is not None:
        inbound = mo_callback_url or inbound_url(callback_url)
        parsed = [
            dataclasses.replace(a, callback_url=callback_url, mo_callback_url=inbound)
            for a in parsed
        ]
        keys = [
            dataclasses.replace(k, callback_url=callback_url, mo_callback_url=inbound) for k in keys
        ]
    platform = PlatformProfile(
        variant=platform_variant,  # type: ignore[arg-type]
        shuffle=platform_shuffle,
        errors_as_200=platform_errors_200,
    )
    chosen_profile = Profile.named(profile)
    if max_parts is not None:
        chosen_profile = dataclasses.replace(chosen_profile, max_concat=max_parts)
    settings = dict(_fault_setting(f) for f in faults)
    if "commands" in settings and isinstance(settings["commands"], str):
        settings["commands"] = settings["commands"].split(",")
    try:
        chosen_faults = Faults.from_mapping(settings) if settings else None
    except ValueError as exc:
        raise ValueError(f"--fault {exc}") from None
    return GatewayEmulator(
        accounts=parsed,
        profile=chosen_profile,
        seed=random.SystemRandom().randrange(2**63) if seed is None else seed,
        admin=admin,
        recorder=recorder,  # type: ignore[arg-type]
        retention=retention or None,
        clock=FakeClock() if fake_clock else None,
        faults=chosen_faults,
        integrations=keys,
        platform=platform,
    )


@click.command("emulator")
@click.option(
    "--host", default=DEFAULT_LISTEN_HOST, show_default=True, help="Address to listen on."
)
@click.option(
    "--port", default=DEFAULT_EMULATOR_PORT, show_default=True, type=click.IntRange(0, 65535)
)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="API_ID:USER:PASSWORD",
    help="An account to accept (repeatable). Default: 1234:demo:demo.",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="KEY",
    help="A Platform integration API key to accept on /messages and /v1/message, on the "
    "first account (repeatable). Default: the demo key printed at start-up.",
)
@click.option(
    "--platform-variant",
    type=click.Choice(PLATFORM_VARIANTS),
    default="current",
    show_default=True,
    help="Platform SMS response shape: current (error keys at both levels), 2020 (no "
    "top-level error keys), 2017 (error texts only, no codes).",
)
@click.option(
    "--platform-shuffle",
    is_flag=True,
    help="Answer Platform results in another order than the recipients (seeded).",
)
@click.option(
    "--platform-errors-200",
    is_flag=True,
    help="Answer Platform SMS request-level failures with HTTP 200, as seen in 2019.",
)
@click.option(
    "--profile",
    type=click.Choice(["default", "v2.3.8"]),
    default="default",
    show_default=True,
    help="Legacy API generation to reproduce (limits, callback values, reply forms).",
)
@click.option("--credits", type=float, default=DEMO_CREDITS, show_default=True)
@click.option(
    "--seed",
    type=int,
    help="Seed for ids and faults, to repeat a run [default: random, so ids differ "
    "from one start to the next].",
)
@click.option(
    "--callback-url",
    metavar="URL",
    help="Where the accounts' status callbacks go (e.g. http://127.0.0.1:8080/status, "
    "where asms callbacks takes them). Status callbacks are sent for messages sent with a "
    "callback value (asms send --callback 3), and for every message sent with an API key.",
)
@click.option(
    "--mo-callback-url",
    metavar="URL",
    help="Where inbound-message callbacks go [default: the --callback-url, with a final "
    "/status replaced by /inbound as asms callbacks serves them].",
)
@click.option(
    "--max-parts",
    type=click.IntRange(1, MAX_CONCAT),
    help="Most parts a message may have; longer ones get ERR 101 [default: the profile's, 3].",
)
@click.option(
    "--admin/--no-admin", default=True, show_default=True, help="Serve the /_emulator/ admin API."
)
@click.option(
    "--recorder",
    type=click.Choice(["messages", "counters", "totals"]),
    default="counters",
    show_default=True,
    help="What to keep of committed messages.",
)
@click.option(
    "--retention",
    type=click.IntRange(min=0),
    default=DEFAULT_EMULATOR_RETENTION,
    show_default=True,
    help="Messages kept for querymsg (0: no limit).",
)
@click.option("--fake-clock", is_flag=True, help="Run on a fake clock moved via the admin API.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="NAME=VALUE",
    help="A fault setting, e.g. drop_after_commit=0.01 or latency=0.05 (repeatable).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug", "trace"]),
    default="warning",
    show_default=True,
    help="uvicorn's log level.",
)
def emulator(
    host: str,
    port: int,
    accounts: tuple[str, ...],
    api_keys: tuple[str, ...],
    platform_variant: str,
    platform_shuffle: bool,
    platform_errors_200: bool,
    profile: str,
    credits: float,
    seed: int | None,
    callback_url: str | None,
    mo_callback_url: str | None,
    max_parts: int | None,
    admin: bool,
    recorder: str,
    retention: int,
    fake_clock: bool,
    faults: tuple[str, ...],
    log_level: str,
) -> None:
    """Run the Clickatell gateway emulator (HTTP API, both SOAP servers, and the Platform
    endpoints /messages and /v1/message on the same port).

    Point the client at it with ASMS_BASE_URL=http://127.0.0.1:8765 and the demo
    account (ASMS_API_ID=1234 ASMS_USER=demo ASMS_PASSWORD=demo), or for the Platform
    wires the demo key (ASMS_API_KEY=asms-demo-integration-key, or your --api-key).

    Unless --no-admin, a JSON admin API under /_emulator/ lets tests and tools read
    statistics and recorded messages, add accounts, set credits, move a --fake-clock and
    inject faults; its routes are documented in `python -m pydoc asms.testing._admin`.
    """
    try:
        gateway = build_emulator(
            accounts=accounts,
            profile=profile,
            credits=credits,
            seed=seed,
            admin=admin,
            recorder=recorder,
            retention=retention,
            fake_clock=fake_clock,
            faults=faults,
            callback_url=_callback_url(callback_url),
            mo_callback_url=_callback_url(mo_callback_url, "--mo-callback-url"),
            max_parts=max_parts,
            api_keys=api_keys,
            platform_variant=platform_variant,
            platform_shuffle=platform_shuffle,
            platform_errors_200=platform_errors_200,
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from None
    try:
        from ..testing._serve import bind, serve
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError("the emulator needs uvicorn: pip install 'asms[cli]'") from None
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise ConfigError(_bind_error(host, port, exc)) from None
    # The emulator keeps many small long-lived objects (one per stored message): collecting
    # the young generation less often and leaving startup objects out of full collections
    # saves CPU on every request, since the collector stops re-walking them.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    ids = ", ".join(f"api_id {a.api_id} user {a.user}" for a in gateway.accounts.values())
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(
        f"asms emulator on http://{shown_host}:{sock.getsockname()[1]} ({profile} profile; "
        f"{ids}; messages up to {gateway.profile.max_concat} parts, --max-parts to change)",
        err=True,
    )
    # The demo key is public (it is in the docs); keys given with --api-key are the user's
    # own, so only their number is shown.
    if api_keys:
        keys = f"{len(gateway.integrations)} API key(s) from --api-key"
    else:
        keys = f"API key {DEFAULT_INTEGRATION.key}"
    click.echo(
        f"Platform endpoints (/messages, /v1/message): {keys}; {platform_variant} responses",
        err=True,
    )
    if callback_url is not None:
        click.echo(f"status callbacks go to {_shown_url(callback_url)}", err=True)
    inbound = mo_callback_url or inbound_url(callback_url)
    if inbound is not None:
        click.echo(f"inbound callbacks go to {_shown_url(inbound)}", err=True)
    serve(gateway, log_level=log_level, sock=sock)


if __name__ == "__main__":  # pragma: no cover - `python -m asms._cli.emulator`
    emulator()
