"""What the emulator committed: every message (or just counters), for exact test assertions.

Duplicates
----------
The gateway has no duplicate protection, so the one thing a fault test must prove is that
no SMS reached a handset twice. :meth:`Recorder.duplicates` therefore counts *messages*,
whatever ids they were sent under: two committed recipients are the same message when they
have the same :class:`MessageKey` -- the same account (``api_id``), the same recipient
(``to``, as the gateway committed it), the same sender (``from``, ``""`` when none was
given) and the same text (decoded: unicode texts compare as characters, binary ones as
their payload hex without the UDH). Everything else -- ``climsgid``, the command
(``sendmsg``, ``quicksend``, a batch item), ``deliv_time``, ``callback``, the request it
came in with -- does not make it a different message: the handset sees the same SMS. A
recipient listed twice in one request counts too.

How each mode counts:

* ``"messages"``: exactly, from the stored messages: the keys are collected when first read
  (then only the messages added since), so a test that never asks pays nothing; once read,
  one set entry per distinct message on top of the message itself.
* ``"counters"`` and ``"totals"``: an 8-byte blake2b digest of the key per distinct message
  in a set (an int, not the key: far smaller than the message), plus the key of each
  repeat. A digest collision can only report a message that was sent once as a duplicate
  (odds about n² / 2⁶⁵ for n distinct messages), never hide a real one.

The old, weaker view -- repeated climsgids -- stays available as
:meth:`Recorder.climsgid_repeats` (a resumed run or a second run on one journal resends
under new ids, so it sees nothing there).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import blake2b
from threading import Lock
from types import MappingProxyType
from typing import Literal, NamedTuple

from .._codes import MessageStatus
from ._config import Lifecycle

__all__ = ["CommittedMessage", "MessageKey", "Recorder", "RecorderMode", "RecorderStatistics"]

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
        self.apimsgid: str = apimsgid
        self.climsgid: str = climsgid
        self.to: str = to
        self.from_: str = from_
        self.text: str = text
        self.parts: int = parts
        self.charge: float = charge
        self.time: float = time
        self.due: float = due
        self.api_id: int = api_id
        self.command: str = command
        self.callback: int = callback
        self.final: int = 0  # a status that overrides the normal path from ``final_at`` on
        self.final_at: float = 0.0
        self.paid: bool = False  # charged already (a deferred message is charged when due)
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


class MessageKey(NamedTuple):
    """What makes two committed recipients the same SMS (see the module docstring)."""

    api_id: int
    to: str
    from_: str
    text: str


def _key(message: CommittedMessage) -> MessageKey:
    return MessageKey(message.api_id, message.to, message.from_, message.text)


def _digest_prefix(message: CommittedMessage) -> blake2b:
    # Lengths delimit the fields, so no text can pass for another sender + text; ``to``
    # goes last (digits only) and needs none. surrogatepass: a UCS-2 text may hold lone
    # surrogates, which strict UTF-8 refuses.
    head = f"{message.api_id}:{len(message.from_)}:{message.from_}{len(message.text)}:"
    data = (head + message.text).encode("utf-8", "surrogatepass")
    return blake2b(data, digest_size=8)


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
    # Messages (same account, to, from and text) committed more than once, and the copies
    # beyond the first of each: the SMS sent too many. Every mode (see the module docstring).
    duplicate_messages: int = 0
    extra_messages: int = 0


class Recorder:
    """Records commits. Modes: ``"messages"`` keeps every :class:`CommittedMessage` plus the
    counters; ``"counters"`` keeps per-climsgid counts and a digest per distinct message;
    ``"totals"`` keeps plain numbers and the digests (so :meth:`duplicates` works in every
    mode; memory per message in the module docstring).
    """

    __slots__ = (
        "_commits",
        "_digests",
        "_errors",
        "_faults",
        "_messages",
        "_mo",
        "_parts",
        "_repeats",
        "_requests",
        "_scan_lock",
        "_scanned",
        "_seen",
        "arrivals",
        "commits_by_climsgid",
        "commits_by_recipient",
        "messages",
        "mode",
    )

    def __init__(self, mode: RecorderMode = "messages") -> None:
        if mode not in ("messages", "counters", "totals"):
            raise ValueError("mode must be 'messages', 'counters' or 'totals'")
        self.mode: RecorderMode = mode
        # A test may read while a served emulator's thread reads through the admin API.
        self._scan_lock = Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded so far."""
        self.messages: list[CommittedMessage] = []
        #: (time, command, ERR code or None) per request as it arrived, on the emulator's
        #: clock: the first ERR code of its reply, if any ("messages" and "counters" modes)
        self.arrivals: list[tuple[float, str, int | None]] = []
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
        with self._scan_lock:
            # "counters"/"totals": a digest per distinct message, added as it is committed.
            self._digests: set[int] = set()
            # "messages": the exact keys, built from the stored messages only when read (so
            # a test that never asks pays nothing); ``_scanned`` messages are in it so far.
            self._seen: set[MessageKey] = set()
            self._scanned = 0
            self._repeats: Counter[MessageKey] = Counter()  # key -> commits after its first

    # -- recording (the emulator calls these) ----------------------------------------------

    def record_request(self, command: str) -> None:
        """Count one request of ``command``."""
        self._requests[command] += 1

    def record_arrival(self, time: float, command: str, lines: Sequence[str]) -> None:
        """Log one request: when it arrived, its command and its reply's first ERR code."""
        if self.mode == "totals":
            return
        error: int | None = None
        for line in lines:
            if line[:5] == "ERR: " and line[5:8].isdigit():
                error = int(line[5:8])
                break
        self.arrivals.append((time, command, error))

    def record_arrival_code(self, time: float, command: str, error: int | None) -> None:
        """Log one request whose reply is not in lines (the Platform's JSON): its first
        error code, or None."""
        if self.mode != "totals":
            self.arrivals.append((time, command, error))

    def record_error(self, code: int, lines: int = 1) -> None:
        """Count ``lines`` reply lines carrying ``ERR: code``."""
        self._errors[code] += lines

    def record_fault(self, kind: str) -> None:
        """Count one injected fault of ``kind``."""
        self._faults[kind] += 1

    def record_mo(self, parts: int) -> None:
        """Count ``parts`` injected inbound message parts."""
        self._mo += parts

    def record_commit(self, climsgid: str, messages: Sequence[CommittedMessage]) -> None:
        """Record one accepted request: its recipients, as the mode keeps them."""
        self._commits += 1
        self._messages += len(messages)
        mode = self.mode
        if len(messages) == 1:
            self._parts += messages[0].parts
        else:
            self._parts += sum(m.parts for m in messages)
        if mode == "messages":
            self.messages.extend(messages)
        else:
            self._count_digests(messages)
        if mode == "totals":
            return
        if climsgid:
            self.commits_by_climsgid[climsgid] += 1
            by_recipient = self.commits_by_recipient
            for m in messages:
                by_recipient[climsgid, m.to] += 1

    def _count_digests(self, messages: Sequence[CommittedMessage]) -> None:
        digests = self._digests
        first = messages[0]
        prefix = _digest_prefix(first)
        for m in messages:
            # One request shares account, sender and text object; check rather than assume.
            if m.text is not first.text or m.from_ != first.from_ or m.api_id != first.api_id:
                first, prefix = m, _digest_prefix(m)
            h = prefix.copy()
            h.update(m.to.encode())
            size = len(digests)
            digests.add(int.from_bytes(h.digest()))
            if len(digests) == size:
                self._repeats[_key(m)] += 1

    # -- reading ----------------------------------------------------------------------------

    def committed(self, climsgid: str) -> int:
        """How many accepted requests carried ``climsgid``."""
        return self.commits_by_climsgid.get(climsgid, 0)

    def duplicates(self) -> dict[MessageKey, int]:
        """Message -> times committed, for every message committed more than once.

        A message is its account, recipient, sender and text, whatever ids it was sent
        under (the module docstring has the exact rule): ``{}`` means no handset got the
        same SMS twice. Exact in "messages" mode; digest-based in the other two.
        """
        if self.mode == "messages":
            with self._scan_lock:
                self._scan_messages()
                repeats = list(self._repeats.items())
        else:
            # A served emulator commits on its own thread: list() copies in one step.
            repeats = list(self._repeats.items())
        return {key: n + 1 for key, n in repeats}

    def _scan_messages(self) -> None:
        messages = self.messages
        if len(messages) < self._scanned:  # the list was cut from outside: start over
            self._seen.clear()
            self._repeats.clear()
            self._scanned = 0
        seen, repeats = self._seen, self._repeats
        end = len(messages)
        for i in range(self._scanned, end):
            key = _key(messages[i])
            if key in seen:
                repeats[key] += 1
            else:
                seen.add(key)
        self._scanned = end

    def climsgid_repeats(self) -> dict[str, int]:
        """climsgid -> commit count, for the climsgids committed more than once.

        Blind to a message resent under a new climsgid: use :meth:`duplicates` to prove
        nothing was sent twice. Empty in "totals" mode.
        """
        return {k: n for k, n in self.commits_by_climsgid.items() if n > 1}

    def climsgid_recipient_repeats(self) -> dict[tuple[str, str], int]:
        """(climsgid, to) -> count, for recipients accepted more than once under one climsgid.

        Like :meth:`climsgid_repeats`, blind to resends under a new id.
        """
        return {k: n for k, n in self.commits_by_recipient.items() if n > 1}

    #: The older name of :meth:`climsgid_recipient_repeats`.
    duplicate_recipients = climsgid_recipient_repeats

    def messages_for(self, climsgid: str) -> list[CommittedMessage]:
        """The recorded messages carrying ``climsgid`` ("messages" mode only)."""
        return [m for m in self.messages if m.climsgid == climsgid]

    def statistics(self) -> RecorderStatistics:
        """The counters now (duplicates counted as :meth:`duplicates` finds them)."""
        duplicates = self.duplicates()
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
            duplicate_messages=len(duplicates),
            extra_messages=sum(duplicates.values()) - len(duplicates),
        )

    def __repr__(self) -> str:
        return f"<Recorder mode={self.mode!r} commits={self._commits} messages={self._messages}>"
