"""The ``asms`` command line: one click group, one module per command."""

from __future__ import annotations

import click

from .._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asms")
def cli() -> None:
    """Send SMS through the Clickatell legacy gateway, or run its emulator."""


def _register() -> None:
    # Commands live in their own modules; a missing optional dependency of one command
    # (uvicorn for the emulator) must not break the others.
    from .emulator import emulator

    cli.add_command(emulator)


try:
    _register()
except ImportError:  # pragma: no cover - partial installs
    pass
