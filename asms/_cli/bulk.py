"""``asms bulk``: send every row of a CSV file, write one result row per input row.

The input is streamed, never loaded: rows become messages as the sender asks for them. With
``--journal`` a killed run can be rerun with the same arguments; the journal makes sure no
message is sent twice, and messages finished by an earlier run come back from it, so the
results file is rewritten complete on every run.

Before anything is sent or the results file is touched, the input is checked as a whole:
it exists, is a readable file, decodes in ``--encoding`` all the way through (one streamed
pass), and has a usable header. Each problem is one line and exit status 2.

Progress: a bar on a terminal; elsewhere (cron, systemd, a pipe) one ``progress key=value``
line on stderr every ``--progress-interval`` seconds and one at the end, never one per row.
"""

from __future__ import annotations

import math
import re
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .._bulk.journal import Journal, check_journal, compare_input, journal_owner
from .._bulk.report import BulkReport
from .._config import (
    DEFAULT_BULK_RATE,
    DEFAULT_CREDIT_PER_PART,
    DEFAULT_MAX_PARTS,
    DEFAULT_PLATFORM_URL,
    DEFAULT_PROGRESS_INTERVAL,
    PLATFORM_WIRES,
    ApiKey,
)
from .._exceptions import (
    ASMSError,
    ConnectError,
    HTTPStatusError,
    JournalError,
    JournalFinishedError,
    JournalMismatchError,
    ValidationError,
)
from .._models import Message, SendResult
from .._optable import MAX_CALLBACK, MAX_CONCAT
from .._retry import NOT_SENT
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    ConfigError,
    FiniteFloat,
    Settings,
    check_country_code,
    connection_options,
    drop_stream,
    ensure_std_streams,
    err_console,
    host_port,
    out_console,
)
from ._interrupts import Interrupts, exit_status
from ._rows import (
    BadInput,
    ResultsWriter,
    Row,
    check_csv,
    check_encoding,
    estimate_parts,
    open_results,
    read_rows,
    resolve_encoding,
)
from ._stop import stop_signal
from .campaign import check_bulk_options, submit_csv

__all__ = ["bulk"]

_PROGRESS_EVERY: Final = 0.1  # seconds between progress bar updates
_LINE_STATES: Final = ("accepted", "rejected", "unknown", "not_sent", "invalid")
# Rows recently handed to the sender, to name a journal mismatch by its CSV row: the sender
# checks each message against the journal as it reads it, so the one named is among them.
_RECENT_ROWS: Final = 4096
# Invalid rows written between two looks for a signal.
_CHECKPOINT_ROWS: Final = 256
# Rows in a row whose requests could not connect before the run gives up on the gateway.
_REFUSED_IN_A_ROW: Final = 100
_DISTRIBUTED_LEGACY_ONLY: Final = (
    "the distributed mode (asms bulk --redis, asms worker, asms campaign) speaks the legacy "
    "gateway only"
)


@dataclass(slots=True)
class Estimate:
    """What a dry run found."""

    rows: int = 0
    invalid: int = 0
    too_long: int = 0
    parts: int = 0
    longest: int = 0
    messages_by_encoding: Counter[str] = field(default_factory=Counter)
    parts_by_encoding: Counter[str] = field(default_factory=Counter)
    first_problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.first_problems) < 10:
            self.first_problems.append(text)


_ENCODING_NAMES: Final = {"gsm7": "GSM 03.38", "ucs2": "UCS-2", "8bit": "8-bit"}


