"""A campaign worker's metrics: in-process counters, and a Prometheus endpoint serving them.

:class:`WorkerMetrics` is plain Python: a worker's tasks all run on one event loop, so its
counters need no lock. :func:`serve_metrics` serves them with prometheus-client (the
``metrics`` extra, imported only there) from a thread of its own; each scrape reads
:meth:`WorkerMetrics.snapshot`, so a scrape shows the same numbers the process sees.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final

import anyio
import anyio.to_thread

from .._config import (
    DEFAULT_LISTEN_HOST,
    METRICS_LATENCY_BUCKETS,
    METRICS_LIMITER_WAIT_BUCKETS,
)
from .._exceptions import ValidationError
from .._models import OUTCOME_UNKNOWN, DeliveryState

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

    from .._bulk.report import BulkResult

__all__ = ["HistogramSnapshot", "MetricsSnapshot", "WorkerMetrics", "serve_metrics"]

_INSTALL_METRICS: Final = "serving metrics needs prometheus-client: pip install 'asms[metrics]'"


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """One histogram at one moment, as Prometheus shows it.

    ``buckets`` pairs each upper bound (seconds) with the count of observations at or below
    it (cumulative); the last bound is ``math.inf`` and its count is ``count``. ``sum`` is
    the total of all observations.
    """

    buckets: tuple[tuple[float, int], ...]
    sum: float
    count: int


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """What a :class:`WorkerMetrics` had counted at one moment.

    ``messages_failed`` maps an error code (``asms.OUTCOME_UNKNOWN`` for a message whose
    outcome is unknown) to the messages that ended with it; ``in_flight`` is the requests
    under way; the ``units_*`` counters count units reclaimed from a dead worker, reconciled
    after an unknown outcome, settled and dead-lettered.
    """

    messages_sent: int
    messages_failed: dict[int, int]
    in_flight: int
    limiter_wait: HistogramSnapshot
    request_latency: HistogramSnapshot
    units_reclaimed: int
    units_reconciled: int
    units_settled: int
    units_dead: int


class _Histogram:
    """Fixed-bound buckets: constant memory, and bounds every worker of a fleet shares."""

    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, name: str, bounds: Sequence[float]) -> None:
        bounds = tuple(float(bound) for bound in bounds)
        if not bounds or not all(math.isfinite(bound) and bound > 0 for bound in bounds):
            raise ValidationError(name, "needs finite positive bounds", bounds)
        if any(low >= high for low, high in itertools.pairwise(bounds)):
            raise ValidationError(name, "bounds must increase", bounds)
        self._bounds = bounds
        # One more than the bounds: the last counts what lies above every bound (+Inf).
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (Prometheus's "le").
        self._counts[bisect.bisect_left(self._bounds, seconds)] += 1
        self._sum += seconds

    def snapshot(self) -> HistogramSnapshot:
        # A scrape runs in another thread: one copy of the list (atomic under the GIL) keeps
        # the buckets and the count agreeing, as Prometheus requires.
        counts = list(self._counts)
        total = self._sum
        buckets = []
        running = 0
        for bound, count in zip((*self._bounds, math.inf), counts, strict=True):
            running += count
            buckets.append((bound, running))
        return HistogramSnapshot(tuple(buckets), total, running)


class WorkerMetrics:
    """A campaign worker's counters, readable at any time through :meth:`snapshot`.

    The worker counts into it as it goes; a caller may pass its own to
    ``asms.CampaignWorker(metrics=...)`` to read it, or serve it with :func:`serve_metrics`.
    The histograms' bucket bounds (seconds) default to ``METRICS_LATENCY_BUCKETS`` and
    ``METRICS_LIMITER_WAIT_BUCKETS`` of ``asms._config``.
    """

    __slots__ = (
        "_dead",
        "_failed",
        "_in_flight",
        "_latency",
        "_limiter_wait",
        "_reclaimed",
        "_reconciled",
        "_sent",
        "_settled",
    )

    def __init__(
        self,
        *,
        latency_buckets: Sequence[float] = METRICS_LATENCY_BUCKETS,
        limiter_wait_buckets: Sequence[float] = METRICS_LIMITER_WAIT_BUCKETS,
    ) -> None:
        self._latency = _Histogram("latency_buckets", latency_buckets)
        self._limiter_wait = _Histogram("limiter_wait_buckets", limiter_wait_buckets)
        self._sent = 0
        self._failed: dict[int, int] = {}
        self._in_flight = 0
        self._reclaimed = 0
        self._reconciled = 0
        self._settled = 0
        self._dead = 0

    def count_results(self, results: Iterable[BulkResult]) -> None:
        """Count settled messages: an accepted one as sent, a rejected one as failed with its
        error code, one of unknown outcome as failed with ``asms.OUTCOME_UNKNOWN``; a message
        not sent is not counted (it will be sent, or dead-lettered, later)."""
        for result in results:
            state = result.state
            if state is DeliveryState.ACCEPTED:
                self._sent += 1
                continue
            if state is DeliveryState.NOT_SENT:
                continue
            code = result.error_code
            # A rejection always carries the gateway's code; without one nothing is known.
            key = OUTCOME_UNKNOWN if state is DeliveryState.UNKNOWN or code is None else int(code)
            self._failed[key] = self._failed.get(key, 0) + 1

    def request_started(self) -> None:
        """A request to the gateway went out: one more in flight."""
        self._in_flight += 1

    def request_finished(self, seconds: float) -> None:
        """A request came back (or failed) after ``seconds``: one fewer in flight."""
        self._in_flight -= 1
        self._latency.observe(seconds)

    def observe_limiter_wait(self, seconds: float) -> None:
        """The rate limiter made a request wait ``seconds`` for its slots."""
        self._limiter_wait.observe(seconds)

    def unit_reclaimed(self) -> None:
        """A unit whose worker's lease ran out was taken over."""
        self._reclaimed += 1

    def unit_reconciled(self) -> None:
        """A unit left with an unknown outcome was looked up at the gateway."""
        self._reconciled += 1

    def unit_settled(self) -> None:
        """A unit got the outcome of every message it carries."""
        self._settled += 1

    def unit_dead(self) -> None:
        """A unit went to the dead-letter stream."""
        self._dead += 1

    def snapshot(self) -> MetricsSnapshot:
        """Every counter now, as a frozen copy (safe to read from any thread)."""
        return MetricsSnapshot(
            messages_sent=self._sent,
            messages_failed=dict(sorted(dict(self._failed).items())),
            in_flight=self._in_flight,
            limiter_wait=self._limiter_wait.snapshot(),
            request_latency=self._latency.snapshot(),
            units_reclaimed=self._reclaimed,
            units_reconciled=self._reconciled,
            units_settled=self._settled,
            units_dead=self._dead,
        )

    def __repr__(self) -> str:
        return (
            f"<WorkerMetrics sent={self._sent} failed={sum(self._failed.values())} "
            f"in_flight={self._in_flight}>"
        )


