"""``EventLog``: an in-memory handler pair that records what a receiver delivers."""

from __future__ import annotations

from typing import Any

from ._events import InboundMessage, StatusReport
from ._receiver import CallbackReceiver

__all__ = ["EventLog"]


class EventLog:
    """Records every delivered event, in order; handy in tests and for the CLI.

    ``log.receiver(...)`` builds a :class:`CallbackReceiver` wired to this log, with a store
    in memory unless ``store=`` is given: the log lives in memory, so a record of handled
    events that outlived it would make a new log miss a repeated event.
    """

    def __init__(self) -> None:
        self.statuses: list[StatusReport] = []
        self.inbound: list[InboundMessage] = []

    def __repr__(self) -> str:
        return f"<EventLog statuses={len(self.statuses)} inbound={len(self.inbound)}>"

    async def on_status(self, report: StatusReport) -> None:
        """The status handler: appends ``report`` to ``statuses``."""
        self.statuses.append(report)

    async def on_inbound(self, message: InboundMessage) -> None:
        """The inbound-message handler: appends ``message`` to ``inbound``."""
        self.inbound.append(message)

    def latest(self, apimsgid: str) -> StatusReport | None:
        """The last status report delivered for ``apimsgid``."""
        return next((r for r in reversed(self.statuses) if r.apimsgid == apimsgid), None)

    def receiver(self, **options: Any) -> CallbackReceiver:
        """A receiver delivering into this log (``options`` as for ``CallbackReceiver``;
        ``store`` defaults to memory)."""
        options.setdefault("store", False)
        return CallbackReceiver(on_status=self.on_status, on_inbound=self.on_inbound, **options)
