"""What the emulator committed: every message (or just counters), for exact test assertions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from .._codes import MessageStatus
from ._config import Lifecycle

__all__ = ["CommittedMessage", "Recorder", "RecorderMode", "RecorderStatistics"]

RecorderMode = Literal["messages", "counters", "totals"]


class CommittedMessage:
    """One recipient of one accepted request (read-only for users).

    ``time`` is when it was accepted, ``due`` when it is (or was) to leave the gateway
    (later than ``time`` for ``deliv_time``/``scheduled_time``), ``charge`` what it costs
    (parts × the route's charge). The text object is shared by every recipient of a request.
    """

    __slots__ = (
        "api_id",
        "apimsgid",
        "callback",
        "charge",
        "climsgid",
        "command",
        "due",
        "final",
        "final_at",
        "from_",
        "group",
        "paid",
        "parts",
        "text",
        "time",
        "to",
    )

    def __init__(
        self,
        apimsgid: str,
        climsgid: str,
        to: str,
        from_: str,
        text: str,
        parts: int,
        charge: float,
        time: float,
        due: float,
        api_id: int,
        command: str,
        callback: int,
    ) -> None:
        self.apimsgid = apimsgid
        self.climsgid = climsgid
        self.to = to
        self.from_ = from_
        self.text = text
        self.parts = parts
        self.charge = charge
        self.time = time
        self.due = due
        self.api_id = api_id
        self.command = command
        self.callback = callback
        self.final: int = 0  # a status that overrides the normal path from ``final_at`` on
        self.final_at = 0.0
        self.paid = False
        # The other recipients of the same request (shared list), or None for a single one.
        self.group: list[CommittedMessage] | None = None

    def status_at(self, now: float, lifecycle: Lifecycle) -> MessageStatus:
        """The status at ``now``: derived from the clock, nothing runs per message."""
        if self.final and now >= self.final_at:
            return MessageStatus(self.final)
        if now < self.due:
            return MessageStatus.QUEUED_FOR_LATER_DELIVERY
        sent, received = self._lifecycle_times(lifecycle)
        if now < sent:
            return MessageStatus.MESSAGE_QUEUED
        if now < received:
            return MessageStatus.DELIVERED_TO_GATEWAY
        return MessageStatus.RECEIVED_BY_RECIPIENT

    def _lifecycle_times(self, lifecycle: Lifecycle) -> tuple[float, float]:
        """When the message reaches 003 and 004 (absolute clock times).

        ``status_at`` and ``change_times`` must both compare with these very floats: checking
        ``now - due < queued + delivery`` instead rounds differently (0.05 + 0.05 …), so at
        the 004 change time the status would still read 003 and the event be skipped.
        """
        sent = self.due + lifecycle.queued
        return sent, sent + lifecycle.delivery

    def change_times(self, lifecycle: Lifecycle) -> list[float]:
        """Every time at which ``status_at`` may change, from acceptance on."""
        times = {self.time, self.due, *self._lifecycle_times(lifecycle)}
        if self.final:
            times.add(self.final_at)
        return sorted(t for t in times if t >= self.time)

    def __repr__(self) -> str:
        return (
            f"CommittedMessage(apimsgid={self.apimsgid!r}, climsgid={self.climsgid!r}, "
            f"to={self.to!r}, parts={self.parts}, command={self.command!r})"
        )


@dataclass(frozen=True, slots=True)
class RecorderStatistics:
    """Counters since the emulator started (or the recorder was reset)."""

    requests: int
    requests_by_command: Mapping[str, int]
    commits: int  # accepted requests (one per request, whatever its recipient count)
    messages: int  # accepted recipients
    parts: int
    errors: Mapping[int, int]  # ERR code -> reply lines carrying it
    faults: Mapping[str, int]  # fault kind -> times injected
    duplicate_climsgids: int  # climsgids committed more than once (not in "totals" mode)
    mo_messages: int


class Recorder:
    """Records commits. Modes: ``"messages"`` keeps every :class:`CommittedMessage` plus the
    counters; ``"counters"`` keeps per-climsgid counts only; ``"totals"`` keeps plain numbers.
    """

    __slots__ = (
        "_commits",
        "_errors",
        "_faults",
        "_messages",
        "_mo",
        "_parts",
        "_requests",
        "commits_by_climsgid",
        "commits_by_recipient",
        "messages",
        "mode",
    )

    def __init__(self, mode: RecorderMode = "messages") -> None:
        if mode not in ("messages", "counters", "totals"):
            raise ValueError("mode must be 'messages', 'counters' or 'totals'")
        self.mode: RecorderMode = mode
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded so far."""
        self.messages: list[CommittedMessage] = []
        #: climsgid -> accepted requests that carried it
        self.commits_by_climsgid: Counter[str] = Counter()
        #: (climsgid, to) -> times that recipient was accepted under that climsgid
        self.commits_by_recipient: Counter[tuple[str, str]] = Counter()
        self._requests: Counter[str] = Counter()
        self._errors: Counter[int] = Counter()
        self._faults: Counter[str] = Counter()
        self._commits = 0
        self._messages = 0
        self._parts = 0
        self._mo = 0

    # -- recording (the emulator calls these) ----------------------------------------------

    def record_request(self, command: str) -> None:
        self._requests[command] += 1

    def record_error(self, code: int, lines: int = 1) -> None:
        self._errors[code] += lines

    def record_fault(self, kind: str) -> None:
        self._faults[kind] += 1

    def record_mo(self, parts: int) -> None:
        self._mo += parts

    def record_commit(self, climsgid: str, messages: Sequence[CommittedMessage]) -> None:
        self._commits += 1
        self._messages += len(messages)
        mode = self.mode
        if len(messages) == 1:
            self._parts += messages[0].parts
        else:
            self._parts += sum(m.parts for m in messages)
        if mode == "totals":
            return
        if climsgid:
            self.commits_by_climsgid[climsgid] += 1
            by_recipient = self.commits_by_recipient
            for m in messages:
                by_recipient[climsgid, m.to] += 1
        if mode == "messages":
            self.messages.extend(messages)

    # -- reading ----------------------------------------------------------------------------

    def committed(self, climsgid: str) -> int:
        """How many accepted requests carried ``climsgid``."""
        return self.commits_by_climsgid.get(climsgid, 0)

    def duplicates(self) -> dict[str, int]:
        """climsgid -> commit count, for the climsgids committed more than once."""
        return {k: n for k, n in self.commits_by_climsgid.items() if n > 1}

    def duplicate_recipients(self) -> dict[tuple[str, str], int]:
        """(climsgid, to) -> count, for recipients accepted more than once under one climsgid."""
        return {k: n for k, n in self.commits_by_recipient.items() if n > 1}

    def messages_for(self, climsgid: str) -> list[CommittedMessage]:
        """The recorded messages carrying ``climsgid`` ("messages" mode only)."""
        return [m for m in self.messages if m.climsgid == climsgid]

    def statistics(self) -> RecorderStatistics:
        return RecorderStatistics(
            requests=sum(self._requests.values()),
            requests_by_command=MappingProxyType(dict(self._requests)),
            commits=self._commits,
            messages=self._messages,
            parts=self._parts,
            errors=MappingProxyType(dict(sorted(self._errors.items()))),
            faults=MappingProxyType(dict(sorted(self._faults.items()))),
            duplicate_climsgids=sum(1 for n in self.commits_by_climsgid.values() if n > 1),
            mo_messages=self._mo,
        )

    def __repr__(self) -> str:
        return f"<Recorder mode={self.mode!r} commits={self._commits} messages={self._messages}>"
