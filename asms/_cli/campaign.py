"""Campaigns on Redis from the command line.

``asms bulk FILE --redis URL --campaign NAME`` submits a CSV as a campaign (:func:`submit_csv`;
with ``--wait`` it follows the campaign until it is settled and reports as ``asms bulk``
does); ``asms campaign status`` and ``asms campaign results`` read one back. The workers
(``asms worker``) do the sending.

The account is the label every process of it shares in Redis: ``ASMS_API_ID``, the only
credential these commands need. Every Redis failure is one line naming ``host:port``
(:class:`asms.RedisError`'s text), never the URL's password.

The campaign API (``asms._campaign``) is imported when a command runs, so ``asms --help``
and the other commands never pay for it.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .._config import DEFAULT_BULK_BURST, DEFAULT_CAMPAIGN_POLL_INTERVAL
from .._exceptions import RedisError, ValidationError
from .._logging import redact
from .._models import DeliveryState, Message
from .._redis.connection import redis_location
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandFailed,
    ConfigError,
    drop_stream,
    err_console,
    out_console,
    read_env_file,
    run_async,
)
from ._rows import BadInput, ResultsWriter, Row, open_results
from ._stop import discard_stdout, stop_status

if TYPE_CHECKING:
    from .._bulk.report import BulkResult
    from .._campaign.status import CampaignStatus

__all__ = [
    "account_label",
    "campaign",
    "check_bulk_options",
    "rate_mismatch",
    "redis_call",
    "redis_where",
    "single_error",
    "submit_csv",
]

T = TypeVar("T")

# Invalid rows listed when a CSV is refused (the rest are counted).
_SHOWN_PROBLEMS: Final = 10
_POSITION: Final = re.compile(r"input position (\d+)")


def account_label(env: Mapping[str, str]) -> str:
    """The account's label in Redis: ``ASMS_API_ID``, cleaned as the client cleans it (so a
    submitter and a worker given ``" 1234"`` and ``"1234"`` meet at the same keys)."""
    value = (env.get("ASMS_API_ID") or "").strip()
    if not value:
        platform = (
            "; ASMS_API_KEY (a Platform account) is set, but the distributed mode (asms bulk "
            "--redis, asms worker, asms campaign) speaks the legacy gateway only"
            if env.get("ASMS_API_KEY")
            else ""
        )
        raise ConfigError(
            "missing environment variable ASMS_API_ID (the credentials are read from the "
            f"environment or --env-file, never from the command line){platform}"
        )
    if not (value.isascii() and value.isdigit()):
        # As Settings.credentials says it; the value itself is never shown.
        raise ConfigError(
            "bad credentials (from the environment or --env-file): api_id: must be the"
            " account's numeric API id"
        )
    return value


def env_account(env_file: Path | None) -> str:
    """The account label from the environment, or from ``env_file`` (which wins)."""
    env = dict(os.environ)
    if env_file is not None:
        env.update(read_env_file(env_file))
    return account_label(env)


def redis_where(url: str) -> str:
    """``host:port/db`` of the ``--redis`` URL, for messages; a bad URL is a usage error."""
    try:
        return redis_location(url)
    except ValidationError as exc:  # the URL itself is never shown: it may hold a password
        raise ConfigError(f"--redis: {exc.rule}") from None


def single_error(exc: BaseException) -> BaseException:
    """The one exception inside (nested) exception groups, else ``exc`` itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def redis_call(
    main: Callable[[], Awaitable[T]], *, name: str | None = None, base_url: str | None = None
) -> T:
    """Run ``main`` as :func:`run_async` does; a Redis failure is one line and exit 1 (as a
    gateway or network failure), an unknown campaign ``name`` one line and exit 2."""
    from .._exceptions import CampaignError, CampaignNotFoundError

    async def guarded() -> T:
        try:
            return await main()
        except BaseException as exc:
            error = single_error(exc)
            if isinstance(error, RedisError):
                # Its text names host:port and never the URL's password.
                raise CommandFailed(redact(str(error))) from None
            if isinstance(error, CampaignNotFoundError):
                raise ConfigError(
                    f"no campaign {name!r} on this Redis for this account (ASMS_API_ID); "
                    "check the name, and that ASMS_API_ID is the submitter's"
                ) from None
            if isinstance(error, CampaignError):
                raise CommandFailed(str(error)) from None
            if isinstance(error, OSError) and error.filename is None and error.strerror:
                # Writing the output failed (a full disk, a closed pipe): one line, no trace.
                raise CommandFailed(f"cannot write the output: {error.strerror}") from None
            raise

    return run_async(guarded, base_url=base_url)


