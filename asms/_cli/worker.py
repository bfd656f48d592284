"""``asms worker``: send the campaigns one account has queued on Redis, until stopped.

Any number of workers, on any machines, share the account's queue and its rate limit through
Redis; a worker that dies leaves its units to the others once their lease ends. SIGINT or
SIGTERM stops a worker cleanly (it takes no new unit, finishes or hands back what it holds)
and it exits 0; a second SIGINT cancels what is in flight (those units go back to the queue
when their lease ends). It logs one line per notable event on stderr.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import anyio
import click
from anyio.abc import TaskStatus

from .._config import (
    DEFAULT_BULK_BURST,
    DEFAULT_BULK_RATE,
    DEFAULT_LISTEN_HOST,
    DEFAULT_WORKER_CONCURRENCY,
)
from .._exceptions import (
    ASMSError,
    AuthenticationError,
    ConnectError,
    HTTPStatusError,
    ValidationError,
)
from .._logging import RedactingFilter, configure_from_env, logger
from ._common import ConfigError, FiniteFloat, Settings, connection_options
from ._stop import STOP_SIGNALS
from .campaign import rate_mismatch, redis_call, redis_where, single_error

if TYPE_CHECKING:
    from .._campaign.worker import CampaignWorker
    from .._client import AsyncClient

__all__ = ["worker"]

_FORMAT: Final = "%(asctime)s %(levelname)s %(message)s"


def _log() -> logging.Logger:
    """The asms logger, writing INFO and above to stderr (secrets redacted) for this run.

    With ``ASMS_LOG=info`` or ``debug`` the handler that variable installs writes them (once).
    """
    configure_from_env()
    if _env_log_active():
        return logger
    if not any(getattr(h, "_asms_worker", False) for h in logger.handlers):
        handler = logging.StreamHandler()  # stderr, looked up now
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(RedactingFilter())
        handler._asms_worker = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    return logger


def _env_log_active() -> bool:
    """Whether ``ASMS_LOG`` asks for a log of its own (which then shows the worker's lines)."""
    return os.environ.get("ASMS_LOG", "").strip().lower() in ("debug", "info")


@dataclass
class _Run:
    """What the signal watcher acts on: the worker once it runs, else the whole command."""

    work: anyio.CancelScope | None = None  # made inside the event loop
    running: CampaignWorker | None = None
    ended: bool = False  # the worker's run returned: only closing down is left
    signals: int = 0

    def received(self, signum: int) -> None:
        self.signals += 1
        name = signal.Signals(signum).name
        log = _log()
        if self.work is None or self.ended:
            return  # closing down (the client, the metrics server) is not interrupted
        if self.running is None:
            log.info("stopping (%s) before the worker started", name)
            self.work.cancel()
        elif self.signals == 1:
            log.info(
                "stopping (%s): no new unit is taken, the units held are finished or handed "
                "back; a second SIGINT cancels them",
                name,
            )
            self.running.stop()
        elif self.signals == 2:
            log.warning(
                "%s again: cancelling; the units in flight go back to the queue when their "
                "lease ends",
                name,
            )
            self.work.cancel()

    async def watch(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        if threading.current_thread() is not threading.main_thread():
            task_status.started()  # signals reach the main thread only
            return
        with anyio.open_signal_receiver(*STOP_SIGNALS) as received:
            task_status.started()
            async for signum in received:
                self.received(signum)


async def _probe(client: AsyncClient) -> None:
    """One request before any unit is taken: a wrong URL or password ends the command here
    (exit 2) instead of in the middle of a unit. Anything else is the units' to meet."""
    try:
        await client.balance()
    except (ConnectError, HTTPStatusError, AuthenticationError):
        raise
    except ASMSError:
        pass


@click.command()
@click.option(
    "--redis",
    "redis_url",
    metavar="URL",
    envvar="ASMS_REDIS_URL",
    required=True,
    help="Redis holding the account's campaigns (redis://host:6379/0; a password in it is "
    "never shown; ASMS_REDIS_URL keeps it out of `ps`).",
)
@click.option(
    "--rate",
    type=FiniteFloat(min=0, min_open=True),
    help="Messages per second, the account's, shared by all its workers [default: the rate "
    f"stored in Redis for the account, else {DEFAULT_BULK_RATE:g}]; a different stored rate "
    "is refused.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=DEFAULT_WORKER_CONCURRENCY,
    show_default=True,
    help="Units (requests) this worker sends at once.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (needs prometheus-client).",
)
@click.option(
    "--metrics-host",
    default=DEFAULT_LISTEN_HOST,
    show_default=True,
    metavar="HOST",
    help="Address the metrics are served on (0.0.0.0: every interface).",
)
@connection_options
def worker(
    redis_url: str,
    rate: float | None,
    concurrency: int,
    metrics_port: int | None,
    metrics_host: str,
    settings: Settings,
) -> None:
    """Send the account's campaigns queued on Redis, until stopped.

    The account is ASMS_API_ID (with ASMS_USER and ASMS_PASSWORD, ASMS_BASE_URL, as for
    asms bulk); a Platform account (ASMS_API_KEY) is refused: the distributed mode speaks
    the legacy gateway only. Campaigns are queued with asms bulk FILE --redis URL --campaign
    NAME. Run as many workers as you like: they share the queue and the account's rate.
    SIGINT (Ctrl-C) or SIGTERM stops a worker cleanly and it exits 0; a second SIGINT
    cancels the requests in flight. Exits 2 when the gateway refuses the credentials (the
    units go back to the queue), 1 when Redis cannot be reached at start.
    """
    settings.refuse_on_platform(
        "asms worker",
        "the distributed mode (asms bulk --redis, asms worker, asms campaign) speaks the "
        "legacy gateway only",
    )
    settings.validate()
    account = settings.credentials().api_id
    where = redis_where(redis_url)
    log = _log()

    async def serve(run: _Run) -> None:
        from .._campaign.metrics import serve_metrics
        from .._campaign.worker import CampaignWorker
        from .._redis.ratelimit import account_rate

        # Given to the worker as numbers, not "whatever Redis holds": a Redis that comes
        # back empty (no persistence) then gets the account's rate again from the workers.
        stored = await account_rate(redis_url, account)
        burst = DEFAULT_BULK_BURST if stored is None else stored[1]
        if rate is not None:
            chosen, shown = rate, f"{rate:g}/s"
        elif stored is not None:
            chosen, shown = stored[0], f"{stored[0]:g}/s, stored"
        else:
            chosen, shown = DEFAULT_BULK_RATE, f"{DEFAULT_BULK_RATE:g}/s"
        async with settings.client() as client:
            await _probe(client)
            try:
                campaign_worker = CampaignWorker(
                    client,
                    redis_url,
                    account=account,
                    rate=chosen,
                    burst=burst,
                    concurrency=concurrency,
                )
            except ValueError as exc:  # a rate beyond what the shared limiter can keep
                raise ConfigError(f"--rate: {exc}") from None
            async with AsyncExitStack() as stack:
                if metrics_port is not None:
                    try:
                        served = await stack.enter_async_context(
                            serve_metrics(campaign_worker.metrics, metrics_port, metrics_host)
                        )
                    except (RuntimeError, OSError) as exc:
                        raise ConfigError(f"--metrics-port: {exc}") from None
                    log.info("metrics at %s", served)
                async with anyio.create_task_group() as tasks:
                    await tasks.start(campaign_worker.run)
                    run.running = campaign_worker
                    log.info(
                        "worker %s started: the account's campaigns on Redis at %s, rate %s",
                        campaign_worker.name,
                        where,
                        shown,
                    )
                run.ended = True
            log.info("worker %s stopped", campaign_worker.name)

    run = _Run()

    async def main() -> None:
        async with anyio.create_task_group() as watchers:
            run.work = anyio.CancelScope()
            await watchers.start(run.watch)  # before anything slow: a signal is never lost
            try:
                with run.work:
                    await serve(run)
                if run.work.cancelled_caught and run.running is not None:
                    log.info("worker %s cancelled", run.running.name)
            except BaseException as exc:
                error = single_error(exc)
                if type(error) is ValueError and str(error).startswith("rate "):
                    # The shared limiter's own check (a rate beyond what it can keep).
                    raise ConfigError(f"--rate: {error}") from None
                if not isinstance(error, ValidationError) or error.field != "rate":
                    raise
                from .._redis.ratelimit import account_rate

                stored = await account_rate(redis_url, account)
                if rate:
                    raise rate_mismatch(rate, stored, where) from None
                if stored is None:
                    raise  # no rate stored at all: the error says to give one
                # Started on the stored rate, which was replaced while it ran.
                raise ConfigError(
                    f"the account's rate was changed in Redis at {where} to {stored[0]:g}/s "
                    f"(burst {stored[1]}) while this worker ran; it stopped and handed its "
                    "units back: start it again to send at the new rate"
                ) from None
            finally:
                watchers.cancel_scope.cancel()

    try:
        redis_call(main, base_url=settings.base_url)
    except KeyboardInterrupt:  # a signal before the watcher was in place
        log.info("stopped before the worker started")
    finally:
        if run.signals:
            _ignore_late_signals()


def _ignore_late_signals() -> None:
    """Once stopped by a signal, another one (a second Ctrl-C while the worker ended) must
    not turn the clean stop into a traceback or a death by signal: the command is ending."""
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
