"""WorkerMetrics counts exactly, and serve_metrics shows the same numbers to Prometheus.

The counters are checked through ``snapshot()``; the endpoint through a real HTTP scrape of
a served registry, parsed with prometheus-client's own parser. No Redis is involved: the
worker only calls these methods.
"""

from __future__ import annotations

import errno
import math
import socket
import subprocess
import sys
from collections.abc import Iterator

import anyio
import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from asms import OUTCOME_UNKNOWN, ErrorCode, ValidationError
from asms._bulk.report import BulkResult, DeliveryState
from asms._campaign.metrics import HistogramSnapshot, WorkerMetrics, serve_metrics
from asms._config import METRICS_LATENCY_BUCKETS, METRICS_LIMITER_WAIT_BUCKETS

INF = math.inf


def result(state: DeliveryState, code: ErrorCode | int | None = None) -> BulkResult:
    return BulkResult("27820000000", None, None, code, None, state=state, index=0)


def accepted(count: int) -> list[BulkResult]:
    return [result(DeliveryState.ACCEPTED) for _ in range(count)]


def empty_histogram(bounds: tuple[float, ...]) -> HistogramSnapshot:
    return HistogramSnapshot(tuple((bound, 0) for bound in (*bounds, INF)), 0.0, 0)


# -- counting


def test_a_new_metrics_has_counted_nothing() -> None:
    snap = WorkerMetrics().snapshot()
    assert snap.messages_sent == 0
    assert snap.messages_failed == {}
    assert snap.in_flight == 0
    assert snap.request_latency == empty_histogram(METRICS_LATENCY_BUCKETS)
    assert snap.limiter_wait == empty_histogram(METRICS_LIMITER_WAIT_BUCKETS)
    assert (snap.units_reclaimed, snap.units_reconciled, snap.units_settled) == (0, 0, 0)
    assert snap.units_dead == 0


def test_count_results_sorts_accepted_rejected_unknown_and_skips_not_sent() -> None:
    metrics = WorkerMetrics()
    metrics.count_results(
        [
            *accepted(3),
            result(DeliveryState.REJECTED, ErrorCode.INVALID_DESTINATION_ADDRESS),
            result(DeliveryState.REJECTED, ErrorCode.INVALID_DESTINATION_ADDRESS),
            result(DeliveryState.REJECTED, 301),  # a code asms has no name for
            result(DeliveryState.UNKNOWN, OUTCOME_UNKNOWN),
            result(DeliveryState.NOT_SENT, -2),
        ]
    )
    metrics.count_results(iter([*accepted(2), result(DeliveryState.UNKNOWN, OUTCOME_UNKNOWN)]))
    snap = metrics.snapshot()
    assert snap.messages_sent == 5
    assert snap.messages_failed == {OUTCOME_UNKNOWN: 2, 105: 2, 301: 1}
    assert all(type(code) is int for code in snap.messages_failed)


def test_an_unknown_result_counts_under_outcome_unknown_whatever_its_code() -> None:
    # campaign_results may give an UNKNOWN state whose error_code says why (or nothing).
    metrics = WorkerMetrics()
    metrics.count_results([result(DeliveryState.UNKNOWN, None), result(DeliveryState.UNKNOWN, 7)])
    assert metrics.snapshot().messages_failed == {OUTCOME_UNKNOWN: 2}


def test_requests_in_flight_and_their_latency() -> None:
    metrics = WorkerMetrics()
    for _ in range(3):
        metrics.request_started()
    assert metrics.snapshot().in_flight == 3
    metrics.request_finished(0.005)  # on a bound: that bucket ("le")
    metrics.request_finished(0.2)
    assert metrics.snapshot().in_flight == 1
    metrics.request_finished(45.0)  # above every bound: +Inf only
    snap = metrics.snapshot()
    assert snap.in_flight == 0
    latency = dict(snap.request_latency.buckets)
    assert list(latency) == [*METRICS_LATENCY_BUCKETS, INF]
    assert latency[0.005] == 1
    assert latency[0.1] == 1
    assert latency[0.25] == 2
    assert latency[30.0] == 2
    assert latency[INF] == 3
    assert snap.request_latency.count == 3
    assert snap.request_latency.sum == pytest.approx(45.205)
    assert snap.limiter_wait.count == 0