def rate_mismatch(rate: float, stored: tuple[float, int] | None, where: str) -> ConfigError:
    """The error for a ``--rate`` other than the one the account's processes share."""
    shared = "another rate" if stored is None else f"{stored[0]:g}/s (burst {stored[1]})"
    return ConfigError(
        f"--rate {rate:g}: the account's processes share {shared}, stored in Redis at "
        f"{where}; give the same --rate, or leave --rate out to use the stored one"
    )


# -- asms bulk --redis ----------------------------------------------------------------------


def check_bulk_options(
    ctx: click.Context,
    *,
    redis_url: str | None,
    campaign: str | None,
    wait: bool,
    journal: Path | None,
    replay: bool,
    results: Path | None,
) -> None:
    """The usage errors of ``asms bulk`` with (or wanting) ``--redis``, before any work."""
    if redis_url is None:
        if wait:
            raise click.UsageError("--wait follows a campaign on Redis: it needs --redis URL")
        return
    if campaign is None:
        raise click.UsageError("--redis needs --campaign NAME: the campaign's name on Redis")
    if not campaign.strip():
        raise click.UsageError("--campaign must not be empty")
    # What only a run in this process does: with --redis the workers send.
    local = [("--journal", journal is not None), ("--replay", replay)]
    for name, source in (
        ("--concurrency", "concurrency"),
        ("--max-parts", "max_parts"),
        ("--group-size", "group_size"),
    ):
        given = ctx.get_parameter_source(source) is click.core.ParameterSource.COMMANDLINE
        local.append((name, given))
    for option, given in local:
        if given:
            raise click.UsageError(
                f"{option} cannot be used with --redis: the workers (asms worker) send the "
                "campaign, and Redis keeps its state"
            )
    if results is not None and not wait:
        raise click.UsageError(
            "--results with --redis needs --wait (the results exist once the workers have "
            "settled the campaign); later, use: asms campaign results NAME --redis URL --out FILE"
        )
    redis_where(redis_url)


def _refuse_invalid(rows: Iterator[Row], file: Path) -> int:
    """Read every row; any invalid one refuses the whole file (exit 2). Returns the count.

    A campaign's results are one per message it holds: an invalid row, which plain ``asms
    bulk`` reports as an ``invalid`` result row, would have no place in them.
    """
    count = 0
    invalid: list[str] = []
    hidden = 0
    for row in rows:
        if row.invalid is None:
            count += 1
            continue
        if len(invalid) < _SHOWN_PROBLEMS:
            invalid.append(f"row {row.number} (line {row.line}): {row.invalid.reason}")
        else:
            hidden += 1
    if invalid:
        console = err_console()
        for problem in invalid:
            console.print(f"[yellow]{problem}[/]", markup=True, highlight=False)
        if hidden:
            console.print(f"[yellow]… and {hidden:,} more invalid rows[/]")
        count = len(invalid) + hidden
        rows_said = f"{count:,} invalid row" + ("s" if count > 1 else "")
        raise ConfigError(
            f"{file}: {rows_said} (listed above); nothing was submitted. Fix them, or leave "
            "them out, and submit again"
        )
    if not count:
        raise ConfigError(f"{file} has no data rows; nothing was submitted")
    return count


