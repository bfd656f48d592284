"""The ``asms`` command line: one click group, one module per command."""

from __future__ import annotations

import click

from .._version import __version__
from ._stop import StoppableGroup


@click.group(cls=StoppableGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asms")
def cli() -> None:
    """Send SMS through Clickatell, or run its emulator.

    A legacy account (made before November 2016) is ASMS_API_ID, ASMS_USER and
    ASMS_PASSWORD in the environment (wires http, soap, soap-rpc); an account made on the
    portal since then is ASMS_API_KEY, its integration API key: send, bulk, status and
    balance then use the Platform (--wire platform, the default with a key, or --wire
    one-api). With both set, choose with --wire (or ASMS_WIRE).

    A campaign can also be sent by workers sharing Redis: asms bulk FILE --redis URL
    --campaign NAME queues it, asms worker --redis URL sends it (run as many as you like),
    asms campaign status|results NAME --redis URL reads it back.
    """


def _register_commands() -> None:
    from .commands import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


def _register_emulator() -> None:
    from .emulator import emulator

    cli.add_command(emulator)


def _register_demo_redis() -> None:
    from .demo_redis import demo_redis

    cli.add_command(demo_redis)


# Each command group registers on its own: a missing optional dependency of one (uvicorn for
# the emulator) must not take the others down with it.
for _step in (_register_commands, _register_emulator, _register_demo_redis):
    try:
        _step()
    except ImportError:  # pragma: no cover - partial installs
        pass