def _wire_refusal(wire: str, max_parts: int) -> Callable[[Message], str | None]:
    """What the client would refuse about a message on a Platform wire before sending it (an
    option the platform has no field for): the same preparation the client runs, no request.
    The legacy wires refuse nothing beyond what the rows and the part count say already."""
    if wire not in PLATFORM_WIRES:
        return lambda message: None
    from .._compat import httpx
    from .._optable import OPERATIONS
    from .._sending import prepare_text
    from .._wire.platform import PlatformWire

    checker = PlatformWire(
        httpx.URL(DEFAULT_PLATFORM_URL),
        flavour="one-api" if wire == "one-api" else "platform",
        timeout=httpx.Timeout(None),
    )
    sendmsg = OPERATIONS["sendmsg"]

    def refusal(message: Message) -> str | None:
        try:
            prepared = prepare_text(checker, message.text, message.options, max_parts=max_parts)
            checker.prepare(sendmsg, {**prepared.params, "to": [message.to]}, {"api_key": "-"})
        except ValidationError as exc:
            return str(exc)
        return None

    return refusal


def _dry_run(
    rows: Iterator[Row], wire: str, credit_per_part: float, max_parts: int, console: Console
) -> int:
    est = Estimate()
    refusal = _wire_refusal(wire, max_parts)
    for row in rows:
        est.rows += 1
        if row.invalid is not None:
            est.invalid += 1
            est.problem(f"row {row.number}: {row.invalid.reason}")
            continue
        message = row.message
        assert message is not None
        count = estimate_parts(message, wire)
        limit = message.options.concat or max_parts
        if count.parts > limit:
            est.too_long += 1
            est.problem(f"row {row.number}: needs {count.parts} parts, at most {limit} allowed")
            continue
        refused = refusal(message)
        if refused is not None:  # the run writes it not_sent
            est.invalid += 1
            est.problem(f"row {row.number}: {refused}")
            continue
        est.parts += count.parts
        est.longest = max(est.longest, count.parts)
        est.messages_by_encoding[count.encoding] += 1
        est.parts_by_encoding[count.encoding] += count.parts
    table = Table(title="Dry run: nothing was sent", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("rows", f"{est.rows:,}")
    table.add_row("valid messages", f"{est.rows - est.invalid - est.too_long:,}")
    table.add_row("invalid rows", f"{est.invalid:,}")
    table.add_row("too long (error 113)", f"{est.too_long:,}")
    for encoding in ("gsm7", "ucs2", "8bit"):
        if est.messages_by_encoding[encoding]:
            table.add_row(
                _ENCODING_NAMES[encoding],
                f"{est.messages_by_encoding[encoding]:,} messages, "
                f"{est.parts_by_encoding[encoding]:,} parts",
            )
    table.add_row("parts", f"{est.parts:,}")
    table.add_row("longest message", f"{est.longest} parts")
    table.add_row(
        "credits (estimate)", f"{est.parts * credit_per_part:,.2f} at {credit_per_part:g}/part"
    )
    console.print(table)
    for problem in est.first_problems:
        console.print(f"[yellow]{problem}[/]", markup=True, highlight=False)
    hidden = est.invalid + est.too_long - len(est.first_problems)
    if hidden > 0:
        console.print(f"[yellow]… and {hidden:,} more problem rows[/]")
    return EXIT_FAILED if est.invalid or est.too_long else EXIT_OK


class _Progress:
    """A rich progress bar that is updated at most ten times a second."""

    def __init__(self, total: int | None, console: Console) -> None:
        self._bar = Progress(
            TextColumn("[bold]sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f} msg/s"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID = self._bar.add_task("bulk", total=total, rate=0.0, failed=0)
        self._done = 0
        self._failed = 0
        self._shown_at = -math.inf
        self._started = 0.0

    def __enter__(self) -> _Progress:
        self._started = time.monotonic()
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._show(force=True)
        self._bar.stop()

    def advance(self, status: str) -> None:
        self._done += 1
        self._failed += status != "accepted"
        self._show()

    async def tick(self) -> None:
        pass

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._shown_at >= _PROGRESS_EVERY:
            self._shown_at = now
            elapsed = max(now - self._started, 1e-9)
            self._bar.update(
                self._task, completed=self._done, rate=self._done / elapsed, failed=self._failed
            )


class _ProgressLines:
    """Progress for logs: ``progress done=… total=… accepted=… … rate=…/s`` on stderr.

    One line every ``interval`` seconds (also while nothing completes) and one at the end.
    """

    def __init__(self, total: int | None, interval: float) -> None:
        self._dropped = False  # stderr's reader went away: no more lines
        self._total = total
        self._interval = interval
        self._done = 0
        self._counts: Counter[str] = Counter()
        self._started = 0.0

    def __enter__(self) -> _ProgressLines:
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.emit()

    def advance(self, status: str) -> None:
        self._done += 1
        self._counts[status] += 1

    async def tick(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            self.emit()

    def emit(self) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        total = "?" if self._total is None else str(self._total)
        counts = " ".join(f"{state}={self._counts[state]}" for state in _LINE_STATES)
        rate = self._done / elapsed
        line = f"progress done={self._done} total={total} {counts} rate={rate:.1f}/s"
        if self._dropped:
            return
        stream = sys.stderr  # looked up now: tests swap it
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (EPIPE), a closed file
            self._dropped = True
            drop_stream(stream)


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def advance(self, status: str) -> None:
        pass

    async def tick(self) -> None:
        pass


class _SignalNotice:
    """Notes a SIGINT or SIGTERM as it arrives, also while the event loop cannot run.

    The signal watcher is a task: while the input generator writes a long stretch of
    invalid rows, no task runs. Python still runs a signal's handler between two lines of
    that loop, so this wraps the handler in place (the event loop's) and the generator
    looks at :attr:`signal`. The wrapped handler still runs: the watcher gets the signal
    as usual once the loop runs again.
    """

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # handlers can only be set in the main thread
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            self._previous[signum] = previous
            signal.signal(signum, self._handler(previous))

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            if previous is not None:
                signal.signal(signum, previous)
        self._previous.clear()

    def _handler(self, previous: Any) -> Callable[[int, Any], None]:
        def noted(signum: int, frame: Any) -> None:
            self.signal = signal.Signals(signum)
            if callable(previous):
                previous(signum, frame)

        return noted


class _RecentRows:
    """Which CSV row (and line) the sender's n-th message came from, for the last few."""

    def __init__(self) -> None:
        self._rows: deque[tuple[int, Row]] = deque(maxlen=_RECENT_ROWS)
        self._count = 0

    def add(self, row: Row) -> None:
        self._rows.append((self._count, row))
        self._count += 1

    def find(self, index: int) -> Row | None:
        for number, row in reversed(self._rows):
            if number == index:
                return row
        return None


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--results",
    "-o",
    type=click.Path(path_type=Path),
    help="Results CSV to write [default: FILE without its extension + .results.csv: "
    "rows.csv → rows.results.csv].",
)
@click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    help="FILE's text encoding, e.g. latin-1 or cp1252 (a UTF-8 byte order mark is skipped).",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite journal: rerun with the same one after a crash and nothing is sent twice.",
)
@click.option(
    "--campaign",
    metavar="NAME",
    help="Campaign name recorded in a new --journal (a journal of another campaign is "
    "refused), or the campaign's name on Redis with --redis.",
)
@click.option(
    "--redis",
    "redis_url",
    metavar="URL",
    help="Submit FILE as --campaign NAME to this Redis (redis://host:6379/0) for the workers "
    "(asms worker) to send, instead of sending it from here.",
)
@click.option(
    "--wait",
    is_flag=True,
    help="With --redis: follow the campaign until it is settled, then report as a run does.",
)
@click.option(
    "--replay",
    is_flag=True,
    help="Rewrite the results from a (finished) --journal; send nothing.",
)
@click.option(
    "--rate",
    type=FiniteFloat(min=0, min_open=True),
    default=DEFAULT_BULK_RATE,
    show_default=True,
    help="Messages per second. With --redis: the account's rate every worker shares, "
    "stored in Redis (a different stored rate is refused).",
)
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight at most.")
@click.option(
    "--group-size",
    type=click.IntRange(min=1),
    help="Messages of one text per request at most [default: the wire's limit, 600 or 200]. "
    "1 on the One API, whose status callbacks name no recipient, lets a callback settle "
    "each message whose reply was lost.",
)
@click.option("--dry-run", is_flag=True, help="Count parts and estimate credits; send nothing.")
@click.option(
    "--credit-per-part",
    type=FiniteFloat(min=0),
    default=DEFAULT_CREDIT_PER_PART,
    show_default=True,
    help="Price of one SMS part, for the --dry-run estimate.",
)
@click.option(
    "--max-parts",
    type=click.IntRange(1, MAX_CONCAT),
    default=DEFAULT_MAX_PARTS,
    show_default=True,
    help="Most parts a text may use when its row gives no concat.",
)
@click.option("--from", "from_", metavar="SENDER", help="Sender for rows without a 'from' cell.")
@click.option(
    "--callback",
    type=click.IntRange(0, MAX_CALLBACK),
    help="Callback value for rows without one.",
)
@click.option("--country-code", metavar="CC", help="Country code for national (0...) numbers.")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary.")
@click.option(
    "--progress-interval",
    type=FiniteFloat(min=0, min_open=True),
    default=DEFAULT_PROGRESS_INTERVAL,
    show_default=True,
    metavar="SECONDS",
    help="When stderr is not a terminal: seconds between 'progress done=… total=…' lines.",
)
@connection_options
def bulk(
    file: Path,
    results: Path | None,
    encoding: str,
    journal: Path | None,
    campaign: str | None,
    redis_url: str | None,
    wait: bool,
    replay: bool,
    rate: float,
    concurrency: int | None,
    group_size: int | None,
    dry_run: bool,
    credit_per_part: float,
    max_parts: int,
    from_: str | None,
    callback: int | None,
    country_code: str | None,
    quiet: bool,
    progress_interval: float,
    settings: Settings,
) -> None:
    """Send one SMS per row of a CSV file.

    FILE has a header line with the columns to and text (also accepted: msisdn for to,
    message for text), plus any of: from, callback, climsgid, concat, deliv_ack,
    deliv_time, scheduled_time, validity, queue, max_credits, mo, escalate, msg_type, udh,
    data, binary, unicode, req_feat. An empty cell leaves that option unset. FILE is read
    in --encoding (UTF-8 by default); a file that does not decode is refused before
    anything is sent. It is read as it is sent, never loaded whole.

    The results CSV has one row per input row: row (1 = first data row), to, climsgid,
    apimsgid, status (accepted, rejected, unknown, not_sent or invalid), error_code,
    error_description, parts. A cell that a spreadsheet would run as a formula (starting
    with = + - @, a tab or a line break, and not a plain number such as +27821234567) is
    written with a leading ' in the results; the message sent is unchanged. Exits 1 when
    any row was not accepted, 2 for an unusable FILE or when the gateway refused the
    credentials (every row is still written).

    The account is ASMS_API_ID, ASMS_USER and ASMS_PASSWORD (the legacy gateway), or
    ASMS_API_KEY (the Platform: its SMS REST API, or the One API with --wire one-api). The
    Platform cannot look a message up by climsgid, so a message whose reply was lost is
    never resent, also on a --journal rerun: it ends "unknown" until its status callback
    settles it: run `asms callbacks --journal FILE` (the same file) where the Platform sends
    its callbacks, and a rerun with --journal FILE reads them (on the One API, whose
    callbacks name no recipient, only for messages sent alone: --group-size 1). A row
    setting an option the
    Platform has no field for (callback, deliv_ack, queue, ...) is written not_sent with the
    reason (--dry-run lists them);
    --callback and --redis are refused there. SIGINT (Ctrl-C) or SIGTERM stops the
    run: requests in flight finish, every row read is written, and it exits 130 (SIGINT) or
    143 (SIGTERM); a second signal interrupts the requests in flight (rows "unknown").

    With --redis URL --campaign NAME the rows are checked the same way (any invalid row
    refuses the file, exit 2) and submitted to Redis, where the workers (asms worker) send
    them; submitting the same file again adds nothing. --rate then stores (or checks) the
    account's shared rate. With --wait a bar follows the campaign until it is settled, then
    the report, --results and the exit status are as for a run; without it the command
    returns at once (asms campaign status/results NAME read the campaign later).
    """
    ensure_std_streams()
    ctx = click.get_current_context()
    check_bulk_options(
        ctx,
        redis_url=redis_url,
        campaign=campaign,
        wait=wait,
        journal=journal,
        replay=replay,
        results=results,
    )
    check_country_code(country_code)
    if redis_url is not None:
        settings.refuse_on_platform("asms bulk --redis", _DISTRIBUTED_LEGACY_ONLY)
    if callback is not None and settings.platform:
        raise ConfigError(
            f"--callback is not available on the {settings.wire} wire: status callbacks are "
            "set on the integration in the portal"
        )
    defaults: dict[str, Any] = {}
    if from_ is not None:
        defaults["from"] = from_
    if callback is not None:
        defaults["callback"] = callback
    try:
        codec = resolve_encoding(encoding)
    except BadInput as exc:
        raise ConfigError(f"--encoding: {exc} (try utf-8, latin-1 or cp1252)") from None
    _check_input(file)
    if results is not None:
        _check_results_path(results)
    try:
        # A whole streamed pass first: a file that stops decoding half-way would otherwise
        # end the run there, with the rows of the undecodable chunk never read.
        check_encoding(file, codec)
        # Strict quotes, also a pass of its own: a stray quote would otherwise merge the
        # rows after it into one message, and those rows would never be sent nor reported.
        counted = check_csv(file, codec)
        rows = read_rows(file, country_code=country_code, defaults=defaults, encoding=codec)
        first = next(rows, None)  # reads the header: a bad file fails before anything else
    except BadInput as exc:
        raise ConfigError(f"{file}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None

    def all_rows() -> Iterator[Row]:
        if first is not None:
            yield first
        yield from rows

    if dry_run:
        raise SystemExit(
            _dry_run(all_rows(), settings.wire, credit_per_part, max_parts, out_console())
        )
    if redis_url is not None and campaign is not None:
        given = ctx.get_parameter_source("rate") is click.core.ParameterSource.COMMANDLINE
        if wait and results is None:  # followed to the end: results where a run puts them
            results = _default_results(file)
        raise SystemExit(
            submit_csv(
                file=file,
                rows=lambda: read_rows(
                    file, country_code=country_code, defaults=defaults, encoding=codec
                ),
                env=settings.env,
                redis_url=redis_url,
                campaign=campaign,
                rate=rate if given else None,
                wait=wait,
                results=results,
                quiet=quiet,
                progress_interval=progress_interval,
            )
        )

    settings.validate()  # before the results file is created or truncated
    target = results or _default_results(file)
    _check_results_path(target)
    if _same_file(target, file):  # also a hard link: the run would read its own output
        raise ConfigError("--results must not be the input file")
    if journal is None and (replay or campaign is not None):
        raise ConfigError(
            "--replay and --campaign need a --journal (--campaign also goes with --redis)"
        )
    if journal is not None:
        # Before the results file is truncated: a run that cannot start must not wipe the
        # results of the run that wrote the journal.
        _check_journal(journal, file, target, campaign, replay, _owner(settings))
        again = read_rows(file, country_code=country_code, defaults=defaults, encoding=codec)
        _check_journal_input(journal, again, file, target)
    if not replay:
        _check_gateway(settings)
    console = err_console()
    total = None if quiet else counted
    writer = open_results(target)  # a file that takes no writes is refused before sending
    progress: _Progress | _ProgressLines | _NoProgress
    if quiet:
        progress = _NoProgress()
    elif console.is_terminal:
        progress = _Progress(total, console)
    else:
        progress = _ProgressLines(total, progress_interval)
    report: BulkReport | None = None
    recent = _RecentRows()

    noticed = _SignalNotice()

    def messages() -> Iterator[Message]:
        # A plain generator: the sender pulls rows as it needs them (constant memory).
        # Invalid rows never reach it, so they are written here. The event loop does not
        # run meanwhile: in a long stretch of them, a signal ends the input (every row read
        # is written) and the loop, once it runs again, stops the run as for any signal.
        stretch = 0
        read = 0
        for row in all_rows():
            read += 1
            if writer.error is not None:
                return  # nothing more is sent once results can no longer be written
            if row.invalid is not None:
                progress.advance(writer.invalid(row.invalid))
                stretch += 1
                if stretch % _CHECKPOINT_ROWS == 0 and noticed.signal is not None:
                    return
            elif row.message is not None:
                stretch = 0
                recent.add(row)
                yield row.message
        if read < counted:
            # Cut short while the run read it: ended here, the run would count the campaign
            # done (its journal finished) with the rows checked but gone never sent.
            raise BadInput(
                f"it has {read:,} rows now, {counted:,} when it was checked: the file was cut "
                "short during the run"
            )

    def where(index: int) -> str | None:
        row = recent.find(index)
        return None if row is None else f"row {row.number} (line {row.line} of {file})"

    options: dict[str, Any] = {"rate": rate}
    if concurrency is not None:
        options["concurrency"] = concurrency
    if group_size is not None:
        options["group_size"] = group_size
    if journal is not None:
        options["journal"] = Journal(journal, campaign=campaign, replay=replay)

    interrupts = Interrupts()

    async def send_all() -> None:
        nonlocal report
        async with settings.client(max_parts=max_parts) as client:
            run = client.send_bulk(messages(), **options)
            interrupts.attach(run)
            refused = 0  # rows in a row whose request could not connect
            gone = False
            unwritable = False
            try:
                async with run:
                    async for result in run:
                        progress.advance(writer.result(_row_number(result), result))
                        if writer.error is not None and not unwritable:
                            # Sending on would leave results nobody can read: stop.
                            unwritable = True
                            run.stop("not sent: the results file could not be written")
                        if not _never_connected(result):
                            refused = 0
                            continue
                        refused += 1
                        if refused == _REFUSED_IN_A_ROW and not gone:
                            # The gateway went away mid-run: stop rather than wait out every
                            # row's retries. What is read but not sent is written not_sent.
                            gone = True
                            run.stop("not sent: the gateway refused the connection")
                if gone:
                    raise ConfigError(
                        f"{_describe_refusals(settings.base_url, _REFUSED_IN_A_ROW)}; the run "
                        f"stopped, every row read is in {target} (not_sent for those not sent)"
                    )
            except JournalError as exc:
                raise ConfigError(_journal_problem(journal, exc, where)) from None
            except BadInput as exc:  # the file changed under the run: what was read is written
                problem = f"{file}: {exc}; the rows read before it are in {target}"
                raise ConfigError(problem) from None
            finally:
                # Also when the run raised (a refused account): the rows are written, and
                # the summary says what became of them before the error is shown.
                report = run.report()

    async def main() -> None:
        failure: Exception | None = None
        async with anyio.create_task_group() as watchers:
            await watchers.start(interrupts.watch)
            noticed.install()  # over the watcher's handlers, now in place
            watchers.start_soon(progress.tick)
            try:
                await send_all()
            except Exception as exc:  # raised below, outside the task group: not wrapped
                failure = exc
            finally:
                noticed.restore()  # before the watcher puts back the handlers it replaced
            watchers.cancel_scope.cancel()
        if failure is not None:
            raise failure

    error: click.ClickException | None = None
    try:
        with progress:
            settings.run(main, check_url=False)
    except click.ClickException as exc:
        error = exc
    except KeyboardInterrupt:  # a signal before the run's own handlers were in place
        interrupts.received(stop_signal())
    finally:
        writer.close()
    if writer.error is not None and error is None:
        kept = (
            f"the journal {journal} keeps every result: rerun with --journal and another"
            " --results file to write them"
            if journal is not None
            else "rows sent before it have no written result (a --journal keeps them)"
        )
        error = ConfigError(f"{writer.problem(target)}; the run stopped, {kept}")
    if not quiet and report is not None:
        _summary(report, writer, target)
    if error is not None:
        raise error
    if interrupts.first is not None:
        err_console().print(
            f"[yellow]Interrupted ({interrupts.first.name}).[/] "
            + (
                "Rerun the same command to resume from the journal."
                if journal is not None
                else "Without --journal a rerun would send everything again."
            )
            + (
                f" The {settings.wire} wire cannot look a message up by climsgid: those "
                "whose outcome is unknown stay unknown (never resent); their status callbacks "
                "settle them."
                if journal is not None and settings.platform
                else ""
            )
        )
        raise SystemExit(exit_status(interrupts.first))
    raise SystemExit(EXIT_FAILED if writer.failed else EXIT_OK)


def _default_results(file: Path) -> Path:
    """Where the results go without --results: rows.csv → rows.results.csv."""
    return file.with_name(file.stem + ".results.csv")


def _check_gateway(settings: Settings) -> None:
    """One request before the results file is touched: is a gateway there at all?

    A refused connection or an HTTP error status (a wrong host, port or path) is one line and
    exit 2, with nothing sent and an earlier results file left as it was; otherwise every
    row would wait out its retries and be written not_sent. Anything else the gateway
    answers (a refused password, say) is left to the run, which reports it row by row.
    """

    async def probe() -> None:
        try:
            async with settings.client() as client:
                await client.balance()
        except (ConnectError, HTTPStatusError):
            raise
        except ASMSError:
            pass

    settings.run(probe)


def _check_input(file: Path) -> None:
    if not file.exists():
        raise ConfigError(f"{file}: no such file; check the path")
    if file.is_dir():
        raise ConfigError(f"{file} is a directory; give the CSV file to send")
    if not file.is_file():
        # A pipe (/dev/stdin, <(...)) can be read once only; the input is read more than
        # once (checked whole before anything is sent, then sent).
        raise ConfigError(
            f"{file} is not a regular file (a pipe?); the input is checked whole before "
            "anything is sent, so it needs a regular file: save it to a file first"
        )


def _check_results_path(target: Path) -> None:
    if target.is_dir():
        raise ConfigError(f"--results {target} is a directory; give a file name")
    parent = target.parent
    if not parent.is_dir():
        raise ConfigError(
            f"--results {target}: the directory {parent} does not exist; create it first"
        )


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.samefile(b)  # hard links
    except OSError:
        return False


def _owner(settings: Settings) -> dict[str, str]:
    # As AsyncClient.journal_owner makes it: a journal is resumed through the same account.
    account = settings.account()
    if isinstance(account, ApiKey):
        return journal_owner("api-key", account.key, settings.base_url)
    return journal_owner(account.api_id, account.user, settings.base_url)


def _check_journal(
    journal: Path,
    file: Path,
    target: Path,
    campaign: str | None,
    replay: bool,
    owner: dict[str, str],
) -> None:
    for other, option in ((file, "the input file"), (target, "the --results file")):
        if _same_file(journal, other):
            raise ConfigError(f"--journal must not be {option} ({other})")
    if replay and not journal.exists():
        # Opening it would create an empty journal and "replay" every row as not sent.
        raise ConfigError(
            f"--journal {journal}: no such journal; --replay rewrites the results of an "
            "existing one (check the path)"
        )
    try:
        check_journal(journal, campaign=campaign, replay=replay, owner=owner)
    except JournalError as exc:
        raise ConfigError(_journal_problem(journal, exc)) from None


def _check_journal_input(journal: Path, rows: Iterator[Row], file: Path, target: Path) -> None:
    """Refuse an input (or options) other than the journal's before the results file is
    truncated: a run refused at its first differing row would have wiped the results of
    the run that wrote the journal."""

    def messages() -> Iterator[tuple[Message, Row]]:
        try:
            for row in rows:
                if row.invalid is None and row.message is not None:
                    yield row.message, row
        except (BadInput, OSError):
            return  # the run meets it too, and says so with the rows before it written

    try:
        found = compare_input(journal, messages())
    except JournalError as exc:
        raise ConfigError(_journal_problem(journal, exc)) from None
    if found is None:
        return
    row = found.first
    at = f"row {row.number} (line {row.line} of {file})"  # as the run's own refusal says
    kept = f"nothing was sent and {target} was left as it was"
    if found.differing == found.compared:
        if found.all_fields == {"options"}:
            cause = "the options differ in every row: --from or --callback changed"
        elif found.all_fields == {"number"}:
            cause = "the numbers differ in every row: --country-code changed, or another file"
        else:
            cause = (
                "the journal was written for another input, or an option that applies to "
                "every row changed (--from, --callback, --country-code)"
            )
        raise ConfigError(
            f"--journal {journal}: none of the {found.compared:,} messages it recorded is "
            f"the one {file} gives at its position (first: {at}, {_differs(found.fields)}): "
            f"{cause}; {kept}. Rerun with the file and options that started it, or use a "
            "new --journal"
        )
    raise ConfigError(
        f"--journal {journal}: {at} is not the message the journal recorded "
        f"there: {_differs(found.fields)} ({found.differing:,} of {found.compared:,} "
        f"recorded rows differ), so this is another input than the journal's; {kept}. "
        "Rerun with the file as it was, or use a new --journal"
    )


def _differs(fields: tuple[str, ...]) -> str:
    if not fields:  # a journal from before the fields were recorded
        return "its number, text or options differ"
    plural = len(fields) > 1 or fields[0] == "options"
    return f"its {' and '.join(fields)} " + ("differ" if plural else "differs")


_MESSAGE_INDEX: Final = re.compile(r"\bmessage (\d+)\b")


def _journal_problem(
    journal: Path | None, exc: JournalError, where: Callable[[int], str | None] | None = None
) -> str:
    if isinstance(exc, JournalFinishedError):
        return (
            f"--journal {journal} holds a finished {exc.campaign.describe()}; nothing was sent. "
            "For a new campaign use a new --journal; to rewrite its results without "
            "sending, add --replay"
        )
    text = str(exc)
    if isinstance(exc, JournalMismatchError) and where is not None:
        # The sender counts the messages it was given (0 = the first); invalid rows never
        # reach it, so its count is not the row the user sees in the file.
        match = _MESSAGE_INDEX.search(text)
        row = None if match is None else where(int(match.group(1)))
        if match is not None and row is not None:
            text = text[: match.start()] + row + text[match.end() :]
    return text if str(journal) in text else f"--journal {journal}: {text}"


def _never_connected(result: SendResult) -> bool:
    # A message whose request could not connect (and so never left). The result keeps no
    # exception type: the client's spent retries write "not sent after N attempts:
    # ConnectError: ..." (the httpx name, see _wire._describe), the bulk sender's own
    # "not sent: ConnectError (it never left)".
    return result.error_code == NOT_SENT and "ConnectError" in (result.error_description or "")


def _describe_refusals(base_url: str, count: int) -> str:
    where = host_port(base_url) or base_url
    return (
        f"cannot connect to {where}: {count} rows in a row were refused; is the "
        "gateway running there? check --base-url (or ASMS_BASE_URL)"
    )


def _row_number(result: SendResult) -> int:
    ref = result.ref
    if isinstance(ref, int):
        return ref
    raise RuntimeError("a bulk result lost its row number")  # pragma: no cover - a bug


def _summary(report: BulkReport | None, writer: ResultsWriter, target: Path) -> None:
    console = err_console()
    if report is not None:
        table = Table(show_header=False, title="bulk report", box=None)
        table.add_column(style="bold")
        table.add_column(justify="right")
        for label, value in report.rows():
            table.add_row(label, value)
        console.print(table)
    ok = writer.written - writer.failed
    console.print(
        f"{writer.written:,} rows → {target} ({ok:,} accepted, {writer.failed:,} not accepted)"
    )
    sys.stderr.flush()