def submit_csv(
    *,
    file: Path,
    rows: Callable[[], Iterator[Row]],
    env: Mapping[str, str],
    redis_url: str,
    campaign: str,
    rate: float | None,
    wait: bool,
    results: Path | None,
    quiet: bool,
    progress_interval: float,
) -> int:
    """``asms bulk FILE --redis URL --campaign NAME``: the exit status.

    ``rows()`` reads the (already checked) file from its start; it is read once whole to
    refuse invalid rows, then again as it is submitted.
    """
    from .._campaign.store import check_campaign_name

    try:
        check_campaign_name(campaign)
    except ValidationError as exc:
        raise click.UsageError(f"--campaign: {exc.rule}") from None
    account = account_label(env)
    where = redis_where(redis_url)
    if results is not None:
        _check_out(results, "--results")
        if results.exists() and results.samefile(file):
            raise ConfigError("--results must not be the input file")
    _refuse_invalid(rows(), file)

    def messages() -> Iterator[Message]:
        for row in rows():
            if row.message is None:  # the file changed since it was checked
                raise BadInput(f"row {row.number} changed while it was submitted")
            yield row.message

    async def submit() -> Any:
        from .._campaign.submit import submit_campaign
        from .._exceptions import CampaignMismatchError

        if rate is not None:
            await _store_rate(redis_url, account, rate, where)
        try:
            return await submit_campaign(redis_url, campaign, messages(), account=account)
        except CampaignMismatchError as exc:
            # The library counts input positions from 0; the file's data rows from 1.
            text = _POSITION.sub(lambda found: f"row {int(found.group(1)) + 1}", str(exc))
            raise ConfigError(
                f"{file}: {text}. Submit the file that started campaign {campaign!r} again, "
                "or use another --campaign name"
            ) from None
        except BadInput as exc:
            raise ConfigError(f"{file}: {exc}") from None

    submitted = redis_call(submit, name=campaign)
    # Plain numbers: a script may read this line.
    click.echo(
        f"campaign {campaign}: {submitted.messages} messages submitted "
        f"({submitted.added_messages} added)"
    )
    sys.stdout.flush()
    if not wait:
        return EXIT_OK
    return follow(
        redis_url,
        campaign,
        account,
        results=results,
        quiet=quiet,
        progress_interval=progress_interval,
    )


async def _store_rate(url: str, account: str, rate: float, where: str) -> None:
    """Store the account's shared rate, or check it against the stored one (the command
    line has no --burst: a stored burst is kept)."""
    from .._redis.ratelimit import RedisRateLimiter, account_rate

    stored = await account_rate(url, account)
    burst = DEFAULT_BULK_BURST if stored is None else stored[1]
    try:
        async with RedisRateLimiter(url, account, rate=rate, burst=burst):
            pass
    except ValidationError as exc:
        if exc.field != "rate":
            raise
        raise rate_mismatch(rate, await account_rate(url, account), where) from None
    except ValueError as exc:  # beyond what the shared limiter can keep
        raise ConfigError(f"--rate: {exc}") from None


# -- following a campaign ---------------------------------------------------------------------


class _Bar:
    """A rich progress bar of a campaign's settled messages."""

    def __init__(self, name: str, console: Console) -> None:
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f} msg/s"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[workers]} workers"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID = self._bar.add_task(
            escape(name), total=None, rate=0.0, failed=0, workers=0
        )

    def __enter__(self) -> _Bar:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def show(self, status: CampaignStatus, final: bool = False) -> None:
        done = status.total - status.queued - status.sending
        self._bar.update(
            self._task,
            total=status.total if status.submitted else None,
            completed=done,
            rate=status.rate or 0.0,
            failed=done - status.accepted,
            workers=status.workers,
        )


class _Lines:
    """Progress for logs: ``progress done=… total=… …`` on stderr, every ``interval`` s."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._shown_at = -math.inf
        self._dropped = False

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def show(self, status: CampaignStatus, final: bool = False) -> None:
        now = time.monotonic()
        if self._dropped or (not final and now - self._shown_at < self._interval):
            return
        self._shown_at = now
        done = status.total - status.queued - status.sending
        rate = status.rate or 0.0
        line = (
            f"progress done={done} total={status.total} accepted={status.accepted} "
            f"rejected={status.rejected} unknown={status.unknown} queued={status.queued} "
            f"sending={status.sending} dead={status.dead} workers={status.workers} "
            f"rate={rate:.1f}/s"
        )
        stream = sys.stderr
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):  # its reader went away: no more lines
            self._dropped = True
            drop_stream(stream)


class _Quiet:
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def show(self, status: CampaignStatus, final: bool = False) -> None:
        pass


def follow(
    url: str,
    name: str,
    account: str,
    *,
    results: Path | None,
    quiet: bool,
    progress_interval: float,
) -> int:
    """Follow campaign ``name`` until it is settled, then report (and write ``results``);
    the exit status is plain ``asms bulk``'s for the same outcome."""
    console = err_console()
    progress: _Bar | _Lines | _Quiet
    if quiet:
        progress = _Quiet()
    elif console.is_terminal:
        progress = _Bar(name, console)
    else:
        progress = _Lines(progress_interval)

    async def watch() -> CampaignStatus:
        from .._campaign.status import campaign_status

        told = False
        while True:
            status = await campaign_status(url, name, account=account)
            if status.settled:
                progress.show(status, final=True)
                return status
            progress.show(status)
            if not status.workers and not told and not quiet:
                told = True
                console.print(
                    "[yellow]No worker is running for this account:[/] start one with "
                    "asms worker --redis URL (this waits until the campaign is settled)",
                    highlight=False,
                )
            await anyio.sleep(DEFAULT_CAMPAIGN_POLL_INTERVAL)

    try:
        with progress:
            status = redis_call(watch, name=name)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: only the watching stops
        console.print(
            f"[yellow]Stopped watching.[/] The workers go on with campaign {escape(name)}: "
            f"asms campaign status {escape(name)} --redis URL",
            highlight=False,
        )
        raise SystemExit(stop_status()) from None
    writer = _open_results(results)
    try:
        tally = redis_call(lambda: _collect(url, name, account, writer), name=name)
    finally:
        if writer is not None:
            writer.close()
    if writer is not None and writer.error is not None and results is not None:
        raise ConfigError(writer.problem(results))
    if not quiet:
        _report(status, tally, results, writer)
    failed = tally.total - tally.counts[DeliveryState.ACCEPTED]
    return EXIT_FAILED if failed else EXIT_OK


