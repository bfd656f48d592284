"""``asms send`` stopped by Ctrl-C or SIGTERM while its requests are in flight.

A request the gateway has committed but not yet answered cannot be told apart, at the
moment of the signal, from one it never saw: a blind rerun would send it twice. So the
command knows every request's ``climsgid`` before it sends (the caller's ``--climsgid``, or
a fresh one, split into ``<id>c<n>`` for several requests as the client does), and on a
signal names each request not yet answered, with the command that looks it up, then exits
130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskStatus

from .._client import AsyncClient
from .._config import PLATFORM_WIRES
from .._exceptions import ASMSError
from .._logging import IN_FLIGHT, logger
from .._models import new_climsgid
from .._results import SendResults
from .._sending import chunk_climsgid, chunks, normalize_recipients
from ._interrupts import SIGNALS

__all__ = ["Request", "SendOutcome", "send_stoppable", "unknown_lines"]


@dataclass(slots=True)
class Request:
    climsgid: str
    recipients: Sequence[str]
    answered: bool = False


@dataclass(slots=True)
class SendOutcome:
    results: SendResults | None = None
    signal: int | None = None  # the signal that stopped the send, if one did
    requests: list[Request] = field(default_factory=list)

    @property
    def unsettled(self) -> list[Request]:
        return [r for r in self.requests if not r.answered]


def unknown_lines(outcome: SendOutcome, wire: str = "http") -> list[str]:
    """One line per request whose outcome the signal left unknown, with how to find out.

    The Platform wires cannot look a message up by ``climsgid``: only its status callback
    (which carries it) or the portal can tell.
    """
    lines = []
    for request in outcome.unsettled:
        first, more = request.recipients[0], len(request.recipients) - 1
        to = first if not more else f"{first} and {more} more"
        if wire in PLATFORM_WIRES:
            check = (
                f"the {wire} wire cannot look it up by climsgid: its status callback "
                "(asms callbacks) carries that climsgid, or see the portal's message log, "
                "before sending again"
            )
        else:
            check = f"check with `asms status --climsgid {request.climsgid}` before sending again"
        lines.append(f"outcome unknown: climsgid {request.climsgid} (to {to}); {check}")
    return lines


async def send_stoppable(
    client: AsyncClient,
    text: str,
    numbers: Sequence[str],
    *,
    climsgid: str | None,
    country_code: str | None,
    options: dict[str, Any],
) -> SendOutcome:
    """``client.send`` split into its requests up front, each with a known ``climsgid``."""
    # Every number is checked before anything is sent, as one client.send would.
    recipients = normalize_recipients(numbers, country_code)
    groups = chunks(recipients, client.max_recipients)
    base = climsgid or new_climsgid()
    outcome = SendOutcome(
        requests=[
            Request(chunk_climsgid(base, i, len(groups)), group) for i, group in enumerate(groups)
        ]
    )
    slots: list[SendResults] = [SendResults() for _ in groups]
    errors: list[tuple[int, ASMSError]] = []

    async def one(index: int) -> None:
        request = outcome.requests[index]
        try:
            slots[index] = await client.send(
                text, to=request.recipients, climsgid=request.climsgid, **options
            )
        except ASMSError as exc:  # raised once the other requests are answered, as send does
            errors.append((index, exc))
        request.answered = True

    async def watch(
        scope: anyio.CancelScope, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        if threading.current_thread() is not threading.main_thread():
            task_status.started()  # signals reach the main thread only
            return
        with anyio.open_signal_receiver(*SIGNALS) as received:
            task_status.started()
            async for signum in received:
                outcome.signal = signum
                scope.cancel()
                return

    # The requests a signal leaves in flight are named below, with the command that looks
    # them up: the client's own warning for each (Python advice) would say it twice.
    reported = _InFlightReported()
    logger.addFilter(reported)
    try:
        async with anyio.create_task_group() as outer:
            await outer.start(watch, outer.cancel_scope)
            async with anyio.create_task_group() as group:
                for index in range(len(groups)):
                    group.start_soon(one, index)
            outer.cancel_scope.cancel()  # every request answered: stop watching
    finally:
        logger.removeFilter(reported)
    if outcome.signal is not None and outcome.unsettled:
        return outcome  # a signal after the last answer changes nothing: results follow
    if len(errors) == len(groups):
        raise min(errors, key=lambda error: error[0])[1]
    if errors:
        # Some requests were answered: keep their results, as client.send does.
        parts = next(slot[0].parts for slot in slots if len(slot))
        for index, exc in errors:
            request = outcome.requests[index]
            slots[index] = client._failed_request(exc, request.recipients, request.climsgid, parts)
    outcome.results = SendResults(result for slot in slots for result in slot)
    return outcome


class _InFlightReported(logging.Filter):
    """Drops the client's warnings about requests a cancel left in flight."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not hasattr(record, IN_FLIGHT)
