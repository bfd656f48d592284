"""The world of tests/bulk/test_stateful.py: a gateway with chaos, a shared clock, and the model.

The model is plain Python: what each (recipient, text) may be committed at most (``allowed``),
what every result claimed, and the checks that compare those claims with what the emulator's
recorder holds. The checks read ``recorder.messages`` directly (never
``recorder.duplicates()``, whose meaning is being changed).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import httpx

from asms._clock import SystemClock
from asms._models import DeliveryState, SendResult
from asms.testing import CommittedMessage, Faults, GatewayEmulator

Key = tuple[str, str]  # (recipient, text)

#: Outcomes the emulator's ``Faults.script`` can force on a send request.
OUTCOMES = (
    "err901_before_commit",
    "err901_after_commit",
    "drop_before_commit",
    "drop_after_commit",
    "truncated_reply",
    "connect_error",
)
#: The outcomes above whose request the gateway commits before the client loses the answer.
AFTER_COMMIT = frozenset({"err901_after_commit", "drop_after_commit", "truncated_reply"})


class SkewedTime:
    """Unix time shifted by ``skew`` seconds: the gateway's, the client's and the run's.

    One clock for all three, so that an ``ERR 130`` whose end is 30 ms away is waited out
    in 30 ms: moving ``skew`` forward lines the clock up just before a whole second.
    """

    def __init__(self) -> None:
        self.skew = 0.0

    def __call__(self) -> float:
        return time.time() + self.skew

    def align_before_second(self, margin: float = 0.03) -> int:
        """Move time forward so that the next whole second is ``margin`` away; return it."""
        now = self()
        ahead = (1.0 - margin) - (now % 1.0)
        if ahead < 0:
            ahead += 1.0
        self.skew += ahead
        return int(self()) + 1


class RunClock(SystemClock):
    """The bulk run's clock: the event loop's monotonic time, the shared skewed wall time."""

    __slots__ = ("_wall",)

    def __init__(self, wall: SkewedTime) -> None:
        self._wall = wall

    def wall_time(self) -> float:
        return self._wall()


@dataclass
class Chaos:
    """What the transport does to the next ``sendmsg`` requests (besides emulator faults).

    ``hang``: (n, "before"|"after") hangs the n-th sendmsg from now (1-based) forever,
    before it reaches the gateway or after the gateway committed it: a process killed
    mid-request. ``mangle``: "drop_error" removes the ``ERR`` line of a multi-line reply,
    "stranger" makes it name a number nobody sent to (reply lines missing or wrong).
    """

    hang: tuple[int, str] | None = None
    mangle: str | None = None
    hung: anyio.Event | None = None
    hanging: bool = False
    seen: int = 0


_ERR_TO = re.compile(rb"^(ERR: [^\n]*To: )(\d+)$", re.MULTILINE)


class ChaosTransport(httpx.AsyncBaseTransport):
    """The emulator's in-process transport, plus hangs and mangled replies."""

    def __init__(self, emulator: GatewayEmulator) -> None:
        self._inner = emulator.transport()
        self.chaos = Chaos()

    def reset(self) -> None:
        self.chaos = Chaos()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        chaos = self.chaos
        if not request.url.path.endswith("/sendmsg"):
            return await self._inner.handle_async_request(request)
        chaos.seen += 1
        hang = chaos.hang is not None and chaos.seen == chaos.hang[0]
        if hang and chaos.hang is not None and chaos.hang[1] == "before":
            await self._hang(chaos)
        response = await self._inner.handle_async_request(request)
        if hang:
            await self._hang(chaos)
        if chaos.mangle is None:
            return response
        body = await response.aread()
        if body.count(b"\n") >= 1 and _ERR_TO.search(body):
            if chaos.mangle == "drop_error":
                body = b"\n".join(
                    line for line in body.split(b"\n") if not line.startswith(b"ERR:")
                )
            else:
                body = _ERR_TO.sub(rb"\g<1>27999999999", body)
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )

    @staticmethod
    async def _hang(chaos: Chaos) -> None:
        chaos.hanging = True
        if chaos.hung is not None:
            chaos.hung.set()
        await anyio.sleep_forever()