def test_limiter_wait_histogram() -> None:
    metrics = WorkerMetrics()
    for seconds in (0.0, 0.0, 0.0005, 0.001, 0.3, 61.0):
        metrics.observe_limiter_wait(seconds)
    wait = metrics.snapshot().limiter_wait
    counts = dict(wait.buckets)
    assert list(counts) == [*METRICS_LIMITER_WAIT_BUCKETS, INF]
    assert counts[0.001] == 4
    assert counts[0.25] == 4
    assert counts[0.5] == 5
    assert counts[60.0] == 5
    assert counts[INF] == wait.count == 6
    assert wait.sum == pytest.approx(61.3015)


def test_unit_counters() -> None:
    metrics = WorkerMetrics()
    for _ in range(4):
        metrics.unit_settled()
    for _ in range(3):
        metrics.unit_reclaimed()
    for _ in range(2):
        metrics.unit_reconciled()
    metrics.unit_dead()
    snap = metrics.snapshot()
    assert snap.units_settled == 4
    assert snap.units_reclaimed == 3
    assert snap.units_reconciled == 2
    assert snap.units_dead == 1
    assert snap.messages_sent == 0


def test_a_snapshot_is_a_frozen_copy() -> None:
    metrics = WorkerMetrics()
    metrics.count_results([result(DeliveryState.REJECTED, 105)])
    before = metrics.snapshot()
    before.messages_failed[105] = 99
    metrics.count_results([*accepted(1), result(DeliveryState.REJECTED, 105)])
    metrics.request_started()
    metrics.request_finished(1.0)
    assert before.messages_sent == 0
    assert before.request_latency.count == 0
    assert metrics.snapshot().messages_failed == {105: 2}
    with pytest.raises(AttributeError):
        before.messages_sent = 1  # type: ignore[misc]


def test_own_bucket_bounds() -> None:
    metrics = WorkerMetrics(latency_buckets=[0.1, 1], limiter_wait_buckets=(2.0,))
    metrics.request_started()
    metrics.request_finished(0.5)
    metrics.observe_limiter_wait(3.0)
    snap = metrics.snapshot()
    assert snap.request_latency.buckets == ((0.1, 0), (1.0, 1), (INF, 1))
    assert snap.limiter_wait.buckets == ((2.0, 0), (INF, 1))


@pytest.mark.parametrize("bounds", [[], [0.5, 0.5], [1.0, 0.5], [0.0, 1.0], [1.0, INF]])
def test_bad_bucket_bounds_are_refused(bounds: list[float]) -> None:
    with pytest.raises(ValidationError, match="latency_buckets"):
        WorkerMetrics(latency_buckets=bounds)


def test_repr_shows_counts() -> None:
    metrics = WorkerMetrics()
    metrics.count_results([*accepted(2), result(DeliveryState.REJECTED, 105)])
    assert repr(metrics) == "<WorkerMetrics sent=2 failed=1 in_flight=0>"


# -- the Prometheus endpoint

