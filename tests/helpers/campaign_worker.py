"""A campaign worker as its own process, for tests/redis/test_campaign_faults.py.

    python tests/helpers/campaign_worker.py REDIS_URL GATEWAY_URL ACCOUNT [--rate R]
        [--lease S] [--concurrency N] [--timeout S] [--reconcile-grace S] [--report-holding]

Runs :class:`asms.CampaignWorker` with an :class:`asms.AsyncClient` on the emulator's demo
account (1234 / demo / demo) for the campaigns of ``ACCOUNT`` (a label of the test) until
SIGTERM or SIGINT, which calls ``worker.stop()``. On stdout it prints ``waiting NAME`` at once,
``started NAME`` when the worker is connected and reading, ``holding`` the first time a
request of a unit is in flight (``--report-holding``: the moment a freeze lands on a held
unit) and ``stopped <json>`` (the worker's counters) when :meth:`run` returned. The worker's
log (``asms.worker`` and the limiter's) goes to stderr, one line per event.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys

import anyio

import asms
from asms import AsyncClient, RetryPolicy

_POLL = 0.005  # seconds between two looks at the in-flight gauge (--report-holding)

# Made for a gateway on this machine: short waits, and a reconciliation that asks twice.
# (The worker sends every request once itself; the client's own resends are off for it.)
TEST_RETRY = RetryPolicy(
    attempts=3,
    timeout=30.0,
    backoff_initial=0.05,
    backoff_max=0.5,
    jitter=0.05,
    reconcile_schedule=(0.1, 0.25),
)


def say(line: str) -> None:
    print(line, flush=True)


async def report_holding(worker: asms.CampaignWorker) -> None:
    while worker.metrics.snapshot().in_flight == 0:  # noqa: ASYNC110 (a gauge: polled)
        await anyio.sleep(_POLL)
    say("holding")


async def stop_on_signal(worker: asms.CampaignWorker) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            worker.stop()


async def main(args: argparse.Namespace) -> int:
    client = AsyncClient(1234, "demo", "demo", base_url=args.gateway, retry=TEST_RETRY)
    async with client:
        worker = asms.CampaignWorker(
            client,
            args.redis,
            account=args.account,
            rate=args.rate,
            concurrency=args.concurrency,
            lease=args.lease,
            reconcile_grace=args.reconcile_grace,
            timeout=args.timeout,
        )
        say(f"waiting {worker.name}")
        failed = 0
        started = _Started(worker.name)
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_on_signal, worker)
            if args.report_holding:
                tg.start_soon(report_holding, worker)

            async def run() -> None:
                nonlocal failed
                try:
                    await worker.run(task_status=started)
                except asms.ASMSError as exc:
                    logging.getLogger("campaign_worker").error("run() raised: %s", exc)
                    failed = 1
                tg.cancel_scope.cancel()

            tg.start_soon(run)
        snapshot = worker.metrics.snapshot()
        counters = {
            "sent": snapshot.messages_sent,
            "reclaimed": snapshot.units_reclaimed,
            "reconciled": snapshot.units_reconciled,
            "settled": snapshot.units_settled,
            "dead": snapshot.units_dead,
        }
        say("stopped " + json.dumps(counters))
    return failed


class _Started:
    """The ``task_status`` of ``worker.run``: says ``started`` once connected and reading."""

    def __init__(self, name: str) -> None:
        self._name = name

    def started(self, value: None = None) -> None:
        say(f"started {self._name}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("redis")
    parser.add_argument("gateway")
    parser.add_argument("account")
    parser.add_argument("--rate", type=float, default=2_000.0)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=2.0)
    # The gateway is on this machine: what a dead worker sent reaches it within milliseconds,
    # so a unit taken over is looked up after a short grace.
    parser.add_argument("--reconcile-grace", type=float, default=0.5)
    parser.add_argument("--report-holding", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    # coredis says each time it loads a script again (after a Redis restart): not news here.
    logging.getLogger("coredis").setLevel(logging.WARNING)
    sys.exit(anyio.run(main, parse(sys.argv[1:])))