@dataclass(frozen=True)
class FaultPlan:
    """Emulator faults for one step: forced outcomes of the first requests, lookup lag."""

    script: tuple[str | None, ...] = ()
    lookup_lag: float = 0.0
    seed: int = 0

    @property
    def clean(self) -> bool:
        return not any(self.script) and not self.lookup_lag

    @property
    def after_commit(self) -> int:
        """Requests of the step that the gateway commits while the client loses the answer."""
        return sum(1 for outcome in self.script if outcome in AFTER_COMMIT)

    def faults(self) -> Faults:
        return Faults(seed=self.seed, script=self.script, querymsg_visibility_delay=self.lookup_lag)


@dataclass
class Ledger:
    """The model: what may be committed, and what the results claimed."""

    emulator: GatewayEmulator
    allowed: Counter[Key] = field(default_factory=Counter)
    #: key -> commits when a result said "unknown" (a commit after it is a resend in doubt)
    unknown_at: dict[Key, int] = field(default_factory=dict)
    _seen: int = 0
    _counts: Counter[Key] = field(default_factory=Counter)
    _by_apimsgid: dict[str, CommittedMessage] = field(default_factory=dict)
    _by_request: dict[tuple[str, str], list[CommittedMessage]] = field(default_factory=dict)

    def _catch_up(self) -> None:
        messages = self.emulator.recorder.messages
        for m in messages[self._seen :]:
            self._counts[m.to, m.text] += 1
            self._by_apimsgid[m.apimsgid] = m
            self._by_request.setdefault((m.climsgid, m.to), []).append(m)
        self._seen = len(messages)

    def commits(self, key: Key) -> int:
        self._catch_up()
        return self._counts[key]

    def intend(self, keys: Sequence[Key]) -> None:
        """These messages are to be sent once each (a deliberate repeat adds one more)."""
        for key in keys:
            self.allowed[key] += 1

    def allow_beyond_window(self, keys: Sequence[Key], extra: int) -> None:
        """The gateway shows this step's commits later than the lookup window: each lost
        answer may be concluded "missing" and resent, or reported ``not_sent`` when the
        budget is spent (docs/guarantees.md, "Duplicates asms could not prevent" and "The
        lookup"). So each of ``keys`` may be committed up to ``extra`` more times, also
        after an "unknown" result (a journaled rerun's lookup is bound by the same window).
        """
        if not extra:
            return
        for key in keys:
            self.allowed[key] += extra
            if self.unknown_at.get(key):
                self.unknown_at[key] += extra

    # -- the invariants ---------------------------------------------------------------------

    def check_counts(self) -> None:
        """Nothing committed more often than sent on purpose; no commit after an unknown."""
        self._catch_up()
        twice = {k: n for k, n in self._counts.items() if n > self.allowed[k]}
        assert not twice, f"committed more often than sent on purpose: {twice}"
        after = {
            k: (then, self._counts[k])
            for k, then in self.unknown_at.items()
            if then and self._counts[k] > then
        }
        assert not after, f"committed again after an 'unknown' result: {after}"

    def check_result(
        self, key: Key, result: SendResult, *, where: str, refusals_final: bool = True
    ) -> None:
        """One result tells the truth about ``key`` (its recipient and text)."""
        self._catch_up()
        state = result.state
        to, text = key
        assert result.to == to, f"{where}: a result for {result.to} in the place of {to}"
        if state is DeliveryState.ACCEPTED:
            if result.apimsgid is not None:
                m = self._by_apimsgid.get(result.apimsgid)
                assert m is not None, f"{where}: accepted with an id never issued: {result}"
                assert (m.to, m.text) == key, (
                    f"{where}: accepted with the id of another message "
                    f"({m.to!r}, {m.text!r}) for {key}: {result}"
                )
            else:
                assert result.climsgid is not None, f"{where}: accepted, no id at all: {result}"
                found = [
                    m for m in self._by_request.get((result.climsgid, to), ()) if m.text == text
                ]
                assert found, f"{where}: accepted but never committed: {key} {result}"
        elif state is DeliveryState.UNKNOWN:
            self.unknown_at.setdefault(key, self._counts[key])
        elif refusals_final and self.allowed[key] == 1:
            # Rejected or not sent: the gateway must not have it.
            assert self._counts[key] == 0, (
                f"{where}: reported {state.value} but committed {self._counts[key]}x: "
                f"{key} {result}"
            )
