"""What a bulk run yields and reports: per-message results, live statistics, the final report.

Counters live in one mutable :class:`Tally` owned by the run; the public views
(:class:`BulkStatistics`, :class:`BulkReport`) are frozen snapshots. Request latencies go into
a log-bucketed histogram (2 % resolution), so memory stays constant however long the run.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from types import MappingProxyType
from typing import Any, Final

from .._codes import ErrorCode
from .._fast import build_many, slot_setters
from .._models import NOT_SENT, OUTCOME_UNKNOWN, DeliveryState, SendResult
from .grouping import Item

__all__ = [
    "BulkReport",
    "BulkResult",
    "BulkStatistics",
    "DeliveryState",
    "LatencyHistogram",
    "Tally",
    "accepted_bulk_results",
    "make_result",
]


@dataclass(frozen=True, slots=True)
class BulkResult(SendResult):
    """A :class:`SendResult` with the message's place in the run.

    ``index`` is the message's position in the input (0-based), ``state`` says what became
    of it, ``resumed`` is true when the outcome was read back from the journal of an earlier
    run instead of being sent again. ``climsgid`` is the id of the request that carried the
    message (shared by all recipients of a grouped request).
    """

    state: DeliveryState = DeliveryState.ACCEPTED
    index: int = -1
    resumed: bool = False

    @property
    def ok(self) -> bool:
        """Whether the gateway accepted the message (``state`` is ``ACCEPTED``)."""
        return self.state is DeliveryState.ACCEPTED

    @property
    def accepted(self) -> bool:
        """Whether the gateway accepted the message (the same as :attr:`ok`)."""
        return self.state is DeliveryState.ACCEPTED


class LatencyHistogram:
    """Log-bucketed latencies: constant memory, quantiles within about 2 %."""

    __slots__ = ("_buckets", "_count", "_max", "_zero")

    _FLOOR = 1e-6  # below one microsecond counts as zero
    _STEP = math.log(1.02)

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self._zero = 0
        self._count = 0
        self._max = 0.0

    def add(self, seconds: float) -> None:
        """Record one latency."""
        self._count += 1
        if seconds > self._max:
            self._max = seconds
        if seconds < self._FLOOR:
            self._zero += 1
        else:
            self._buckets[int(math.log(seconds / self._FLOOR) / self._STEP)] += 1

    @property
    def count(self) -> int:
        """Latencies recorded."""
        return self._count

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) in seconds; ``None`` when nothing was recorded."""
        if not self._count:
            return None
        rank = max(1, math.ceil(q * self._count))
        if rank <= self._zero:
            return 0.0
        seen = self._zero
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                middle = self._FLOOR * math.exp((index + 0.5) * self._STEP)
                return min(middle, self._max)
        return self._max  # pragma: no cover - ranks never exceed the count


@dataclass(frozen=True, slots=True)
class BulkStatistics:
    """A live snapshot of a bulk run (``run.statistics()``, progress hooks)."""

    read: int  # messages taken from the input so far
    completed: int  # messages with a final result so far
    accepted: int
    rejected: int
    unknown: int
    not_sent: int
    resumed: int
    requests: int  # gateway requests made (each attempt counts)
    requests_in_flight: int
    recipients: int  # recipients submitted to the gateway in this run
    elapsed: float
    rate: float  # recipients per second over ``elapsed``
    input_done: bool
    duplicates_detected: int = 0  # accepted messages the gateway was found to have twice