class _Tally:
    """What the results of a campaign add up to."""

    def __init__(self) -> None:
        self.total = 0
        self.counts: Counter[DeliveryState] = Counter()
        self.failed_by_code: Counter[int] = Counter()
        self.parts = 0
        self.twice = 0

    def count(self, result: BulkResult) -> None:
        self.total += 1
        self.counts[result.state] += 1
        if result.state is DeliveryState.ACCEPTED:
            self.parts += result.parts
            self.twice += bool(result.duplicate)
        elif result.state is DeliveryState.REJECTED:
            self.failed_by_code[int(result.error_code or 0)] += 1


async def _collect(url: str, name: str, account: str, writer: ResultsWriter | None) -> _Tally:
    from .._campaign.status import campaign_results

    tally = _Tally()
    # Closed here, in this task, whatever stops the loop: a generator left to the garbage
    # collector would close its Redis connection in another context.
    async with aclosing(campaign_results(url, name, account=account)) as results:
        async for result in results:
            tally.count(result)
            if writer is not None:
                writer.result(result.index + 1, result)
                if writer.error is not None:
                    break  # the rest cannot be written either
    return tally


def _report(
    status: CampaignStatus, tally: _Tally, target: Path | None, writer: ResultsWriter | None
) -> None:
    console = err_console()
    table = Table(show_header=False, title=f"campaign report: {status.campaign}", box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    failed = ", ".join(f"{code:03d}×{n}" for code, n in sorted(tally.failed_by_code.items()))
    counts = tally.counts
    rows = [
        ("messages", f"{tally.total:,}"),
        (
            "accepted",
            f"{counts[DeliveryState.ACCEPTED]:,}"
            + (f" ({tally.twice:,} twice)" if tally.twice else ""),
        ),
        ("rejected", f"{counts[DeliveryState.REJECTED]:,}" + (f" ({failed})" if failed else "")),
        ("outcome unknown", f"{counts[DeliveryState.UNKNOWN]:,}"),
        ("not sent", f"{counts[DeliveryState.NOT_SENT]:,}"),
        ("dead-lettered", f"{status.dead:,}"),
        ("parts", f"{tally.parts:,}"),
        ("credits (est.)", f"{tally.parts:,.2f}"),
        ("achieved rate", "-" if status.rate is None else f"{status.rate:,.1f} msg/s"),
        ("workers", f"{status.workers:,}"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    if writer is not None and target is not None:
        ok = writer.written - writer.failed
        console.print(
            f"{writer.written:,} rows → {escape(str(target))} ({ok:,} accepted, "
            f"{writer.failed:,} not accepted)",
            highlight=False,
        )
    sys.stderr.flush()


def _check_out(target: Path, option: str) -> None:
    if target.is_dir():
        raise ConfigError(f"{option} {target} is a directory; give a file name")
    if not target.parent.is_dir():
        raise ConfigError(
            f"{option} {target}: the directory {target.parent} does not exist; create it first"
        )


def _open_results(target: Path | None) -> ResultsWriter | None:
    return None if target is None else open_results(target)


# -- asms campaign status | results -----------------------------------------------------------

redis_option = click.option(
    "--redis",
    "redis_url",
    metavar="URL",
    envvar="ASMS_REDIS_URL",
    required=True,
    help="Redis holding the campaigns (redis://host:6379/0; a password in it is never shown; "
    "ASMS_REDIS_URL keeps it out of `ps`).",
)
env_file_option = click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read ASMS_API_ID (the account) from this KEY=VALUE file instead of the environment.",
)


@click.group(name="campaign")
def campaign() -> None:
    """Read back a campaign on Redis: its status, or its results.

    The account is ASMS_API_ID, as for asms bulk --redis and asms worker.
    """


@campaign.command(name="status")
@click.argument("name")
@redis_option
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def status_command(name: str, redis_url: str, env_file: Path | None, as_json: bool) -> None:
    """Show the progress of campaign NAME: messages accepted, rejected, queued...

    Exits 2 when Redis holds no campaign NAME for the account, 1 when Redis cannot be used.
    """
    account = env_account(env_file)
    redis_where(redis_url)

    async def main() -> CampaignStatus:
        from .._campaign.status import campaign_status

        return await campaign_status(redis_url, name, account=account)

    found = redis_call(main, name=name)
    try:
        _show_status(name, found, as_json)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (| head -1): nothing else changes
        discard_stdout()


def _show_status(name: str, found: CampaignStatus, as_json: bool) -> None:
    if as_json:
        import json

        click.echo(json.dumps(found.as_dict(), ensure_ascii=False))
        return
    state = "settled" if found.settled else "in progress" if found.submitted else "being submitted"
    console = out_console()
    if not console.is_terminal:
        # Piped: plain lines for programs (no frame, no wrapping); --json for a parser.
        click.echo(f"campaign {name}: {state}")
        for label, value in _rows_of(found):
            click.echo(f"{label}\t{value}")
        return
    table = Table(show_header=False, title=f"campaign {escape(name)}: {state}", box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in _rows_of(found, shown=True):
        table.add_row(label, value)
    console.print(table)


def _rows_of(found: CampaignStatus, *, shown: bool = False) -> list[tuple[str, str]]:
    """(label, value) of a status; ``shown``: with thousands separators, for people."""
    number = "{:,}" if shown else "{}"
    rate = "-" if found.rate is None else f"{found.rate:,.1f}" if shown else f"{found.rate:.1f}"
    return [
        ("messages", number.format(found.total)),
        ("accepted", number.format(found.accepted)),
        ("rejected", number.format(found.rejected)),
        ("unknown", number.format(found.unknown)),
        ("queued", number.format(found.queued)),
        ("sending", number.format(found.sending)),
        ("dead", number.format(found.dead)),
        ("rate", rate + (" msg/s" if shown and found.rate is not None else "")),
        ("workers", number.format(found.workers)),
    ]


@campaign.command(name="results")
@click.argument("name")
@redis_option
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Results CSV to write, with the columns asms bulk --results writes.",
)
@env_file_option
def results_command(name: str, redis_url: str, out: Path, env_file: Path | None) -> None:
    """Write one result row per message of campaign NAME, as asms bulk --results does.

    Row 1 is the campaign's first message (its CSV's first data row). Messages not settled
    yet are written not_sent (queued) or unknown (being sent). Exits 1 when any row is not
    accepted, 2 when Redis holds no campaign NAME for the account.
    """
    account = env_account(env_file)
    redis_where(redis_url)
    _check_out(out, "--out")

    async def main() -> tuple[CampaignStatus, _Tally, ResultsWriter]:
        from .._campaign.status import campaign_status

        # Looked up first: an unknown campaign must not truncate an earlier file.
        found = await campaign_status(redis_url, name, account=account)
        opened = _open_results(out)
        assert opened is not None
        try:
            tally = await _collect(redis_url, name, account, opened)
        finally:
            opened.close()
        return found, tally, opened

    found, tally, writer = redis_call(main, name=name)
    if writer.error is not None:
        raise ConfigError(writer.problem(out))
    console = err_console()
    if not found.settled:
        console.print(
            f"[yellow]Note:[/] campaign {escape(name)} is not settled yet ({found.queued:,} "
            f"queued, {found.sending:,} being sent): those rows are written not_sent or unknown",
            highlight=False,
        )
    ok = writer.written - writer.failed
    console.print(
        f"{writer.written:,} rows → {escape(str(out))} ({ok:,} accepted, "
        f"{writer.failed:,} not accepted)",
        highlight=False,
    )
    raise SystemExit(EXIT_FAILED if tally.total - tally.counts[DeliveryState.ACCEPTED] else EXIT_OK)
