"""Ctrl-C and SIGTERM outside ``asms bulk``: a clean stop with the shell's exit status.

click turns a ``KeyboardInterrupt`` into "Aborted!" and exit 1, which a script cannot tell
from a failure; and SIGTERM's default action skips every ``finally`` (the demo's emulator
child then outlives it). :func:`install` makes SIGTERM raise ``KeyboardInterrupt`` as Ctrl-C
does, so the same clean-up runs, and :class:`StoppableGroup` exits 130 (SIGINT) or 143
(SIGTERM) without a message. Commands with their own handling (``asms bulk``, ``asms send``)
replace the handlers while they run.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import click

from ._common import drop_stream

__all__ = [
    "STOP_SIGNALS",
    "StoppableGroup",
    "discard_stdout",
    "install",
    "serve_until_stopped",
    "stoppable_server",
    "stop_signal",
    "stop_status",
]

_received: list[int] = []


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def install() -> None:
    """SIGTERM raises ``KeyboardInterrupt`` (main thread of the real command only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def stop_signal() -> int:
    """The signal that stopped the command: SIGTERM if :func:`install`'s handler ran, else
    SIGINT (a ``KeyboardInterrupt``)."""
    return _received[-1] if _received else signal.SIGINT


def stop_status() -> int:
    """128 + the signal that stopped the command: 143 after SIGTERM, else 130."""
    return 128 + stop_signal()


def discard_stdout() -> None:
    """Standard output was closed by its reader (``| head -1``): drop the rest of it.

    What the command did is unchanged, so its exit status must be too; and the interpreter's
    final flush must not fail again on the closed pipe.
    """
    drop_stream(sys.stdout)


class StoppableGroup(click.Group):
    """A group whose commands exit 130/143 on Ctrl-C/SIGTERM instead of "Aborted!"."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise SystemExit(stop_status()) from None
        except BrokenPipeError:  # a command without its own handling: still no traceback
            discard_stdout()
            raise SystemExit(1) from None


def stoppable_server(uvicorn: Any, config: Any) -> Any:
    """A uvicorn server that records SIGINT/SIGTERM instead of raising them again from
    inside its event loop: there the ``KeyboardInterrupt`` can land in the loop's own
    clean-up (a traceback, exit 1, an unclosed loop). Run it with :func:`serve_until_stopped`.
    """

    class Server(uvicorn.Server):  # type: ignore[misc]
        stopped_by: int | None = None
        early: tuple[int, ...] = ()  # set by serve_until_stopped

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            self.stopped_by = sig
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is threading.main_thread():
                for handled in STOP_SIGNALS:
                    signal.signal(handled, self.handle_exit)
                for got in self.early:  # came while the loop was starting
                    self.handle_exit(got, None)
            yield

    return Server(config)


STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a long-running command (a server, a worker) cleanly."""


def serve_until_stopped(
    server: Any, sockets: list[socket.socket], announce: Callable[[], None]
) -> None:
    """Run a :func:`stoppable_server` until SIGINT/SIGTERM, then end the command as Ctrl-C
    does. Signals are recorded from before ``announce()`` (the "listening" line) and raised
    once the loop has closed, for :class:`StoppableGroup` to turn into 130 or 143.
    """
    early: list[int] = []
    server.early = early  # the same list: signals recorded until uvicorn takes over
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            sig: signal.signal(sig, lambda sig, _: early.append(sig)) for sig in STOP_SIGNALS
        }
    announce()
    try:
        server.run(sockets=sockets)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stopped_by = server.stopped_by if server.stopped_by is not None else None
    if stopped_by is None and early:
        stopped_by = early[-1]
    if stopped_by is not None:
        _received.append(stopped_by)
        raise KeyboardInterrupt