@dataclass(frozen=True, slots=True)
class BulkReport:
    """The summary of a finished (or stopped) bulk run.

    ``credits`` is an estimate (one credit per accepted part) unless the sender reported
    charges. ``achieved_rate`` is recipients submitted in this run per second of ``duration``.
    Latencies are per gateway request, in seconds.
    """

    total: int
    accepted: int
    rejected: int
    failed_by_code: Mapping[int, int]
    unknown: int
    not_sent: int
    resumed: int
    requests: int
    recipients: int
    parts: int
    credits: float
    duration: float
    achieved_rate: float
    latency_p50: float | None
    latency_p99: float | None
    cancelled: bool = False
    #: Accepted messages found accepted twice (``BulkResult.duplicate``): a resend after a
    #: lookup that concluded "missing", whose earlier attempt showed up later.
    duplicates_detected: int = 0

    @property
    def sent(self) -> int:
        """Messages the gateway accepted (this run and, when resuming, earlier runs)."""
        return self.accepted

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for printing the report as a table."""

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:.1f} ms"

        failed = ", ".join(f"{code:03d}×{n}" for code, n in sorted(self.failed_by_code.items()))
        twice = self.duplicates_detected
        return [
            ("messages", f"{self.total:,}"),
            ("accepted", f"{self.accepted:,}" + (f" ({twice:,} twice)" if twice else "")),
            ("rejected", f"{self.rejected:,}" + (f" ({failed})" if failed else "")),
            ("outcome unknown", f"{self.unknown:,}"),
            ("not sent", f"{self.not_sent:,}"),
            ("resumed from journal", f"{self.resumed:,}"),
            ("requests", f"{self.requests:,}"),
            ("parts", f"{self.parts:,}"),
            ("credits (est.)", f"{self.credits:,.2f}"),
            ("duration", f"{self.duration:.2f} s"),
            ("achieved rate", f"{self.achieved_rate:,.1f} msg/s"),
            ("latency p50", ms(self.latency_p50)),
            ("latency p99", ms(self.latency_p99)),
        ]

    def __str__(self) -> str:
        width = max(len(label) for label, _ in self.rows())
        return "\n".join(f"{label:<{width}}  {value}" for label, value in self.rows())


@dataclass(slots=True)
class Tally:
    """The run's mutable counters (single event loop: no locking needed)."""

    started: float = 0.0
    finished: float | None = None
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    not_sent: int = 0
    resumed: int = 0
    duplicates_detected: int = 0
    requests: int = 0
    in_flight: int = 0
    recipients: int = 0
    parts: int = 0
    credits: float = 0.0
    input_done: bool = False
    cancelled: bool = False
    failed_by_code: Counter[int] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def count(self, result: BulkResult, charge: float | None = None) -> None:
        """Count one message's result (``charge``: its credits, when the sender said)."""
        state = result.state
        if result.resumed:
            self.resumed += 1
        if state is DeliveryState.ACCEPTED:
            self.accepted += 1
            if result.duplicate:
                self.duplicates_detected += 1
            self.parts += result.parts
            self.credits += result.parts if charge is None else charge
        elif state is DeliveryState.REJECTED:
            self.rejected += 1
            self.failed_by_code[int(result.error_code or 0)] += 1
        elif state is DeliveryState.UNKNOWN:
            self.unknown += 1
        else:
            self.not_sent += 1

    def count_all(self, results: list[BulkResult]) -> None:
        """:meth:`count` each of ``results`` (a request's, say), the accepted ones inline."""
        count = self.count
        accepted = parts = 0
        for result in results:
            if result.state is _ACCEPTED_STATE and not (result.resumed or result.duplicate):
                accepted += 1
                parts += result.parts
            else:
                count(result)
        self.accepted += accepted
        self.parts += parts
        self.credits += parts

    @property
    def completed(self) -> int:
        """Messages with a result."""
        return self.accepted + self.rejected + self.unknown + self.not_sent

    def snapshot(self, now: float) -> BulkStatistics:
        """The live statistics at clock time ``now``."""
        elapsed = max(0.0, (self.finished if self.finished is not None else now) - self.started)
        return BulkStatistics(
            read=self.read,
            completed=self.completed,
            accepted=self.accepted,
            rejected=self.rejected,
            unknown=self.unknown,
            not_sent=self.not_sent,
            resumed=self.resumed,
            requests=self.requests,
            requests_in_flight=self.in_flight,
            recipients=self.recipients,
            elapsed=elapsed,
            rate=self.recipients / elapsed if elapsed > 0 else 0.0,
            input_done=self.input_done,
            duplicates_detected=self.duplicates_detected,
        )

    def report(self, now: float) -> BulkReport:
        """The report at clock time ``now`` (final once the run has finished)."""
        stats = self.snapshot(now)
        return BulkReport(
            total=self.read,
            accepted=self.accepted,
            rejected=self.rejected,
            failed_by_code=MappingProxyType(dict(self.failed_by_code)),
            unknown=self.unknown,
            not_sent=self.not_sent,
            resumed=self.resumed,
            requests=self.requests,
            recipients=self.recipients,
            parts=self.parts,
            credits=self.credits,
            duration=stats.elapsed,
            achieved_rate=stats.rate,
            latency_p50=self.latency.quantile(0.50),
            latency_p99=self.latency.quantile(0.99),
            cancelled=self.cancelled,
            duplicates_detected=self.duplicates_detected,
        )