NAMES = {
    "asms_messages_sent": "counter",
    "asms_messages_failed": "counter",
    "asms_requests_in_flight": "gauge",
    "asms_limiter_wait_seconds": "histogram",
    "asms_request_latency_seconds": "histogram",
    "asms_units_reclaimed": "counter",
    "asms_units_reconciled": "counter",
    "asms_units_settled": "counter",
    "asms_units_dead": "counter",
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def busy_metrics() -> WorkerMetrics:
    metrics = WorkerMetrics()
    metrics.count_results(
        [
            *accepted(7),
            result(DeliveryState.REJECTED, 105),
            result(DeliveryState.UNKNOWN, OUTCOME_UNKNOWN),
            result(DeliveryState.UNKNOWN, OUTCOME_UNKNOWN),
        ]
    )
    for _ in range(2):
        metrics.request_started()
    metrics.request_finished(0.03)
    metrics.observe_limiter_wait(0.002)
    metrics.observe_limiter_wait(2.0)
    metrics.unit_settled()
    metrics.unit_settled()
    metrics.unit_reclaimed()
    metrics.unit_reconciled()
    metrics.unit_dead()
    return metrics


@pytest.mark.anyio
async def test_a_scrape_shows_every_metric_with_the_in_process_numbers() -> None:
    metrics = busy_metrics()
    async with serve_metrics(metrics, 0) as url:
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/metrics")
        text = await scrape(url)
        families = {family.name: family.type for family in text_string_to_metric_families(text)}
        assert families == NAMES
        got = samples(text)
        assert got[("asms_messages_sent_total", ())] == 7
        assert got[("asms_messages_failed_total", (("code", "105"),))] == 1
        assert got[("asms_messages_failed_total", (("code", "-1"),))] == 2
        assert got[("asms_requests_in_flight", ())] == 1
        assert got[("asms_units_settled_total", ())] == 2
        assert got[("asms_units_reclaimed_total", ())] == 1
        assert got[("asms_units_reconciled_total", ())] == 1
        assert got[("asms_units_dead_total", ())] == 1
        snap = metrics.snapshot()
        for name, histogram in (
            ("asms_request_latency_seconds", snap.request_latency),
            ("asms_limiter_wait_seconds", snap.limiter_wait),
        ):
            for bound, count in histogram.buckets:
                le = "+Inf" if bound == INF else repr(bound)
                assert got[(f"{name}_bucket", (("le", le),))] == count, (name, le)
            assert got[(f"{name}_count", ())] == histogram.count
            assert got[(f"{name}_sum", ())] == pytest.approx(histogram.sum)
        assert got[("asms_limiter_wait_seconds_bucket", (("le", "0.0025"),))] == 1
        assert got[("asms_limiter_wait_seconds_count", ())] == 2

        # Every scrape reads the counters afresh.
        metrics.count_results([*accepted(5), result(DeliveryState.REJECTED, 114)])
        metrics.request_finished(0.5)
        got = samples(await scrape(url))
        assert got[("asms_messages_sent_total", ())] == 12
        assert got[("asms_messages_failed_total", (("code", "114"),))] == 1
        assert got[("asms_requests_in_flight", ())] == 0
        assert got[("asms_request_latency_seconds_count", ())] == 2


@pytest.mark.anyio
async def test_the_global_registry_is_left_alone() -> None:
    async with serve_metrics(busy_metrics(), 0):
        assert b"asms_" not in generate_latest(REGISTRY)


@pytest.mark.anyio
async def test_the_server_stops_with_the_block() -> None:
    async with serve_metrics(WorkerMetrics(), 0) as url:
        await scrape(url)
    port = httpx.URL(url).port
    assert port is not None
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


@pytest.mark.anyio
async def test_the_server_stops_when_the_block_is_cancelled() -> None:
    urls: list[str] = []
    with anyio.CancelScope() as scope:
        async with serve_metrics(WorkerMetrics(), 0) as url:
            urls.append(url)
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    port = httpx.URL(urls[0]).port
    assert port is not None
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.anyio
async def test_a_port_in_use_is_named(taken_port: int) -> None:
    with pytest.raises(OSError, match=f"cannot serve metrics on 127.0.0.1:{taken_port}: ") as info:
        async with serve_metrics(WorkerMetrics(), taken_port):
            pytest.fail("served on a port in use")
    assert info.value.errno == errno.EADDRINUSE


@pytest.mark.anyio
async def test_two_servers_cannot_share_a_port() -> None:
    async with serve_metrics(WorkerMetrics(), 0) as url:
        port = httpx.URL(url).port
        assert port is not None
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            async with serve_metrics(WorkerMetrics(), port):
                pytest.fail("served twice on one port")
        await scrape(url)  # the first one still serves


@pytest.mark.anyio
async def test_without_prometheus_client_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(RuntimeError, match=r"pip install 'asms\[metrics\]'"):
        async with serve_metrics(WorkerMetrics(), 0):
            pytest.fail("served without prometheus-client")


def test_importing_the_metrics_does_not_import_prometheus_client() -> None:
    code = (
        "import sys, asms, asms._campaign.metrics as m\n"
        "m.WorkerMetrics().snapshot()\n"
        "assert 'prometheus_client' not in sys.modules, 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