def _families(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """The Prometheus metric families of one snapshot."""
    from prometheus_client.metrics_core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    def histogram(name: str, doc: str, value: HistogramSnapshot) -> HistogramMetricFamily:
        # The "le" label as Prometheus writes it: "0.005", "1.0", "+Inf".
        buckets = [
            ("+Inf" if bound == math.inf else repr(bound), float(count))
            for bound, count in value.buckets
        ]
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=value.sum)

    yield CounterMetricFamily(
        "asms_messages_sent", "Messages the gateway accepted.", value=snapshot.messages_sent
    )
    failed = CounterMetricFamily(
        "asms_messages_failed",
        "Messages rejected by the gateway, or of unknown outcome (code -1), by error code.",
        labels=["code"],
    )
    for code, count in snapshot.messages_failed.items():
        failed.add_metric([str(code)], count)
    yield failed
    yield GaugeMetricFamily(
        "asms_requests_in_flight", "Requests to the gateway under way.", value=snapshot.in_flight
    )
    yield histogram(
        "asms_limiter_wait_seconds",
        "Seconds a request waited for the rate limiter.",
        snapshot.limiter_wait,
    )
    yield histogram(
        "asms_request_latency_seconds",
        "Seconds a request to the gateway took.",
        snapshot.request_latency,
    )
    for name, doc, value in (
        ("reclaimed", "Units taken over from a worker whose lease ran out.", "units_reclaimed"),
        ("reconciled", "Units of unknown outcome looked up at the gateway.", "units_reconciled"),
        ("settled", "Units settled.", "units_settled"),
        ("dead", "Units sent to the dead-letter stream.", "units_dead"),
    ):
        yield CounterMetricFamily(f"asms_units_{name}", doc, value=getattr(snapshot, value))


def _registry(metrics: WorkerMetrics) -> CollectorRegistry:
    """A registry of its own (not prometheus-client's global one) holding one collector
    that reads ``metrics`` on every scrape."""
    from prometheus_client.registry import Collector, CollectorRegistry

    class _WorkerCollector(Collector):
        def collect(self) -> Iterable[Metric]:
            return list(_families(metrics.snapshot()))

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_WorkerCollector())
    return registry


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@asynccontextmanager
async def serve_metrics(
    metrics: WorkerMetrics, port: int, host: str = DEFAULT_LISTEN_HOST
) -> AsyncIterator[str]:
    """Serve ``metrics`` for Prometheus at ``http://host:port/metrics`` while in the block.

    Yields the URL (with the port the system chose when ``port`` is 0). Needs
    prometheus-client (``pip install 'asms[metrics]'``), else raises :class:`RuntimeError`
    saying so; a port already taken raises :class:`OSError` naming it. The server runs in a
    thread of its own and is shut down on leaving the block, however it is left.
    """
    try:
        from prometheus_client import start_http_server
    except ImportError:
        raise RuntimeError(_INSTALL_METRICS) from None
    start = partial(start_http_server, port, host, registry=_registry(metrics))
    # Shielded: a cancellation meanwhile must not lose the server's handle (it could never
    # be stopped); it takes effect in the block, and the block's exit stops the server.
    with anyio.CancelScope(shield=True):
        try:
            server, thread = await anyio.to_thread.run_sync(start)
        except OSError as exc:
            reason = f"cannot serve metrics on {_where(host, port)}: {exc.strerror or exc}"
            raise (OSError(exc.errno, reason) if exc.errno else OSError(reason)) from None
    try:
        yield f"http://{_where(host, server.server_port)}/metrics"
    finally:
        with anyio.CancelScope(shield=True):
            # shutdown() waits for the serving loop to notice (up to half a second): not on
            # the event loop's thread.
            await anyio.to_thread.run_sync(server.shutdown)
            server.server_close()
            await anyio.to_thread.run_sync(thread.join)