_ACCEPTED_STATE: Final = DeliveryState.ACCEPTED


def _bulk_result_maker() -> Callable[..., BulkResult]:
    # The setters as closure cells: BulkResult's frozen constructor sets each of its eleven
    # fields through object.__setattr__, and a run makes one result per message. (A
    # subclass has no writable twin: asms._fast.writable_twin.)
    setters = slot_setters(BulkResult)
    new = object.__new__

    def make(
        to: str,
        apimsgid: str | None,
        climsgid: str | None,
        code: ErrorCode | int | None,
        description: str | None,
        parts: int,
        ref: Any,
        duplicate: bool,
        state: DeliveryState,
        index: int,
        resumed: bool,
    ) -> BulkResult:
        result: BulkResult = new(BulkResult)
        s_to, s_id, s_cli, s_code, s_desc, s_parts, s_ref, s_dup, s_state, s_index, s_res = setters
        s_to(result, to)
        s_id(result, apimsgid)
        s_cli(result, climsgid)
        s_code(result, code)
        s_desc(result, description)
        s_parts(result, parts)
        s_ref(result, ref)
        s_dup(result, duplicate)
        s_state(result, state)
        s_index(result, index)
        s_res(result, resumed)
        return result

    return make


_make: Final = _bulk_result_maker()


def make_result(
    item: Item,
    climsgid: str | None,
    apimsgid: str | None,
    code: ErrorCode | int | None,
    description: str | None,
    parts: int = 1,
    *,
    resumed: bool = False,
    duplicate: bool = False,
) -> BulkResult:
    """The result for one message; its state follows from the code.

    The same object as ``BulkResult(message.to, apimsgid, climsgid, code, description,
    parts, message.ref, duplicate, state=..., index=item.index, resumed=resumed)``, its
    slots written directly (the rule of :mod:`asms._fast`: the twin is that constructor,
    and ``tests/bulk/test_pipeline_fast.py`` holds the two equal).
    """
    if code is None:
        state = _ACCEPTED_STATE
    elif code == OUTCOME_UNKNOWN:
        state = DeliveryState.UNKNOWN
    elif code == NOT_SENT:
        state = DeliveryState.NOT_SENT
    else:
        state = DeliveryState.REJECTED
    message = item.message
    return _make(
        message.to,
        apimsgid,
        climsgid,
        code,
        description,
        parts,
        message.ref,
        duplicate,
        state,
        item.index,
        resumed,
    )


def accepted_bulk_results(
    items: Sequence[Item], apimsgids: Sequence[str], climsgid: str, parts: int
) -> list[BulkResult]:
    """``[make_result(item, climsgid, apimsgids[i], None, None, parts) …]`` for the items
    of a request the gateway accepted whole, built a field at a time over all of them
    (:func:`asms._fast.build_many`)."""
    count = len(items)
    if count == 1:  # eleven maps over one object cost more than one call
        return [make_result(items[0], climsgid, apimsgids[0], None, None, parts)]
    messages = [item.message for item in items]
    return build_many(
        BulkResult,
        count,
        (
            [m.to for m in messages],
            apimsgids,
            repeat(climsgid, count),
            repeat(None, count),
            repeat(None, count),
            repeat(parts, count),
            [m.ref for m in messages],
            repeat(False, count),
            repeat(_ACCEPTED_STATE, count),
            [item.index for item in items],
            repeat(False, count),
        ),
    )
