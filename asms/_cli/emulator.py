"""``asms emulator``: serve the gateway emulator over HTTP with uvicorn."""

from __future__ import annotations

import gc
import json
from typing import Any

import click

from ..testing._clock import FakeClock
from ..testing._config import Account, Faults, Profile
from ..testing._emulator import GatewayEmulator

__all__ = ["build_emulator", "emulator"]

DEFAULT_PORT = 8765
DEFAULT_CREDITS = 1_000_000.0


def _fault_setting(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"expected NAME=VALUE, got {text!r}", param_hint="--fault")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # a bare word, e.g. a command name
    return name.strip(), value


def build_emulator(
    *,
    accounts: tuple[str, ...] = (),
    profile: str = "default",
    credits: float = DEFAULT_CREDITS,
    seed: int = 0,
    admin: bool = True,
    recorder: str = "counters",
    retention: int | None = 200_000,
    fake_clock: bool = False,
    faults: tuple[str, ...] = (),
) -> GatewayEmulator:
    """The emulator the command serves (separate from the command so it can be tested)."""
    parsed = [Account.parse(spec, credits=credits) for spec in accounts] or [
        Account(api_id=1234, user="demo", password="demo", credits=credits)
    ]
    settings = dict(_fault_setting(f) for f in faults)
    if "commands" in settings and isinstance(settings["commands"], str):
        settings["commands"] = settings["commands"].split(",")
    return GatewayEmulator(
        accounts=parsed,
        profile=Profile.named(profile),
        seed=seed,
        admin=admin,
        recorder=recorder,  # type: ignore[arg-type]
        retention=retention or None,
        clock=FakeClock() if fake_clock else None,
        faults=Faults.from_mapping(settings) if settings else None,
    )


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="API_ID:USER:PASSWORD",
    help="An account to accept (repeatable). Default: 1234:demo:demo.",
)
@click.option(
    "--profile",
    type=click.Choice(["default", "v2.3.8"]),
    default="default",
    show_default=True,
    help="Platform generation to reproduce (limits, callback values, reply forms).",
)
@click.option("--credits", type=float, default=DEFAULT_CREDITS, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for ids and faults.")
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
    type=int,
    default=200_000,
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
@click.option("--log-level", default="warning", show_default=True)
def emulator(
    host: str,
    port: int,
    accounts: tuple[str, ...],
    profile: str,
    credits: float,
    seed: int,
    admin: bool,
    recorder: str,
    retention: int,
    fake_clock: bool,
    faults: tuple[str, ...],
    log_level: str,
) -> None:
    """Run the Clickatell gateway emulator (HTTP API and both SOAP servers)."""
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
        )
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from None
    try:
        from ..testing._serve import serve
    except ImportError:  # pragma: no cover - depends on the environment
        raise click.UsageError("the emulator needs uvicorn: pip install 'asms[emulator]'") from None
    # The emulator keeps many small long-lived objects (one per stored message): collecting
    # the young generation less often and leaving startup objects out of full collections
    # saves 10-15 % of its CPU per request.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    ids = ", ".join(f"api_id {a.api_id} user {a.user}" for a in gateway.accounts.values())
    click.echo(f"asms emulator on http://{host}:{port} ({profile} profile; {ids})", err=True)
    serve(gateway, host=host, port=port, log_level=log_level)


if __name__ == "__main__":  # pragma: no cover - `python -m asms._cli.emulator`
    emulator()
