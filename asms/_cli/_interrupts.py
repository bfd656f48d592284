"""SIGINT and SIGTERM during ``asms bulk``: stop the run, but keep every result it drains.

The default reactions lose results: SIGTERM ends the process at once, and Ctrl-C cancels the
run, which then only counts what it drains. Without a journal the results file is the only
record of what went out, so both signals stop the run instead: no new request starts, the
requests in flight finish (within the run's drain timeout), and the run keeps yielding until
every message read has its result, which the command writes. A second signal interrupts the
requests still in flight; their messages come out as ``unknown``, and are written too.
"""

from __future__ import annotations

import signal
import threading
from typing import Final

import anyio
from anyio.abc import TaskStatus

from .._bulk.run import BulkRun

__all__ = ["SIGNALS", "Interrupts", "exit_status"]

SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


def exit_status(signum: int) -> int:
    """128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as shells report it."""
    return 128 + signum


class Interrupts:
    """Turns the signals received while :meth:`watch` runs into stops of the attached run."""

    def __init__(self) -> None:
        self.first: signal.Signals | None = None  # the signal that stopped the run
        self.count = 0
        self._run: BulkRun | None = None

    def attach(self, run: BulkRun) -> None:
        """The run to stop (a signal that came before it stops it at once)."""
        self._run = run
        self._apply()

    def received(self, signum: int) -> None:
        self.count += 1
        if self.first is None:
            self.first = signal.Signals(signum)
        self._apply()

    def _apply(self) -> None:
        if self._run is None or self.first is None:
            return
        self._run.stop(f"not sent: interrupted ({self.first.name})", drain=self.count < 2)

    async def watch(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Receive the signals until cancelled; started once the handlers are in place."""
        if threading.current_thread() is not threading.main_thread():
            # Signals reach the main thread only (and handlers can only be set there).
            task_status.started()
            return
        try:
            receiver = anyio.open_signal_receiver(*SIGNALS)
            with receiver as signals:
                task_status.started()
                async for signum in signals:
                    self.received(signum)
        except NotImplementedError:  # pragma: no cover - event loops without signal support
            task_status.started()
